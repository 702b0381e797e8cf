"""Which rows of an input a band of output rows needs: the block-level dependency map.

For an op blocked along output axis ``a`` (rows ``[start, stop)``), return the
row range of one of its inputs, along the same axis, that those rows read, or
``None`` when no finer map exists and the whole input is needed (reshape,
transpose, global pooling, softmax over the blocked axis, broadcasting that
changes the axis ...).  Convolutions and pools use stride, dilation, kernel
size and padding; transposed convolutions invert that map; resize scales it;
elementwise ops, concat on another axis and row-wise matmul map rows one to one.
"""

from __future__ import annotations

import math
import bisect
from typing import Mapping, Optional, Sequence

from ..ir.graph import OpNode, TensorInfo
from ..optable import RowMap, spec_of

RowRange = tuple[int, int]
#: (axis, first row, end row) of an input
AxisRange = tuple[int, int, int]

#: the row maps of convolution-like windows, their transposes and resize (input 0, H of NCHW)
_SPATIAL = (RowMap.WINDOW, RowMap.TRANSPOSED_WINDOW, RowMap.RESIZE)


def _spatial_params(op: OpNode, in_h: int, kernel_h: int) -> tuple[int, int, int, int]:
    """(stride, dilation, kernel, pad_begin) along H (axis 2) for a window op."""
    strides = op.attrs.get("strides") or [1]
    dilations = op.attrs.get("dilations") or [1]
    s, d = int(strides[0]), int(dilations[0])
    auto_pad = op.attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out_h = math.ceil(in_h / s)
        total = max(0, (out_h - 1) * s + (kernel_h - 1) * d + 1 - in_h)
        pad = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
    elif auto_pad == "VALID":
        pad = 0
    else:
        pads = op.attrs.get("pads") or [0]
        pad = int(pads[0])
    return s, d, kernel_h, pad


def _kernel_h(op: OpNode, tensors: Mapping[str, TensorInfo] | None) -> Optional[int]:
    if "kernel_shape" in op.attrs:
        return int(op.attrs["kernel_shape"][0])
    weight_input = spec_of(op.op_type).cost.weight_input
    w_index = 1 if weight_input is None else weight_input
    if len(op.inputs) <= w_index:
        return None
    w = op.inputs[w_index]
    if w in op.weights:
        shape = op.weights[w].shape
    elif tensors is not None and w in tensors:
        shape = tensors[w].shape
    else:
        return None
    return int(shape[2]) if len(shape) > 2 else None


def needed_rows(
    op: OpNode,
    input_index: int,
    inp: TensorInfo,
    out: TensorInfo,
    axis: int,
    rows: RowRange,
    tensors: Mapping[str, TensorInfo] | None = None,
) -> Optional[AxisRange]:
    """Rows ``(axis, lo, hi)`` of input ``input_index`` that output rows ``rows`` (along ``axis``) read.

    ``None`` means the whole input is needed.
    """
    start, stop = rows
    kind = spec_of(op.op_type).row_map
    if kind in _SPATIAL:
        if input_index != 0 or axis != 2 or len(inp.shape) != 4 or len(out.shape) != 4:
            return None
        if kind is RowMap.RESIZE:
            scale = out.shape[2] / inp.shape[2]
            lo, hi = int(math.floor(start / scale)) - 1, int(math.ceil(stop / scale)) + 1
        else:
            k = _kernel_h(op, tensors)
            if k is None:
                return None
            s, d, k, pad = _spatial_params(op, inp.shape[2], k)
            if kind is RowMap.TRANSPOSED_WINDOW:
                if op.attrs.get("auto_pad", "NOTSET") != "NOTSET":
                    return None
                lo, hi = math.ceil((start + pad - (k - 1) * d) / s), (stop - 1 + pad) // s + 1
            else:
                lo, hi = start * s - pad, (stop - 1) * s - pad + (k - 1) * d + 1
        return 2, max(0, lo), max(0, min(inp.shape[2], hi))
    if kind is RowMap.MATMUL_ROWS:
        # A (input 0) row-wise along its second-to-last axis; B and the scales are read whole
        if input_index != 0 or len(inp.shape) < 2 or axis != len(out.shape) - 2:
            return None
        if inp.shape[-2] != out.shape[-2]:
            return None
        return len(inp.shape) - 2, start, stop
    if kind is RowMap.GEMM_ROWS:
        if input_index != 0 or axis != 0 or op.attrs.get("transA", 0):
            return None
        return 0, start, stop
    if kind in (RowMap.ROWWISE, RowMap.CONCAT):
        if kind is RowMap.CONCAT and normalize_axis(int(op.attrs.get("axis", 0)), len(out.shape)) == axis:
            return None
        in_axis = axis - (len(out.shape) - len(inp.shape))  # numpy broadcasting aligns trailing axes
        if in_axis < 0:
            return None
        if inp.shape[in_axis] == out.shape[axis]:
            return in_axis, start, stop
        if inp.shape[in_axis] == 1:
            return in_axis, 0, 1
    return None


def normalize_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def block_ranges(extent: int, rows_per_block: int) -> list[RowRange]:
    """Split ``[0, extent)`` into bands of ``rows_per_block`` rows (the last may be shorter)."""
    return [(s, min(extent, s + rows_per_block)) for s in range(0, extent, rows_per_block)]


def overlapping(starts: Sequence[int], stops: Sequence[int], lo: int, hi: int) -> range:
    """Indices of bands (sorted, contiguous) that intersect ``[lo, hi)``."""
    if hi <= lo:
        return range(0)
    first = bisect.bisect_right(stops, lo)
    last = bisect.bisect_left(starts, hi)
    return range(first, last)
