"""Resize kernels: nearest (any rank, any dtype), linear and cubic (float), every ONNX option.

Registered for fp32, fp16 and int8 (int8 graphs resize quantized tensors,
which only nearest mode handles: integer linear resizing is refused).  The
coordinate arithmetic mirrors onnxruntime's CPU kernel (see
``_resize_plan``); bilinear interpolation runs in one Numba loop in float32
with onnxruntime's term order, float16 data being widened to float32 and the
result rounded back.

Cubic mode, antialias, tf_crop_and_resize, nearest mode with
half_pixel_symmetric and linear resizing of layouts other than 2-D or NCHW
(with N and C scales 1) run through ``_resize_interp.py``: one interpolation
matrix per axis, ONNX's reference formulas, float64 sums.

``run_rows`` fills output rows ``[start, stop)`` along ``row_axis = 2``
(H of NCHW); ``out`` is the whole output or a buffer of ``stop - start`` rows.
"""

from __future__ import annotations

import numba
import numpy as np

from ...optable.kernel import Attrs, Inputs, Kernel
from ._layout_common import check_row_rank, contiguous, rows_dest
from ._resize_interp import interpolate
from ._resize_plan import ResizePlan, linear_layout, linear_taps, make_plan, nearest_index

#: Output axis that ``run_rows`` splits (H of an NCHW tensor).
ROW_AXIS = 2

_FLOATS = (np.dtype(np.float32), np.dtype(np.float16))


@numba.njit(cache=True, nogil=True)
def _bilinear(
    x: np.ndarray,
    y1: np.ndarray,
    y2: np.ndarray,
    dy1: np.ndarray,
    dy2: np.ndarray,
    x1: np.ndarray,
    x2: np.ndarray,
    dx1: np.ndarray,
    dx2: np.ndarray,
    out: np.ndarray,
) -> None:
    """out[b, r, c] from the four neighbours of x[b], onnxruntime's weight products and term order."""
    planes = x.shape[0]
    rows = out.shape[1]
    cols = out.shape[2]
    for b in range(planes):
        for r in range(rows):
            ya = y1[r]
            yb = y2[r]
            wy1 = dy1[r]
            wy2 = dy2[r]
            for c in range(cols):
                xa = x1[c]
                xb = x2[c]
                wx1 = dx1[c]
                wx2 = dx2[c]
                out[b, r, c] = (
                    wx2 * wy2 * x[b, ya, xa]
                    + wx1 * wy2 * x[b, ya, xb]
                    + wx2 * wy1 * x[b, yb, xa]
                    + wx1 * wy1 * x[b, yb, xb]
                )


def _nearest_block(x: np.ndarray, plan: ResizePlan, row_axis: int, start: int, stop: int) -> np.ndarray:
    """Nearest-mode output restricted to rows ``[start, stop)`` of ``row_axis``."""
    y = x
    for axis in range(x.ndim):
        index = nearest_index(plan, axis)
        if axis == row_axis:
            index = index[start:stop]
        elif plan.out_shape[axis] == plan.in_shape[axis] and plan.scales[axis] == np.float32(1.0):
            continue  # identity mapping: nothing to gather
        y = np.take(y, index, axis=axis)
    return y


def _bilinear_block(x: np.ndarray, plan: ResizePlan, start: int, stop: int) -> np.ndarray:
    """Bilinear output rows ``[start, stop)`` of the second-to-last axis, in x's float type."""
    layout = linear_layout(plan)
    if layout is None:
        raise NotImplementedError(
            "Resize linear mode supports 2-D inputs and 4-D NCHW inputs with N and C scales of 1; "
            f"got input {plan.in_shape} with scales {tuple(float(s) for s in plan.scales)}"
        )
    if x.dtype not in _FLOATS:
        raise NotImplementedError(f"Resize linear mode on {x.dtype} is not supported (nearest only)")
    h_axis, w_axis = x.ndim - 2, x.ndim - 1
    h_in, w_in = plan.in_shape[h_axis], plan.in_shape[w_axis]
    w_out = plan.out_shape[w_axis]
    planes = int(np.prod(plan.in_shape[:h_axis], dtype=np.int64))
    y1, y2, dy1, dy2 = (a[start:stop] for a in linear_taps(plan, h_axis))
    x1, x2, dx1, dx2 = linear_taps(plan, w_axis)
    src = np.ascontiguousarray(x, dtype=np.float32).reshape(planes, h_in, w_in)
    buf = np.empty((planes, stop - start, w_out), dtype=np.float32)
    if buf.size:
        _bilinear(src, y1, y2, dy1, dy2, x1, x2, dx1, dx2, buf)
    block_shape = (*plan.out_shape[:h_axis], stop - start, w_out)
    return buf.reshape(block_shape).astype(x.dtype, copy=False)


def resize_run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """ONNX Resize (opset 11-19 attributes, including axes and keep_aspect_ratio_policy)."""
    x = np.asarray(inputs[0])
    plan = make_plan(inputs, attrs)
    if plan.is_copy:
        return (np.array(x, order="C"),)
    if plan.needs_interpolation_matrices:
        return (interpolate(x, plan, list(plan.rois)),)
    if plan.mode == "nearest":
        return (contiguous(_nearest_block(x, plan, -1, 0, 0)),)
    h_axis = x.ndim - 2
    return (_bilinear_block(x, plan, 0, plan.out_shape[h_axis]),)


def resize_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
    """Rows ``[start, stop)`` along H of the Resize output (only those rows are computed)."""
    x = np.asarray(inputs[0])
    check_row_rank(x.ndim, ROW_AXIS, "Resize")
    plan = make_plan(inputs, attrs)
    dest = rows_dest(out, ROW_AXIS, start, stop, plan.out_shape[ROW_AXIS])
    if plan.is_copy:
        dest[...] = x[:, :, start:stop]
        return
    if plan.needs_interpolation_matrices:
        dest[...] = interpolate(x, plan, list(plan.rois), ROW_AXIS, start, stop)
        return
    if plan.mode == "nearest":
        dest[...] = _nearest_block(x, plan, ROW_AXIS, start, stop)
        return
    if x.ndim != 4:
        raise NotImplementedError("Resize linear run_rows needs a 4-D NCHW input")
    dest[...] = _bilinear_block(x, plan, start, stop)


KERNELS: tuple[Kernel, ...] = tuple(
    Kernel("Resize", precision, resize_run, resize_rows, ROW_AXIS) for precision in ("fp32", "fp16", "int8")
)
