"""gspsim: a graph streaming processor simulator.

Load a PyTorch-exported ONNX model, lower it to a dataflow graph, and simulate
it on a Blaize-style GSP (or a layer-by-layer baseline) while executing real
kernels: cycles, DRAM traffic, energy and the model's outputs.

The public API is small: :func:`simulate`, :func:`load_model`,
:class:`SimOptions`, :class:`SimResult`, :func:`load_hardware`,
:class:`HardwareConfig`, :class:`Scheduler`.  They are imported on first use
(PEP 562), so that ``python -m gspsim --version`` and ``--help`` do not pay for
onnx, Numba and the kernels (docs/performance.md, "Start-up").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .cache import configure_numba_cache

configure_numba_cache()  # before any kernel module imports Numba

from ._version import __version__  # noqa: E402

if TYPE_CHECKING:
    from .api import load_model, simulate
    from .engine.options import SimOptions
    from .errors import GspsimError
    from .hardware.config import HardwareConfig, load_hardware
    from .results.result import SimResult
    from .scheduling.base import Scheduler

#: public name -> the module that defines it
_PUBLIC = {
    "GspsimError": ".errors", "HardwareConfig": ".hardware.config", "Scheduler": ".scheduling.base",
    "SimOptions": ".engine.options", "SimResult": ".results.result", "load_hardware": ".hardware.config",
    "load_model": ".api", "simulate": ".api",
}

__all__ = [
    "GspsimError", "HardwareConfig", "Scheduler", "SimOptions", "SimResult", "__version__", "load_hardware",
    "load_model", "simulate",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is used."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'gspsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
