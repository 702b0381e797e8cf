"""Normalization and reduction kernels: softmaxes, normalizations, reductions and arg reductions.

Softmax, LogSoftmax, Hardmax, LayerNormalization, RMSNormalization, BatchNormalization,
InstanceNormalization, GroupNormalization, LpNormalization, LRN, the Reduce ops (Mean,
Sum, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare) and ArgMax / ArgMin.

fp32 and fp16.  fp16 kernels take and return fp16 but upcast to fp32, reduce and compute
in fp32 (sums via ``_norm_sum``), and round once to fp16 at the output.  float64 data (a
float64 model at fp32) computes in float64.  Sum, Max, Min and Prod reductions and the
arg reductions of integer (or bool) data compute in the data's own type; ArgMax / ArgMin
return int64.

* GroupNormalization: opset 21 (scale and bias per channel); a per-group scale and bias
  (opset 18, read from older models) is spread over each group's channels.
* RMSNormalization (opset 23): ``x / sqrt(mean(x^2 over axis..) + epsilon) * scale``.
* Empty reductions give ONNX's identities: 0 (Sum), 1 (Prod), the type's lowest (Max)
  or highest (Min) value, -inf (LogSum, LogSumExp).

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


def _as_work(xs: Sequence[Optional[np.ndarray]]) -> list[Optional[np.ndarray]]:
    """Float inputs in the work type (float32; float64 stays float64); integer and bool inputs as they are."""
    out: list[Optional[np.ndarray]] = []
    for x in xs:
        if x is None:
            out.append(None)
            continue
        x = np.asarray(x)
        out.append(x.astype(np.float32) if x.dtype.kind == "f" and x.dtype != np.float64 else x)
    return out


def _output(y: np.ndarray, precision: str) -> np.ndarray:
    """A float result rounded once to float16 at fp16; anything else in its own type."""
    return y.astype(np.float16) if precision == "fp16" and y.dtype.kind == "f" else y


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
            y = compute(_as_work(xs), attrs)[0]
        np.copyto(out_rows(out, start, stop, spec), out_rows(y, start, stop, spec), casting="unsafe")
        return
    index = [slice(None)] * xs[0].ndim
    index[row_in_axis] = slice(start, stop)
    part = [xs[0][tuple(index)]] + xs[1:]  # other inputs are parameters, never split
    with np.errstate(all="ignore"):
        y = compute(_as_work(part), attrs)[0]
    np.copyto(out_rows(out, start, stop, spec), y, casting="unsafe")


def _kernel(
    op_type: str,
    precision: str,
    compute: Compute,
    row_mapping: Callable[[list[np.ndarray], Attrs], tuple[Optional[int], bool]],
    spec: int = ROW_AXIS,
) -> Kernel:
    """Wrap a whole-tensor fp32 ``compute`` into run / run_rows at ``precision``, split along ``spec``."""

    def run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
        xs = [None if x is None else np.asarray(x) for x in inputs]
        row_in_axis, reduced = row_mapping(xs, attrs)
        _fill_rows(xs, attrs, out, start, stop, compute, row_in_axis, reduced, spec)

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        xs = [None if x is None else np.asarray(x) for x in inputs]
        with np.errstate(all="ignore"):
            ys = compute(_as_work(xs), attrs)
        return (_output(ys[0], precision),) + tuple(ys[1:])

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


# --------------------------------------------------------------------------- more reductions

#: reduce op -> (its computation over axes of the work-type input (keepdims), value of an empty reduction)
_REDUCTIONS: dict[str, Callable[[np.ndarray, tuple[int, ...]], np.ndarray]] = {
    "ReduceSum": lambda x, axes: np.sum(x, axis=axes, keepdims=True, dtype=x.dtype),
    "ReduceProd": lambda x, axes: np.prod(x, axis=axes, keepdims=True, dtype=x.dtype),
    "ReduceMax": lambda x, axes: _extreme(np.max, x, axes),
    "ReduceMin": lambda x, axes: _extreme(np.min, x, axes),
    "ReduceL1": lambda x, axes: np.sum(np.abs(x), axis=axes, keepdims=True),
    "ReduceL2": lambda x, axes: np.sqrt(np.sum(x * x, axis=axes, keepdims=True)),
    "ReduceSumSquare": lambda x, axes: np.sum(x * x, axis=axes, keepdims=True, dtype=x.dtype),
    "ReduceLogSum": lambda x, axes: np.log(np.sum(x, axis=axes, keepdims=True)),
    "ReduceLogSumExp": lambda x, axes: _log_sum_exp(x, axes),
}
#: reductions that also take integer (and bool) data, computed in its own type
_INTEGER_REDUCTIONS = ("ReduceSum", "ReduceProd", "ReduceMax", "ReduceMin", "ReduceSumSquare", "ReduceL1")


def _extreme(fn: Callable[..., np.ndarray], x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Max / Min over ``axes``; an empty reduction gives the type's lowest (Max) or highest (Min) value."""
    if x.size and all(x.shape[a] for a in axes):
        return fn(x, axis=axes, keepdims=True)
    shape = [1 if a in axes else d for a, d in enumerate(x.shape)]
    if x.dtype == np.bool_:
        return np.full(shape, fn is np.min, np.bool_)
    info = np.finfo(x.dtype) if x.dtype.kind == "f" else np.iinfo(x.dtype)
    lowest = -np.inf if x.dtype.kind == "f" else info.min
    highest = np.inf if x.dtype.kind == "f" else info.max
    return np.full(shape, lowest if fn is np.max else highest, x.dtype)


