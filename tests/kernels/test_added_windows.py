"""3-D (video and volumetric) convolutions and pools, LpPool and MaxPool's Indices, against onnxruntime.

Property tests draw shapes, kernels, strides, dilations and paddings; a 3-D
convolution whose kernel has depth 1 must equal the 2-D one on every slice.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from ortref import ort_single_node

from blocks import check_blocks
from gspsim.kernels import get_kernel

seeds = st.integers(0, 2**32 - 1)


@st.composite
def windows(draw: st.DrawFn) -> dict:
    kernel = draw(st.lists(st.integers(1, 3), min_size=3, max_size=3))
    strides = draw(st.lists(st.integers(1, 2), min_size=3, max_size=3))
    dilations = draw(st.lists(st.integers(1, 2), min_size=3, max_size=3))
    pads = [draw(st.integers(0, k - 1)) for k in kernel] * 2
    spatial = [max(draw(st.integers(1, 5)), (k - 1) * d + 1) for k, d in zip(kernel, dilations)]
    return {"kernel": kernel, "strides": strides, "dilations": dilations, "pads": pads, "spatial": spatial}


@given(w=windows(), seed=seeds, group=st.sampled_from([1, 2]), bias=st.booleans())
def test_conv3d_matches_onnxruntime(w: dict, seed: int, group: int, bias: bool) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 4, *w["spatial"])).astype(np.float32)
    weight = rng.standard_normal((6, 4 // group, *w["kernel"])).astype(np.float32)
    inputs = [x, weight] + ([rng.standard_normal(6).astype(np.float32)] if bias else [])
    attrs = {"strides": w["strides"], "dilations": w["dilations"], "pads": w["pads"], "group": group}
    want = ort_single_node("Conv", inputs, attrs)[0]
    got = get_kernel("Conv", "fp32").run(inputs, attrs)[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    check_blocks(get_kernel("Conv", "fp32"), inputs, attrs, [1, 2])


@given(w=windows(), seed=seeds)
def test_conv_transpose3d_matches_onnxruntime(w: dict, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 2, *[min(s, 3) for s in w["spatial"]])).astype(np.float32)
    weight = rng.standard_normal((2, 3, *w["kernel"])).astype(np.float32)
    attrs = {"strides": w["strides"], "dilations": w["dilations"]}
    np.testing.assert_allclose(get_kernel("ConvTranspose", "fp32").run([x, weight], attrs)[0],
                               ort_single_node("ConvTranspose", [x, weight], attrs)[0], rtol=1e-4, atol=1e-4)


@given(w=windows(), seed=seeds, op=st.sampled_from(["MaxPool", "AveragePool"]), ceil=st.integers(0, 1))
def test_pool3d_matches_onnxruntime(w: dict, seed: int, op: str, ceil: int) -> None:
    x = np.random.default_rng(seed).standard_normal((1, 3, *w["spatial"])).astype(np.float32)
    attrs = {"kernel_shape": w["kernel"], "strides": w["strides"], "pads": w["pads"], "ceil_mode": ceil}
    if op == "MaxPool":
        attrs["dilations"] = w["dilations"]
    else:
        attrs["count_include_pad"] = seed % 2
    want = ort_single_node(op, [x], attrs, opset=19)[0]
    got = get_kernel(op, "fp32").run([x], attrs)[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@given(seed=seeds, rank=st.sampled_from([1, 2, 3]), order=st.integers(0, 1), stride=st.integers(1, 2))
def test_maxpool_indices_match_onnxruntime(seed: int, rank: int, order: int, stride: int) -> None:
    x = np.random.default_rng(seed).standard_normal((2, 2, *([5] * rank))).astype(np.float32)
    attrs = {"kernel_shape": [2] * rank, "strides": [stride] * rank, "storage_order": order if rank == 2 else 0}
    want = ort_single_node("MaxPool", [x], attrs, n_outputs=2)
    got = get_kernel("MaxPool", "fp32").run_all([x], attrs)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    if attrs["storage_order"] == 0:  # row-major flat indices: every index points at its maximum
        assert np.array_equal(x.reshape(-1)[got[1]], got[0])


@given(seed=seeds, p=st.sampled_from([1, 2, 3]))
def test_lp_pool_matches_onnxruntime(seed: int, p: int) -> None:
    x = np.random.default_rng(seed).standard_normal((1, 2, 5, 6)).astype(np.float32)
    attrs = {"kernel_shape": [2, 3], "strides": [1, 2], "p": p}
    np.testing.assert_allclose(get_kernel("LpPool", "fp32").run([x], attrs)[0],
                               ort_single_node("LpPool", [x], attrs, opset=18)[0], rtol=1e-5, atol=1e-5)


@given(seed=seeds, depth=st.integers(1, 4))
def test_conv3d_with_unit_depth_kernel_is_the_2d_conv_of_each_slice(seed: int, depth: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 3, depth, 6, 5)).astype(np.float32)
    weight = rng.standard_normal((4, 3, 1, 3, 3)).astype(np.float32)
    volume = get_kernel("Conv", "fp32").run([x, weight], {"pads": [0, 1, 1, 0, 1, 1]})[0]
    for d in range(depth):
        plane = get_kernel("Conv", "fp32").run([np.ascontiguousarray(x[:, :, d]), weight[:, :, 0]],
                                               {"pads": [1, 1, 1, 1]})[0]
        np.testing.assert_allclose(volume[:, :, d], plane, rtol=1e-5, atol=1e-5)
