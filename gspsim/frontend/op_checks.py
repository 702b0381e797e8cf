"""Per-op checks that ONNX shape inference does not make, but the kernels (and onnxruntime) rely on.

ONNX shape inference accepts, for instance, a LayerNormalization whose axis is
beyond the input's rank, a Gemm whose bias C does not broadcast to the output,
a Reshape that changes the number of elements, or ``transA = 7``.  onnxruntime
refuses such models when it builds a session; gspsim's kernels would fail in
the middle of a simulation.  These checks refuse them while the model is
loaded, each naming the node, the attribute or input and what is wrong.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..errors import ModelError
from ..ir.graph import OpNode, TensorInfo
from ..optable import spec_of

#: attributes ONNX defines as booleans (0 or 1); other values are read differently by different
#: consumers (ONNX shape inference tests ``!= 0``, some kernels ``== 1``), so they are refused
FLAG_ATTRIBUTES = frozenset({
    "transA", "transB", "keepdims", "allowzero", "noop_with_empty_axes", "ceil_mode", "count_include_pad",
    "select_last_index", "exclusive", "reverse", "largest", "sorted", "detect_negative", "detect_positive",
    "center_point_box", "training_mode", "is_test", "align_corners", "fmod", "upper", "layout", "antialias",
    "exclude_outside",
})


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _label(op: OpNode) -> str:
    return f"node '{op.name}' ({op.op_type})"


def _size(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def broadcasts_to(shape: Sequence[int], target: Sequence[int]) -> bool:
    """Unidirectional (numpy) broadcasting of ``shape`` to ``target``."""
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))


def check_axes(op: OpNode, tensors: Mapping[str, TensorInfo], path: str) -> None:
    """``axis``/``axes`` within the rank: the larger of the first input's and output's (Unsqueeze, OneHot)."""
    ranks = [len(tensors[t].shape) for t in (*op.inputs[:1], *op.outputs[:1]) if t and t in tensors]
    if not ranks:
        return
    rank = max(ranks)
    high = rank + 1 if op.op_type == "Flatten" else rank  # ONNX: Flatten's axis is in [-r, r]
    for key in ("axis", "axes"):
        value = op.attrs.get(key)
        for a in value if isinstance(value, (list, tuple)) else [value]:
            if _is_int(a) and not -rank <= a < high:
                raise ModelError(f"{path}: {_label(op)} has {key} {value}, outside [{-rank}, {high - 1}] "
                                 f"for its rank-{rank} tensors")


def check_flags(op: OpNode, path: str) -> None:
    for key in sorted(FLAG_ATTRIBUTES & set(op.attrs)):
        value = op.attrs[key]
        if _is_int(value) and value not in (0, 1):
            raise ModelError(f"{path}: {_label(op)} has {key}={value}; it must be 0 or 1")


def check_operands(op: OpNode, tensors: Mapping[str, TensorInfo], path: str) -> None:
    """Operand shapes that must fit the op and that ONNX shape inference leaves unchecked."""
    def shape(i: int) -> tuple[int, ...] | None:
        name = op.inputs[i] if i < len(op.inputs) else ""
        return tensors[name].shape if name and name in tensors else None

    out = tensors[op.outputs[0]].shape if op.outputs and op.outputs[0] in tensors else None
    # ops that only rearrange or relabel their input: output and input hold the same number of elements
    if spec_of(op.op_type).rearranges and out is not None and shape(0) is not None:
        if _size(shape(0)) != _size(out):
            raise ModelError(f"{path}: {_label(op)} turns input {list(shape(0))} ({_size(shape(0))} elements) into "
                             f"output {list(out)} ({_size(out)} elements)")
    if op.op_type == "Transpose" and "perm" in op.attrs and shape(0) is not None:
        perm = list(op.attrs["perm"])
        if sorted(perm) != list(range(len(shape(0)))):
            raise ModelError(f"{path}: {_label(op)} has perm {perm}, not a permutation of the "
                             f"{len(shape(0))} axes of its input")
    if op.op_type == "Gemm" and out is not None and shape(2) is not None and not broadcasts_to(shape(2), out):
        raise ModelError(f"{path}: {_label(op)} bias C '{op.inputs[2]}' {list(shape(2))} does not broadcast to "
                         f"the output {list(out)}")
    if op.op_type == "LayerNormalization" and shape(0) is not None:
        x = shape(0)
        axis = op.attrs.get("axis", -1)
        if _is_int(axis) and -len(x) <= axis < len(x):
            normalized = x[axis % len(x):]
            for i, role in ((1, "scale"), (2, "bias")):
                s = shape(i)
                if s is not None and not broadcasts_to(s, normalized):
                    raise ModelError(f"{path}: {_label(op)} {role} '{op.inputs[i]}' {list(s)} does not broadcast "
                                     f"to the normalized shape {list(normalized)}")


def check_op(op: OpNode, tensors: Mapping[str, TensorInfo], path: str) -> None:
    """All per-op checks for a default-domain op."""
    check_flags(op, path)
    check_axes(op, tensors, path)
    check_operands(op, tensors, path)


__all__ = ["FLAG_ATTRIBUTES", "broadcasts_to", "check_axes", "check_flags", "check_op", "check_operands"]
