"""Reductions, softmaxes and normalizations added for ONNX conformance, against onnxruntime.

ReduceSum / Max / Min (and the other Reduce ops), ArgMax / ArgMin, LogSoftmax,
RMSNormalization, InstanceNormalization and GroupNormalization: reference tests
and hypothesis property tests over shapes, axes and attributes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ortref import ort_single_node

from blocks import check_blocks
from gspsim.kernels import get_kernel

seeds = st.integers(0, 2**32 - 1)
REDUCE = ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
          "ReduceLogSumExp", "ReduceMean"]


@st.composite
def tensors_and_axes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), max_size=len(shape), unique_by=lambda a: a % len(shape)))
    x = np.random.default_rng(draw(seeds)).standard_normal(shape).astype(np.float32)
    return x, np.array(axes, np.int64), draw(st.integers(0, 1))


@given(op=st.sampled_from(REDUCE), case=tensors_and_axes())
def test_reductions_match_onnxruntime(op: str, case: tuple) -> None:
    x, axes, keepdims = case
    want = ort_single_node(op, [x, axes], {"keepdims": keepdims}, opset=18)[0]
    got = get_kernel(op, "fp32").run([x, axes], {"keepdims": keepdims})[0]
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@given(op=st.sampled_from(["ReduceSum", "ReduceMax", "ReduceMin"]), case=tensors_and_axes())
def test_integer_reductions_keep_the_type(op: str, case: tuple) -> None:
    x, axes, keepdims = case
    xi = (x * 10).astype(np.int32)
    want = ort_single_node(op, [xi, axes], {"keepdims": keepdims}, opset=18)[0]
    got = get_kernel(op, "fp32").run([xi, axes], {"keepdims": keepdims})[0]
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


@given(case=tensors_and_axes())
def test_reduce_sum_over_every_axis_is_the_total(case: tuple) -> None:
    x = case[0]
    total = get_kernel("ReduceSum", "fp32").run([x, np.array([], np.int64)], {"keepdims": 0})[0]
    assert total.shape == () and np.isclose(total, x.sum(dtype=np.float64), rtol=1e-5, atol=1e-5)


@given(case=tensors_and_axes(), op=st.sampled_from(["ArgMax", "ArgMin"]), last=st.integers(0, 1))
def test_arg_reductions_match_onnxruntime(case: tuple, op: str, last: int) -> None:
    x, _, keepdims = case
    x = np.round(x * 2) / 2  # ties, for select_last_index
    attrs = {"axis": x.ndim - 1, "keepdims": keepdims, "select_last_index": last}
    np.testing.assert_array_equal(get_kernel(op, "fp32").run([x], attrs)[0], ort_single_node(op, [x], attrs, opset=13)[0])


@given(case=tensors_and_axes())
def test_log_softmax_matches_onnxruntime_and_exponentiates_to_one(case: tuple) -> None:
    x = case[0] * 5
    axis = x.ndim - 1
    got = get_kernel("LogSoftmax", "fp32").run([x], {"axis": axis})[0]
    np.testing.assert_allclose(got, ort_single_node("LogSoftmax", [x], {"axis": axis}, opset=13)[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.exp(got).sum(axis=axis), 1.0, rtol=1e-5)


@given(seed=seeds, axis=st.sampled_from([-1, -2]), rows=st.integers(1, 6))
def test_rms_normalization_matches_onnxruntime(seed: int, axis: int, rows: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, rows, 8)).astype(np.float32)
    scale = rng.standard_normal((8,) if axis == -1 else (rows, 8)).astype(np.float32)
    attrs = {"axis": axis, "epsilon": 1e-5}
    got = get_kernel("RMSNormalization", "fp32").run([x, scale], attrs)[0]
    np.testing.assert_allclose(got, ort_single_node("RMSNormalization", [x, scale], attrs, opset=23)[0],
                               rtol=1e-5, atol=1e-5)
    if axis == -1:
        check_blocks(get_kernel("RMSNormalization", "fp32"), [x, scale], attrs, [1, rows - 1])


@given(seed=seeds, groups=st.sampled_from([1, 2, 3, 6]), spatial=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_group_and_instance_normalization_match_onnxruntime(seed: int, groups: int, spatial: list) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 6, *spatial)).astype(np.float32)
    scale, bias = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    group = get_kernel("GroupNormalization", "fp32").run([x, scale, bias], {"num_groups": groups})[0]
    np.testing.assert_allclose(group, ort_single_node("GroupNormalization", [x, scale, bias], {"num_groups": groups},
                                                      opset=21)[0], rtol=1e-4, atol=1e-4)
    instance = get_kernel("InstanceNormalization", "fp32").run([x, scale, bias], {})[0]
    np.testing.assert_allclose(instance, ort_single_node("InstanceNormalization", [x, scale, bias], {})[0],
                               rtol=1e-4, atol=1e-4)
    if groups == 6:  # one channel per group is instance normalization
        np.testing.assert_allclose(group, instance, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceSum", "LogSoftmax", "RMSNormalization", "GroupNormalization"])
def test_fp16_kernels_round_once(op: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 4)).astype(np.float16)
    extra = {"ReduceMax": [np.array([1], np.int64)], "ReduceSum": [np.array([1], np.int64)], "LogSoftmax": [],
             "RMSNormalization": [np.ones(4, np.float16)],
             "GroupNormalization": [np.ones(6, np.float16), np.zeros(6, np.float16)]}[op]
    attrs = {"num_groups": 3} if op == "GroupNormalization" else {}
    got = get_kernel(op, "fp16").run([x, *extra], attrs)[0]
    want = get_kernel(op, "fp32").run([x.astype(np.float32), *[e.astype(np.float32) if e.dtype == np.float16 else e
                                                                 for e in extra]], attrs)[0]
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, want.astype(np.float16))
