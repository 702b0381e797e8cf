"""gspsim's kernel library: Numba-JIT int8 / fp16 / fp32 kernels for ONNX operators.

Installed as ``gspsim.kernels`` (the source folder is the repository's
``kernels/``).  Look kernels up with :func:`get_kernel`; see
``registry.py`` for the calling convention.
"""

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
    "ANY", "PRECISIONS", "Kernel", "PreparedRowsFn", "UnsupportedKernel", "get_kernel", "kernel_table", "supported_ops",
]
