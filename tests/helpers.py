"""Shared test helpers: paths of the exported models and running the CLI as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
MODELS = Path(__file__).resolve().parent / "models"
RESNET = MODELS / "resnet_style.onnx"
MOBILENET = MODELS / "mobilenetv2_style.onnx"
TRANSFORMER = MODELS / "transformer_encoder.onnx"
RESNET_LEGACY = MODELS / "resnet_style_legacy.onnx"
DECODER_PREFILL = MODELS / "decoder_prefill.onnx"
DECODER_DECODE = MODELS / "decoder_decode.onnx"
MOBILENET_LEGACY = MODELS / "mobilenetv2_style_legacy.onnx"
MLP_LEGACY = MODELS / "edge_mlp_legacy.onnx"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m gspsim ARGS`` in a fresh process, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "gspsim", *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=600
    )


def save_model(nodes, inputs, outputs, initializers, path: Path, opset: int = 20) -> Path:
    """Write a small hand-built ONNX model (for error cases torch cannot export)."""
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def tensor(name: str, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)
