"""Comparison, logic and selection kernels used on masks and shape tensors.

Where, the comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual),
the boolean logic (Not, And, Or, Xor) and IsNaN / IsInf, with numpy
broadcasting; they are
dtype-generic and registered under the shared "any" precision because the
frontend also evaluates them while folding constant shape subgraphs.
"""

from __future__ import annotations

import numpy as np

from ...optable.kernel import Attrs, Inputs
from ._layout_common import contiguous


def where(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Elementwise ``cond ? x : y`` with multidirectional broadcasting."""
    cond, x, y = (np.asarray(a) for a in inputs[:3])
    if x.dtype != y.dtype:
        raise TypeError(f"Where: X is {x.dtype} but Y is {y.dtype}")
    return (contiguous(np.where(cond.astype(np.bool_, copy=False), x, y).astype(x.dtype, copy=False)),)


def equal(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Elementwise ``a == b`` (bool output)."""
    return (np.equal(np.asarray(inputs[0]), np.asarray(inputs[1])),)


def less(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Elementwise ``a < b`` (bool output)."""
    return (np.less(np.asarray(inputs[0]), np.asarray(inputs[1])),)


def greater(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Elementwise ``a > b`` (bool output)."""
    return (np.greater(np.asarray(inputs[0]), np.asarray(inputs[1])),)


def logical_not(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Elementwise boolean negation."""
    return (np.logical_not(np.asarray(inputs[0])),)


def logical_and(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Elementwise boolean conjunction with broadcasting."""
    return (np.logical_and(np.asarray(inputs[0]), np.asarray(inputs[1])),)


def logical_or(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Elementwise boolean disjunction with broadcasting."""
    return (np.logical_or(np.asarray(inputs[0]), np.asarray(inputs[1])),)


def logical_xor(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Elementwise boolean exclusive or with broadcasting."""
    return (np.logical_xor(np.asarray(inputs[0]), np.asarray(inputs[1])),)


def less_or_equal(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Elementwise ``a <= b`` (bool output)."""
    return (np.less_equal(np.asarray(inputs[0]), np.asarray(inputs[1])),)


def greater_or_equal(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Elementwise ``a >= b`` (bool output)."""
    return (np.greater_equal(np.asarray(inputs[0]), np.asarray(inputs[1])),)


def is_nan(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Elementwise NaN test (bool output)."""
    return (np.isnan(np.asarray(inputs[0])),)


def is_inf(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Elementwise infinity test; ``detect_negative`` / ``detect_positive`` pick the signs (default both)."""
    x = np.asarray(inputs[0])
    neg, pos = int(attrs.get("detect_negative", 1)), int(attrs.get("detect_positive", 1))
    return ((np.isinf(x) & (((x < 0) & bool(neg)) | ((x > 0) & bool(pos)))),)
