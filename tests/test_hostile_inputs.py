"""Broken and hostile inputs: one clear line, exit code 2, nothing lost, nothing reached that should not be.

Each class of bad input (ONNX files, hardware configs, ``--inputs`` files,
output destinations) is driven through the command line: in process through
``gspsim.cli.main`` for most cases (fast; any exception other than a
GspsimError escapes ``main`` and fails the test, just as it would print a
traceback), and in a real process for one case of each class.  The message
must be one line naming the file and the node, tensor or field at fault.
"""

from __future__ import annotations

import threading
import json
import os
import signal
import stat
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import gspsim
from gspsim.cli import build_parser, main
from gspsim.errors import GspsimError, ModelError
from gspsim.frontend import import_onnx, parse_memory_size
from gspsim.hardware.config import load_hardware, preset_names
from gspsim.inputs import load_inputs
from gspsim.output_files import refuse_overwriting, write_bytes_atomic, write_text_atomic
from gspsim.results.result import SCHEMA_VERSION

from helpers import ROOT, TRANSFORMER, run_cli, save_model, tensor

MLP = ROOT / "gspsim" / "models" / "edge_mlp.onnx"
PRESET = ROOT / "gspsim" / "hardware" / "presets" / "edge-4.toml"


def cli_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the CLI in process; it must exit 2 with exactly one ``error:`` line and no traceback."""
    rc = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert rc == 2, (rc, err)
    return lines[0]


def process_error(*args: str) -> str:
    """The same, in a fresh process, as a user runs it."""
    proc = run_cli(*args)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def refused_peak_bytes(call, error: type[BaseException], match: str) -> int:
    """Bytes allocated at the peak while ``call()`` is refused with ``error`` (the refusal must come first)."""
    tracemalloc.start()
    try:
        with pytest.raises(error, match=match):
            call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def relu_model(folder: Path, name: str = "m.onnx", shape=(2, 3), opset: int = 20, out_shape=None) -> Path:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    return save_model(nodes, [tensor("x", list(shape))], [tensor("y", list(out_shape or shape))], [], folder / name,
                      opset=opset)


# --- ONNX files ------------------------------------------------------------------------------
def test_truncated_protobuf_is_refused_in_a_real_process(tmp_path: Path) -> None:
    data = MLP.read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: len(data) // 3])
    line = process_error("run", str(bad))
    assert str(bad) in line and "not an ONNX model" in line


@pytest.mark.parametrize("content", [b"", b"hello, this is text\n", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
                                     b"\x08\x07"], ids=["empty", "text", "png", "tiny-protobuf"])
def test_files_that_are_not_onnx(tmp_path: Path, capsys, content: bytes) -> None:
    bad = tmp_path / "not_a_model.onnx"
    bad.write_bytes(content)
    line = cli_error(capsys, "run", str(bad))
    assert str(bad) in line and "not an ONNX model" in line


def test_corrupt_bytes_inside_a_name_are_refused(tmp_path: Path, capsys) -> None:
    """Invalid UTF-8 in a proto2 string field parses into bytes; it must be refused, naming the field."""
    data = MLP.read_bytes().replace(b"node_linear", b"\xeeode_linear", 1)
    bad = tmp_path / "bad_utf8.onnx"
    bad.write_bytes(data)
    line = cli_error(capsys, "inspect", str(bad))
    assert str(bad) in line and "not valid UTF-8" in line and ".name" in line


def test_missing_initializer_names_node_and_tensor(tmp_path: Path, capsys) -> None:
    model = onnx.load(str(MLP))
    dropped = model.graph.initializer[0].name
    del model.graph.initializer[0]
    path = tmp_path / "no_weight.onnx"
    onnx.save(model, str(path))
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and f"'{dropped}'" in line and "node 'node_linear' (Gemm)" in line
    assert "missing initializer" in line


def test_dangling_edge_names_node_and_tensor(tmp_path: Path, capsys) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="first"),
             helper.make_node("Add", ["y", "ghost"], ["z"], name="joins_nothing")]
    path = save_model(nodes, [tensor("x", [2, 3])], [tensor("z", [2, 3])], [], tmp_path / "dangling.onnx")
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and "node 'joins_nothing' (Add)" in line and "'ghost'" in line


def test_graph_output_nobody_writes(tmp_path: Path, capsys) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    path = save_model(nodes, [tensor("x", [2, 3])], [tensor("nowhere", [2, 3])], [], tmp_path / "o.onnx")
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and "graph output 'nowhere'" in line


def test_cycle_names_the_nodes_on_it(tmp_path: Path, capsys) -> None:
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="loop_add"),
             helper.make_node("Relu", ["a"], ["b"], name="loop_relu")]
    path = save_model(nodes, [tensor("x", [2, 3])], [tensor("a", [2, 3])], [], tmp_path / "cycle.onnx")
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and "cycle" in line
    assert "node 'loop_add' (Add)" in line and "node 'loop_relu' (Relu)" in line


def test_nodes_out_of_order_are_named(tmp_path: Path, capsys) -> None:
    nodes = [helper.make_node("Relu", ["y"], ["z"], name="reads_early"),
             helper.make_node("Relu", ["x"], ["y"], name="writes_late")]
    path = save_model(nodes, [tensor("x", [2, 3])], [tensor("z", [2, 3])], [], tmp_path / "unsorted.onnx")
    line = cli_error(capsys, "run", str(path))
    assert "node 'reads_early' (Relu)" in line and "node 'writes_late' (Relu)" in line and "topological" in line


@pytest.mark.parametrize("case", ["two_writers", "initializer_and_node", "input_twice", "initializer_twice"])
def test_duplicate_tensor_names(tmp_path: Path, capsys, case: str) -> None:
    w = numpy_helper.from_array(np.ones((2, 3), np.float32), "y")
    inputs, inits = [tensor("x", [2, 3])], []
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu_a")]
    if case == "two_writers":
        nodes.append(helper.make_node("Sigmoid", ["x"], ["y"], name="sigmoid_b"))
    elif case == "initializer_and_node":
        inits = [w]
    elif case == "input_twice":
        inputs = [tensor("x", [2, 3]), tensor("x", [2, 3])]
    else:
        w2 = numpy_helper.from_array(np.ones((2, 3), np.float32), "w")
        inits = [w2, w2]
        nodes = [helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    path = save_model(nodes, inputs, [tensor("y", [2, 3])], inits, tmp_path / "dup.onnx")
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and ("defined twice" in line or "declared twice" in line)
    if case == "two_writers":
        assert "'y'" in line and "node 'relu_a' (Relu)" in line and "node 'sigmoid_b' (Sigmoid)" in line


def test_opset_newer_than_supported(tmp_path: Path, capsys) -> None:
    path = relu_model(tmp_path, opset=99)
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and "opset 99 is newer than supported" in line


def test_ir_version_newer_than_supported(tmp_path: Path, capsys) -> None:
    path = relu_model(tmp_path)
    model = onnx.load(str(path))
    model.ir_version = 99
    onnx.save(model, str(path))
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and "IR version 99" in line


def test_dynamic_dimension_asks_for_input_shape(tmp_path: Path, capsys) -> None:
    path = relu_model(tmp_path, shape=("batch", 3), out_shape=("batch", 3))
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and "input 'x'" in line and "'batch'" in line and "--input-shape x=Nx3" in line
    assert main(["run", str(path), "--input-shape", "x=4x3", "--quiet"]) == 0


@pytest.mark.parametrize("shape_arg", ["x=0x3", "x=-2x3", "x=2xthree", "x=", "=2x3"])
def test_bad_input_shape_options(tmp_path: Path, capsys, shape_arg: str) -> None:
    path = relu_model(tmp_path, shape=("batch", 3), out_shape=("batch", 3))
    line = cli_error(capsys, "run", str(path), "--input-shape", shape_arg)
    assert "--input-shape" in line


def test_negative_dims_are_refused(tmp_path: Path, capsys) -> None:
    path = relu_model(tmp_path, shape=(-4, 3))
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and "input 'x'" in line and "is -4" in line


def test_zero_sized_tensors_run(tmp_path: Path) -> None:
    """ONNX allows empty tensors: an empty input, and an empty intermediate, run and give empty outputs."""
    assert main(["run", str(relu_model(tmp_path, shape=(0, 3))), "--check", "--quiet"]) == 0
    ints = [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in (("s", 2), ("e", 2), ("a", 0))]
    nodes = [helper.make_node("Slice", ["x", "s", "e", "a"], ["empty"], name="slice_nothing"),
             helper.make_node("Relu", ["empty"], ["y"], name="relu")]
    path = save_model(nodes, [tensor("x", [2, 3])], [tensor("y", [0, 3])], ints, tmp_path / "empty.onnx")
    assert main(["run", str(path), "--check", "--quiet"]) == 0


def test_initializer_whose_data_does_not_fit_its_shape(tmp_path: Path, capsys) -> None:
    w = numpy_helper.from_array(np.ones((2, 3), np.float32), "w")
    w.dims[0] = 2000  # claims 2000x3 floats, holds 6
    nodes = [helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    path = save_model(nodes, [tensor("x", [2, 3])], [tensor("y", [2, 3])], [w], tmp_path / "short.onnx")
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and "initializer 'w'" in line and "[2000, 3]" in line


def test_attribute_out_of_range_is_refused_before_simulation(tmp_path: Path, capsys) -> None:
    scale = numpy_helper.from_array(np.ones(4, np.float32), "scale")
    nodes = [helper.make_node("LayerNormalization", ["x", "scale"], ["y"], name="norm", axis=3)]
    path = save_model(nodes, [tensor("x", [2, 3, 4])], [tensor("y", [2, 3, 4])], [scale], tmp_path / "axis.onnx")
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and "node 'norm' (LayerNormalization)" in line and "axis 3" in line


def test_huge_declared_tensor_is_refused_in_a_real_process(tmp_path: Path) -> None:
    path = relu_model(tmp_path, name="huge.onnx", shape=(100000, 100000, 100))
    line = process_error("run", str(path))
    assert str(path) in line and "tensor" in line and "memory limit" in line and "--max-memory" in line


def test_huge_tensor_is_refused_before_anything_is_allocated(tmp_path: Path) -> None:
    """An overflowing declaration (2**80 elements) and a huge constant-folding candidate allocate nothing."""
    huge = relu_model(tmp_path, name="overflow.onnx", shape=(2**40, 2**40))
    shape = numpy_helper.from_array(np.array([30000, 30000], np.int64), "s")
    one = numpy_helper.from_array(np.ones((1, 1), np.float32), "one")
    nodes = [helper.make_node("Expand", ["one", "s"], ["big"], name="expand"),
             helper.make_node("Add", ["x", "big"], ["y"], name="add")]
    expand = save_model(nodes, [tensor("x", [1, 1])], [tensor("y", [30000, 30000])], [shape, one],
                        tmp_path / "expand.onnx")
    for path, limit in ((huge, None), (expand, 1 << 30)):
        peak = refused_peak_bytes(lambda: import_onnx(path, max_memory_bytes=limit), ModelError, "memory limit")
        assert peak < 64 << 20, f"{path.name}: {peak} bytes allocated before refusing"


def test_memory_limit_is_settable(tmp_path: Path) -> None:
    """The same model passes or fails by the limit; the message names the largest tensor."""
    graph = import_onnx(MLP, max_memory_bytes=64 << 20)
    assert len(graph) == 5
    with pytest.raises(ModelError, match=r"net\.0\.weight|memory limit"):
        import_onnx(MLP, max_memory_bytes=2000)
    with pytest.raises(GspsimError, match="max-memory"):
        import_onnx(MLP, max_memory_bytes=0)
    assert parse_memory_size("8G") == 8 << 30 and parse_memory_size("512MiB") == 512 << 20
    assert parse_memory_size("2GB") == 2 * 10**9 and parse_memory_size("1000") == 1000
    for bad in ("", "lots", "-1G", "0", "5 parsecs"):
        with pytest.raises(GspsimError, match="--max-memory"):
            parse_memory_size(bad)


def test_model_file_larger_than_the_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "sparse.onnx"
    with open(path, "wb") as fh:
        fh.truncate(1 << 30)  # a 1 GiB sparse file: reading it would allocate 1 GiB
    peak = refused_peak_bytes(lambda: import_onnx(path, max_memory_bytes=256 << 20), ModelError,
                              r"the file is 1 GiB, more than the memory limit")
    assert peak < 16 << 20


def test_api_input_shapes_are_validated(tmp_path: Path) -> None:
    path = relu_model(tmp_path, shape=("batch", 3), out_shape=("batch", 3))
    for bad in ((0, 3), (-1, 3), ("2", 3), (2.5, 3)):
        with pytest.raises(ModelError, match="--input-shape for 'x'"):
            import_onnx(path, {"x": bad})
    assert import_onnx(path, {"x": (np.int64(5), 3)}).tensors["y"].shape == (5, 3)


def _cli_has_max_memory() -> bool:
    _, unknown = build_parser().parse_known_args(["run", "--max-memory", "1G"])
    return not unknown


@pytest.mark.skipif(not _cli_has_max_memory(), reason="--max-memory is not wired into the CLI yet")
def test_max_memory_option(tmp_path: Path, capsys) -> None:  # pragma: no cover - runs once wired
    line = cli_error(capsys, "run", str(MLP), "--max-memory", "2K")
    assert str(MLP) in line and "memory limit" in line
    assert main(["run", str(MLP), "--max-memory", "64M", "--quiet"]) == 0


# --- external data (CVE-2024-27318 / CVE-2024-27319) ---------------------------------------------
SECRET = b"SECRET-KEY-MATERIAL-" * 512


def _external_model(folder: Path, location: str, offset: str | None = None, length: str | None = None) -> Path:
    """A copy of the transformer whose first external tensor points at ``location``."""
    folder.mkdir(parents=True, exist_ok=True)
    sidecar = TRANSFORMER.with_name(TRANSFORMER.name + ".data")
    (folder / sidecar.name).write_bytes(sidecar.read_bytes())
    model = onnx.load(str(TRANSFORMER), load_external_data=False)
    t = next(t for t in model.graph.initializer if t.data_location == TensorProto.EXTERNAL)
    entries = {e.key: e for e in t.external_data}
    entries["location"].value = location
    if offset is not None:
        entries["offset"].value = offset
    if length is not None:
        entries["length"].value = length
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the model's folder that no model may read."""
    path = tmp_path / "secret.bin"
    path.write_bytes(SECRET)
    return path


