"""Normalization and reduction kernels: Softmax, LayerNormalization, BatchNormalization, ReduceMean, LRN.

fp32 and fp16.  fp16 kernels take and return fp16 but upcast to fp32, reduce and compute
in fp32 (sums via ``_norm_sum``), and round once to fp16 at the output.

* Softmax: opset-13 semantics (one ``axis``, default -1).
* LayerNormalization: ``axis`` (default -1), ``epsilon``, optional bias; returns Y and,
  as outputs 1 and 2, Mean and InvStdDev in fp32 (stash_type 1) with the normalized axes
  kept as size-1 dims.
* BatchNormalization: inference mode only (``training_mode`` = 1 is rejected).
* ReduceMean: opset-18 semantics (axes as an optional int64 input, ``keepdims``,
  ``noop_with_empty_axes``); an ``axes`` attribute from older opsets is honoured too.
* LRN: across channels (axis 1), ONNX window ``[c - floor((size-1)/2), c + ceil((size-1)/2)]``.

Row blocks: ``run_rows`` splits output axis -2 for Softmax, LayerNormalization and
ReduceMean, and axis 2 (the first spatial axis, never the channels) for
BatchNormalization and LRN; an output without that axis is filled whole.  When the split
axis is not one the op reduces over (the usual case: Softmax / LayerNorm over the last
axis), a block reads only its own input rows.  When it is (e.g. Softmax over axis -2), a
block needs every input row and computes the whole op before writing its rows, so such
splits are correct but give no streaming benefit.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ...optable.kernel import Attrs, Inputs, Kernel
from ._elem_rows import ROW_AXIS, out_rows, row_axis
from ._norm_sum import normalize_axes, reduce_sum

_F32 = np.float32

#: computes an op's outputs from fp32 inputs (already sliced to a row block when possible)
Compute = Callable[[list[Optional[np.ndarray]], Attrs], tuple[np.ndarray, ...]]


def _float_dtype(precision: str) -> np.dtype:
    return np.dtype(np.float16 if precision == "fp16" else np.float32)


def _as_f32(xs: Sequence[Optional[np.ndarray]]) -> list[Optional[np.ndarray]]:
    return [None if x is None else np.asarray(x).astype(np.float32) for x in xs]


def _fill_rows(
    inputs: Inputs,
    attrs: Attrs,
    out: np.ndarray,
    start: int,
    stop: int,
    compute: Compute,
    row_in_axis: Optional[int],
    row_is_reduced: bool,
    spec: int,
) -> None:
    """Write output-0 rows [start, stop): from the matching input rows, or from the whole op.

    ``row_in_axis`` is the input-0 axis the output's split axis comes from (None when the
    output is not split).  Only input 0 is split; the other inputs are parameters (scale, bias,
    statistics, axes) that never vary along that axis.
    """
    xs = [None if x is None else np.asarray(x) for x in inputs]
    if row_in_axis is None or row_is_reduced:
        with np.errstate(all="ignore"):
            y = compute(_as_f32(xs), attrs)[0]
        np.copyto(out_rows(out, start, stop, spec), out_rows(y, start, stop, spec), casting="unsafe")
        return
    index = [slice(None)] * xs[0].ndim
    index[row_in_axis] = slice(start, stop)
    part = [xs[0][tuple(index)]] + xs[1:]  # other inputs are parameters, never split
    with np.errstate(all="ignore"):
        y = compute(_as_f32(part), attrs)[0]
    np.copyto(out_rows(out, start, stop, spec), y, casting="unsafe")


def _kernel(
    op_type: str,
    precision: str,
    compute: Compute,
    row_mapping: Callable[[list[np.ndarray], Attrs], tuple[Optional[int], bool]],
    spec: int = ROW_AXIS,
) -> Kernel:
    """Wrap a whole-tensor fp32 ``compute`` into run / run_rows at ``precision``, split along ``spec``."""
    dtype = _float_dtype(precision)

    def run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
        xs = [None if x is None else np.asarray(x) for x in inputs]
        row_in_axis, reduced = row_mapping(xs, attrs)
        _fill_rows(xs, attrs, out, start, stop, compute, row_in_axis, reduced, spec)

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        xs = [None if x is None else np.asarray(x) for x in inputs]
        with np.errstate(all="ignore"):
            ys = compute(_as_f32(xs), attrs)
        return (ys[0].astype(dtype),) + tuple(ys[1:])

    return Kernel(op_type, precision, run, run_rows, row_axis=spec)


def _rows_unless(
    reduced_axes: Callable[[list[np.ndarray], Attrs], Sequence[int]], spec: int = ROW_AXIS
) -> Callable[..., tuple[Optional[int], bool]]:
    """Row mapping for ops whose output has input 0's shape: the row axis, flagged if reduced."""

    def mapping(xs: list[np.ndarray], attrs: Attrs) -> tuple[Optional[int], bool]:
        axis = row_axis(xs[0].ndim, spec)
        return axis, axis is not None and axis in reduced_axes(xs, attrs)

    return mapping


# --------------------------------------------------------------------------- Softmax


def _softmax_axis(xs: list[np.ndarray], attrs: Attrs) -> list[int]:
    return normalize_axes([attrs.get("axis", -1)], xs[0].ndim)


