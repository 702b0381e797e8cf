"""Quantization kernels (precision "int8"), bit-exact with onnxruntime's CPU provider.

Ops: QuantizeLinear, DequantizeLinear (per-tensor and per-axis, opset 19-20
semantics; opset-21 blocked quantization is refused), DynamicQuantizeLinear
and com.microsoft QLinearConcat.  QuantizeLinear and DequantizeLinear are
elementwise and have ``run_rows`` over ``row_axis = -2`` (H of NCHW, the
tokens of (B, T, C), the rows of a matrix: the elementwise kernels' axis, so
they stream and fuse in the same chains; an output of rank < 2 is filled
whole); QLinearConcat over ``row_axis = 2``, as Concat.  ``out`` may be the
whole output or a buffer of exactly ``stop - start`` rows.

Reusable helpers for requantizing kernels (re-exported from ``_quant_math``):

* :func:`round_half_even_saturate` ``(x_float32, zero_point, dtype)``: the
  final MLAS step (float clamp, round half to even, add zero point);
* :func:`quantize_linear` / :func:`dequantize_linear`: whole formulas with
  already-broadcast scale and zero point;
* :func:`broadcast_params`: per-tensor / per-axis scale and zero point shaped
  for broadcasting;
* :func:`requantize_table`: onnxruntime's 256-entry requantization table;
* :func:`qrange`: ``(qmin, qmax)`` of a quantized dtype.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ...optable.kernel import Attrs, Inputs, Kernel
from ._layout_common import (
    attr_int,
    check_row_rank,
    contiguous,
    normalize_axis,
    onnx_dtype,
    optional_input,
    rows_dest,
    take_rows,
)
from ._layout_index import concat_rows_into
from ._quant_math import (
    QUANT_DTYPES,
    broadcast_params,
    dequantize_linear,
    dynamic_quant_params,
    qrange,
    quantize_linear,
    requantize_table,
    round_half_even_saturate,
)

__all__ = [
    "KERNELS",
    "ROW_AXIS",
    "broadcast_params",
    "dequantize_linear",
    "qrange",
    "quantize_linear",
    "requantize_table",
    "round_half_even_saturate",
]

#: Output axis that QLinearConcat's ``run_rows`` splits (H of an NCHW tensor), as Concat's.
ROW_AXIS = 2
#: Output axis that QuantizeLinear's and DequantizeLinear's ``run_rows`` split, as the elementwise kernels'.
ELEMENTWISE_ROW_AXIS = -2


def _elementwise_axis(ndim: int) -> Optional[int]:
    """The axis Q/DQ ``run_rows`` split for a rank-``ndim`` tensor (None: filled whole)."""
    return ndim + ELEMENTWISE_ROW_AXIS if ndim >= -ELEMENTWISE_ROW_AXIS else None


def _refuse_blocked(attrs: Attrs, op_type: str) -> None:
    """Blocked (opset 21) quantization is not implemented: say so instead of computing garbage."""
    if attr_int(attrs, "block_size", 0) != 0:
        raise NotImplementedError(f"{op_type}: blocked quantization (block_size, opset 21) is not supported")


def _quant_out_dtype(zero_point: Optional[np.ndarray], attrs: Attrs) -> np.dtype:
    """Output type: the zero point's type, else ``output_dtype`` (opset 21), else uint8."""
    if zero_point is not None:
        dtype = np.asarray(zero_point).dtype
    elif attr_int(attrs, "output_dtype", 0):
        dtype = onnx_dtype(attr_int(attrs, "output_dtype", 0))
    else:
        dtype = np.dtype(np.uint8)
    if dtype not in QUANT_DTYPES:
        raise NotImplementedError(f"QuantizeLinear to {dtype} is not supported (int8, uint8, int16, uint16)")
    return dtype


