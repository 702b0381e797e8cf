"""Kernel modules, one per operator family; ``ALL_KERNELS`` is what the registry reads.

Each module exports ``KERNELS: tuple[Kernel, ...]``.  To add an op, write its
kernels in the module of its family (or a new module) and list it here.
"""

from __future__ import annotations

from ..registry import Kernel
from . import bf16, conv, elementwise, layout, matmul, normalization, pool, quantize, resize

_NATIVE: tuple[Kernel, ...] = (
    *conv.KERNELS,
    *pool.KERNELS,
    *matmul.KERNELS,
    *elementwise.KERNELS,
    *normalization.KERNELS,
    *quantize.KERNELS,
    *layout.KERNELS,
    *resize.KERNELS,
)
#: every kernel: the native ones plus bf16 variants of the fp32 kernels (see bf16.py)
ALL_KERNELS: tuple[Kernel, ...] = (*_NATIVE, *bf16.bf16_kernels(_NATIVE))
