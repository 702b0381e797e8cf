"""Quantization kernels against onnxruntime, bit for bit, and gspsim's documented NaN rule.

Inputs deliberately contain exact ties (``(k + 0.5) * scale`` with power-of-two
scales, so ``x / scale`` is exactly a half), values far outside the integer
range (saturation), infinities and NaNs, and per-axis parameters on negative
axes.  Wherever the ONNX spec defines QuantizeLinear's result (every finite
value, and +-inf, which saturate like any value beyond the range) the kernels
must equal onnxruntime's bit for bit.  The spec leaves NaN undefined for
integer outputs and onnxruntime's answer has changed between versions (1.31
gave ``INT32_MIN + zero_point`` for float16) and is undefined C in its
portable fallback, so NaN is checked against gspsim's documented rule
instead: NaN quantizes to ``qmin`` (docs/precision.md, "Infinities and NaN").
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ortref import ort_single_node
from blocks import check_blocks as check_rows

from gspsim.kernels.ops import quantize as q
from gspsim.kernels.registry import get_kernel

QDTYPES = [np.int8, np.uint8]
seeds = st.integers(0, 2**32 - 1)
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)
pow2_scales = st.integers(-6, 3).map(lambda e: 2.0**e)
any_scales = st.floats(2.0**-10, 20.0, width=32)
scales = st.one_of(pow2_scales, any_scales)


def run(op_type: str, inputs: Sequence[Optional[np.ndarray]], attrs: dict) -> tuple[np.ndarray, ...]:
    """gspsim's int8-precision kernel."""
    return get_kernel(op_type, "int8").run(list(inputs), dict(attrs))


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    """Same dtype, shape and bits (NaNs compare equal)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_array_equal(got, want)


def check(op_type: str, inputs: list, attrs: dict, n_outputs: int = 1, **ort_kw: Any) -> None:
    """Every output equals onnxruntime's exactly (QuantizeLinear: see :func:`check_quantize`)."""
    if op_type == "QuantizeLinear":
        check_quantize(inputs, attrs)
        return
    want = ort_single_node(op_type, inputs, attrs, n_outputs=n_outputs, **ort_kw)
    got = run(op_type, inputs, attrs)
    for g, w in zip(got, want):
        assert_same(g, w)


def assert_spec_defined_same(got: np.ndarray, want: np.ndarray, x: np.ndarray) -> None:
    """Same dtype and shape; same bits wherever ``x`` is not NaN, and ``qmin`` wherever it is NaN."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape, want.shape)
    nan = np.broadcast_to(np.isnan(np.asarray(x)), got.shape)
    np.testing.assert_array_equal(got[~nan], want[~nan])
    assert np.all(got[nan] == q.qrange(got.dtype)[0]), got[nan]


def check_quantize(inputs: list, attrs: dict) -> None:
    """QuantizeLinear: onnxruntime's bits where the spec defines them, gspsim's ``qmin`` for NaN."""
    want = ort_single_node("QuantizeLinear", inputs, attrs)[0]
    assert_spec_defined_same(run("QuantizeLinear", inputs, attrs)[0], want, inputs[0])


def tricky_floats(shape: tuple, scale: float, seed: int, dtype: Any, specials: bool = True) -> np.ndarray:
    """Ties at half steps, in-range and saturating values, and (optionally) inf/NaN."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    kind = rng.integers(0, 4, size=n)
    ties = (rng.integers(-300, 300, size=n) + 0.5) * scale
    normal = rng.standard_normal(n) * scale * 60
    huge = rng.choice([-1.0, 1.0], size=n) * rng.uniform(200, 1e4, size=n) * scale
    exact = rng.integers(-300, 300, size=n) * scale
    x = np.choose(kind, [ties, normal, huge, exact])
    if specials and n >= 4:
        idx = rng.choice(n, size=min(3, n), replace=False)
        x[idx] = rng.choice([np.inf, -np.inf, np.nan], size=idx.size)
    with np.errstate(over="ignore"):  # float16 saturates huge values to inf on purpose
        return x.astype(dtype).reshape(shape)


def random_zero_point(rng: np.random.Generator, dtype: Any, size: Optional[int] = None) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=size, endpoint=True).astype(dtype)


# ----------------------------------------------------------------------------- QuantizeLinear
@given(shape=shapes, dtype=st.sampled_from(QDTYPES), scale=scales, seed=seeds,
       xdtype=st.sampled_from([np.float32, np.float16]))
def test_quantize_per_tensor(shape: tuple, dtype: Any, scale: float, seed: int, xdtype: Any) -> None:
    rng = np.random.default_rng(seed)
    s = np.array(scale, dtype=xdtype)
    x = tricky_floats(shape, float(s), seed, xdtype)
    zp = np.array(random_zero_point(rng, dtype))
    check("QuantizeLinear", [x, s, zp], {})
    check("QuantizeLinear", [x, s.reshape(1), zp.reshape(1)], {"saturate": 1})


