"""The loaded-model cache (gspsim/model_cache.py): a hit is the graph a fresh load gives, it skips onnx, and
nothing it serves is stale (a changed data file, input shape or memory limit)."""

from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from gspsim import api
from gspsim.errors import ModelError
from gspsim import model_cache
from gspsim.model_cache import cache_folder, file_sha256

from helpers import RESNET, ROOT


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GSPSIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GSPSIM_MODEL_CACHE", raising=False)
    return tmp_path / "cache"


def _result(model: Path | str, **options: object) -> dict:
    doc = api.simulate(model, accuracy_samples=0, **options).to_dict()
    doc.pop("timeline", None)
    doc["model"].pop("path", None)
    return doc


def _scaled_matmul(path: Path, scale: float, external_data: Optional[str] = None) -> Path:
    """A MatMul by a weight of ``scale``s, written to ``path`` (its weight in the file ``external_data`` if given)."""
    w = numpy_helper.from_array(np.full((8, 4), scale, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    if external_data is None:
        onnx.save_model(model, str(path))
    else:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=external_data, size_threshold=0)
    return path


def _external_model(folder: Path, scale: float) -> Path:
    """A MatMul whose weight lives in an external data file."""
    return _scaled_matmul(folder / "ext.onnx", scale, "ext.data")


def test_a_cache_hit_gives_the_results_of_a_fresh_load(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = _result(RESNET)
    assert len(list(cache_folder().glob("*.pkl"))) == 1
    hit = _result(RESNET)
    monkeypatch.setenv("GSPSIM_MODEL_CACHE", "0")
    off = _result(RESNET)
    assert json.dumps(hit, sort_keys=True, default=str) == json.dumps(off, sort_keys=True, default=str)
    assert json.dumps(fresh, sort_keys=True, default=str) == json.dumps(off, sort_keys=True, default=str)
    assert api.load_model(RESNET).source_path == str(RESNET)


def test_a_hit_does_not_import_onnx(cache_dir: Path) -> None:
    code = ("import sys, gspsim.api as a; g = a.load_model(sys.argv[1]); "
            "print('onnx' in sys.modules, len(list(g.ops())))")
    env = {**os.environ, "GSPSIM_CACHE_DIR": str(cache_dir)}
    runs = [subprocess.run([sys.executable, "-c", code, str(RESNET)], capture_output=True, text=True, env=env,
                           cwd=ROOT, timeout=300) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[1].stderr
    first, second = (r.stdout.split() for r in runs)
    assert first[0] == "True" and second[0] == "False"  # the first run loaded with onnx, the second did not
    assert first[1] == second[1]


def test_a_changed_external_data_file_is_loaded_afresh(cache_dir: Path, tmp_path: Path) -> None:
    path = _external_model(tmp_path, 1.0)
    x = {"x": np.ones((2, 8), dtype=np.float32)}
    assert float(api.simulate(path, inputs=x).outputs["y"][0, 0]) == 8.0
    assert float(api.simulate(path, inputs=x).outputs["y"][0, 0]) == 8.0  # a hit
    data = tmp_path / "ext.data"
    data.write_bytes(np.full((8, 4), 2.0, dtype=np.float32).tobytes())  # same model file, new weights
    assert float(api.simulate(path, inputs=x).outputs["y"][0, 0]) == 16.0


def test_input_shapes_are_part_of_the_key(cache_dir: Path, tmp_path: Path) -> None:
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    path = tmp_path / "relu.onnx"
    onnx.save_model(model, str(path))
    assert api.load_model(path, {"x": [3, 8]}).tensors["y"].shape == (3, 8)
    assert api.load_model(path, {"x": [5, 8]}).tensors["y"].shape == (5, 8)
    assert api.load_model(path, {"x": [3, 8]}).tensors["y"].shape == (3, 8)
    assert len(list(cache_folder().glob("*.pkl"))) == 2


def test_a_hit_refuses_a_lower_memory_limit_as_a_fresh_load_does(cache_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    api.load_model(RESNET)
    with pytest.raises(ModelError) as hit:
        api.load_model(RESNET, max_memory_bytes=4096)
    monkeypatch.setenv("GSPSIM_MODEL_CACHE", "0")
    with pytest.raises(ModelError) as fresh:
        api.load_model(RESNET, max_memory_bytes=4096)
    assert str(hit.value) == str(fresh.value)


def test_a_damaged_entry_is_loaded_afresh_and_rewritten(cache_dir: Path) -> None:
    graph = api.load_model(RESNET)
    (entry,) = cache_folder().glob("*.pkl")
    entry.write_bytes(b"not a pickle")
    again = api.load_model(RESNET)
    assert [op.name for op in again.ops()] == [op.name for op in graph.ops()]
    assert entry.stat().st_size > 100


def test_the_cache_can_be_turned_off(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GSPSIM_MODEL_CACHE", "0")
    api.load_model(RESNET)
    assert not cache_folder().exists()


def test_a_graph_specialised_to_input_values_is_served_only_for_the_same_values(cache_dir: Path,
                                                                                 tmp_path: Path) -> None:
    """ReduceSum over an ``axes`` graph input: the loaded graph depends on the value given (the frontend binds
    it), so the cache serves it for that value only, and refuses, as a fresh load does, without one."""
    graph = helper.make_graph([helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=0),
                               helper.make_node("Relu", ["s"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4, 5]),
                               helper.make_tensor_value_info("axes", TensorProto.INT64, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", "b"])])
    path = tmp_path / "reduce.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), path)
    x = np.zeros((3, 4, 5), np.float32)
    one = api.load_model(path, input_values={"x": x, "axes": np.array([1], np.int64)})
    again = api.load_model(path, input_values={"x": x + 1, "axes": np.array([1], np.int64)})  # a hit
    other = api.load_model(path, input_values={"x": x, "axes": np.array([2], np.int64)})
    shape = lambda g: g.tensors[next(iter(g.ops())).outputs[0]].shape  # noqa: E731
    assert shape(one) == shape(again) == (3, 5) and shape(other) == (3, 4)
    with pytest.raises(ModelError, match="the value of input 'axes' decides a shape"):
        api.load_model(path)


def _weights(graph) -> dict[str, np.ndarray]:
    return {f"{op.name}/{k}": w for op in graph.ops() for k, w in op.weights.items()}


def test_a_hit_maps_the_weights_from_the_entry_instead_of_reading_them(cache_dir: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The tensors a hit serves are aligned views of the mapped entry, equal to a fresh load's and as writable."""
    api.load_model(RESNET)
    hit = _weights(api.load_model(RESNET))
    monkeypatch.setenv("GSPSIM_MODEL_CACHE", "0")
    fresh = _weights(api.load_model(RESNET))
    assert hit.keys() == fresh.keys() and len(hit) > 20
    big = [k for k, w in hit.items() if w.nbytes > 4096]
    assert big
    for k in big:
        w = hit[k]
        base = w
        while not isinstance(base, memoryview) and base.base is not None:
            base = base.base
        assert isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap), k
        assert w.flags.aligned and w.ctypes.data % model_cache.ALIGN == 0, k
    for k in hit:
        assert hit[k].dtype == fresh[k].dtype and np.array_equal(hit[k], fresh[k]), k
        assert hit[k].flags.writeable == fresh[k].flags.writeable, k


def test_an_entry_keeps_each_arrays_writability_and_a_write_never_reaches_the_file(tmp_path: Path) -> None:
    """Copy-on-write: an array a fresh load left writable stays writable (Numba compiles no read-only variant of a
    kernel for a hit), and writing to it changes neither the entry file nor the next read."""
    writable = np.arange(3000, dtype=np.float32).reshape(30, 100)
    frozen = np.arange(700, dtype=np.int8)
    frozen.flags.writeable = False
    odd = np.arange(5, dtype=np.float64)  # a length that leaves the next buffer unaligned without padding
    path = tmp_path / "entry.pkl"
    with open(path, "wb") as f:
        model_cache._dump({"w": writable, "f": frozen, "o": odd, "fortran": np.asfortranarray(writable)}, f)
    before = path.read_bytes()
    got = model_cache._load(path)
    for k, want in (("w", writable), ("f", frozen), ("o", odd), ("fortran", writable)):
        assert np.array_equal(got[k], want) and got[k].dtype == want.dtype, k
        assert got[k].ctypes.data % model_cache.ALIGN == 0, k
    assert got["w"].flags.writeable and not got["f"].flags.writeable and got["fortran"].flags.f_contiguous
    got["w"][...] = -1
    assert path.read_bytes() == before
    assert np.array_equal(model_cache._load(path)["w"], writable)
    path.write_bytes(before[: len(before) // 2])  # truncated: refused, not served short
    with pytest.raises(ValueError):
        model_cache._load(path)


def test_a_file_rewritten_with_its_size_and_modification_time_kept_is_hashed_again(
        cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Digests are remembered by stat; the change time, which no program can set back, tells a rewrite apart."""
    monkeypatch.setattr(model_cache, "RACY_NS", 0)  # remember a file however recently it was written
    path = tmp_path / "mm.onnx"
    _scaled_matmul(path, 1.0)
    x = {"x": np.ones((2, 8), dtype=np.float32)}
    assert float(api.simulate(path, inputs=x).outputs["y"][0, 0]) == 8.0
    assert len(list((cache_folder() / "digests").iterdir())) == 1  # remembered
    st = path.stat()
    time.sleep(0.05)  # past the file system's clock tick
    _scaled_matmul(path, 2.0)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    assert float(api.simulate(path, inputs=x).outputs["y"][0, 0]) == 16.0


def test_a_file_written_just_now_is_not_remembered(cache_dir: Path, tmp_path: Path) -> None:
    """A second write within the same clock tick could leave the stat unchanged (git's "racy" entries)."""
    path = tmp_path / "mm.onnx"
    _scaled_matmul(path, 1.0)
    digest = file_sha256(path)
    assert digest == model_cache._hash_bytes(path)
    assert not (cache_folder() / "digests").exists()
    old = time.time_ns() - 10 * model_cache.RACY_NS
    os.utime(path, ns=(old, old))  # the change time is still now
    assert file_sha256(path) == digest and not (cache_folder() / "digests").exists()
