"""Kernel modules, one per operator family; each exports ``KERNELS: tuple[Kernel, ...]``.

The op table's record of an op names the module holding its kernels
(``OpSpec.kernel_module``, see ``gspsim/optable/builtin.py``); the registry
imports a module the first time one of its ops is looked up.  To add an op,
write its kernels in the module of its family (or a new module) and give its
record that module's name.
"""

from __future__ import annotations

import importlib

from ...optable.kernel import Kernel
from . import bf16


def module_kernels(name: str) -> tuple[Kernel, ...]:
    """Every kernel of module ``name``: its own, plus bf16 variants of its fp32 kernels (see bf16.py)."""
    native: tuple[Kernel, ...] = importlib.import_module(f"{__name__}.{name}").KERNELS
    return (*native, *bf16.bf16_kernels(native))
