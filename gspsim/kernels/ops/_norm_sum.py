"""A deterministic fp32 sum over arbitrary axes, for the normalization kernels.

The reduced axes are moved last and the data copied to a contiguous (rows, length) array;
one JIT loop then sums each row with a vectorized order that depends only on the row
length.  So a slice's sum does not depend on how many other slices were summed with it,
which keeps ``run_rows`` blocks bit-identical to ``run``.
"""

from __future__ import annotations

from typing import Sequence

import numba
import numpy as np


@numba.njit(cache=True, fastmath=True)
def _row_sums(x: np.ndarray) -> np.ndarray:  # pragma: no cover - JIT
    """Sum of each row of a C-contiguous fp32 (rows, length) array, accumulated in fp32."""
    rows, length = x.shape
    out = np.empty(rows, np.float32)
    for r in range(rows):
        s = np.float32(0.0)
        for i in range(length):
            s += x[r, i]
        out[r] = s
    return out


def reduce_sum(x: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """fp32 sum of ``x`` over ``axes`` (normalized, non-negative), keeping them as size-1 dims.

    float64 data (a float64 model at fp32) sums in float64, with numpy's pairwise order.
    """
    if np.asarray(x).dtype == np.float64:
        return np.sum(x, axis=tuple(sorted(set(axes))), keepdims=True)
    x = np.asarray(x, np.float32)
    axes = sorted(set(axes))
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, kept + axes)
    rows = int(np.prod([x.shape[a] for a in kept], dtype=np.int64))
    length = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    sums = _row_sums(np.ascontiguousarray(moved).reshape(rows, length))
    keep_shape = [1 if a in axes else x.shape[a] for a in range(x.ndim)]
    return sums.reshape(keep_shape)


def normalize_axes(axes: Sequence[int], ndim: int) -> list[int]:
    """ONNX axes (negative counts from the end) as sorted non-negative ints."""
    out = sorted({int(a) + ndim if int(a) < 0 else int(a) for a in axes})
    for a in out:
        if not 0 <= a < max(ndim, 1):
            raise ValueError(f"axis {a} out of range for rank {ndim}")
    return out