def test_external_data_sidecar_inside_the_folder_loads(tmp_path: Path) -> None:
    path = _external_model(tmp_path / "m", "transformer_encoder.onnx.data")
    assert len(gspsim.load_model(path)) > 0


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink_file", "symlink_folder", "windows_dotdot", "nul"])
def test_external_data_outside_the_folder_is_refused(tmp_path: Path, capsys, secret: Path, how: str) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    location = {"dotdot": "../secret.bin", "absolute": str(secret), "symlink_file": "weights.bin",
                "symlink_folder": "sub/secret.bin", "windows_dotdot": "..\\secret.bin", "nul": "x\x00y"}[how]
    if how == "symlink_file":
        (folder / "weights.bin").symlink_to(secret)
    if how == "symlink_folder":
        (folder / "sub").symlink_to(tmp_path)
    path = _external_model(folder, location)
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and "tensor 'pos' external data" in line
    assert any(word in line for word in ("outside the model's folder", "symlink", "relative path", "NUL"))


def test_external_data_symlink_is_refused_in_a_real_process(tmp_path: Path, secret: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "w.bin").symlink_to(secret)
    line = process_error("run", str(_external_model(folder, "w.bin")))
    assert "symlink" in line and "'pos'" in line


@pytest.mark.parametrize("offset,length,expect", [
    ("abc", None, "'offset' must be an integer"), ("-8", None, "'offset' must be >= 0"),
    ("999999999", None, "asks for bytes"), (None, "4", "does not match the declared shape"),
])
def test_external_data_offsets_and_lengths_are_checked(tmp_path: Path, capsys, offset, length, expect) -> None:
    path = _external_model(tmp_path / "m", "transformer_encoder.onnx.data", offset, length)
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and "'pos'" in line and expect in line


