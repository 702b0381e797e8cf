"""The fusion pass: what it fuses and refuses, bit-identical outputs at every precision, the fused kernel's
row bands, costs, the ONNX round trip, inspect and --no-fuse."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper

import gspsim
from gspsim import api
from gspsim.engine.options import SimOptions
from gspsim.ir.costs import op_cost
from gspsim.ir.evaluate import evaluate
from gspsim.ir.graph import DataflowGraph
from gspsim.ir.to_onnx import graph_to_onnx
from gspsim.kernels import fused_kernel, kernel_table
from gspsim.lowering.tasks import kernel_for, lower_to_tasks
from gspsim.models import bundled_model_path
from gspsim.optable import all_specs, spec_of

from kernels.blocks import check_blocks
from helpers import MODELS, MOBILENET, RESNET, run_cli, save_model, tensor
from random_graphs import random_chain

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
ALL_MODELS = sorted(MODELS.glob("*.onnx")) + [bundled_model_path("small-cnn"), bundled_model_path("edge-mlp")]


def prepared(model: Path | str, precision: str = "fp32", fuse: bool = True) -> DataflowGraph:
    """The graph as it is lowered (int8 calibrated on few samples, to keep the tests quick)."""
    options = SimOptions(precision=precision, fuse=fuse, calibration_samples=4)
    return api.prepare_graph(gspsim.load_model(model), options)


def op_names(graph: DataflowGraph) -> Counter:
    return Counter(part.name for node in graph.ops() for part in node.unfused())


# --------------------------------------------------------------------------- which ops


def test_every_fusable_op_has_a_row_kernel_at_every_precision_it_runs_at() -> None:
    table = kernel_table()
    fusable = [s.op_type for s in all_specs() if s.fusable]
    assert fusable
    for op in fusable:
        kernels = [k for (name, _), k in table.items() if name == op]
        assert kernels, f"{op}: no kernel"
        for k in kernels:
            assert k.run_rows is not None and k.row_axis is not None, f"{op} at {k.precision}: no run_rows"


def test_resnet_fuses_every_relu_and_residual_add() -> None:
    unfused = prepared(RESNET, fuse=False)
    graph = prepared(RESNET)
    kinds = Counter(op.op_type for op in graph.ops())
    assert "Relu" not in kinds and "Add" not in kinds
    chains = Counter("+".join(p.op_type for p in op.unfused()) for op in graph.ops() if op.epilogue)
    assert chains == {"Conv+Relu": 5, "Conv+Add+Relu": 4}
    assert len(graph) == len(unfused) - 13
    assert op_names(graph) == op_names(unfused)
    assert "fused 9 Relu, 4 Add into their producers (9 fused nodes)" in graph.notes


def test_mobilenet_fuses_every_clip_and_residual_add() -> None:
    graph = prepared(MOBILENET)
    kinds = Counter(op.op_type for op in graph.ops())
    assert "Clip" not in kinds and "Add" not in kinds
    assert sum(op.op_type == "Clip" for n in graph.ops() for op in n.epilogue) == 17
    assert sum(op.op_type == "Add" for n in graph.ops() for op in n.epilogue) == 3


def test_int8_residual_adds_and_the_float_tail_fuse() -> None:
    graph = prepared(RESNET, "int8")
    chains = Counter("+".join(p.op_type for p in op.unfused()) for op in graph.ops() if op.epilogue)
    assert chains["QLinearConv+QLinearAdd"] == 4
    # the classifier's int32 sums dequantized, cast to bf16, biased and cast back: Q/DQ and Cast stream now
    assert chains["MatMulInteger+DequantizeLinear+Cast+Add+Cast"] == 1
    assert "QLinearAdd" not in Counter(op.op_type for op in graph.ops())


def _model(tmp_path: Path, nodes, outputs, initializers, h: int = 4, name: str = "m.onnx") -> Path:
    inputs = [tensor("x", [1, 2, h, 3])]
    return save_model(nodes, inputs, outputs, initializers, tmp_path / name)


def _conv(out: str = "c", src: str = "x", name: str = "conv") -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((2, 2, 1, 1)).astype(np.float32), f"{name}.w")
    return helper.make_node("Conv", [src, f"{name}.w"], [out], name=name), [w]


def test_refuses_a_producer_output_read_twice(tmp_path: Path) -> None:
    conv, inits = _conv()
    nodes = [conv, helper.make_node("Relu", ["c"], ["r"], name="relu"), helper.make_node("Neg", ["c"], ["n"], name="neg")]
    graph = prepared(_model(tmp_path, nodes, [tensor("r", [1, 2, 4, 3]), tensor("n", [1, 2, 4, 3])], inits))
    assert not any(op.epilogue for op in graph.ops())
    assert "fused no elementwise op into its producer" in graph.notes


def test_refuses_a_graph_output(tmp_path: Path) -> None:
    conv, inits = _conv()
    nodes = [conv, helper.make_node("Relu", ["c"], ["r"], name="relu")]
    graph = prepared(_model(tmp_path, nodes, [tensor("c", [1, 2, 4, 3]), tensor("r", [1, 2, 4, 3])], inits))
    assert not any(op.epilogue for op in graph.ops())


def _branch(axis: int) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """x averaged over ``axis`` (kept as size 1), then a 1x1 Conv: ``cp``."""
    mean = helper.make_node("ReduceMean", ["x", "axes"], ["p"], name="mean", keepdims=1)
    conv_p, w = _conv("cp", "p", "conv_p")
    return [mean, conv_p], [numpy_helper.from_array(np.array([axis], dtype=np.int64), "axes"), *w]


def test_refuses_broadcast_along_the_row_axis(tmp_path: Path) -> None:
    """An op that broadcasts its producer's output along H, or reads a skip input broadcast along H, stays a
    node; a skip input broadcast along W (same rows) fuses."""
    shape = [1, 2, 4, 3]
    rows, inits = _branch(2)  # cp: [1, 2, 1, 3]
    full = numpy_helper.from_array(np.ones(shape, np.float32), "full")
    taller = rows + [helper.make_node("Add", ["cp", "full"], ["a"], name="add")]
    graph = prepared(_model(tmp_path, taller, [tensor("a", shape)], inits + [full], name="taller.onnx"))
    assert not any(op.epilogue for op in graph.ops())  # Add's output has more rows than conv_p's
    conv, w = _conv()
    skip = [conv, *rows, helper.make_node("Add", ["c", "cp"], ["a"], name="add")]
    graph = prepared(_model(tmp_path, skip, [tensor("a", shape)], inits + w, name="skip.onnx"))
    assert not any(op.epilogue for op in graph.ops())  # every band would read all of cp's single row
    cols, inits = _branch(3)  # cp: [1, 2, 4, 1], broadcast along W only
    ok = [conv, *cols, helper.make_node("Add", ["c", "cp"], ["a"], name="add")]
    graph = prepared(_model(tmp_path, ok, [tensor("a", shape)], inits + w, name="cols.onnx"))
    fused = {op.name: [e.name for e in op.epilogue] for op in graph.ops() if op.epilogue}
    assert fused == {"conv": ["add"]}


def test_silu_and_hardswish_patterns_fuse_as_two_epilogue_ops(tmp_path: Path) -> None:
    conv, inits = _conv()
    nodes = [conv, helper.make_node("Sigmoid", ["c"], ["s"], name="sig"), helper.make_node("Mul", ["c", "s"], ["y"], name="mul"),
             helper.make_node("HardSigmoid", ["y"], ["hs"], name="hsig"),
             helper.make_node("Mul", ["hs", "y"], ["z"], name="mul2")]
    model = _model(tmp_path, nodes, [tensor("z", [1, 2, 4, 3])], inits)
    graph = prepared(model)
    (node,) = graph.ops()
    assert [e.name for e in node.epilogue] == ["sig", "mul", "hsig", "mul2"]
    assert node.internal_tensors == ("c", "s", "y", "hs") and node.outputs == ("z",)
    assert node.main_input_count == 2 and node.inputs == ("x", "conv.w")  # no external input: all made inside


def test_fused_node_representation_maps_each_input(tmp_path: Path) -> None:
    """main inputs first, then the epilogue's external inputs in epilogue order; each maps to its reader."""
    graph = prepared(RESNET)
    node = next(op for op in graph.ops() if [e.op_type for e in op.epilogue] == ["Add", "Relu"])
    assert node.main_input_count == 3 and len(node.inputs) == 4
    add = node.epilogue[0]
    reader, index = node.input_reader(3)
    assert reader is add and add.inputs[index] == node.inputs[3]
    main, index = node.input_reader(0)
    assert (main.name, main.op_type, main.epilogue, index) == (node.name, "Conv", (), 0)
    assert node.activation_inputs == (node.inputs[0], node.inputs[3])
    assert node.main_op.outputs == node.internal_tensors[:1] and not node.main_op.epilogue


