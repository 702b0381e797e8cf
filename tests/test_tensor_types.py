"""Tensors of every kind end to end: scalars and empty tensors, integers, int8 codes and float64 models.

Each model runs through the CLI or ``gspsim.simulate`` with ``--check`` against
onnxruntime, so the outputs' types and values are onnxruntime's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import gspsim
from gspsim.cli import main


def _model(path: Path, nodes: list, inputs: list, outputs: list, opset: int = 22) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


def test_a_scalar_input_is_fed_from_the_command_line(tmp_path: Path) -> None:
    path = _model(tmp_path / "scale.onnx", [helper.make_node("Mul", ["x", "s"], ["y"])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                   helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, x=np.arange(6, dtype=np.float32).reshape(2, 3), s=np.float32(2.5))
    outputs = tmp_path / "outputs.npz"
    assert main(["run", str(path), "--inputs", str(inputs), "--outputs", str(outputs), "--check", "--quiet"]) == 0
    np.testing.assert_array_equal(np.load(outputs)["y"], np.arange(6, dtype=np.float32).reshape(2, 3) * 2.5)


@pytest.mark.parametrize("dtype", [TensorProto.INT32, TensorProto.INT64, TensorProto.UINT8, TensorProto.INT8])
def test_integer_arithmetic_keeps_the_integer_type(tmp_path: Path, dtype: int) -> None:
    """Div truncates toward zero, Max / Min / Pow / Sub stay integers, int8 wraps: onnxruntime's results."""
    np_type = helper.tensor_dtype_to_np_dtype(dtype)
    ops = ["Div", "Max", "Min", "Add", "Sub", "Mul"] + (["Pow"] if dtype in (TensorProto.INT32, TensorProto.INT64)
                                                      else [])
    nodes = [helper.make_node(op, ["a", "b"], [f"y_{op}"]) for op in ops]
    path = _model(tmp_path / "ints.onnx", nodes,
                  [helper.make_tensor_value_info(n, dtype, [3, 4]) for n in ("a", "b")],
                  [helper.make_tensor_value_info(f"y_{op}", dtype, [3, 4]) for op in ops])
    rng = np.random.default_rng(0)
    low = 0 if np.dtype(np_type).kind == "u" else -20
    a = rng.integers(low, 60, (3, 4)).astype(np_type)
    b = rng.integers(1, 4, (3, 4)).astype(np_type)
    if low < 0:
        b = (b * np.where(rng.random((3, 4)) < 0.5, -1, 1)).astype(np_type)
    result = gspsim.simulate(path, inputs={"a": a, "b": b}, check=True, accuracy_samples=0)
    assert result.check.passed
    for op in ops:
        assert result.outputs[f"y_{op}"].dtype == np_type


def test_a_float64_model_computes_in_float64(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.DOUBLE, [4, 3], rng.standard_normal(12))
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Sigmoid", ["m"], ["s"]),
             helper.make_node("Max", ["s", "m"], ["y"])]
    graph = helper.make_graph(nodes, "f64", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [2, 3])], [w])
    path = tmp_path / "f64.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)]), path)
    graph_ir = gspsim.load_model(path)
    from gspsim.passes.precision import assign_precision

    ran = assign_precision(graph_ir, "fp32")
    assert not [op for op in ran.ops() if op.op_type == "Cast"]  # no float16 or float32 round trip
    assert all(ran.tensors[t].dtype == "float64" for t in ("m", "s", "y"))
    x = rng.standard_normal((2, 4))
    result = gspsim.simulate(path, inputs={"x": x}, check=True, accuracy_samples=0)
    assert result.check.passed and result.outputs["y"].dtype == np.float64
    assert result.check.max_abs_err < 1e-12
