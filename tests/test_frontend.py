"""The ONNX frontend and IR passes on real PyTorch exports."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from gspsim import load_model
from gspsim.errors import ModelError
from gspsim.ir.costs import op_cost

from helpers import MLP_LEGACY, MOBILENET_LEGACY, RESNET, RESNET_LEGACY, ROOT, TRANSFORMER, save_model, tensor


def _op_types(graph) -> list[str]:
    return [op.op_type for op in graph.ops()]


def test_legacy_export_is_converted_and_batchnorm_folded() -> None:
    source = onnx.load(str(RESNET_LEGACY))
    n_bn = sum(n.op_type == "BatchNormalization" for n in source.graph.node)
    assert n_bn > 0 and source.opset_import[0].version < 20
    graph = load_model(RESNET_LEGACY)
    assert "BatchNormalization" not in _op_types(graph)
    assert any("converted opset" in n for n in graph.notes)
    assert any(f"folded {n_bn} BatchNormalization" in n for n in graph.notes)


def test_constants_are_folded_out_of_legacy_mobilenet() -> None:
    source = onnx.load(str(MOBILENET_LEGACY))
    assert any(n.op_type == "Constant" for n in source.graph.node)
    graph = load_model(MOBILENET_LEGACY)
    assert "Constant" not in _op_types(graph)
    assert any("constant node" in n and "Constant" in n for n in graph.notes)


def test_identity_and_dropout_are_dropped() -> None:
    source_ops = [n.op_type for n in onnx.load(str(MLP_LEGACY)).graph.node]
    assert "Dropout" in source_ops and "Identity" in source_ops
    graph = load_model(MLP_LEGACY)
    assert not {"Dropout", "Identity"} & set(_op_types(graph))
    assert len(graph) == len(source_ops) - 2


def test_external_data_sidecar_is_loaded() -> None:
    assert TRANSFORMER.with_name(TRANSFORMER.name + ".data").is_file()
    graph = load_model(TRANSFORMER)
    weights = [w for op in graph.ops() for w in op.weights.values() if w.dtype == np.float32]
    assert weights and all(np.isfinite(w).all() for w in weights)
    assert sum(int(np.count_nonzero(w)) for w in weights) > 0.9 * sum(w.size for w in weights)


def test_ir_edges_carry_tensors_and_nodes_know_their_costs() -> None:
    graph = load_model(RESNET)
    for u, v, data in graph.graph.edges(data=True):
        for t in data["tensors"]:
            assert t.name in graph.op(u).outputs and t.name in graph.op(v).inputs
            assert t.nbytes == int(np.prod(t.shape)) * np.dtype(t.dtype).itemsize
    for op in graph.ops():
        cost = op_cost(op, graph.tensors)
        if op.op_type == "Conv":
            w = op.weights[op.inputs[1]]
            out = graph.tensors[op.outputs[0]]
            assert cost.macs == int(np.prod(out.shape)) * int(np.prod(w.shape[1:]))
        assert cost.write_bytes == sum(graph.tensors[o].nbytes for o in op.outputs if o)


def test_dynamic_input_needs_a_shape(tmp_path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    path = save_model(nodes, [tensor("x", ["batch", 4])], [tensor("y", ["batch", 4])], [], tmp_path / "dyn.onnx")
    with pytest.raises(ModelError, match=r"dynamic dimension 'batch'.*--input-shape x="):
        load_model(path)
    graph = load_model(path, {"x": (2, 4)})
    assert graph.tensors["y"].shape == (2, 4)


def test_a_constant_that_is_a_graph_output_runs(tmp_path) -> None:
    """Folding keeps a Constant that writes a graph output; its kernel writes the value (checked with onnxruntime)."""
    import gspsim

    value = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    path = save_model([helper.make_node("Constant", [], ["c"], value=onnx.numpy_helper.from_array(value, "v")),
                       helper.make_node("Relu", ["x"], ["y"])],
                      [tensor("x", [2, 3])], [tensor("c", [2, 3]), tensor("y", [2, 3])], [], tmp_path / "const.onnx")
    result = gspsim.simulate(path, check=True, accuracy_samples=0)
    assert result.check.passed
    np.testing.assert_array_equal(result.outputs["c"], value)


def test_a_deform_conv_runs_and_is_costed_as_a_convolution(tmp_path) -> None:
    """DeformConv end to end against onnxruntime; its MACs are output elements x (C/group) x kernel area."""
    import gspsim

    rng = np.random.default_rng(0)
    w = onnx.numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("DeformConv", ["x", "w", "offset"], ["y"], group=2, pads=[1, 1, 1, 1])
    path = save_model([node], [tensor("x", [1, 2, 5, 5]), tensor("offset", [1, 18, 5, 5])], [tensor("y", [1, 4, 5, 5])],
                      [w], tmp_path / "deform.onnx", opset=22)
    inputs = {"x": rng.standard_normal((1, 2, 5, 5)).astype(np.float32),
              "offset": rng.standard_normal((1, 18, 5, 5)).astype(np.float32)}
    result = gspsim.simulate(path, inputs=inputs, check=True, accuracy_samples=0)
    assert result.check.passed
    graph = load_model(path)
    op = next(graph.ops())
    assert op_cost(op, graph.tensors).macs == 4 * 5 * 5 * 1 * 3 * 3


@pytest.mark.parametrize("path", sorted((ROOT / "tests" / "models").glob("*.onnx")) +
                         sorted((ROOT / "gspsim" / "models").glob("*.onnx")), ids=lambda p: p.stem)
def test_shape_inference_without_the_weights_finds_what_onnx_finds_with_them(path) -> None:
    """The frontend shows checker and shape inference the model without its large float constants (a 240 MB
    model was serialized twice for them); what they find is exactly onnx's inference on the whole model."""
    from gspsim.frontend.loader import infer_shapes, read_model, weightless

    model = read_model(path)
    light = weightless(model)
    assert light is not model and len(light.graph.initializer) < len(model.graph.initializer)
    expected = onnx.shape_inference.infer_shapes(read_model(path), check_type=True, strict_mode=True,
                                                 data_prop=True)
    assert infer_shapes(model, str(path)).SerializeToString() == expected.SerializeToString()
