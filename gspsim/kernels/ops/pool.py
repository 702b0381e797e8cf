"""Pooling kernels: MaxPool, AveragePool, LpPool, the global pools and com.microsoft QLinear(Global)AveragePool.

Semantics are ONNX's (opset 22) for pools of any spatial rank: 1-D and 2-D
float32/float16/int8 pools run on Numba image loops (a 1-D pool as a 2-D one
with a unit W axis), 3-D and higher ones, float64 data, LpPool and MaxPool's
Indices output on the numpy taps of ``_window_nd.py``; onnxruntime's choices
where ONNX leaves room:

* ``ceil_mode``: a last window that would start in the end padding is dropped.
* AveragePool: the sum covers the taps inside the image; the divisor is their
  number, or with ``count_include_pad`` the number of taps inside the padded
  extent (a ceil-mode window hanging past the end padding does not count the
  positions beyond it).
* MaxPool's optional second output (Indices): the flat index of the first
  maximum in (N, C, spatial...) order (``storage_order=1``: the spatial axes
  column-major), padding never counted; only nodes that use it compute it
  (``Kernel.run_all``).

Precisions: fp32; fp16 (float16 storage in and out, computed in float32 and
rounded once to float16 at the output; exact for MaxPool); int8 (MaxPool on
int8 or uint8 directly; QLinearAveragePool / QLinearGlobalAveragePool
bit-exact with onnxruntime: the first dequantizes to float32 and sums in
onnxruntime's order, the second, like QLinearAveragePool whose kernel covers
the whole unpadded image, sums integers and requantizes as MLAS does).

``run_rows`` fills output rows along axis 2 (H, or L for 1-D) for every op;
the QLinear pools with ``channels_last=1`` support ``run`` only.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ...optable.kernel import Attrs, Inputs, Kernel
from ._conv_geometry import AxisWindow, Window2D, as_image, pool_window, window_axes
from ._window_nd import avg_pool_nd, lp_pool_nd, max_pool_nd
from ._pool_jit import avg_pool_rows, max_pool_rows, qlinear_avg_pool_rows, qlinear_global_avg

_FLOATS = (np.dtype(np.float32), np.dtype(np.float16))
_INTS = (np.dtype(np.int8), np.dtype(np.uint8))

#: computes output rows [start, stop) of a pool as (N, C, rows, out_w)
BlockFn = Callable[[np.ndarray, Attrs, int, int], np.ndarray]
#: (x_scale, x_zero_point, y_scale, y_zero_point) of a QLinear pool
QParams = tuple[np.float32, int, np.float32, int]


def _out_shape(x: np.ndarray, rows: int, out_w: int) -> tuple[int, ...]:
    return (x.shape[0], x.shape[1], rows) if x.ndim == 3 else (x.shape[0], x.shape[1], rows, out_w)


def _check_rows(out: np.ndarray, start: int, stop: int) -> np.ndarray:
    out4 = as_image(out)
    if not 0 <= start <= stop <= out4.shape[2]:
        raise ValueError(f"rows [{start}, {stop}) outside output of {out4.shape[2]} rows")
    return out4


def _float_band(x4: np.ndarray, win: Window2D, start: int, stop: int) -> tuple[np.ndarray, int]:
    """float32 planes of the input rows output rows ``[start, stop)`` read, and the first row's index."""
    if x4.dtype == np.float32:
        return np.ascontiguousarray(x4).reshape(-1, x4.shape[2], x4.shape[3]), 0
    lo, hi = win.input_rows(start, stop)
    band = x4[:, :, lo:hi].astype(np.float32)
    return band.reshape(-1, hi - lo, x4.shape[3]), lo


def _axes(x: np.ndarray, attrs: Attrs) -> list[AxisWindow]:
    kernel = attrs.get("kernel_shape")
    if not kernel:
        raise ValueError("pool needs kernel_shape")
    return window_axes(x.shape, [int(k) for k in kernel], attrs, bool(int(attrs.get("ceil_mode", 0))))


def _kernel(op: str, precision: str, rows_fn: BlockFn, nd_fn: BlockFn, image_dtypes: tuple[np.dtype, ...],
            run_all: Optional[Callable[[Inputs, Attrs], tuple]] = None) -> Kernel:
    """A windowed pool's Kernel: ``run`` and ``run_rows`` both come from one row-range function.

    ``rows_fn`` is the image loop (1-D and 2-D data of ``image_dtypes``); ``nd_fn``
    serves every other rank and type, with the output shape ``(N, C, rows, ...)``.
    """

    def on_image(x: np.ndarray) -> bool:
        return x.ndim in (3, 4) and x.dtype in image_dtypes

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        x = np.asarray(inputs[0])
        if not on_image(x):
            return (nd_fn(x, attrs, 0, _axes(x, attrs)[0].out),)
        win = pool_window(x.shape, attrs)
        return (rows_fn(x, attrs, 0, win.out_h).reshape(_out_shape(x, win.out_h, win.out_w)),)

    def run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
        x = np.asarray(inputs[0])
        if not on_image(x):
            out[:, :, start:stop] = nd_fn(x, attrs, start, stop)
            return
        out4 = _check_rows(out, start, stop)
        out4[:, :, start:stop] = rows_fn(x, attrs, start, stop)

    return Kernel(op, precision, run, run_rows, 2, run_all=run_all)


