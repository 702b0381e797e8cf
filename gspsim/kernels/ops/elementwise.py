"""Elementwise kernels: binary ops with numpy broadcasting, activations, and their int8 forms.

fp32 / fp16: Add, Sub, Mul, Div, Pow, Max, Min, Sum (variadic), Relu, Clip, LeakyRelu,
Sigmoid, Tanh, Erf, Gelu (opset 20, approximate none/tanh), HardSigmoid, HardSwish, Sqrt,
Exp, Neg, Reciprocal, Abs.  fp16 kernels take and return fp16 but upcast to fp32, compute
there, and round once to fp16 at the output (Erf and Gelu are evaluated in fp64 and
rounded once, to fp32 or fp16).

int8: Relu and Clip on int8/uint8 tensors (computed in the tensor's own type, so they
also accept float tensors), and com.microsoft QLinearAdd, QLinearMul, QLinearSigmoid and
QLinearLeakyRelu, bit-exact with onnxruntime (see ``_elem_qlinear``).  Their scales and
zero points are per-tensor, as onnxruntime requires.

Row blocks: every kernel has ``run_rows`` on output axis -2 (rank >= 2; axis 0 for rank 1),
see ``_elem_rows``.  Each element is computed from its own inputs only, so any split into
row blocks gives the same bits as ``run``.
"""

from __future__ import annotations

import math
from functools import reduce
from typing import Any, Callable, Optional

import numba
import numpy as np

from ...optable.kernel import Attrs, Inputs, Kernel
from . import _elem_qlinear as ql
from ._elem_rows import ROW_AXIS, broadcast_shape, out_rows, row_count, take_rows

#: computes an op on fp32 (row-block) inputs; ``None`` marks an omitted optional input
FloatFn = Callable[[list[Optional[np.ndarray]], Attrs], np.ndarray]

_F32 = np.float32


def _attr_str(attrs: Attrs, name: str, default: str) -> str:
    value: Any = attrs.get(name, default)
    return value.decode() if isinstance(value, bytes) else str(value)


@numba.njit(cache=True)
def _erf_f64(x: np.ndarray) -> np.ndarray:  # pragma: no cover - JIT
    """libm ``erf`` over a flat fp64 array (numpy has no erf ufunc)."""
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = math.erf(x[i])
    return out


def _erf(x: np.ndarray) -> np.ndarray:
    """erf in fp64 of an fp32 array, same shape."""
    x64 = np.ascontiguousarray(x, np.float64)
    return _erf_f64(x64.reshape(-1)).reshape(x64.shape)


def _gelu(xs: list[Optional[np.ndarray]], attrs: Attrs) -> np.ndarray:
    x = np.asarray(xs[0], np.float64)
    if _attr_str(attrs, "approximate", "none") == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
        return 0.5 * x * (1.0 + np.tanh(inner))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _clip(xs: list[Optional[np.ndarray]], attrs: Attrs) -> np.ndarray:
    """Clip with min/max as optional inputs (opset >= 11) or attributes (older models)."""
    x = xs[0]
    lo = xs[1] if len(xs) > 1 and xs[1] is not None else attrs.get("min")
    hi = xs[2] if len(xs) > 2 and xs[2] is not None else attrs.get("max")
    if lo is not None:
        x = np.maximum(x, np.asarray(lo, x.dtype))
    if hi is not None:
        x = np.minimum(x, np.asarray(hi, x.dtype))
    return x


def _hard_sigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.clip(_F32(alpha) * x + _F32(beta), _F32(0.0), _F32(1.0))


def _unary(fn: Callable[[np.ndarray], np.ndarray]) -> FloatFn:
    return lambda xs, attrs: fn(xs[0])


