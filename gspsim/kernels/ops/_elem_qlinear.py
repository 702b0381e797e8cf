"""onnxruntime-exact arithmetic for the com.microsoft quantized elementwise ops.

onnxruntime (x86-64 with AVX2, as on this project's machines) computes them as follows;
each function reproduces the same fp32 operations in the same order, so the bytes match:

* QLinearAdd (``MlasQLinearAddKernelAvx2Helper``, qladd_avx2.cpp, built with FMA
  contraction): with ``ra = sa / sc``, ``rb = sb / sc`` and the raw codes,
  ``F = f32(zc) - fma(ra, za, rb * zb)`` and ``cvtps2dq(fma(a, ra, fma(b, rb, F)))``,
  then saturating packs to int16 and to 8 bits.  When input 0 is the broadcast
  (per-span scalar) operand onnxruntime swaps A and B in that formula.  Rounding half to
  even makes every one of these roundings visible, so all are reproduced.
* QLinearMul (``MlasQLinearMulKernel``, SSE2): exact int32 product ``(a - za) * (b - zb)``,
  ``cvtps2dq(f32(prod) * ((sa * sb) / sc) + f32(zc))``, then saturating packs to int16 and
  to the 8-bit type.
* QLinearSigmoid / QLinearLeakyRelu: a 256-entry table.  Each code ``x`` is dequantized as
  ``sx * f32(x - zx)``, mapped through the function (sigmoid is MLAS's rational
  approximation ``MlasComputeLogisticF32KernelFma3``, with fused multiply-adds), and
  quantized by ``MlasQuantizeLinear`` (``v / sy``, clamp in fp32, round half to even, add
  ``zy``).  The tensor is then a table lookup on the raw byte.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

_F32 = np.float32
_INT_MIN = np.int32(-(2**31))


def _cvtps2dq(v: np.ndarray) -> np.ndarray:
    """x86 ``cvtps2dq``: round half to even to int32; NaN and out-of-range values give INT_MIN."""
    v = np.asarray(v, np.float32)
    inside = np.abs(v) < _F32(2.0**31)  # False for NaN as well
    with np.errstate(invalid="ignore"):
        r = np.where(inside, np.rint(v), 0).astype(np.int32)
    return np.where(inside, r, _INT_MIN)


def _limits(dtype: np.dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def ort_scalar_operand(shape_a: Sequence[int], shape_b: Sequence[int]) -> int:
    """Which input onnxruntime's ``Broadcaster`` treats as a per-span scalar: 0, 1, or -1 for neither.

    It walks the trailing dims from the end, skips common dims of size <= 1 while more
    common dims remain, and looks at the first one left: an input whose size there is
    not > 1 is broadcast along the innermost span (input 0 is checked first).
    """
    if len(shape_a) == 0:
        return 0
    if len(shape_b) == 0:
        return 1
    common = min(len(shape_a), len(shape_b))
    for i in range(1, common + 1):
        da, db = shape_a[-i], shape_b[-i]
        dim = min(da, db) if min(da, db) == 0 else max(da, db)
        if dim <= 1 and i < common:
            continue
        if da <= 1:
            return 0
        return 1 if db <= 1 else -1
    return -1


def qlinear_add(
    a: np.ndarray, sa: float, za: int, b: np.ndarray, sb: float, zb: int, sc: float, zc: int, scalar_operand: int
) -> np.ndarray:
    """QLinearAdd on broadcast-compatible int8/uint8 arrays (result has a's dtype).

    ``scalar_operand`` is :func:`ort_scalar_operand` of the *whole* input shapes: when
    input 0 is the per-span scalar, onnxruntime swaps the operands of its MLAS call,
    which changes the order of the fused multiply-adds.
    """
    p, sp, zp, q, sq, zq = (b, sb, zb, a, sa, za) if scalar_operand == 0 else (a, sa, za, b, sb, zb)
    rp = _F32(sp) / _F32(sc)
    rq = _F32(sq) / _F32(sc)
    fixed = _F32(zc) - fma_f32(rp, _F32(zp), rq * _F32(zq))
    with np.errstate(all="ignore"):
        v = fma_f32(p.astype(_F32), rp, fma_f32(q.astype(_F32), rq, fixed))
    r = np.clip(_cvtps2dq(v), -32768, 32767)  # _mm256_packs_epi32
    qmin, qmax = _limits(a.dtype)
    return np.clip(r, qmin, qmax).astype(a.dtype)  # _mm256_packus_epi16 / _mm256_packs_epi16


def qlinear_mul(
    a: np.ndarray, sa: float, za: int, b: np.ndarray, sb: float, zb: int, sc: float, zc: int
) -> np.ndarray:
    """QLinearMul on already-broadcast-compatible int8/uint8 arrays (result has a's dtype)."""
    qmin, qmax = _limits(a.dtype)
    prod = (a.astype(np.int32) - np.int32(za)) * (b.astype(np.int32) - np.int32(zb))
    with np.errstate(all="ignore"):
        ratio = (_F32(sa) * _F32(sb)) / _F32(sc)
        v = prod.astype(_F32) * ratio + _F32(zc)
    r = np.clip(_cvtps2dq(v), -32768, 32767)  # _mm_packs_epi32
    return np.clip(r, qmin, qmax).astype(a.dtype)  # _mm_packus_epi16 / _mm_packs_epi16


# --------------------------------------------------------------------------- lookup tables

# MlasLogisticConstants (logistic.cpp), as fp32
_LOGISTIC = {
    name: _F32(v)
    for name, v in (
        ("lower", -18.0),
        ("upper", 18.0),
        ("a9", 4.37031012579801e-11),
        ("a7", 1.15627324459942e-07),
        ("a5", 6.08574864600143e-05),
        ("a3", 8.51377133304701e-03),
        ("a1", 2.48287947061529e-01),
        ("b10", 6.10247389755681e-13),
        ("b8", 5.76102136993427e-09),
        ("b6", 6.29106785017040e-06),
        ("b4", 1.70198817374094e-03),
        ("b2", 1.16817656904453e-01),
        ("b0", 9.93151921023180e-01),
    )
}


def fma_f32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Correctly rounded fp32 fused multiply-add ``a * b + c``.

    The fp32 product is exact in fp64; the fp64 sum is made round-to-odd (TwoSum error
    term), which makes the final rounding to fp32 a single correct rounding.
    """
    p = np.asarray(a, np.float64) * np.asarray(b, np.float64)
    c64 = np.asarray(c, np.float64)
    s = p + c64
    bb = s - p
    err = (p - (s - bb)) + (c64 - bb)
    bits = s.view(np.int64)
    inexact_even = (err != 0) & ((bits & 1) == 0)
    s = np.where(inexact_even, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    return s.astype(np.float32)


def mlas_logistic(x: np.ndarray) -> np.ndarray:
    """``MlasComputeLogisticF32KernelFma3`` element by element (fp32 with FMAs)."""
    k = _LOGISTIC
    x = np.asarray(x, np.float32)
    x = np.where(x > k["lower"], x, k["lower"])  # vmaxps(lower, x)
    x = np.where(x < k["upper"], x, k["upper"])  # vminps(upper, x)
    x2 = x * x
    p = fma_f32(x2, k["a9"], k["a7"])
    for coef in ("a5", "a3", "a1"):
        p = fma_f32(x2, p, k[coef])
    q = fma_f32(x2, k["b10"], k["b8"])
    for coef in ("b6", "b4", "b2", "b0"):
        q = fma_f32(x2, q, k[coef])
    r = (x * p) / q + _F32(0.5)
    return np.where(r > 0, r, _F32(0.0)).astype(np.float32)


def mlas_quantize(v: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """``MlasQuantizeLinear``: ``v / scale``, clamp in fp32 (NaN -> low bound), round half even, add zp."""
    qmin, qmax = _limits(dtype)
    with np.errstate(all="ignore"):
        q = np.asarray(v, np.float32) / _F32(scale)
    lo, hi = _F32(qmin - zero_point), _F32(qmax - zero_point)
    q = np.where(q > lo, q, lo)
    q = np.where(q < hi, q, hi)
    return (np.rint(q).astype(np.int32) + np.int32(zero_point)).astype(dtype)


def lookup_table(
    fn: Callable[[np.ndarray], np.ndarray], dtype: np.dtype, sx: float, zx: int, sy: float, zy: int
) -> np.ndarray:
    """onnxruntime's ``QlinearBuildLookupTable``: 256 outputs indexed by the input's raw byte."""
    codes = np.arange(256, dtype=np.uint8).view(dtype).astype(np.int32)
    deq = _F32(sx) * (codes - np.int32(zx)).astype(_F32)
    return mlas_quantize(fn(deq), sy, zy, dtype)


def leaky_relu_fn(alpha: float) -> Callable[[np.ndarray], np.ndarray]:
    """QLinearLeakyRelu's float function: ``v >= 0 ? v : alpha * v`` in fp32."""
    a = _F32(alpha)
    return lambda v: np.where(v >= 0, v, a * v).astype(np.float32)


def apply_table(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Map every element of an int8/uint8 tensor through a 256-entry table indexed by its raw byte."""
    return table[np.ascontiguousarray(x).view(np.uint8)]


def scalar_param(x: Optional[np.ndarray], default: float = 0.0) -> float:
    """A per-tensor scale or zero point given as a scalar or 1-element tensor (or omitted)."""
    if x is None:
        return default
    arr = np.asarray(x)
    if arr.size != 1:
        raise ValueError("quantized elementwise ops support per-tensor scales / zero points only")
    return arr.reshape(-1)[0].item()
