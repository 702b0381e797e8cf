"""normalization kernels (placeholder: filled in by the kernel library work)."""

from __future__ import annotations

from ..registry import Kernel

KERNELS: tuple[Kernel, ...] = ()
