"""The engine: plays out a run of compiled models on the simulated chip."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from ..hardware.config import HardwareConfig
from .options import SimOptions
from .records import EngineRun, Workload
from .reference import EngineDeadlock, ReferenceEngine

#: the engines a run can use; they produce the same records (tests/test_engine_equivalence.py)
ENGINES = ("fast", "reference")


def run_engine(workloads: Sequence[Workload], hw: HardwareConfig, options: SimOptions,
               progress: Optional[Callable[[int, int], None]] = None) -> EngineRun:
    """Run the models sharing the chip with the engine ``options.engine`` names."""
    # the fast engine is not written yet: both names run the reference engine for now
    return ReferenceEngine(workloads, hw, options, progress).run()


__all__ = ["ENGINES", "EngineDeadlock", "EngineRun", "ReferenceEngine", "Workload", "run_engine"]