# --------------------------------------------------------------------------- outputs and kernels


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda p: p.stem)
def test_outputs_bit_identical_with_and_without_fusion(model: Path, precision: str) -> None:
    options = dict(precision=precision, accuracy_samples=0, calibration_samples=4)
    fused = gspsim.simulate(model, fuse=True, **options)
    unfused = gspsim.simulate(model, fuse=False, **options)
    assert fused.outputs.keys() == unfused.outputs.keys()
    for name in unfused.outputs:
        assert np.array_equal(fused.outputs[name], unfused.outputs[name], equal_nan=True), name
    assert fused.fuse and not unfused.fuse
    assert fused.model["nodes"] <= unfused.model["nodes"]


@settings(max_examples=30)
@given(model=random_chain(), precision=st.sampled_from(["fp32", "fp16", "bf16"]), tile=st.sampled_from([None, "rows=1", "rows=2"]))
def test_random_chains_fused_equal_unfused(model: onnx.ModelProto, precision: str, tile) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chain.onnx"
        onnx.save(model, str(path))
        graph = gspsim.load_model(path)
        options = dict(precision=precision, accuracy_samples=0, tile=tile)
        fused = gspsim.simulate(graph, fuse=True, **options)
        unfused = gspsim.simulate(graph, fuse=False, **options)
        plain = prepared(path, precision, fuse=False)
        lowered = prepared(path, precision)
    for name in unfused.outputs:
        np.testing.assert_array_equal(fused.outputs[name], unfused.outputs[name])
    assert op_names(lowered) == op_names(plain)
    readers = Counter(t for op in lowered.ops() for t in set(op.activation_inputs))
    for node in lowered.ops():
        assert all(spec_of(e.op_type).fusable for e in node.epilogue)
        for t in node.internal_tensors:  # nothing made inside a fused node is read outside it or is an output
            assert readers[t] == 0 and t not in lowered.outputs
    # an elementwise op reading, alone, a value nobody else reads always joins its producer
    producer = {t: op for op in plain.ops() for t in op.outputs}
    plain_readers = Counter(t for op in plain.ops() for t in set(op.activation_inputs))
    fused_away = {e.name for n in lowered.ops() for e in n.epilogue}
    for op in plain.ops():
        src = producer.get(op.inputs[0])
        if (op.op_type in ("Relu", "Tanh", "Erf", "LeakyRelu") and src is not None and src.op_type in ("Conv", "MatMul")
                and plain_readers[op.inputs[0]] == 1 and op.inputs[0] not in plain.outputs
                and src.name not in fused_away):
            assert op.name in fused_away, op.name


