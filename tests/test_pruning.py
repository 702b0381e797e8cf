"""Pruning passes and ONNX export: shapes really shrink, sparsity is exact, onnxruntime agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import gspsim
from gspsim.api import load_model
from gspsim.errors import ConfigError, GspsimError
from gspsim.ir.graph import DataflowGraph
from gspsim.ir.to_onnx import graph_to_onnx, save_model
from gspsim.passes.prune import (
    parse_prune_spec,
    parse_prune_specs,
    prune_channels,
    prune_magnitude,
    prune_n_m,
    weight_sparsity,
)

MODELS = Path(__file__).parent / "models"
PRUNED_OPS = ("Conv", "Gemm", "MatMul")


def _prunable(graph: DataflowGraph) -> dict[str, np.ndarray]:
    return {op.inputs[1]: op.weights[op.inputs[1]] for op in graph.ops()
            if op.op_type in PRUNED_OPS and len(op.inputs) > 1 and op.inputs[1] in op.weights}


@pytest.fixture(scope="module", params=["resnet_style", "mobilenetv2_style"])
def model_path(request: pytest.FixtureRequest) -> Path:
    return MODELS / f"{request.param}.onnx"


def test_roundtrip_export_matches_source(model_path: Path, tmp_path: Path) -> None:
    graph = load_model(model_path)
    out = tmp_path / "roundtrip.onnx"
    save_model(graph, out)
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    got = ort.InferenceSession(str(out)).run(None, {"input": x})[0]
    want = ort.InferenceSession(str(model_path)).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_save_model_refuses_to_overwrite_source(model_path: Path) -> None:
    before = model_path.read_bytes()
    with pytest.raises(GspsimError):
        save_model(load_model(model_path), model_path)
    assert model_path.read_bytes() == before


def test_channel_pruning_shrinks_and_matches_onnxruntime(model_path: Path, tmp_path: Path) -> None:
    graph = load_model(model_path)
    pruned = prune_channels(graph, 0.25)
    assert pruned.num_params < graph.num_params
    shrunk = [op for op in pruned.ops() if op.op_type == "Conv"
              and op.weights[op.inputs[1]].shape != graph.op(op.name).weights[graph.op(op.name).inputs[1]].shape]
    assert shrunk
    if model_path.stem == "mobilenetv2_style":  # depthwise convs shrink with their group
        dws = [op for op in shrunk if op.attrs["group"] > 1]
        assert dws and all(op.attrs["group"] == op.weights[op.inputs[1]].shape[0] for op in dws)
        assert all(op.attrs["group"] < graph.op(op.name).attrs["group"] for op in dws)
    # every TensorInfo agrees with ONNX's own shape inference of the written model
    model = onnx.shape_inference.infer_shapes(graph_to_onnx(pruned), strict_mode=True)
    for vi in model.graph.value_info:
        dims = tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
        assert dims == pruned.tensors[vi.name].shape, vi.name
    out = tmp_path / "pruned.onnx"
    save_model(pruned, out)
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    (y,) = ort.InferenceSession(str(out)).run(None, {"input": x})
    assert y.shape == (1, 10)
    result = gspsim.simulate(str(out), check=True)
    assert result.check is not None and result.check.passed, result.check


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.7])
def test_magnitude_sparsity_is_exact(model_path: Path, scope: str, sparsity: float) -> None:
    graph = load_model(model_path)
    pruned = prune_magnitude(graph, sparsity, scope, seed=3)
    before, after = _prunable(graph), _prunable(pruned)
    total = sum(w.size for w in after.values())
    zeros = sum(int(np.count_nonzero(w == 0)) for w in after.values())
    if scope == "global":
        assert zeros == round(sparsity * total)
    else:
        assert zeros == sum(round(sparsity * w.size) for w in after.values())
    assert weight_sparsity(pruned) == pytest.approx(zeros / total)
    if scope == "layer":
        for name, w in after.items():
            assert np.count_nonzero(w == 0) == round(sparsity * w.size), name
    # the survivors are untouched and are the largest magnitudes
    kept = np.concatenate([before[n][after[n] != 0] for n in after])
    cut = np.concatenate([before[n][after[n] == 0] for n in after])
    np.testing.assert_array_equal(np.concatenate([after[n][after[n] != 0] for n in after]), kept)
    if scope == "global":
        assert np.abs(cut).max() <= np.abs(kept).min()


def test_n_m_pattern_is_exact(model_path: Path) -> None:
    graph = load_model(model_path)
    pruned = prune_n_m(graph, 2, 4)
    checked = 0
    for op in pruned.ops():
        if op.op_type not in PRUNED_OPS or op.inputs[1] not in op.weights:
            continue
        w = op.weights[op.inputs[1]]
        axis = 1 if op.op_type == "Conv" or op.attrs.get("transB", 0) else 0
        if w.shape[axis] % 4 or (op.op_type == "Conv" and w.shape[1] == 1):
            continue
        groups = np.moveaxis(w, axis, -1).reshape(-1, 4)
        orig = np.moveaxis(graph.op(op.name).weights[op.inputs[1]], axis, -1).reshape(-1, 4)
        assert np.all(np.count_nonzero(orig, axis=1) == 4)  # trained-style weights: no zeros to begin with
        assert np.all(np.count_nonzero(groups, axis=1) == 2)  # exactly 2 of every 4 kept: 50% sparsity
        kept = groups != 0
        np.testing.assert_array_equal(groups[kept], orig[kept])
        smallest_kept = np.where(kept, np.abs(orig), np.inf).min(axis=1)
        largest_cut = np.where(kept, -np.inf, np.abs(orig)).max(axis=1)
        assert np.all(largest_cut <= smallest_kept)
        checked += 1
    assert checked


def test_pruning_is_reproducible(model_path: Path) -> None:
    graph = load_model(model_path)
    for spec in ("magnitude:0.5", "magnitude:0.4:layer", "nm:2:4", "channels:0.25"):
        a, b = (parse_prune_spec(spec).apply(graph, seed=7) for _ in range(2))
        wa, wb = _prunable(a), _prunable(b)
        assert wa.keys() == wb.keys()
        for name in wa:
            np.testing.assert_array_equal(wa[name], wb[name])


def test_parse_prune_specs() -> None:
    specs = parse_prune_specs("magnitude:0.3,0.5,0.7")
    assert [s.label for s in specs] == ["magnitude:0.3", "magnitude:0.5", "magnitude:0.7"]
    assert parse_prune_spec("nm:2:4").label == "nm:2:4"
    assert parse_prune_spec("channels:0.25").amount == 0.25
    assert parse_prune_spec("magnitude:0.5:layer").scope == "layer"
    for bad in ("magnitude:1.5", "nm:5:4", "channels:1", "foo:1", "magnitude:x", "channels"):
        with pytest.raises(ConfigError):
            parse_prune_spec(bad)


# -- sparsity in the hardware model ------------------------------------------------------
def _variant(base: str, sparsity: dict | None):
    from gspsim.hardware.config import hardware_from_dict, load_hardware

    data = load_hardware(base).to_dict()
    data.pop("sparsity", None)
    if sparsity is not None:
        data["sparsity"] = sparsity
    return hardware_from_dict(data, f"test variant of {base}")


def test_dense_hardware_configs_are_unchanged() -> None:
    from gspsim.hardware.config import load_hardware

    hw = load_hardware("blaize-1600")
    assert hw.sparsity.is_dense and "sparsity" not in hw.to_dict()
    sparse = load_hardware("blaize-1600-sparse")
    assert not sparse.sparsity.is_dense and sparse.sparsity.compressed_weights
    assert sparse.to_dict()["cores"] == hw.to_dict()["cores"]
    for bad in ({"index_bits": -1}, {"compressed_weights": 1}, {"zero_skip_efficiency": {"int8": 2.0}}, {"foo": 1}):
        with pytest.raises(ConfigError):
            _variant("blaize-1600", bad)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_zero_skipping_saves_cycles_and_dram_only_on_sparse_hardware(precision: str) -> None:
    graph = load_model(MODELS / "resnet_style.onnx")
    sparse_model = prune_magnitude(graph, 0.5, "layer", seed=0)
    opts = {"precision": precision, "accuracy_samples": 0, "execute": False}

    def run(model: DataflowGraph, hw: object) -> gspsim.SimResult:
        return gspsim.simulate(model, hw=hw, **opts)

    def weight_bytes(r: gspsim.SimResult) -> int:
        return r.dram_bytes_by_kind["read"]["weights"]

    # a chip without zero-skipping: the sparse model costs exactly what the dense one does
    dense_hw = _variant("blaize-1600", None)
    d_dense, d_sparse = run(graph, dense_hw), run(sparse_model, dense_hw)
    assert d_sparse.latency_cycles == d_dense.latency_cycles
    assert sum(d_sparse.core_busy_cycles) == sum(d_dense.core_busy_cycles)
    assert weight_bytes(d_sparse) == weight_bytes(d_dense)
    # the sparse preset: fewer cycles and fewer weight bytes from DRAM
    s_dense, s_sparse = run(graph, "blaize-1600-sparse"), run(sparse_model, "blaize-1600-sparse")
    # a dense float model has nothing to skip (int8 rounding zeroes a few tiny weights)
    assert s_dense.latency_cycles <= d_dense.latency_cycles
    if precision == "fp32":
        assert s_dense.latency_cycles == d_dense.latency_cycles
    assert s_sparse.latency_cycles < s_dense.latency_cycles
    assert sum(s_sparse.core_busy_cycles) < sum(s_dense.core_busy_cycles)
    assert weight_bytes(s_sparse) < weight_bytes(s_dense)
    assert s_sparse.dram_read_bytes < s_dense.dram_read_bytes
    assert s_sparse.energy_j < s_dense.energy_j
    # zero-skipping without compression: MACs drop, weight traffic does not
    skip_only = _variant("blaize-1600", {"zero_skip_efficiency": {"int8": 1.0, "fp16": 1.0, "bf16": 1.0, "fp32": 1.0}})
    k_sparse = run(sparse_model, skip_only)
    assert sum(k_sparse.core_busy_cycles) < sum(d_dense.core_busy_cycles)
    assert weight_bytes(k_sparse) == weight_bytes(d_dense)


# -- API and command line ----------------------------------------------------------------
def test_api_prune_option_checks_against_onnxruntime_on_the_pruned_model() -> None:
    path = str(MODELS / "mobilenetv2_style.onnx")
    result = gspsim.simulate(path, prune="channels:0.25", check=True)
    assert result.check is not None and result.check.passed
    assert result.accuracy is not None and result.accuracy.cosine_similarity < 1.0  # vs the unpruned fp32 model
    assert result.model["params"] < gspsim.simulate(path, execute=False).model["params"]
    with pytest.raises(ConfigError):
        gspsim.simulate(path, prune="channels:2", execute=False)


def test_cli_prune_table_and_save_model(tmp_path: Path) -> None:
    from helpers import run_cli

    model = MODELS / "resnet_style.onnx"
    proc = run_cli("run", str(model), "--prune", "magnitude:0.3,0.5,0.7", "--hw", "blaize-1600-sparse",
                   "--timing-only")
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "magnitude:" in line]
    assert len(rows) == 3 and "30.0%" in rows[0] and "70.0%" in rows[2]
    # nonzero parameters of the pruned float model: fewer at each level, none of quantization's scales
    nonzero = [int(row.split("│")[4].strip().replace(",", "")) for row in rows]
    total = gspsim.load_model(model).num_params
    assert total > nonzero[0] > nonzero[1] > nonzero[2] and nonzero[2] < 0.4 * total
    out = tmp_path / "pruned.onnx"
    proc = run_cli("run", str(model), "--prune", "channels:0.25", "--save-model", str(out), "--check", "-q")
    assert proc.returncode == 0, proc.stderr
    (y,) = ort.InferenceSession(str(out)).run(None, {"input": np.ones((1, 3, 64, 64), np.float32)})
    assert y.shape == (1, 10)
    before = model.read_bytes()
    proc = run_cli("run", str(model), "--prune", "channels:0.25", "--save-model", str(model), "-q")
    assert proc.returncode != 0 and "refusing" in proc.stderr and model.read_bytes() == before
    proc = run_cli("run", str(model), "--prune", "nm:5:4", "-q")
    assert proc.returncode != 0 and "nm:5:4" in proc.stderr
