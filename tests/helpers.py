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


def chain_model(nodes: int, path: Path, ops: tuple[str, ...] = ("Identity",)) -> Path:
    """A chain of ``nodes`` ops on a [1, 8] tensor, cycling through ``ops`` (a long graph that costs nothing to run)."""
    made = []
    prev = "x"
    for i in range(nodes):
        made.append(helper.make_node(ops[i % len(ops)], [prev], [f"t{i}"], name=f"n{i}"))
        prev = f"t{i}"
    return save_model(made, [tensor("x", [1, 8])], [tensor(prev, [1, 8])], [], path)


def chain_phases(path: str) -> dict[str, float]:
    """CPU seconds of loading (frontend and passes), simulating (with kernels) and ``inspect`` of one model."""
    import io
    import time
    from rich.console import Console

    import gspsim
    from gspsim.cli import build_parser, cmd_inspect

    clock = time.process_time
    t0 = clock()
    graph = gspsim.load_model(path)
    t1 = clock()
    result = gspsim.simulate(graph, "blaize-1600")
    t2 = clock()
    out = io.StringIO()
    cmd_inspect(build_parser().parse_args(["inspect", path, "--no-fuse"]), Console(file=out, width=160))
    t3 = clock()
    assert result.active_lower_bound_cycles <= result.latency_cycles and out.getvalue().count("\n") >= len(graph)
    return {"nodes_after_passes": len(graph), "load_s": t1 - t0, "run_s": t2 - t1, "inspect_s": t3 - t2}
