"""gspsim: a graph streaming processor simulator.

Load a PyTorch-exported ONNX model, lower it to a dataflow graph, and simulate
it on a Blaize-style GSP (or a layer-by-layer baseline) while executing real
kernels: cycles, DRAM traffic, energy and the model's outputs.

The public API is small: :func:`simulate`, :func:`load_model`,
:class:`SimOptions`, :class:`SimResult`, :func:`load_hardware`,
:class:`HardwareConfig`, :class:`Scheduler`.
"""

from ._version import __version__
from .api import load_model, simulate
from .engine.options import SimOptions
from .errors import GspsimError
from .hardware.config import HardwareConfig, load_hardware
from .results.result import SimResult
from .scheduling.base import Scheduler

__all__ = [
    "GspsimError", "HardwareConfig", "Scheduler", "SimOptions", "SimResult", "__version__", "load_hardware",
    "load_model", "simulate",
]
