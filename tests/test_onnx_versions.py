"""What current onnx writes: every IR version and opset the installed onnx defines, newer ones refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from gspsim import load_model, simulate
from gspsim.cli import main
from gspsim.frontend.loader import CANONICAL_OPSET


def _default_model(path: Path) -> Path:
    """Conv -> Relu -> Softmax built with onnx.helper's defaults: the installed onnx's IR version and opset."""
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], rng.standard_normal(108).astype(np.float32))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Softmax", ["r"], ["y"], axis=1)]
    graph = helper.make_graph(nodes, "defaults", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [w])
    model = helper.make_model(graph)
    onnx.save(model, path)
    return path


def test_a_model_with_onnx_helper_defaults_runs_with_check(tmp_path: Path) -> None:
    path = _default_model(tmp_path / "defaults.onnx")
    model = onnx.load(path)
    assert model.ir_version == onnx.IR_VERSION and model.opset_import[0].version == onnx.defs.onnx_opset_version()
    assert main(["run", str(path), "--check", "--quiet"]) == 0


def test_a_newer_opset_is_not_converted_down(tmp_path: Path) -> None:
    graph = load_model(_default_model(tmp_path / "defaults.onnx"))
    assert onnx.defs.onnx_opset_version() > CANONICAL_OPSET
    assert not any("converted opset" in note for note in graph.notes)
    result = simulate(graph, check=True)
    assert result.check is not None and result.check.passed


def test_an_ir_version_newer_than_the_installed_onnx_names_both(tmp_path: Path, capsys) -> None:
    path = _default_model(tmp_path / "newer.onnx")
    model = onnx.load(path)
    model.ir_version = onnx.IR_VERSION + 1
    onnx.save(model, path)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"IR version {onnx.IR_VERSION + 1}" in err[0] and f"({onnx.IR_VERSION}" in err[0]
