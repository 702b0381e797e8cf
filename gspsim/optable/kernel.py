"""What a kernel is: a pure function over numpy arrays computing one ONNX op at one precision.

A :class:`Kernel` holds:

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
* ``run_all(inputs, attrs) -> tuple[np.ndarray, ...]`` (optional) is ``run``
  with the op's optional outputs too (MaxPool's Indices), for nodes that use
  them; ``run`` may skip work only they need.  :func:`run_node` picks one.

Precisions are those of :data:`gspsim.vocab.PRECISIONS`; layout-only ops
(reshape, transpose, concat, ...) are registered once under :data:`ANY` and
serve every precision.  The built-in kernels live in ``gspsim/kernels/ops/``
and are looked up with :func:`gspsim.kernels.get_kernel`; this module is where
the type lives so that the op table, the kernel modules and the registry all
read it without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

Inputs = Sequence[Optional[np.ndarray]]
Attrs = Mapping[str, Any]
RunFn = Callable[[Inputs, Attrs], tuple]
RowsFn = Callable[[Inputs, Attrs, np.ndarray, int, int], None]
#: ``run_rows`` with the node's attributes and prepared constants bound: ``(inputs, out, start, stop)``
PreparedRowsFn = Callable[[Inputs, np.ndarray, int, int], None]
PrepareFn = Callable[[Inputs, Attrs], PreparedRowsFn]

#: the precision of a kernel that serves every precision (layout-only ops)
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
    #: ``run`` with the optional outputs too (see the module docstring)
    run_all: Optional[RunFn] = None


def run_node(kernel: Kernel, inputs: Inputs, attrs: Attrs, outputs: Sequence[str]) -> tuple:
    """The whole-node outputs of a node whose output names are ``outputs`` ("" for an omitted one)."""
    wants_optional = kernel.run_all is not None and any(outputs[1:])
    return tuple((kernel.run_all if wants_optional else kernel.run)(inputs, attrs))


__all__ = ["ANY", "Attrs", "Inputs", "Kernel", "PrepareFn", "PreparedRowsFn", "RowsFn", "RunFn", "run_node"]
