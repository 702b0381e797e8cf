"""gspsim's kernel library: Numba-JIT int8 / fp16 / fp32 kernels for ONNX operators.

The kernel library of the layout's ``gspsim/kernels/`` lives inside the package (an
install cannot then shadow itself).  Look kernels up with :func:`get_kernel`; see
``registry.py`` for the calling convention.
"""

from .fused import fused_kernel
from .registry import (
    ANY,
    PRECISIONS,
    Kernel,
    PreparedRowsFn,
    UnsupportedKernel,
    get_kernel,
    kernel_table,
    supported_ops,
)

__all__ = [
    "ANY", "PRECISIONS", "Kernel", "PreparedRowsFn", "UnsupportedKernel", "fused_kernel", "get_kernel", "kernel_table",
    "supported_ops",
]
