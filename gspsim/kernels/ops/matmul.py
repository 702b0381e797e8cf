"""Matrix-multiply kernels: Gemm and MatMul (fp32, fp16), QLinearMatMul and MatMulInteger (int8).

Precision policy: fp16 kernels take and return fp16 tensors but upcast to fp32 and
accumulate in fp32 (the same GEMM core as fp32), rounding once to fp16 at the output,
after alpha/beta/C have been applied.  int8 kernels accumulate exactly in int32 and
requantize like onnxruntime (``f32(acc) * (a_scale * b_scale / y_scale)``, clamp, round
half to even, add the zero point); results are bit-exact with that, on any codes, so with
onnxruntime wherever its own integer sums are exact (docs/precision.md).

Row blocks (``run_rows``): MatMul and the int8 matmuls split output axis -2 (rank-1
outputs are filled whole), Gemm splits axis 0 (M).  Every block recomputes
nothing outside its rows except packing B, and gives the same bits as ``run``;
the int8 kernels' ``prepare`` packs B once per node instead.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ...optable.kernel import Attrs, Inputs, Kernel, PreparedRowsFn
from . import _mm_gemm as gemm
from ._elem_rows import row_axis, row_count

#: computes one output block: (batch index, first row, end row) -> (rows, N) array
BlockFn = Callable[[tuple, int, int], np.ndarray]


# --------------------------------------------------------------------------- batched driver


def _matmul_shape(a_shape: tuple, b_shape: tuple) -> tuple[tuple, int, int, int, tuple]:
    """numpy.matmul shape rules: (batch, M, K, N, output shape); 1-D operands are promoted then dropped."""
    if len(a_shape) == 0 or len(b_shape) == 0:
        raise ValueError("MatMul operands must have rank >= 1")
    a2 = a_shape if len(a_shape) >= 2 else (1,) + tuple(a_shape)
    b2 = b_shape if len(b_shape) >= 2 else tuple(b_shape) + (1,)
    if a2[-1] != b2[-2]:
        raise ValueError(f"MatMul inner dimensions differ: {a_shape} x {b_shape}")
    batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    m, k, n = a2[-2], a2[-1], b2[-1]
    out = tuple(batch) + ((m,) if len(a_shape) >= 2 else ()) + ((n,) if len(b_shape) >= 2 else ())
    return tuple(batch), m, k, n, out


def _batched_rows(a_shape: tuple, b_shape: tuple, out: np.ndarray, start: int, stop: int, block: BlockFn) -> None:
    """Fill output rows [start, stop) of a broadcast, batched matmul, one 2-D block per batch index.

    The split axis (output axis -2; none for a rank-1 output) maps to M or to a batch axis
    of the full ``batch + (M, N)`` product; ``block`` computes the rows asked for.
    """
    batch, m, _, n, out_shape = _matmul_shape(tuple(a_shape), tuple(b_shape))
    if out.shape != out_shape:
        raise ValueError(f"output buffer shape {out.shape} != {out_shape}")
    full = out
    if len(b_shape) == 1:
        full = np.expand_dims(full, -1)
    if len(a_shape) == 1:
        full = np.expand_dims(full, -2)
    nb = len(batch)
    kept = list(range(nb)) + ([nb] if len(a_shape) >= 2 else []) + ([nb + 1] if len(b_shape) >= 2 else [])
    axis = row_axis(len(out_shape))
    faxis = None if axis is None else kept[axis]
    r0, r1 = (start, stop) if faxis == nb else (0, m)
    if r1 <= r0 or n == 0:
        return
    for idx in np.ndindex(*batch):
        if faxis is not None and faxis < nb and not (start <= idx[faxis] < stop):
            continue
        full[idx][r0:r1] = block(idx, r0, r1)


def _operand_views(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A and B promoted to >= 2-D and broadcast to the common batch shape (views, no copies)."""
    batch = _matmul_shape(a.shape, b.shape)[0]
    a2 = a if a.ndim >= 2 else a[None, :]
    b2 = b if b.ndim >= 2 else b[:, None]
    return np.broadcast_to(a2, batch + a2.shape[-2:]), np.broadcast_to(b2, batch + b2.shape[-2:])


