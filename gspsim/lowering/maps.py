"""Which part of each input a tile of output reads: its rows, channels and columns.

A tile covers output rows ``[r0, r1)`` along the node's row axis (the axis its
kernel computes in parts), output channels ``[c0, c1)`` along its channel axis
and columns ``[w0, w1)`` along its column axis (see :mod:`gspsim.lowering.tiling`).
For each activation input these functions give the matching input range on
each axis, or ``None`` when the tile needs that input whole along the axis:

* rows and columns: convolution and pool windows with stride, dilation and
  padding; the inverse map for transposed convolutions; a scaled window for
  resize; the same range for elementwise ops, concat on another axis and
  row-wise matmul; the whole axis otherwise (reshape, transpose, global pooling,
  softmax over the blocked axis ...);
* channels: every input channel for a dense convolution or a matmul (the
  reduction axis), the channels of the same groups for grouped and depthwise
  convolutions, the same channels for pools, normalization and elementwise
  ops, and the whole axis for anything else.

Broadcasting follows numpy: trailing axes align, and an input axis of extent 1
is read as its single row.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from ..ir.graph import OpNode, TensorInfo
from ..optable import OpSpec, RowMap, spec_of

Range = tuple[int, int]
#: (input axis, first, end) of an input
AxisRange = tuple[int, int, int]

#: the row maps of convolution-like windows, their transposes and resize (input 0, H and W of NCHW)
_SPATIAL = (RowMap.WINDOW, RowMap.TRANSPOSED_WINDOW, RowMap.RESIZE)


def _is_conv(spec: OpSpec) -> bool:
    """A convolution window (MACs over its weight): Conv, ConvInteger, QLinearConv."""
    return spec.row_map is RowMap.WINDOW and spec.does_macs


def _same_channel(spec: OpSpec) -> bool:
    """Output channel (and column) c reads input channel (and column) c: elementwise ops, pools, resize."""
    return spec.elementwise or spec.row_map is RowMap.RESIZE or (spec.row_map is RowMap.WINDOW and not spec.does_macs)


def _channel_split(spec: OpSpec) -> bool:
    """Whether the op's output channels may be split into groups (the channel map is known)."""
    return _same_channel(spec) or _is_conv(spec) or spec.row_map in (RowMap.MATMUL_ROWS, RowMap.GEMM_ROWS)


@dataclass(frozen=True)
class TileAxes:
    """The output axes a node's tiles split: rows (bands), channels (groups), columns; None = not split."""

    row: Optional[int]
    channel: Optional[int]
    col: Optional[int]


def normalize_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def tile_axes(op: OpNode, row_axis: Optional[int], out: Optional[TensorInfo]) -> TileAxes:
    """The axes a node is tiled along, given the row axis its kernel computes in parts (None: one whole tile)."""
    if row_axis is None or out is None:
        return TileAxes(None, None, None)
    rank = len(out.shape)
    spec = spec_of(op.op_type)
    channel: Optional[int] = None
    if _channel_split(spec):
        if spec.row_map in (RowMap.MATMUL_ROWS, RowMap.GEMM_ROWS) or rank < 4:
            channel = rank - 1
        else:
            channel = 1
        if channel == row_axis or out.shape[channel] <= 1:
            channel = None
    col = 3 if rank == 4 and row_axis == 2 and (spec.row_map is RowMap.WINDOW or _same_channel(spec)) else None
    if col is not None and out.shape[col] <= 1:
        col = None
    return TileAxes(row_axis, channel, col)


# --- rows and columns ------------------------------------------------------------------------------
def _window_params(op: OpNode, spatial: int, in_extent: int, kernel: int) -> tuple[int, int, int]:
    """(stride, dilation, pad_begin) of a window op along spatial axis ``spatial`` (0 = H, 1 = W)."""
    strides = op.attrs.get("strides") or [1, 1]
    dilations = op.attrs.get("dilations") or [1, 1]
    s = int(strides[spatial]) if len(strides) > spatial else 1
    d = int(dilations[spatial]) if len(dilations) > spatial else 1
    auto_pad = op.attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = math.ceil(in_extent / s)
        total = max(0, (out - 1) * s + (kernel - 1) * d + 1 - in_extent)
        pad = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
    elif auto_pad == "VALID":
        pad = 0
    else:
        pads = op.attrs.get("pads") or [0, 0, 0, 0]
        pad = int(pads[spatial]) if len(pads) > spatial else 0
    return s, d, pad


