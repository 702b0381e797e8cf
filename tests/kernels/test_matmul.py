"""Matmul kernels against onnxruntime: Gemm, MatMul (fp32, fp16), QLinearMatMul and MatMulInteger (int8).

Tolerances: fp32 within rtol 1e-4 plus an absolute term proportional to sqrt(K) times the
operand magnitudes (the sums are reordered); fp16 within 2 fp16 ulps of onnxruntime's
fp16 result (plus an fp16 ulp of the operand scale for cancellation; where onnxruntime
has no fp16 kernel it casts to fp32 and back itself); int8 bit-exact, against two references:
full-range codes against the ONNX spec's exact integer arithmetic (the MatMulInteger accumulator
from onnx's ``ReferenceEvaluator``, then the documented float32 requantization), and the same
cases with every int8 operand mapped into [-64, 63] against onnxruntime, the region where
onnxruntime's own integer sums are exact on every CPU (on x86 without VNNI its u8 x s8 kernels
add pairs of products into a saturated int16, ``vpmaddubsw``; on ARM without dot products its
s8 x s8 kernel adds pairs in a wrapping int16; see ``exact_int.py`` for the reasoning and the
citations, microsoft/onnxruntime#16105, #14642, #24220).
Every test also splits the output rows at hypothesis-drawn points, fills them through
``run_rows`` and requires exactly ``run``'s bytes.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from ortref import ort_single_node
from blocks import check_blocks
from exact_int import exact_qlinear_matmul, int16_safe, reference_run

from gspsim.kernels.registry import get_kernel

seeds = st.integers(0, 2**32 - 1)
cut_lists = st.lists(st.integers(0, 64), max_size=4)
matmul_shapes = hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=3, min_side=1, max_side=9)




def assert_close_fp32(got: np.ndarray, want: np.ndarray, k: int, scale: float) -> None:
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.sqrt(max(k, 1)) * scale)


def assert_close_fp16(got: np.ndarray, want: np.ndarray, scale: float) -> None:
    assert got.dtype == want.dtype == np.float16 and got.shape == want.shape
    w = want.astype(np.float64)
    tol = 2 * np.spacing(np.abs(want)).astype(np.float64) + float(np.spacing(np.float16(scale)))
    assert np.all(np.abs(got.astype(np.float64) - w) <= tol), np.abs(got.astype(np.float64) - w).max()


def randn(rng: np.random.Generator, shape: Sequence[int], dtype: type) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------- MatMul


@given(shapes=matmul_shapes, seed=seeds, cuts=cut_lists, precision=st.sampled_from(["fp32", "fp16"]))
def test_matmul(shapes, seed: int, cuts: list[int], precision: str) -> None:
    (sa, sb), _ = shapes
    dtype = np.float16 if precision == "fp16" else np.float32
    rng = np.random.default_rng(seed)
    a, b = randn(rng, sa, dtype), randn(rng, sb, dtype)
    kernel = get_kernel("MatMul", precision)
    got = kernel.run([a, b], {})[0]
    want = ort_single_node("MatMul", [a, b], {})[0]
    k = sa[-1]
    if precision == "fp32":
        assert_close_fp32(got, want, k, 4.0)
    else:
        assert_close_fp16(got, want, np.sqrt(k))
    check_blocks(kernel, [a, b], {}, cuts)


def test_matmul_transformer_shapes_match_ort() -> None:
    """Attention-style batched matmul at a size that exercises column blocks and K tails."""
    rng = np.random.default_rng(3)
    a, b = randn(rng, (2, 3, 37, 130), np.float32), randn(rng, (2, 3, 130, 301), np.float32)
    kernel = get_kernel("MatMul", "fp32")
    assert_close_fp32(kernel.run([a, b], {})[0], ort_single_node("MatMul", [a, b], {})[0], 130, 4.0)
    check_blocks(kernel, [a, b], {}, [5, 6, 30])


def test_long_k_chunks_match_ort() -> None:
    """K beyond one k chunk (4096): chunk sums accumulate, still block-invariant, int8 still exact."""
    rng = np.random.default_rng(4)
    a, b = randn(rng, (9, 4200), np.float32), randn(rng, (4200, 70), np.float32)
    kernel = get_kernel("MatMul", "fp32")
    assert_close_fp32(kernel.run([a, b], {})[0], ort_single_node("MatMul", [a, b], {})[0], 4200, 4.0)
    check_blocks(kernel, [a, b], {}, [1, 2, 7])
    aq, bq = qrand(rng, (9, 4200), np.uint8), qrand(rng, (4200, 70), np.uint8)
    zps = [np.array(7, np.uint8), rng.integers(0, 255, 70).astype(np.uint8)]
    integer = get_kernel("MatMulInteger", "int8")
    want = ort_single_node("MatMulInteger", [aq, bq, *zps], {})[0]
    np.testing.assert_array_equal(integer.run([aq, bq, *zps], {})[0], want)
    check_blocks(integer, [aq, bq, *zps], {}, [3])


# --------------------------------------------------------------------------- Gemm


@st.composite
def gemm_cases(draw):  # noqa: ANN201 - hypothesis strategy
    m, k, n = (draw(st.integers(1, 12)) for _ in range(3))
    trans_a, trans_b = draw(st.booleans()), draw(st.booleans())
    c_shape = draw(st.sampled_from([None, (), (n,), (1, n), (m, 1), (m, n)]))
    attrs = {"transA": int(trans_a), "transB": int(trans_b)}
    if draw(st.booleans()):
        attrs["alpha"] = draw(st.sampled_from([0.5, -1.25, 2.0]))
    if draw(st.booleans()):
        attrs["beta"] = draw(st.sampled_from([0.0, 0.75, -2.0]))
    return (k, m) if trans_a else (m, k), (n, k) if trans_b else (k, n), c_shape, attrs


@given(case=gemm_cases(), seed=seeds, cuts=cut_lists, precision=st.sampled_from(["fp32", "fp16"]))
def test_gemm(case, seed: int, cuts: list[int], precision: str) -> None:
    sa, sb, sc, attrs = case
    dtype = np.float16 if precision == "fp16" else np.float32
    rng = np.random.default_rng(seed)
    inputs = [randn(rng, sa, dtype), randn(rng, sb, dtype)] + ([] if sc is None else [randn(rng, sc, dtype)])
    kernel = get_kernel("Gemm", precision)
    got = kernel.run(inputs, attrs)[0]
    want = ort_single_node("Gemm", inputs, attrs)[0]
    k = sa[0] if attrs["transA"] else sa[1]
    if precision == "fp32":
        assert_close_fp32(got, want, k, 8.0)
    else:
        assert_close_fp16(got, want, 2 * np.sqrt(k) + 2)
    check_blocks(kernel, inputs, attrs, cuts)


# --------------------------------------------------------------------------- int8

# (A, B) element types onnxruntime implements; the output type of QLinearMatMul is A's
INT_TYPES = [(np.uint8, np.int8), (np.uint8, np.uint8), (np.int8, np.int8)]
# powers of two make exact .5 ties in requantization, which must round half to even
SCALES = st.one_of(
    st.floats(1e-3, 0.1).map(lambda s: float(np.float32(s))), st.sampled_from([0.5, 0.25, 0.125, 1.0 / 64])
)


def qrand(rng: np.random.Generator, shape: Sequence[int], dtype: type) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


@st.composite
def qmatmul_cases(draw):  # noqa: ANN201 - hypothesis strategy
    (sa, sb), _ = draw(matmul_shapes)
    adt, bdt = draw(st.sampled_from(INT_TYPES))
    n = sb[-1] if len(sb) >= 2 else 1
    # per-column (per-channel) B parameters: onnxruntime accepts them for 2-D B
    per_column = len(sb) == 2 and draw(st.booleans())
    return sa, sb, adt, bdt, n, per_column


def qparam(rng: np.random.Generator, dtype: type, n: int, per_column: bool) -> np.ndarray:
    return qrand(rng, (n,) if per_column else (), dtype)


@given(case=qmatmul_cases(), seed=seeds, cuts=cut_lists, sa_=SCALES, sb_=SCALES, ratio=st.floats(0.02, 2.0))
def test_qlinear_matmul_exact(case, seed: int, cuts: list[int], sa_: float, sb_: float, ratio: float) -> None:
    sa, sb, adt, bdt, n, per_column = case
    rng = np.random.default_rng(seed)
    a, b = qrand(rng, sa, adt), qrand(rng, sb, bdt)
    k = sa[-1]
    b_scale = (
        (np.float32(sb_) * rng.uniform(0.5, 2.0, n)).astype(np.float32) if per_column else np.array(sb_, np.float32)
    )
    # y scale around the accumulator's spread so that some outputs saturate and most do not
    y_scale = np.array(sa_ * sb_ * 64.0 * np.sqrt(k) * ratio, np.float32)
    inputs = [
        a, np.array(sa_, np.float32), qparam(rng, adt, 1, False),
        b, b_scale, qparam(rng, bdt, n, per_column),
        y_scale, qparam(rng, adt, 1, False),
    ]  # fmt: skip
    check_qlinear_matmul(inputs, cuts)


def int16_safe_operands(inputs: list) -> list:
    """A matmul's inputs with the int8 codes of A (input 0) and B (input 3) int16-safe (``exact_int``)."""
    return [int16_safe(v) if i in (0, 3) else v for i, v in enumerate(inputs)]


