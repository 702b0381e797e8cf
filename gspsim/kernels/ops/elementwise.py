"""Elementwise kernels: arithmetic with numpy broadcasting, activations and math functions, and int8 forms.

Float (fp32, fp16): every op of :data:`FLOAT_OPS` -- arithmetic (Add, Sub, Mul,
Div, Pow, Mod, Max, Min, Sum, Mean), activations (Relu, Clip, LeakyRelu,
PRelu, Sigmoid, HardSigmoid, HardSwish, Swish, SwiGLU, Tanh, Elu, Selu, Celu, Gelu,
Mish, Softplus, Softsign, ThresholdedRelu, Shrink) and math (Erf, Sqrt, Exp,
Log, Neg, Reciprocal, Abs, Sign, Floor, Ceil, Round, the trigonometric and
hyperbolic functions).  They compute in float32 -- in float64 for float64 data,
which a model in float64 keeps at fp32 -- and fp16 kernels take and return
float16, computing in float32 and rounding once at the output (Erf and Gelu
are evaluated in float64 and rounded once).

Integers and booleans: the ops of :data:`INTEGER_OPS` compute in the inputs'
own type with ONNX's integer semantics (wrapping arithmetic, Div truncating
toward zero, Mod by ``fmod``, bit shifts and bitwise logic), so shape
arithmetic folds exactly and int8/uint8 tensors add and multiply as integers.
They serve fp32/fp16 ops on integer tensors and are registered at int8 for
ops on int8/uint8 codes (which the precision pass tags int8), alongside
com.microsoft QLinearAdd, QLinearMul, QLinearSigmoid and QLinearLeakyRelu,
bit-exact with onnxruntime (see ``_elem_qlinear``), whose scales and zero
points are per-tensor, as onnxruntime requires.  Every kernel returns the
ONNX output type: the inputs' type (Pow: the base's).

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

#: computes an op on (row-block) inputs in its work type; ``None`` marks an omitted optional input
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
    t = x.dtype.type
    return np.clip(t(alpha) * x + t(beta), t(0.0), t(1.0))


def _unary(fn: Callable[[np.ndarray], np.ndarray]) -> FloatFn:
    return lambda xs, attrs: fn(xs[0])


def _with_alpha(fn: Callable[[np.ndarray, Any], np.ndarray], name: str, default: float) -> FloatFn:
    """A unary op with one float attribute (given in the work type)."""
    return lambda xs, attrs: fn(xs[0], xs[0].dtype.type(attrs.get(name, default)))


def _fold(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> FloatFn:
    """A variadic op as a left fold (Sum, Max, Min; also the binary ops)."""
    return lambda xs, attrs: reduce(fn, [x for x in xs if x is not None])


def _mean(xs: list[Optional[np.ndarray]], attrs: Attrs) -> np.ndarray:
    present = [x for x in xs if x is not None]
    total = reduce(np.add, present)
    return total / total.dtype.type(len(present))


def _elu(x: np.ndarray, alpha: Any) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(x))


def _selu(xs: list[Optional[np.ndarray]], attrs: Attrs) -> np.ndarray:
    x = xs[0]
    t = x.dtype.type
    alpha = t(attrs.get("alpha", 1.67326319217681884765625))
    gamma = t(attrs.get("gamma", 1.05070102214813232421875))
    return gamma * np.where(x > 0, x, alpha * np.expm1(x))


def _celu(x: np.ndarray, alpha: Any) -> np.ndarray:
    return np.maximum(x.dtype.type(0), x) + np.minimum(x.dtype.type(0), alpha * np.expm1(x / alpha))


def _shrink(xs: list[Optional[np.ndarray]], attrs: Attrs) -> np.ndarray:
    x = xs[0]
    t = x.dtype.type
    bias, lambd = t(attrs.get("bias", 0.0)), t(attrs.get("lambd", 0.5))
    return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, t(0)))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(x.dtype.type(0), x)


def _pow(xs: list[Optional[np.ndarray]], attrs: Attrs) -> np.ndarray:
    """X ** Y in X's type: integer powers stay integers; an integer base with a float exponent truncates."""
    x, y = xs[0], xs[1]
    if x.dtype.kind in "iu" and y.dtype.kind in "iu" and not np.any(y < 0):
        return np.power(x, y.astype(x.dtype))
    if x.dtype.kind in "iu":  # a float or negative exponent: std::pow in double, truncated
        return np.trunc(np.power(x.astype(np.float64), y.astype(np.float64))).astype(x.dtype)
    return np.power(x, y.astype(x.dtype))


