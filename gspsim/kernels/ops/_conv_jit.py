"""Numba loops behind the convolution kernels: im2col, an int8 GEMM, depthwise, requantize, col2im.

Layouts are chosen so the innermost loops run over contiguous memory and
LLVM vectorizes them:

* ``im2col_kp`` (float paths) writes classic (K, pixels) float32 columns in
  the weights' own (channel, tap) order: one strided run per output row and
  tap, so the weights need no repacking.  fp32/fp16 convs hand them to
  ``numpy.dot`` (BLAS); int8 convs with short sums (``qconv_f32_rows``) build
  them tile by tile (about 1,024 pixels) and run ``_tile_gemm_finish``, a
  4-channel x 4-tap float32 GEMM whose pixel loop LLVM vectorizes, with the
  requantization fused, while the tile is in cache.
* ``im2col_band`` (int8 GEMM) writes pixels x K with K tap-major,
  ``col[p, t, c]`` (``t = i * k_w + j``), after transposing the input rows a
  band reads to (rows, W, channels), so each tap is one contiguous copy.
* ``igemm_nt`` forms 4 x 4 blocks of dot products over K between weight rows
  (int8, tap-major like ``col``) and uint8 column rows in int32;
  LLVM turns them into ``vpmaddwd`` / ``vpdpwssd`` (AVX-512 VNNI).
* int8 activations enter the GEMM as uint8 "u-space" values ``x + 128``
  (``add=128`` on the uint8 view wraps modulo 256), and the input zero point
  moves with them.  With ``u`` the columns, ``zu`` the u-space zero point and
  ``w`` the raw weights, the exact sum is recovered as
  ``sum(u*w) - w_zp*sum(u) - zu*sum(w) + K*zu*w_zp``.  All arithmetic is int32
  with wrap-around, so it equals onnxruntime's int32 accumulator bit for bit
  whenever that one does not overflow.
* ``depthwise_rows`` runs wide images per channel over flat phase planes
  (every output row of a band in one contiguous loop, a 3 x 3 kernel in one
  pass per kernel row) and narrow ones channels-last, 9 taps at a time.

Every output element is computed the same way whatever block of rows a call
covers, so ``run_rows`` blocks reproduce ``run`` bit for bit.

Hot loops index arrays with ``range`` variables, loop-invariant values or
``uint64``; Numba adds a wrap-around test for other signed indices, which
blocks vectorization.  No array views are created inside loops (each view
costs reference counting).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: target size in bytes of one int8 im2col band (pixels x K)
INT8_BAND_BYTES = 256 * 1024
#: target size in bytes of one weight tile (rows x K) that the int8 GEMM keeps in cache
INT8_WTILE_BYTES = 128 * 1024
#: output widths from which depthwise runs per channel rather than channels-last
DEPTHWISE_DIRECT_MIN_W = 32


@njit(cache=True)
def im2col_band(x, add, pv, c0, cg, r0, r1, out_w, k_h, k_w, s_h, s_w, d_h, d_w, pad_t, pad_l, xt, col):
    """Columns of output rows ``[r0, r1)`` for channels ``[c0, c0 + cg)`` of one image.

    ``x`` is (C, H, W); ``xt`` a scratch of at least (rows read, W, cg);
    ``col`` is (>= pixels, k_h * k_w, cg).  Values are ``x + add`` stored in
    ``col``'s dtype (for uint8 the sum wraps modulo 256); padding is ``pv``.
    """
    h = x.shape[1]
    w = x.shape[2]
    lo = max(r0 * s_h - pad_t, 0)
    hi = min((r1 - 1) * s_h - pad_t + (k_h - 1) * d_h + 1, h)
    if k_h == 1 and k_w == 1 and s_w == 1 and pad_l == 0 and out_w == w:
        p0 = 0
        for oh in range(r0, r1):
            ih = oh * s_h - pad_t
            if ih >= 0 and ih < h:
                for c in range(cg):
                    for iw in range(w):
                        col[np.uint64(p0 + iw), 0, c] = x[c0 + c, ih, iw] + add
            else:
                for iw in range(w):
                    for c in range(cg):
                        col[np.uint64(p0 + iw), 0, c] = pv
            p0 += w
        return
    for r in range(hi - lo):
        for c in range(cg):
            for iw in range(w):
                xt[r, iw, c] = x[c0 + c, lo + r, iw] + add
    p = 0
    for oh in range(r0, r1):
        for ow in range(out_w):
            for i in range(k_h):
                ih = oh * s_h - pad_t + i * d_h
                row_in = ih >= 0 and ih < h
                for j in range(k_w):
                    iw = ow * s_w - pad_l + j * d_w
                    t = i * k_w + j
                    if row_in and iw >= 0 and iw < w:
                        r = ih - lo
                        for c in range(cg):
                            col[p, t, c] = xt[r, iw, c]
                    else:
                        for c in range(cg):
                            col[p, t, c] = pv
            p += 1


@njit(cache=True)
def igemm_nt(w, col, acc, p_count, m_tile):
    """``acc[m, p] = sum_k w[m, k] * col[p, k]`` in int32 for p < p_count rounded up to 4.

    ``w`` is (M, K) int8; ``col`` (>= p_count rounded up to 4, K)
    uint8; ``acc`` (M, >= that).  ``m_tile`` (a multiple of 4) weight rows stay
    hot in cache while the pixels stream past them.
    """
    m_count = w.shape[0]
    k_count = w.shape[1]
    m4 = m_count // 4 * 4
    pb_count = (p_count + 3) // 4
    for mt in range(0, m_count, m_tile):
        m_hi = min(m_count, mt + m_tile)
        for pb in range(pb_count):
            p = 4 * pb
            for mb in range(mt // 4, min(m_hi, m4) // 4):
                m = 4 * mb
                a00 = np.int32(0)
                a01 = np.int32(0)
                a02 = np.int32(0)
                a03 = np.int32(0)
                a10 = np.int32(0)
                a11 = np.int32(0)
                a12 = np.int32(0)
                a13 = np.int32(0)
                a20 = np.int32(0)
                a21 = np.int32(0)
                a22 = np.int32(0)
                a23 = np.int32(0)
                a30 = np.int32(0)
                a31 = np.int32(0)
                a32 = np.int32(0)
                a33 = np.int32(0)
                for k in range(k_count):
                    v0 = np.int32(col[p, k])
                    v1 = np.int32(col[p + 1, k])
                    v2 = np.int32(col[p + 2, k])
                    v3 = np.int32(col[p + 3, k])
                    c0 = np.int32(w[m, k])
                    c1 = np.int32(w[m + 1, k])
                    c2 = np.int32(w[m + 2, k])
                    c3 = np.int32(w[m + 3, k])
                    a00 = np.int32(a00 + c0 * v0)
                    a01 = np.int32(a01 + c1 * v0)
                    a02 = np.int32(a02 + c2 * v0)
                    a03 = np.int32(a03 + c3 * v0)
                    a10 = np.int32(a10 + c0 * v1)
                    a11 = np.int32(a11 + c1 * v1)
                    a12 = np.int32(a12 + c2 * v1)
                    a13 = np.int32(a13 + c3 * v1)
                    a20 = np.int32(a20 + c0 * v2)
                    a21 = np.int32(a21 + c1 * v2)
                    a22 = np.int32(a22 + c2 * v2)
                    a23 = np.int32(a23 + c3 * v2)
                    a30 = np.int32(a30 + c0 * v3)
                    a31 = np.int32(a31 + c1 * v3)
                    a32 = np.int32(a32 + c2 * v3)
                    a33 = np.int32(a33 + c3 * v3)
                acc[m, p] = a00
                acc[m + 1, p] = a01
                acc[m + 2, p] = a02
                acc[m + 3, p] = a03
                acc[m, p + 1] = a10
                acc[m + 1, p + 1] = a11
                acc[m + 2, p + 1] = a12
                acc[m + 3, p + 1] = a13
                acc[m, p + 2] = a20
                acc[m + 1, p + 2] = a21
                acc[m + 2, p + 2] = a22
                acc[m + 3, p + 2] = a23
                acc[m, p + 3] = a30
                acc[m + 1, p + 3] = a31
                acc[m + 2, p + 3] = a32
                acc[m + 3, p + 3] = a33
            for m in range(max(mt, m4), m_hi):
                b0 = np.int32(0)
                b1 = np.int32(0)
                b2 = np.int32(0)
                b3 = np.int32(0)
                for k in range(k_count):
                    c = np.int32(w[m, k])
                    b0 = np.int32(b0 + c * np.int32(col[p, k]))
                    b1 = np.int32(b1 + c * np.int32(col[p + 1, k]))
                    b2 = np.int32(b2 + c * np.int32(col[p + 2, k]))
                    b3 = np.int32(b3 + c * np.int32(col[p + 3, k]))
                acc[m, p] = b0
                acc[m, p + 1] = b1
                acc[m, p + 2] = b2
                acc[m, p + 3] = b3


@njit(cache=True)
def qconv_rows(xu, add, pv, wk, w_zp, bias, scale, yz, qmin, qmax, quantize,
               r0, r1, out_w, k_h, k_w, s_h, s_w, d_h, d_w, pad_t, pad_l, out):
    """Output rows ``[r0, r1)`` of a grouped int8 convolution (not depthwise).

    ``xu`` is the (N, C, H, W) input viewed as uint8, mapped to u-space by
    ``+ add``; ``pv`` is the u-space input zero point (the padding value).
    ``wk`` is (groups, M_g, k_h * k_w * C_g) int8 weights in (tap, channel)
    order and ``w_zp`` their (M,) int32 zero points.  The exact int32 sum of
    ``(x - x_zp) * (w - w_zp)`` goes to ``out`` (N, M, r1 - r0, out_w) as it
    is, or, if ``quantize``, plus ``bias`` and requantized like onnxruntime
    (see :func:`_finish_rows`).
    """
    n_count = xu.shape[0]
    groups = wk.shape[0]
    mg = wk.shape[1]
    k_count = wk.shape[2]
    cg = k_count // (k_h * k_w)
    wsum = np.zeros(groups * mg, np.int32)
    any_wz = False
    for g in range(groups):
        for mm in range(mg):
            s = np.int32(0)
            for k in range(k_count):
                s = np.int32(s + np.int32(wk[g, mm, k]))
            wsum[g * mg + mm] = s
            if w_zp[g * mg + mm] != 0:
                any_wz = True
    band = min(r1 - r0, max(1, INT8_BAND_BYTES // max(1, out_w * k_count)))
    p_pad = (band * out_w + 3) // 4 * 4
    m_tile = max(4, INT8_WTILE_BYTES // k_count // 4 * 4)
    in_rows = min(xu.shape[2], (band - 1) * s_h + (k_h - 1) * d_h + 1)
    xt = np.empty((max(in_rows, 1), xu.shape[3], cg), np.uint8)
    col3 = np.zeros((p_pad, k_h * k_w, cg), np.uint8)
    col = col3.reshape(p_pad, k_count)
    acc = np.empty((mg, p_pad), np.int32)
    colsum = np.zeros(p_pad, np.int32)
    lo_f = np.float32(qmin - yz)
    hi_f = np.float32(qmax - yz)
    for n in range(n_count):
        for b0 in range(r0, r1, band):
            b1 = min(r1, b0 + band)
            pc = (b1 - b0) * out_w
            for g in range(groups):
                im2col_band(xu[n], add, pv, g * cg, cg, b0, b1, out_w, k_h, k_w, s_h, s_w, d_h, d_w,
                            pad_t, pad_l, xt, col3)
                igemm_nt(wk[g], col, acc, pc, m_tile)
                if any_wz:
                    for p in range(pc):
                        s = np.int32(0)
                        for k in range(k_count):
                            s = np.int32(s + np.int32(col[p, k]))
                        colsum[p] = s
                for mm in range(mg):
                    m = g * mg + mm
                    wz = np.int64(w_zp[m])
                    const = np.int32(k_count * pv * wz - pv * np.int64(wsum[m]))
                    b = np.int64(0)
                    sc = np.float32(1.0)
                    if quantize:
                        b = np.int64(bias[m])
                        sc = scale[m]
                    for r in range(b1 - b0):
                        orow = b0 - r0 + r
                        base = r * out_w
                        for ow in range(out_w):
                            p = np.uint64(base + ow)
                            v = np.int32(acc[mm, p] + const)
                            if any_wz:
                                v = np.int32(v - wz * colsum[p])
                            if quantize:
                                f = np.float32(np.int32(v + b)) * sc
                                if f < lo_f:
                                    f = lo_f
                                if f > hi_f:
                                    f = hi_f
                                out[n, m, orow, ow] = np.int32(np.rint(f)) + yz
                            else:
                                out[n, m, orow, ow] = v


@njit(cache=True)
def im2col_kp(x, off, c0, cg, r0, r1, out_w, k_h, k_w, s_h, s_w, d_h, d_w, pad_t, pad_l, col):
    """Classic (K, pixels) float32 columns of output rows ``[r0, r1)`` for channels ``[c0, c0 + cg)``.

    ``x`` is (C, H, W) float32, int8 or uint8; row ``(c, i, j)`` of ``col``
    (the weights' own order, so they need no repacking) holds, for every
    pixel, ``x - off`` under tap ``(i, j)`` of channel ``c``, or 0 in the
    padding (int8 convs pad with the zero point ``off``).  Each output row is
    one run of ``out_w`` strided reads and contiguous writes.
    """
    off32 = np.float32(off)
    h = x.shape[1]
    w = x.shape[2]
    for c in range(cg):
        for i in range(k_h):
            for j in range(k_w):
                k = (c * k_h + i) * k_w + j
                o = j * d_w - pad_l
                # output columns whose input column ow * s_w + o lies inside [0, w)
                ow_lo = min(out_w, max(0, (-o + s_w - 1) // s_w))
                ow_hi = max(ow_lo, min(out_w, (w - 1 - o) // s_w + 1)) if w - 1 - o >= 0 else ow_lo
                for oh in range(r0, r1):
                    base = (oh - r0) * out_w
                    ih = oh * s_h - pad_t + i * d_h
                    if ih < 0 or ih >= h:
                        for ow in range(out_w):
                            col[k, np.uint64(base + ow)] = 0.0
                        continue
                    for ow in range(ow_lo):
                        col[k, np.uint64(base + ow)] = 0.0
                    dst = base + ow_lo
                    if s_w == 1:
                        src = ow_lo + o
                        for t in range(ow_hi - ow_lo):
                            col[k, np.uint64(dst + t)] = np.float32(x[c0 + c, ih, np.uint64(src + t)]) - off32
                    else:
                        for t in range(ow_hi - ow_lo):
                            iw = np.uint64((ow_lo + t) * s_w + o)
                            col[k, np.uint64(dst + t)] = np.float32(x[c0 + c, ih, iw]) - off32
                    for ow in range(ow_hi, out_w):
                        col[k, np.uint64(base + ow)] = 0.0


@njit(cache=True, fastmath={"contract"})
def _tile_gemm_finish(wf, m0, m1, col, pc, acc, n, orow, out_w, bias, scale, yz, lo_f, hi_f, quantize, out):
    """Output channels ``[m0, m1)`` of one tile of ``pc`` pixels (whole output rows from ``orow`` on):
    ``acc = wf @ col`` in float32, then :func:`_finish_rows` into ``out``.

    ``wf`` is (M, K) float32, ``col`` (K, >= pc) and ``acc`` (4, >= pc) scratch.
    Four channels share each column load and four taps each accumulator
    pass; the pixel loop is innermost, so LLVM vectorizes it.  Only the int8
    kernels use this (their sums are exact integers in any order, see
    ``conv.EXACT_F32_K``); float convs keep BLAS.
    """
    k_count = wf.shape[1]
    k4 = k_count // 4 * 4
    rows = pc // out_w
    for m in range(m0, m1, 4):
        nm = min(4, m1 - m)
        for a in range(4):
            for p in range(pc):
                acc[a, p] = 0.0
        if nm == 4:
            for k in range(0, k4, 4):
                a0, a1, a2, a3 = wf[m, k], wf[m, k + 1], wf[m, k + 2], wf[m, k + 3]
                b0, b1, b2, b3 = wf[m + 1, k], wf[m + 1, k + 1], wf[m + 1, k + 2], wf[m + 1, k + 3]
                c0, c1, c2, c3 = wf[m + 2, k], wf[m + 2, k + 1], wf[m + 2, k + 2], wf[m + 2, k + 3]
                d0, d1, d2, d3 = wf[m + 3, k], wf[m + 3, k + 1], wf[m + 3, k + 2], wf[m + 3, k + 3]
                for p in range(pc):
                    x0, x1, x2, x3 = col[k, p], col[k + 1, p], col[k + 2, p], col[k + 3, p]
                    acc[0, p] += (a0 * x0 + a1 * x1) + (a2 * x2 + a3 * x3)
                    acc[1, p] += (b0 * x0 + b1 * x1) + (b2 * x2 + b3 * x3)
                    acc[2, p] += (c0 * x0 + c1 * x1) + (c2 * x2 + c3 * x3)
                    acc[3, p] += (d0 * x0 + d1 * x1) + (d2 * x2 + d3 * x3)
            for k in range(k4, k_count):
                a0, b0, c0, d0 = wf[m, k], wf[m + 1, k], wf[m + 2, k], wf[m + 3, k]
                for p in range(pc):
                    x0 = col[k, p]
                    acc[0, p] += a0 * x0
                    acc[1, p] += b0 * x0
                    acc[2, p] += c0 * x0
                    acc[3, p] += d0 * x0
        else:
            for a in range(nm):
                for k in range(k_count):
                    a0 = wf[m + a, k]
                    for p in range(pc):
                        acc[a, p] += a0 * col[k, p]
        for a in range(nm):
            _finish_rows(acc[a], out_w, rows, out_w, n, m + a, orow, bias, scale, yz, lo_f, hi_f, quantize, out)


@njit(cache=True)
def qconv_f32_rows(x, off, wf, groups, bias, scale, yz, qmin, qmax, quantize,
                   r0, r1, out_w, k_h, k_w, s_h, s_w, d_h, d_w, pad_t, pad_l, tile_rows, out):
    """Output rows ``[r0, r1)`` of a grouped int8 conv (not depthwise) whose sums are exact in float32.

    ``x`` (N, C, H, W) int8 or uint8 enters as ``x - off`` (``off`` the
    input zero point); ``wf`` is (M, K) float32 ``w - w_zp`` in (channel,
    tap) order, zero-padded from ``K = C_g * k_h * k_w`` to a multiple of 4
    (the padding columns meet zero rows of the columns: four taps per pass).
    Tiles of ``tile_rows`` output rows go through :func:`im2col_kp` and
    :func:`_tile_gemm_finish` while they are in cache, straight into ``out``
    (N, M, r1 - r0, out_w): the int32 sums (int32 ``out``), or, if
    ``quantize``, plus ``bias`` and requantized as in :func:`_finish_rows`.
    """
    n_count = x.shape[0]
    mg = wf.shape[0] // groups
    cg = x.shape[1] // groups
    col = np.zeros((wf.shape[1], tile_rows * out_w), np.float32)
    acc = np.empty((4, tile_rows * out_w), np.float32)
    lo_f = np.float32(qmin - yz)
    hi_f = np.float32(qmax - yz)
    # strided columns gather from every other input pixel: from float32 that vectorizes, from bytes not
    # (measured: the 3x3/2 stem's im2col 1.6x faster), so strided convs whose taps overlap (each input
    # pixel read k_w / s_w times) convert the band once first
    strided = s_w > 1 and k_w > 1
    xf = np.empty((x.shape[1], x.shape[2], x.shape[3]) if strided else (0, 0, 0), np.float32)
    off32 = np.float32(off)
    for n in range(n_count):
        if strided:
            for c in range(x.shape[1]):
                for r in range(x.shape[2]):
                    for q in range(x.shape[3]):
                        xf[c, r, q] = np.float32(x[n, c, r, q]) - off32
        for t0 in range(r0, r1, tile_rows):
            t1 = min(r1, t0 + tile_rows)
            for g in range(groups):
                if strided:
                    im2col_kp(xf, 0.0, g * cg, cg, t0, t1, out_w, k_h, k_w, s_h, s_w, d_h, d_w, pad_t, pad_l, col)
                else:
                    im2col_kp(x[n], off, g * cg, cg, t0, t1, out_w, k_h, k_w, s_h, s_w, d_h, d_w, pad_t, pad_l,
                              col)
                _tile_gemm_finish(wf, g * mg, (g + 1) * mg, col, (t1 - t0) * out_w, acc, n, t0 - r0, out_w,
                                  bias, scale, yz, lo_f, hi_f, quantize, out)


@njit(cache=True)
def _finish_rows(acc, stride, rows, count, n, m, orow, bias, scale, yz, lo_f, hi_f, quantize, out):
    """Epilogue of output rows ``[orow, orow + rows)`` of channel ``m``, row ``orow + r`` being
    ``acc[r * stride:][:count]`` (one call per channel: calls cost).

    Without ``quantize``: ``acc + bias[m]`` in ``out``'s dtype.  With it,
    onnxruntime's requantization of exact integer sums:
    ``clamp(rint(float32(int32(acc + bias)) * scale)) + yz``, ``scale[m] =
    x_scale * w_scale / y_scale`` rounded as float32; as in MLAS the product is
    clamped in float to ``[lo_f, hi_f] = [qmin - yz, qmax - yz]`` and rounded
    half to even.
    """
    if quantize:
        b = np.int64(bias[m])
        sc = scale[m]
        for r in range(rows):
            a0 = r * stride
            for ow in range(count):
                f = np.float32(np.int32(np.int64(acc[np.uint64(a0 + ow)]) + b)) * sc
                if f < lo_f:
                    f = lo_f
                if f > hi_f:
                    f = hi_f
                out[n, m, orow + r, ow] = np.int32(np.rint(f)) + yz
    else:
        b = bias[m]
        for r in range(rows):
            a0 = r * stride
            for ow in range(count):
                out[n, m, orow + r, ow] = acc[np.uint64(a0 + ow)] + b


@njit(cache=True)
def _finish_block(acct, n, orow, bias, scale, yz, lo_f, hi_f, quantize, out):
    """:func:`_finish_row` for every channel of a channels-last (out_w, M) block of one output row."""
    for m in range(acct.shape[1]):
        if quantize:
            b = np.int64(bias[m])
            sc = scale[m]
            for ow in range(acct.shape[0]):
                f = np.float32(np.int32(np.int64(acct[ow, m]) + b)) * sc
                if f < lo_f:
                    f = lo_f
                if f > hi_f:
                    f = hi_f
                out[n, m, orow, ow] = np.int32(np.rint(f)) + yz
        else:
            bf = bias[m]
            for ow in range(acct.shape[0]):
                out[n, m, orow, ow] = acct[ow, m] + bf


@njit(cache=True)
def depthwise_rows(x, off, w, mult, bias, scale, yz, qmin, qmax, quantize,
                   r0, r1, out_w, s_h, s_w, d_h, d_w, pad_t, pad_l, out):
    """Depthwise conv (one input channel per group, ``mult`` outputs each) for output rows ``[r0, r1)``.

    ``x`` is (N, C, H, W) float32, int8 or uint8 and enters as ``x - off`` in
    float32; ``w`` is (C * mult, k_h, k_w) float32.  Sums are float32 (exact
    for the int8 kernels, which pass ``off = x_zp`` and ``w - w_zp``: at most
    256 integer products, see ``conv.EXACT_F32_K``).
    Each output row then gets ``bias`` added, or, if ``quantize``, is
    requantized as in :func:`_finish_rows`; ``out`` is (N, C * mult, r1 - r0,
    out_w), float32 or int32.

    Wide images run per channel: the padded input band is split into
    ``s_h * s_w`` stride phases, each stored flat with a row pitch ``wq``, so
    output ``(oh, ow)`` sits at ``(oh - r0) * wq + ow`` and every tap reads its
    phase at a fixed offset; the sums then run as one long contiguous loop
    over the whole band (per-row loops and calls were the cost at MobileNet
    sizes).  Narrow ones run channels-last with the inner loop over channels,
    the kernel zero-padded to multiples of 3 x 3 and input rows outside the
    image reading an all-zero row.
    """
    n_count, c_count, h, wid = x.shape
    m_count = w.shape[0]
    k_h = w.shape[1]
    k_w = w.shape[2]
    kh3 = (k_h + 2) // 3 * 3
    kw3 = (k_w + 2) // 3 * 3
    lo = max(r0 * s_h - pad_t, 0)
    hi = min((r1 - 1) * s_h - pad_t + (k_h - 1) * d_h + 1, h)
    zrow = max(hi - lo, 0)
    lo_f = np.float32(qmin - yz)
    hi_f = np.float32(qmax - yz)
    wp = np.zeros((m_count, kh3, kw3), np.float32)
    wp[:, :k_h, :k_w] = w
    rowidx = np.empty((r1 - r0, kh3), np.int64)
    for oh in range(r0, r1):
        for i in range(kh3):
            ih = oh * s_h - pad_t + i * d_h
            rowidx[oh - r0, i] = ih - lo if i < k_h and ih >= lo and ih < hi else zrow
    if out_w >= DEPTHWISE_DIRECT_MIN_W:
        # flat phase planes: padded rows / columns split by (row % s_h, column % s_w), each (hq, wq);
        # output (oh, ow) is flat p = (oh - r0) * wq + ow and tap (i, j) reads phase plane
        # tap_ph at p + tap_off, so one long contiguous loop covers every row of the band
        # (the wq - out_w columns past each row's end are computed and dropped)
        rows_p = (r1 - 1 - r0) * s_h + (k_h - 1) * d_h + 1
        hq = (rows_p + s_h - 1) // s_h
        wq = ((out_w - 1) * s_w + (k_w - 1) * d_w + 1 + s_w - 1) // s_w
        taps = k_h * k_w
        tap_ph = np.empty(taps, np.int64)
        tap_off = np.empty(taps, np.int64)
        for i in range(k_h):
            for j in range(k_w):
                tap_ph[i * k_w + j] = ((i * d_h) % s_h) * s_w + (j * d_w) % s_w
                tap_off[i * k_w + j] = ((i * d_h) // s_h) * wq + (j * d_w) // s_w
        plen = (r1 - r0 - 1) * wq + out_w
        planes = np.zeros((s_h * s_w, (hq + 1) * wq), np.float32)
        acc = np.empty(plen, np.float32)
        # image columns that land inside the planes: the same for every row, so padding stays 0
        n_cols = max(0, min(wid, wq * s_w - pad_l))
        pairs = 0
        if s_w == 2:
            pairs = max(0, min(n_cols // 2, wq - (pad_l + 1) // 2))
        p0, q0 = pad_l % 2, pad_l // 2
        p1, q1 = (pad_l + 1) % 2, (pad_l + 1) // 2
        row_lo = r0 * s_h - pad_t
        off32 = np.float32(off)  # exact: integer zero points, or 0 for float inputs
        for n in range(n_count):
            for c in range(c_count):
                for r in range(lo, hi):
                    y = r - row_lo
                    ph = (y % s_h) * s_w
                    base = (y // s_h) * wq
                    if s_w == 1:
                        for t in range(n_cols):
                            planes[ph, np.uint64(base + pad_l + t)] = np.float32(x[n, c, r, t]) - off32
                        continue
                    # stride 2: column pairs go to the two phases (a pattern LLVM vectorizes)
                    for t in range(pairs):
                        planes[ph + p0, np.uint64(base + q0 + t)] = np.float32(x[n, c, r, np.uint64(2 * t)]) - off32
                        planes[ph + p1, np.uint64(base + q1 + t)] = np.float32(x[n, c, r, np.uint64(2 * t + 1)]) - off32
                    for iw in range(2 * pairs, n_cols):
                        qf = iw + pad_l
                        if qf // s_w < wq:
                            planes[ph + qf % s_w, base + qf // s_w] = np.float32(x[n, c, r, iw]) - off32
                for mm in range(mult):
                    m = c * mult + mm
                    if taps == 9:
                        a0, b0, c0 = tap_ph[0], tap_ph[1], tap_ph[2]
                        a1, b1, c1 = tap_ph[3], tap_ph[4], tap_ph[5]
                        a2, b2, c2 = tap_ph[6], tap_ph[7], tap_ph[8]
                        oa0, ob0, oc0 = tap_off[0], tap_off[1], tap_off[2]
                        oa1, ob1, oc1 = tap_off[3], tap_off[4], tap_off[5]
                        oa2, ob2, oc2 = tap_off[6], tap_off[7], tap_off[8]
                        w00, w01, w02 = w[m, 0, 0], w[m, 0, 1], w[m, 0, 2]
                        w10, w11, w12 = w[m, 1, 0], w[m, 1, 1], w[m, 1, 2]
                        w20, w21, w22 = w[m, 2, 0], w[m, 2, 1], w[m, 2, 2]
                        # one pass per kernel row, (row 0 + row 1) + row 2 as in the float kernels: with
                        # few streams per loop LLVM's aliasing checks stay under its limit and it vectorizes
                        for p in range(plen):
                            acc[p] = (w00 * planes[a0, np.uint64(oa0 + p)] + w01 * planes[b0, np.uint64(ob0 + p)]
                                      + w02 * planes[c0, np.uint64(oc0 + p)])
                        for p in range(plen):
                            acc[p] += (w10 * planes[a1, np.uint64(oa1 + p)] + w11 * planes[b1, np.uint64(ob1 + p)]
                                       + w12 * planes[c1, np.uint64(oc1 + p)])
                        for p in range(plen):
                            acc[p] += (w20 * planes[a2, np.uint64(oa2 + p)] + w21 * planes[b2, np.uint64(ob2 + p)]
                                       + w22 * planes[c2, np.uint64(oc2 + p)])
                    else:
                        for p in range(plen):
                            acc[p] = 0.0
                        for t in range(taps):
                            wt_ = w[m, t // k_w, t % k_w]
                            pt, ot = tap_ph[t], tap_off[t]
                            for p in range(plen):
                                acc[p] += wt_ * planes[pt, np.uint64(ot + p)]
                    _finish_rows(acc, wq, r1 - r0, out_w, n, m, 0, bias, scale, yz, lo_f, hi_f, quantize, out)
        return
    span = (out_w - 1) * s_w + (kw3 - 1) * d_w + 1
    wt = np.empty((kh3, kw3, m_count), np.float32)
    for m in range(m_count):
        for i in range(kh3):
            for j in range(kw3):
                wt[i, j, m] = wp[m, i, j]
    xt = np.zeros((zrow + 1, span, m_count), np.float32)
    acct = np.empty((out_w, m_count), np.float32)
    q_lo = min(span, max(pad_l, 0))
    q_hi = max(q_lo, min(span, pad_l + wid))
    for n in range(n_count):
        for c in range(c_count):
            for mm in range(mult):
                m = c * mult + mm
                for r in range(zrow):
                    for t in range(q_hi - q_lo):
                        xt[r, np.uint64(q_lo + t), m] = x[n, c, lo + r, np.uint64(q_lo - pad_l + t)] - off
        for oh in range(r0, r1):
            orow = oh - r0
            for ow in range(out_w):
                for m in range(m_count):
                    acct[ow, m] = 0.0
                for i0 in range(0, kh3, 3):
                    ra = rowidx[orow, i0]
                    rb = rowidx[orow, i0 + 1]
                    rc = rowidx[orow, i0 + 2]
                    if ra == zrow and rb == zrow and rc == zrow:
                        continue
                    for j0 in range(0, kw3, 3):
                        qa = ow * s_w + j0 * d_w
                        qb = qa + d_w
                        qc = qb + d_w
                        for m in range(m_count):
                            sa = (wt[i0, j0, m] * xt[ra, qa, m] + wt[i0, j0 + 1, m] * xt[ra, qb, m]
                                  + wt[i0, j0 + 2, m] * xt[ra, qc, m])
                            sb = (wt[i0 + 1, j0, m] * xt[rb, qa, m] + wt[i0 + 1, j0 + 1, m] * xt[rb, qb, m]
                                  + wt[i0 + 1, j0 + 2, m] * xt[rb, qc, m])
                            sc = (wt[i0 + 2, j0, m] * xt[rc, qa, m] + wt[i0 + 2, j0 + 1, m] * xt[rc, qb, m]
                                  + wt[i0 + 2, j0 + 2, m] * xt[rc, qc, m])
                            acct[ow, m] += (sa + sb) + sc
            _finish_block(acct, n, orow, bias, scale, yz, lo_f, hi_f, quantize, out)


@njit(cache=True)
def col2im_add(cols, oc0, in_w, k_h, k_w, s_h, s_w, d_h, d_w, pad_t, pad_l, out):
    """Scatter-add ConvTranspose columns of one group into ``out[oc0:oc0 + M_g]``.

    ``cols`` is (M_g * k_h * k_w, H * W): column ``(m, i, j)`` of input pixel
    ``(ih, iw)`` lands on output ``(ih * s_h - pad_t + i * d_h, iw * s_w - pad_l + j * d_w)``.
    """
    out_h = out.shape[1]
    out_w = out.shape[2]
    m_count = cols.shape[0] // (k_h * k_w)
    in_h = cols.shape[1] // in_w
    for m in range(m_count):
        for i in range(k_h):
            for j in range(k_w):
                t = (m * k_h + i) * k_w + j
                for ih in range(in_h):
                    oh = ih * s_h - pad_t + i * d_h
                    if oh < 0 or oh >= out_h:
                        continue
                    for iw in range(in_w):
                        ow = iw * s_w - pad_l + j * d_w
                        if ow >= 0 and ow < out_w:
                            out[oc0 + m, oh, ow] += cols[t, ih * in_w + iw]