def _max_nd(x: np.ndarray, attrs: Attrs, start: int, stop: int) -> np.ndarray:
    return max_pool_nd(x, _axes(x, attrs), start, stop, _storage_order(attrs))[0]


def _max_pool_with_indices(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = np.asarray(inputs[0])
    axes = _axes(x, attrs)
    return max_pool_nd(x, axes, 0, axes[0].out, _storage_order(attrs))


def _avg_nd(x: np.ndarray, attrs: Attrs, start: int, stop: int) -> np.ndarray:
    if x.dtype.kind != "f":
        raise NotImplementedError(f"AveragePool of {x.dtype} data")
    return avg_pool_nd(x, _axes(x, attrs), start, stop, bool(int(attrs.get("count_include_pad", 0))))


def _lp_nd(x: np.ndarray, attrs: Attrs, start: int, stop: int) -> np.ndarray:
    if x.dtype.kind != "f":
        raise NotImplementedError(f"LpPool of {x.dtype} data")
    return lp_pool_nd(x, _axes(x, attrs), start, stop, float(attrs.get("p", 2)))


def _storage_order(attrs: Attrs) -> int:
    order = int(attrs.get("storage_order", 0))
    if order not in (0, 1):
        raise ValueError("storage_order must be 0 or 1")
    return order


# --------------------------------------------------------------------------- MaxPool / AveragePool


def _max_pool(x: np.ndarray, attrs: Attrs, start: int, stop: int) -> np.ndarray:
    _storage_order(attrs)
    x4 = as_image(x)
    win = pool_window(x.shape, attrs)
    n_count, c_count, h, _ = x4.shape
    if x.dtype in _FLOATS:
        planes, row0 = _float_band(x4, win, start, stop)
        lowest: Any = np.float32(np.finfo(np.float32).min)
    elif x.dtype in _INTS:
        planes, row0 = np.ascontiguousarray(x4).reshape(-1, h, x4.shape[3]), 0
        lowest = x.dtype.type(np.iinfo(x.dtype).min)
    else:
        raise TypeError(f"MaxPool kernel takes float32/float16/int8/uint8, got {x.dtype}")
    out = np.empty((planes.shape[0], stop - start, win.out_w), planes.dtype)
    if out.size:
        max_pool_rows(planes, row0, h, lowest, start, stop, win.out_w, win.k_h, win.k_w, win.s_h, win.s_w,
                      win.d_h, win.d_w, win.pad_t, win.pad_l, out)
    return out.reshape(n_count, c_count, stop - start, win.out_w).astype(x.dtype, copy=False)


def _avg_pool(x: np.ndarray, attrs: Attrs, start: int, stop: int) -> np.ndarray:
    if x.dtype not in _FLOATS:
        raise TypeError(f"AveragePool kernel takes float32/float16, got {x.dtype}")
    x4 = as_image(x)
    win = pool_window(x.shape, attrs)
    planes, row0 = _float_band(x4, win, start, stop)
    out = np.empty((planes.shape[0], stop - start, win.out_w), np.float32)
    if out.size:
        avg_pool_rows(planes, row0, x4.shape[2], bool(int(attrs.get("count_include_pad", 0))), start, stop,
                      win.out_w, win.k_h, win.k_w, win.s_h, win.s_w, win.d_h, win.d_w,
                      win.pad_t, win.pad_l, win.pad_b, win.pad_r, out)
    return out.reshape(x4.shape[0], x4.shape[1], stop - start, win.out_w).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------- GlobalAveragePool


def _global_avg_pool(x: np.ndarray, attrs: Attrs, start: int, stop: int) -> np.ndarray:
    if x.dtype.kind != "f":
        raise NotImplementedError(f"GlobalAveragePool of {x.dtype} data")
    if x.ndim < 3:
        raise ValueError("GlobalAveragePool needs (N, C, spatial...) input")
    n_count, c_count = x.shape[:2]
    flat = x.reshape(n_count, c_count, -1)
    work = np.float64 if x.dtype == np.float64 else np.float32
    mean = flat.sum(axis=2, dtype=work) / work(max(1, flat.shape[2]))
    return np.broadcast_to(mean.astype(x.dtype)[:, :, None, None], (n_count, c_count, stop - start, 1))


def _global_reduce(reduce: Callable[[np.ndarray], np.ndarray]) -> Callable[[Inputs, Attrs], tuple]:
    """GlobalMaxPool / GlobalLpPool: ``reduce`` over the flattened spatial axes, kept as size-1 axes."""

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        x = np.asarray(inputs[0])
        if x.ndim < 3:
            raise ValueError("a global pool needs (N, C, spatial...) input")
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        return (np.asarray(reduce(flat, attrs)).astype(x.dtype).reshape(x.shape[:2] + (1,) * (x.ndim - 2)),)

    return run


def _global_max(flat: np.ndarray, attrs: Attrs) -> np.ndarray:
    return flat.max(axis=2)


def _global_lp(flat: np.ndarray, attrs: Attrs) -> np.ndarray:
    if flat.dtype.kind != "f":
        raise NotImplementedError(f"GlobalLpPool of {flat.dtype} data")
    p = float(attrs.get("p", 2))
    work = np.float64 if flat.dtype == np.float64 else np.float32
    return (np.abs(flat.astype(work)) ** work(p)).sum(axis=2) ** work(1.0 / p)


def _global_run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = np.asarray(inputs[0])
    res = _global_avg_pool(x, attrs, 0, 1)
    return (np.ascontiguousarray(res).reshape(x.shape[:2] + (1,) * (x.ndim - 2)),)


def _global_run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
    x = np.asarray(inputs[0])
    if x.ndim > 4:
        raise NotImplementedError("run_rows supports 1-D and 2-D GlobalAveragePool")
    out4 = _check_rows(out, start, stop)
    out4[:, :, start:stop] = _global_avg_pool(x, attrs, start, stop)


# --------------------------------------------------------------------------- QLinear pools


def _scalar(value: Optional[np.ndarray], dtype: type) -> Any:
    return dtype(0) if value is None else np.asarray(value).reshape(-1)[0].astype(dtype)


def _qparams(inputs: Inputs) -> QParams:
    """The scales and zero points of a QLinear pool's inputs (missing zero points are 0)."""
    zx = inputs[2] if len(inputs) > 2 else None
    zy = inputs[4] if len(inputs) > 4 else None
    return (_scalar(inputs[1], np.float32), int(_scalar(zx, np.int32)),
            _scalar(inputs[3], np.float32), int(_scalar(zy, np.int32)))


def _to_nchw(x: np.ndarray, attrs: Attrs) -> np.ndarray:
    if int(attrs.get("channels_last", 0)):
        return np.moveaxis(x, -1, 1)
    return x


def _from_nchw(y: np.ndarray, attrs: Attrs) -> np.ndarray:
    if int(attrs.get("channels_last", 0)):
        return np.ascontiguousarray(np.moveaxis(y, 1, -1))
    return y


def _global_q(planes: np.ndarray, q: QParams, dtype: np.dtype) -> np.ndarray:
    """MLAS's integer global average of (planes, S) int8/uint8 values."""
    xs, xz, ys, yz = q
    size = planes.shape[1]
    info = np.iinfo(dtype)
    scale = np.float32(xs / (ys * np.float32(size)))
    out = np.empty(planes.shape[0], dtype)
    qlinear_global_avg(np.ascontiguousarray(planes), -xz * size, scale, yz, int(info.min), int(info.max), out)
    return out


def _qlinear_avg_pool(x: np.ndarray, attrs: Attrs, start: int, stop: int, q: QParams) -> np.ndarray:
    if x.dtype not in _INTS:
        raise TypeError(f"QLinearAveragePool takes int8/uint8, got {x.dtype}")
    if any(d != 1 for d in attrs.get("dilations", []) or []):
        raise NotImplementedError("QLinearAveragePool has no dilations")
    x4 = as_image(x)
    win = pool_window(x.shape, attrs)
    n_count, c_count, h, w = x4.shape
    rows = stop - start
    pads = (win.pad_t, win.pad_l, win.pad_b, win.pad_r)
    if (win.k_h, win.k_w) == (h, w) and not any(pads):
        # onnxruntime treats a kernel covering the whole unpadded image as a global pool
        flat = _global_q(x4.reshape(n_count * c_count, h * w), q, x.dtype)
        return np.broadcast_to(flat.reshape(n_count, c_count, 1, 1), (n_count, c_count, rows, win.out_w))
    xs, xz, ys, yz = q
    info = np.iinfo(x.dtype)
    out = np.empty((n_count * c_count, rows, win.out_w), x.dtype)
    if out.size:
        qlinear_avg_pool_rows(np.ascontiguousarray(x4).reshape(-1, h, w), xs, xz, ys, yz, int(info.min),
                              int(info.max), bool(int(attrs.get("count_include_pad", 0))), start, stop,
                              win.out_w, win.k_h, win.k_w, win.s_h, win.s_w, win.pad_t, win.pad_l, out)
    return out.reshape(n_count, c_count, rows, win.out_w)


def _qlinear_avg_run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = _to_nchw(np.asarray(inputs[0]), attrs)
    win = pool_window(x.shape, attrs)
    res = _qlinear_avg_pool(x, attrs, 0, win.out_h, _qparams(inputs))
    return (_from_nchw(np.ascontiguousarray(res).reshape(_out_shape(x, win.out_h, win.out_w)), attrs),)


def _qlinear_avg_run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
    if int(attrs.get("channels_last", 0)):
        raise NotImplementedError("run_rows of channels_last QLinearAveragePool")
    out4 = _check_rows(out, start, stop)
    out4[:, :, start:stop] = _qlinear_avg_pool(np.asarray(inputs[0]), attrs, start, stop, _qparams(inputs))


def _qlinear_global_rows(x: np.ndarray, q: QParams, rows: int) -> np.ndarray:
    if x.dtype not in _INTS:
        raise TypeError(f"QLinearGlobalAveragePool takes int8/uint8, got {x.dtype}")
    n_count, c_count = x.shape[:2]
    flat = _global_q(x.reshape(n_count * c_count, -1), q, x.dtype)
    return np.broadcast_to(flat.reshape(n_count, c_count, 1, 1), (n_count, c_count, rows, 1))


def _qlinear_global_run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = _to_nchw(np.asarray(inputs[0]), attrs)
    res = np.ascontiguousarray(_qlinear_global_rows(x, _qparams(inputs), 1))
    return (_from_nchw(res.reshape(x.shape[:2] + (1,) * (x.ndim - 2)), attrs),)


def _qlinear_global_run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
    x = np.asarray(inputs[0])
    if int(attrs.get("channels_last", 0)) or x.ndim > 4:
        raise NotImplementedError("run_rows of channels_last or 3-D QLinearGlobalAveragePool")
    out4 = _check_rows(out, start, stop)
    out4[:, :, start:stop] = _qlinear_global_rows(x, _qparams(inputs), stop - start)


def _max_unpool(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """MaxPool's inverse: each value written at its flat index (MaxPool's Indices) into zeros."""
    x, indices = np.asarray(inputs[0]), np.asarray(inputs[1]).astype(np.int64)
    kernel = [int(k) for k in attrs.get("kernel_shape") or []]
    rank = len(kernel)
    strides = [int(s) for s in attrs.get("strides") or [1] * rank]
    pads = [int(p) for p in attrs.get("pads") or [0] * (2 * rank)]
    inferred = list(x.shape[:2]) + [(x.shape[2 + i] - 1) * strides[i] - pads[i] - pads[rank + i] + kernel[i]
                                    for i in range(rank)]
    flat = np.zeros(int(np.prod(inferred)), x.dtype)
    flat[indices.reshape(-1)] = x.reshape(-1)
    y = flat.reshape(inferred)
    shape_in = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    if shape_in is None:
        return (y,)
    out = np.zeros([int(d) for d in np.asarray(shape_in).reshape(-1)], x.dtype)
    out[tuple(slice(0, d) for d in inferred)] = y
    return (out,)


_MAX_IMAGE = (*_FLOATS, *_INTS)
KERNELS: tuple[Kernel, ...] = (
    *(_kernel("MaxPool", p, _max_pool, _max_nd, _MAX_IMAGE, _max_pool_with_indices) for p in ("fp32", "fp16", "int8")),
    *(_kernel("AveragePool", p, _avg_pool, _avg_nd, _FLOATS) for p in ("fp32", "fp16")),
    *(_kernel("LpPool", p, _lp_nd, _lp_nd, ()) for p in ("fp32", "fp16")),
    *(Kernel("GlobalMaxPool", p, _global_reduce(_global_max)) for p in ("fp32", "fp16", "int8")),
    *(Kernel("MaxUnpool", p, _max_unpool) for p in ("fp32", "fp16", "int8")),
    *(Kernel("GlobalLpPool", p, _global_reduce(_global_lp)) for p in ("fp32", "fp16")),
    Kernel("GlobalAveragePool", "fp32", _global_run, _global_run_rows, 2),
    Kernel("GlobalAveragePool", "fp16", _global_run, _global_run_rows, 2),
    Kernel("QLinearAveragePool", "int8", _qlinear_avg_run, _qlinear_avg_run_rows, 2),
    Kernel("QLinearGlobalAveragePool", "int8", _qlinear_global_run, _qlinear_global_run_rows, 2),
)
