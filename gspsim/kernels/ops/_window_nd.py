"""Convolutions and pools over any number of spatial axes (3-D video and volumetric models).

The 1-D and 2-D kernels (``conv.py``, ``pool.py``) have Numba loops tuned for
images; this module is their general form, in numpy: the output is built one
kernel tap at a time, each tap a strided slice of the padded input (a tensor
contraction over channels for convolutions).  It serves every spatial rank,
and computes what the image kernels do not: MaxPool's Indices output and
LpPool.  Output rows ``[start, stop)`` are taken along the first spatial axis
(axis 2), like the image kernels' ``run_rows``.

Window geometry comes from :func:`._conv_geometry.window_axes` (the same
rules as the image kernels).  Pools accumulate in float32 (float64 for
float64 data) in tap order, kernel axis by kernel axis.
"""

from __future__ import annotations

import itertools
from typing import Optional, Sequence

import numpy as np

from ._conv_geometry import AxisWindow


def _work_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def _padded(x: np.ndarray, axes: Sequence[AxisWindow], fill: object) -> np.ndarray:
    """``x`` padded at the begin by each axis' padding and at the end as far as the last window reaches."""
    widths = [(0, 0), (0, 0)]
    for a in axes:
        reach = (a.out - 1) * a.s + (a.k - 1) * a.d + 1 if a.out > 0 else 0
        widths.append((a.pad_begin, max(0, reach - a.pad_begin - a.size)))
    return np.pad(x, widths, mode="constant", constant_values=fill)


def _tap_slices(axes: Sequence[AxisWindow], tap: Sequence[int], start: int, stop: int) -> tuple[slice, ...]:
    """The strided slice of the padded input that kernel tap ``tap`` reads for output rows [start, stop)."""
    index: list[slice] = [slice(None), slice(None)]
    for i, (a, t) in enumerate(zip(axes, tap)):
        lo, hi = (start, stop) if i == 0 else (0, a.out)
        first = lo * a.s + t * a.d
        index.append(slice(first, first + (hi - lo - 1) * a.s + 1, a.s) if hi > lo else slice(0, 0))
    return tuple(index)


def _taps(axes: Sequence[AxisWindow]) -> "itertools.product[tuple[int, ...]]":
    return itertools.product(*(range(a.k) for a in axes))


def _inside(axes: Sequence[AxisWindow], extent: bool) -> np.ndarray:
    """1 where a padded position is inside the image (``extent``: inside the image plus its paddings)."""
    masks = []
    for a in axes:
        reach = (a.out - 1) * a.s + (a.k - 1) * a.d + 1 if a.out > 0 else 0
        n = max(a.pad_begin + a.size, reach)
        pos = np.arange(n) - a.pad_begin
        hi = a.size + (a.pad_end if extent else 0)
        lo = -a.pad_begin if extent else 0
        masks.append(((pos >= lo) & (pos < hi)).astype(np.float32))
    grid = masks[0]
    for m in masks[1:]:
        grid = np.multiply.outer(grid, m)
    return grid.reshape((1, 1, *grid.shape))


