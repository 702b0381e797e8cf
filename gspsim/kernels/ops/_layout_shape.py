"""Shape-only layout kernels: ops that re-view, re-order or generate tensors.

Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand, Tile, Shape, Size,
Constant, ConstantOfShape, Range, Identity, Dropout (inference) and Cast.  All are
dtype-generic numpy code because the frontend also runs them on int64 shape
tensors when it folds constant subgraphs.

Every output is C-contiguous (downstream Numba kernels then see one array
layout) and may share memory with an input (Reshape, Squeeze, Identity ...
return views): callers must never write into a kernel's output in place.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from ...optable.kernel import Attrs, Inputs
from ._layout_common import (
    contiguous,
    attr_int,
    attr_ints,
    int_list,
    normalize_axis,
    onnx_dtype,
    optional_input,
)


def _axes_from(inputs: Inputs, attrs: Attrs, index: int) -> Optional[list[int]]:
    """Axes given as input ``index`` (opset >= 13) or, for older models, as an attribute."""
    axes = int_list(optional_input(inputs, index))
    return axes if axes is not None else attr_ints(attrs, "axes")


def reshape(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Reshape: 0 copies the input dim (unless ``allowzero``), -1 is inferred."""
    x = np.asarray(inputs[0])
    shape = int_list(inputs[1]) or []
    allowzero = attr_int(attrs, "allowzero", 0)
    target: list[int] = []
    for i, dim in enumerate(shape):
        if dim == 0 and not allowzero:
            if i >= x.ndim:
                raise ValueError(f"Reshape: shape[{i}] = 0 copies a dim the rank-{x.ndim} input lacks")
            target.append(x.shape[i])
        else:
            target.append(dim)
    return (contiguous(x.reshape(target)),)