def _softmax(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = xs[0]
    if x.size == 0:
        return (x.copy(),)
    (axis,) = _softmax_axis(xs, attrs)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return (e / reduce_sum(e, [axis]),)


# --------------------------------------------------------------------------- LayerNormalization


def _ln_axes(xs: list[np.ndarray], attrs: Attrs) -> list[int]:
    ndim = xs[0].ndim
    first = normalize_axes([attrs.get("axis", -1)], ndim)[0]
    return list(range(first, ndim))


def _layer_norm(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
    x, scale = xs[0], xs[1]
    bias = xs[2] if len(xs) > 2 else None
    axes = _ln_axes(xs, attrs)
    n = _F32(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    mean = reduce_sum(x, axes) / n
    d = x - mean
    var = reduce_sum(d * d, axes) / n
    inv_std = _F32(1.0) / np.sqrt(var + _F32(attrs.get("epsilon", 1e-5)))
    y = d * inv_std * scale
    if bias is not None:
        y = y + bias
    return y, mean, inv_std


# --------------------------------------------------------------------------- BatchNormalization


def _batch_norm(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
    if int(attrs.get("training_mode", 0)):
        raise NotImplementedError("BatchNormalization: only inference mode (training_mode=0) is supported")
    x, scale, bias, mean, var = xs[:5]
    shape = (-1,) + (1,) * (x.ndim - 2)
    # onnxruntime folds the statistics into one scale and one shift per channel
    new_scale = scale / np.sqrt(var + _F32(attrs.get("epsilon", 1e-5)))
    new_bias = bias - mean * new_scale
    return (x * new_scale.reshape(shape) + new_bias.reshape(shape),)


# --------------------------------------------------------------------------- ReduceMean


def _reduce_axes(xs: list[Optional[np.ndarray]], attrs: Attrs) -> Optional[list[int]]:
    """Axes to reduce, or None for the identity (empty axes with noop_with_empty_axes=1)."""
    x = xs[0]
    axes_in = xs[1] if len(xs) > 1 and xs[1] is not None else attrs.get("axes")
    axes = [] if axes_in is None else [int(a) for a in np.asarray(axes_in).reshape(-1)]
    if not axes:
        return None if int(attrs.get("noop_with_empty_axes", 0)) else list(range(x.ndim))
    return normalize_axes(axes, x.ndim)


def _reduce_mean(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = xs[0]
    axes = _reduce_axes(xs, attrs)
    if axes is None:
        return (x.copy(),)
    n = np.prod([x.shape[a] for a in axes], dtype=np.int64)
    with np.errstate(all="ignore"):
        y = reduce_sum(x, axes) / _F32(n)  # n == 0 gives NaN, like onnxruntime
    if not int(attrs.get("keepdims", 1)):
        y = y.reshape([x.shape[a] for a in range(x.ndim) if a not in axes])
    return (y,)


def _reduce_shape(xs: list[np.ndarray], attrs: Attrs) -> tuple[int, ...]:
    x = xs[0]
    axes = _reduce_axes(xs, attrs)
    if axes is None:
        return tuple(x.shape)
    if int(attrs.get("keepdims", 1)):
        return tuple(1 if a in axes else d for a, d in enumerate(x.shape))
    return tuple(d for a, d in enumerate(x.shape) if a not in axes)


def _reduce_rows(xs: list[np.ndarray], attrs: Attrs) -> tuple[Optional[int], bool]:
    """Input axis behind the output's split axis, and whether it is reduced (size 1 with keepdims)."""
    x = xs[0]
    axes = _reduce_axes(xs, attrs)
    out_ndim = len(_reduce_shape(xs, attrs))
    out_axis = row_axis(out_ndim)
    if out_axis is None:
        return None, False
    if axes is None or int(attrs.get("keepdims", 1)):
        in_axis = out_axis
    else:
        in_axis = [a for a in range(x.ndim) if a not in axes][out_axis]
    return in_axis, in_axis in (axes or [])


# --------------------------------------------------------------------------- LRN


def _lrn(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = xs[0]
    size = int(attrs["size"])
    alpha, beta, bias = _F32(attrs.get("alpha", 1e-4)), _F32(attrs.get("beta", 0.75)), _F32(attrs.get("bias", 1.0))
    channels = x.shape[1]
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = x * x
    square_sum = np.zeros_like(x)
    for offset in range(-before, after + 1):  # fixed order: same bits for every row block
        lo, hi = max(0, -offset), min(channels, channels - offset)
        if hi > lo:
            square_sum[:, lo:hi] += sq[:, lo + offset : hi + offset]
    return (x / np.power(bias + (alpha / _F32(size)) * square_sum, beta),)


def _no_axes(xs: list[np.ndarray], attrs: Attrs) -> list[int]:
    """BatchNorm and LRN split axis 2, which neither reduces over (LRN sums across channels)."""
    return []


# --------------------------------------------------------------------------- registry


def _kernels_for(precision: str) -> tuple[Kernel, ...]:
    return (
        _kernel("Softmax", precision, _softmax, _rows_unless(_softmax_axis)),
        _kernel("LayerNormalization", precision, _layer_norm, _rows_unless(_ln_axes)),
        _kernel("BatchNormalization", precision, _batch_norm, _rows_unless(_no_axes, 2), spec=2),
        _kernel("ReduceMean", precision, _reduce_mean, _reduce_rows),
        _kernel("LRN", precision, _lrn, _rows_unless(_no_axes, 2), spec=2),
    )


KERNELS: tuple[Kernel, ...] = (*_kernels_for("fp32"), *_kernels_for("fp16"))
