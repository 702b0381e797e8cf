"""From a canonical, static, folded ONNX model to the dataflow IR."""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ModelError, UnsupportedOpsError
from ..ir.graph import DataflowGraph, OpNode, TensorInfo
from ..optable import find_spec
from .attributes import node_attributes
from .memory import check_model_memory
from .op_checks import check_op


def _tensor_info(vi: onnx.ValueInfoProto) -> TensorInfo | None:
    t = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
    if t is None or not t.HasField("shape") or t.elem_type == 0:
        return None
    dims = []
    for d in t.shape.dim:
        if not d.HasField("dim_value"):
            return None
        dims.append(int(d.dim_value))
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)).name
    except Exception:
        return None
    return TensorInfo(vi.name, tuple(dims), dtype)


def unique_node_names(nodes: Iterable[onnx.NodeProto]) -> list[str]:
    """Node names, made unique and non-empty (``<op>_<index>`` where the file has none)."""
    names: list[str] = []
    seen: set[str] = set()
    for i, node in enumerate(nodes):
        base = node.name or f"{node.op_type}_{i}"
        name, k = base, 1
        while name in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name)
        names.append(name)
    return names


def _weights(graph: onnx.GraphProto, path: str) -> dict[str, np.ndarray]:
    weights: dict[str, np.ndarray] = {}
    for t in graph.initializer:
        try:
            weights[t.name] = numpy_helper.to_array(t)
        except Exception as exc:  # data that does not fit its declared shape or type
            raise ModelError(f"{path}: initializer '{t.name}' cannot be read: {' '.join(str(exc).split())[:300]}") from None
    return weights


def _check_dims(info: TensorInfo, path: str, role: str) -> None:
    """Activations must not have negative dimensions (a zero one is an empty tensor, which ONNX allows)."""
    if any(d < 0 for d in info.shape):
        raise ModelError(f"{path}: tensor '{info.name}' ({role}) has shape {list(info.shape)}; "
                         "dimensions must not be negative")


def _domain(node: onnx.NodeProto) -> str:
    return "" if node.domain == "ai.onnx" else node.domain


def check_domains(graph: onnx.GraphProto, path: str) -> None:
    """One error naming every node of another domain than ONNX's that the op table does not hold.

    Lookups go by op type, so a node runs a record's kernels only when its
    domain is the record's: an op of another domain sharing a built-in op's
    name is refused here, never run as the built-in one.
    """
    unknown = []
    for name, node in zip(unique_node_names(graph.node), graph.node):
        spec = find_spec(node.op_type)
        domain = _domain(node)
        if (spec is None and domain) or (spec is not None and spec.domain != domain):
            unknown.append(f"node '{name}' ({node.op_type}, domain '{domain or 'ai.onnx'}')")
    if unknown:
        raise UnsupportedOpsError(f"{path}: {len(unknown)} unsupported op(s): " + ", ".join(unknown))


def _cast_like_as_cast(op: OpNode, tensors: dict[str, TensorInfo]) -> OpNode:
    """CastLike(x, like) is Cast(x, to=like's type), known statically: one op for the passes to know."""
    to = int(helper.np_dtype_to_tensor_dtype(np.dtype(tensors[op.outputs[0]].dtype)))
    attrs = {**{k: v for k, v in op.attrs.items() if k == "saturate"}, "to": to}
    return OpNode(op.name, "Cast", op.inputs[:1], op.outputs, attrs,
                  {k: v for k, v in op.weights.items() if k == op.inputs[0]})


def model_to_ir(
    model: onnx.ModelProto, path: str, notes: Iterable[str] = (), max_memory_bytes: Optional[int] = None
) -> DataflowGraph:
    """Build the IR; every tensor that flows between ops must have a static shape, a type and positive dims.

    The model's weights and activations are first checked against the memory
    limit (``max_memory_bytes``, default the physical memory), before the
    weights are copied out of the protobuf.
    """
    graph = model.graph
    check_domains(graph, path)
    check_model_memory(model, path, max_memory_bytes)
    weights = _weights(graph, path)
    tensors: dict[str, TensorInfo] = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        info = _tensor_info(vi)
        if info is not None:
            tensors[vi.name] = info
    for name, w in weights.items():
        tensors[name] = TensorInfo(name, tuple(int(d) for d in w.shape), w.dtype.name)

    ops: list[OpNode] = []
    for name, node in zip(unique_node_names(graph.node), graph.node):
        for t in [*node.input, *node.output]:
            if t and t not in tensors:
                raise ModelError(
                    f"{path}: tensor '{t}' of node '{name}' ({node.op_type}) has no static shape or type after shape inference"
                )
            if t and t not in weights:
                _check_dims(tensors[t], path, f"of node '{name}' ({node.op_type})")
        ops.append(
            OpNode(
                name=name,
                op_type=node.op_type,
                domain="" if node.domain == "ai.onnx" else node.domain,
                inputs=tuple(node.input),
                outputs=tuple(node.output),
                attrs=node_attributes(node),
                weights={t: weights[t] for t in node.input if t in weights},
            )
        )
        if node.domain in ("", "ai.onnx"):
            check_op(ops[-1], tensors, path)
            if node.op_type == "CastLike":
                ops[-1] = _cast_like_as_cast(ops[-1], tensors)
    inputs = tuple(i.name for i in graph.input if i.name not in weights)
    outputs = tuple(o.name for o in graph.output)
    for o in outputs:
        if o not in tensors:
            raise ModelError(f"{path}: graph output '{o}' has no static shape or type")
        if o not in weights:
            _check_dims(tensors[o], path, "graph output")
    for i in inputs:
        if i not in tensors:
            raise ModelError(f"{path}: graph input '{i}' has no static shape or type")
        _check_dims(tensors[i], path, "graph input")
    return DataflowGraph.from_ops(
        name=graph.name or "model", ops=ops, tensors=tensors, inputs=inputs, outputs=outputs,
        notes=notes, source_path=path,
    )
