"""The fast engine: the reference engine's rules (:mod:`gspsim.engine.reference`), played out without SimPy.

It produces exactly the reference engine's records, hence the same results
(``tests/test_engine_equivalence.py`` checks it on random graphs and chips and
on every shipped model).  One module per job:

* :mod:`.tables` -- one model's compile-time tables as flat lists, built once per run;
* :mod:`.state` -- per-run tables indexed by global tile and band: the records, line buffers, flags;
* :mod:`.events` -- the clock: a heap of timed wake-ups, one per wait of the reference engine;
* :mod:`.run` -- the run: rounds of wake-ups and scheduler passes, deadlock spills, the records at the end,
  and the scheduler's view of the engine;
* :mod:`.bands` -- band dependencies, readiness (stacks, weights, layer order) and completions;
* :mod:`.cores` -- per-core queues, thread slots, compute units and load figures;
* :mod:`.traffic` -- line-buffer reservation (backpressure), input and output transfers;
* :mod:`.weights` -- weight memory and the DMA queue;
* :mod:`.stacks` -- layer stacks holding their line buffers.
"""

from .run import FastEngine

__all__ = ["FastEngine"]
