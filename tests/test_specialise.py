"""Models specialised to their inputs' values, and control flow (If, Scan, Loop) made static at load time.

Every model is built with onnx.helper and checked against onnxruntime running
the same file on the same inputs (``check=True``), so a wrongly bound value,
a wrong branch or a wrong unrolling shows as a failed check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import gspsim
from gspsim.api import load_model
from gspsim.cli import main
from gspsim.errors import GspsimError, InputError, ModelError

FLOAT, INT64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def _save(path: Path, nodes: list, inputs: list, outputs: list, initializers: list = (), opset: int = 21) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


def _vi(name: str, elem: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _reduce_by_axes_input(path: Path, axis: int = 1) -> Path:
    """ReduceSum(x, axes) with ``axes`` a graph input, then Relu: the reduced shape depends on axes' value
    (the output declares the shape ``axis`` gives; the tensor between the two ops has none)."""
    return _save(path, [helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=0),
                        helper.make_node("Relu", ["s"], ["y"])],
                 [_vi("x", FLOAT, [3, 4, 5]), _vi("axes", INT64, [1])],
                 [_vi("y", FLOAT, [int(d) for d in np.delete((3, 4, 5), axis)])])


def _x() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_an_axes_input_is_bound_to_the_value_given(tmp_path: Path, axis: int) -> None:
    path = _reduce_by_axes_input(tmp_path / "reduce.onnx", axis)
    result = gspsim.simulate(path, inputs={"x": _x(), "axes": np.array([axis], np.int64)}, check=True,
                             accuracy_samples=0)
    assert result.check.passed
    expected = np.delete((3, 4, 5), axis)
    assert result.outputs["y"].shape == tuple(expected)
    assert any("specialised to the input values given: 'axes' = [" in n for n in result.model["notes"])


def test_the_data_input_stays_an_input_and_a_later_different_value_is_refused(tmp_path: Path) -> None:
    path = _reduce_by_axes_input(tmp_path / "reduce.onnx")
    graph = load_model(path, input_values={"x": _x(), "axes": np.array([1], np.int64)})
    assert graph.inputs == ("x",) and set(graph.bound_inputs) == {"axes"}
    again = gspsim.simulate(graph, inputs={"x": _x(), "axes": np.array([1], np.int64)}, accuracy_samples=0)
    assert again.outputs["y"].shape == (3, 5)
    with pytest.raises(InputError, match="'axes' differs from the value \\[1\\] the model was specialised to"):
        gspsim.simulate(graph, inputs={"x": _x(), "axes": np.array([2], np.int64)}, accuracy_samples=0)


def test_a_deciding_value_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="input 'axes' has dtype int32, the model expects int64"):
        load_model(_reduce_by_axes_input(tmp_path / "reduce.onnx"),
                   input_values={"x": _x(), "axes": np.array([1], np.int32)})


def test_without_values_a_value_dependent_shape_is_refused_naming_the_input(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="the value of input 'axes' decides a shape or control flow; give it"):
        gspsim.simulate(_reduce_by_axes_input(tmp_path / "reduce.onnx"), accuracy_samples=0)


def test_a_float_input_is_never_bound(tmp_path: Path) -> None:
    """Range's limits decide its length; float limits are data and stay inputs, so the model is refused."""
    path = _save(tmp_path / "range.onnx", [helper.make_node("Range", ["a", "b", "d"], ["r"]),
                                           helper.make_node("Neg", ["r"], ["y"])],
                 [_vi(n, FLOAT, []) for n in "abd"], [_vi("y", FLOAT, [5])])
    values = {n: np.float32(v) for n, v in zip("abd", (0, 5, 1))}
    with pytest.raises(ModelError, match="no static shape"):
        load_model(path, input_values=values)


def test_the_command_line_binds_values_from_the_inputs_file(tmp_path: Path) -> None:
    path = _reduce_by_axes_input(tmp_path / "reduce.onnx", 2)
    inputs, outputs = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(inputs, x=_x(), axes=np.array([2], np.int64))
    assert main(["run", str(path), "--inputs", str(inputs), "--outputs", str(outputs), "--check", "--quiet"]) == 0
    np.testing.assert_allclose(np.load(outputs)["y"], np.maximum(_x().sum(axis=2), 0), rtol=1e-5, atol=1e-6)


