"""Sampling kernels: GridSample (2-D and volumetric) and AffineGrid, as in spatial transformers.

GridSample reads every output position's normalized coordinates (-1..1, the
last axis of the grid, x first) from ``grid``, maps them to input coordinates
(``align_corners``: -1 and 1 are the centres of the corner pixels, else their
outer edges) and samples ``nearest`` (ties to even), ``linear`` or ``cubic``
(Keys, a = -0.75); positions outside the input read zeros, the border
(clamped) or the input reflected at its border (``padding_mode``), as onnx's
reference does.  Older names ``bilinear`` / ``bicubic`` are accepted.
AffineGrid builds that grid from batches of affine matrices.  Both compute in
float64 and return the input's float type; the whole tensor at once.
"""

from __future__ import annotations

import itertools

import numpy as np

from ...optable.kernel import Attrs, Inputs, Kernel
from ._layout_common import attr_int, attr_str


def _reflect(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect coordinates by the nearer border until they lie within [lo, hi]."""
    span = hi - lo
    if span <= 0:
        return np.full_like(v, lo)
    with np.errstate(invalid="ignore"):
        n, r = np.divmod(lo - v, span)
        out = np.where(v < lo, np.where(n % 2 == 0, lo + r, hi - r), v)
        n, r = np.divmod(v - hi, span)
        return np.where(v > hi, np.where(n % 2 == 0, hi - r, lo + r), out)


def _bounds(size: int, align_corners: bool) -> tuple[float, float]:
    return (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)


def _fetch(x: np.ndarray, index: list[np.ndarray], dims: tuple[int, ...], padding: str,
           align_corners: bool) -> np.ndarray:
    """x[n, :, index...] for every sample, (N, C, *out), with the padding rule outside the input."""
    valid = np.ones(index[0].shape, bool)
    fixed = []
    for i, (idx, size) in enumerate(zip(index, dims)):
        if padding == "zeros":
            valid &= (idx >= 0) & (idx < size)
            idx = np.clip(idx, 0, size - 1)
        elif padding == "border":
            idx = np.clip(idx, 0, size - 1)
        else:
            lo, hi = _bounds(size, align_corners)
            idx = np.clip(_reflect(idx.astype(np.float64), lo, hi).astype(np.int64), 0, size - 1)
        fixed.append(idx)
    batch = np.arange(x.shape[0]).reshape((-1,) + (1,) * (index[0].ndim - 1))
    values = x[(batch, slice(None), *fixed)]  # (N, *out, C)
    values = np.where(valid[..., None], values, 0)
    return np.moveaxis(values, -1, 1)


def _cubic(t: np.ndarray) -> list[np.ndarray]:
    a = -0.75
    t = np.abs(t)
    return [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
            ((a + 2) * t - (a + 3)) * t * t + 1,
            ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
            ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]


def _grid_sample(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x, grid = np.asarray(inputs[0]), np.asarray(inputs[1])
    if x.dtype.kind != "f":
        raise NotImplementedError(f"GridSample of {x.dtype} data")
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(attr_str(attrs, "mode", "linear"),
                                                          attr_str(attrs, "mode", "linear"))
    padding = attr_str(attrs, "padding_mode", "zeros")
    align = bool(attr_int(attrs, "align_corners", 0))
    if mode not in ("nearest", "linear", "cubic") or padding not in ("zeros", "border", "reflection"):
        raise ValueError(f"GridSample: unknown mode {mode!r} or padding_mode {padding!r}")
    dims = tuple(x.shape[2:])
    work = x.astype(np.float64)
    coords = []
    for i, size in enumerate(dims):
        g = grid[..., len(dims) - 1 - i].astype(np.float64)  # the grid lists x (the last axis) first
        c = (g + 1) / 2 * (size - 1) if align else ((g + 1) * size - 1) / 2
        if mode == "nearest":
            c = np.rint(c)
        lo, hi = _bounds(size, align)
        if padding == "border":
            c = np.where((c < lo) | (c > hi), np.clip(c, 0, size - 1), c)
        elif padding == "reflection":
            c = np.where((c < lo) | (c > hi), _reflect(c, lo, hi), c)
        coords.append(c)
    if mode == "nearest":
        y = _fetch(work, [c.astype(np.int64) for c in coords], dims, padding, align)
        return (y.astype(x.dtype),)
    base = [np.floor(c).astype(np.int64) for c in coords]
    frac = [c - b for c, b in zip(coords, base)]
    taps = (0, 1) if mode == "linear" else (-1, 0, 1, 2)
    weights = [[1 - f, f] if mode == "linear" else _cubic(f) for f in frac]
    y = np.zeros((x.shape[0], x.shape[1], *grid.shape[1:-1]))
    for offsets in itertools.product(range(len(taps)), repeat=len(dims)):
        w = np.prod([weights[i][o] for i, o in enumerate(offsets)], axis=0)
        y += w[:, None] * _fetch(work, [b + taps[o] for b, o in zip(base, offsets)], dims, padding, align)
    return (y.astype(x.dtype),)


def _affine_grid(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    theta = np.asarray(inputs[0])
    size = [int(d) for d in np.asarray(inputs[1]).reshape(-1)]
    align = bool(attr_int(attrs, "align_corners", 0))
    spatial = size[2:]
    if len(spatial) not in (2, 3) or theta.shape[1:] != (len(spatial), len(spatial) + 1):
        raise ValueError(f"AffineGrid: theta {list(theta.shape)} does not fit size {size}")
    axes = [np.linspace(-1.0, 1.0, n) if align else (np.arange(n) * 2.0 + 1.0) / n - 1.0 for n in spatial]
    mesh = np.meshgrid(*axes, indexing="ij")  # (D,) H, W
    base = np.stack([*mesh[::-1], np.ones_like(mesh[0])], axis=-1)  # x, y(, z), 1
    grid = np.einsum("...k,nmk->n...m", base, theta.astype(np.float64))
    return (grid.astype(theta.dtype),)


KERNELS: tuple[Kernel, ...] = tuple(
    Kernel(op, precision, fn)
    for op, fn in (("GridSample", _grid_sample), ("AffineGrid", _affine_grid))
    for precision in ("fp32", "fp16")
)
