"""Selection, scattering, scans and rearrangements, dtype-generic (registered under "any").

GatherElements, GatherND, ScatterElements, ScatterND (with their ``reduction``),
TensorScatter (a KV cache written in place, linear or circular), TopK, NonZero,
Compress, Trilu, CumSum, CumProd, ReverseSequence, EyeLike, DepthToSpace,
SpaceToDepth, CenterCropPad, BitCast, OneHot and NonMaxSuppression, with ONNX's semantics (negative
indices count from the end; TopK keeps the lower index first among equal
values, as onnxruntime does).  Everything is numpy on whole tensors.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ...optable.kernel import Attrs, Inputs
from ._layout_common import attr_int, attr_ints, attr_str, contiguous, int_list, normalize_axis, onnx_dtype, \
    optional_input

_REDUCE: dict[str, Callable[..., None]] = {
    "add": np.add.at, "mul": np.multiply.at, "max": np.maximum.at, "min": np.minimum.at,
}


def _indices(indices: np.ndarray, size: int) -> np.ndarray:
    idx = np.asarray(indices).astype(np.int64)
    if np.any(idx < -size) or np.any(idx >= size):
        raise IndexError(f"index out of range for an axis of {size}")
    return np.where(idx < 0, idx + size, idx)


def gather_elements(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    data = np.asarray(inputs[0])
    axis = normalize_axis(attr_int(attrs, "axis", 0), data.ndim)
    return (contiguous(np.take_along_axis(data, _indices(inputs[1], data.shape[axis]), axis=axis)),)


def _element_grid(indices: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    grid = list(np.indices(indices.shape, sparse=True))
    grid[axis] = indices
    return tuple(grid)


def scatter_elements(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    data = np.array(inputs[0])
    axis = normalize_axis(attr_int(attrs, "axis", 0), data.ndim)
    updates = np.asarray(inputs[2], data.dtype)
    where = _element_grid(_indices(inputs[1], data.shape[axis]), axis)
    reduction = attr_str(attrs, "reduction", "none")
    if reduction == "none":
        data[where] = updates
    elif reduction in _REDUCE:
        _REDUCE[reduction](data, where, updates)
    else:
        raise ValueError(f"ScatterElements: unknown reduction {reduction!r}")
    return (data,)


def gather_nd(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    data, indices = np.asarray(inputs[0]), np.asarray(inputs[1]).astype(np.int64)
    b = attr_int(attrs, "batch_dims", 0)
    batch = data.shape[:b]
    depth = indices.shape[-1]
    flat_data = data.reshape((-1,) + data.shape[b:])
    flat_idx = indices.reshape((-1,) + indices.shape[b:])
    sizes = np.array(data.shape[b:b + depth])
    out = []
    for d, i in zip(flat_data, flat_idx):
        rows = i.reshape(-1, depth)
        rows = np.where(rows < 0, rows + sizes, rows)
        out.append(np.stack([d[tuple(r)] for r in rows]).reshape(i.shape[:-1] + d.shape[depth:]) if rows.size
                   else np.zeros(i.shape[:-1] + d.shape[depth:], data.dtype))
    return (contiguous(np.stack(out).reshape(batch + indices.shape[b:-1] + data.shape[b + depth:])),)


def scatter_nd(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    data = np.array(inputs[0])
    indices = np.asarray(inputs[1]).astype(np.int64)
    updates = np.asarray(inputs[2], data.dtype)
    depth = indices.shape[-1]
    sizes = np.array(data.shape[:depth])
    rows = indices.reshape(-1, depth)
    rows = np.where(rows < 0, rows + sizes, rows)
    upd = updates.reshape((-1,) + data.shape[depth:])
    reduction = attr_str(attrs, "reduction", "none")
    for r, u in zip(rows, upd):
        where = tuple(r)
        if reduction == "none":
            data[where] = u
        elif reduction == "add":
            data[where] = data[where] + u
        elif reduction == "mul":
            data[where] = data[where] * u
        elif reduction == "max":
            data[where] = np.maximum(data[where], u)
        elif reduction == "min":
            data[where] = np.minimum(data[where], u)
        else:
            raise ValueError(f"ScatterND: unknown reduction {reduction!r}")
    return (data,)


def tensor_scatter(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """TensorScatter: ``update`` written into a copy of ``past_cache`` along ``axis`` from each batch's index."""
    cache = np.array(inputs[0])
    update = np.asarray(inputs[1], cache.dtype)
    axis = normalize_axis(attr_int(attrs, "axis", -2), cache.ndim)
    mode = attr_str(attrs, "mode", "linear")
    if mode not in ("linear", "circular"):
        raise ValueError(f"TensorScatter: unknown mode {mode!r}")
    starts = optional_input(inputs, 2)
    starts = np.zeros(cache.shape[0], np.int64) if starts is None else np.asarray(starts, np.int64).reshape(-1)
    length, capacity = update.shape[axis], cache.shape[axis]
    for prefix in np.ndindex(cache.shape[:axis]):
        for s in range(length):
            at = int(starts[prefix[0]]) + s
            at = at % capacity if mode == "circular" else at
            cache[(*prefix, at)] = update[(*prefix, s)]
    return (cache,)