def flatten(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Flatten to 2-D: dims before ``axis`` (default 1) form rows, the rest columns."""
    x = np.asarray(inputs[0])
    axis = attr_int(attrs, "axis", 1)
    if not -x.ndim <= axis <= x.ndim:
        raise ValueError(f"Flatten: axis {axis} out of range for rank {x.ndim}")
    axis = axis + x.ndim if axis < 0 else axis
    outer = math.prod(x.shape[:axis])
    inner = math.prod(x.shape[axis:])
    return (contiguous(x.reshape(outer, inner)),)


def squeeze(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Squeeze the listed size-1 axes, or every size-1 axis when none are listed."""
    x = np.asarray(inputs[0])
    axes = _axes_from(inputs, attrs, 1)
    if not axes:  # omitted or empty (onnxruntime treats both alike)
        axes_t = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes_t = tuple(sorted({normalize_axis(a, x.ndim) for a in axes}))
        for a in axes_t:
            if x.shape[a] != 1:
                raise ValueError(f"Squeeze: axis {a} has size {x.shape[a]}, not 1")
    return (contiguous(np.squeeze(x, axis=axes_t)),)


def unsqueeze(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Insert size-1 axes at the listed positions of the *output*."""
    x = np.asarray(inputs[0])
    axes = _axes_from(inputs, attrs, 1)
    if axes is None:
        raise ValueError("Unsqueeze needs axes")
    out_rank = x.ndim + len(axes)
    norm = sorted(normalize_axis(a, out_rank) for a in axes)
    if len(set(norm)) != len(norm):
        raise ValueError(f"Unsqueeze: repeated axes {axes}")
    shape = list(x.shape)
    for a in norm:
        shape.insert(a, 1)
    return (contiguous(x.reshape(shape)),)


def transpose(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Permute axes (``perm`` defaults to reversing them)."""
    x = np.asarray(inputs[0])
    perm = attr_ints(attrs, "perm")
    if perm is None:
        perm = list(range(x.ndim))[::-1]
    return (contiguous(np.transpose(x, [normalize_axis(p, x.ndim) for p in perm])),)


def expand(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Bidirectional broadcast of the input to ``shape`` (a 1 in ``shape`` keeps the input dim)."""
    x = np.asarray(inputs[0])
    shape = tuple(int_list(inputs[1]) or [])
    out_shape = np.broadcast_shapes(x.shape, shape)
    return (np.array(np.broadcast_to(x, out_shape), order="C"),)


def tile(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Repeat the whole tensor ``repeats[i]`` times along each axis."""
    x = np.asarray(inputs[0])
    repeats = int_list(inputs[1]) or []
    if len(repeats) != x.ndim:
        raise ValueError(f"Tile: {len(repeats)} repeats for a rank-{x.ndim} input")
    if any(r < 0 for r in repeats):
        raise ValueError(f"Tile: negative repeats {repeats}")
    return (contiguous(np.tile(x, repeats)),)


def shape_op(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """The input's shape as int64, optionally the clamped slice ``[start, end)`` of it."""
    x = np.asarray(inputs[0])
    rank = x.ndim
    start = attr_int(attrs, "start", 0)
    end = attr_int(attrs, "end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return (np.array(x.shape[start:end], dtype=np.int64),)


def size_op(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Number of elements as an int64 scalar."""
    return (np.array(np.asarray(inputs[0]).size, dtype=np.int64),)


def _value_attr(value: Any) -> np.ndarray:
    """The one-element ``value`` attribute of ConstantOfShape as a numpy array."""
    if value is None:
        return np.zeros(1, dtype=np.float32)
    if hasattr(value, "data_type") and hasattr(value, "dims"):  # an onnx.TensorProto
        from onnx import numpy_helper  # noqa: WPS433  (only needed for raw protos)

        value = numpy_helper.to_array(value)
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"ConstantOfShape: value must hold one element, got {arr.size}")
    return arr.reshape(1)


def constant_of_shape(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """A tensor of the given shape filled with the ``value`` attribute (default float32 0)."""
    shape = int_list(inputs[0]) or []
    value = _value_attr(attrs.get("value"))
    return (np.full(shape, value[0], dtype=value.dtype),)


#: Constant's value attributes and the types their values have
CONSTANT_ATTRIBUTES = (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64))


def constant(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Constant: its ``value`` tensor or ``value_float(s)`` / ``value_int(s)`` (strings and sparse tensors are
    not numeric tensors: refused)."""
    for key, dtype in CONSTANT_ATTRIBUTES:
        if key in attrs:
            value = attrs[key]
            if hasattr(value, "data_type") and hasattr(value, "dims"):  # an onnx.TensorProto
                from onnx import numpy_helper  # noqa: WPS433  (only needed for raw protos)

                value = numpy_helper.to_array(value)
            return (np.array(value, dtype=dtype),)
    raise ValueError(f"Constant: no supported value attribute ({', '.join(sorted(attrs)) or 'none'}); "
                     "gspsim reads value, value_float(s) and value_int(s)")


def range_op(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """``start, start+delta, ...`` below ``limit``, accumulated in the input type like onnxruntime."""
    start_a, limit_a, delta_a = (np.asarray(a) for a in inputs[:3])
    dtype = start_a.dtype
    start = start_a.reshape(())
    limit = limit_a.reshape(()).astype(dtype)
    delta = delta_a.reshape(()).astype(dtype)
    if delta == 0:
        raise ValueError("Range: delta must not be zero")
    with np.errstate(over="ignore"):
        span = np.subtract(limit, start, dtype=dtype)
    count = max(int(math.ceil(float(span) / float(delta))), 0)
    if count == 0:
        return (np.zeros(0, dtype=dtype),)
    steps = np.full(count, delta, dtype=dtype)
    steps[0] = start
    # Sequential accumulation (start += delta) reproduces onnxruntime's float rounding.
    return (np.add.accumulate(steps, dtype=dtype),)


def identity(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """The input itself."""
    return (contiguous(inputs[0]),)


def dropout(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Inference Dropout: output = input, mask = all true (both returned; extra outputs unused)."""
    x = contiguous(inputs[0])
    ratio_in = optional_input(inputs, 1)
    training_in = optional_input(inputs, 2)
    training = bool(np.asarray(training_in).reshape(-1)[0]) if training_in is not None else False
    ratio = float(np.asarray(ratio_in).reshape(-1)[0]) if ratio_in is not None else 0.5
    if training and ratio != 0.0:
        raise NotImplementedError("Dropout with training_mode=true is not supported (inference simulator)")
    return (x, np.ones(x.shape, dtype=np.bool_))


#: window op -> its cosine-sum coefficients (a0, a1, a2): a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N)
_WINDOWS = {"HannWindow": (0.5, 0.5, 0.0), "HammingWindow": (25 / 46, 21 / 46, 0.0),
            "BlackmanWindow": (0.42, 0.5, 0.08)}


def window(op_type: str):  # type: ignore[no-untyped-def]
    """HannWindow / HammingWindow / BlackmanWindow of the size given (``periodic``: N, else N - 1 in the cosine)."""
    a0, a1, a2 = _WINDOWS[op_type]

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        size = int(np.asarray(inputs[0]).reshape(-1)[0])
        n = np.arange(size, dtype=np.float64)
        span = size if int(attrs.get("periodic", 1)) else size - 1
        phase = 2 * np.pi * n / span if span > 0 else np.zeros(size)
        values = a0 - a1 * np.cos(phase) + a2 * np.cos(2 * phase)
        return (values.astype(onnx_dtype(int(attrs.get("output_datatype", 1)))),)

    return run


def cast_like(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Cast to the element type of the second input (CastLike)."""
    target = np.asarray(inputs[1]).dtype
    with np.errstate(invalid="ignore", over="ignore"):
        return (contiguous(np.asarray(inputs[0]).astype(target)),)


def cast(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Convert to the ``to`` element type with C-style conversions (float -> int truncates).

    ``saturate`` only concerns float8 targets, which are not supported, so it
    is ignored.  Out-of-range float -> int conversions are undefined in ONNX;
    numpy then gives what the x86 conversion instructions give.
    """
    x = np.asarray(inputs[0])
    if "to" not in attrs:
        raise ValueError("Cast needs the 'to' attribute")
    dtype = onnx_dtype(int(attrs["to"]))
    with np.errstate(invalid="ignore", over="ignore"):
        return (contiguous(x.astype(dtype)),)
