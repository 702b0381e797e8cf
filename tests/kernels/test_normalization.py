"""Normalization kernels against onnxruntime: Softmax, LayerNormalization, BatchNormalization, ReduceMean, LRN.

Tolerances: fp32 within rtol 1e-5 / atol 1e-5 (sums are reordered; LayerNorm's variance
is two-pass here, one-pass in onnxruntime); fp16 within 2 fp16 ulps of onnxruntime's fp16
result plus an fp16 ulp at the output scale (where onnxruntime has no fp16 kernel it
casts to fp32 and back itself).  Every test also fills the output through
``run_rows`` at hypothesis-drawn row splits and requires exactly ``run``'s bytes.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from ortref import ort_single_node
from blocks import check_blocks

from gspsim.kernels.registry import get_kernel

seeds = st.integers(0, 2**32 - 1)
cut_lists = st.lists(st.integers(0, 64), max_size=4)
PRECISIONS = ["fp32", "fp16"]




def assert_close(got: np.ndarray, want: np.ndarray, precision: str, scale: float = 1.0) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape, want.shape)
    if got.dtype == np.float16:
        tol = 2 * np.spacing(np.abs(want)).astype(np.float64) + float(np.spacing(np.float16(scale)))
        assert np.all(np.abs(got.astype(np.float64) - want.astype(np.float64)) <= tol)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale)


def check(op: str, precision: str, inputs: list, attrs: dict, n_outputs: int = 1, scale: float = 1.0, **kw) -> None:
    got = get_kernel(op, precision).run(inputs, attrs)
    want = ort_single_node(op, inputs, attrs, n_outputs=n_outputs, **kw)
    assert len(got) >= n_outputs
    for g, w in zip(got, want):
        assert_close(g, w, precision, scale)


def randn(rng: np.random.Generator, shape: Sequence[int], dtype: type, scale: float = 2.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


def float_dtype(precision: str) -> type:
    return np.float16 if precision == "fp16" else np.float32


@st.composite
def shape_and_axis(draw, min_dims: int = 1):  # noqa: ANN201 - hypothesis strategy
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=4, min_side=1, max_side=6))
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


@pytest.mark.parametrize("precision", PRECISIONS)
@given(case=shape_and_axis(), seed=seeds, cuts=cut_lists, default_axis=st.booleans())
def test_softmax(precision: str, case, seed: int, cuts: list[int], default_axis: bool) -> None:
    shape, axis = case
    x = randn(np.random.default_rng(seed), shape, float_dtype(precision), 3.0)
    attrs = {} if default_axis else {"axis": axis}
    check("Softmax", precision, [x], attrs)
    check_blocks(get_kernel("Softmax", precision), [x], attrs, cuts)


@pytest.mark.parametrize("precision", PRECISIONS)
@given(case=shape_and_axis(), seed=seeds, cuts=cut_lists, with_bias=st.booleans(), eps=st.sampled_from([None, 1e-3]))
def test_layer_normalization(precision: str, case, seed: int, cuts: list[int], with_bias: bool, eps) -> None:
    shape, axis = case
    dtype = float_dtype(precision)
    rng = np.random.default_rng(seed)
    x = randn(rng, shape, dtype) + dtype(rng.standard_normal())
    norm_shape = shape[axis:]
    inputs = [x, randn(rng, norm_shape, dtype, 1.0)] + ([randn(rng, norm_shape, dtype, 1.0)] if with_bias else [])
    attrs = {"axis": axis} if eps is None else {"axis": axis, "epsilon": eps}
    # Y, Mean and InvStdDev (the latter two in fp32, the default stash_type)
    check("LayerNormalization", precision, inputs, attrs, n_outputs=3, scale=8.0)
    check_blocks(get_kernel("LayerNormalization", precision), inputs, attrs, cuts)


@pytest.mark.parametrize("precision", PRECISIONS)
@given(
    shape=hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=6),
    seed=seeds,
    cuts=cut_lists,
    eps=st.sampled_from([None, 1e-3]),
)
def test_batch_normalization_inference(precision: str, shape, seed: int, cuts: list[int], eps) -> None:
    dtype = float_dtype(precision)
    rng = np.random.default_rng(seed)
    c = shape[1]
    inputs = [randn(rng, shape, dtype), randn(rng, (c,), dtype, 1.0), randn(rng, (c,), dtype, 1.0),
              randn(rng, (c,), dtype, 1.0), rng.uniform(0.2, 3.0, c).astype(dtype)]  # fmt: skip
    attrs = {} if eps is None else {"epsilon": eps}
    check("BatchNormalization", precision, inputs, attrs, scale=8.0)
    check_blocks(get_kernel("BatchNormalization", precision), inputs, attrs, cuts)


def test_batch_normalization_rejects_training_mode() -> None:
    x = np.ones((1, 2, 3, 3), np.float32)
    p = np.ones(2, np.float32)
    with pytest.raises(NotImplementedError):
        get_kernel("BatchNormalization", "fp32").run([x, p, p, p, p], {"training_mode": 1})


@st.composite
def reduce_cases(draw):  # noqa: ANN201 - hypothesis strategy
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=6))
    nd = len(shape)
    axes: Optional[list[int]] = None
    if nd and draw(st.booleans()):
        picked = draw(st.lists(st.integers(0, nd - 1), unique=True, max_size=nd))
        axes = [a - nd if draw(st.booleans()) else a for a in picked]
    attrs = {}
    if draw(st.booleans()):
        attrs["keepdims"] = draw(st.sampled_from([0, 1]))
    if draw(st.booleans()):
        attrs["noop_with_empty_axes"] = draw(st.sampled_from([0, 1]))
    return shape, axes, attrs


@pytest.mark.parametrize("precision", PRECISIONS)
@given(case=reduce_cases(), seed=seeds, cuts=cut_lists)
def test_reduce_mean_opset18(precision: str, case, seed: int, cuts: list[int]) -> None:
    shape, axes, attrs = case
    x = randn(np.random.default_rng(seed), shape, float_dtype(precision))
    inputs = [x] if axes is None else [x, np.array(axes, np.int64)]
    check("ReduceMean", precision, inputs, attrs, as_initializer=(1,))
    check_blocks(get_kernel("ReduceMean", precision), inputs, attrs, cuts)


@pytest.mark.parametrize("precision", PRECISIONS)
@given(
    shape=hnp.array_shapes(min_dims=4, max_dims=4, min_side=1, max_side=7),
    seed=seeds,
    cuts=cut_lists,
    size=st.sampled_from([1, 3, 5]),  # onnxruntime implements odd sizes only
    params=st.sampled_from([{}, {"alpha": 0.01, "beta": 0.5, "bias": 2.0}]),
)
def test_lrn(precision: str, shape, seed: int, cuts: list[int], size: int, params: dict) -> None:
    x = randn(np.random.default_rng(seed), shape, float_dtype(precision), 3.0)
    attrs = {"size": size, **params}
    check("LRN", precision, [x], attrs)
    check_blocks(get_kernel("LRN", precision), [x], attrs, cuts)


def test_lrn_even_size_follows_onnx_window() -> None:
    """Even sizes (onnxruntime refuses them): window [c - floor((s-1)/2), c + ceil((s-1)/2)]."""
    x = np.random.default_rng(2).standard_normal((1, 5, 2, 3)).astype(np.float32)
    got = get_kernel("LRN", "fp32").run([x], {"size": 4})[0]
    sq = x.astype(np.float64) ** 2
    want = np.empty_like(sq)
    for c in range(5):
        s = sq[:, max(0, c - 1) : min(5, c + 3)].sum(axis=1)
        want[:, c] = x[:, c] / (1.0 + 1e-4 / 4 * s) ** 0.75
    np.testing.assert_allclose(got, want, rtol=1e-6)