def test_external_data_that_is_a_fifo_does_not_hang(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    os.mkfifo(folder / "pipe")
    line = cli_error(capsys, "run", str(_external_model(folder, "pipe")))
    assert "not a regular file" in line


# --- hardware configs ------------------------------------------------------------------------
def _hw_file(tmp_path: Path, old: str, new: str) -> Path:
    text = PRESET.read_text()
    assert old in text
    path = tmp_path / "chip.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old,new,expect", [
    ("latency_ns = 100.0 ", "", "[dram]: missing field 'latency_ns'"),
    ("engines = 2", "engines = 2\nturbo = true", "[dma]: unknown field 'turbo'"),
    ("count = 4 ", "count = \"four\" ", "[cores] field 'count' must be an integer, got str"),
    ("engines = 2", "engines = 2.5", "[dma] field 'engines' must be an integer"),
    ("size_bytes = 262144", "size_bytes = -262144", "[shared_memory] field 'size_bytes' must be > 0"),
    ("thread_slots = 8", "thread_slots = 0", "[cores] field 'thread_slots' must be > 0"),
    ("count = 4 ", "count = 100000000 ", "[cores] field 'count' must be between 1 and 4096"),
    ("bandwidth_bytes_per_s = 12.8e9", "bandwidth_bytes_per_s = 1e-300", "field 'bandwidth_bytes_per_s' must be between"),
    ("clock_hz = 1.0e9", "clock_hz = inf", "field 'clock_hz' must be finite"),
    ("int8 = 500.0", "int8 = true", "key 'int8' must be a number, got bool"),
    ('default_mode = "streaming"', 'default_mode = "warp"', "field 'default_mode' must be 'streaming' or 'layer'"),
    ('name = "edge-4"', "", "missing field 'name'"),
    ("[dma]\nengines = 2", "[dma]\nengines = 2\n[[[", "not valid TOML"),
])
def test_bad_hardware_configs_name_the_field(tmp_path: Path, capsys, old: str, new: str, expect: str) -> None:
    path = _hw_file(tmp_path, old, new)
    line = cli_error(capsys, "run", str(MLP), "--hw", str(path))
    assert str(path) in line and expect in line


def test_bad_hardware_config_in_a_real_process(tmp_path: Path) -> None:
    path = _hw_file(tmp_path, "latency_ns = 100.0", "latency_ns = -100.0")
    line = process_error("hw", "show", str(path))
    assert str(path) in line and "[dram] field 'latency_ns' must be >= 0" in line


def test_unknown_preset_lists_the_known_ones(capsys) -> None:
    line = cli_error(capsys, "run", str(MLP), "--hw", "blaize-9000")
    assert "unknown hardware preset 'blaize-9000'" in line
    assert all(name in line for name in preset_names()) and len(preset_names()) >= 3