def max_pool_nd(x: np.ndarray, axes: Sequence[AxisWindow], start: int, stop: int,
                storage_order: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MaxPool output rows [start, stop) and ONNX's Indices (flat, padding not counted; first maximum wins)."""
    if x.dtype.kind == "f":
        lowest: object = -np.inf
    elif x.dtype.kind in "iu":
        lowest = np.iinfo(x.dtype).min
    else:
        raise NotImplementedError(f"MaxPool of {x.dtype} data")
    xp = _padded(x, axes, lowest)
    # flat input index of every padded position (padding: -1, never the maximum's index)
    sizes = [a.size for a in axes]
    coords = np.meshgrid(*[np.arange(xp.shape[2 + i]) - a.pad_begin for i, a in enumerate(axes)], indexing="ij")
    flat = np.zeros(coords[0].shape, np.int64)
    order = range(len(axes)) if storage_order == 0 else reversed(range(len(axes)))
    for i in order:
        flat = flat * sizes[i] + coords[i]
    plane = int(np.prod(sizes))
    flat = flat[None, None] + (np.arange(x.shape[0] * x.shape[1], dtype=np.int64) * plane).reshape(
        x.shape[0], x.shape[1], *([1] * len(axes)))
    shape = (x.shape[0], x.shape[1], max(0, stop - start), *[a.out for a in axes[1:]])
    best = np.full(shape, lowest, x.dtype)
    where = np.full(shape, -1, np.int64)
    first = True
    for tap in _taps(axes):
        index = _tap_slices(axes, tap, start, stop)
        v = xp[index]
        better = v > best if not first else np.ones(shape, bool)
        first = False
        best = np.where(better, v, best)
        where = np.where(better, np.broadcast_to(flat, xp.shape)[index], where)
    return best, where


def avg_pool_nd(x: np.ndarray, axes: Sequence[AxisWindow], start: int, stop: int,
                count_include_pad: bool) -> np.ndarray:
    """AveragePool output rows [start, stop): onnxruntime's divisors (see pool.py)."""
    work = _work_dtype(x.dtype)
    xp = _padded(x.astype(work), axes, 0)
    counts = _inside(axes, extent=count_include_pad)
    shape = (x.shape[0], x.shape[1], max(0, stop - start), *[a.out for a in axes[1:]])
    total = np.zeros(shape, work)
    n = np.zeros((1, 1, *shape[2:]), np.float32)
    for tap in _taps(axes):
        index = _tap_slices(axes, tap, start, stop)
        total += xp[index]
        n += counts[index]
    return (total / np.maximum(n, 1).astype(work)).astype(x.dtype)


def lp_pool_nd(x: np.ndarray, axes: Sequence[AxisWindow], start: int, stop: int, p: float) -> np.ndarray:
    """LpPool output rows [start, stop): (sum over the window of |x|^p)^(1/p), padding counting 0."""
    work = _work_dtype(x.dtype)
    xp = _padded(np.abs(x.astype(work)), axes, 0)
    shape = (x.shape[0], x.shape[1], max(0, stop - start), *[a.out for a in axes[1:]])
    total = np.zeros(shape, work)
    for tap in _taps(axes):
        total += xp[_tap_slices(axes, tap, start, stop)] ** work.type(p)
    return (total ** work.type(1.0 / p)).astype(x.dtype)


def conv_nd(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], axes: Sequence[AxisWindow], group: int,
            start: int, stop: int) -> np.ndarray:
    """Conv output rows [start, stop) in float32 (float64 for float64 data): one contraction per tap."""
    work = _work_dtype(x.dtype)
    n_count, c_in = x.shape[:2]
    m_out = w.shape[0]
    if c_in % group or m_out % group or w.shape[1] * group != c_in:
        raise ValueError(f"bad Conv shapes: x {list(x.shape)}, w {list(w.shape)}, group {group}")
    cg, mg = c_in // group, m_out // group
    xp = _padded(x.astype(work), axes, 0)
    wg = w.astype(work).reshape(group, mg, cg, *w.shape[2:])
    shape = (n_count, group, mg, max(0, stop - start), *[a.out for a in axes[1:]])
    out = np.zeros(shape, work)
    for tap in _taps(axes):
        v = xp[_tap_slices(axes, tap, start, stop)].reshape(n_count, group, cg, *shape[3:])
        out += np.einsum("ngc...,gmc->ngm...", v, wg[(slice(None), slice(None), slice(None), *tap)])
    out = out.reshape(n_count, m_out, *shape[3:])
    if b is not None:
        out += np.asarray(b, work).reshape(1, m_out, *([1] * len(axes)))
    return out


def conv_transpose_nd(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], axes: Sequence[AxisWindow],
                      group: int) -> np.ndarray:
    """ConvTranspose in float32 (float64 for float64 data); ``axes[i].out`` the output size, ``pad_begin`` its crop."""
    work = _work_dtype(x.dtype)
    n_count, c_in = x.shape[:2]
    if w.shape[0] != c_in or c_in % group:
        raise ValueError(f"bad ConvTranspose shapes: x {list(x.shape)}, w {list(w.shape)}, group {group}")
    cg, mg = c_in // group, w.shape[1]
    full = [max((a.size - 1) * a.s + (a.k - 1) * a.d + 1, a.pad_begin + a.out) for a in axes]
    acc = np.zeros((n_count, group, mg, *full), work)
    xg = x.astype(work).reshape(n_count, group, cg, *x.shape[2:])
    wg = w.astype(work).reshape(group, cg, mg, *w.shape[2:])
    for tap in _taps(axes):
        contrib = np.einsum("ngc...,gcm->ngm...", xg, wg[(slice(None), slice(None), slice(None), *tap)])
        index = tuple(slice(t * a.d, t * a.d + (a.size - 1) * a.s + 1, a.s) for a, t in zip(axes, tap))
        acc[(slice(None), slice(None), slice(None), *index)] += contrib
    crop = tuple(slice(a.pad_begin, a.pad_begin + a.out) for a in axes)
    out = np.zeros((n_count, group * mg, *[a.out for a in axes]), work)
    window = acc[(slice(None), slice(None), slice(None), *(slice(max(0, c.start), c.stop) for c in crop))]
    out[(slice(None), slice(None), *(slice(max(0, -c.start), max(0, -c.start) + s)
                                     for c, s in zip(crop, window.shape[3:])))] = window.reshape(
        n_count, group * mg, *window.shape[3:])
    if b is not None:
        out += np.asarray(b, work).reshape(1, group * mg, *([1] * len(axes)))
    return out