def check_qlinear_matmul(inputs: list, cuts: list[int]) -> None:
    """Bit-exact with the exact integer reference on these codes, with onnxruntime on their int16-safe
    version, and the same through ``run_rows`` blocks."""
    kernel = get_kernel("QLinearMatMul", "int8")
    got = kernel.run(inputs, {})[0]
    want = exact_qlinear_matmul(inputs)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    safe = int16_safe_operands(inputs)
    np.testing.assert_array_equal(kernel.run(safe, {})[0], ort_single_node("QLinearMatMul", safe, {})[0])
    check_blocks(kernel, inputs, {}, cuts)


@given(case=qmatmul_cases(), seed=seeds, cuts=cut_lists, with_zp=st.booleans())
def test_matmul_integer_exact(case, seed: int, cuts: list[int], with_zp: bool) -> None:
    sa, sb, adt, bdt, n, per_column = case
    rng = np.random.default_rng(seed)
    a, b = qrand(rng, sa, adt), qrand(rng, sb, bdt)
    inputs: list[Optional[np.ndarray]] = [a, b]
    if with_zp:
        inputs += [qparam(rng, adt, 1, False), qparam(rng, bdt, n, per_column)]
    kernel = get_kernel("MatMulInteger", "int8")
    got = kernel.run(inputs, {})[0]
    want = reference_run("MatMulInteger", inputs, {})
    assert got.dtype == want.dtype == np.int32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    safe = [int16_safe(v) if i < 2 else v for i, v in enumerate(inputs)]
    np.testing.assert_array_equal(kernel.run(safe, {})[0], ort_single_node("MatMulInteger", safe, {})[0])
    check_blocks(kernel, inputs, {}, cuts)