class _PackedB:
    """B's batch slices packed for a GEMM on first use (a 2-D B once for every batch index).

    ``pack(b_slice, idx)`` packs the (K, N) slice of batch index ``idx``.  Kept per node by
    ``prepare``, so B is packed once per node; made per call by ``run_rows``.
    """

    def __init__(self, a_shape: tuple, b: np.ndarray, pack: Callable[[np.ndarray, tuple], Any]) -> None:
        batch = _matmul_shape(a_shape, b.shape)[0]
        b2 = b if b.ndim >= 2 else b[:, None]
        self._bv = np.broadcast_to(b2, batch + b2.shape[-2:])
        self._pack = pack
        self._shared = b.ndim <= 2
        self._packed: dict[tuple, Any] = {}

    def __getitem__(self, idx: tuple) -> Any:
        key = () if self._shared else idx
        packed = self._packed.get(key)
        if packed is None:
            packed = self._packed[key] = self._pack(self._bv[idx], idx)
        return packed


# --------------------------------------------------------------------------- fp32 / fp16


def _float_dtype(precision: str) -> type:
    return np.float16 if precision == "fp16" else np.float32


def _packed_path(*arrays: Optional[np.ndarray]) -> bool:
    """float32 / float16 operands take the packed GEMM; float64 and integers numpy's, in their own type."""
    return all(x is None or np.asarray(x).dtype in (np.float32, np.float16) for x in arrays)


def _make_matmul(precision: str) -> Kernel:
    dtype = _float_dtype(precision)

    def prepare(inputs: Inputs, attrs: Attrs) -> PreparedRowsFn:
        if not _packed_path(*inputs[:2]):
            return lambda block_inputs, out, start, stop: _numpy_rows(block_inputs, out, start, stop)
        a_shape, b = np.shape(inputs[0]), np.asarray(inputs[1])
        packed_b = _PackedB(a_shape, b, lambda b_slice, idx: gemm.pack_b_f32(b_slice))

        def rows(block_inputs: Inputs, out: np.ndarray, start: int, stop: int) -> None:
            a = np.asarray(block_inputs[0])
            av = _operand_views(a, b)[0]

            def block(idx: tuple, r0: int, r1: int) -> np.ndarray:
                return gemm.matmul_f32(av[idx][r0:r1], packed_b[idx]).astype(dtype)

            _batched_rows(a.shape, b.shape, out, start, stop, block)

        return rows

    def run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
        prepare(inputs, attrs)(inputs, out, start, stop)

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        out_dtype = dtype if _packed_path(*inputs[:2]) else np.asarray(inputs[0]).dtype
        out = np.empty(_matmul_shape(np.shape(inputs[0]), np.shape(inputs[1]))[4], out_dtype)
        run_rows(inputs, attrs, out, 0, row_count(out.shape))
        return (out,)

    return Kernel("MatMul", precision, run, run_rows, row_axis=-2, prepare=prepare)


def _numpy_rows(inputs: Inputs, out: np.ndarray, start: int, stop: int) -> None:
    """MatMul rows [start, stop) of float64 or integer operands: numpy, in their type (integers wrap)."""
    a, b = np.asarray(inputs[0]), np.asarray(inputs[1])

    def block(idx: tuple, r0: int, r1: int) -> np.ndarray:
        av, bv = _operand_views(a, b)
        return np.matmul(av[idx][r0:r1], bv[idx]).astype(out.dtype)

    _batched_rows(a.shape, b.shape, out, start, stop, block)