def test_fused_kernel_row_bands_equal_the_whole_run() -> None:
    """The composite's prepared bands (scratch, the Conv's packed weights) rebuild its whole-tensor run."""
    graph = prepared(RESNET)
    rng = np.random.default_rng(1)
    values = evaluate(prepared(RESNET, fuse=False), {"input": rng.standard_normal((1, 3, 64, 64)).astype(np.float32)})
    for node in (op for op in graph.ops() if op.epilogue):
        kernel = kernel_for(node)
        assert kernel.prepare is not None and kernel.row_axis == 2
        inputs = [node.weights[t] if t in node.weights else values[t] for t in node.inputs]
        check_blocks(kernel, inputs, dict(node.attrs), [1, 3, 5])
        np.testing.assert_array_equal(kernel.run(inputs, dict(node.attrs))[0], values[node.outputs[0]])


def test_fused_kernel_refuses_an_unfused_node() -> None:
    with pytest.raises(ValueError, match="not fused"):
        fused_kernel(next(prepared(RESNET, fuse=False).ops()))


def test_fused_costs_are_the_sum_of_the_unfused_ones() -> None:
    graph = prepared(RESNET)
    tensors = graph.tensors
    for node in (op for op in graph.ops() if op.epilogue):
        cost = op_cost(node, tensors)
        parts = [op_cost(p, tensors) for p in node.unfused()]
        assert cost.macs == parts[0].macs > 0
        assert cost.vector_ops == sum(p.vector_ops for p in parts)
        assert cost.write_bytes == tensors[node.outputs[0]].nbytes
        assert cost.activation_read_bytes == sum(tensors[t].nbytes for t in set(node.activation_inputs))
        assert cost.weight_bytes == sum(p.weight_bytes for p in parts)


