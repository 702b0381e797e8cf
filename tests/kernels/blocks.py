"""Checks shared by the kernel tests: block exactness, and closeness for float kernels."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gspsim.kernels import Kernel


def row_count(kernel: Kernel, shape: Sequence[int]) -> int:
    """Rows of an output of ``shape`` along the kernel's row axis (1 when the output lacks that axis)."""
    axis = kernel.row_axis + len(shape) if kernel.row_axis < 0 else kernel.row_axis
    return shape[axis] if 0 <= axis < len(shape) else 1


def check_blocks(
    kernel: Kernel, inputs: list, attrs: dict, cuts: Sequence[int], *, block_buffers: bool = False
) -> None:
    """Any split of the output rows, filled through ``run_rows``, equals ``run`` exactly.

    The output starts poisoned, so an unwritten row shows.  With
    ``block_buffers``, each band written into a buffer of just its rows must
    equal the same rows of the whole result too.  A kernel with ``prepare``
    must give the same bands through one prepared function, as the engine
    calls it.
    """
    assert kernel.run_rows is not None and kernel.row_axis is not None
    full = kernel.run(list(inputs), dict(attrs))[0]
    rows = row_count(kernel, full.shape)
    bounds = sorted({0, rows, *(c % (rows + 1) for c in cuts)})
    out = np.full_like(full, 77 if full.dtype != bool else True)
    axis = kernel.row_axis + full.ndim if kernel.row_axis < 0 else kernel.row_axis
    for start, stop in zip(bounds[:-1], bounds[1:]):
        kernel.run_rows(list(inputs), dict(attrs), out, start, stop)
        if block_buffers and full.ndim > axis:
            index = [slice(None)] * full.ndim
            index[axis] = slice(start, stop)
            band = np.zeros_like(full[tuple(index)])
            kernel.run_rows(list(inputs), dict(attrs), band, start, stop)
            np.testing.assert_array_equal(band, full[tuple(index)])
    assert out.dtype == full.dtype
    np.testing.assert_array_equal(out, full)
    if kernel.prepare is not None:
        prepared = kernel.prepare(list(inputs), dict(attrs))
        out = np.full_like(full, 77)
        for start, stop in zip(bounds[:-1], bounds[1:]):
            prepared(list(inputs), out, start, stop)
        np.testing.assert_array_equal(out, full)


def assert_close(got: np.ndarray, want: np.ndarray, mag: np.ndarray) -> None:
    """Same dtype and shape, and within float tolerance: fp16 one ulp plus 1e-3 of the magnitude bound
    ``mag`` (sum of |terms|), fp32 1e-4 relative plus 1e-5 of ``mag``."""
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape, want.shape)
    g, w = got.astype(np.float64), want.astype(np.float64)
    if want.dtype == np.float16:
        tol = np.spacing(np.abs(want)).astype(np.float64) + 1e-3 * mag
    else:
        tol = 1e-4 * np.abs(w) + 1e-5 * mag
    err = np.abs(g - w)
    assert np.all(err <= tol), f"max excess {np.max(err - tol)} at {np.unravel_index(np.argmax(err - tol), err.shape)}"