def test_several_frames_run_on_the_bound_value(tmp_path: Path) -> None:
    path = _reduce_by_axes_input(tmp_path / "reduce.onnx", 0)
    result = gspsim.simulate(path, inputs={"x": _x(), "axes": np.array([0], np.int64)}, frames=3, check=True,
                             accuracy_samples=0)
    assert result.check.passed and result.outputs["y"].shape == (4, 5)


def _branch(name: str, op: str) -> onnx.GraphProto:
    node = helper.make_node(op, ["x"], [f"{name}_out"])
    return helper.make_graph([node], name, [], [_vi(f"{name}_out", FLOAT, [2, 3])])


@pytest.mark.parametrize("taken", [True, False])
def test_an_if_on_a_bound_condition_runs_its_branch(tmp_path: Path, taken: bool) -> None:
    node = helper.make_node("If", ["cond"], ["y"], then_branch=_branch("then", "Relu"),
                            else_branch=_branch("else", "Neg"))
    path = _save(tmp_path / "if.onnx", [node], [_vi("x", FLOAT, [2, 3]), _vi("cond", BOOL, [])],
                 [_vi("y", FLOAT, [2, 3])])
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    result = gspsim.simulate(path, inputs={"x": x, "cond": np.array(taken)}, check=True, accuracy_samples=0)
    assert result.check.passed
    np.testing.assert_array_equal(result.outputs["y"], np.maximum(x, 0) if taken else -x)


def test_an_if_on_a_shape_is_inlined_without_input_values(tmp_path: Path) -> None:
    nodes = [helper.make_node("Size", ["x"], ["n"]), helper.make_node("Equal", ["n", "six"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=_branch("then", "Sigmoid"),
                              else_branch=_branch("else", "Neg"))]
    path = _save(tmp_path / "if_shape.onnx", nodes, [_vi("x", FLOAT, [2, 3])], [_vi("y", FLOAT, [2, 3])],
                 [numpy_helper.from_array(np.array(6, np.int64), "six")])
    result = gspsim.simulate(path, check=True, accuracy_samples=0)
    assert result.check.passed
    assert any("inlined or unrolled 1 control-flow node" in n for n in result.model["notes"])


def test_an_if_on_data_is_refused_in_one_line(tmp_path: Path) -> None:
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0), helper.make_node("Less", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=_branch("then", "Relu"),
                              else_branch=_branch("else", "Neg"))]
    path = _save(tmp_path / "if_data.onnx", nodes, [_vi("x", FLOAT, [2, 3])], [_vi("y", FLOAT, [2, 3])],
                 [numpy_helper.from_array(np.array(0, np.float32), "zero")])
    with pytest.raises(ModelError, match=r"node 'If_2' \(If\): control flow is simulated only where it is decided "
                                         r"when the model loads: its condition is not known") as info:
        gspsim.simulate(path, inputs={"x": np.ones((2, 3), np.float32)}, accuracy_samples=0)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("reverse, out_axis", [(0, 1), (1, 1), (0, -1)])
