"""Fuzzing the front door: mutated real ONNX files and hardware configs give a result or a clean error.

Hypothesis mutates the serialized protobuf of real PyTorch exports (byte flips,
truncations, deletions, insertions, overwrites) and their structure (dropped
initializers, renamed node inputs and outputs, changed dims, attributes,
element types, op types, domains, IR versions and opsets, deleted, duplicated
or reordered nodes, odd Constant nodes, hostile external-data locations), and
mutates hardware configs (deleted or unknown fields, swapped types, negative,
zero, tiny and huge values) and ``--inputs`` archives.  Every example is
compiled and simulated in process; the only exception allowed to escape is
:class:`GspsimError` (what the CLI turns into ``error: ...`` and exit code 2).
A mutated model may still be valid and simply run.

Budget: ``GSPSIM_FUZZ_EXAMPLES`` (default 800) byte mutations, twice that many
structured ones and half that many hardware configs and inputs archives: about
30 s on the development machine, so well within two minutes on a 2-core CI
machine.  Examples are derandomized (reproducible CI runs); for a long local
hunt draw fresh ones: ``GSPSIM_FUZZ_EXAMPLES=5000 GSPSIM_FUZZ_RANDOM=1 pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import gspsim
from gspsim.api import run_default_passes
from gspsim.errors import GspsimError
from gspsim.frontend import import_onnx
from gspsim.hardware.config import hardware_from_dict, load_hardware
from gspsim.inputs import load_inputs

from helpers import MLP_LEGACY, ROOT, TRANSFORMER

MLP = ROOT / "gspsim" / "models" / "edge_mlp.onnx"
#: the example budget (each example takes milliseconds: the models are small); the structured
#: mutations get twice this, the hardware and inputs fuzzers half
EXAMPLES = int(os.environ.get("GSPSIM_FUZZ_EXAMPLES", "800"))


def fuzz(examples: int) -> settings:
    """Hypothesis settings for one fuzz test: its example count, no deadline, derandomized unless asked."""
    return settings(max_examples=max(1, examples), deadline=None,
                    derandomize=os.environ.get("GSPSIM_FUZZ_RANDOM") != "1",
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


#: enough memory for the real models, little enough that a mutated dim cannot make the test allocate much
MAX_MEMORY = 64 << 20

#: a torch dynamo export (opset 20), a legacy TorchScript export (opset 11: exercises the version
#: converter) and a transformer whose weights live in an external-data sidecar
SOURCES = {"mlp": MLP, "mlp_legacy": MLP_LEGACY, "transformer": TRANSFORMER}
PROTOS = {name: onnx.load(str(path), load_external_data=False) for name, path in SOURCES.items()}
RAW = {name: path.read_bytes() for name, path in SOURCES.items()}


def _folder(name: str) -> Path:
    """A fresh folder holding the source model's sidecar (if any), for one mutated copy."""
    folder = Path(tempfile.mkdtemp(prefix="gspsim-fuzz-"))
    sidecar = SOURCES[name].with_name(SOURCES[name].name + ".data")
    if sidecar.exists():
        shutil.copy(sidecar, folder / sidecar.name)
    return folder


def compile_and_run(path: Path, hw: Any = "edge-4") -> None:
    """The whole pipeline in process; only GspsimError may escape."""
    try:
        graph = run_default_passes(import_onnx(path, None, MAX_MEMORY))
        gspsim.simulate(graph, hw)
    except GspsimError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        event(f"refused: {type(exc).__name__}")
    else:
        event("ran")


def _run_bytes(name: str, data: bytes) -> None:
    folder = _folder(name)
    try:
        path = folder / SOURCES[name].name
        path.write_bytes(data)
        compile_and_run(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- byte-level mutations --------------------------------------------------------------------
def _mutate_bytes(draw: Any, name: str) -> bytes:
    data = bytearray(RAW[name])
    kind = draw(st.sampled_from(["flip", "truncate", "delete", "insert", "overwrite"]), label="kind")
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    elif kind == "truncate":
        del data[draw(st.integers(0, len(data) - 1)):]
    elif kind == "delete":
        i = draw(st.integers(0, len(data) - 1))
        del data[i:i + draw(st.integers(1, 64))]
    elif kind == "insert":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(min_size=1, max_size=16))
    else:
        i = draw(st.integers(0, len(data) - 1))
        chunk = draw(st.binary(min_size=1, max_size=16))
        data[i:i + len(chunk)] = chunk
    return bytes(data)


@fuzz(EXAMPLES)
@given(st.data())
def test_byte_mutated_models_run_or_fail_cleanly(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(SOURCES)), label="model")
    _run_bytes(name, _mutate_bytes(data.draw, name))