def _gemm_operands(
    inputs: Inputs, attrs: Attrs
) -> tuple[np.ndarray, np.ndarray, bool, Optional[np.ndarray], float, float]:
    """A as (M, K), B as stored, transB, C, alpha, beta (ONNX defaults applied).

    B stays as given: with transB it is already the (N, K) layout the GEMM core packs.
    """
    a, b = np.asarray(inputs[0]), np.asarray(inputs[1])
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError("Gemm operands must be 2-D")
    if int(attrs.get("transA", 0)):
        a = a.T
    trans_b = bool(int(attrs.get("transB", 0)))
    c = inputs[2] if len(inputs) > 2 else None
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    return a, b, trans_b, (None if c is None else np.asarray(c)), alpha, beta


def _make_gemm(precision: str) -> Kernel:
    dtype = _float_dtype(precision)

    def prepare(inputs: Inputs, attrs: Attrs) -> PreparedRowsFn:
        a, b, trans_b, c, alpha, beta = _gemm_operands(inputs, attrs)
        m, n = a.shape[0], b.shape[0 if trans_b else 1]
        if not _packed_path(a, b):
            return lambda block_inputs, out, start, stop: _gemm_numpy_rows(block_inputs, attrs, out, start, stop)
        packed_b = gemm.pack_b_f32(b, trans_b)
        cb = None if c is None or beta == 0.0 else np.broadcast_to(c.astype(np.float32), (m, n))

        def rows(block_inputs: Inputs, out: np.ndarray, start: int, stop: int) -> None:
            if stop <= start:
                return
            a_rows = _gemm_operands(block_inputs, attrs)[0][start:stop]
            acc = gemm.matmul_f32(a_rows, packed_b)
            if alpha != 1.0:
                acc = acc * np.float32(alpha)
            if cb is not None:
                acc = acc + (cb[start:stop] if beta == 1.0 else np.float32(beta) * cb[start:stop])
            out[start:stop] = acc.astype(dtype)

        return rows

    def run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
        prepare(inputs, attrs)(inputs, out, start, stop)

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        a, b, trans_b, _, _, _ = _gemm_operands(inputs, attrs)
        out = np.empty((a.shape[0], b.shape[0 if trans_b else 1]), dtype if _packed_path(a, b) else a.dtype)
        run_rows(inputs, attrs, out, 0, a.shape[0])
        return (out,)

    return Kernel("Gemm", precision, run, run_rows, row_axis=0, prepare=prepare)


def _gemm_numpy_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
    """Gemm rows [start, stop) of float64 or integer operands: numpy, in their type."""
    a, b, trans_b, c, alpha, beta = _gemm_operands(inputs, attrs)
    t = out.dtype.type
    acc = np.matmul(a[start:stop], b.T if trans_b else b)
    if alpha != 1.0:
        acc = acc * t(alpha)
    if c is not None and beta != 0.0:
        cb = np.broadcast_to(c, (a.shape[0], out.shape[1]))[start:stop]
        acc = acc + (cb if beta == 1.0 else t(beta) * cb)
    out[start:stop] = acc.astype(out.dtype)


# --------------------------------------------------------------------------- int8


def _scalar(x: Optional[np.ndarray], default: int = 0) -> int:
    return default if x is None else int(np.asarray(x).reshape(-1)[0])


def _to_u8(a: np.ndarray) -> tuple[np.ndarray, int]:
    """Unsigned view of A and the offset added to its values (128 for int8, 0 for uint8)."""
    if a.dtype == np.int8:
        return (a.view(np.uint8) ^ np.uint8(0x80)), 128
    if a.dtype == np.uint8:
        return a, 0
    raise TypeError(f"int8 matmul needs int8/uint8 A, got {a.dtype}")


def _b_param(param: Optional[np.ndarray], b: np.ndarray, batch: tuple, fill: float, dtype: type) -> np.ndarray:
    """A B-side quantization parameter (scalar, (N,), or B's shape with K -> 1) as batch + (N,)."""
    n = b.shape[-1] if b.ndim >= 2 else 1
    if param is None:
        return np.full(batch + (n,), fill, dtype)
    p = np.asarray(param).astype(dtype)
    if p.size == 1:
        return np.full(batch + (n,), p.reshape(-1)[0], dtype)
    if p.ndim == 1:
        return np.broadcast_to(p, batch + (n,))
    return np.broadcast_to(p[..., 0, :], batch + (n,))


