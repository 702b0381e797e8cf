"""Numba GEMM cores for the matmul kernels: a deterministic fp32 GEMM and an exact u8 x s8 -> int32 GEMM.

Both take A (M, K) row-major and B packed transposed in blocks of 64 columns by
:func:`pack_columns` (once per B: the kernels' ``prepare`` keeps it per node); the
dot-product k loop then walks both operands contiguously and LLVM vectorizes it (FMA for fp32; VNNI ``vpdpwssd`` for u8 x s8).  A 4x4
register tile keeps 16 accumulators live while the packed block stays in L2.

Why not BLAS for fp32: a row's result must not depend on which other rows are computed
with it (``run_rows`` over any split must equal ``run`` bit for bit), and OpenBLAS picks
different kernels (and K splits) by matrix size.  Here every output element comes out of
the same tile code and the same k loop (M and N are padded to multiples of 4, so no
remainder path exists), hence the same bits whatever the row block.  The fp32 k loop is
compiled with ``fastmath`` so LLVM may reassociate the sum into vector lanes; the order it
picks depends only on K, never on the row.

The int8 GEMM works on unsigned A and signed B (the wrappers flip sign bits and fold the
128 offsets into the zero points), the pattern LLVM turns into VNNI instructions.
Products of u8 and s8 sum exactly in int32, so the result equals onnxruntime's int32
accumulator exactly; zero points are applied afterwards as rank-one corrections.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

#: rows and columns per register tile; callers pad M and N to multiples of this
TILE = 4
#: columns of B packed (transposed) per block; the packed block stays in L2
COLUMN_BLOCK = 64
#: k loop chunk: long enough that the per-tile horizontal sums are cheap (measured: shorter
#: chunks lose more to them than they win in cache locality), short enough to bound a
#: tile's working set for very long K
K_CHUNK = 4096


def packed_stride(k: int) -> int:
    """Row length of the packed-B scratch: >= k, an odd number of 64-byte lines of int8.

    Packing writes one element to each of 64 packed rows per step; with a power-of-two-ish
    row stride (K = 3072, 4096, ...) those rows fall into a few L1 sets and evict each
    other.  An odd number of cache lines per row spreads them over all sets.
    """
    lines = -(-k // 64) | 1
    return lines * 64


def padded(n: int) -> int:
    """``n`` rounded up to a multiple of the tile size."""
    return -(-n // TILE) * TILE


def column_block(n: int) -> int:
    """Packed-B columns per block for an N-column product (a multiple of 4)."""
    return min(COLUMN_BLOCK, padded(n))


@numba.njit(cache=True)
def pack_columns(b: np.ndarray, trans_b: bool, jb: int, ks: int) -> np.ndarray:  # pragma: no cover - JIT
    """B packed for :func:`gemm_f32` / :func:`gemm_u8s8`, done once per B: ``bt[blk]`` holds columns
    ``[blk * jb, blk * jb + jb)`` of B transposed, rows ``ks`` long (see :func:`packed_stride`),
    zero past N and K, in B's dtype.  ``b`` is B (K, N), or B transposed (N, K) when ``trans_b``
    (then packing is a plain copy)."""
    k = b.shape[1] if trans_b else b.shape[0]
    n = b.shape[0] if trans_b else b.shape[1]
    blocks = (n + jb - 1) // jb
    bt = np.zeros((blocks, jb, ks), b.dtype)
    for blk in range(blocks):
        j0 = blk * jb
        w = min(jb, n - j0)
        bb = bt[blk]
        if trans_b:
            bb[:w, :k] = b[j0 : j0 + w]
        else:
            for kk in range(k):  # transpose: contiguous reads of B rows (measured fastest)
                row = b[kk, j0 : j0 + w]
                for jj in range(w):
                    bb[jj, kk] = row[jj]
    return bt


@numba.njit(cache=True, fastmath=True)
def gemm_f32(a: np.ndarray, bt: np.ndarray, n: int, c: np.ndarray, kc: int) -> None:  # pragma: no cover - JIT
    """``c = a @ B`` in fp32; ``a`` (Mp, K) with Mp a multiple of 4, ``c`` (Mp, N), B (N columns)
    packed by :func:`pack_columns`.

    The k loop runs in chunks of ``kc``.  Chunk sums are added to ``c`` in chunk order, so
    every element's rounding sequence depends on K alone.
    """
    mp, k = a.shape
    jb = bt.shape[1]
    for blk in range(bt.shape[0]):
        j0 = blk * jb
        w = min(jb, n - j0)
        bb = bt[blk]
        for k0 in range(0, k, kc):
            k1 = min(k0 + kc, k)
            for i in range(0, mp, 4):
                for j in range(0, w, 4):
                    s00 = np.float32(0.0)
                    s01 = np.float32(0.0)
                    s02 = np.float32(0.0)
                    s03 = np.float32(0.0)
                    s10 = np.float32(0.0)
                    s11 = np.float32(0.0)
                    s12 = np.float32(0.0)
                    s13 = np.float32(0.0)
                    s20 = np.float32(0.0)
                    s21 = np.float32(0.0)
                    s22 = np.float32(0.0)
                    s23 = np.float32(0.0)
                    s30 = np.float32(0.0)
                    s31 = np.float32(0.0)
                    s32 = np.float32(0.0)
                    s33 = np.float32(0.0)
                    # 1-D chunk views: indices from range(n) are provably >= 0, so the loads are
                    # contiguous vectors (absolute indices would make LLVM emit gathers)
                    ar0, ar1, ar2, ar3 = a[i, k0:k1], a[i + 1, k0:k1], a[i + 2, k0:k1], a[i + 3, k0:k1]
                    br0, br1, br2, br3 = bb[j, k0:k1], bb[j + 1, k0:k1], bb[j + 2, k0:k1], bb[j + 3, k0:k1]
                    for kk in range(k1 - k0):
                        a0 = ar0[kk]
                        a1 = ar1[kk]
                        a2 = ar2[kk]
                        a3 = ar3[kk]
                        b0 = br0[kk]
                        b1 = br1[kk]
                        b2 = br2[kk]
                        b3 = br3[kk]
                        s00 += a0 * b0
                        s01 += a0 * b1
                        s02 += a0 * b2
                        s03 += a0 * b3
                        s10 += a1 * b0
                        s11 += a1 * b1
                        s12 += a1 * b2
                        s13 += a1 * b3
                        s20 += a2 * b0
                        s21 += a2 * b1
                        s22 += a2 * b2
                        s23 += a2 * b3
                        s30 += a3 * b0
                        s31 += a3 * b1
                        s32 += a3 * b2
                        s33 += a3 * b3
                    acc = (s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33)
                    for t in range(16):
                        jj = j + t % 4
                        if jj < w:
                            if k0 == 0:
                                c[i + t // 4, j0 + jj] = acc[t]
                            else:
                                c[i + t // 4, j0 + jj] += acc[t]


@numba.njit(cache=True)
def gemm_u8s8(
    a: np.ndarray,
    bt: np.ndarray,
    col_term: np.ndarray,
    n: int,
    row_sum: np.ndarray,
    a_zero: np.ndarray,
    b_zero: np.ndarray,
    c: np.ndarray,
    kc: int,
) -> None:  # pragma: no cover - JIT
    """``c[i, j] = sum_k (a[i,k] - a_zero[i]) * (b'[k,j] - b_zero[j])`` in wrapping int32.

    ``a`` is uint8 (Mp, K) with ``row_sum`` its row sums; ``bt`` and ``col_term`` are
    B packed by :func:`pack_b_u8s8` (N columns).  The k loop is chunked as in
    :func:`gemm_f32`; the zero points enter once a block's sums are complete, as
    ``sum ab - row_sum * zb - za * (col_term)``.  Every product and partial sum is
    kept in int32 (``i32(...)``), which lets LLVM use 16-bit multiply-add instructions.
    """
    i32 = np.int32
    mp, k = a.shape
    jb = bt.shape[1]
    for blk in range(bt.shape[0]):
        j0 = blk * jb
        w = min(jb, n - j0)
        bb = bt[blk]
        for k0 in range(0, k, kc):
            k1 = min(k0 + kc, k)
            for i in range(0, mp, 4):
                for j in range(0, w, 4):
                    s00 = i32(0)
                    s01 = i32(0)
                    s02 = i32(0)
                    s03 = i32(0)
                    s10 = i32(0)
                    s11 = i32(0)
                    s12 = i32(0)
                    s13 = i32(0)
                    s20 = i32(0)
                    s21 = i32(0)
                    s22 = i32(0)
                    s23 = i32(0)
                    s30 = i32(0)
                    s31 = i32(0)
                    s32 = i32(0)
                    s33 = i32(0)
                    ar0, ar1, ar2, ar3 = a[i, k0:k1], a[i + 1, k0:k1], a[i + 2, k0:k1], a[i + 3, k0:k1]
                    br0, br1, br2, br3 = bb[j, k0:k1], bb[j + 1, k0:k1], bb[j + 2, k0:k1], bb[j + 3, k0:k1]
                    for kk in range(k1 - k0):
                        a0 = i32(ar0[kk])
                        a1 = i32(ar1[kk])
                        a2 = i32(ar2[kk])
                        a3 = i32(ar3[kk])
                        b0 = i32(br0[kk])
                        b1 = i32(br1[kk])
                        b2 = i32(br2[kk])
                        b3 = i32(br3[kk])
                        s00 = i32(s00 + a0 * b0)
                        s01 = i32(s01 + a0 * b1)
                        s02 = i32(s02 + a0 * b2)
                        s03 = i32(s03 + a0 * b3)
                        s10 = i32(s10 + a1 * b0)
                        s11 = i32(s11 + a1 * b1)
                        s12 = i32(s12 + a1 * b2)
                        s13 = i32(s13 + a1 * b3)
                        s20 = i32(s20 + a2 * b0)
                        s21 = i32(s21 + a2 * b1)
                        s22 = i32(s22 + a2 * b2)
                        s23 = i32(s23 + a2 * b3)
                        s30 = i32(s30 + a3 * b0)
                        s31 = i32(s31 + a3 * b1)
                        s32 = i32(s32 + a3 * b2)
                        s33 = i32(s33 + a3 * b3)
                    acc = (s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33)
                    for t in range(16):
                        ii = i + t // 4
                        jj = j + t % 4
                        if jj < w:
                            if k0 == 0:
                                c[ii, j0 + jj] = acc[t]
                            else:
                                c[ii, j0 + jj] = i32(c[ii, j0 + jj] + acc[t])
        for ii in range(mp):
            for jj in range(w):
                c[ii, j0 + jj] = i32(c[ii, j0 + jj] - row_sum[ii] * b_zero[j0 + jj] - a_zero[ii] * col_term[blk, jj])


@numba.njit(cache=True)
def requantize(
    acc: np.ndarray, scale: np.ndarray, zero_point: int, qmin: int, qmax: int
) -> np.ndarray:  # pragma: no cover - JIT
    """onnxruntime's ``MlasRequantizeOutput``: ``clamp(rint(f32(acc) * scale[j])) + zp`` as int32.

    ``scale`` holds one fp32 value per column (broadcast a per-tensor scale first); the
    clamp bounds are ``qmin - zp`` and ``qmax - zp`` applied in fp32 before rounding, and
    ``rint`` rounds half to even like ``cvtps2dq``.
    """
    m, n = acc.shape
    out = np.empty((m, n), np.int32)
    lo = np.float32(qmin - zero_point)
    hi = np.float32(qmax - zero_point)
    for i in range(m):
        for j in range(n):
            v = np.float32(acc[i, j]) * scale[j]
            v = max(v, lo)
            v = min(v, hi)
            out[i, j] = np.int32(np.rint(v)) + zero_point
    return out


def pad_rows(a: np.ndarray) -> np.ndarray:
    """``a`` (m, K) C-contiguous with zero rows appended up to a multiple of 4 (no copy if aligned)."""
    m = a.shape[0]
    mp = padded(m)
    if mp == m:
        return np.ascontiguousarray(a)
    out = np.zeros((mp,) + a.shape[1:], a.dtype)
    out[:m] = a
    return out


class PackedF32(NamedTuple):
    """B packed once for :func:`matmul_f32`: its N and the packed blocks."""

    n: int
    bt: np.ndarray


def pack_b_f32(b: np.ndarray, trans_b: bool = False) -> PackedF32:
    """Pack B (any float type: converted to fp32), (K, N) or, when ``trans_b`` (Gemm's transB,
    cheaper to pack), its transpose (N, K)."""
    k = b.shape[1] if trans_b else b.shape[0]
    n = b.shape[0] if trans_b else b.shape[1]
    if n == 0:
        return PackedF32(0, np.zeros((0, TILE, 1), np.float32))
    return PackedF32(n, pack_columns(np.ascontiguousarray(b, np.float32), trans_b, column_block(n),
                                 packed_stride(4 * k) // 4))


def matmul_f32(a: np.ndarray, packed: PackedF32) -> np.ndarray:
    """``a`` (m, K) times B packed by :func:`pack_b_f32`, in fp32 (float ``a`` of any width is
    converted): the (m, N) product."""
    m = a.shape[0]
    if m == 0 or packed.n == 0:
        return np.zeros((m, packed.n), np.float32)
    ap = pad_rows(a.astype(np.float32, copy=False))
    c = np.empty((ap.shape[0], packed.n), np.float32)
    gemm_f32(ap, packed.bt, packed.n, c, K_CHUNK)
    return c[:m]


class PackedU8S8(NamedTuple):
    """B packed once for :func:`matmul_u8s8`: its N, the packed blocks and column terms, and its
    zero points moved to the int8 domain."""

    n: int
    bt: np.ndarray
    col_term: np.ndarray
    b_zero: np.ndarray


def pack_b_u8s8(b: np.ndarray, b_zero: np.ndarray, trans_b: bool = False) -> PackedU8S8:
    """Pack B (int8 or uint8, (K, N), or (N, K) when ``trans_b``) with its (N,) int32 zero points."""
    k = b.shape[1] if trans_b else b.shape[0]
    n = b.shape[0] if trans_b else b.shape[1]
    flip = 0x80 if b.dtype == np.uint8 else 0
    zb = np.ascontiguousarray(b_zero, np.int32) - flip  # uint8 codes become int8 ones minus 128
    if n == 0:
        return PackedU8S8(0, np.zeros((0, TILE, 1), np.int8), np.zeros((0, TILE), np.int32), zb)
    b8 = (np.ascontiguousarray(b).view(np.uint8) ^ np.uint8(flip)).view(np.int8)  # int8 codes
    bt = pack_columns(b8, trans_b, column_block(n), packed_stride(k))
    # each column's sum_k b' - K * b_zero (int32, wrapping like the GEMM's accumulator); 0 past N
    zb_cols = np.zeros(bt.shape[0] * bt.shape[1], np.int64)
    zb_cols[:n] = zb
    col_term = (bt.sum(axis=2, dtype=np.int64) - k * zb_cols.reshape(bt.shape[:2])).astype(np.int32)
    return PackedU8S8(n, bt, col_term, zb)


def matmul_u8s8(a: np.ndarray, packed: PackedU8S8, a_zero: np.ndarray) -> np.ndarray:
    """Exact ``sum_k (a - a_zero[i]) * (b - b_zero[j])`` as int32 (m, N), B packed by :func:`pack_b_u8s8`.

    ``a`` is uint8 (m, K); ``a_zero`` (m,) int32 zero points in the uint8 domain.
    """
    m = a.shape[0]
    if m == 0 or packed.n == 0:
        return np.zeros((m, packed.n), np.int32)
    ap = pad_rows(a)
    mp = ap.shape[0]
    row_sum = np.zeros(mp, np.int32)
    row_sum[:m] = a.sum(axis=1, dtype=np.int64)
    za = np.zeros(mp, np.int32)
    za[:m] = a_zero
    c = np.empty((mp, packed.n), np.int32)
    gemm_u8s8(ap, packed.bt, packed.col_term, packed.n, row_sum, za, packed.b_zero, c, K_CHUNK)
    return c[:m]
