"""The fast engine's clock: one heap of timed wake-ups, one entry per wait of the reference engine.

The reference engine waits in five places (a frame's arrival, a weight load
landing, a tile's inputs arriving, its compute finishing, its outputs being
written); each becomes an entry ``(cycle, kind, id)`` here.  No two entries
are equal (one wait of each kind per frame, load or tile), so the heap never
compares anything else, and the order in which entries of one cycle come out
does not matter: handling them only reports to the hardware scheduler, which
sorts what it is told (:mod:`gspsim.engine.fast.run`).

A wait for cycle ``x`` started at cycle ``now`` wakes at ``now + (x - now)``,
the cycle SimPy's ``timeout(x - now)`` gives, which is ``x`` exactly except
for the rounding of fractional cycles (frame periods at a given fps).
"""

from __future__ import annotations

import heapq

#: kinds of wake-up
FRAME, LANDED, INPUTS, COMPUTED, WRITTEN = range(5)


class EventQueue:
    """Timed wake-ups in cycle order (the run pops them from ``heap``, a cycle at a time)."""

    __slots__ = ("heap",)

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, int]] = []

    def at(self, when: float, kind: int, ident: int) -> None:
        """Wake ``ident`` (a frame, load or tile) at cycle ``when`` with ``kind``."""
        heapq.heappush(self.heap, (when, kind, ident))