@given(shape=shapes, scale=scales, seed=seeds, xdtype=st.sampled_from([np.float32, np.float16]))
def test_quantize_default_zero_point_is_uint8(shape: tuple, scale: float, seed: int, xdtype: Any) -> None:
    s = np.array(scale, dtype=xdtype)
    x = tricky_floats(shape, float(s), seed, xdtype)
    check("QuantizeLinear", [x, s], {})
    assert run("QuantizeLinear", [x, s], {})[0].dtype == np.uint8


@given(shape=shapes, dtype=st.sampled_from(QDTYPES), seed=seeds, data=st.data(),
       xdtype=st.sampled_from([np.float32, np.float16]))
def test_quantize_per_axis(shape: tuple, dtype: Any, seed: int, data: st.DataObject, xdtype: Any) -> None:
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    n = shape[axis]
    s = np.array(data.draw(st.lists(scales, min_size=n, max_size=n), label="scales"), dtype=xdtype)
    x = tricky_floats(shape, float(np.min(s)), seed, xdtype)
    zp = random_zero_point(rng, dtype, n)
    check("QuantizeLinear", [x, s, zp], {"axis": axis})


def spec_quantize(x: np.ndarray, scale: float, zero_point: np.ndarray) -> np.ndarray:
    """The ONNX formula in float64, ``saturate(round_half_even(x / scale) + zero_point)``, plus gspsim's
    rule for the one case the spec leaves open: NaN -> ``qmin``.  Exact for the values used below
    (quotients that are integers, halves, or far outside the range)."""
    qmin, qmax = q.qrange(zero_point.dtype)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        v = np.rint(x.astype(np.float64) / float(scale)) + int(zero_point)
    return np.where(np.isnan(v), qmin, np.clip(v, qmin, qmax)).astype(zero_point.dtype)


@pytest.mark.parametrize("xdtype", [np.float32, np.float16])
def test_quantize_infinities_nan_and_huge_values(xdtype: Any) -> None:
    """+inf -> qmax, -inf -> qmin, NaN -> qmin, finite values beyond any integer range saturate
    (float16 and float32 inputs alike); the spec-defined entries also equal onnxruntime's."""
    x = np.array([np.inf, -np.inf, np.nan, -np.nan, 65504, -65504, 1000, 0.5, 1.5, 2.5, -2.5], dtype=xdtype)
    for zp in (np.int8(-5), np.int8(5), np.int8(-128), np.uint8(200), np.uint8(0), np.uint8(255)):
        qmin, qmax = q.qrange(np.asarray(zp).dtype)
        for scale in (1.0, 1e-4, 6e-8):
            s = np.array(scale, xdtype)
            got = run("QuantizeLinear", [x, s, np.array(zp)], {})[0]
            assert_same(got, spec_quantize(x, float(s), np.array(zp)))
            assert got[0] == qmax and got[1] == qmin and got[2] == got[3] == qmin
            assert_spec_defined_same(got, ort_single_node("QuantizeLinear", [x, s, np.array(zp)], {})[0], x)


def test_quantize_refuses_blocked() -> None:
    x = np.ones((2, 4), np.float32)
    with pytest.raises(NotImplementedError, match="block"):
        run("QuantizeLinear", [x, np.ones((2, 2), np.float32)], {"axis": 1, "block_size": 2})


# ----------------------------------------------------------------------------- DequantizeLinear
@given(shape=shapes, dtype=st.sampled_from([np.int8, np.uint8, np.int32]), seed=seeds, data=st.data(),
       sdtype=st.sampled_from([np.float32, np.float16]))
def test_dequantize(shape: tuple, dtype: Any, seed: int, data: st.DataObject, sdtype: Any) -> None:
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    per_axis = data.draw(st.booleans(), label="per axis")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    n = shape[axis] if per_axis else 1
    s = np.array(data.draw(st.lists(scales, min_size=n, max_size=n), label="scales"), dtype=sdtype)
    if dtype == np.int32:
        zp = np.zeros(n, dtype=dtype) if data.draw(st.booleans(), label="zp") else None
    else:
        zp = random_zero_point(rng, dtype, n)
    if not per_axis:
        s = s.reshape(())
        zp = None if zp is None else zp.reshape(())
    inputs = [x, s] if zp is None else [x, s, zp]
    check("DequantizeLinear", inputs, {"axis": axis})


# ----------------------------------------------------------------------------- helpers
@given(seed=seeds, dtype=st.sampled_from(QDTYPES))
def test_round_half_even_saturate_matches_onnxruntime(seed: int, dtype: Any) -> None:
    """The public requantization helper equals QuantizeLinear with scale 1 (x / 1 is exact)."""
    rng = np.random.default_rng(seed)
    v = tricky_floats((64,), 1.0, seed, np.float32)
    zp = random_zero_point(rng, dtype)
    want = ort_single_node("QuantizeLinear", [v, np.array(1.0, np.float32), np.array(zp)], {})[0]
    assert_spec_defined_same(q.round_half_even_saturate(v, zp, dtype), want, v)


