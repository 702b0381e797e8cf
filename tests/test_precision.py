"""Precisions: cost falls fp32 -> fp16 -> int8, fp16 against onnxruntime's fp16 model, bf16, overrides,
the accuracy report, and quantized models exported by onnxruntime run through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import gspsim

from helpers import MODELS, MOBILENET, RESNET, ROOT, TRANSFORMER, run_cli


@pytest.fixture(scope="module", params=[RESNET, MOBILENET], ids=lambda p: p.stem)
def cnn_runs(request) -> dict[str, gspsim.SimResult]:
    graph = gspsim.load_model(request.param)
    return {p: gspsim.simulate(graph, "blaize-1600", precision=p) for p in ("fp32", "fp16", "int8")}


def test_int8_is_cheaper_than_fp16_which_is_cheaper_than_fp32(cnn_runs) -> None:
    fp32, fp16, int8 = cnn_runs["fp32"], cnn_runs["fp16"], cnn_runs["int8"]
    assert int8.latency_cycles < fp16.latency_cycles < fp32.latency_cycles
    assert int8.energy_j < fp16.energy_j < fp32.energy_j
    assert int8.dram_read_bytes < fp16.dram_read_bytes < fp32.dram_read_bytes
    assert {n.precision for n in fp16.nodes if n.op != "Cast"} == {"fp16"}
    assert "int8" in {n.precision for n in int8.nodes}


def test_own_int8_quantization_keeps_accuracy(cnn_runs) -> None:
    report = cnn_runs["int8"].accuracy
    assert report is not None and report.reference == "fp32" and report.samples == 4
    assert report.cosine_similarity >= 0.99
    assert report.top1_agreement is not None and report.top1_agreement >= 0.75


@pytest.mark.parametrize("model", [RESNET, MOBILENET, TRANSFORMER], ids=lambda p: p.stem)
def test_fp16_agrees_with_onnxruntime_fp16_model_and_with_fp32(model: Path, tmp_path: Path) -> None:
    from onnxconverter_common import float16

    fp16_model = float16.convert_float_to_float16(onnx.load(str(model)), keep_io_types=True)
    session = ort.InferenceSession(fp16_model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(3).standard_normal(session.get_inputs()[0].shape).astype(np.float32)
    expected = session.run(None, {"input": x})[0]
    result = gspsim.simulate(model, "blaize-1600", precision="fp16", inputs={"input": x}, check=True)
    got = result.outputs["output"]
    assert got.dtype == np.float32  # the model's interface is kept
    scale = float(np.max(np.abs(expected)))
    assert float(np.max(np.abs(got - expected))) <= 2e-2 * scale
    assert result.check.passed  # against onnxruntime's fp32 run, at the fp16 tolerance
    assert result.accuracy.cosine_similarity >= 0.999


def test_bf16_values_are_bf16_and_cost_like_fp16() -> None:
    graph = gspsim.load_model(MOBILENET)
    bf16 = gspsim.simulate(graph, "blaize-1600", precision="bf16")
    fp16 = gspsim.simulate(graph, "blaize-1600", precision="fp16")
    out = bf16.outputs["output"]
    assert out.dtype == np.float32 and np.all(out.view(np.uint32) & 0xFFFF == 0)
    assert bf16.latency_cycles == fp16.latency_cycles and bf16.dram_read_bytes == fp16.dram_read_bytes
    assert bf16.accuracy.cosine_similarity >= 0.999


def test_precision_map_overrides_nodes_and_op_types(tmp_path: Path) -> None:
    graph = gspsim.load_model(TRANSFORMER)
    first_matmul = next(op.name for op in graph.ops() if op.op_type == "MatMul")
    mapping = tmp_path / "mixed.toml"
    mapping.write_text(f'Softmax = "fp16"\nLayerNormalization = "fp32"\n"{first_matmul}" = "bf16"\n')
    out = tmp_path / "r.json"
    proc = run_cli("run", str(TRANSFORMER), "--precision", "int8", "--precision-map", str(mapping), "--json", str(out),
                   "--quiet")
    assert proc.returncode == 0, proc.stderr
    nodes = {n["name"]: n for n in json.loads(out.read_text())["nodes"]}
    assert {n["precision"] for n in nodes.values() if n["op"] == "Softmax"} == {"fp16"}
    assert {n["precision"] for n in nodes.values() if n["op"] == "LayerNormalization"} == {"fp32"}
    assert nodes[first_matmul]["precision"] == "bf16"
    bad = tmp_path / "bad.toml"
    bad.write_text('NoSuchNode = "fp16"\n')
    proc = run_cli("run", str(TRANSFORMER), "--precision-map", str(bad))
    assert proc.returncode == 2 and "NoSuchNode" in proc.stderr and "Traceback" not in proc.stderr


def test_side_by_side_precisions(tmp_path: Path) -> None:
    out = tmp_path / "all.json"
    proc = run_cli("run", str(RESNET), "--precision", "fp32,fp16,bf16,int8", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    for p in ("fp32", "fp16", "bf16", "int8"):
        assert p in proc.stdout
    assert "cosine vs fp32" in proc.stdout
    docs = json.loads(out.read_text())
    assert [d["precision"] for d in docs] == ["fp32", "fp16", "bf16", "int8"]
    assert "accuracy" not in docs[0] and docs[3]["accuracy"]["cosine_similarity"] >= 0.99


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_onnxruntime_quantized_model_runs_natively_in_int8(fmt: str, tmp_path: Path) -> None:
    """A model as onnxruntime's quantizer makes it (full 8-bit weights) runs in int8 and passes ``--check``.

    ``--check`` asks onnxruntime for exact int8 sums (``gspsim.check.EXACT_INT8_SESSION_OPTION``),
    without which onnxruntime on x86 CPUs without VNNI saturates pairs of uint8 x int8 products
    (this QDQ model's int8 activations become uint8 there) and misses the documented tolerance.
    Where onnxruntime cannot take the option (the QOperator model's int8 QGemm), its int8 x int8
    sums are exact anyway (portable C or VNNI-INT8 on x86; on ARM, the quantizer's symmetric
    weights never reach -128, so int16 pair sums stay within 2 * 128 * 127; see
    ``tests/kernels/exact_int.py``)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.batches = iter([{"input": rng.standard_normal((1, 3, 64, 64)).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)

    qdq = tmp_path / f"resnet_{fmt}.onnx"
    quantize_static(str(RESNET), str(qdq), Reader(), quant_format=getattr(QuantFormat, fmt), per_channel=True)
    out = tmp_path / "r.json"
    proc = run_cli("run", str(qdq), "--precision", "int8", "--check", "--json", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["check"]["passed"] and "accuracy" not in doc  # no fp32 model to compare with
    conv_precisions = {n["precision"] for n in doc["nodes"] if n["op"] in ("QLinearConv", "ConvInteger")}
    assert conv_precisions == {"int8"}


ALL_MODELS = [ROOT / "gspsim" / "models" / "edge_mlp.onnx", ROOT / "gspsim" / "models" / "small_cnn.onnx",
              RESNET, MOBILENET, TRANSFORMER, MODELS / "resnet_style_legacy.onnx",
              MODELS / "mobilenetv2_style_legacy.onnx", MODELS / "edge_mlp_legacy.onnx"]


@pytest.mark.parametrize("precision", ["fp16", "bf16", "int8"])
@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda p: p.stem)
def test_every_shipped_model_runs_at_every_precision(model: Path, precision: str) -> None:
    result = gspsim.simulate(model, "edge-4", precision=precision, accuracy_samples=1, check=True)
    assert result.check.passed, (result.check.max_rel_err, result.check.tolerance)
    assert result.accuracy.cosine_similarity >= 0.98
