"""``gspsim warmup``: compile the Numba kernels ahead of time, so that the first real run does not wait for them.

Numba compiles a kernel for the argument types it is first called with and
keeps the machine code in its on-disk cache (``user_cache_dir()/numba``, see
gspsim.cache).  The kernels are lazily typed, so "every kernel" means every
kernel a model calls at every precision and in both modes: warm-up simulates
each model (default: the bundled ones) at fp32, fp16, bf16 and int8, streaming
and layer, on one frame, with the kernels executing and the accuracy report
off.  Those runs play in the compiled engine's event loop
(``engine="compiled"``, gspsim.engine.compiled), which is compiled with them,
though runs this small would otherwise play in the Python loop: a large
model's first run then finds the loop in the cache too.  A kernel already in
the cache is loaded, not compiled, so a second warm-up compiles nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

#: every precision a kernel exists for
WARMUP_PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16", "int8")
WARMUP_MODES: tuple[str, ...] = ("streaming", "layer")


@dataclass(frozen=True)
class WarmupStep:
    """One simulation of the warm-up and the Numba compilations it caused."""

    model: str
    precision: str
    mode: str
    compiled: int
    seconds: float
    #: why this precision or mode could not run for this model ("" when it ran)
    skipped: str = ""


class _CompileCounter:
    """Counts Numba compilations that start at depth 0 (a kernel with the functions it compiles with it)."""

    def __init__(self) -> None:
        from numba.core import event

        class Listener(event.Listener):
            def __init__(inner) -> None:  # noqa: N805 - a closure over the counter
                inner.depth = 0

            def on_start(inner, _event: Any) -> None:  # noqa: N805
                if inner.depth == 0:
                    self.count += 1
                inner.depth += 1

            def on_end(inner, _event: Any) -> None:  # noqa: N805
                inner.depth -= 1

        self.count = 0
        self.listener = Listener()


def warm_up(models: Sequence[Optional[str]] = (None,), hw: str = "blaize-1600",
            on_step: Optional[Callable[[WarmupStep], None]] = None) -> list[WarmupStep]:
    """Simulate each model (None: the bundled default) at every precision and mode; return what compiled.

    A model that cannot be loaded raises; a precision or mode the model cannot run at is skipped and says why.
    """
    from numba.core import event

    from . import api
    from .errors import GspsimError

    counter = _CompileCounter()
    steps: list[WarmupStep] = []
    with event.install_listener("numba:compile", counter.listener):
        for model in models:
            graph = api.load_model(model if model is not None else api.default_model_path())
            name = Path(graph.source_path).name if graph.source_path else str(model)
            for precision in WARMUP_PRECISIONS:
                for mode in WARMUP_MODES:
                    before, start = counter.count, time.perf_counter()
                    try:
                        api.simulate(graph, hw, precision=precision, mode=mode, accuracy_samples=0,
                                     engine="compiled")
                        skipped = ""
                    except GspsimError as exc:  # say an op without an int8 kernel: warm up the rest
                        skipped = str(exc)
                    step = WarmupStep(name, precision, mode, counter.count - before, time.perf_counter() - start,
                                      skipped)
                    steps.append(step)
                    if on_step is not None:
                        on_step(step)
    return steps
