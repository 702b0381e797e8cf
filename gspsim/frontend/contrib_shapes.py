"""Static shapes for ops of other domains than ONNX's, which ONNX shape inference does not know.

QOperator models (onnxruntime's ``quantize_static(..., QuantFormat.QOperator)``)
use com.microsoft ops such as QLinearAdd and QGemm, and an op registered
through the op table (:func:`gspsim.optable.custom_ops`) lives in its own
domain.  ONNX shape inference leaves their outputs unknown, so
:func:`infer_contrib_shapes` alternates it with filling in each such node whose
inputs are known: QGemm and QLinearSoftmax by their definition, the others by
running their kernel on zeros (the int8 kernel of a quantized op, else the
fp32 one).
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from ..kernels import UnsupportedKernel, get_kernel
from ..optable import Int8Role, spec_of
from .attributes import node_attributes

ONNX_DOMAINS = ("", "ai.onnx")


def uses_contrib_ops(model: onnx.ModelProto) -> bool:
    """Whether a node belongs to another domain than ONNX's (com.microsoft, a registered op's)."""
    return any(node.domain not in ONNX_DOMAINS for node in model.graph.node)


def _known_types(model: onnx.ModelProto) -> dict[str, tuple[tuple[int, ...], int]]:
    known: dict[str, tuple[tuple[int, ...], int]] = {}
    g = model.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        t = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and t.elem_type and t.HasField("shape") \
                and all(d.HasField("dim_value") for d in t.shape.dim):
            known[vi.name] = (tuple(int(d.dim_value) for d in t.shape.dim), t.elem_type)
    for init in g.initializer:
        known[init.name] = (tuple(int(d) for d in init.dims), init.data_type)
    return known


def _contrib_output(node: onnx.NodeProto, known: Mapping[str, tuple[tuple[int, ...], int]],
                    inits: Mapping[str, np.ndarray]) -> Optional[list[tuple[tuple[int, ...], int]]]:
    """(shape, element type) of each output of a node of another domain, or None when inputs are unknown."""
    if any(t and t not in known for t in node.input):
        return None
    attrs = node_attributes(node)
    shapes = [known[t][0] if t else None for t in node.input]
    if node.op_type == "QGemm":
        a, b = shapes[0], shapes[3]
        n = a[1] if int(attrs.get("transA", 0)) else a[0]
        m = b[0] if int(attrs.get("transB", 0)) else b[1]
        has_y = len(node.input) > 7 and node.input[7]
        elem = known[node.input[8]][1] if has_y and len(node.input) > 8 and node.input[8] else \
            (onnx.TensorProto.UINT8 if has_y else onnx.TensorProto.FLOAT)
        return [((n, m), elem)]
    if node.op_type == "QLinearSoftmax":
        return [known[node.input[0]]]
    precision = "int8" if spec_of(node.op_type).int8 is Int8Role.INTEGER else "fp32"
    try:
        kernel = get_kernel(node.op_type, precision)
    except UnsupportedKernel:
        return None
    args = []
    for t in node.input:
        if not t:
            args.append(None)
        elif t in inits:
            args.append(inits[t])
        else:
            shape, elem = known[t]
            args.append(np.zeros(shape, helper.tensor_dtype_to_np_dtype(elem)))
    values = kernel.run(args, attrs)
    return [(tuple(np.shape(v)), helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype)) for v in values]


def infer_contrib_shapes(model: onnx.ModelProto, max_rounds: int = 64) -> onnx.ModelProto:
    """ONNX shape inference, plus the outputs of other domains' ops, which it does not know.

    Alternates ONNX inference with filling in each such node whose inputs
    are known (QGemm and QLinearSoftmax by their definition, the others by
    running their kernel on zeros), until nothing new is learned.
    """
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for _ in range(max_rounds):
        model = shape_inference.infer_shapes(model, data_prop=True)
        known = _known_types(model)
        added = False
        for node in model.graph.node:
            if node.domain in ONNX_DOMAINS or all(not t or t in known for t in node.output):
                continue
            outs = _contrib_output(node, known, inits)
            if outs is None:
                continue
            for name, (shape, elem) in zip(node.output, outs):
                if name and name not in known:
                    model.graph.value_info.append(helper.make_tensor_value_info(name, elem, shape))
                    known[name] = (shape, elem)
                    added = True
        if not added:
            return model
    return model
