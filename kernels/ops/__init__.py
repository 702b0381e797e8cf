"""Kernel modules, one per operator family; ``ALL_KERNELS`` is what the registry reads.

Each module exports ``KERNELS: tuple[Kernel, ...]``.  To add an op, write its
kernels in the module of its family (or a new module) and list it here.
"""

from __future__ import annotations

from ..registry import Kernel
from . import conv, elementwise, layout, matmul, normalization, pool, quantize, resize

ALL_KERNELS: tuple[Kernel, ...] = (
    *conv.KERNELS,
    *pool.KERNELS,
    *matmul.KERNELS,
    *elementwise.KERNELS,
    *normalization.KERNELS,
    *quantize.KERNELS,
    *layout.KERNELS,
    *resize.KERNELS,
)
