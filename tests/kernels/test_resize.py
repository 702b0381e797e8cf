"""Resize kernels against onnxruntime: nearest on every dtype, bilinear on floats.

The kernels reproduce onnxruntime's float32 coordinate arithmetic and its
bilinear term order, so results are compared exactly (bit for bit), for
scales and for sizes inputs, all supported coordinate transforms and nearest
modes, and row blocks produced through ``run_rows``.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ortref import ort_single_node
from blocks import check_blocks as check_rows

from gspsim.kernels.registry import get_kernel

TRANSFORMS = ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "tf_half_pixel_for_nn"]
LINEAR_TRANSFORMS = [*TRANSFORMS, "half_pixel_symmetric"]
NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
PRECISION = {np.dtype(np.float32): "fp32", np.dtype(np.float16): "fp16", np.dtype(np.int8): "int8",
             np.dtype(np.uint8): "int8"}

seeds = st.integers(0, 2**32 - 1)
# Scales with two decimals: many give exact ties in the coordinate arithmetic.
scale_values = st.one_of(
    st.sampled_from([0.5, 2.0, 3.0, 1.5, 0.25, 1.0, 0.75]),
    st.integers(20, 350).map(lambda v: v / 100),
)


def make_input(shape: Sequence[int], dtype: Any, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return (rng.standard_normal(shape) * 4).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


def kernel_for(x: np.ndarray):
    return get_kernel("Resize", PRECISION[x.dtype])


def check(inputs: list, attrs: dict) -> np.ndarray:
    """gspsim's Resize equals onnxruntime's exactly; returns the result."""
    want = ort_single_node("Resize", inputs, attrs)[0]
    got = kernel_for(inputs[0]).run(list(inputs), dict(attrs))[0]
    assert got.dtype == want.dtype and got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_array_equal(got, want)
    return got


def check_blocks(inputs: list, attrs: dict, cuts: Sequence[int]) -> None:
    """Row blocks written into the whole output, and into block-sized buffers, rebuild ``run``."""
    check_rows(kernel_for(inputs[0]), list(inputs), dict(attrs), cuts, block_buffers=True)


def resize_inputs(x: np.ndarray, scales: Optional[Sequence[float]], sizes: Optional[Sequence[int]]) -> list:
    if sizes is not None:
        return [x, None, None, np.array(sizes, dtype=np.int64)]
    return [x, None, np.array(scales, dtype=np.float32)]


nchw = st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 7), st.integers(1, 7))


@given(shape=nchw, dtype=st.sampled_from([np.float32, np.float16, np.int8, np.uint8]), seed=seeds,
       transform=st.sampled_from(TRANSFORMS), nearest_mode=st.sampled_from(NEAREST_MODES),
       hs=scale_values, ws=scale_values, cuts=st.lists(st.integers(0, 30), max_size=3))
def test_nearest_scales(shape: tuple, dtype: Any, seed: int, transform: str, nearest_mode: str,
                        hs: float, ws: float, cuts: list) -> None:
    if int(np.float32(hs) * shape[2]) == 0 or int(np.float32(ws) * shape[3]) == 0:
        return  # empty output
    x = make_input(shape, dtype, seed)
    attrs = {"mode": "nearest", "coordinate_transformation_mode": transform, "nearest_mode": nearest_mode}
    inputs = resize_inputs(x, [1.0, 1.0, hs, ws], None)
    check(inputs, attrs)
    check_blocks(inputs, attrs, cuts)


@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=5).map(tuple), seed=seeds,
       transform=st.sampled_from(TRANSFORMS), nearest_mode=st.sampled_from(NEAREST_MODES), data=st.data())
def test_nearest_any_rank_and_axis(shape: tuple, seed: int, transform: str, nearest_mode: str,
                                   data: st.DataObject) -> None:
    """Nearest resizing of any axis (including N and C) at any rank."""
    scales = [data.draw(scale_values, label="scale") for _ in shape]
    if any(int(np.float32(s) * d) == 0 for s, d in zip(scales, shape)):
        return
    x = make_input(shape, np.float32, seed)
    attrs = {"mode": "nearest", "coordinate_transformation_mode": transform, "nearest_mode": nearest_mode}
    check(resize_inputs(x, scales, None), attrs)


@given(shape=nchw, dtype=st.sampled_from([np.float32, np.float16]), seed=seeds,
       transform=st.sampled_from(LINEAR_TRANSFORMS), hs=scale_values, ws=scale_values,
       cuts=st.lists(st.integers(0, 30), max_size=3))
def test_bilinear_scales(shape: tuple, dtype: Any, seed: int, transform: str, hs: float, ws: float,
                         cuts: list) -> None:
    if int(np.float32(hs) * shape[2]) == 0 or int(np.float32(ws) * shape[3]) == 0:
        return
    x = make_input(shape, dtype, seed)
    attrs = {"mode": "linear", "coordinate_transformation_mode": transform}
    inputs = resize_inputs(x, [1.0, 1.0, hs, ws], None)
    check(inputs, attrs)
    check_blocks(inputs, attrs, cuts)


@given(h=st.integers(1, 6), w=st.integers(1, 6), seed=seeds, transform=st.sampled_from(LINEAR_TRANSFORMS),
       hs=scale_values, ws=scale_values)
def test_bilinear_2d(h: int, w: int, seed: int, transform: str, hs: float, ws: float) -> None:
    if int(np.float32(hs) * h) == 0 or int(np.float32(ws) * w) == 0:
        return
    x = make_input((h, w), np.float32, seed)
    check(resize_inputs(x, [hs, ws], None), {"mode": "linear", "coordinate_transformation_mode": transform})


@given(shape=nchw, seed=seeds, mode=st.sampled_from(["nearest", "linear"]),
       policy=st.sampled_from(["stretch", "not_larger", "not_smaller"]),
       out_h=st.integers(1, 12), out_w=st.integers(1, 12), use_axes=st.booleans(),
       cuts=st.lists(st.integers(0, 30), max_size=3))
def test_sizes_input(shape: tuple, seed: int, mode: str, policy: str, out_h: int, out_w: int, use_axes: bool,
                     cuts: list) -> None:
    x = make_input(shape, np.float32, seed)
    attrs: dict = {"mode": mode, "keep_aspect_ratio_policy": policy}
    if use_axes:
        attrs["axes"] = [2, 3]
        inputs = resize_inputs(x, None, [out_h, out_w])
    else:
        if policy != "stretch":
            return  # the policy would also rescale N and C (onnxruntime then refuses linear)
        inputs = resize_inputs(x, None, [shape[0], shape[1], out_h, out_w])
    out = check(inputs, attrs)
    if out.size:
        check_blocks(inputs, attrs, cuts)


def test_scales_with_axes_and_same_size_copy() -> None:
    x = make_input((1, 2, 7, 3), np.float32, 0)
    check([x, None, np.array([1.05, 2.0], np.float32)], {"mode": "linear", "axes": [2, 3]})
    # Output shape unchanged although the scale is not 1: onnxruntime copies the input.
    for mode in ("nearest", "linear"):
        check([x, None, np.array([1, 1, 1.05, 1.2], np.float32)],
              {"mode": mode, "coordinate_transformation_mode": "asymmetric"})


def test_integer_linear_resize_is_refused() -> None:
    x = np.ones((1, 1, 2, 2), np.int8)
    with pytest.raises(NotImplementedError, match="nearest only"):
        kernel_for(x).run([x, None, np.array([1, 1, 2, 2], np.float32)], {"mode": "linear"})


@pytest.mark.parametrize(
    "attrs",
    [
        {"mode": "cubic"},
        {"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1},
        {"mode": "cubic", "coordinate_transformation_mode": "align_corners"},
        {"mode": "linear", "antialias": 1},
        {"mode": "cubic", "antialias": 1},
        {"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"},
    ],
    ids=lambda a: "-".join(f"{k}={v}" for k, v in a.items()),
)
@pytest.mark.parametrize("scales", [(1.0, 1.0, 0.6, 0.75), (1.0, 1.0, 1.7, 2.5)], ids=["down", "up"])
def test_interpolation_modes_match_onnxruntime(attrs: dict, scales: tuple) -> None:
    """Cubic, antialiased and half_pixel_symmetric resizes (the per-axis interpolation matrices)."""
    x = make_input((1, 2, 9, 8), np.float32, 3)
    inputs = [x, None, np.array(scales, np.float32)]
    want = ort_single_node("Resize", inputs, attrs, opset=19)[0]
    got = kernel_for(x).run(inputs, attrs)[0]
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    check_blocks(inputs, attrs, [3])


def test_tf_crop_and_resize_matches_onnxruntime() -> None:
    x = make_input((1, 1, 6, 7), np.float32, 4)
    roi = np.array([0, 0, 0.2, 0.1, 1, 1, 0.9, 1.2], np.float32)
    inputs = [x, roi, None, np.array([1, 1, 5, 6], np.int64)]
    attrs = {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": -3.0}
    want = ort_single_node("Resize", inputs, attrs, opset=19)[0]
    np.testing.assert_allclose(kernel_for(x).run(inputs, attrs)[0], want, rtol=1e-4, atol=1e-5)


def test_trilinear_resize_of_a_volume_matches_onnxruntime() -> None:
    x = make_input((1, 2, 4, 5, 6), np.float32, 5)
    inputs = [x, None, np.array([1, 1, 1.5, 0.8, 2.0], np.float32)]
    want = ort_single_node("Resize", inputs, {"mode": "linear"}, opset=19)[0]
    np.testing.assert_allclose(kernel_for(x).run(inputs, {"mode": "linear"})[0], want, rtol=1e-4, atol=1e-5)


def test_registered_per_precision() -> None:
    for precision in ("fp32", "fp16", "int8"):
        kernel = get_kernel("Resize", precision)
        assert kernel.precision == precision and kernel.row_axis == 2
