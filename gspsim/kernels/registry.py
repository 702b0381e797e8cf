"""The kernel registry: which function computes an ONNX op at a given precision.

The engine never imports kernel modules directly; it asks :func:`get_kernel`
for ``(op_type, precision)``.  A kernel is a pure function over numpy arrays:

* ``run(inputs, attrs) -> tuple[np.ndarray, ...]`` computes the whole node.
  ``inputs`` follow the ONNX input order (``None`` for an omitted optional
  input); ``attrs`` is a plain dict of ONNX attributes with their defaults
  *not* filled in (the kernel applies ONNX defaults itself).
* ``run_rows(inputs, attrs, out, start, stop) -> None`` (optional) computes
  only output rows ``[start, stop)`` along ``row_axis`` of the first output
  into the preallocated ``out``.  The streaming engine uses it to execute a
  node block by block; any split into blocks gives exactly the whole result.
* ``prepare(inputs, attrs) -> rows_fn`` (optional, with ``run_rows``) does
  once per node what depends only on the inputs other than the first (packed
  or converted weights, requantization scales), so that blocks do not redo
  it.  The engine calls it at a node's first block, with that block's inputs,
  and reuses the result for the node's other blocks.  Only ops whose blocks
  read every input but the first whole (convolutions: see
  ``gspsim/lowering/maps.py``) may have it: those inputs are then
  complete at the first block and the same for every block.
  ``rows_fn(inputs, out, start, stop)`` computes exactly what
  ``run_rows(inputs, attrs, out, start, stop)`` computes.

Precisions are ``"fp32"``, ``"fp16"``, ``"bf16"`` (fp32 kernels with bf16 rounding, see
``ops/bf16.py``) and ``"int8"``.  Layout-only ops
(reshape, transpose, concat, ...) are registered once under ``"any"`` and
serve every precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

Inputs = Sequence[Optional[np.ndarray]]
Attrs = Mapping[str, Any]
RunFn = Callable[[Inputs, Attrs], tuple]
RowsFn = Callable[[Inputs, Attrs, np.ndarray, int, int], None]
#: ``run_rows`` with the node's attributes and prepared constants bound: ``(inputs, out, start, stop)``
PreparedRowsFn = Callable[[Inputs, np.ndarray, int, int], None]
PrepareFn = Callable[[Inputs, Attrs], PreparedRowsFn]

PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16", "int8")
ANY = "any"


@dataclass(frozen=True)
class Kernel:
    """One op at one precision: a whole-tensor function and, for heavy ops, a row-range one."""

    op_type: str
    precision: str
    run: RunFn
    run_rows: Optional[RowsFn] = None
    #: output axis that ``run_rows`` splits (e.g. 2 = H for NCHW convolutions, -2 for matmul rows)
    row_axis: Optional[int] = None
    #: once-per-node preparation of the constant inputs for ``run_rows`` (see the module docstring)
    prepare: Optional[PrepareFn] = None


class UnsupportedKernel(LookupError):
    """No kernel exists for an (op_type, precision) pair."""


def _build_table() -> Mapping[tuple[str, str], Kernel]:
    # Imported here so that kernel modules can import this module's types.
    from . import ops  # noqa: WPS433  (import inside function on purpose)

    table: dict[tuple[str, str], Kernel] = {}
    for kernel in ops.ALL_KERNELS:
        key = (kernel.op_type, kernel.precision)
        if key in table:
            raise RuntimeError(f"kernel registered twice: {key}")
        table[key] = kernel
    return MappingProxyType(table)


@lru_cache(maxsize=1)
def kernel_table() -> Mapping[tuple[str, str], Kernel]:
    """The read-only table of every registered kernel (built once, on first use)."""
    return _build_table()


def get_kernel(op_type: str, precision: str) -> Kernel:
    """The kernel for ``op_type`` at ``precision``, falling back to the shared layout kernel."""
    table = kernel_table()
    for key in ((op_type, precision), (op_type, ANY)):
        if key in table:
            return table[key]
    raise UnsupportedKernel(f"no {precision} kernel for op {op_type}")


def supported_ops(precision: str = "fp32") -> frozenset[str]:
    """Op types that have a kernel at ``precision`` (including shared layout kernels)."""
    return frozenset(op for (op, prec) in kernel_table() if prec in (precision, ANY))