# --- structured mutations --------------------------------------------------------------------
ODD_INTS = st.sampled_from([-(2**40), -7, -1, 0, 1, 2, 3, 5, 64, 2**31 - 1, 2**40])
OP_TYPES = ["Relu", "Add", "MatMul", "Gemm", "Conv", "Softmax", "Reshape", "Transpose", "Concat", "Det",
            "NoSuchOp", "Identity", "LayerNormalization", "Expand", "ConstantOfShape", "Gather", "If"]


def _tensor_names(model: onnx.ModelProto) -> list[str]:
    g = model.graph
    names = {i.name for i in g.input} | {t.name for t in g.initializer} | {o for n in g.node for o in n.output}
    return sorted(n for n in names if n)


def _value_infos(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    g = model.graph
    return [*g.input, *g.output, *g.value_info]


def _mutate(draw: Any, model: onnx.ModelProto) -> None:
    g = model.graph
    kind = draw(st.sampled_from([
        "drop_initializer", "rename_input", "rename_output", "dims", "initializer_dims", "attribute",
        "extra_attribute", "opset", "op_type", "delete_node", "swap_nodes", "elem_type", "duplicate_node",
        "ir_version", "external_location", "graph_output", "initializer_type", "dim_param", "constant",
        "domain", "empty_input",
    ]))
    nodes = list(g.node)
    if kind == "drop_initializer" and g.initializer:
        del g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
    elif kind in ("rename_input", "rename_output") and nodes:
        node = g.node[draw(st.integers(0, len(nodes) - 1))]
        field = node.input if kind == "rename_input" else node.output
        if field:
            new = draw(st.one_of(st.sampled_from(_tensor_names(model)), st.text(max_size=6)))
            field[draw(st.integers(0, len(field) - 1))] = new
    elif kind == "dims":
        vis = [v for v in _value_infos(model) if v.type.tensor_type.shape.dim]
        if vis:
            vi = draw(st.sampled_from(vis))
            dims = vi.type.tensor_type.shape.dim
            dims[draw(st.integers(0, len(dims) - 1))].dim_value = draw(ODD_INTS)
    elif kind == "dim_param":
        vis = [v for v in _value_infos(model) if v.type.tensor_type.shape.dim]
        if vis:
            vi = draw(st.sampled_from(vis))
            dims = vi.type.tensor_type.shape.dim
            dims[draw(st.integers(0, len(dims) - 1))].dim_param = draw(st.sampled_from(["N", "batch", ""]))
    elif kind == "initializer_dims" and g.initializer:
        t = g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
        if t.dims:
            t.dims[draw(st.integers(0, len(t.dims) - 1))] = draw(ODD_INTS)
        else:
            t.dims.append(draw(ODD_INTS))
    elif kind == "attribute":
        with_attrs = [n for n in nodes if n.attribute]
        if with_attrs:
            node = draw(st.sampled_from(with_attrs))
            attr = node.attribute[draw(st.integers(0, len(node.attribute) - 1))]
            if attr.type == onnx.AttributeProto.INT:
                attr.i = draw(ODD_INTS)
            elif attr.type == onnx.AttributeProto.FLOAT:
                attr.f = draw(st.floats(allow_nan=True, allow_infinity=True, width=32))
            elif attr.type == onnx.AttributeProto.INTS:
                attr.ints[:] = draw(st.lists(ODD_INTS, max_size=6))
            elif attr.type == onnx.AttributeProto.STRING:
                attr.s = draw(st.binary(max_size=8))
            else:
                attr.type = draw(st.sampled_from([onnx.AttributeProto.INT, onnx.AttributeProto.UNDEFINED]))
    elif kind == "extra_attribute" and nodes:
        node = g.node[draw(st.integers(0, len(nodes) - 1))]
        key = draw(st.sampled_from(["axis", "alpha", "zzz", "perm"]))
        value = draw(st.one_of(ODD_INTS, st.lists(ODD_INTS, min_size=1, max_size=4)))
        node.attribute.append(onnx.helper.make_attribute(key, value))
    elif kind == "opset":
        model.opset_import[0].version = draw(st.sampled_from([-1, 0, 1, 7, 11, 13, 17, 19, 21, 22, 25, 28, 29, 1000]))
    elif kind == "op_type" and nodes:
        g.node[draw(st.integers(0, len(nodes) - 1))].op_type = draw(st.sampled_from(OP_TYPES))
    elif kind == "delete_node" and nodes:
        del g.node[draw(st.integers(0, len(nodes) - 1))]
    elif kind == "swap_nodes" and len(nodes) > 1:
        i, j = draw(st.integers(0, len(nodes) - 1)), draw(st.integers(0, len(nodes) - 1))
        a, b = copy.deepcopy(g.node[i]), copy.deepcopy(g.node[j])
        g.node[i].CopyFrom(b)
        g.node[j].CopyFrom(a)
    elif kind == "duplicate_node" and nodes:
        g.node.append(copy.deepcopy(g.node[draw(st.integers(0, len(nodes) - 1))]))
    elif kind == "elem_type":
        vis = _value_infos(model)
        if vis:
            elem = draw(st.sampled_from([0, 2, 3, 6, 7, 8, 9, 10, 11, 16, 99]))
            draw(st.sampled_from(vis)).type.tensor_type.elem_type = elem
    elif kind == "initializer_type" and g.initializer:
        g.initializer[draw(st.integers(0, len(g.initializer) - 1))].data_type = draw(
            st.sampled_from([0, 2, 6, 7, 8, 10, 11, 16, 99]))
    elif kind == "ir_version":
        model.ir_version = draw(st.sampled_from([-1, 0, 1, 3, 7, 9, 11, 12, 100]))
    elif kind == "external_location" and g.initializer:
        t = g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
        location = draw(st.sampled_from(["../outside.bin", "/etc/passwd", "link.bin", "sub/../x.bin", "", "missing.bin",
                                         "transformer_encoder.onnx.data", "C:\\windows\\x", "a\x00b"]))
        t.data_location = onnx.TensorProto.EXTERNAL
        del t.external_data[:]
        for key, value in (("location", location), ("offset", draw(st.sampled_from(["0", "-1", "abc", "99999999"]))),
                           ("length", draw(st.sampled_from(["", "0", "4", "x"])))):
            if value:
                entry = t.external_data.add()
                entry.key, entry.value = key, value
        t.ClearField("raw_data")
    elif kind == "constant" and nodes:
        attr = draw(st.sampled_from(["value", "value_float", "value_floats", "value_int", "value_ints", "value_string",
                                     "sparse_value", "none"]))
        values = {
            "value": onnx.helper.make_tensor("v", draw(st.sampled_from([1, 7, 9, 10])), [2], [1, 0]),
            "value_float": 2.5, "value_floats": [1.0, -2.0], "value_int": 3, "value_ints": [1, 10],
            "value_string": "text",
            "sparse_value": onnx.helper.make_sparse_tensor(onnx.helper.make_tensor("v", 1, [1], [1.0]),
                                                           onnx.helper.make_tensor("i", 7, [1], [0]), [4]),
        }
        const = onnx.helper.make_node("Constant", [], ["fuzz_const"], name="fuzz_const")
        if attr != "none":
            const.attribute.append(onnx.helper.make_attribute(attr, values[attr]))
        g.node.insert(0, const)
        target = g.node[draw(st.integers(1, len(nodes)))]
        if target.input:
            target.input[draw(st.integers(0, len(target.input) - 1))] = "fuzz_const"
    elif kind == "domain" and nodes:
        g.node[draw(st.integers(0, len(nodes) - 1))].domain = draw(st.sampled_from(["com.microsoft", "ai.onnx.ml",
                                                                                      "my.custom", "ai.onnx"]))
    elif kind == "empty_input" and nodes:
        node = g.node[draw(st.integers(0, len(nodes) - 1))]
        if node.input:
            node.input[draw(st.integers(0, len(node.input) - 1))] = ""
    elif kind == "graph_output":
        if draw(st.booleans()) and g.output:
            g.output[0].name = draw(st.one_of(st.sampled_from(_tensor_names(model)), st.just("ghost")))
        else:
            g.output.append(onnx.helper.make_tensor_value_info(draw(st.sampled_from(_tensor_names(model))),
                                                               onnx.TensorProto.FLOAT, None))




def _plant_traps(folder: Path) -> None:
    """What the external-data mutations point at: a file outside the folder and a symlink to it."""
    outside = folder.parent / (folder.name + "-outside.bin")
    outside.write_bytes(b"SECRET" * 64)
    (folder / "link.bin").symlink_to(outside)


@fuzz(2 * EXAMPLES)
@given(st.data())
def test_structurally_mutated_models_run_or_fail_cleanly(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(SOURCES)), label="model")
    model = copy.deepcopy(PROTOS[name])
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        _mutate(data.draw, model)
    folder = _folder(name)
    try:
        _plant_traps(folder)
        path = folder / SOURCES[name].name
        path.write_bytes(model.SerializeToString())
        compile_and_run(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        (folder.parent / (folder.name + "-outside.bin")).unlink(missing_ok=True)


# --- hardware configs ------------------------------------------------------------------------
BASE_HW = load_hardware("edge-4").to_dict()
ODD_VALUES = st.one_of(
    st.sampled_from([-1, 0, -0.5, 1e-320, 1e308, 10**30, 2**63, True, "8", [], {}, 1.5, float("nan")]),
    st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=True),
)


