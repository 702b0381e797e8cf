"""Elementwise kernels against onnxruntime: broadcasting binary ops, activations, int8 and QLinear ops.

Tolerances: fp32 within rtol 1e-5 (atol 1e-6; the transcendental ops, which onnxruntime
evaluates with MLAS polynomial approximations, rtol 2e-5 / atol 2e-6); fp16 within 1 fp16
ulp of onnxruntime's fp16 result (plus 1 ulp at the operand scale for ops that cancel).
For ops without an fp16 CPU kernel onnxruntime itself inserts casts, so that reference
is its fp32 result on the same fp16-valued inputs, rounded to fp16.  int8 is bit-exact.
Every test also fills the output through ``run_rows`` at hypothesis-drawn row splits and
requires exactly ``run``'s bytes.
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
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=6)
PRECISIONS = ["fp32", "fp16"]
TRANSCENDENTAL = {"Sigmoid", "Tanh", "Erf", "Gelu", "Exp", "Pow", "HardSwish"}




def assert_matches_ort(
    op: str, precision: str, inputs: list, attrs: dict, scale: float = 0.0, domain: str = ""
) -> None:
    kernel = get_kernel(op, precision)
    got = kernel.run(inputs, attrs)[0]
    want = ort_single_node(op, inputs, attrs, domain=domain)[0]
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape, want.shape)
    if precision == "int8":
        np.testing.assert_array_equal(got, want)
    elif precision == "fp32":
        loose = op in TRANSCENDENTAL
        np.testing.assert_allclose(got, want, rtol=2e-5 if loose else 1e-5, atol=2e-6 if loose else 1e-6)
    else:
        tol = np.spacing(np.abs(want)).astype(np.float64) + float(np.spacing(np.float16(scale)))
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        same_nan = np.isnan(got) & np.isnan(want)
        assert np.all((diff <= tol) | same_nan), diff.max()


def randn(rng: np.random.Generator, shape: Sequence[int], dtype: type, scale: float = 3.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


def float_dtype(precision: str) -> type:
    return np.float16 if precision == "fp16" else np.float32


# --------------------------------------------------------------------------- binary / variadic


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow"])
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=5), seed=seeds, cuts=cut_lists)
def test_binary_broadcasting(op: str, precision: str, shapes, seed: int, cuts: list[int]) -> None:
    (sa, sb), _ = shapes
    dtype = float_dtype(precision)
    rng = np.random.default_rng(seed)
    a, b = randn(rng, sa, dtype), randn(rng, sb, dtype)
    if op == "Div":
        b = (np.sign(b) + (b == 0) + b).astype(dtype)  # |b| >= 1
    if op == "Pow":
        a = (np.abs(a) + 0.25).astype(dtype)
        b = (b / 3).astype(dtype)
    assert_matches_ort(op, precision, [a, b], {}, scale=8.0)
    check_blocks(get_kernel(op, precision), [a, b], {}, cuts)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("op", ["Max", "Min", "Sum"])
@given(
    shapes=st.integers(1, 4).flatmap(lambda n: hnp.mutually_broadcastable_shapes(num_shapes=n, max_dims=4, max_side=5)),
    seed=seeds,
    cuts=cut_lists,
)
def test_variadic_broadcasting(op: str, precision: str, shapes, seed: int, cuts: list[int]) -> None:
    in_shapes, _ = shapes
    rng = np.random.default_rng(seed)
    inputs = [randn(rng, s, float_dtype(precision)) for s in in_shapes]
    assert_matches_ort(op, precision, inputs, {}, scale=4.0 * len(inputs))
    check_blocks(get_kernel(op, precision), inputs, {}, cuts)


def test_pow_with_integer_exponent() -> None:
    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 3, 4)
    assert_matches_ort("Pow", "fp32", [x, np.array(3, np.int64)], {})


# --------------------------------------------------------------------------- unary


UNARY = {
    "Relu": {},
    "LeakyRelu": {"alpha": 0.1},
    "Sigmoid": {},
    "Tanh": {},
    "Erf": {},
    "Gelu": {},
    "HardSigmoid": {"alpha": 0.25, "beta": 0.4},
    "HardSwish": {},
    "Sqrt": {},
    "Exp": {},
    "Neg": {},
    "Reciprocal": {},
    "Abs": {},
}


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("op", sorted(UNARY))
@given(shape=shapes, seed=seeds, cuts=cut_lists, defaults=st.booleans())
def test_unary(op: str, precision: str, shape, seed: int, cuts: list[int], defaults: bool) -> None:
    rng = np.random.default_rng(seed)
    x = randn(rng, shape, float_dtype(precision))
    if op == "Sqrt":
        x = np.abs(x)
    if op == "Reciprocal":
        x = (np.sign(x) + (x == 0) + x).astype(x.dtype)
    attrs = {} if defaults else dict(UNARY[op])
    assert_matches_ort(op, precision, [x], attrs, scale=4.0)
    check_blocks(get_kernel(op, precision), [x], attrs, cuts)


@pytest.mark.parametrize("precision", PRECISIONS)
@given(shape=shapes, seed=seeds, cuts=cut_lists, approximate=st.sampled_from([None, "none", "tanh"]))
def test_gelu_opset20(precision: str, shape, seed: int, cuts: list[int], approximate: Optional[str]) -> None:
    x = randn(np.random.default_rng(seed), shape, float_dtype(precision))
    attrs = {} if approximate is None else {"approximate": approximate}
    assert_matches_ort("Gelu", precision, [x], attrs, scale=4.0)
    check_blocks(get_kernel("Gelu", precision), [x], attrs, cuts)


@pytest.mark.parametrize("precision", PRECISIONS)
@given(shape=shapes, seed=seeds, cuts=cut_lists, lo=st.none() | st.floats(-2, 0), hi=st.none() | st.floats(0, 2))
def test_clip_optional_bounds(precision: str, shape, seed: int, cuts: list[int], lo, hi) -> None:
    dtype = float_dtype(precision)
    x = randn(np.random.default_rng(seed), shape, dtype)
    inputs: list[Optional[np.ndarray]] = [x, None if lo is None else np.array(lo, dtype)]
    if hi is not None:
        inputs.append(np.array(hi, dtype))
    assert_matches_ort("Clip", precision, inputs, {})
    check_blocks(get_kernel("Clip", precision), inputs, {}, cuts)


# --------------------------------------------------------------------------- int8


def qrand(rng: np.random.Generator, shape: Sequence[int], dtype: type) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


@given(shape=shapes, seed=seeds, cuts=cut_lists)
def test_int8_relu(shape, seed: int, cuts: list[int]) -> None:
    x = qrand(np.random.default_rng(seed), shape, np.int8)
    assert_matches_ort("Relu", "int8", [x], {})
    check_blocks(get_kernel("Relu", "int8"), [x], {}, cuts)


@given(shape=shapes, seed=seeds, cuts=cut_lists, dtype=st.sampled_from([np.int8, np.uint8]), bounds=st.data())
def test_int8_clip(shape, seed: int, cuts: list[int], dtype: type, bounds) -> None:
    rng = np.random.default_rng(seed)
    x = qrand(rng, shape, dtype)
    info = np.iinfo(dtype)
    lo = bounds.draw(st.none() | st.integers(int(info.min), int(info.max)))
    hi = bounds.draw(st.none() | st.integers(lo if lo is not None else int(info.min), int(info.max)))
    inputs: list[Optional[np.ndarray]] = [x, None if lo is None else np.array(lo, dtype)]
    if hi is not None:
        inputs.append(np.array(hi, dtype))
    assert_matches_ort("Clip", "int8", inputs, {})
    check_blocks(get_kernel("Clip", "int8"), inputs, {}, cuts)


QSCALES = st.floats(1e-3, 0.5).map(lambda s: np.array(s, np.float32)) | st.sampled_from(
    [np.array(v, np.float32) for v in (0.5, 0.25, 1.0 / 16)]
)


@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=5),
    seed=seeds,
    cuts=cut_lists,
    dtype=st.sampled_from([np.int8, np.uint8]),
    scales=st.tuples(QSCALES, QSCALES, QSCALES),
    zero_zero_points=st.booleans(),
)
def test_qlinear_binary_exact(
    op: str, shapes, seed: int, cuts: list[int], dtype: type, scales, zero_zero_points: bool
) -> None:
    (sa, sb), _ = shapes
    rng = np.random.default_rng(seed)
    a, b = qrand(rng, sa, dtype), qrand(rng, sb, dtype)
    # onnxruntime's type inference rejects omitted zero points, so "absent" is tested as 0
    za, zb, zc = (np.zeros((), dtype) if zero_zero_points else qrand(rng, (), dtype) for _ in range(3))
    if op == "QLinearMul":  # keep the product near the output range
        scales = (scales[0], scales[1], np.array(scales[0] * scales[1] * 128, np.float32))
    inputs = [a, scales[0], za, b, scales[1], zb, scales[2], zc]
    assert_matches_ort(op, "int8", inputs, {}, domain="com.microsoft")
    check_blocks(get_kernel(op, "int8"), inputs, {}, cuts)


@pytest.mark.parametrize("op", ["QLinearSigmoid", "QLinearLeakyRelu"])
@given(
    seed=seeds,
    dtype=st.sampled_from([np.int8, np.uint8]),
    x_scale=QSCALES,
    y_scale=QSCALES,
    alpha=st.sampled_from([None, 0.1, 0.3]),
)
def test_qlinear_lookup_every_code_exact(op: str, seed: int, dtype: type, x_scale, y_scale, alpha) -> None:
    """All 256 input codes at once: the whole lookup table equals onnxruntime's."""
    rng = np.random.default_rng(seed)
    x = np.arange(256, dtype=np.uint8).view(dtype).reshape(4, 8, 8)
    if op == "QLinearSigmoid":
        y_scale = np.array(y_scale / 64, np.float32)  # sigmoid lies in (0, 1)
    attrs = {} if alpha is None or op == "QLinearSigmoid" else {"alpha": alpha}
    inputs = [x, x_scale, qrand(rng, (), dtype), y_scale, qrand(rng, (), dtype)]
    assert_matches_ort(op, "int8", inputs, attrs, domain="com.microsoft")


@pytest.mark.parametrize("op", ["QLinearSigmoid", "QLinearLeakyRelu"])
@given(shape=shapes, seed=seeds, cuts=cut_lists, dtype=st.sampled_from([np.int8, np.uint8]))
def test_qlinear_lookup_blocks(op: str, shape, seed: int, cuts: list[int], dtype: type) -> None:
    rng = np.random.default_rng(seed)
    x_zp, y_scale = qrand(rng, (), dtype), np.array(0.01, np.float32)
    inputs = [qrand(rng, shape, dtype), np.array(0.05, np.float32), x_zp, y_scale, qrand(rng, (), dtype)]
    assert_matches_ort(op, "int8", inputs, {}, domain="com.microsoft")
    check_blocks(get_kernel(op, "int8"), inputs, {}, cuts)
