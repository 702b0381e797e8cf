"""bf16 kernels: the fp32 kernel on bf16 values, with every float output rounded to bf16.

numpy has no bfloat16 type, so bf16 tensors are held as float32 arrays whose
values are exactly representable in bf16 (the low 16 bits are zero); the
simulator counts them at 2 bytes per element.  A bf16 kernel therefore reads
bf16 values, accumulates in fp32 (as bf16 hardware does), and rounds each
output element once to bf16, round-to-nearest-even.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ...optable.kernel import Attrs, Inputs, Kernel
from ._elem_rows import out_rows


def round_to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), still stored as float32."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
    out = rounded.view(np.float32)
    return np.where(np.isnan(x), x, out).astype(np.float32, copy=False)


def _round_outputs(outputs: tuple) -> tuple:
    return tuple(round_to_bf16(o) if np.asarray(o).dtype == np.float32 else o for o in outputs)


def bf16_variant(kernel: Kernel) -> Kernel:
    """The bf16 kernel built from an fp32 one."""

    def run(inputs: Inputs, attrs: Attrs) -> tuple:
        return _round_outputs(tuple(kernel.run(inputs, attrs)))

    run_all = None
    if kernel.run_all is not None:
        fp32_all = kernel.run_all

        def run_all(inputs: Inputs, attrs: Attrs) -> tuple:
            return _round_outputs(tuple(fp32_all(inputs, attrs)))

    if kernel.run_rows is None or kernel.row_axis is None:
        return Kernel(kernel.op_type, "bf16", run, run_all=run_all)
    fp32_rows, axis0 = kernel.run_rows, kernel.row_axis

    def run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
        fp32_rows(inputs, attrs, out, start, stop)
        if out.dtype == np.float32:
            band = out_rows(out, start, stop, axis0)  # all of it when the row axis is outside the output
            band[...] = round_to_bf16(band)

    return Kernel(kernel.op_type, "bf16", run, run_rows, kernel.row_axis, run_all=run_all)


#: shared ("any") kernels that produce new float values and so need bf16 rounding too
ROUNDING_LAYOUT_OPS: frozenset[str] = frozenset({"Cast"})


def bf16_kernels(kernels: Iterable[Kernel]) -> tuple[Kernel, ...]:
    """A bf16 variant of every fp32 kernel (and of Cast) that has no bf16 kernel of its own."""
    kernels = list(kernels)
    own = {k.op_type for k in kernels if k.precision == "bf16"}
    return tuple(
        bf16_variant(k)
        for k in kernels
        if k.op_type not in own and (k.precision == "fp32" or (k.precision == "any" and k.op_type in ROUNDING_LAYOUT_OPS))
    )