def _paths(d: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for k, v in d.items():
        out.append((*prefix, k))
        if isinstance(v, dict):
            out += _paths(v, (*prefix, k))
    return out


@st.composite
def hardware_mutation(draw: st.DrawFn) -> dict[str, Any]:
    """1-3 edits: delete a field, set an odd value, add an unknown field, or scale a number (often still valid)."""
    data = copy.deepcopy(BASE_HW)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data) or [("name",)]))
        parent: Any = data
        for key in path[:-1]:
            parent = parent[key]
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        action = draw(st.sampled_from(["delete", "value", "extra", "scale", "scale", "scale"]))
        current = parent[path[-1]]
        if action == "delete":
            del parent[path[-1]]
        elif action == "value":
            parent[path[-1]] = draw(ODD_VALUES)
        elif action == "extra":
            parent[draw(st.sampled_from(["bogus", "Count", "clock"]))] = draw(ODD_VALUES)
        elif isinstance(current, (int, float)) and not isinstance(current, bool):
            factor = draw(st.sampled_from([1e-9, 0.01, 0.25, 0.5, 2, 3, 8, 1000]))
            parent[path[-1]] = type(current)(max(current * factor, 1) if isinstance(current, int) else current * factor)
    return data


@fuzz(EXAMPLES // 2)
@given(hardware_mutation())
def test_mutated_hardware_configs_run_or_fail_cleanly(data: dict[str, Any]) -> None:
    try:
        hw = hardware_from_dict(data, "fuzzed.toml")
    except GspsimError as exc:
        assert "fuzzed.toml" in str(exc)
        event("refused")
        return
    event("ran")
    for mode in ("streaming", "layer"):
        result = gspsim.simulate(MLP, hw, mode=mode)
        assert np.isfinite(result.latency_cycles) and result.latency_cycles > 0
        assert np.isfinite(result.energy_j) and result.energy_j >= 0


@st.composite
def npz_member(draw: st.DrawFn) -> tuple[str, bytes]:
    """An archive member: garbage, or a real .npy of some shape and dtype, maybe truncated."""
    name = draw(st.sampled_from(["input.npy", "input", "x.npy", "input.txt"]))
    if draw(st.booleans()):
        return name, draw(st.binary(max_size=64))
    import io

    shape = tuple(draw(st.lists(st.integers(0, 12), max_size=3)))
    dtype = draw(st.sampled_from(["float32", "float64", "int64", ">f4", "bool"]))
    buf = io.BytesIO()
    np.save(buf, np.zeros(shape, dtype=dtype))
    data = buf.getvalue()
    return name, data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # archives with repeated members, on purpose
@fuzz(EXAMPLES // 2)
@given(st.lists(npz_member(), max_size=3))
def test_garbage_inputs_files_fail_cleanly(members: list[tuple[str, bytes]]) -> None:
    """Every member list either is exactly the model's input (float32 [1, 10]) or is refused cleanly."""
    import zipfile

    graph = gspsim.load_model(MLP)
    folder = Path(tempfile.mkdtemp(prefix="gspsim-fuzz-"))
    try:
        path = folder / "in.npz"
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members:
                zf.writestr(name, data)
        try:
            values = load_inputs(path, graph)
        except GspsimError as exc:
            assert str(path) in str(exc)
        else:
            assert list(values) == ["input"]
            assert values["input"].shape == (1, 10) and values["input"].dtype == np.float32
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- names: whatever a file carries prints as text ------------------------------------------------------------
@fuzz(EXAMPLES // 4)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
       | st.lists(st.sampled_from(["[", "]", "/", "[/", "[bold]", "[/x]", "[link=http://x]", "\\", "\x1b[2J",
                                   "\x1b]0;t\x07", "\x07", "\r", "\n", "\u202e", "\x9b", "$", "a"]), max_size=12)
       .map("".join))
def test_any_name_prints_as_itself_without_control_characters(name: str) -> None:
    """markup_safe(name) is text to rich, never a tag: it shows as printable(name), which holds no control character."""
    import io

    from rich.console import Console
    from rich.text import Text

    from gspsim.terminal import markup_safe, printable

    shown = printable(name)
    assert not any(ord(c) < 0x20 and c != "\t" or 0x7f <= ord(c) <= 0x9f for c in shown)
    rendered = Text.from_markup(f"[bold]{markup_safe(name)}[/bold]")  # as it sits between tags: never a tag
    assert len(rendered.spans) == 1 and rendered.spans[0].style == "bold"
    if "\\" not in name:  # rich's escaping of a backslash before '[' is lossy (it may show one less): only then
        assert rendered.plain == shown
    out = io.StringIO()
    Console(file=out, width=200, color_system=None, highlight=False).print(f"[bold]{markup_safe(name)}[/bold]")
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()


# --- result documents read by plot and report -----------------------------------------------------------------
@pytest.fixture(scope="module")
def result_doc() -> dict[str, Any]:
    import json

    return json.loads(gspsim.simulate(MLP, "edge-4", frames=2).to_json())


ODD_JSON = st.one_of(st.sampled_from([None, True, False, -1, 0, 1, 0.5, -0.0, 1e308, -1e308, 2**70, "x", "", [],
                                      {}, [1, 2], {"a": 1}, float("nan"), float("inf")]),
                     st.integers(-(10**6), 10**6))


def _json_paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out: list[tuple] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc[:3]) if isinstance(doc, list) else ()
    for k, v in items:
        out.append((*prefix, k))
        out += _json_paths(v, (*prefix, k))
    return out


@fuzz(EXAMPLES // 4)
@given(st.data())
def test_mutated_result_documents_are_refused_or_written(result_doc: dict[str, Any], data: st.DataObject) -> None:
    """A document either fails check_document with one line, or every report writer handles it."""
    from gspsim.report.csv_table import node_csv_text
    from gspsim.report.document import check_document
    from gspsim.report.html import summary_rows
    from gspsim.report.trace import trace_events

    doc = copy.deepcopy(result_doc)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(_json_paths(doc)), label="path")
        parent: Any = doc
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans(), label="delete") and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(data.draw(ODD_JSON, label="value"))
    try:
        check_document(doc, "fuzzed.json")
    except GspsimError as exc:
        assert "fuzzed.json" in str(exc) and "\n" not in str(exc)
        event("refused")
        return
    event("written")
    trace_events(doc)
    node_csv_text(doc)
    summary_rows(doc)


