"""Constant folding on the ONNX graph: Constant, ConstantOfShape and Shape-derived subgraphs.

Folding happens on the ONNX model, before the IR is built, because it works
hand in hand with ONNX shape inference: a ``Shape`` of a statically shaped
tensor becomes a constant, the arithmetic on it folds, and a second shape
inference then knows every ``Reshape``'s output.  Ops are evaluated with the
same kernels the simulator runs (their integer forms do the shape arithmetic).

A Range of constant scalars folds by the length its values give (onnx's
inference leaves one of one-element 1-D inputs unshaped).  Never folded: ops
the op table marks not ``foldable`` (``DequantizeLinear``:
a quantized model keeps its int8 weights; random ops: each run draws anew),
nodes that write a graph output, and results larger than :data:`MAX_FOLD_BYTES`
(folding them would turn cheap runtime work into weight traffic).  The size is
checked on the inferred output shapes *before* evaluating, so a hostile
``Expand``/``Tile`` of constants cannot make the frontend allocate gigabytes;
a node whose output shape shape inference could not give is left to run time.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ModelError
from ..kernels import UnsupportedKernel, get_kernel
from ..optable import spec_of
from .attributes import node_attributes
from .validate import element_size

MAX_FOLD_BYTES = 1 << 22



def static_shape(vi: onnx.ValueInfoProto) -> Optional[tuple[int, ...]]:
    """A value's shape when every dimension is a number, else None."""
    if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
        return None
    dims = []
    for d in vi.type.tensor_type.shape.dim:
        if not d.HasField("dim_value"):
            return None
        dims.append(int(d.dim_value))
    return tuple(dims)


def _static_bytes(vi: onnx.ValueInfoProto) -> Optional[int]:
    """Bytes of a statically shaped, typed value (Python ints: no overflow), or None."""
    shape = static_shape(vi)
    size = element_size(vi.type.tensor_type.elem_type) if shape is not None else None
    if shape is None or size is None or any(d < 0 for d in shape):
        return None
    n = size
    for d in shape:
        n *= d
    return n


def _constant_value(node: onnx.NodeProto, where: str) -> np.ndarray:
    """A Constant node's value, by the same kernel that runs a Constant writing a graph output."""
    try:
        return np.asarray(get_kernel("Constant", "fp32").run([], node_attributes(node))[0])
    except Exception as exc:  # no numeric value attribute, or a tensor whose data does not fit its shape
        reason = " ".join(str(exc).split())[:200]
        raise ModelError(f"{where}: Constant node '{node.name}': cannot read its value ({reason})") from None


def evaluate_node(
    op_type: str,
    inputs: Sequence[Optional[np.ndarray]],
    attrs: Mapping[str, Any],
    input_shapes: Sequence[Optional[tuple[int, ...]]] = (),
) -> Optional[list[np.ndarray]]:
    """Evaluate one node on constant inputs, or None when it cannot be folded."""
    if op_type == "Shape":
        shape = input_shapes[0] if input_shapes else None
        if shape is None:
            return None
        start = attrs.get("start", 0)
        end = attrs.get("end", None)
        return [np.asarray(shape[start:end], dtype=np.int64)]
    if op_type == "Size":
        shape = input_shapes[0] if input_shapes else None
        return None if shape is None else [np.asarray(int(np.prod(shape)), dtype=np.int64)]
    if any(x is None for x in inputs[:1]):
        return None
    arrays = [x for x in inputs if x is not None]
    if op_type in ("Div", "Mod") and len(arrays) == 2 and arrays[1].dtype.kind in "iub" and not np.all(arrays[1]):
        return None  # integer division by zero: leave it to run time
    try:
        kernel = get_kernel(op_type, "fp32")
    except UnsupportedKernel:
        return None
    return [np.asarray(o) for o in kernel.run(list(inputs), dict(attrs))]


