"""Broken and hostile inputs: one clear line, exit code 2, nothing lost, nothing reached that should not be.

Each class of bad input (ONNX files, hardware configs, ``--inputs`` files,
output destinations) is driven through the command line: in process through
``gspsim.cli.main`` for most cases (fast; any exception other than a
GspsimError escapes ``main`` and fails the test, just as it would print a
traceback), and in a real process for one case of each class.  The message
must be one line naming the file and the node, tensor or field at fault.
"""

from __future__ import annotations

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
        tracemalloc.start()
        try:
            with pytest.raises(ModelError, match="memory limit"):
                import_onnx(path, max_memory_bytes=limit)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
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
    tracemalloc.start()
    try:
        with pytest.raises(ModelError, match=r"the file is 1 GiB, more than the memory limit"):
            import_onnx(path, max_memory_bytes=256 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
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
    ("channels = 1", "", "[dram]: missing field 'channels'"),
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
    tracemalloc.start()
    try:
        with pytest.raises(GspsimError, match=r"has shape \[1000000, 1000000\], the model expects \[1, 10\]"):
            load_inputs(path, graph)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
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