def _log_sum_exp(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    if not x.size or not all(x.shape[a] for a in axes):
        return np.log(np.sum(np.exp(x), axis=axes, keepdims=True))
    top = np.max(x, axis=axes, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    return np.log(np.sum(np.exp(x - top), axis=axes, keepdims=True)) + top


def _reduction(op_type: str) -> Compute:
    fn = _REDUCTIONS[op_type]

    def compute(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
        x = xs[0]
        if x.dtype.kind not in "f" and op_type not in _INTEGER_REDUCTIONS:
            raise NotImplementedError(f"{op_type} of {x.dtype} data")
        axes = _reduce_axes(xs, attrs)
        if axes is None:
            return (x.copy(),)
        with np.errstate(all="ignore"):
            y = fn(x, tuple(axes))
        if not int(attrs.get("keepdims", 1)):
            y = y.reshape([x.shape[a] for a in range(x.ndim) if a not in axes])
        return (np.asarray(y, dtype=x.dtype),)

    return compute


def _arg_reduction(pick: Callable[..., np.ndarray]) -> Compute:
    """ArgMax / ArgMin: int64 index along ``axis``; ``select_last_index`` picks the last of equal extremes."""

    def compute(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
        x = xs[0]
        (axis,) = normalize_axes([attrs.get("axis", 0)], x.ndim)
        if int(attrs.get("select_last_index", 0)):
            flipped = np.flip(x, axis=axis)
            index = x.shape[axis] - 1 - pick(flipped, axis=axis, keepdims=True)
        else:
            index = pick(x, axis=axis, keepdims=True)
        if not int(attrs.get("keepdims", 1)):
            index = np.squeeze(index, axis=axis)
        return (index.astype(np.int64),)

    return compute


def _arg_axes(xs: list[np.ndarray], attrs: Attrs) -> tuple[Optional[int], bool]:
    """Row mapping of ArgMax / ArgMin: as a reduction over ``axis``."""
    return _reduce_rows(xs, {**attrs, "axes": [attrs.get("axis", 0)]})


# --------------------------------------------------------------------------- more softmaxes and normalizations


def _log_softmax(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = xs[0]
    if x.size == 0:
        return (x.copy(),)
    (axis,) = _softmax_axis(xs, attrs)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return (shifted - np.log(reduce_sum(np.exp(shifted), [axis])),)


def _hardmax(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = xs[0]
    (axis,) = _softmax_axis(xs, attrs)
    y = np.zeros_like(x)
    if x.size:
        np.put_along_axis(y, np.argmax(x, axis=axis, keepdims=True), 1, axis=axis)
    return (y,)


def _lp_normalization(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = xs[0]
    (axis,) = _softmax_axis(xs, attrs)
    p = int(attrs.get("p", 2))
    if p not in (1, 2):
        raise ValueError(f"LpNormalization p must be 1 or 2, got {p}")
    norm = np.sum(np.abs(x), axis=axis, keepdims=True) if p == 1 else np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    with np.errstate(all="ignore"):
        return (np.where(norm == 0, x.dtype.type(0), x / norm),)


def _rms_norm(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
    x, scale = xs[0], xs[1]
    axes = _ln_axes(xs, attrs)
    n = x.dtype.type(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    mean_square = reduce_sum(x * x, axes) / n
    return (x / np.sqrt(mean_square + x.dtype.type(attrs.get("epsilon", 1e-5))) * scale,)


def _normalize_groups(x: np.ndarray, groups: int, epsilon: float) -> np.ndarray:
    """(x - mean) / sqrt(var + epsilon) over each (sample, group of channels) of an (N, C, ...) tensor."""
    n_count, channels = x.shape[:2]
    if groups < 1 or channels % groups:
        raise ValueError(f"{channels} channels do not split into {groups} groups")
    g = x.reshape(n_count, groups, -1)
    mean = g.mean(axis=2, keepdims=True)
    var = ((g - mean) ** 2).mean(axis=2, keepdims=True)
    return ((g - mean) / np.sqrt(var + x.dtype.type(epsilon))).reshape(x.shape)


def _channel_param(value: np.ndarray, x: np.ndarray, groups: int) -> np.ndarray:
    """A per-channel scale or bias shaped to broadcast over (N, C, ...); a per-group one is spread."""
    v = np.asarray(value, x.dtype).reshape(-1)
    channels = x.shape[1]
    if v.size == groups and groups != channels:
        v = np.repeat(v, channels // groups)
    if v.size != channels:
        raise ValueError(f"scale / bias hold {v.size} values for {channels} channels")
    return v.reshape((1, channels) + (1,) * (x.ndim - 2))


def _instance_norm(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = xs[0]
    y = _normalize_groups(x, x.shape[1], float(attrs.get("epsilon", 1e-5)))
    return (y * _channel_param(xs[1], x, x.shape[1]) + _channel_param(xs[2], x, x.shape[1]),)


def _group_norm(xs: list[Optional[np.ndarray]], attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = xs[0]
    if "num_groups" not in attrs:
        raise ValueError("GroupNormalization needs num_groups")
    groups = int(attrs["num_groups"])
    y = _normalize_groups(x, groups, float(attrs.get("epsilon", 1e-5)))
    return (y * _channel_param(xs[1], x, groups) + _channel_param(xs[2], x, groups),)


def _whole(op_type: str, precision: str, compute: Compute) -> Kernel:
    """A kernel computing the whole tensor only (normalizations over every spatial position)."""

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        xs = [None if x is None else np.asarray(x) for x in inputs]
        with np.errstate(all="ignore"):
            ys = compute(_as_work(xs), attrs)
        return (_output(ys[0], precision),) + tuple(ys[1:])

    return Kernel(op_type, precision, run)


# --------------------------------------------------------------------------- registry


def _kernels_for(precision: str) -> tuple[Kernel, ...]:
    return (
        _kernel("Softmax", precision, _softmax, _rows_unless(_softmax_axis)),
        _kernel("LayerNormalization", precision, _layer_norm, _rows_unless(_ln_axes)),
        _kernel("BatchNormalization", precision, _batch_norm, _rows_unless(_no_axes, 2), spec=2),
        _kernel("ReduceMean", precision, _reduce_mean, _reduce_rows),
        _kernel("LRN", precision, _lrn, _rows_unless(_no_axes, 2), spec=2),
        *(_kernel(op, precision, _reduction(op), _reduce_rows) for op in _REDUCTIONS),
        _kernel("ArgMax", precision, _arg_reduction(np.argmax), _arg_axes),
        _kernel("ArgMin", precision, _arg_reduction(np.argmin), _arg_axes),
        _kernel("LogSoftmax", precision, _log_softmax, _rows_unless(_softmax_axis)),
        _kernel("Hardmax", precision, _hardmax, _rows_unless(_softmax_axis)),
        _kernel("LpNormalization", precision, _lp_normalization, _rows_unless(_softmax_axis)),
        _kernel("RMSNormalization", precision, _rms_norm, _rows_unless(_ln_axes)),
        _whole("InstanceNormalization", precision, _instance_norm),
        _whole("GroupNormalization", precision, _group_norm),
    )


KERNELS: tuple[Kernel, ...] = (
    *_kernels_for("fp32"),
    *_kernels_for("fp16"),
    # on int8 / uint8 tensors: the reductions that are exact on integers, and the arg reductions
    *(_kernel(op, "int8", _reduction(op), _reduce_rows) for op in ("ReduceMax", "ReduceMin")),
    _kernel("ArgMax", "int8", _arg_reduction(np.argmax), _arg_axes),
    _kernel("ArgMin", "int8", _arg_reduction(np.argmin), _arg_axes),
)