def fold_constants(model: onnx.ModelProto, where: str = "model") -> tuple[onnx.ModelProto, Counter[str]]:
    """One folding sweep; returns the new model and how many nodes of each op type it folded.

    ``where`` (the model's path) starts the message of a :class:`ModelError`.
    """
    graph = model.graph
    stored = {t.name: t for t in graph.initializer}
    #: constant values by name; a stored constant is converted when a node to fold reads it (a model's
    #: weights, which no foldable node reads, are never copied into arrays here)
    constants: dict[str, np.ndarray] = {}

    def is_constant(name: str) -> bool:
        return name in constants or name in stored

    def read(name: str) -> Optional[np.ndarray]:
        if name not in constants and name in stored:
            constants[name] = numpy_helper.to_array(stored[name])
        return constants.get(name)

    shapes: dict[str, tuple[int, ...]] = {}
    out_bytes: dict[str, int] = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        s = static_shape(vi)
        if s is not None:
            shapes[vi.name] = s
        b = _static_bytes(vi)
        if b is not None:
            out_bytes[vi.name] = b
    graph_outputs = {o.name for o in graph.output}
    folded: Counter[str] = Counter()
    kept: list[onnx.NodeProto] = []
    new_constants: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or not spec_of(node.op_type).foldable or graph_outputs & set(node.output):
            kept.append(node)
            continue
        if node.op_type == "Constant":
            value = _constant_value(node, where)
            constants[node.output[0]] = new_constants[node.output[0]] = value
            folded[node.op_type] += 1
            continue
        data_inputs = [i for i in node.input if i]
        needs_values = node.op_type not in ("Shape", "Size")
        if needs_values and not all(is_constant(i) for i in data_inputs):
            kept.append(node)
            continue
        if not needs_values and node.input[0] not in shapes:
            kept.append(node)
            continue
        if needs_values and not (_small_enough(node, out_bytes) or (node.op_type == "Range" and _small_range(
                node, {i: read(i) for i in node.input[:3] if i}))):
            kept.append(node)
            continue
        inputs = [read(i) if i else None for i in node.input]
        try:
            with np.errstate(all="ignore"):
                outputs = evaluate_node(node.op_type, inputs, node_attributes(node), [shapes.get(i) for i in node.input])
        except Exception:  # a kernel refusing odd constant input: leave the node to run time
            outputs = None
        if outputs is None or sum(o.nbytes for o in outputs) > MAX_FOLD_BYTES:
            kept.append(node)
            continue
        for name, value in zip(node.output, outputs):
            if name:
                constants[name] = new_constants[name] = value
        folded[node.op_type] += 1
    if not folded:
        return model, folded
    used = {i for n in kept for i in n.input} | graph_outputs | _subgraph_reads(kept)
    new_model = onnx.ModelProto()
    new_model.CopyFrom(model)
    new_graph = new_model.graph
    del new_graph.node[:]
    new_graph.node.extend(kept)
    keep_init = [t for t in graph.initializer if t.name in used]
    del new_graph.initializer[:]
    new_graph.initializer.extend(keep_init)
    for name, value in new_constants.items():
        if name in used:
            new_graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    folded_names = set(new_constants)
    kept_vi = [vi for vi in graph.value_info if vi.name not in folded_names]
    del new_graph.value_info[:]
    new_graph.value_info.extend(kept_vi)
    # drop graph inputs that were only initializer declarations of removed tensors
    keep_inputs = [i for i in graph.input if i.name in used or not is_constant(i.name)]
    del new_graph.input[:]
    new_graph.input.extend(keep_inputs)
    return new_model, folded


def _small_range(node: onnx.NodeProto, constants: Mapping[str, np.ndarray]) -> bool:
    """A Range of constant scalars whose length (known from the values) fits :data:`MAX_FOLD_BYTES`.

    onnx's shape inference gives no shape for a Range of one-element 1-D inputs, which onnxruntime runs.
    """
    if node.op_type != "Range" or len(node.input) < 3 or not all(i in constants for i in node.input[:3]):
        return False
    start, limit, delta = (constants[i] for i in node.input[:3])
    if any(v.size != 1 or v.dtype.kind not in "iuf" for v in (start, limit, delta)):
        return False
    s, l, d = (float(v.reshape(-1)[0]) for v in (start, limit, delta))
    if d == 0 or not all(np.isfinite([s, l, d])):
        return False
    return max((l - s) / d, 0) * start.dtype.itemsize <= MAX_FOLD_BYTES


def _subgraph_reads(nodes: Sequence[onnx.NodeProto]) -> set[str]:
    """Every name the subgraphs (If branches, Loop and Scan bodies) of ``nodes`` read, at any depth."""
    names: set[str] = set()
    for n in nodes:
        for a in n.attribute:
            for g in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                names.update(i for m in g.node for i in m.input)
                names.update(o.name for o in g.output)
                names |= _subgraph_reads(list(g.node))
    return names


def _small_enough(node: onnx.NodeProto, out_bytes: dict[str, int]) -> bool:
    """Every output's inferred size is known and at most MAX_FOLD_BYTES (checked before evaluating)."""
    outs = [o for o in node.output if o]
    return bool(outs) and all(o in out_bytes and out_bytes[o] <= MAX_FOLD_BYTES for o in outs)


def describe_folding(counts: Counter[str]) -> str:
    parts = ", ".join(f"{op} x{n}" for op, n in sorted(counts.items()))
    return f"folded {sum(counts.values())} constant node(s): {parts}"


__all__ = ["MAX_FOLD_BYTES", "describe_folding", "evaluate_node", "fold_constants", "static_shape"]