def test_hardware_path_that_is_not_a_file(tmp_path: Path, capsys) -> None:
    line = cli_error(capsys, "hw", "show", str(tmp_path) + "/")
    assert "not a regular file" in line
    line = cli_error(capsys, "hw", "show", str(tmp_path / "missing.toml"))
    assert "no such hardware config file" in line
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    assert "not valid TOML" in cli_error(capsys, "hw", "show", str(binary))


def test_every_preset_loads() -> None:
    for name in preset_names():
        assert load_hardware(name).name == name


# --- --inputs files --------------------------------------------------------------------------
@pytest.mark.parametrize("arrays,expect", [
    ({"images": np.zeros((1, 10), np.float32)}, "unknown input 'images'"),
    ({}, "missing input 'input'"),
    ({"input": np.zeros((2, 10), np.float32)}, "input 'input' has shape [2, 10], the model expects [1, 10]"),
    ({"input": np.zeros((1, 10), np.float64)}, "input 'input' has dtype float64, the model expects float32"),
    ({"input": np.zeros((1, 10), np.float32), "extra": np.zeros(3)}, "unknown input 'extra'"),
    ({"input": np.array([[{"a": 1}]] * 10, dtype=object).reshape(1, 10)}, "holds Python objects"),
])
def test_inputs_files_with_wrong_names_shapes_dtypes(tmp_path: Path, capsys, arrays, expect: str) -> None:
    path = tmp_path / "in.npz"
    np.savez(path, **arrays)
    line = cli_error(capsys, "run", str(MLP), "--inputs", str(path))
    assert str(path) in line and expect in line


def test_inputs_file_problems_in_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "in.npz"
    np.savez(path, input=np.zeros((1, 11), np.float32))
    line = process_error("run", str(MLP), "--inputs", str(path))
    assert str(path) in line and "has shape [1, 11]" in line


def test_inputs_file_that_is_npy_or_corrupt(tmp_path: Path, capsys) -> None:
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((1, 10), np.float32))
    assert ".npz with one array per input name" in cli_error(capsys, "run", str(MLP), "--inputs", str(npy))
    good = tmp_path / "good.npz"
    np.savez(good, input=np.zeros((1, 10), np.float32))
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(good.read_bytes()[:-40])
    assert "not a readable .npz file" in cli_error(capsys, "run", str(MLP), "--inputs", str(corrupt))
    assert "no such inputs file" in cli_error(capsys, "run", str(MLP), "--inputs", str(tmp_path / "none.npz"))


def test_inputs_declaring_a_huge_array_are_refused_from_the_header(tmp_path: Path) -> None:
    """A member whose header claims 10**12 floats is refused without reading or allocating it."""
    import io
    import zipfile

    header = {"descr": "<f4", "fortran_order": False, "shape": (1000000, 1000000)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("input.npy", buf.getvalue() + b"\0" * 64)
    graph = gspsim.load_model(MLP)
    peak = refused_peak_bytes(lambda: load_inputs(path, graph), GspsimError,
                              r"has shape \[1000000, 1000000\], the model expects \[1, 10\]")
    assert peak < 16 << 20


# --- outputs ---------------------------------------------------------------------------------
def _model_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    folder.mkdir()
    sidecar = TRANSFORMER.with_name(TRANSFORMER.name + ".data")
    (folder / TRANSFORMER.name).write_bytes(TRANSFORMER.read_bytes())
    (folder / sidecar.name).write_bytes(sidecar.read_bytes())
    return folder / TRANSFORMER.name


@pytest.mark.parametrize("target", ["model", "sidecar", "symlink_to_model", "hardlink_to_model", "inputs", "hw"])
def test_never_writes_over_an_input_file(tmp_path: Path, capsys, target: str) -> None:
    model = _model_copy(tmp_path)
    inputs = tmp_path / "in.npz"
    np.savez(inputs, input=np.zeros((1, 32, 64), np.float32))
    hw = tmp_path / "chip.toml"
    hw.write_text(PRESET.read_text())
    dest = {"model": model, "sidecar": model.with_name(model.name + ".data"), "inputs": inputs, "hw": hw,
            "symlink_to_model": tmp_path / "link.json", "hardlink_to_model": tmp_path / "hard.json"}[target]
    if target == "symlink_to_model":
        dest.symlink_to(model)
    if target == "hardlink_to_model":
        os.link(model, dest)
    before = {p: p.read_bytes() for p in (model, model.with_name(model.name + ".data"), inputs, hw)}
    line = cli_error(capsys, "run", str(model), "--inputs", str(inputs), "--hw", str(hw), "--json", str(dest))
    assert "refusing to write over" in line and str(dest) in line
    assert all(p.read_bytes() == data for p, data in before.items())


def test_output_into_a_folder_or_missing_folder(tmp_path: Path, capsys) -> None:
    assert "is a folder" in cli_error(capsys, "run", str(MLP), "--json", str(tmp_path))
    assert "does not exist" in cli_error(capsys, "run", str(MLP), "--json", str(tmp_path / "no" / "r.json"))


def test_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path, monkeypatch) -> None:
    dest = tmp_path / "result.json"
    dest.write_text("old result\n")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(dest, "new result\n" * 1000)
    monkeypatch.undo()
    assert dest.read_text() == "old result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


_WRITER = """
import sys
from gspsim.output_files import write_bytes_atomic
dest = sys.argv[1]
k = 0
print("ready", flush=True)
while True:
    write_bytes_atomic(dest, bytes([65 + k % 26]) * (8 << 20))
    k += 1
"""


def test_killed_writer_never_leaves_a_partial_file(tmp_path: Path) -> None:
    """SIGKILL a process in the middle of rewriting an 8 MiB file: the file is always whole."""
    dest = tmp_path / "out.bin"
    for delay in (0.3, 0.55, 0.8):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(dest)], stdout=subprocess.PIPE, cwd=ROOT)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if dest.exists():
            data = dest.read_bytes()
            assert len(data) == 8 << 20 and data.count(data[:1]) == len(data)


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    new = tmp_path / "new.json"
    write_text_atomic(new, "{}\n")
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask
    kept = tmp_path / "kept.json"
    kept.write_text("{}")
    kept.chmod(0o640)
    write_text_atomic(kept, "[]\n")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_text() == "[]\n"


def test_refuse_overwriting_is_a_no_op_for_new_files(tmp_path: Path) -> None:
    refuse_overwriting(tmp_path / "fresh.json", [MLP, tmp_path / "missing.onnx"], "--json")
    write_bytes_atomic(tmp_path / "fresh.json", b"{}")
    assert (tmp_path / "fresh.json").read_bytes() == b"{}"