# --- every number option ---------------------------------------------------------------------------------------
INT_EXTREMES = ["-9223372036854775809", "-1", "0", "1", "3", "2147483648", "9223372036854775807",
                "9223372036854775808", "1" + "0" * 30]
NUMBER_OPTIONS = {
    "--seed": INT_EXTREMES, "--frames": INT_EXTREMES,
    "--tile": [f"rows={v}" for v in INT_EXTREMES] + [f"channels={v}" for v in INT_EXTREMES] + ["cols=all", "rows=x"],
    "--buffer-budget": ["1e999", "0", "nan", "1", "64K", "-1G", "5 parsecs", "1e99999"],
    "--power-resolution": INT_EXTREMES, "--nodes": INT_EXTREMES,
    "--fps": ["nan", "inf", "0", "-1", "1e-300", "1e300", "30", "0.001"],
    "--max-memory": ["1e999", "0", "nan", "8M", "-1G", "5 parsecs", "0.5", "16M", "1e99999"],
    "--input-shape": ["input=1x10", "input=0x10", "input=1x1" + "0" * 30, "input=", "x=1x10", "input=1xten"],
}


@fuzz(EXAMPLES // 16)
@given(st.dictionaries(st.sampled_from(sorted(NUMBER_OPTIONS)), st.integers(0, 100), min_size=1, max_size=3))
def test_number_options_run_or_fail_in_one_line(picks: dict[str, int]) -> None:
    """Any mix of extreme values: exit 0 or 2, one line on stderr at most, never an exception."""
    import contextlib
    import io

    from gspsim.cli import main

    args = ["run", str(MLP), "--timing-only", "--quiet"]
    for option, k in picks.items():
        values = NUMBER_OPTIONS[option]
        args += [option, values[k % len(values)]] if option != "--max-memory" else []
    memory = NUMBER_OPTIONS["--max-memory"][picks["--max-memory"] % 9] if "--max-memory" in picks else "8M"
    args += ["--max-memory", memory]  # at most 16M, so that a large --frames is refused, not run
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's own refusal of a value it cannot parse (usage and error lines)
            assert exc.code == 2, (args, err.getvalue())
            event("argparse refused")
            return
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    assert code in (0, 2), (args, err.getvalue())
    assert len(lines) == (code == 2), (args, err.getvalue())
    event(f"exit {code}")