def _int_div(xs: list[Optional[np.ndarray]], attrs: Attrs) -> np.ndarray:
    """Integer division truncating toward zero (C, onnxruntime); division by zero gives 0."""
    a, b = xs[0], xs[1]
    safe = np.where(b == 0, b.dtype.type(1), b)
    q = a // safe
    inexact = (q * safe != a) & ((a < 0) != (safe < 0))
    return np.where(b == 0, a.dtype.type(0), q + inexact.astype(q.dtype))


def _mod(xs: list[Optional[np.ndarray]], attrs: Attrs) -> np.ndarray:
    """Mod: ``fmod=1`` the C remainder (sign of the dividend), else the divisor's sign (Python's)."""
    a, b = xs[0], xs[1]
    if int(attrs.get("fmod", 0)):
        return np.fmod(a, b)
    if a.dtype.kind in "iu":
        safe = np.where(b == 0, b.dtype.type(1), b)
        return np.where(b == 0, a.dtype.type(0), np.mod(a, safe))
    return np.mod(a, b)


def _bit_shift(xs: list[Optional[np.ndarray]], attrs: Attrs) -> np.ndarray:
    direction = _attr_str(attrs, "direction", "")
    if direction not in ("LEFT", "RIGHT"):
        raise ValueError(f"BitShift direction must be LEFT or RIGHT, got {direction!r}")
    a, b = xs[0], xs[1].astype(xs[0].dtype)
    return np.left_shift(a, b) if direction == "LEFT" else np.right_shift(a, b)


def _prelu(xs: list[Optional[np.ndarray]], attrs: Attrs) -> np.ndarray:
    x, slope = xs[0], xs[1].astype(xs[0].dtype)
    return np.where(x < 0, slope * x, x)


def _float_only(name: str) -> FloatFn:
    def refuse(xs: list[Optional[np.ndarray]], attrs: Attrs) -> np.ndarray:
        raise NotImplementedError(f"{name} of {xs[0].dtype} data")

    return refuse


#: op -> its float computation on (row-block) inputs in the work type (float32; float64 for float64 data)
FLOAT_OPS: dict[str, FloatFn] = {
    "Add": _fold(np.add),
    "Sub": _fold(np.subtract),
    "Mul": _fold(np.multiply),
    "Div": _fold(np.divide),
    "Pow": _pow,
    "Mod": _mod,
    "Max": _fold(np.maximum),
    "Min": _fold(np.minimum),
    "Sum": _fold(np.add),
    "Mean": _mean,
    "Relu": _unary(lambda x: np.maximum(x, x.dtype.type(0.0))),
    "Clip": _clip,
    "LeakyRelu": lambda xs, attrs: np.where(xs[0] >= 0, xs[0], xs[0].dtype.type(attrs.get("alpha", 0.01)) * xs[0]),
    "PRelu": _prelu,
    "Sigmoid": _unary(lambda x: x.dtype.type(1.0) / (x.dtype.type(1.0) + np.exp(-x))),
    "Swish": lambda xs, attrs: xs[0] / (1 + np.exp(-xs[0].dtype.type(attrs.get("alpha", 1.0)) * xs[0])),
    "SwiGLU": lambda xs, attrs: xs[0] / (1 + np.exp(-xs[0].dtype.type(attrs.get("alpha", 1.0)) * xs[0])) * xs[1],
    "Tanh": _unary(np.tanh),
    "Erf": _unary(_erf),
    "Gelu": _gelu,
    "HardSigmoid": lambda xs, attrs: _hard_sigmoid(xs[0], attrs.get("alpha", 0.2), attrs.get("beta", 0.5)),
    "HardSwish": _unary(lambda x: x * _hard_sigmoid(x, 1.0 / 6.0, 0.5)),
    "Elu": _with_alpha(_elu, "alpha", 1.0),
    "Selu": _selu,
    "Celu": _with_alpha(_celu, "alpha", 1.0),
    "ThresholdedRelu": _with_alpha(lambda x, a: np.where(x > a, x, x.dtype.type(0)), "alpha", 1.0),
    "Shrink": _shrink,
    "Softplus": _unary(_softplus),
    "Softsign": _unary(lambda x: x / (x.dtype.type(1) + np.abs(x))),
    "Mish": _unary(lambda x: x * np.tanh(_softplus(x))),
    "Sqrt": _unary(np.sqrt),
    "Exp": _unary(np.exp),
    "Log": _unary(np.log),
    "Neg": _unary(np.negative),
    "Reciprocal": _unary(lambda x: x.dtype.type(1.0) / x),
    "Abs": _unary(np.abs),
    "Sign": _unary(np.sign),
    "Floor": _unary(np.floor),
    "Ceil": _unary(np.ceil),
    "Round": _unary(np.rint),
    "Sin": _unary(np.sin),
    "Cos": _unary(np.cos),
    "Tan": _unary(np.tan),
    "Asin": _unary(np.arcsin),
    "Acos": _unary(np.arccos),
    "Atan": _unary(np.arctan),
    "Sinh": _unary(np.sinh),
    "Cosh": _unary(np.cosh),
    "Asinh": _unary(np.arcsinh),
    "Acosh": _unary(np.arccosh),
    "Atanh": _unary(np.arctanh),
}

