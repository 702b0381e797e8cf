"""Indexing layout kernels: Slice, Gather, Split, Concat and Pad.

dtype-generic numpy.  Slice, Concat and Pad also have a ``run_rows`` that
fills output rows ``[start, stop)`` along :data:`ROW_AXIS` (H of NCHW), so
that the streaming engine can produce them block by block: each row block
reads only the input rows it needs and any split gives exactly ``run``.
"""

from __future__ import annotations

import numpy as np

from ...optable.kernel import Attrs, Inputs
from ._layout_common import (
    contiguous,
    attr_int,
    attr_ints,
    attr_str,
    check_row_rank,
    int_list,
    normalize_axis,
    optional_input,
    rows_dest,
    take_rows,
)

#: Output axis that ``run_rows`` splits (H of an NCHW tensor).
ROW_AXIS = 2


# ----------------------------------------------------------------------------- Slice
_END_OF_AXIS = (2**31 - 1, 2**63 - 1)


def _slice_index(x: np.ndarray, inputs: Inputs) -> tuple[slice, ...]:
    """Python slices implementing ONNX Slice clamping (negative, huge and reversed indices)."""
    starts = int_list(inputs[1]) or []
    ends = int_list(inputs[2]) or []
    axes = int_list(optional_input(inputs, 3))
    steps = int_list(optional_input(inputs, 4))
    if axes is None:
        axes = list(range(len(starts)))
    if steps is None:
        steps = [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError("Slice: starts, ends, axes and steps differ in length")
    index = [slice(None)] * x.ndim
    seen: set[int] = set()
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = normalize_axis(axis, x.ndim)
        if axis in seen:
            raise ValueError(f"Slice: axis {axis} repeated")
        seen.add(axis)
        if step == 0:
            raise ValueError("Slice: step must not be 0")
        dim = x.shape[axis]
        start = start + dim if start < 0 else start
        if end in _END_OF_AXIS:
            # onnxruntime reads INT32_MAX / INT64_MAX as numpy's None: to the end in the step's direction.
            end = dim if step > 0 else -1
        elif end < 0:
            end += dim
        if step > 0:
            start = min(max(start, 0), dim)
            end = min(max(end, 0), dim)
            index[axis] = slice(start, end, step)
        else:
            start = min(max(start, 0), dim - 1)
            end = min(max(end, -1), dim - 1)
            # end == -1 means "through index 0"; Python needs None for that.
            index[axis] = slice(start, end if end >= 0 else None, step)
    return tuple(index)


def slice_op(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """ONNX Slice (opset 13+: starts/ends/axes/steps as inputs)."""
    x = np.asarray(inputs[0])
    return (contiguous(x[_slice_index(x, inputs)]),)


def slice_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
    """Rows ``[start, stop)`` of the Slice output along H."""
    x = np.asarray(inputs[0])
    check_row_rank(x.ndim, ROW_AXIS, "Slice")
    view = x[_slice_index(x, inputs)]
    dest = rows_dest(out, ROW_AXIS, start, stop, view.shape[ROW_AXIS])
    dest[...] = take_rows(view, ROW_AXIS, start, stop)


# ----------------------------------------------------------------------------- Gather
def gather(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Gather along ``axis`` (default 0); negative indices count from the end."""
    x = np.asarray(inputs[0])
    indices = np.asarray(inputs[1]).astype(np.intp, copy=False)
    axis = normalize_axis(attr_int(attrs, "axis", 0), x.ndim)
    dim = x.shape[axis]
    if indices.size and (indices.min() < -dim or indices.max() >= dim):
        raise IndexError(f"Gather: indices outside [-{dim}, {dim - 1}]")
    return (contiguous(np.take(x, indices, axis=axis)),)


# ----------------------------------------------------------------------------- Split
def _split_sizes(dim: int, inputs: Inputs, attrs: Attrs) -> list[int]:
    """Chunk sizes from the split input, the old split attribute, or num_outputs."""
    sizes = int_list(optional_input(inputs, 1))
    if sizes is None:
        sizes = attr_ints(attrs, "split")
    if sizes is not None:
        if sum(sizes) != dim or any(s < 0 for s in sizes):
            raise ValueError(f"Split: sizes {sizes} do not add up to {dim}")
        return sizes
    if "num_outputs" not in attrs:
        raise ValueError(
            "Split without a split input needs num_outputs (opset 18); for older nodes the "
            "frontend must pass the node's output count as attrs['num_outputs']"
        )
    n = attr_int(attrs, "num_outputs", 1)
    chunk = -(-dim // n)
    sizes = [chunk] * (n - 1) + [dim - chunk * (n - 1)]
    if sizes[-1] < 0:
        raise ValueError(f"Split: cannot split {dim} into {n} outputs of {chunk}")
    return sizes


def split(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Split along ``axis`` (default 0) into the given sizes or ``num_outputs`` chunks."""
    x = np.asarray(inputs[0])
    axis = normalize_axis(attr_int(attrs, "axis", 0), x.ndim)
    sizes = _split_sizes(x.shape[axis], inputs, attrs)
    bounds = np.cumsum([0, *sizes])
    return tuple(
        contiguous(take_rows(x, axis, int(a), int(b))) for a, b in zip(bounds[:-1], bounds[1:])
    )


# ----------------------------------------------------------------------------- Concat
def concat(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Concatenate along the required ``axis``."""
    arrays = [np.asarray(a) for a in inputs]
    if "axis" not in attrs:
        raise ValueError("Concat needs the 'axis' attribute")
    axis = normalize_axis(attr_int(attrs, "axis", 0), arrays[0].ndim)
    return (np.concatenate(arrays, axis=axis),)


def concat_rows_into(arrays: list[np.ndarray], axis: int, out: np.ndarray, start: int, stop: int) -> None:
    """Rows ``[start, stop)`` along H of ``concat(arrays, axis)`` written into ``out``.

    Shared with QLinearConcat.  Off the H axis every input contributes the
    same rows; on the H axis the block is stitched from the inputs it overlaps.
    """
    check_row_rank(arrays[0].ndim, ROW_AXIS, "Concat")
    if axis != ROW_AXIS:
        dest = rows_dest(out, ROW_AXIS, start, stop, arrays[0].shape[ROW_AXIS])
        np.concatenate([take_rows(a, ROW_AXIS, start, stop) for a in arrays], axis=axis, out=dest)
        return
    total = sum(a.shape[ROW_AXIS] for a in arrays)
    dest = rows_dest(out, ROW_AXIS, start, stop, total)
    offset = 0
    for a in arrays:
        rows = a.shape[ROW_AXIS]
        lo, hi = max(start, offset), min(stop, offset + rows)
        if lo < hi:
            src = take_rows(a, ROW_AXIS, lo - offset, hi - offset)
            take_rows(dest, ROW_AXIS, lo - start, hi - start)[...] = src
        offset += rows


def concat_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
    """Rows ``[start, stop)`` of the Concat output along H."""
    arrays = [np.asarray(a) for a in inputs]
    axis = normalize_axis(attr_int(attrs, "axis", 0), arrays[0].ndim)
    concat_rows_into(arrays, axis, out, start, stop)


# ----------------------------------------------------------------------------- Pad
_PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _pad_plan(
    x: np.ndarray, inputs: Inputs, attrs: Attrs
) -> tuple[str, tuple[slice, ...], list[tuple[int, int]], np.ndarray]:
    """(mode, crop slices for negative pads, non-negative pad widths, constant value)."""
    mode = attr_str(attrs, "mode", "constant")
    if mode not in _PAD_MODES:
        raise ValueError(f"Pad: unknown mode {mode!r}")
    pads = int_list(inputs[1]) or []
    axes_in = int_list(optional_input(inputs, 3))
    axes = list(range(x.ndim)) if axes_in is None else [normalize_axis(a, x.ndim) for a in axes_in]
    if len(pads) != 2 * len(axes):
        raise ValueError(f"Pad: {len(pads)} pads for {len(axes)} axes")
    begin = [0] * x.ndim
    end = [0] * x.ndim
    for i, axis in enumerate(axes):
        begin[axis] = pads[i]
        end[axis] = pads[i + len(axes)]
    # onnxruntime crops by negative pads first, then pads the cropped tensor.
    crop = tuple(slice(max(-b, 0), x.shape[a] - max(-e, 0)) for a, (b, e) in enumerate(zip(begin, end)))
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    value_in = optional_input(inputs, 2)
    if value_in is None or np.asarray(value_in).size == 0:
        value = np.zeros((), dtype=x.dtype)
    else:
        value = np.asarray(value_in).reshape(-1)[0].astype(x.dtype)
    return mode, crop, widths, value


def _np_pad(x: np.ndarray, widths: list[tuple[int, int]], mode: str, value: np.ndarray) -> np.ndarray:
    """numpy's pad with the ONNX mode names (numpy's reflect repeats for pads beyond the dim)."""
    for axis, (b, e) in enumerate(widths):
        if (b or e) and x.shape[axis] == 0 and mode != "constant":
            raise ValueError(f"Pad: cannot {mode}-pad axis {axis} of size 0")
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=value)
    return np.pad(x, widths, mode=mode)


def pad(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """ONNX Pad (opset 18+): modes constant/reflect/edge/wrap, negative pads crop, optional axes.

    Reflect pads wider than ``dim - 1`` repeat the reflection (numpy / ONNX
    reference semantics); onnxruntime rejects those.
    """
    x = np.asarray(inputs[0])
    mode, crop, widths, value = _pad_plan(x, inputs, attrs)
    return (contiguous(_np_pad(x[crop], widths, mode, value)),)


def pad_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
    """Rows ``[start, stop)`` of the Pad output along H.

    The H source row of every output row comes from padding an index vector
    with the same mode, so blocks agree with ``pad`` for every mode.
    """
    x = np.asarray(inputs[0])
    check_row_rank(x.ndim, ROW_AXIS, "Pad")
    mode, crop, widths, value = _pad_plan(x, inputs, attrs)
    xc = x[crop]
    rows = xc.shape[ROW_AXIS]
    row_map = _np_pad(np.arange(rows, dtype=np.int64), [widths[ROW_AXIS]], mode, np.int64(-1))
    dest = rows_dest(out, ROW_AXIS, start, stop, row_map.shape[0])
    sel = row_map[start:stop]
    other = list(widths)
    other[ROW_AXIS] = (0, 0)
    if rows == 0:
        dest[...] = value
        return
    block = np.take(xc, np.maximum(sel, 0), axis=ROW_AXIS)
    block = _np_pad(block, other, mode, value)
    if mode == "constant":
        const_rows = np.nonzero(sel < 0)[0]
        if const_rows.size:
            index: list[object] = [slice(None)] * block.ndim
            index[ROW_AXIS] = const_rows
            block[tuple(index)] = value
    dest[...] = block