def _fold(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> FloatFn:
    """A variadic op as a left fold (Sum, Max, Min; also the binary ops)."""
    return lambda xs, attrs: reduce(fn, [x for x in xs if x is not None])


#: op -> its fp32 computation on (row-block) inputs
FLOAT_OPS: dict[str, FloatFn] = {
    "Add": _fold(np.add),
    "Sub": _fold(np.subtract),
    "Mul": _fold(np.multiply),
    "Div": _fold(np.divide),
    "Pow": lambda xs, attrs: np.power(xs[0], xs[1]),
    "Max": _fold(np.maximum),
    "Min": _fold(np.minimum),
    "Sum": _fold(np.add),
    "Relu": _unary(lambda x: np.maximum(x, _F32(0.0))),
    "Clip": _clip,
    "LeakyRelu": lambda xs, attrs: np.where(xs[0] >= 0, xs[0], _F32(attrs.get("alpha", 0.01)) * xs[0]),
    "Sigmoid": _unary(lambda x: _F32(1.0) / (_F32(1.0) + np.exp(-x))),
    "Tanh": _unary(np.tanh),
    "Erf": _unary(_erf),
    "Gelu": _gelu,
    "HardSigmoid": lambda xs, attrs: _hard_sigmoid(xs[0], attrs.get("alpha", 0.2), attrs.get("beta", 0.5)),
    "HardSwish": _unary(lambda x: x * _hard_sigmoid(x, 1.0 / 6.0, 0.5)),
    "Sqrt": _unary(np.sqrt),
    "Exp": _unary(np.exp),
    "Neg": _unary(np.negative),
    "Reciprocal": _unary(lambda x: _F32(1.0) / x),
    "Abs": _unary(np.abs),
}


def _rows_kernel(
    op_type: str,
    precision: str,
    compute: Callable[[list[Optional[np.ndarray]], Attrs, list[Optional[np.ndarray]]], np.ndarray],
    out_dtype: Callable[[list[Optional[np.ndarray]]], np.dtype],
    shape_inputs: Callable[[list[Optional[np.ndarray]]], list[np.ndarray]],
) -> Kernel:
    """A kernel whose output rows depend only on the same rows of (broadcast) inputs.

    ``compute(part, attrs, whole)`` gets the row block of every input and the whole inputs
    (for decisions that must not depend on the block, like onnxruntime's span structure).
    """

    def run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
        xs = [None if x is None else np.asarray(x) for x in inputs]
        part = [None if x is None else take_rows(x, out.ndim, start, stop) for x in xs]
        with np.errstate(all="ignore"):
            result = compute(part, attrs, xs)
        np.copyto(out_rows(out, start, stop), result, casting="unsafe")

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        xs = [None if x is None else np.asarray(x) for x in inputs]
        shape = broadcast_shape(shape_inputs(xs))
        out = np.empty(shape, out_dtype(xs))
        run_rows(xs, attrs, out, 0, row_count(shape))
        return (out,)

    return Kernel(op_type, precision, run, run_rows, row_axis=ROW_AXIS)


def _float_kernel(op_type: str, precision: str) -> Kernel:
    fn = FLOAT_OPS[op_type]
    dtype = np.dtype(np.float16 if precision == "fp16" else np.float32)

    def compute(xs: list[Optional[np.ndarray]], attrs: Attrs, whole: list) -> np.ndarray:
        return fn([None if x is None else x.astype(np.float32) for x in xs], attrs)

    def shape_inputs(xs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        if op_type == "Clip":  # min / max are scalars
            return [xs[0]]
        return [x for x in xs if x is not None]

    return _rows_kernel(op_type, precision, compute, lambda xs: dtype, shape_inputs)


# --------------------------------------------------------------------------- int8


def _int_relu(xs: list[Optional[np.ndarray]], attrs: Attrs, whole: list) -> np.ndarray:
    x = xs[0]
    return np.maximum(x, np.zeros((), x.dtype))


def _int_clip(xs: list[Optional[np.ndarray]], attrs: Attrs, whole: list) -> np.ndarray:
    return _clip(xs, attrs)


def _qlinear_binary(op_type: str) -> Callable[..., np.ndarray]:
    """QLinearAdd / QLinearMul inputs: A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp."""

    def compute(xs: list[Optional[np.ndarray]], attrs: Attrs, whole: list) -> np.ndarray:
        xs = list(xs) + [None] * (8 - len(xs))
        a, b = xs[0], xs[3]
        za, zb, zc = (int(ql.scalar_param(xs[i], 0)) for i in (2, 5, 7))
        sa, sb, sc = (float(ql.scalar_param(xs[i], 1.0)) for i in (1, 4, 6))
        if op_type == "QLinearMul":
            return ql.qlinear_mul(a, sa, za, b, sb, zb, sc, zc)
        mode = ql.ort_scalar_operand(whole[0].shape, whole[3].shape)
        return ql.qlinear_add(a, sa, za, b, sb, zb, sc, zc, mode)

    return compute


def _qlinear_unary(make_fn: Callable[[Attrs], Callable[[np.ndarray], np.ndarray]]) -> Callable[..., np.ndarray]:
    """QLinearSigmoid / QLinearLeakyRelu inputs: X, X_scale, X_zp, Y_scale, Y_zp."""

    def compute(xs: list[Optional[np.ndarray]], attrs: Attrs, whole: list) -> np.ndarray:
        xs = list(xs) + [None] * (5 - len(xs))
        x = xs[0]
        table = ql.lookup_table(
            make_fn(attrs),
            x.dtype,
            float(ql.scalar_param(xs[1], 1.0)),
            int(ql.scalar_param(xs[2], 0)),
            float(ql.scalar_param(xs[3], 1.0)),
            int(ql.scalar_param(xs[4], 0)),
        )
        return ql.apply_table(x, table)

    return compute


def _first_dtype(xs: list[Optional[np.ndarray]]) -> np.dtype:
    return xs[0].dtype


def _int8_kernels() -> tuple[Kernel, ...]:
    only_x = lambda xs: [xs[0]]  # noqa: E731
    a_and_b = lambda xs: [xs[0], xs[3]]  # noqa: E731
    return (
        _rows_kernel("Relu", "int8", _int_relu, _first_dtype, only_x),
        _rows_kernel("Clip", "int8", _int_clip, _first_dtype, only_x),
        _rows_kernel("QLinearAdd", "int8", _qlinear_binary("QLinearAdd"), _first_dtype, a_and_b),
        _rows_kernel("QLinearMul", "int8", _qlinear_binary("QLinearMul"), _first_dtype, a_and_b),
        _rows_kernel("QLinearSigmoid", "int8", _qlinear_unary(lambda attrs: ql.mlas_logistic), _first_dtype, only_x),
        _rows_kernel(
            "QLinearLeakyRelu",
            "int8",
            _qlinear_unary(lambda attrs: ql.leaky_relu_fn(attrs.get("alpha", 0.01))),
            _first_dtype,
            only_x,
        ),
    )


KERNELS: tuple[Kernel, ...] = (
    *(_float_kernel(op, prec) for op in FLOAT_OPS for prec in ("fp32", "fp16")),
    *_int8_kernels(),
)
