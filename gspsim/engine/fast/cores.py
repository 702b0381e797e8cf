"""The cores: thread slots, compute units, stalls, and the load figures a scheduler reads.

(Each core's queue of ready tiles is in :mod:`.dispatch`.)  A compute unit
serves one tile at a time.  Requests come from the scheduler's step h in key
order; a free unit takes the first one, the others wait, and a unit that
finishes hands itself at once to the best request waiting (the reference's
``PriorityResource``).  A core stalls while it has a free slot and ready
tiles that all wait for line-buffer room.
"""

from __future__ import annotations

import heapq
from typing import Optional

#: a ready tile's key (:func:`gspsim.engine.records.tile_key`); its last element is the global tile id
Key = tuple


class Cores:
    """Per-core slots, compute units, stalls and load figures."""

    def __init__(self, count: int, slots: int, stalls: list[list[tuple[float, float]]]) -> None:
        self.count = count
        self.slot_capacity = slots
        self.slots_used = [0] * count
        self.unit_busy = [False] * count
        self.unit_waiting: list[list[Key]] = [[] for _ in range(count)]
        #: cycle the tile computing now finishes; cycles of tiles started but not computing yet; of queued tiles
        self.alu_free = [0.0] * count
        self.pending = [0.0] * count
        self.queued_cycles = [0.0] * count
        self.stall_since: list[Optional[float]] = [None] * count
        self.stalls = stalls
        #: cores whose queue or slots changed since their queue was last walked (:mod:`.dispatch`)
        self.touched = bytearray(count)

    def occupy(self, core: int, cycles: int) -> None:
        """A tile starts on ``core``: it takes a slot, and its cycles move from queued to pending."""
        self.slots_used[core] += 1
        self.queued_cycles[core] -= cycles
        self.pending[core] += cycles

    def release_slot(self, core: int) -> None:
        """A tile's outputs are written: its thread slot is free."""
        self.slots_used[core] -= 1
        self.touched[core] = 1

    def stall(self, core: int, stalled: bool, now: float) -> None:
        """Open or close a stall interval: a free slot and ready tiles that all wait for buffer room."""
        since = self.stall_since[core]
        if stalled and since is None:
            self.stall_since[core] = now
        elif not stalled and since is not None:
            self.stalls[core].append((since, now))
            self.stall_since[core] = None

    # --- compute units -----------------------------------------------------------------------------------
    def request(self, core: int, key: Key) -> bool:
        """Ask ``core``'s unit for a tile: True when it takes it now, else the tile waits."""
        if self.unit_busy[core]:
            heapq.heappush(self.unit_waiting[core], key)
            return False
        self.unit_busy[core] = True
        return True

    def release(self, core: int) -> int:
        """The unit finished a tile: the best waiting tile it takes at once, or -1 (the unit is free)."""
        waiting = self.unit_waiting[core]
        if waiting:
            return heapq.heappop(waiting)[-1]
        self.unit_busy[core] = False
        return -1

    def start_compute(self, core: int, now: float, cycles: int) -> None:
        self.alu_free[core] = now + cycles
        self.pending[core] -= cycles

    # --- what a scheduler reads (EngineView, :class:`gspsim.engine.fast.run.FastEngine`) ---------------
    def earliest_free(self, now: float, cores: int) -> int:
        """The core whose unit frees up first counting its queued work (lowest index on ties)."""
        at = [(a if a > now else now) + p + q for a, p, q in zip(self.alu_free, self.pending, self.queued_cycles)]
        return min(range(cores), key=at.__getitem__)
