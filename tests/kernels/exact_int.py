"""The two references of the int8 conv/matmul tests: the ONNX spec's exact integer arithmetic, and
onnxruntime on inputs where its own arithmetic is exact on every CPU.

**Exact reference.**  ConvInteger and MatMulInteger are pure integer ops; their
spec result is computed here by onnx's own reference implementation
(``onnx.reference.ReferenceEvaluator``, run on the same one-node model that
onnxruntime gets).  QLinearConv and QLinearMatMul are that exact accumulator
(plus the int32 bias) followed by the requantization gspsim documents (the
ONNX formula in float32, as onnxruntime's MLAS does it):
``y = saturate(round_half_even(float32(acc) * float32(x_scale * w_scale / y_scale)) + y_zp)``.
gspsim's int8 kernels must equal this bit for bit on full-range codes.

**Where onnxruntime is exact.**  onnxruntime's integer GEMMs (MLAS, behind
QLinearConv, ConvInteger, QLinearMatMul, MatMulInteger) are exact int32 sums on
most CPUs, but not all:

* x86 without VNNI (SSE4.1/AVX2/AVX-512BW kernels, the GEMM and the ConvSym
  QLinearConv path) multiply uint8 by int8 with ``(v)pmaddubsw``, which adds
  each *pair* of adjacent u8 x s8 products into a **saturated int16**:
  255 * 127 + 255 * 127 = 64770 becomes 32767.  ConvInteger with int8 X and
  uint8 W hits it too (there W is the GEMM's unsigned A operand).
  onnxruntime documents this (``session.x64quantprecision`` in
  ``onnxruntime_session_options_config_keys.h``: "x64 SSE4.1/AVX2/AVX512(with
  no VNNI) has overflow problem with quantized matrix multiplication with
  U8S8"; ``quantize_static(reduce_range=True)`` "quantizes weights to 7-bit to
  reduce the risk of integer saturation on CPUs that typically lack the VNNI
  dot-product instruction"); reports: microsoft/onnxruntime#16105 (QLinearConv
  wrong on an AMD AVX2 CPU, right on an AVX-512 VNNI one), #14642 (results
  differ between CPUs: "AVX2 and AVX512 instructions have saturation
  problems"), #24220 (a saturation checker for VPMADDUBSW in
  ConvSymKernelAvx2).  u8 x u8 kernels widen to int16 and use ``vpmaddwd``
  (int32 pair sums, exact); s8 x s8 and s8 x u8 GEMMs use portable C (exact)
  unless AVX-VNNI-INT8 (exact); VNNI, AVX-VNNI and AMX sum into int32 (exact).
* ARM64 without dot-product instructions multiplies int8 by int8 with
  ``smull`` + ``smlal`` (``QgemmS8S8KernelNeon.S``; uint8 A is first
  re-biased to int8), adding a pair of products in **int16, wrapping**: only
  (-128) * (-128) twice (32768) does not fit.  UDOT/SDOT/I8MM and the u8 x u8
  kernel (``umlal`` into 32 bits) are exact.

So onnxruntime is exact on every CPU when every **int8** code that reaches an
8-bit multiply lies in [-64, 63] and uint8 codes use their full range
[0, 255]: a pair of u8 x s8 products is then at most 2 * 255 * 64 = 32640 <=
32767 in magnitude, a pair of re-biased s8 x s8 products at most
2 * 128 * 64 = 16384, whichever operand a kernel treats as the unsigned one.
The codes that reach the multiplies are the data and, in a padded
convolution, the input zero point, which fills the padding (an int8 X zero
point of 68 against uint8 W = 255 puts 2 * 68 * 255 = 34680 into one int16:
onnxruntime's ConvInteger then returns -9 instead of 0 for an all-padding
output on such a CPU).  Other zero points enter through int32 row and column
sums and keep their full range.  This is onnxruntime's own ``reduce_range``
remedy (7-bit weights).  :func:`int16_safe` maps full-range codes into that
region.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
from onnx.reference import ReferenceEvaluator
from ortref import single_node_model

#: the int8 codes whose products with any 8-bit code onnxruntime sums exactly on every CPU (see above)
INT16_SAFE_INT8 = (-64, 63)


def int16_safe(codes: np.ndarray) -> np.ndarray:
    """int8 ``codes`` halved into [-64, 63] (an arithmetic shift: signs and order kept); uint8 unchanged."""
    codes = np.asarray(codes)
    if codes.dtype != np.int8:
        return codes
    return (codes >> 1).astype(np.int8)


def reference_run(op_type: str, inputs: Sequence[Optional[np.ndarray]], attrs: Mapping[str, Any]) -> np.ndarray:
    """The first output of onnx's reference evaluator on the same one-node model onnxruntime runs."""
    model = single_node_model(op_type, inputs, attrs)
    feeds = {f"in{i}": np.asarray(a) for i, a in enumerate(inputs) if a is not None}
    return ReferenceEvaluator(model).run(None, feeds)[0]


def requantize(acc: np.ndarray, multiplier: np.ndarray, y_zero_point: np.ndarray) -> np.ndarray:
    """``saturate(round_half_even(float32(acc) * multiplier) + y_zp)`` as the zero point's type.

    ``acc`` holds exact integer sums (int32 range), ``multiplier`` the float32
    ``x_scale * w_scale / y_scale`` broadcast against it.
    """
    dtype = np.asarray(y_zero_point).dtype
    info = np.iinfo(dtype)
    scaled = np.asarray(acc).astype(np.float32) * np.asarray(multiplier, np.float32)
    assert scaled.dtype == np.float32
    y = np.rint(scaled).astype(np.float64) + int(np.asarray(y_zero_point))
    return np.clip(y, info.min, info.max).astype(dtype)


def exact_qlinear_conv(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    """QLinearConv from the exact ConvInteger accumulator (weight zero points all equal, as onnxruntime needs)."""
    x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp = inputs[:8]
    w_zp = np.asarray(w_zp).reshape(-1)
    assert np.all(w_zp == w_zp[0]), "per-channel weight zero points must be equal"
    acc = reference_run("ConvInteger", [x, w, np.asarray(x_zp), w_zp[:1].reshape(())], attrs).astype(np.int64)
    channel = (1, -1) + (1,) * (acc.ndim - 2)
    if len(inputs) > 8 and inputs[8] is not None:
        acc = acc + np.asarray(inputs[8], np.int64).reshape(channel)
    multiplier = (np.float32(x_scale) * np.asarray(w_scale, np.float32).reshape(-1)) / np.float32(y_scale)
    return requantize(acc, multiplier.reshape(channel), y_zp)


def exact_qlinear_matmul(inputs: Sequence[np.ndarray]) -> np.ndarray:
    """QLinearMatMul from the exact MatMulInteger accumulator (per-tensor A, per-tensor or per-column B)."""
    a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp = inputs
    acc = reference_run("MatMulInteger", [a, b, np.asarray(a_zp), np.asarray(b_zp)], {}).astype(np.int64)
    a_s, y_s = np.float32(np.asarray(a_scale).reshape(())), np.float32(np.asarray(y_scale).reshape(()))
    return requantize(acc, (a_s * np.asarray(b_scale, np.float32)) / y_s, y_zp)
