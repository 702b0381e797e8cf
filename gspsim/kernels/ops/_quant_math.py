"""Bit-exact integer quantization arithmetic, as onnxruntime's CPU provider does it.

onnxruntime (MLAS) quantizes a float32 value ``v = x / scale`` by clamping
``v`` to ``[qmin - zp, qmax - zp]`` *in float*, rounding half to even, and
adding the zero point.  Requantizing kernels (QLinearConv, QLinearMatMul,
QLinearAdd ...) use the same final step on ``acc * scale``, so
:func:`round_half_even_saturate` is the helper they should call.  Everything
here is pure numpy on explicit dtypes.

Values the ONNX spec leaves undefined for integer outputs get one documented
answer on every platform, for float32 and float16 inputs alike
(docs/precision.md, "Infinities and NaN"): +inf saturates to ``qmax``, -inf to
``qmin``, and NaN becomes ``qmin``.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

ZeroPoint = Union[int, np.integer, np.ndarray]

#: Integer types QuantizeLinear can produce (int16/uint16 are opset 21, cheap to allow).
QUANT_DTYPES: tuple[np.dtype, ...] = tuple(np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.uint16))


def qrange(dtype: np.dtype) -> tuple[int, int]:
    """``(qmin, qmax)`` of an integer quantized type."""
    info = np.iinfo(np.dtype(dtype))
    return int(info.min), int(info.max)


def round_half_even_saturate(x: np.ndarray, zero_point: ZeroPoint, dtype: np.dtype) -> np.ndarray:
    """``saturate(round_half_even(x) + zero_point)`` as ``dtype``, exactly like MLAS.

    ``x`` is the already-scaled float32 value (``x / scale`` when quantizing,
    ``acc * scale`` when requantizing); ``zero_point`` is an int or an integer
    array broadcastable against ``x`` (per-axis zero points).  The clamp is
    done in float32 before rounding, so +-inf saturate and NaN maps to
    ``qmin`` (gspsim's documented choice; onnxruntime's x86 kernels agree).
    """
    dtype = np.dtype(dtype)
    qmin, qmax = qrange(dtype)
    x = np.asarray(x, dtype=np.float32)
    zp = np.asarray(zero_point).astype(np.int32)
    lo = (qmin - zp).astype(np.float32)
    hi = (qmax - zp).astype(np.float32)
    v = np.where(x >= lo, x, lo)  # NaN fails the comparison and takes the lower bound
    v = np.minimum(v, hi)
    q = np.rint(v).astype(np.int32) + zp
    return q.astype(dtype)


def per_axis_shape(rank: int, axis: int, length: int) -> tuple[int, ...]:
    """Shape that broadcasts a length-``length`` vector along ``axis`` of a rank-``rank`` tensor."""
    shape = [1] * rank
    shape[axis] = length
    return tuple(shape)


def broadcast_params(
    x: np.ndarray, scale: np.ndarray, zero_point: Optional[np.ndarray], axis: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point shaped to broadcast against ``x`` (per-tensor or per-axis).

    A scalar or one-element scale is per-tensor; otherwise it must be 1-D with
    ``x.shape[axis]`` entries.  Blocked quantization (opset 21) is not handled.
    """
    scale = np.asarray(scale)
    zp = np.zeros((), dtype=np.int32) if zero_point is None else np.asarray(zero_point)
    if scale.size == 1 and scale.ndim <= 1:
        if zp.size != 1:
            raise ValueError("per-tensor scale needs a scalar zero point")
        return scale.reshape(()), zp.reshape(())
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} out of range for rank {x.ndim}")
    axis = axis + x.ndim if axis < 0 else axis
    length = x.shape[axis]
    if scale.ndim != 1 or scale.shape[0] != length:
        raise ValueError(f"per-axis scale must be 1-D with {length} entries, got shape {scale.shape}")
    shape = per_axis_shape(x.ndim, axis, length)
    if zp.size == 1 and zero_point is None:
        return scale.reshape(shape), zp.reshape(())
    if zp.ndim != 1 or zp.shape[0] != length:
        raise ValueError(f"per-axis zero point must be 1-D with {length} entries, got shape {zp.shape}")
    return scale.reshape(shape), zp.reshape(shape)


def quantize_linear(x: np.ndarray, scale: np.ndarray, zero_point: ZeroPoint, dtype: np.dtype) -> np.ndarray:
    """``saturate(round(x / scale) + zero_point)`` bit-exact with onnxruntime.

    ``scale`` and ``zero_point`` must already broadcast against ``x``.  float32
    and float16 inputs both divide in float32 and clamp before rounding
    (MLAS), so values beyond the integer range, infinities included, saturate
    and NaN becomes ``qmin``.
    """
    x = np.asarray(x)
    dtype = np.dtype(dtype)
    if x.dtype not in (np.float32, np.float16):
        raise TypeError(f"QuantizeLinear input must be float32 or float16, got {x.dtype}")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        v = x.astype(np.float32, copy=False) / np.asarray(scale).astype(np.float32)
    return round_half_even_saturate(v, zero_point, dtype)


def dequantize_linear(q: np.ndarray, scale: np.ndarray, zero_point: ZeroPoint) -> np.ndarray:
    """``float(int32(q) - zero_point) * scale`` in float32, cast to the scale's float type.

    ``scale`` and ``zero_point`` must already broadcast against ``q``.
    """
    scale = np.asarray(scale)
    out_dtype = scale.dtype if scale.dtype in (np.float16, np.float32) else np.dtype(np.float32)
    diff = np.asarray(q).astype(np.int64) - np.asarray(zero_point).astype(np.int64)
    y = diff.astype(np.float32) * scale.astype(np.float32)
    with np.errstate(over="ignore"):  # int32 inputs may exceed float16: inf, as in onnxruntime
        return y.astype(out_dtype, copy=False)


def requantize_table(
    x_scale: np.ndarray,
    x_zero_point: ZeroPoint,
    y_scale: np.ndarray,
    y_zero_point: ZeroPoint,
    dtype: np.dtype,
) -> np.ndarray:
    """256-entry lookup table: input byte -> requantized value (onnxruntime's QLinear lookup tables).

    Entry ``b`` holds ``quantize(x_scale * (int(b as dtype) - x_zp), y_scale, y_zp)``;
    index it with the input viewed as uint8.
    """
    dtype = np.dtype(dtype)
    codes = np.arange(256, dtype=np.uint8).view(dtype).astype(np.int32)
    x_zp = np.int32(np.asarray(x_zero_point).reshape(()))
    deq = np.float32(np.asarray(x_scale).reshape(())) * (codes - x_zp).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        v = deq / np.float32(np.asarray(y_scale).reshape(()))
    return round_half_even_saturate(v, np.asarray(y_zero_point).reshape(()), dtype)


def dynamic_quant_params(x: np.ndarray) -> tuple[np.float32, np.uint8]:
    """DynamicQuantizeLinear's (scale, zero point): uint8 range covering ``[min(x,0), max(x,0)]``."""
    x = np.asarray(x, dtype=np.float32)
    lo = np.float32(min(float(np.nanmin(x)), 0.0)) if x.size else np.float32(0.0)
    hi = np.float32(max(float(np.nanmax(x)), 0.0)) if x.size else np.float32(0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale = np.float32(1.0) if hi == lo else np.float32((hi - lo) / np.float32(255.0))
        initial = np.float32(0.0) - lo / scale
    zp = np.rint(np.minimum(np.maximum(initial, np.float32(0.0)), np.float32(255.0)))
    return np.float32(scale), np.uint8(zp)