def test_qlinear_matmul_large_accumulators_exact() -> None:
    """K = 2000 with extreme codes: accumulators beyond 2**24 round when converted to fp32, like ORT.

    Full-range B (-128/127) against the exact integer reference; B at the ends of the int16-safe range
    (-64/63, accumulators still beyond 2**24) against onnxruntime."""
    rng = np.random.default_rng(11)
    m, k, n = 9, 2000, 23
    a = np.where(rng.random((m, k)) < 0.9, 255, 0).astype(np.uint8)
    b = np.where(rng.random((k, n)) < 0.9, -128, 127).astype(np.int8)
    params = [rng.uniform(0.001, 0.01, n).astype(np.float32), rng.integers(-5, 5, n).astype(np.int8),
              np.array(37.0, np.float32), np.array(128, np.uint8)]
    qlinear = get_kernel("QLinearMatMul", "int8")
    integer = get_kernel("MatMulInteger", "int8")
    for b_codes, exact in ((b, True), (np.where(b < 0, -64, 63).astype(np.int8), False)):
        inputs = [a, np.array(0.03, np.float32), np.array(0, np.uint8), b_codes, *params]
        got = qlinear.run(inputs, {})[0]
        acc = integer.run([a, b_codes], {})[0]
        assert np.abs(acc).max() > 2**24
        if exact:
            np.testing.assert_array_equal(got, exact_qlinear_matmul(inputs))
            np.testing.assert_array_equal(acc, reference_run("MatMulInteger", [a, b_codes], {}))
        else:
            np.testing.assert_array_equal(got, ort_single_node("QLinearMatMul", inputs, {})[0])
            np.testing.assert_array_equal(acc, ort_single_node("MatMulInteger", [a, b_codes], {})[0])


def test_qlinear_matmul_batched_per_column_b() -> None:
    """Batched B with per-batch, per-column parameters of shape (batch, 1, N)."""
    rng = np.random.default_rng(5)
    a, b = qrand(rng, (3, 4, 17), np.uint8), qrand(rng, (3, 17, 6), np.int8)
    inputs = [
        a, np.array(0.05, np.float32), np.array(120, np.uint8),
        b, rng.uniform(0.01, 0.05, (3, 1, 6)).astype(np.float32), rng.integers(-3, 3, (3, 1, 6)).astype(np.int8),
        np.array(0.4, np.float32), np.array(100, np.uint8),
    ]  # fmt: skip
    check_qlinear_matmul(inputs, [1, 3])


def test_matmul_integer_per_row_a_zero_point() -> None:
    """ONNX allows a per-row A zero point (onnxruntime does not); check it against integer numpy."""
    rng = np.random.default_rng(9)
    a, b = qrand(rng, (5, 11), np.uint8), qrand(rng, (11, 7), np.int8)
    za, zb = qrand(rng, (5,), np.uint8), qrand(rng, (7,), np.int8)
    got = get_kernel("MatMulInteger", "int8").run([a, b, za, zb], {})[0]
    want = (a.astype(np.int64) - za[:, None]) @ (b.astype(np.int64) - zb)
    np.testing.assert_array_equal(got, want.astype(np.int32))