def _a_zero_rows(zp: Optional[np.ndarray], a: np.ndarray, batch: tuple) -> np.ndarray:
    """A zero point per row (scalar, or MatMulInteger's per-row vector) as batch + (M,) int32."""
    m = a.shape[-2] if a.ndim >= 2 else 1
    if zp is None:
        return np.zeros(batch + (m,), np.int32)
    z = np.asarray(zp).astype(np.int32)
    if z.size == 1:
        return np.full(batch + (m,), z.reshape(-1)[0], np.int32)
    return np.broadcast_to(z.reshape(z.shape[:-1] + (m,)), batch + (m,))


def _int8_packed_b(a_shape: tuple, b: np.ndarray, b_zp: Optional[np.ndarray]) -> _PackedB:
    """B (int8 or uint8) and its zero points, packed per batch slice for the int8 GEMM."""
    if b.dtype not in (np.int8, np.uint8):
        raise TypeError(f"int8 matmul needs int8/uint8 B, got {b.dtype}")
    zb = _b_param(b_zp, b, _matmul_shape(a_shape, b.shape)[0], 0, np.int32)
    return _PackedB(a_shape, b, lambda b_slice, idx: gemm.pack_b_u8s8(b_slice, zb[idx]))


#: per batch index, an int32 product block -> the output block (requantized, or as it is)
FinishFn = Callable[[np.ndarray, tuple], np.ndarray]


def _int_matmul_rows(
    a: np.ndarray, packed_b: _PackedB, b_shape: tuple, a_zp: Optional[np.ndarray], out: np.ndarray, start: int,
    stop: int, finish: FinishFn,
) -> None:
    """Shared QLinearMatMul / MatMulInteger body: exact int32 products of a block, then ``finish``."""
    au, a_off = _to_u8(a)
    batch = _matmul_shape(a.shape, b_shape)[0]
    a2 = au if au.ndim >= 2 else au[None, :]
    av = np.broadcast_to(a2, batch + a2.shape[-2:])
    za = _a_zero_rows(a_zp, av, batch) + a_off

    def block(idx: tuple, r0: int, r1: int) -> np.ndarray:
        return finish(gemm.matmul_u8s8(av[idx][r0:r1], packed_b[idx], za[idx][r0:r1]), idx)

    _batched_rows(a.shape, b_shape, out, start, stop, block)


#: an int8 matmul's constant part, from its inputs and output dtype: (packed B, B's shape, A's zero
#: point, the output stage)
IntMatMulParts = tuple[_PackedB, tuple, Optional[np.ndarray], FinishFn]


def _qlinear_matmul_parts(inputs: Inputs, out_dtype: np.dtype) -> IntMatMulParts:
    """QLinearMatMul: A, a_scale, a_zp, B, b_scale, b_zp, y_scale, y_zp."""
    a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp = (
        None if x is None else np.asarray(x) for x in (list(inputs) + [None] * 8)[:8]
    )
    batch = _matmul_shape(a.shape, b.shape)[0]
    info = np.iinfo(out_dtype)
    zy = _scalar(y_zp)
    sa = np.float32(np.asarray(a_scale, np.float32).reshape(-1)[0])
    sy = np.float32(np.asarray(y_scale, np.float32).reshape(-1)[0])
    # onnxruntime: output_scale[j] = a_scale * b_scale[j] / y_scale, in fp32
    scale = (sa * _b_param(b_scale, b, batch, 1.0, np.float32)) / sy

    def finish(acc: np.ndarray, idx: tuple) -> np.ndarray:
        col_scale = np.ascontiguousarray(scale[idx], dtype=np.float32)
        return gemm.requantize(acc, col_scale, zy, int(info.min), int(info.max)).astype(out_dtype)

    return _int8_packed_b(a.shape, b, b_zp), b.shape, a_zp, finish