def _row_params(
    scale: np.ndarray, zero_point: np.ndarray, axis: int, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis parameters restricted to rows ``[start, stop)`` when they vary along the row axis."""
    if scale.ndim > axis and scale.shape[axis] > 1:
        scale = take_rows(scale, axis, start, stop)
    if zero_point.ndim > axis and zero_point.shape[axis] > 1:
        zero_point = take_rows(zero_point, axis, start, stop)
    return scale, zero_point


# ----------------------------------------------------------------------------- QuantizeLinear
def _quantize_setup(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.dtype]:
    _refuse_blocked(attrs, "QuantizeLinear")
    x = np.asarray(inputs[0])
    zp_in = optional_input(inputs, 2)
    dtype = _quant_out_dtype(zp_in, attrs)
    scale, zp = broadcast_params(x, np.asarray(inputs[1]), zp_in, attr_int(attrs, "axis", 1))
    return x, scale, zp, dtype


def quantize_run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """QuantizeLinear: ``saturate(round_half_even(x / scale) + zero_point)``.

    ``saturate`` (opset 19) only concerns float8 outputs, which are refused,
    so integer outputs always saturate.
    """
    x, scale, zp, dtype = _quantize_setup(inputs, attrs)
    return (quantize_linear(x, scale, zp, dtype),)


def quantize_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
    """Rows ``[start, stop)`` along the second-to-last axis of QuantizeLinear."""
    x, scale, zp, dtype = _quantize_setup(inputs, attrs)
    axis = _elementwise_axis(x.ndim)
    if axis is None:
        out[...] = quantize_linear(x, scale, zp, dtype)
        return
    dest = rows_dest(out, axis, start, stop, x.shape[axis])
    scale, zp = _row_params(scale, zp, axis, start, stop)
    dest[...] = quantize_linear(take_rows(x, axis, start, stop), scale, zp, dtype)


# ----------------------------------------------------------------------------- DequantizeLinear
def _dequantize_setup(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _refuse_blocked(attrs, "DequantizeLinear")
    x = np.asarray(inputs[0])
    if x.dtype not in (*QUANT_DTYPES, np.dtype(np.int32)):
        raise NotImplementedError(f"DequantizeLinear from {x.dtype} is not supported")
    zp_in = optional_input(inputs, 2)
    if zp_in is not None and np.asarray(zp_in).dtype != x.dtype:
        raise TypeError(f"DequantizeLinear: zero point is {np.asarray(zp_in).dtype}, input is {x.dtype}")
    if x.dtype == np.int32 and zp_in is not None and np.any(np.asarray(zp_in) != 0):
        raise ValueError("DequantizeLinear: int32 input needs a zero (or absent) zero point")
    scale, zp = broadcast_params(x, np.asarray(inputs[1]), zp_in, attr_int(attrs, "axis", 1))
    return x, scale, zp


def dequantize_run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """DequantizeLinear: ``(x - zero_point) * scale`` in float32, output in the scale's type."""
    x, scale, zp = _dequantize_setup(inputs, attrs)
    return (dequantize_linear(x, scale, zp),)


def dequantize_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
    """Rows ``[start, stop)`` along the second-to-last axis of DequantizeLinear."""
    x, scale, zp = _dequantize_setup(inputs, attrs)
    axis = _elementwise_axis(x.ndim)
    if axis is None:
        out[...] = dequantize_linear(x, scale, zp)
        return
    dest = rows_dest(out, axis, start, stop, x.shape[axis])
    scale, zp = _row_params(scale, zp, axis, start, stop)
    dest[...] = dequantize_linear(take_rows(x, axis, start, stop), scale, zp)


# ----------------------------------------------------------------------------- DynamicQuantizeLinear
def dynamic_quantize_run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """DynamicQuantizeLinear: uint8 output plus the scale and zero point it chose."""
    x = np.asarray(inputs[0])
    if x.dtype != np.float32:
        raise TypeError(f"DynamicQuantizeLinear input must be float32, got {x.dtype}")
    scale, zp = dynamic_quant_params(x)
    y = quantize_linear(x, np.array(scale, dtype=np.float32), zp, np.dtype(np.uint8))
    return (y, np.array(scale, dtype=np.float32), np.array(zp, dtype=np.uint8))


# ----------------------------------------------------------------------------- QLinearConcat
def _qconcat_parts(
    inputs: Inputs,
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, Optional[np.ndarray]]]]:
    """(y_scale, y_zero_point, [(tensor, lookup table or None for a plain copy)])."""
    if len(inputs) < 5 or (len(inputs) - 2) % 3:
        raise ValueError("QLinearConcat takes y_scale, y_zero_point and (tensor, scale, zero_point) triples")
    y_scale = np.asarray(inputs[0]).reshape(())
    y_zp = np.asarray(inputs[1]).reshape(())
    dtype = y_zp.dtype
    if dtype not in (np.dtype(np.int8), np.dtype(np.uint8)):
        raise NotImplementedError(f"QLinearConcat on {dtype} is not supported")
    parts: list[tuple[np.ndarray, Optional[np.ndarray]]] = []
    for i in range(2, len(inputs), 3):
        x = np.asarray(inputs[i])
        x_scale = np.asarray(inputs[i + 1]).reshape(())
        x_zp = np.asarray(inputs[i + 2]).reshape(())
        if x.dtype != dtype or x_zp.dtype != dtype:
            raise TypeError("QLinearConcat: every tensor and zero point must share the output type")
        same = np.float32(x_scale) == np.float32(y_scale) and int(x_zp) == int(y_zp)
        parts.append((x, None if same else requantize_table(x_scale, x_zp, y_scale, y_zp, dtype)))
    return y_scale, y_zp, parts


def _apply_table(x: np.ndarray, table: Optional[np.ndarray]) -> np.ndarray:
    """Requantize through the lookup table (or pass through when parameters match)."""
    if table is None:
        return x
    return table[contiguous(x).view(np.uint8)]


def qlinear_concat_run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """com.microsoft QLinearConcat: requantize each input to the output parameters, then concatenate."""
    _, _, parts = _qconcat_parts(inputs)
    arrays = [_apply_table(x, t) for x, t in parts]
    axis = normalize_axis(attr_int(attrs, "axis", 0), arrays[0].ndim)
    return (np.concatenate(arrays, axis=axis),)


def qlinear_concat_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
    """Rows ``[start, stop)`` along H of QLinearConcat (only the needed rows are requantized)."""
    _, _, parts = _qconcat_parts(inputs)
    rank = parts[0][0].ndim
    check_row_rank(rank, ROW_AXIS, "QLinearConcat")
    axis = normalize_axis(attr_int(attrs, "axis", 0), rank)
    if axis == ROW_AXIS:
        concat_rows_into([_apply_table(x, t) for x, t in parts], axis, out, start, stop)
        return
    dest = rows_dest(out, ROW_AXIS, start, stop, parts[0][0].shape[ROW_AXIS])
    blocks = [_apply_table(take_rows(x, ROW_AXIS, start, stop), t) for x, t in parts]
    np.concatenate(blocks, axis=axis, out=dest)


KERNELS: tuple[Kernel, ...] = (
    Kernel("QuantizeLinear", "int8", quantize_run, quantize_rows, ELEMENTWISE_ROW_AXIS),
    Kernel("DequantizeLinear", "int8", dequantize_run, dequantize_rows, ELEMENTWISE_ROW_AXIS),
    Kernel("DynamicQuantizeLinear", "int8", dynamic_quantize_run),
    Kernel("QLinearConcat", "int8", qlinear_concat_run, qlinear_concat_rows, ROW_AXIS),
)
