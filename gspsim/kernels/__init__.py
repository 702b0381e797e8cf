"""gspsim's kernel library: Numba-JIT int8 / fp16 / fp32 kernels for ONNX operators.

The kernel library of the layout's ``gspsim/kernels/`` lives inside the package (an
install cannot then shadow itself).  Look kernels up with :func:`get_kernel`; see
``gspsim/optable/kernel.py`` for the calling convention.
"""

from ..optable.kernel import ANY, Kernel, PreparedRowsFn
from .fused import fused_kernel
from .registry import UnsupportedKernel, get_kernel, kernel_precisions, kernel_table, kernels_of, supported_ops

__all__ = [
    "ANY", "Kernel", "PreparedRowsFn", "UnsupportedKernel", "fused_kernel", "get_kernel", "kernel_precisions",
    "kernel_table", "kernels_of", "supported_ops",
]