def _kernel_extent(op: OpNode, spatial: int, tensors: Mapping[str, TensorInfo]) -> Optional[int]:
    """Kernel size of a window op along spatial axis ``spatial``."""
    if "kernel_shape" in op.attrs:
        shape = op.attrs["kernel_shape"]
        return int(shape[spatial]) if len(shape) > spatial else None
    weight_input = spec_of(op.op_type).cost.weight_input
    w_index = 1 if weight_input is None else weight_input
    if len(op.inputs) <= w_index:
        return None
    w = op.inputs[w_index]
    if w in op.weights:
        shape = op.weights[w].shape
    elif w in tensors:
        shape = tensors[w].shape
    else:
        return None
    return int(shape[2 + spatial]) if len(shape) > 2 + spatial else None


def _spatial_range(op: OpNode, input_index: int, inp: TensorInfo, out: TensorInfo, axis: int, rng: Range,
                   tensors: Mapping[str, TensorInfo]) -> Optional[Range]:
    """Input range along spatial axis ``axis`` (2 = H, 3 = W) that output range ``rng`` of a window-like op reads."""
    kind = spec_of(op.op_type).row_map
    if input_index != 0 or len(inp.shape) != 4 or len(out.shape) != 4:
        return None
    start, stop = rng
    extent = inp.shape[axis]
    spatial = axis - 2
    if kind is RowMap.RESIZE:
        scale = out.shape[axis] / extent
        lo, hi = int(math.floor(start / scale)) - 1, int(math.ceil(stop / scale)) + 1
    else:
        k = _kernel_extent(op, spatial, tensors)
        if k is None:
            return None
        s, d, pad = _window_params(op, spatial, extent, k)
        if kind is RowMap.TRANSPOSED_WINDOW:
            if op.attrs.get("auto_pad", "NOTSET") != "NOTSET":
                return None
            lo, hi = math.ceil((start + pad - (k - 1) * d) / s), (stop - 1 + pad) // s + 1
        else:
            lo, hi = start * s - pad, (stop - 1) * s - pad + (k - 1) * d + 1
    return max(0, lo), max(0, min(extent, hi))


def _aligned_range(inp: TensorInfo, out: TensorInfo, axis: int, rng: Range) -> Optional[AxisRange]:
    """The same range on the input axis aligned with output ``axis`` (numpy broadcasting); None: read whole."""
    in_axis = axis - (len(out.shape) - len(inp.shape))
    if in_axis < 0:
        return None
    if inp.shape[in_axis] == out.shape[axis]:
        return in_axis, rng[0], rng[1]
    if inp.shape[in_axis] == 1:
        return in_axis, 0, 1
    return None


def needed_rows(op: OpNode, input_index: int, inp: TensorInfo, out: TensorInfo, axis: int, rows: Range,
                tensors: Mapping[str, TensorInfo]) -> Optional[AxisRange]:
    """Rows ``(axis, lo, hi)`` of input ``input_index`` that output rows ``rows`` (along ``axis``) read; None: whole."""
    kind = spec_of(op.op_type).row_map
    if kind in _SPATIAL:
        if axis != 2:
            return None
        rng = _spatial_range(op, input_index, inp, out, 2, rows, tensors)
        return None if rng is None else (2, rng[0], rng[1])
    if kind is RowMap.MATMUL_ROWS:
        # A (input 0) row-wise along its second-to-last axis; B and the scales are read whole
        if input_index != 0 or len(inp.shape) < 2 or axis != len(out.shape) - 2 or inp.shape[-2] != out.shape[-2]:
            return None
        return len(inp.shape) - 2, rows[0], rows[1]
    if kind is RowMap.GEMM_ROWS:
        if input_index != 0 or axis != 0 or op.attrs.get("transA", 0):
            return None
        return 0, rows[0], rows[1]
    if kind in (RowMap.ROWWISE, RowMap.CONCAT):
        if kind is RowMap.CONCAT and normalize_axis(int(op.attrs.get("axis", 0)), len(out.shape)) == axis:
            return None
        return _aligned_range(inp, out, axis, rows)
    return None


