"""Activations, math and integer arithmetic added for ONNX conformance, against onnxruntime.

Reference tests run each op's kernel and onnxruntime on the same node; property
tests (hypothesis) draw shapes, values and attributes.  Integer ops must return
the integers' own type (Div truncating toward zero), float ops the float type.
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
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)

UNARY = {  # op -> (attributes, opset)
    "Elu": ({"alpha": 0.7}, 22), "Selu": ({}, 22), "Celu": ({"alpha": 1.3}, 12), "Softplus": ({}, 22),
    "Softsign": ({}, 22), "Mish": ({}, 22), "ThresholdedRelu": ({"alpha": 0.4}, 22),
    "Shrink": ({"bias": 0.2, "lambd": 0.6}, 9), "Log": ({}, 13), "Sin": ({}, 22), "Cos": ({}, 22),
    "Atan": ({}, 22), "Sinh": ({}, 22), "Asinh": ({}, 22), "Floor": ({}, 13), "Ceil": ({}, 13),
    "Round": ({}, 22), "Sign": ({}, 13),
}


def _values(shape: tuple, seed: int, op: str) -> np.ndarray:
    x = (np.random.default_rng(seed).standard_normal(shape) * 3).astype(np.float32)
    return np.abs(x) + np.float32(0.1) if op == "Log" else x


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("op", list(UNARY))
def test_unary_ops_match_onnxruntime(op: str, precision: str) -> None:
    attrs, opset = UNARY[op]
    dtype = np.float16 if precision == "fp16" else np.float32
    x = _values((3, 4, 5), 1, op).astype(dtype)
    # onnxruntime's float32 result on the same (float16-representable) values, rounded as the fp16 kernel rounds
    want = ort_single_node(op, [x.astype(np.float32)], attrs, opset=opset)[0].astype(dtype)
    got = get_kernel(op, precision).run([x], attrs)[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    tol = 2e-3 if precision == "fp16" else 1e-5
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=tol, atol=tol)
    check_blocks(get_kernel(op, precision), [x], attrs, [1, 3])


@given(op=st.sampled_from(list(UNARY)), shape=shapes, seed=seeds)
def test_unary_ops_match_onnxruntime_on_any_shape(op: str, shape: tuple, seed: int) -> None:
    attrs, opset = UNARY[op]
    x = _values(shape, seed, op)
    np.testing.assert_allclose(get_kernel(op, "fp32").run([x], attrs)[0],
                               ort_single_node(op, [x], attrs, opset=opset)[0], rtol=1e-5, atol=1e-5)


@given(shape=shapes, seed=seeds, per_channel=st.booleans())
def test_prelu_matches_onnxruntime(shape: tuple, seed: int, per_channel: bool) -> None:
    x = _values(shape, seed, "PRelu")
    slope = (np.random.default_rng(seed + 1).random(shape[-1:] if per_channel else (1,)) * 0.5).astype(np.float32)
    np.testing.assert_allclose(get_kernel("PRelu", "fp32").run([x, slope], {})[0],
                               ort_single_node("PRelu", [x, slope], {}, opset=16)[0], rtol=1e-6, atol=1e-6)


@given(shape=shapes, seed=seeds)
def test_activation_properties(shape: tuple, seed: int) -> None:
    """Softplus > max(0, x) and close to it far from 0; Elu and Selu are x for x > 0, above -alpha(*gamma) below."""
    x = _values(shape, seed, "Elu")
    run = lambda op, **a: get_kernel(op, "fp32").run([x], a)[0]  # noqa: E731
    assert np.all(run("Softplus") >= np.maximum(x, 0)) and np.all(run("Softplus") - np.maximum(x, 0) <= np.log(2) + 1e-6)
    elu, selu = run("Elu", alpha=0.5), run("Selu")
    assert np.array_equal(elu[x > 0], x[x > 0]) and np.all(elu >= -0.5)
    assert np.all(selu[x <= 0] >= -1.6733 * 1.0508 - 1e-4)


INT_OPS = ["Add", "Sub", "Mul", "Div", "Max", "Min", "Mod"]


@given(op=st.sampled_from(INT_OPS), dtype=st.sampled_from([np.int8, np.uint8, np.int32, np.int64]), shape=shapes,
       seed=seeds)
def test_integer_arithmetic_matches_onnxruntime(op: str, dtype: type, shape: tuple, seed: int) -> None:
    """In the integers' own type, int8 / uint8 included (which the precision pass tags int8)."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    a = rng.integers(max(info.min, -100), min(info.max, 100), shape, endpoint=True).astype(dtype)
    b = rng.integers(1, min(info.max, 9), shape, endpoint=True).astype(dtype)
    if info.min < 0:
        b = (b * rng.choice([-1, 1], shape)).astype(dtype)
    precision = "int8" if dtype in (np.int8, np.uint8) else "fp32"
    want = ort_single_node(op, [a, b], {}, opset=14 if op != "Mod" else 13)[0]
    got = get_kernel(op, precision).run([a, b], {})[0]
    assert got.dtype == want.dtype == dtype
    np.testing.assert_array_equal(got, want)


@given(seed=seeds, shape=shapes)
def test_integer_pow_and_float64_keep_their_types(seed: int, shape: tuple) -> None:
    rng = np.random.default_rng(seed)
    base, exponent = rng.integers(-5, 5, shape).astype(np.int32), rng.integers(0, 4, shape).astype(np.int32)
    np.testing.assert_array_equal(get_kernel("Pow", "fp32").run([base, exponent], {})[0],
                                  ort_single_node("Pow", [base, exponent], {}, opset=15)[0])
    x = rng.standard_normal(shape)
    got = get_kernel("Sigmoid", "fp32").run([x], {})[0]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-x)), rtol=1e-14)


@given(shape=shapes, seed=seeds)
def test_or_and_castlike_match_onnxruntime(shape: tuple, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.random(shape) < 0.5, rng.random(shape) < 0.5
    np.testing.assert_array_equal(get_kernel("Or", "fp32").run([a, b], {})[0], ort_single_node("Or", [a, b], {})[0])
    x = (rng.standard_normal(shape) * 100).astype(np.float32)
    for like in (np.zeros(1, np.int32), np.zeros(1, np.float16), np.zeros(1, np.float64)):
        got = get_kernel("CastLike", "fp32").run([x, like], {})[0]
        want = ort_single_node("CastLike", [x, like], {}, opset=21)[0]
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