# --- determinism -----------------------------------------------------------------------------
def test_json_is_byte_identical_across_processes(tmp_path: Path) -> None:
    """Same model, inputs, config and seed in two processes with different hash seeds: the same bytes."""
    hw = tmp_path / "chip.toml"
    hw.write_text(PRESET.read_text())
    outs = []
    for k, hash_seed in enumerate(("1", "4242")):
        out = tmp_path / f"r{k}.json"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        proc = subprocess.run(
            [sys.executable, "-m", "gspsim", "run", str(TRANSFORMER), str(MLP), "--hw", str(hw), "--frames", "2",
             "--seed", "7", "--json", str(out), "--quiet"],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    doc = json.loads(outs[0])
    assert doc["latency_cycles"] > 0


# === round two (issue 20) ====================================================================
def _fifo_with_reader(path: Path) -> "threading.Thread":
    """A FIFO whose reader is waiting (as a script reading the output would be); returns the reader thread."""
    import threading

    os.mkfifo(path)
    got: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.got = got  # type: ignore[attr-defined]
    return reader


def _release(reader: "threading.Thread", path: Path) -> bytes:
    """End a FIFO reader that gspsim left waiting (gspsim never opened the FIFO) and return what it read."""
    with open(path, "wb"):
        pass
    reader.join(timeout=10)
    return b"".join(reader.got)  # type: ignore[attr-defined]


# --- outputs: no output destroys an input ----------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--calib", "--precision-map", "--inputs", "--hw"])
@pytest.mark.parametrize("output", ["--json", "--csv", "--report", "--trace", "--outputs"])
def test_no_output_writes_over_any_input(tmp_path: Path, capsys, option: str, output: str) -> None:
    files = {"--calib": tmp_path / "calib.npz", "--precision-map": tmp_path / "map.toml",
             "--inputs": tmp_path / "in.npz", "--hw": tmp_path / "chip.toml"}
    np.savez(files["--calib"], input=np.zeros((4, 1, 10), np.float32))
    files["--precision-map"].write_text('Relu = "fp16"\n')
    np.savez(files["--inputs"], input=np.zeros((1, 10), np.float32))
    files["--hw"].write_text(PRESET.read_text())
    before = {p: p.read_bytes() for p in files.values()}
    args = ["run", str(MLP), "--precision", "int8", *(a for k, p in files.items() for a in (k, str(p)))]
    line = cli_error(capsys, *args, output, str(files[option]))
    assert f"{output} {files[option]}: refusing to write over an input file of this run ({option} " in line
    assert all(p.read_bytes() == data for p, data in before.items())


def test_plot_and_sweep_outputs_never_write_over_their_inputs(tmp_path: Path, capsys) -> None:
    result = tmp_path / "r.json"
    assert main(["run", str(MLP), "--json", str(result), "--quiet"]) == 0
    data = result.read_bytes()
    line = cli_error(capsys, "plot", str(result), "--csv", str(result))
    assert "refusing to write over an input file of this run (RESULT" in line and result.read_bytes() == data
    grid = tmp_path / "grid.toml"
    grid.write_text("[axes]\ncores = [2, 4]\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.csv").symlink_to(grid)
    line = cli_error(capsys, "sweep", str(MLP), "--grid", str(grid), "--out", str(tmp_path / "out"))
    assert "--out" in line and "results.csv" in line and "--grid" in line
    assert not (tmp_path / "out" / "points").exists()  # refused before any work


def test_two_outputs_to_one_file_are_refused(tmp_path: Path, capsys) -> None:
    line = cli_error(capsys, "run", str(MLP), "--json", str(tmp_path / "x"), "--csv", str(tmp_path / "x"))
    assert "--csv" in line and "--json writes the same file" in line and not (tmp_path / "x").exists()


# --- outputs: a destination is a regular file or absent ------------------------------------------------------
@pytest.mark.parametrize("kind", ["regular", "absent", "symlink", "dangling_symlink", "fifo_with_reader",
                                  "char_device", "folder"])
def test_output_destinations_of_every_file_type(tmp_path: Path, capsys, kind: str) -> None:
    dest = tmp_path / "out.json"
    other = tmp_path / "other.txt"
    other.write_text("keep me\n")
    reader = None
    if kind == "regular":
        dest.write_text("old result\n")
    elif kind == "symlink":
        dest.symlink_to(other)
    elif kind == "dangling_symlink":
        dest.symlink_to(tmp_path / "nowhere.json")
    elif kind == "fifo_with_reader":
        reader = _fifo_with_reader(dest)
    elif kind == "char_device":
        if os.geteuid() != 0:
            pytest.skip("making a device node (a copy of /dev/null) needs root")
        os.mknod(dest, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    elif kind == "folder":
        dest.mkdir()
    if kind in ("regular", "absent"):
        assert main(["run", str(MLP), "--json", str(dest), "--quiet"]) == 0
        assert json.loads(dest.read_text())["schema_version"] == SCHEMA_VERSION and stat.S_ISREG(os.lstat(dest).st_mode)
        return
    line = cli_error(capsys, "run", str(MLP), "--json", str(dest))
    expect = {"symlink": "is a symlink", "dangling_symlink": "is a symlink", "fifo_with_reader": "is a FIFO",
              "char_device": "is a character device", "folder": "is a folder"}[kind]
    assert line.startswith(f"error: --json {dest}: {expect}")
    if kind != "folder":
        assert "use --json - for standard output" in line
    mode = os.lstat(dest).st_mode
    assert {"symlink": stat.S_ISLNK, "dangling_symlink": stat.S_ISLNK, "fifo_with_reader": stat.S_ISFIFO,
            "char_device": stat.S_ISCHR, "folder": stat.S_ISDIR}[kind](mode), "the destination was replaced"
    assert other.read_text() == "keep me\n"
    if reader is not None:
        assert _release(reader, dest) == b""  # gspsim never opened the pipe
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.json", "other.txt"])  # no temporary left


def test_json_to_standard_output(capsys) -> None:
    assert main(["run", str(MLP), "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["model"]["path"] == str(MLP)  # the document alone: no table beside it
    line = cli_error(capsys, "run", str(MLP), "--json", "-", "--csv", "-")
    assert "only one output can go to standard output" in line
    assert "standard output is not supported" in cli_error(capsys, "run", str(MLP), "--outputs", "-")


def test_bad_output_folder_fails_before_any_work(tmp_path: Path, capsys) -> None:
    """A --report into a missing folder is found before the simulation: no --json is left behind."""
    result = tmp_path / "r.json"
    line = cli_error(capsys, "run", str(MLP), "--json", str(result), "--report", str(tmp_path / "no" / "r.html"))
    assert "--report" in line and "does not exist" in line and not result.exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = cli_error(capsys, "run", str(MLP), "--json", str(result), "--plots", str(blocker / "figs"))
    assert "--plots" in line and "cannot be created" in line and not result.exists()
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "gantt.png").symlink_to(blocker)
    line = cli_error(capsys, "run", str(MLP), "--json", str(result), "--plots", str(tmp_path / "figs"))
    assert "gantt.png: is a symlink" in line and not result.exists() and blocker.read_text() == "x"


# --- input files that are not regular files ------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--precision-map", "--calib", "--inputs", "--hw", "--grid", "model"])
def test_a_fifo_given_as_an_input_is_named_as_a_fifo(tmp_path: Path, capsys, option: str) -> None:
    fifo = tmp_path / ("pipe.toml" if option in ("--precision-map", "--hw", "--grid") else "pipe.onnx"
                       if option == "model" else "pipe.npz")
    os.mkfifo(fifo)
    if option == "--grid":
        args = ["sweep", str(MLP), "--grid", str(fifo), "--out", str(tmp_path / "out")]
    elif option == "model":
        args = ["inspect", str(fifo)]
    else:
        args = ["run", str(MLP), "--precision", "int8", option, str(fifo)]
    line = cli_error(capsys, *args)
    assert str(fifo) in line and "is a FIFO (named pipe), not a regular file" in line


# --- archive tricks ------------------------------------------------------------------------------------------
def _npy(array_header: dict, payload: bytes = b"") -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, array_header)
    return buf.getvalue() + payload


def test_archive_with_both_name_and_name_npy_is_refused_without_allocating(tmp_path: Path) -> None:
    """The issue's case: a member 'input' declaring 1 GiB beside a valid 'input.npy'."""
    import io
    import zipfile

    good = io.BytesIO()
    np.save(good, np.zeros((1, 10), np.float32))
    path = tmp_path / "trick.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("input", _npy({"descr": "<f4", "fortran_order": False, "shape": (1 << 28,)}, b"\0" * (1 << 20)))
        zf.writestr("input.npy", good.getvalue())
    graph = gspsim.load_model(MLP)
    peak = refused_peak_bytes(lambda: load_inputs(path, graph), GspsimError, r"holds both 'input' and 'input.npy'")
    assert peak < 16 << 20


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
def test_archive_tricks_for_calibration(tmp_path: Path, capsys) -> None:
    import io
    import zipfile

    sample = io.BytesIO()
    np.save(sample, np.zeros((4, 1, 10), np.float32))
    twice = tmp_path / "twice.npz"
    with zipfile.ZipFile(twice, "w") as zf:
        zf.writestr("input.npy", sample.getvalue())
        zf.writestr("input.npy", sample.getvalue())
    line = cli_error(capsys, "run", str(MLP), "--precision", "int8", "--calib", str(twice))
    assert str(twice) in line and "member 'input.npy' twice" in line
    huge = tmp_path / "huge.npz"
    with zipfile.ZipFile(huge, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("input.npy", _npy({"descr": "<f4", "fortran_order": False, "shape": (1 << 30, 10)}, b"\0" * 4096))
    line = cli_error(capsys, "run", str(MLP), "--precision", "int8", "--calib", str(huge), "--max-memory", "256M")
    assert str(huge) in line and "more than the memory limit" in line


# --- numbers on every option ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args,expect", [
    (["--seed", "-1"], "--seed must be between 0 and"),
    (["--seed", str(2**63)], "--seed must be between 0 and"),
    (["--frames", "0"], "--frames must be >= 1"),
    (["--frames", "100000000", "--timing-only", "--max-memory", "512M"], "--frames 100000000 x"),
    (["--frames", str(2**64), "--timing-only"], "--frames must be at most"),
    (["--max-memory", "1e999"], "--max-memory '1e999': more than any machine has"),
    (["--max-memory", "0"], "--max-memory '0'"),
    (["--max-memory", "nan"], "--max-memory 'nan'"),
    (["--input-shape", "input=1000000000000000000000000000000x10"], "larger than ONNX allows"),
    (["--input-shape", "input=0x10"], "dimensions must be positive"),
    (["--fps", "nan"], "--fps"), (["--fps", "inf"], "--fps must be a finite number"),
    (["--fps", "0"], "--fps"), (["--fps", "1e-300", "--frames", "2"], "the last frame would arrive after"),
    (["--tile", "rows=0"], "rows must be a positive integer"), (["--tile", "rows=4,depth=2"], "--tile 'rows=4,depth=2'"),
    (["--buffer-budget", "0"], "--buffer-budget '0': must be more than 0"),
    (["--buffer-budget", "1e999"], "--buffer-budget '1e999': more than any machine has"),
    (["--power-resolution", "0"], "--power-resolution must be >= 1"),
    (["--power-resolution", str(2**63)], "--power-resolution must be at most"),
    (["--precision", "int8", "--calib-samples", "0"], "--calib-samples must be >= 1"),
    (["--precision", "int8", "--calib-samples", str(10**12)], "--calib-samples 1000000000000: the synthetic"),
    (["--precision", "fp16", "--accuracy-samples", "-1"], "--accuracy-samples must be >= 0"),
    (["--nodes", "-1"], "--nodes must be >= 0"),
])
def test_every_number_option_is_validated_in_one_line(capsys, args: list[str], expect: str) -> None:
    line = cli_error(capsys, "run", str(MLP), *args)
    assert expect in line


@pytest.mark.parametrize("args,expect", [
    (["compare", str(MLP), "--jobs", "0"], "--jobs must be between 1 and"),
    (["compare", str(MLP), "--jobs", str(10**9)], "--jobs must be between 1 and"),
    (["compare", str(MLP), "--seed", "-5"], "--seed must be between 0 and"),
    (["sweep", str(MLP), "--out", "unused", "--jobs", str(10**9)], "--jobs must be between 1 and"),
    (["sweep", str(MLP), "--out", "unused", "--sample", "0"], "--sample must be >= 1"),
    (["inspect", str(MLP), "--max-memory", "1e999"], "--max-memory '1e999'"),
])
def test_numbers_of_the_other_commands(capsys, args: list[str], expect: str) -> None:
    assert expect in cli_error(capsys, *args)


# --- names that carry markup and control characters ----------------------------------------------------------
ESC_NAME = "evil\x1b]0;pwned\x07\x1b[2J"


def _marked_model(folder: Path) -> Path:
    """Nodes and tensors named with rich markup, escape sequences and BEL, in a folder whose path holds markup."""
    folder.mkdir(parents=True)
    nodes = [helper.make_node("Relu", ["[/x]"], [ESC_NAME], name="[/relu]"),
             helper.make_node("Sigmoid", [ESC_NAME], ["[bold]y[/bold]"], name=f"[link=http://x]{ESC_NAME}")]
    return save_model(nodes, [tensor("[/x]", [2, 3])], [tensor("[bold]y[/bold]", [2, 3])], [], folder / "m.onnx")


def _assert_safe(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "Traceback" not in text


def test_markup_and_control_characters_in_names_print_safely(tmp_path: Path, capsys) -> None:
    path = _marked_model(tmp_path / "x[" / "e]")  # the path reads .../x[/e]/m.onnx: a closing tag to rich
    assert main(["inspect", str(path), "--no-fuse"]) == 0  # unfused, so the Sigmoid node has a row of its own
    out, err = capsys.readouterr()
    _assert_safe(out + err)
    assert "[/relu]" in out and "[/x]" in out and "evil\\x1b]0;pwned\\x07\\x1b[2J" in out and "x[/e]/m.onnx" in out
    assert main(["run", str(path), "--nodes", "5", "--no-fuse"]) == 0
    out, err = capsys.readouterr()
    _assert_safe(out + err)
    assert "[/relu]" in out and "[link=http://x]" in out


def test_markup_and_control_characters_in_hardware_names_and_errors(tmp_path: Path, capsys) -> None:
    hw = tmp_path / "chip.toml"
    hw.write_text(PRESET.read_text().replace('name = "edge-4"', 'name = "edge[/x]\\u001b]0;t\\u0007"', 1))
    for args in (["hw", "show", str(hw)], ["run", str(MLP), "--hw", str(hw)]):
        assert main(args) == 0
        out, err = capsys.readouterr()
        _assert_safe(out + err)
        assert "edge[/x]\\x1b]0;t\\x07" in out
    nodes = [helper.make_node("Add", ["x", ESC_NAME], ["y"], name="[/add]")]
    path = save_model(nodes, [tensor("x", [2, 3])], [tensor("y", [2, 3])], [], tmp_path / "dangling.onnx")
    line = cli_error(capsys, "run", str(path))
    _assert_safe(line)
    assert "'evil\\x1b]0;pwned\\x07\\x1b[2J'" in line and "node '[/add]' (Add)" in line


def test_string_graph_input_is_refused_naming_the_file(tmp_path: Path, capsys) -> None:
    nodes = [helper.make_node("Identity", ["text"], ["out"], name="pass")]
    path = save_model(nodes, [tensor("text", [2], TensorProto.STRING)], [tensor("out", [2], TensorProto.STRING)],
                      [], tmp_path / "strings.onnx")
    line = cli_error(capsys, "run", str(path))
    assert str(path) in line and "graph input 'text' is a string tensor" in line


# --- unexpected errors ---------------------------------------------------------------------------------------
def test_an_unexpected_error_is_one_line_exit_3_and_debug_shows_the_traceback(monkeypatch, capsys) -> None:
    from gspsim import cli

    def broken(args, console):  # stands for a bug anywhere in a command
        raise ZeroDivisionError("float division by zero \x1b[2J")

    monkeypatch.setitem(cli.COMMANDS, "hw", broken)
    assert main(["hw", "list"]) == 3
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err and "\x1b" not in err
    assert lines[0].startswith("error: internal error (ZeroDivisionError") and "please report it" in lines[0]
    assert "--debug" in lines[0]
    assert main(["hw", "list", "--debug"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_output_closed_early_ends_quietly_with_141(tmp_path: Path) -> None:
    """``gspsim inspect big.onnx | head -1``: no traceback, no 'internal error', and not exit 1 (a failed check)."""
    from helpers import chain_model

    path = chain_model(1200, tmp_path / "long.onnx", ("Relu",))  # unfused, a 1,200-row table: more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "gspsim", "inspect", str(path), "--no-fuse"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().startswith(str(path).encode())
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == b"", err


# --- non-finite numbers --------------------------------------------------------------------------------------
def _nan_weight_model(folder: Path) -> Path:
    model = onnx.load(str(MLP))
    t = next(t for t in model.graph.initializer if len(t.dims) == 2)
    w = numpy_helper.to_array(t).copy()
    w[0, 0], w[1, 1] = np.nan, np.inf
    t.CopyFrom(numpy_helper.from_array(w, t.name))
    path = folder / "nan_weights.onnx"
    onnx.save(model, str(path))
    return path


def _strict_json(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise AssertionError(f"bare {constant} in the JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_nan_and_inf_weights_check_and_json(tmp_path: Path, capsys) -> None:
    """NaN/Inf where onnxruntime has them too pass --check (said so); the JSON has null plus 'non_finite'."""
    path = _nan_weight_model(tmp_path)
    out = tmp_path / "r.json"
    assert main(["run", str(path), "--check", "--precision", "fp32,fp16", "--json", str(out)]) == 0
    text, _ = capsys.readouterr()
    assert "the same as onnxruntime's (compared as equal)" not in text  # two precisions: one table, no summary
    docs = _strict_json(out.read_text())
    for doc in docs:
        assert doc["check"]["passed"] and doc["check"]["per_output"]["output"]["non_finite"] == 1
    accuracy = docs[1]["accuracy"]
    assert accuracy["max_abs_err"] is None and docs[1]["non_finite"]["/accuracy/max_abs_err"] == "NaN"
    import jsonschema

    schema = json.loads((ROOT / "docs" / "json-result.schema.json").read_text())
    for doc in docs:
        jsonschema.validate(doc, schema)  # null and non_finite are part of the contract
    assert "non_finite" not in docs[0]
    assert main(["run", str(path), "--check"]) == 0
    summary = " ".join(capsys.readouterr().out.replace("│", " ").split())  # the table may wrap the row
    assert "holds 1 NaN/Inf value(s), the same as onnxruntime's (compared as equal)" in summary
    line = cli_error(capsys, "run", str(path), "--precision", "int8")
    assert str(path) in line and "holds NaN or Inf; int8 quantization needs finite weights" in line


def test_check_fails_on_nan_where_onnxruntime_is_finite() -> None:
    from gspsim.check import compare_outputs, non_finite_note

    ref = {"y": np.array([1.0, np.nan, np.inf, -np.inf], np.float32)}
    same = compare_outputs({"y": ref["y"].copy()}, ref, "fp32")
    assert same.passed and same.max_rel_err == 0 and same.per_output["y"]["non_finite"] == 3
    differs = compare_outputs({"y": np.array([1.0, 2.0, np.inf, np.inf], np.float32)}, ref, "fp32")
    assert not differs.passed and differs.per_output["y"]["non_finite_mismatches"] == 2
    assert "output 'y' has 2 value(s) where one side is NaN/Inf" in non_finite_note(differs)


def test_json_writer_never_emits_nan_or_infinity() -> None:
    from gspsim import json_finite

    doc = {"a": float("nan"), "b": [1.0, float("inf"), np.float32("-inf")], "c/d": {"e~f": np.float64("nan")},
           "ok": 2.5}
    text = json_finite.dumps(doc)
    back = _strict_json(text)
    assert back["a"] is None and back["b"] == [1.0, None, None] and back["ok"] == 2.5
    assert back["non_finite"] == {"/a": "NaN", "/b/1": "Infinity", "/b/2": "-Infinity", "/c~1d/e~0f": "NaN"}
    assert json_finite.dumps({"x": 1.0}) == json.dumps({"x": 1.0})


# --- plot and report inputs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case,expect", [
    ("deep", "nested too deeply"), ("clock0", "'hardware.clock_hz' must be > 0"),
    ("node_index", "'timeline.blocks.node' refers to a node beyond"), ("nan_latency", "'latency_cycles' must be a finite"),
    ("huge_int", "not valid JSON"), ("cores", "'timeline.blocks.core' refers to a core beyond"),
])
def test_plot_validates_the_json_it_reads(tmp_path: Path, capsys, case: str, expect: str) -> None:
    good = tmp_path / "r.json"
    assert main(["run", str(MLP), "--json", str(good), "--quiet"]) == 0
    doc = json.loads(good.read_text())
    bad = tmp_path / f"{case}.json"
    if case == "deep":
        bad.write_text("[" * 100_000 + "]" * 100_000)
    elif case == "huge_int":
        bad.write_text('{"schema_version": ' + "1" * 5000 + "}")
    else:
        if case == "clock0":
            doc["hardware"]["clock_hz"] = 0
        elif case == "node_index":
            doc["timeline"]["blocks"]["node"][0] = 10**6
        elif case == "nan_latency":
            doc["latency_cycles"] = float("nan")
        elif case == "cores":
            doc["timeline"]["blocks"]["core"][0] = doc["hardware"]["cores"]
        bad.write_text(json.dumps(doc))
    line = cli_error(capsys, "plot", str(bad), "--out", str(tmp_path / "figs"))
    assert str(bad) in line and expect in line
    assert not (tmp_path / "figs").exists()


def test_plot_names_are_text_not_mathtext(tmp_path: Path, capsys) -> None:
    good = tmp_path / "r.json"
    assert main(["run", str(MLP), "--json", str(good), "--quiet"]) == 0
    doc = json.loads(good.read_text())
    doc["nodes"][0]["name"] = doc["timeline"]["nodes"][0] = "$\\frac{$ [/x] \x1b[2J"
    doc["nodes"][0]["op"] = doc["timeline"]["ops"][0] = "$^$"
    good.write_text(json.dumps(doc))
    assert main(["plot", str(good), "--out", str(tmp_path / "figs"), "--format", "png", "--only", "nodes,gantt"]) == 0
    _assert_safe(capsys.readouterr().out)
    assert {p.name for p in (tmp_path / "figs").iterdir()} == {"nodes.png", "gantt.png"}


# --- external data -------------------------------------------------------------------------------------------
def test_external_data_location_that_stays_inside_after_normalizing_is_accepted(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "m"
    (folder / "sub").mkdir(parents=True)
    path = _external_model(folder, "sub/../transformer_encoder.onnx.data")
    assert len(gspsim.load_model(path)) > 0
    (tmp_path / "n").mkdir()
    (tmp_path / "n" / "sub").symlink_to(tmp_path)  # sub/.. through the link would be tmp_path's parent
    path = _external_model(tmp_path / "n", "sub/../transformer_encoder.onnx.data")
    assert len(gspsim.load_model(path)) > 0  # read as n/transformer_encoder.onnx.data, never through the link
    line = cli_error(capsys, "run", str(_external_model(tmp_path / "o", "sub/../../secret.bin")))
    assert "points outside the model's folder" in line


# --- sweeps clean up after themselves ------------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def _descendants(pid: int) -> set[int]:
    kids, found, todo = _children(), set(), [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that never comes, as under some container inits, is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="walks /proc to find the sweep's processes")
def test_sigkill_of_a_sweep_leaves_no_process_and_closes_its_output(tmp_path: Path) -> None:
    """kill -9 of a local sweep: its workers, forkserver and resource tracker go, and its stdout reaches EOF.

    (A Dask LocalCluster's workers watch their parent themselves: checked by hand, see docs/sweeps.md.)
    """
    import select

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "gspsim", "sweep", str(MLP), "--cores", ",".join(map(str, range(1, 400))),
           "--jobs", "2", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    helpers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while not list((out / "points").glob("*.json")):  # the workers are up and have finished points
            assert proc.poll() is None and time.monotonic() < deadline, "the sweep did not start"
            time.sleep(0.05)
        helpers = _descendants(proc.pid)
        assert len(helpers) >= 2  # worker processes (and the forkserver, the resource tracker)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        eof_by = time.monotonic() + 15
        while True:  # a script reading the sweep's output reaches its end
            assert time.monotonic() < eof_by, "standard output still open: a helper process holds it"
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready and not os.read(proc.stdout.fileno(), 1 << 16):
                break
        gone_by = time.monotonic() + 15
        while any(_alive(p) for p in helpers):
            assert time.monotonic() < gone_by, f"left running: {[p for p in helpers if _alive(p)]}"
            time.sleep(0.1)
    finally:
        for p in helpers | ({proc.pid} if proc.poll() is None else set()):
            if _alive(p):
                os.kill(p, signal.SIGKILL)
