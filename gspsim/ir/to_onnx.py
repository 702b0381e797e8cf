"""Write an IR graph back out as an ONNX model, so a compressed model can run anywhere.

Pruning changes weights and shapes on the IR; this module turns the result
into an ``onnx.ModelProto`` (opset 20, the exporter's canonical opset) whose
initializers are the ops' weights, and saves it atomically without ever
writing over the model it came from.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..output_files import refuse_overwriting, write_bytes_atomic
from .graph import DataflowGraph, TensorInfo

#: the default-domain opset the written model declares
OPSET = 20
#: the com.microsoft contrib opset, declared only when an op uses that domain
MS_OPSET = 1


def _elem_type(dtype: str) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _value_info(info: TensorInfo) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(info.name, _elem_type(info.dtype), list(info.shape))


def _attr_value(value: Any) -> Any:
    """Attribute values as onnx.helper wants them (tuples as lists, numpy scalars as Python ones)."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def graph_to_onnx(graph: DataflowGraph) -> onnx.ModelProto:
    """The graph as a checked ONNX model: one node per op (a fused node's ops written separately again),
    one initializer per distinct weight."""
    nodes: list[onnx.NodeProto] = []
    initializers: dict[str, onnx.TensorProto] = {}
    domains: set[str] = set()
    produced: set[str] = set()
    for op in (part for node in graph.ops() for part in node.unfused()):  # a fused node as its original ops
        attrs = {k: _attr_value(v) for k, v in op.attrs.items() if not (isinstance(v, (list, tuple)) and not v)}
        nodes.append(helper.make_node(op.op_type, list(op.inputs), list(op.outputs), name=op.name,
                                      domain=op.domain or None, **attrs))
        if op.domain:
            domains.add(op.domain)
        for name, w in op.weights.items():
            if name not in initializers:
                initializers[name] = numpy_helper.from_array(np.asarray(w), name)
        produced.update(t for t in op.outputs if t)
    inputs = [_value_info(graph.tensors[t]) for t in graph.inputs]
    outputs = [_value_info(graph.tensors[t]) for t in graph.outputs]
    hidden = sorted(t for t in produced if t not in graph.outputs and t in graph.tensors)
    value_info = [_value_info(graph.tensors[t]) for t in hidden]
    body = helper.make_graph(nodes, graph.name or "gspsim", inputs, outputs,
                             initializer=list(initializers.values()), value_info=value_info)
    opsets = [helper.make_opsetid("", OPSET)]
    opsets += [helper.make_opsetid(d, MS_OPSET) for d in sorted(domains) if d not in ("", "ai.onnx")]
    model = helper.make_model(body, opset_imports=opsets, producer_name="gspsim")
    model.ir_version = min(model.ir_version, 10)  # onnxruntime 1.x reads IR <= 10
    onnx.checker.check_model(model)
    return model


def save_model(graph: DataflowGraph, path: str | os.PathLike[str]) -> None:
    """Write ``graph`` as ONNX to ``path`` atomically; never over the model it was loaded from."""
    if graph.source_path:
        refuse_overwriting(path, [graph.source_path], "--save-model")
    write_bytes_atomic(path, graph_to_onnx(graph).SerializeToString())