def needed_cols(op: OpNode, input_index: int, inp: TensorInfo, out: TensorInfo, cols: Range,
                tensors: Mapping[str, TensorInfo]) -> Optional[AxisRange]:
    """Columns (axis 3 of NCHW) of an input that output columns ``cols`` read; None: the whole axis."""
    spec = spec_of(op.op_type)
    if spec.row_map in (RowMap.WINDOW, RowMap.RESIZE):
        rng = _spatial_range(op, input_index, inp, out, 3, cols, tensors)
        return None if rng is None else (3, rng[0], rng[1])
    if _same_channel(spec):
        return _aligned_range(inp, out, 3, cols)
    return None


# --- channels ----------------------------------------------------------------------------------------
def needed_channels(op: OpNode, input_index: int, inp: TensorInfo, out: TensorInfo, axis: int, channels: Range
                    ) -> Optional[AxisRange]:
    """Channels of an input that output channels ``channels`` (along output ``axis``) read; None: the whole axis."""
    spec = spec_of(op.op_type)
    if _is_conv(spec):
        if input_index != 0 or len(inp.shape) != 4:
            return None
        group = int(op.attrs.get("group", 1))
        if group <= 1:
            return None
        out_per_group = out.shape[1] // group
        in_per_group = inp.shape[1] // group
        first, last = channels[0] // out_per_group, (channels[1] - 1) // out_per_group + 1
        return 1, first * in_per_group, last * in_per_group
    if spec.row_map is RowMap.MATMUL_ROWS:
        # B (input 1) when computed at run time: its columns of these output channels, every row of K
        if input_index == 1 and len(inp.shape) >= 2 and inp.shape[-1] == out.shape[-1]:
            return len(inp.shape) - 1, channels[0], channels[1]
        return None
    if _same_channel(spec):
        return _aligned_range(inp, out, axis, channels)
    return None


def range_bytes(info: TensorInfo, ranges: Sequence[Optional[AxisRange]]) -> int:
    """Bytes of ``info`` restricted to the given (axis, lo, hi) ranges (None entries: whole)."""
    extents = list(info.shape)
    for r in ranges:
        if r is not None:
            extents[r[0]] = max(0, r[2] - r[1])
    size = 1
    for e in extents:
        size *= int(e)
    return size * info.itemsize


def split_ranges(extent: int, size: int) -> list[Range]:
    """``[0, extent)`` in consecutive ranges of ``size`` (the last may be shorter)."""
    size = max(1, size)
    return [(s, min(extent, s + size)) for s in range(0, extent, size)]


def overlapping(starts: Sequence[int], stops: Sequence[int], lo: int, hi: int) -> range:
    """Indices of ranges (sorted, contiguous) that intersect ``[lo, hi)``."""
    if hi <= lo:
        return range(0)
    return range(bisect.bisect_right(stops, lo), bisect.bisect_left(starts, hi))


def weight_channel_axis(op: OpNode) -> Optional[tuple[str, int]]:
    """(weight name, axis) along which a channel-split op's main weight follows its output channels.

    A convolution's weight is cut along its first axis (output channels), a matmul's B along its
    last, a Gemm's B along its last or, with transB, its first.
    """
    spec = spec_of(op.op_type)
    index = spec.cost.weight_input
    if index is None or len(op.inputs) <= index or op.inputs[index] not in op.weights:
        return None
    if _is_conv(spec):
        return op.inputs[index], 0
    if spec.row_map is RowMap.MATMUL_ROWS:
        return op.inputs[index], -1
    if spec.row_map is RowMap.GEMM_ROWS:
        return op.inputs[index], 0 if op.attrs.get("transB", 0) else 1
    return None
