"""Numba loops behind the pooling kernels.

Every loop works on one output row at a time and runs its innermost loop over
the output columns a kernel tap reaches inside the image (computed up front,
so there is no per-element bounds test and LLVM vectorizes it).  Per output
element, taps are visited kernel row by kernel row, left to right: the order
onnxruntime sums them in.

Images are planes (N * C, rows, W).  ``x`` may hold only input rows
``[row0, row0 + x.shape[1])`` of an image of ``h`` rows (the fp16 kernels
widen just the rows a block reads).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _tap_columns(out_w, s_w, shift, w):
    """Output columns ``[lo, hi)`` whose input column ``ow * s_w + shift`` lies inside ``[0, w)``."""
    lo = min(out_w, max(0, (-shift + s_w - 1) // s_w))
    if w - 1 - shift < 0:
        return lo, lo
    return lo, max(lo, min(out_w, (w - 1 - shift) // s_w + 1))


@njit(cache=True)
def max_pool_rows(x, row0, h, lowest, r0, r1, out_w, k_h, k_w, s_h, s_w, d_h, d_w, pad_t, pad_l, out):
    """MaxPool output rows ``[r0, r1)`` into ``out`` (planes, r1 - r0, out_w); padding never wins."""
    w = x.shape[2]
    acc = np.empty(out_w, x.dtype)
    for pl in range(x.shape[0]):
        for oh in range(r0, r1):
            for ow in range(out_w):
                acc[ow] = lowest
            for i in range(k_h):
                ih = oh * s_h - pad_t + i * d_h
                if ih < 0 or ih >= h:
                    continue
                r = ih - row0
                for j in range(k_w):
                    shift = j * d_w - pad_l
                    lo, hi = _tap_columns(out_w, s_w, shift, w)
                    if s_w == 1:
                        for t in range(hi - lo):
                            v = x[pl, r, np.uint64(lo + shift + t)]
                            if v > acc[np.uint64(lo + t)]:
                                acc[np.uint64(lo + t)] = v
                    else:
                        for t in range(hi - lo):
                            v = x[pl, r, np.uint64((lo + t) * s_w + shift)]
                            if v > acc[np.uint64(lo + t)]:
                                acc[np.uint64(lo + t)] = v
            for ow in range(out_w):
                out[pl, oh - r0, ow] = acc[ow]


@njit(cache=True)
def _counts(out_n, s, pad_begin, pad_end, k, d, n):
    """Per output position: taps inside the image, and taps inside the padded extent."""
    inside = np.zeros(out_n, np.int64)
    extent = np.zeros(out_n, np.int64)
    for o in range(out_n):
        for i in range(k):
            pos = o * s - pad_begin + i * d
            if pos >= 0 and pos < n:
                inside[o] += 1
            if pos >= -pad_begin and pos < n + pad_end:
                extent[o] += 1
    return inside, extent


@njit(cache=True)
def avg_pool_rows(x, row0, h, count_include_pad, r0, r1, out_w, k_h, k_w, s_h, s_w, d_h, d_w,
                  pad_t, pad_l, pad_b, pad_r, out):
    """float32 AveragePool output rows ``[r0, r1)``, onnxruntime's divisors.

    The sum runs over taps inside the image; it is divided by their number,
    or with ``count_include_pad`` by the number of taps inside the padded
    extent (so in ceil mode a window hanging past the end padding does not
    count the positions beyond it).  A window without any input gives 0.
    """
    w = x.shape[2]
    in_w, ext_w = _counts(out_w, s_w, pad_l, pad_r, k_w, d_w, w)
    in_h, ext_h = _counts(r1, s_h, pad_t, pad_b, k_h, d_h, h)
    acc = np.empty(out_w, np.float32)
    div = np.empty(out_w, np.float32)
    for oh in range(r0, r1):
        for ow in range(out_w):
            count = ext_h[oh] * ext_w[ow] if count_include_pad else in_h[oh] * in_w[ow]
            div[ow] = np.float32(max(count, 1))  # a window with no input gives 0, as in onnxruntime
        for pl in range(x.shape[0]):
            for ow in range(out_w):
                acc[ow] = 0.0
            for i in range(k_h):
                ih = oh * s_h - pad_t + i * d_h
                if ih < 0 or ih >= h:
                    continue
                r = ih - row0
                for j in range(k_w):
                    shift = j * d_w - pad_l
                    lo, hi = _tap_columns(out_w, s_w, shift, w)
                    if s_w == 1:
                        for t in range(hi - lo):
                            acc[np.uint64(lo + t)] += x[pl, r, np.uint64(lo + shift + t)]
                    else:
                        for t in range(hi - lo):
                            acc[np.uint64(lo + t)] += x[pl, r, np.uint64((lo + t) * s_w + shift)]
            for ow in range(out_w):
                out[pl, oh - r0, ow] = acc[ow] / div[ow]


@njit(cache=True)
def qlinear_avg_pool_rows(x, x_scale, x_zp, y_scale, y_zp, qmin, qmax, count_include_pad,
                          r0, r1, out_w, k_h, k_w, s_h, s_w, pad_t, pad_l, out):
    """com.microsoft QLinearAveragePool output rows ``[r0, r1)`` exactly as onnxruntime computes them.

    Each input is dequantized as ``float32(x_scale) * float32(x - x_zp)``;
    window sums run in float32 over the taps inside the image (windows are
    clipped to the image, no dilation); the divisor is the full kernel size
    with ``count_include_pad`` and the clipped window size without; the result
    is ``clamp(nearbyint(avg / y_scale + y_zp))``.
    """
    h = x.shape[1]
    w = x.shape[2]
    in_w, _ = _counts(out_w, s_w, pad_l, 0, k_w, 1, w)
    in_h, _ = _counts(r1, s_h, pad_t, 0, k_h, 1, h)
    yzf = np.float32(y_zp)
    acc = np.empty(out_w, np.float32)
    div = np.empty(out_w, np.float32)
    for oh in range(r0, r1):
        for ow in range(out_w):
            div[ow] = np.float32(k_h * k_w) if count_include_pad else np.float32(max(in_h[oh] * in_w[ow], 1))
        for pl in range(x.shape[0]):
            for ow in range(out_w):
                acc[ow] = 0.0
            for i in range(k_h):
                ih = oh * s_h - pad_t + i
                if ih < 0 or ih >= h:
                    continue
                for j in range(k_w):
                    shift = j - pad_l
                    lo, hi = _tap_columns(out_w, s_w, shift, w)
                    for t in range(hi - lo):
                        v = x_scale * np.float32(np.int32(x[pl, ih, np.uint64((lo + t) * s_w + shift)]) - x_zp)
                        acc[np.uint64(lo + t)] += v
            for ow in range(out_w):
                q = np.rint(acc[ow] / div[ow] / y_scale + yzf)
                if q < qmin:
                    q = qmin
                if q > qmax:
                    q = qmax
                out[pl, oh - r0, ow] = np.int32(q)


@njit(cache=True)
def qlinear_global_avg(x, bias, scale, y_zp, qmin, qmax, out):
    """onnxruntime's QLinearGlobalAveragePool (MLAS): ``clamp(rint(f32(sum(x) + bias) * scale)) + y_zp``.

    ``x`` is (planes, S); ``bias`` is ``-x_zp * S`` and ``scale`` is
    ``x_scale / (y_scale * float32(S))``, both as MLAS forms them; the product
    is clamped in float to ``[qmin - y_zp, qmax - y_zp]`` before rounding half
    to even.
    """
    lo = np.float32(qmin - y_zp)
    hi = np.float32(qmax - y_zp)
    for pl in range(x.shape[0]):
        acc = np.int32(bias)
        for s in range(x.shape[1]):
            acc = np.int32(acc + np.int32(x[pl, s]))
        f = np.float32(acc) * scale
        if f < lo:
            f = lo
        if f > hi:
            f = hi
        out[pl] = np.int32(np.rint(f)) + y_zp
