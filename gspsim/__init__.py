"""gspsim: a graph streaming processor simulator.

Load a PyTorch-exported ONNX model, lower it to a dataflow graph, and simulate
it on a Blaize-style GSP (or a layer-by-layer baseline) while executing real
kernels: cycles, DRAM traffic, energy and the model's outputs.

The public API is small: :func:`simulate`, :func:`load_model`,
:class:`SimOptions`, :class:`SimResult`, :func:`load_hardware`,
:class:`HardwareConfig`, :class:`Scheduler`.
"""

from .cache import configure_numba_cache

configure_numba_cache()  # before any kernel module imports Numba

from ._version import __version__  # noqa: E402
from .api import load_model, simulate  # noqa: E402
from .engine.options import SimOptions  # noqa: E402
from .errors import GspsimError  # noqa: E402
from .hardware.config import HardwareConfig, load_hardware  # noqa: E402
from .results.result import SimResult  # noqa: E402
from .scheduling.base import Scheduler  # noqa: E402

__all__ = [
    "GspsimError", "HardwareConfig", "Scheduler", "SimOptions", "SimResult", "__version__", "load_hardware",
    "load_model", "simulate",
]
