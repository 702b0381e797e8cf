"""The engine: plays out a run of compiled models on the simulated chip."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from ..hardware.config import HardwareConfig
from .compiled import CompiledEngine, compiled_rule
from .fast import FastEngine
from .options import SimOptions
from .records import EngineRun, Workload
from .reference import EngineDeadlock, ReferenceEngine

#: the engines a run can use; they produce the same records (tests/test_engine_equivalence.py):
#: "fast" plays the run in the compiled loop when it can (gspsim.engine.compiled) and in the fast engine's
#: Python loop otherwise; "python" always in that Python loop; "reference" in the SimPy model of the rules
ENGINES = ("fast", "python", "reference")


def run_engine(workloads: Sequence[Workload], hw: HardwareConfig, options: SimOptions,
               progress: Optional[Callable[[int, int], None]] = None) -> EngineRun:
    """Run the models sharing the chip with the engine ``options.engine`` names (``EngineRun.engine`` says
    which loop ran: "compiled", "python" or "reference")."""
    if options.engine == "reference":
        engine: type = ReferenceEngine
    elif options.engine == "fast" and compiled_rule(workloads) is not None:
        engine = CompiledEngine
    else:
        engine = FastEngine
    return engine(workloads, hw, options, progress).run()


__all__ = ["ENGINES", "CompiledEngine", "EngineDeadlock", "EngineRun", "FastEngine", "ReferenceEngine", "Workload",
           "run_engine"]