def test_fusion_removes_blocks() -> None:
    hw = gspsim.load_hardware("blaize-1600")
    fused, unfused = (lower_to_tasks(prepared(MOBILENET, fuse=f), hw) for f in (True, False))
    assert len(fused.nodes) == len(unfused.nodes) - 20
    assert len(fused.blocks) < len(unfused.blocks)


# --------------------------------------------------------------------------- ONNX, CLI


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnx_round_trip_writes_the_original_nodes(precision: str, tmp_path: Path) -> None:
    graph = prepared(RESNET, precision)
    unfused = prepared(RESNET, precision, fuse=False)
    model = graph_to_onnx(graph)
    def nodes(m: onnx.ModelProto) -> set:
        return {(n.name, n.op_type, tuple(n.input), tuple(n.output), str(n.attribute)) for n in m.graph.node}

    assert len(model.graph.node) == len(unfused_nodes := nodes(graph_to_onnx(unfused))) == sum(op_names(unfused).values())
    assert nodes(model) == unfused_nodes
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).standard_normal((1, 3, 64, 64)).astype(np.float32)
    want = evaluate(graph, {"input": x})["output"]
    got = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 if precision == "fp32" else 0.05)


def test_inspect_lists_fusion_and_no_fuse_turns_it_off(tmp_path: Path) -> None:
    on = run_cli("inspect", str(RESNET))
    assert on.returncode == 0, on.stderr
    assert "fused 9 Relu, 4 Add into their producers" in on.stdout and "Conv+Add+Relu" in on.stdout
    off = run_cli("inspect", str(RESNET), "--no-fuse")
    assert off.returncode == 0 and "fused 9" not in off.stdout and "Conv+Relu" not in off.stdout
    int8 = run_cli("inspect", str(RESNET), "--precision", "int8")
    assert int8.returncode == 0 and "QLinearConv+QLinearAdd" in int8.stdout and "fused 4 QLinearAdd" in int8.stdout
    bad = run_cli("inspect", str(RESNET), "--precision", "fp8")
    assert bad.returncode == 2 and "fp8" in bad.stderr


def test_run_no_fuse_is_recorded_in_the_json_result(tmp_path: Path) -> None:
    docs = {}
    for flag in ("", "--no-fuse"):
        out = tmp_path / f"r{flag}.json"
        proc = run_cli("run", str(RESNET), "--timing-only", "--json", str(out), "-q", *([flag] if flag else []))
        assert proc.returncode == 0, proc.stderr
        docs[flag] = json.loads(out.read_text())
    assert docs[""]["fuse"] is True and docs["--no-fuse"]["fuse"] is False
    assert docs[""]["model"]["nodes"] == 16 and docs["--no-fuse"]["model"]["nodes"] == 29
    assert any(n.startswith("fused 9 Relu") for n in docs[""]["model"]["notes"])
    assert docs[""]["blocks"] < docs["--no-fuse"]["blocks"]


def test_a_long_elementwise_chain_fuses_in_epilogues_of_bounded_length(tmp_path: Path) -> None:
    """100 Relus in a row: heads of at most MAX_EPILOGUE_OPS fused ops each (a chain of 1,200 once overflowed
    Python's recursion), and the same outputs as onnxruntime."""
    from gspsim.passes.fuse import MAX_EPILOGUE_OPS
    from helpers import chain_model

    path = chain_model(100, tmp_path / "relus.onnx", ("Relu",))
    graph = api.prepare_graph(gspsim.load_model(path), SimOptions())
    sizes = [len(op.epilogue) for op in graph.ops()]
    assert max(sizes) == MAX_EPILOGUE_OPS and sum(s + 1 for s in sizes) == 100
    assert len(sizes) == -(-100 // (MAX_EPILOGUE_OPS + 1))
    x = np.random.default_rng(0).standard_normal((1, 8)).astype(np.float32)
    result = gspsim.simulate(path, "blaize-1600", inputs={"x": x}, accuracy_samples=0)
    expected = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    np.testing.assert_array_equal(result.outputs["t99"], expected)
