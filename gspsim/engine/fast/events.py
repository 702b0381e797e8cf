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
import math

#: kinds of wake-up
FRAME, LANDED, INPUTS, COMPUTED, WRITTEN = range(5)


class EventQueue:
    """Timed wake-ups in cycle order."""

    __slots__ = ("heap",)

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, int]] = []

    def at(self, when: float, kind: int, ident: int) -> None:
        """Wake ``ident`` (a frame, load or tile) at cycle ``when`` with ``kind``."""
        heapq.heappush(self.heap, (when, kind, ident))

    def next_cycle(self) -> float:
        """The cycle of the earliest wake-up (infinity when none is left)."""
        return self.heap[0][0] if self.heap else math.inf

    def pop_due(self, now: float) -> list[tuple[float, int, int]]:
        """Every wake-up at cycle ``now``, removed from the queue."""
        heap = self.heap
        due = []
        pop = heapq.heappop
        while heap and heap[0][0] == now:
            due.append(pop(heap))
        return due
