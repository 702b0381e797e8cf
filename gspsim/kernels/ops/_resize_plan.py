"""Resize planning: output shape, per-axis scales and source coordinates.

Follows onnxruntime's CPU Resize (opset 11-19 semantics) operation by
operation in float32, so that the coordinates, and therefore the selected
pixels and interpolation weights, are the ones onnxruntime uses:

* output dim from ``scales``: ``int64(float32(scale) * float32(dim))``;
* ``scales`` from ``sizes``: ``float32(out) / float32(in)``, optionally
  adjusted by ``keep_aspect_ratio_policy``;
* an axis whose scale is exactly 1 maps output ``i`` to input ``i`` (no
  coordinate transform), as onnxruntime does;
* when the output shape equals the input shape the input is copied, whatever
  the scales (onnxruntime's shortcut).

Cubic mode, antialiasing, ``tf_crop_and_resize`` (with ``roi`` and
``extrapolation_value``), nearest mode with ``half_pixel_symmetric`` and
linear resizing of other layouts than 2-D and NCHW run through
``_resize_interp.py`` (ONNX's reference formulas, float64), which
:func:`needs_interpolation_matrices` selects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...optable.kernel import Attrs, Inputs
from ._layout_common import attr_int, attr_ints, attr_str, int_list, normalize_axis, optional_input

_TRANSFORMS = (
    "tf_crop_and_resize",
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_half_pixel_for_nn",
)
_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
_F = np.float32


@dataclass(frozen=True)
class ResizePlan:
    """Everything a Resize kernel needs besides the data."""

    mode: str
    transform: str
    nearest_mode: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    scales: tuple[np.float32, ...]
    antialias: bool = False
    cubic_a: float = -0.75
    exclude_outside: bool = False
    extrapolation: float = 0.0
    #: (start, end) of the region of interest per axis (tf_crop_and_resize), as fractions of the input
    rois: tuple[tuple[float, float], ...] = ()

    @property
    def is_copy(self) -> bool:
        """onnxruntime copies the input when the shape does not change (a crop is not a copy)."""
        return self.out_shape == self.in_shape and self.transform != "tf_crop_and_resize"

    @property
    def needs_interpolation_matrices(self) -> bool:
        """Whether the general per-axis interpolation (``_resize_interp.py``) computes this resize."""
        if self.mode == "cubic" or self.antialias or self.transform == "tf_crop_and_resize":
            return True
        if self.mode == "nearest":
            return self.transform == "half_pixel_symmetric"
        return linear_layout(self) is None


def _round_half_away(x: np.ndarray) -> np.ndarray:
    """C ``std::round``: halves go away from zero (exact in float32)."""
    t = np.trunc(x)
    return t + np.sign(x) * (np.abs(x - t) >= _F(0.5)).astype(x.dtype)


def make_plan(inputs: Inputs, attrs: Attrs) -> ResizePlan:
    """Validate the Resize node and compute its output shape and scales."""
    x = np.asarray(inputs[0])
    rank = x.ndim
    mode = attr_str(attrs, "mode", "nearest")
    transform = attr_str(attrs, "coordinate_transformation_mode", "half_pixel")
    nearest_mode = attr_str(attrs, "nearest_mode", "round_prefer_floor")
    policy = attr_str(attrs, "keep_aspect_ratio_policy", "stretch")
    if mode not in ("nearest", "linear", "cubic"):
        raise ValueError(f"Resize: unknown mode {mode!r}")
    if transform not in _TRANSFORMS:
        raise ValueError(f"Resize: unknown coordinate_transformation_mode {transform!r}")
    if nearest_mode not in _NEAREST_MODES:
        raise ValueError(f"Resize: unknown nearest_mode {nearest_mode!r}")
    if policy not in ("stretch", "not_larger", "not_smaller"):
        raise ValueError(f"Resize: unknown keep_aspect_ratio_policy {policy!r}")
    axes_attr = attr_ints(attrs, "axes")
    axes = list(range(rank)) if axes_attr is None else [normalize_axis(a, rank) for a in axes_attr]
    in_shape = tuple(int(d) for d in x.shape)

    scales_in = optional_input(inputs, 2)
    sizes_in = optional_input(inputs, 3)
    if scales_in is not None and np.asarray(scales_in).size > 0:
        given = np.asarray(scales_in, dtype=_F).reshape(-1)
        if given.size != len(axes):
            raise ValueError(f"Resize: {given.size} scales for {len(axes)} axes")
        scales = [_F(1.0)] * rank
        for a, s in zip(axes, given):
            scales[a] = _F(s)
        if any(not s > 0 for s in scales):
            raise ValueError(f"Resize: scales must be positive, got {scales}")
        out_shape = tuple(int(_F(s) * _F(d)) for s, d in zip(scales, in_shape))
    elif sizes_in is not None and np.asarray(sizes_in).size > 0:
        given_sizes = int_list(sizes_in) or []
        if len(given_sizes) != len(axes):
            raise ValueError(f"Resize: {len(given_sizes)} sizes for {len(axes)} axes")
        out = list(in_shape)
        for a, s in zip(axes, given_sizes):
            out[a] = s
        scales = []
        for o, d in zip(out, in_shape):
            if d == 0:
                if o != 0:
                    raise ValueError("Resize: cannot resize an empty dim to a non-empty one")
                scales.append(_F(1.0))
            else:
                scales.append(_F(o) / _F(d))
        if policy != "stretch":
            chosen = [scales[a] for a in axes]
            pick = min(chosen) if policy == "not_larger" else max(chosen)
            for a in range(rank):
                if a in axes:
                    scales[a] = pick
                    out[a] = int(_round_half_away(np.array(pick * _F(in_shape[a]), dtype=_F)))
                else:
                    scales[a] = _F(1.0)
                    out[a] = in_shape[a]
        out_shape = tuple(out)
    else:
        raise ValueError("Resize needs a non-empty scales or sizes input")
    rois = [(0.0, 1.0)] * rank
    if transform == "tf_crop_and_resize":
        roi = optional_input(inputs, 1)
        values = [] if roi is None else [float(v) for v in np.asarray(roi, np.float64).reshape(-1)]
        if len(values) != 2 * len(axes):
            raise ValueError(f"Resize tf_crop_and_resize: roi has {len(values)} values, expected {2 * len(axes)}")
        for i, a in enumerate(axes):
            rois[a] = (values[i], values[i + len(axes)])
    return ResizePlan(mode, transform, nearest_mode, in_shape, out_shape, tuple(scales),
                      antialias=bool(attr_int(attrs, "antialias", 0)),
                      cubic_a=float(attrs.get("cubic_coeff_a", -0.75)),
                      exclude_outside=bool(attr_int(attrs, "exclude_outside", 0)),
                      extrapolation=float(attrs.get("extrapolation_value", 0.0)), rois=tuple(rois))


def original_coords(plan: ResizePlan, axis: int) -> np.ndarray:
    """Source coordinate (float32) of every output index along ``axis``, before clamping."""
    scale = plan.scales[axis]
    length_in = _F(plan.in_shape[axis])
    length_out = _F(plan.out_shape[axis])
    x = np.arange(plan.out_shape[axis], dtype=_F)
    half = _F(0.5)
    t = plan.transform
    if t == "half_pixel":
        return (x + half) / scale - half
    if t == "asymmetric":
        return x / scale
    if t == "pytorch_half_pixel":
        return (x + half) / scale - half if length_out > 1 else np.zeros_like(x)
    if t == "tf_half_pixel_for_nn":
        return (x + half) / scale
    if t == "align_corners":
        if length_out == 1:
            return np.zeros_like(x)
        return x * (length_in - _F(1)) / (length_out - _F(1))
    # half_pixel_symmetric: onnxruntime mixes float32 set-up with a float64 final expression.
    output_width = scale * length_in
    adjustment = length_out / output_width
    center = length_in / _F(2)
    offset = center * (_F(1) - adjustment)
    orig = np.float64(offset) + (x.astype(np.float64) + 0.5) / np.float64(scale) - 0.5
    return orig.astype(_F)


def nearest_index(plan: ResizePlan, axis: int) -> np.ndarray:
    """Input index (int64) picked for every output index along ``axis`` in nearest mode."""
    if plan.scales[axis] == _F(1.0):
        return np.arange(plan.out_shape[axis], dtype=np.int64)
    orig = original_coords(plan, axis)
    nm = plan.nearest_mode
    if nm == "floor":
        picked = np.floor(orig)
    elif nm == "ceil":
        picked = np.ceil(orig)
    elif nm == "round_prefer_ceil":
        picked = _round_half_away(orig)
    else:  # round_prefer_floor: exact halves (tested against trunc + 0.5, as onnxruntime does) go down
        halves = orig == np.trunc(orig) + _F(0.5)
        picked = np.where(halves, np.floor(orig), _round_half_away(orig))
    return np.clip(picked.astype(np.int64), 0, max(plan.in_shape[axis] - 1, 0))


def linear_taps(plan: ResizePlan, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(i1, i2, d1, d2) per output index: neighbours and onnxruntime's distance weights.

    The value is ``d2 * X[i1] + d1 * X[i2]``; when both neighbours coincide
    onnxruntime uses 0.5 for both weights.
    """
    n_in = plan.in_shape[axis]
    if plan.scales[axis] == _F(1.0):
        coord = np.arange(plan.out_shape[axis], dtype=_F)
    else:
        coord = original_coords(plan, axis)
    coord = np.maximum(_F(0.0), np.minimum(coord, _F(n_in - 1)))
    i1 = np.minimum(coord.astype(np.int64), n_in - 1)
    i2 = np.minimum(i1 + 1, n_in - 1)
    d1 = np.abs(coord - i1.astype(_F))
    d2 = np.abs(coord - i2.astype(_F))
    same = i1 == i2
    d1[same] = _F(0.5)
    d2[same] = _F(0.5)
    return i1, i2, d1.astype(_F), d2.astype(_F)


def linear_layout(plan: ResizePlan) -> Optional[str]:
    """Which bilinear layout onnxruntime would use: "2d", "nchw", or None if unsupported here."""
    rank = len(plan.in_shape)
    if rank == 2:
        return "2d"
    if rank == 4 and plan.scales[0] == _F(1.0) and plan.scales[1] == _F(1.0):
        return "nchw"
    return None