def top_k(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = np.asarray(inputs[0])
    k = int(np.asarray(inputs[1]).reshape(-1)[0])
    axis = normalize_axis(attr_int(attrs, "axis", -1), x.ndim)
    if not 0 <= k <= x.shape[axis]:
        raise ValueError(f"TopK: k={k} for an axis of {x.shape[axis]}")
    largest = attr_int(attrs, "largest", 1)
    keys = -x if largest and x.dtype.kind != "b" else x
    if largest and x.dtype.kind in "u":
        keys = np.iinfo(x.dtype).max - x
    order = np.argsort(keys, axis=axis, kind="stable")
    index = np.take(order, np.arange(k), axis=axis)
    return contiguous(np.take_along_axis(x, index, axis=axis)), contiguous(index.astype(np.int64))


def non_zero(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = np.asarray(inputs[0])
    return (np.array(np.nonzero(x if x.ndim else x.reshape(1)), dtype=np.int64).reshape(max(x.ndim, 1), -1),)


def compress(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x, condition = np.asarray(inputs[0]), np.asarray(inputs[1]).astype(bool).reshape(-1)
    axis = attrs.get("axis")
    if axis is None:
        return (contiguous(np.compress(condition, x.reshape(-1))),)
    return (contiguous(np.compress(condition, x, axis=normalize_axis(int(axis), x.ndim))),)


def trilu(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = np.asarray(inputs[0])
    k_in = optional_input(inputs, 1)
    k = 0 if k_in is None else int(np.asarray(k_in).reshape(-1)[0])
    return (contiguous(np.triu(x, k) if attr_int(attrs, "upper", 1) else np.tril(x, k)),)


def _scan(op: Callable[..., np.ndarray], identity: int) -> Callable[[Inputs, Attrs], tuple[np.ndarray, ...]]:
    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        x = np.asarray(inputs[0])
        axis = normalize_axis(int(np.asarray(inputs[1]).reshape(-1)[0]), x.ndim)
        y = np.flip(x, axis) if attr_int(attrs, "reverse", 0) else x
        out = op(y, axis=axis, dtype=x.dtype)
        if attr_int(attrs, "exclusive", 0):
            out = np.concatenate([np.full_like(np.take(out, [0], axis=axis), identity),
                                  np.take(out, np.arange(out.shape[axis] - 1), axis=axis)], axis=axis)
        return (contiguous(np.flip(out, axis) if attr_int(attrs, "reverse", 0) else out),)

    return run


cum_sum = _scan(np.cumsum, 0)
cum_prod = _scan(np.cumprod, 1)


def reverse_sequence(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = np.array(inputs[0])
    lengths = np.asarray(inputs[1]).astype(np.int64).reshape(-1)
    batch_axis, time_axis = attr_int(attrs, "batch_axis", 1), attr_int(attrs, "time_axis", 0)
    out = x.copy()
    for b, n in enumerate(lengths):
        src = [slice(None)] * x.ndim
        src[batch_axis], src[time_axis] = b, slice(0, int(n))
        out[tuple(src)] = np.flip(x[tuple(src)], axis=time_axis - (1 if batch_axis < time_axis else 0))
    return (out,)


def eye_like(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = np.asarray(inputs[0])
    dtype = onnx_dtype(int(attrs["dtype"])) if "dtype" in attrs else x.dtype
    return (np.eye(x.shape[0], x.shape[1], k=attr_int(attrs, "k", 0), dtype=dtype),)


def depth_to_space(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = np.asarray(inputs[0])
    b = attr_int(attrs, "blocksize", 0)
    n, c, h, w = x.shape
    if attr_str(attrs, "mode", "DCR") == "DCR":
        y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return (contiguous(y.reshape(n, c // (b * b), h * b, w * b)),)


def space_to_depth(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = np.asarray(inputs[0])
    b = attr_int(attrs, "blocksize", 0)
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // b, b, w // b, b)
    y = y.transpose(0, 3, 5, 1, 2, 4) if attr_str(attrs, "mode", "DCR") == "DCR" else y.transpose(0, 1, 3, 5, 2, 4)
    return (contiguous(y.reshape(n, c * b * b, h // b, w // b)),)


def center_crop_pad(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = np.asarray(inputs[0])
    target = int_list(inputs[1]) or []
    axes = [normalize_axis(a, x.ndim) for a in (attr_ints(attrs, "axes") or range(x.ndim))]
    out_shape = list(x.shape)
    for a, size in zip(axes, target):
        out_shape[a] = size
    out = np.zeros(out_shape, x.dtype)
    src, dst = [slice(None)] * x.ndim, [slice(None)] * x.ndim
    for a in axes:
        have, want = x.shape[a], out_shape[a]
        if have >= want:  # crop: centred, the extra element at the end
            start = (have - want) // 2
            src[a], dst[a] = slice(start, start + want), slice(0, want)
        else:  # pad: centred, the extra element at the end
            start = (want - have) // 2
            src[a], dst[a] = slice(0, have), slice(start, start + have)
    out[tuple(dst)] = x[tuple(src)]
    return (out,)


def one_hot(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """``values[1]`` where the index (negative ones wrap) equals the position along the new ``axis``, else ``values[0]``."""
    indices = np.asarray(inputs[0])
    depth = int(np.asarray(inputs[1]).reshape(-1)[0])
    values = np.asarray(inputs[2]).reshape(-1)
    axis = normalize_axis(attr_int(attrs, "axis", -1), indices.ndim + 1)
    idx = indices.astype(np.int64)
    idx = np.where(idx < 0, idx + depth, idx)
    positions = np.arange(depth).reshape((1,) * axis + (depth,) + (1,) * (indices.ndim - axis))
    hit = np.expand_dims(idx, axis) == positions
    return (np.where(hit, values[1], values[0]).astype(values.dtype),)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union of one (y1, x1, y2, x2) box with many."""
    lo = np.maximum(box[:2], others[:, :2])
    hi = np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(others[:, 2:] - others[:, :2], axis=1)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def non_max_suppression(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Greedy per (batch, class): highest score first, dropping boxes whose IoU exceeds the threshold.

    Output rows (batch, class, box), int64, in that order; boxes are corners (any corner order) or
    centre + size (``center_point_box=1``); a score must exceed ``score_threshold``.
    """
    boxes, scores = np.asarray(inputs[0], np.float64), np.asarray(inputs[1], np.float64)
    limit_in, iou_in, score_in = (optional_input(inputs, i) for i in (2, 3, 4))
    limit = 0 if limit_in is None else int(np.asarray(limit_in).reshape(-1)[0])
    iou_threshold = 0.0 if iou_in is None else float(np.asarray(iou_in).reshape(-1)[0])
    score_threshold = None if score_in is None else float(np.asarray(score_in).reshape(-1)[0])
    if attr_int(attrs, "center_point_box", 0):
        centre, size = boxes[..., :2][..., ::-1], boxes[..., 2:][..., ::-1]  # (x, y, w, h) -> (y, x), (h, w)
        corners = np.concatenate([centre - size / 2, centre + size / 2], axis=-1)
    else:
        corners = np.concatenate([np.minimum(boxes[..., :2], boxes[..., 2:]), np.maximum(boxes[..., :2], boxes[..., 2:])],
                                 axis=-1)
    selected: list[tuple[int, int, int]] = []
    for b in range(scores.shape[0]):
        for c in range(scores.shape[1]):
            order = np.argsort(-scores[b, c], kind="stable")
            if score_threshold is not None:
                order = order[scores[b, c, order] > score_threshold]
            kept: list[int] = []
            for i in order:
                if len(kept) >= limit:
                    break
                if not kept or np.all(_iou(corners[b, i], corners[b, kept]) <= iou_threshold):
                    kept.append(int(i))
            selected += [(b, c, i) for i in kept]
    return (np.array(selected, np.int64).reshape(-1, 3),)


def bit_cast(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = contiguous(np.asarray(inputs[0]))
    target = np.dtype(onnx_dtype(int(attrs["to"])))
    if target.itemsize != x.dtype.itemsize:
        raise ValueError(f"BitCast between types of different sizes ({x.dtype} and {target})")
    return (x.view(target),)