def _matmul_integer_parts(inputs: Inputs, out_dtype: np.dtype) -> IntMatMulParts:
    """MatMulInteger: A, B, a_zero_point (optional), b_zero_point (optional)."""
    a, b = np.asarray(inputs[0]), np.asarray(inputs[1])
    a_zp = inputs[2] if len(inputs) > 2 else None
    b_zp = inputs[3] if len(inputs) > 3 else None

    def finish(acc: np.ndarray, idx: tuple) -> np.ndarray:
        return acc

    return _int8_packed_b(a.shape, b, None if b_zp is None else np.asarray(b_zp)), b.shape, a_zp, finish


def _qlinear_out_dtype(inputs: Inputs) -> np.dtype:
    y_zp = inputs[7] if len(inputs) > 7 else None
    return np.asarray(y_zp).dtype if y_zp is not None else np.dtype(np.uint8)


def _int_matmul_kernel(
    op_type: str, parts_of: Callable[[Inputs, np.dtype], IntMatMulParts], out_dtype_of: Callable[[Inputs], np.dtype]
) -> Kernel:
    """An int8 matmul kernel whose B is packed once per node (``prepare``) and per call otherwise."""

    def prepare(inputs: Inputs, attrs: Attrs) -> PreparedRowsFn:
        packed_b, b_shape, a_zp, finish = parts_of(inputs, out_dtype_of(inputs))

        def rows(block_inputs: Inputs, out: np.ndarray, start: int, stop: int) -> None:
            _int_matmul_rows(np.asarray(block_inputs[0]), packed_b, b_shape, a_zp, out, start, stop, finish)

        return rows

    def run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
        packed_b, b_shape, a_zp, finish = parts_of(inputs, out.dtype)
        _int_matmul_rows(np.asarray(inputs[0]), packed_b, b_shape, a_zp, out, start, stop, finish)

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        a_shape = np.shape(inputs[0])
        b_shape = np.shape(inputs[3] if op_type == "QLinearMatMul" else inputs[1])
        out = np.empty(_matmul_shape(a_shape, b_shape)[4], out_dtype_of(inputs))
        run_rows(inputs, attrs, out, 0, row_count(out.shape))
        return (out,)

    return Kernel(op_type, "int8", run, run_rows, row_axis=-2, prepare=prepare)


# --------------------------------------------------------------------------- Einsum


def _einsum(precision: str):  # type: ignore[no-untyped-def]
    """Einsum: numpy's, in the operands' type (float16 computed in float32 and rounded once)."""

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        equation = attrs.get("equation")
        if equation is None:
            raise ValueError("Einsum needs an equation")
        equation = equation.decode() if isinstance(equation, bytes) else str(equation)
        operands = [np.asarray(x) for x in inputs if x is not None]
        out_type = operands[0].dtype
        if out_type == np.float16:
            operands = [x.astype(np.float32) for x in operands]
        return (np.asarray(np.einsum(equation.replace(" ", ""), *operands), dtype=out_type),)

    return run


def _det(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Determinant of the last two axes, LU-factorized in float64, in the input's float type."""
    x = np.asarray(inputs[0])
    if x.dtype.kind != "f":
        raise NotImplementedError(f"Det of {x.dtype} data")
    return (np.linalg.det(x.astype(np.float64)).astype(x.dtype),)


KERNELS: tuple[Kernel, ...] = (
    *(Kernel("Einsum", precision, _einsum(precision)) for precision in ("fp32", "fp16", "int8")),
    *(Kernel("Det", precision, _det) for precision in ("fp32", "fp16")),
    _make_matmul("fp32"),
    _make_matmul("fp16"),
    _make_gemm("fp32"),
    _make_gemm("fp16"),
    _int_matmul_kernel("QLinearMatMul", _qlinear_matmul_parts, _qlinear_out_dtype),
    _int_matmul_kernel("MatMulInteger", _matmul_integer_parts, lambda inputs: np.dtype(np.int32)),
)