#: op -> its computation on integer (or bool) inputs, in their own type
INTEGER_OPS: dict[str, FloatFn] = {
    "Add": _fold(np.add),
    "Sub": _fold(np.subtract),
    "Mul": _fold(np.multiply),
    "Div": _int_div,
    "Pow": _pow,
    "Mod": _mod,
    "Max": _fold(np.maximum),
    "Min": _fold(np.minimum),
    "Sum": _fold(np.add),
    "Relu": _unary(lambda x: np.maximum(x, np.zeros((), x.dtype))),
    "Clip": _clip,
    "PRelu": _prelu,
    "Neg": _unary(np.negative),
    "Abs": _unary(np.abs),
    "Sign": _unary(np.sign),
    "Shrink": _shrink,
    "BitShift": _bit_shift,
    "BitwiseAnd": _fold(np.bitwise_and),
    "BitwiseOr": _fold(np.bitwise_or),
    "BitwiseXor": _fold(np.bitwise_xor),
    "BitwiseNot": _unary(np.invert),
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


def _is_float(x: Optional[np.ndarray]) -> bool:
    return x is not None and x.dtype.kind == "f"


def _elementwise_kernel(op_type: str, precision: str) -> Kernel:
    """``op_type`` at ``precision``: float data in the work type, integer data in its own (INTEGER_OPS)."""
    float_fn = FLOAT_OPS.get(op_type, _float_only(op_type))
    int_fn = INTEGER_OPS.get(op_type)
    half = precision == "fp16"
    codes = precision == "int8"  # an op on int8 codes; float data (rare) keeps its own type

    def compute(xs: list[Optional[np.ndarray]], attrs: Attrs, whole: list) -> np.ndarray:
        x0 = xs[0]
        if x0 is not None and not _is_float(x0):
            if int_fn is None:
                raise NotImplementedError(f"{op_type} of {x0.dtype} data")
            return int_fn(xs, attrs)
        work = np.float64 if x0 is not None and x0.dtype == np.float64 and not half else np.float32
        return float_fn([None if x is None else (x.astype(work) if _is_float(x) else x) for x in xs], attrs)

    def out_dtype(xs: list[Optional[np.ndarray]]) -> np.dtype:
        x0 = xs[0]
        if x0 is not None and not _is_float(x0):
            return x0.dtype
        if half:
            return np.dtype(np.float16)
        if codes and x0 is not None:
            return x0.dtype
        return np.dtype(np.float64 if x0 is not None and x0.dtype == np.float64 else np.float32)

    def shape_inputs(xs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        if op_type == "Clip":  # min / max are scalars
            return [xs[0]]
        return [x for x in xs if x is not None]

    return _rows_kernel(op_type, precision, compute, out_dtype, shape_inputs)


# --------------------------------------------------------------------------- int8


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
    *(_elementwise_kernel(op, prec) for op in {**FLOAT_OPS, **INTEGER_OPS} for prec in ("fp32", "fp16")),
    *(_elementwise_kernel(op, "int8") for op in INTEGER_OPS),
    *_int8_kernels(),
)
