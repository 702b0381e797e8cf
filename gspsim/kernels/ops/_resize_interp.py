"""Resize as one interpolation matrix per axis: cubic, antialiased, tf_crop_and_resize and N-d linear.

ONNX's Resize is separable: along each axis an output index ``o`` maps to a
source coordinate ``x`` and reads ``n`` neighbours with weights that depend
only on the fraction of ``x`` (and the scale, when antialiasing).  This module
builds, per axis, the (out x in) matrix of those weights, exactly as ONNX's
reference does: the neighbours are the ``n`` indices nearest ``x`` (the lower
one on a tie), taken in 'edge' mode outside the input, their weights zeroed
and renormalized with ``exclude_outside``; ``tf_crop_and_resize`` gives an
output outside the region of interest ``extrapolation_value``.  The result is
the input contracted with every matrix in turn, in float64, rounded once to
the input's type.

``resize.py`` keeps its onnxruntime-exact nearest and bilinear loops for the
common cases and sends the others here.
"""

from __future__ import annotations

import math

import numpy as np

from ._resize_plan import ResizePlan, original_coords


def _cubic(ratio: float, scale: float, a: float, antialias: bool) -> np.ndarray:
    def weight(x: float) -> float:
        x = abs(x)
        if x <= 1:
            return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
        if x < 2:
            return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a
        return 0.0

    if not antialias:
        return np.array([weight(ratio + 1), weight(ratio), weight(1 - ratio), weight(2 - ratio)])
    scale = min(scale, 1.0)
    first = int(math.floor(-2 / scale) + 1)
    coeffs = np.array([weight(scale * (i - ratio)) for i in range(first, 2 - first)])
    return coeffs / coeffs.sum()


def _linear(ratio: float, scale: float, antialias: bool) -> np.ndarray:
    if not antialias:
        return np.array([1 - ratio, ratio])
    scale = min(scale, 1.0)
    first = int(math.floor(-1 / scale) + 1)
    args = (np.arange(first, 2 - first) - ratio) * scale
    coeffs = np.clip(1 - np.abs(args), 0, 1)
    return coeffs / coeffs.sum()


def _nearest(ratio: float, mode: str) -> np.ndarray:
    if ratio == 1.0:
        return np.array([0.0, 1.0])
    if mode == "round_prefer_floor":
        return np.array([float(ratio <= 0.5), float(ratio > 0.5)])
    if mode == "round_prefer_ceil":
        return np.array([float(ratio < 0.5), float(ratio >= 0.5)])
    return np.array([1.0, 0.0]) if mode == "floor" else np.array([0.0, 1.0])


def _coords(plan: ResizePlan, axis: int, roi: tuple[float, float]) -> np.ndarray:
    if plan.transform != "tf_crop_and_resize":
        return original_coords(plan, axis).astype(np.float64)
    n_in, n_out = plan.in_shape[axis], plan.out_shape[axis]
    start, end = roi
    x = np.arange(n_out, dtype=np.float64)
    if n_out == 1:
        return np.full(1, (end - start) * (n_in - 1) / 2 + start * (n_in - 1))
    return x * (end - start) * (n_in - 1) / (n_out - 1) + start * (n_in - 1)


def axis_matrix(plan: ResizePlan, axis: int, roi: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(weights (out x in), outside (out,)): one axis' interpolation, and the outputs outside the ROI."""
    n_in, n_out = plan.in_shape[axis], plan.out_shape[axis]
    scale = float(plan.scales[axis])
    coords = _coords(plan, axis, roi)
    matrix = np.zeros((n_out, max(n_in, 1)))
    outside = np.zeros(n_out, bool)
    for o, x in enumerate(coords):
        if plan.transform == "tf_crop_and_resize" and not 0 <= x <= n_in - 1:
            outside[o] = True
            continue
        floor = math.floor(x)
        ratio = 1.0 if x == floor else x - floor
        left = floor - 1 if x == floor else floor
        if plan.mode == "cubic":
            coeffs = _cubic(ratio, scale, plan.cubic_a, plan.antialias)
        elif plan.mode == "linear":
            coeffs = _linear(ratio, scale, plan.antialias)
        else:
            coeffs = _nearest(ratio, plan.nearest_mode)
        first = left - len(coeffs) // 2 + 1
        index = np.arange(first, first + len(coeffs))
        if plan.exclude_outside:
            coeffs = np.where((index >= 0) & (index < n_in), coeffs, 0.0)
            total = coeffs.sum()
            coeffs = coeffs / total if total else coeffs
        np.add.at(matrix[o], np.clip(index, 0, n_in - 1), coeffs)
    return matrix, outside


def interpolate(x: np.ndarray, plan: ResizePlan, rois: list[tuple[float, float]], row_axis: int = -1,
                start: int = 0, stop: int = 0) -> np.ndarray:
    """The resized tensor (rows ``[start, stop)`` of ``row_axis`` only, when it is >= 0), in x's type."""
    if x.dtype.kind not in "f":
        raise NotImplementedError(f"Resize {plan.mode} mode on {x.dtype} data (nearest only)")
    y = x.astype(np.float64)
    outside = np.zeros((), bool)
    for axis in range(x.ndim):
        if plan.in_shape[axis] == plan.out_shape[axis] and plan.transform != "tf_crop_and_resize" \
                and float(plan.scales[axis]) == 1.0 and plan.mode != "cubic" and not plan.antialias:
            if axis == row_axis:
                y = np.take(y, np.arange(start, stop), axis=axis)
            continue
        matrix, out_mask = axis_matrix(plan, axis, rois[axis])
        if axis == row_axis:
            matrix, out_mask = matrix[start:stop], out_mask[start:stop]
        y = np.moveaxis(np.tensordot(y, matrix, axes=([axis], [1])), -1, axis)
        shape = [1] * x.ndim
        shape[axis] = out_mask.size
        outside = outside | out_mask.reshape(shape)
    if np.any(outside):
        y = np.where(outside, plan.extrapolation, y)
    return y.astype(x.dtype)
