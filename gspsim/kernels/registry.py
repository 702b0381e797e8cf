"""The kernel registry: which function computes an ONNX op at a given precision.

The engine never imports kernel modules directly; it asks :func:`get_kernel`
for ``(op_type, precision)``.  The op table says where an op's kernels are: a
built-in op's record names its module in ``gspsim/kernels/ops/`` (imported on
first use), a registered op's record carries its kernels.  What a kernel is,
and its calling convention, is :mod:`gspsim.optable.kernel`.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType
from typing import Mapping

from ..optable import ANY, Kernel, OpSpec, all_specs, find_spec
from ..vocab import PRECISIONS
from .ops import module_kernels


class UnsupportedKernel(LookupError):
    """No kernel exists for an (op_type, precision) pair."""


@lru_cache(maxsize=None)
def _module_table(module: str) -> Mapping[tuple[str, str], Kernel]:
    table: dict[tuple[str, str], Kernel] = {}
    for kernel in module_kernels(module):
        key = (kernel.op_type, kernel.precision)
        if key in table:
            raise RuntimeError(f"kernel registered twice: {key}")
        table[key] = kernel
    return MappingProxyType(table)


def kernels_of(spec: OpSpec) -> dict[str, Kernel]:
    """``{precision: kernel}`` of one op (``"any"`` for a kernel that serves every precision)."""
    if spec.kernels:
        return {k.precision: k for k in spec.kernels}
    if spec.kernel_module is None:
        return {}
    return {p: k for (op, p), k in _module_table(spec.kernel_module).items() if op == spec.op_type}


def get_kernel(op_type: str, precision: str) -> Kernel:
    """The kernel for ``op_type`` at ``precision``, falling back to the shared layout kernel."""
    spec = find_spec(op_type)
    kernels = kernels_of(spec) if spec is not None else {}
    for key in (precision, ANY):
        if key in kernels:
            return kernels[key]
    raise UnsupportedKernel(f"no {precision} kernel for op {op_type}")


def kernel_table() -> Mapping[tuple[str, str], Kernel]:
    """Every kernel of every op in the current op table, by ``(op_type, precision)``."""
    return MappingProxyType({(s.op_type, p): k for s in all_specs() for p, k in kernels_of(s).items()})


def kernel_precisions(op_type: str) -> tuple[str, ...]:
    """The precisions ``op_type`` has a kernel at (a shared layout kernel counts for all)."""
    spec = find_spec(op_type)
    have = set(kernels_of(spec)) if spec is not None else set()
    return tuple(p for p in PRECISIONS if p in have or ANY in have)


def supported_ops(precision: str = "fp32") -> frozenset[str]:
    """Op types that have a kernel at ``precision`` (including shared layout kernels)."""
    return frozenset(op for (op, prec) in kernel_table() if prec in (precision, ANY))