def test_a_scan_is_unrolled_over_its_sequence(tmp_path: Path, reverse: int, out_axis: int) -> None:
    """A running sum over axis 1, scaled by a constant the body reads from the outer graph (folded there)."""
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "x_t"], ["acc_out"]),
         helper.make_node("Mul", ["acc_out", "scale"], ["y_t"])],
        "body", [_vi("acc_in", FLOAT, [2]), _vi("x_t", FLOAT, [2])],
        [_vi("acc_out", FLOAT, [2]), _vi("y_t", FLOAT, [2])])
    nodes = [helper.make_node("Sqrt", ["four"], ["scale"]),
             helper.make_node("Scan", ["init", "x"], ["final", "ys"], body=body, num_scan_inputs=1,
                              scan_input_axes=[1], scan_input_directions=[reverse], scan_output_axes=[out_axis])]
    path = _save(tmp_path / "scan.onnx", nodes, [_vi("init", FLOAT, [2]), _vi("x", FLOAT, [2, 5])],
                 [_vi("final", FLOAT, [2]), _vi("ys", FLOAT, [2, 5])],
                 [numpy_helper.from_array(np.array(4, np.float32), "four")])
    x = np.random.default_rng(2).standard_normal((2, 5)).astype(np.float32)
    result = gspsim.simulate(path, inputs={"init": np.ones(2, np.float32), "x": x}, check=True, accuracy_samples=0)
    assert result.check.passed
    order = x[:, ::-1] if reverse else x
    np.testing.assert_allclose(result.outputs["final"], 1 + x.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(result.outputs["ys"], 2 * (1 + np.cumsum(order, axis=1)), rtol=1e-5)


def _loop_body(cond_passthrough: bool) -> onnx.GraphProto:
    nodes = [helper.make_node("Cast", ["i"], ["i_f"], to=FLOAT), helper.make_node("Add", ["v_in", "i_f"], ["v_out"]),
             helper.make_node("Identity", ["v_out"], ["scan_out"])]
    if cond_passthrough:
        nodes.append(helper.make_node("Identity", ["c_in"], ["c_out"]))
    else:
        nodes += [helper.make_node("ReduceSum", ["v_out"], ["total"], keepdims=0),
                  helper.make_node("Less", ["total", "limit"], ["c_out"])]
    return helper.make_graph(nodes, "body", [_vi("i", INT64, []), _vi("c_in", BOOL, []), _vi("v_in", FLOAT, [3])],
                             [_vi("c_out", BOOL, []), _vi("v_out", FLOAT, [3]), _vi("scan_out", FLOAT, [3])])


def test_a_loop_with_a_bound_trip_count_is_unrolled(tmp_path: Path) -> None:
    node = helper.make_node("Loop", ["n", "", "v0"], ["v", "history"], body=_loop_body(True))
    path = _save(tmp_path / "loop.onnx", [node], [_vi("n", INT64, []), _vi("v0", FLOAT, [3])],
                 [_vi("v", FLOAT, [3]), _vi("history", FLOAT, [4, 3])])
    v0 = np.arange(3, dtype=np.float32)
    result = gspsim.simulate(path, inputs={"n": np.array(4, np.int64), "v0": v0}, check=True, accuracy_samples=0)
    assert result.check.passed
    np.testing.assert_array_equal(result.outputs["v"], v0 + 6)
    np.testing.assert_array_equal(result.outputs["history"], v0 + np.array([0, 1, 3, 6], np.float32)[:, None])


def test_a_loop_that_may_exit_early_is_refused_in_one_line(tmp_path: Path) -> None:
    node = helper.make_node("Loop", ["n", "", "v0"], ["v", "history"], body=_loop_body(False))
    path = _save(tmp_path / "loop.onnx", [node], [_vi("n", INT64, []), _vi("v0", FLOAT, [3])],
                 [_vi("v", FLOAT, [3]), _vi("history", FLOAT, [4, 3])],
                 [numpy_helper.from_array(np.array(10, np.float32), "limit")])
    with pytest.raises(ModelError, match=r"\(Loop\): the body computes its own exit condition"):
        gspsim.simulate(path, inputs={"n": np.array(4, np.int64), "v0": np.zeros(3, np.float32)},
                        accuracy_samples=0)


def test_a_loop_without_its_trip_count_value_is_refused(tmp_path: Path) -> None:
    node = helper.make_node("Loop", ["n", "", "v0"], ["v", "history"], body=_loop_body(True))
    path = _save(tmp_path / "loop.onnx", [node], [_vi("n", INT64, []), _vi("v0", FLOAT, [3])],
                 [_vi("v", FLOAT, [3]), _vi("history", FLOAT, [4, 3])])
    with pytest.raises(GspsimError, match=r"the value of input 'n' decides a shape or control flow"):
        gspsim.simulate(path, accuracy_samples=0)
