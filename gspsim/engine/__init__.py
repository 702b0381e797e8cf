"""The engine: plays out a run of compiled models on the simulated chip.

Each engine is imported when a run asks for it: the compiled loop's module
(Numba's structrefs and some eighty jitted functions, about 0.1 s) and the
reference engine (SimPy) cost a process that does not use them nothing.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Optional, Sequence

from ..errors import ConfigError
from ..hardware.config import HardwareConfig
from .options import SimOptions
from .records import EngineDeadlock, EngineRun, Workload
from .rules import compiled_rule

#: public engine classes -> the module that defines each (imported on first use)
_ENGINE_MODULES = {"CompiledEngine": ".compiled", "FastEngine": ".fast", "ReferenceEngine": ".reference"}

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
        name = "ReferenceEngine"
    elif options.engine == "compiled":
        if compiled_rule(workloads) is None:
            raise ConfigError("--engine compiled: the compiled loop plays one model with a built-in scheduler "
                              "(depth-first, greedy, layer, round-robin, heft, critical-path); use --engine fast")
        name = "CompiledEngine"
    elif options.engine == "fast" and compiled_rule(workloads) is not None \
            and sum(len(w.program.tasks.tiles) * w.frames for w in workloads) >= COMPILED_LOOP_MIN_TILES:
        name = "CompiledEngine"
    else:
        name = "FastEngine"
    return _engine_class(name)(workloads, hw, options, progress).run()


def _engine_class(name: str) -> type:
    return getattr(importlib.import_module(_ENGINE_MODULES[name], __name__), name)


def __getattr__(name: str) -> Any:
    """The engine classes, imported on first use (module docstring)."""
    if name in _ENGINE_MODULES:
        return _engine_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["COMPILED_LOOP_MIN_TILES", "ENGINES", "CompiledEngine", "EngineDeadlock", "EngineRun", "FastEngine",
           "ReferenceEngine", "Workload", "run_engine"]