def test_qrange() -> None:
    assert q.qrange(np.int8) == (-128, 127)
    assert q.qrange(np.uint8) == (0, 255)


# ----------------------------------------------------------------------------- DynamicQuantizeLinear
@given(shape=shapes, seed=seeds, kind=st.sampled_from(["mixed", "positive", "negative", "zeros", "ties"]))
def test_dynamic_quantize(shape: tuple, seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32) * np.float32(rng.uniform(0.01, 100))
    if kind == "positive":
        x = np.abs(x)
    elif kind == "negative":
        x = -np.abs(x)
    elif kind == "zeros":
        x = np.zeros(shape, np.float32)
    elif kind == "ties":
        x = ((rng.integers(-100, 100, size=shape) + 0.5) / np.float32(4)).astype(np.float32)
    check("DynamicQuantizeLinear", [x], {}, n_outputs=3)


# ----------------------------------------------------------------------------- QLinearConcat
def qconcat_inputs(
    data: st.DataObject, seed: int, dtype: Any, shape: Sequence[int], axis: int
) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    y_scale = np.array(data.draw(scales, label="y_scale"), np.float32)
    y_zp = np.array(random_zero_point(rng, dtype))
    inputs = [y_scale, y_zp]
    for i in range(data.draw(st.integers(1, 3), label="n inputs")):
        s = list(shape)
        s[axis] = data.draw(st.integers(1, 3), label="axis size")
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, size=s, endpoint=True).astype(dtype)
        if data.draw(st.booleans(), label="same params"):
            inputs += [x, y_scale.copy(), y_zp.copy()]
        else:
            x_scale = np.array(data.draw(scales, label="x_scale"), np.float32)
            inputs += [x, x_scale, np.array(random_zero_point(rng, dtype))]
    return inputs


@given(shape=shapes, dtype=st.sampled_from(QDTYPES), seed=seeds, data=st.data())
def test_qlinear_concat(shape: tuple, dtype: Any, seed: int, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    inputs = qconcat_inputs(data, seed, dtype, shape, axis)
    constant = data.draw(st.booleans(), label="constant params")
    init = [i for i in range(len(inputs)) if i < 2 or (i - 2) % 3] if constant else []
    check("QLinearConcat", inputs, {"axis": axis}, domain="com.microsoft", as_initializer=init)


# ----------------------------------------------------------------------------- run_rows
def check_blocks(op_type: str, inputs: list, attrs: dict, cuts: Sequence[int]) -> None:
    """Row blocks written into the whole output, and into block-sized buffers, rebuild ``run``."""
    check_rows(get_kernel(op_type, "int8"), list(inputs), dict(attrs), cuts, block_buffers=True)


nchw = st.lists(st.integers(1, 5), min_size=4, max_size=4).map(tuple)
cut_lists = st.lists(st.integers(0, 12), max_size=4)


@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=4).map(tuple), dtype=st.sampled_from(QDTYPES),
       seed=seeds, data=st.data(), cuts=cut_lists)
def test_quantize_dequantize_rows_blocks(
    shape: tuple, dtype: Any, seed: int, data: st.DataObject, cuts: list
) -> None:
    """Q/DQ split the second-to-last axis (H of NCHW, tokens of (B, T, C), matrix rows), per-axis
    parameters along any axis, the row axis included."""
    assert get_kernel("QuantizeLinear", "int8").row_axis == get_kernel("DequantizeLinear", "int8").row_axis == -2
    rng = np.random.default_rng(seed)
    axis = data.draw(st.sampled_from([None, *range(-len(shape), len(shape))]), label="axis")
    n = 1 if axis is None else shape[axis]
    s = np.array(data.draw(st.lists(scales, min_size=n, max_size=n)), np.float32)
    zp = random_zero_point(rng, dtype, n)
    attrs = {} if axis is None else {"axis": axis}
    if axis is None:
        s, zp = s.reshape(()), zp.reshape(())
    x = tricky_floats(shape, float(np.min(s)), seed, np.float32)
    check("QuantizeLinear", [x, s, zp], attrs)
    check_blocks("QuantizeLinear", [x, s, zp], attrs, cuts)
    xq = run("QuantizeLinear", [x, s, zp], attrs)[0]
    check("DequantizeLinear", [xq, s, zp], attrs)
    check_blocks("DequantizeLinear", [xq, s, zp], attrs, cuts)


@given(shape=nchw, dtype=st.sampled_from(QDTYPES), seed=seeds, data=st.data(), cuts=cut_lists)
def test_qlinear_concat_rows_blocks(
    shape: tuple, dtype: Any, seed: int, data: st.DataObject, cuts: list
) -> None:
    axis = data.draw(st.sampled_from([1, 2, 3, -3]), label="axis")
    inputs = qconcat_inputs(data, seed, dtype, shape, axis)
    check("QLinearConcat", inputs, {"axis": axis}, domain="com.microsoft")
    check_blocks("QLinearConcat", inputs, {"axis": axis}, cuts)
