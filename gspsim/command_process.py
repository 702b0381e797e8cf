"""The garbage collector of a process that runs one gspsim command (the CLI and its worker processes).

Python's cyclic garbage collector runs a collection every 700 container
allocations (tuples, lists, dicts, objects) and a full one, which walks every
live container, about every hundred of those.  A command allocates hundreds
of thousands of short-lived containers that reference counting alone frees,
while Numba, networkx and gspsim's own modules leave some 150,000 long-lived
ones for each full collection to walk; and at exit the interpreter collects
once more over everything.
Measured on YOLOv3-416 (`run --timing-only`, docs/performance.md, "Garbage
collection"): 0.33-0.39 s in 600 collections during the run (4 full ones of
some 60 ms each) and 0.3-0.5 s at exit, of a 3.5-3.8 s process.

:func:`tune_for_one_command` therefore makes collections rarer
(:data:`GC_THRESHOLDS`: a young collection every 100,000 container
allocations instead of 700; reference cycles are still collected, later), and
freezes the collector at exit (:func:`gc.freeze`, after every other exit
handler has run: the objects left are freed with the process, as the operating
system reclaims its memory).  Only the command's own process is tuned: the
Python API leaves its caller's collector as it is.  ``GSPSIM_GC_TUNING=0``
keeps Python's defaults (to compare, or if a command's memory ever grew from
reference cycles collected late).
"""

from __future__ import annotations

import atexit
import gc
import os

#: (young, middle, old) thresholds of gc.set_threshold for a command's process (Python's default: 700, 10, 10)
GC_THRESHOLDS = (100_000, 10, 10)


def tuning_enabled() -> bool:
    """False when the user set ``GSPSIM_GC_TUNING=0`` (or ``off``/``no``/``false``)."""
    return os.environ.get("GSPSIM_GC_TUNING", "1").strip().lower() not in ("0", "off", "no", "false")


def tune_for_one_command() -> None:
    """Rarer collections for the rest of this process, and none at exit (module docstring)."""
    if not tuning_enabled():
        return
    gc.set_threshold(*GC_THRESHOLDS)
    # atexit runs its handlers last-registered first: registered now, at start-up, this one runs last
    atexit.register(gc.freeze)


__all__ = ["GC_THRESHOLDS", "tune_for_one_command", "tuning_enabled"]
