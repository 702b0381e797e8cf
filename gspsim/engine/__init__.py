"""The engine: plays out a run of compiled models on the simulated chip."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from ..errors import ConfigError
from ..hardware.config import HardwareConfig
from .compiled import CompiledEngine, compiled_rule
from .fast import FastEngine
from .options import SimOptions
from .records import EngineRun, Workload
from .reference import EngineDeadlock, ReferenceEngine

#: the engines a run can use; they produce the same records (tests/test_engine_equivalence.py):
#: "fast" plays the run in the compiled loop when it can (gspsim.engine.compiled) and the run has at least
#: COMPILED_LOOP_MIN_TILES tiles, in the fast engine's Python loop otherwise; "compiled" in the compiled loop
#: whatever the size; "python" always in that Python loop; "reference" in the SimPy model of the rules
ENGINES = ("fast", "compiled", "python", "reference")

#: below this many tiles (over all frames) "fast" plays a run in the Python loop: loading the compiled loop
#: from Numba's cache costs 0.3-0.5 s a process (and compiling it, on an empty cache, about a minute), about
#: what the Python loop, at some 30,000 tiles/s, takes for 10,000 tiles (docs/performance.md, "Small runs in
#: the Python loop")
COMPILED_LOOP_MIN_TILES = 10_000


def run_engine(workloads: Sequence[Workload], hw: HardwareConfig, options: SimOptions,
               progress: Optional[Callable[[int, int], None]] = None) -> EngineRun:
    """Run the models sharing the chip with the engine ``options.engine`` names (``EngineRun.engine`` says
    which loop ran: "compiled", "python" or "reference")."""
    if options.engine == "reference":
        engine: type = ReferenceEngine
    elif options.engine == "compiled":
        if compiled_rule(workloads) is None:
            raise ConfigError("--engine compiled: the compiled loop plays one model with a built-in scheduler "
                              "(depth-first, greedy, layer, round-robin, heft, critical-path); use --engine fast")
        engine = CompiledEngine
    elif options.engine == "fast" and compiled_rule(workloads) is not None \
            and sum(len(w.program.tasks.tiles) * w.frames for w in workloads) >= COMPILED_LOOP_MIN_TILES:
        engine = CompiledEngine
    else:
        engine = FastEngine
    return engine(workloads, hw, options, progress).run()


__all__ = ["COMPILED_LOOP_MIN_TILES", "ENGINES", "CompiledEngine", "EngineDeadlock", "EngineRun", "FastEngine",
           "ReferenceEngine", "Workload", "run_engine"]
