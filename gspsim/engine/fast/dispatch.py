"""Dispatch and backpressure: each core's queue of ready tiles, and line-buffer room for their outputs.

The reference engine's step f walks each core's queue best first (by key:
:func:`gspsim.engine.records.tile_key`) and starts a tile while a thread
slot is free and the tile's band can reserve room in every line buffer it
writes: the buffer's write pointer must be at that band, and the band's
bytes must fit (:class:`gspsim.engine.memory.LineBuffer`).  A tile that
cannot is passed over (backpressure); the first tile of a band reserves for
the whole band.

Walking every blocked tile at every pass would cost most of a run, so a tile
found blocked is **parked** on the line buffer that refused it, with the
other parked tiles of its band.  When that buffer changes (a reservation, a
skipped band, or a freed band), the bands parked on it that it would no
longer refuse come back into their cores' queues; the others would be
refused again, so the walk can leave them out and still start exactly the
tiles the reference starts.  Two details keep it exact:

* a tile unparked in the middle of its own core's walk, with a key the
  walk has already passed, is not looked at again in that walk (the
  reference looked at it at its turn, before the change);
* a core stalls (free slot, ready tiles, none can start) exactly when the
  walk ends with a slot free and some tile refused: a parked tile counts,
  as the reference would have refused it too.
"""

from __future__ import annotations

import heapq
from typing import Callable, Optional

from ..records import DEADLOCK_SPILL, Records, Spill
from .cores import Cores, Key
from .state import RunState


class Dispatcher:
    """Per-core queues of ready tiles, the tiles parked on each line buffer, and reservations."""

    def __init__(self, state: RunState, cores: Cores, rec: Records) -> None:
        self.state, self.cores, self.rec = state, cores, rec
        n = cores.count
        #: per core: tiles that may start (a heap by key); per core: how many of its tiles are parked
        self.queues: list[list[Key]] = [[] for _ in range(n)]
        self.parked_count = [0] * n
        #: per workload: the global id of its first line buffer
        self.ring_base: list[int] = []
        count = 0
        for rings in state.rings:
            self.ring_base.append(count)
            count += len(rings)
        #: per global line buffer: global band -> (tile whose test it failed, [(core, key) parked])
        self.parked: list[dict[int, tuple[int, list[tuple[int, Key]]]]] = [{} for _ in range(count)]
        #: per global line buffer: its object, and (frame, band index) -> global band of each band parked on it
        self.buffers = [buffer for rings in state.rings for buffer in rings]
        self.parked_at: list[dict[tuple[int, int], int]] = [{} for _ in range(count)]
        # the walk under way: its core, the key it has reached, the unparked keys it has passed
        self.walking = -1
        self.position: Key = ()
        self.passed: list[Key] = []

    def queued(self, core: int) -> int:
        return len(self.queues[core]) + self.parked_count[core]

    def enqueue(self, core: int, key: Key, cycles: int) -> None:
        heapq.heappush(self.queues[core], key)
        self.cores.queued_cycles[core] += cycles
        self.cores.touched[core] = 1

    # --- step f ------------------------------------------------------------------------------------------
    def dispatch(self, now: float, issue: Callable[[int, int, float], None]) -> None:
        """Walk every core's queue in core order, starting what may start (module docstring).

        A core whose queue and slots have not changed since its last walk is
        left out: its walk would start nothing and its stall would not change.
        """
        cores = self.cores
        used, capacity, touched = cores.slots_used, cores.slot_capacity, cores.touched
        stall_since, parked_count = cores.stall_since, self.parked_count
        pop = heapq.heappop
        core = touched.find(1)
        while core >= 0:
            touched[core] = 0
            queue = self.queues[core]
            if queue and used[core] < capacity:
                self.walking = core
                self.passed = passed = []
                while queue and used[core] < capacity:
                    key = pop(queue)
                    self.position = key
                    g = key[-1]
                    ring = self.reserve(g)
                    if ring >= 0:
                        self._park(ring, g, core, key)
                        continue
                    issue(g, core, now)
                self.walking = -1
                for key in passed:
                    heapq.heappush(queue, key)
                touched[core] = 1 if passed else 0  # (keys unparked during the walk were walked)
                stalled = used[core] < capacity and bool(passed or parked_count[core])
            else:  # nothing to walk: stalled if only refused tiles wait beside a free slot
                stalled = used[core] < capacity and parked_count[core] > 0
            if stalled != (stall_since[core] is not None):
                cores.stall(core, stalled, now)
            core = touched.find(1, core + 1)

    def reserve(self, g: int, check: bool = False) -> int:
        """Reserve tile ``g``'s output room if its band has not yet: -1 if it may start, else the refusing buffer.

        With ``check``, only say which (nothing is reserved).
        """
        st = self.state
        j = st.job_of[g]
        tb = st.job_tables[j]
        t = g - st.job_base[j]
        gb = st.job_band_base[j] + tb.band[t]
        if st.spilled[gb] or st.reserved[gb]:
            return -1
        writes = tb.ring_writes[t]
        if not writes:
            return -1
        w = st.job_workload[j]
        rings = st.rings[w]
        frame, band = st.job_frame[j], tb.band_index[t]
        for r, _ in writes:
            if not rings[r].can_reserve(frame, band):
                return self.ring_base[w] + r
        if check:
            return -1
        base = self.ring_base[w]
        for r, _ in writes:
            rings[r].reserve(frame, band)
            self._changed(base + r)
        st.reserved[gb] = 1
        return -1

    def _park(self, ring: int, g: int, core: int, key: Key) -> None:
        st = self.state
        j = st.job_of[g]
        t = g - st.job_base[j]
        tb = st.job_tables[j]
        gb = st.job_band_base[j] + tb.band[t]
        parked = self.parked[ring].get(gb)
        if parked is None:
            self.parked[ring][gb] = (g, [(core, key)])
            self.parked_at[ring][(st.job_frame[j], tb.band_index[t])] = gb
        else:
            parked[1].append((core, key))
        self.parked_count[core] += 1

    def _changed(self, ring: int) -> None:
        """A line buffer moved its write pointer or freed room: the bands it would now let pass come back.

        Only the band at the buffer's write pointer can be one: the buffer refuses every other band, and
        a band parked here passed the buffers it writes before this one, which cannot change while it
        waits (their pointers wait at its band, and no other band reserves room in them meanwhile).
        """
        parked = self.parked[ring]
        if not parked:
            return
        buffer = self.buffers[ring]
        position = (buffer.next_frame, buffer.next_band)
        gb = self.parked_at[ring].get(position)
        if gb is None:
            return
        if self.reserve(parked[gb][0], check=True) != ring:
            self._unpark(ring, gb)

    def _unpark(self, ring: int, gb: int) -> None:
        """Band ``gb``'s tiles parked on ``ring`` go back to their cores' queues."""
        g, tiles = self.parked[ring].pop(gb)
        st = self.state
        j = st.job_of[g]
        del self.parked_at[ring][(st.job_frame[j], st.job_tables[j].band_index[g - st.job_base[j]])]
        count, queues, touched = self.parked_count, self.queues, self.cores.touched
        for core, key in tiles:
            count[core] -= 1
            if core == self.walking and key < self.position:
                self.passed.append(key)
            else:
                heapq.heappush(queues[core], key)
                touched[core] = 1

    def free(self, w: int, r: int, band: int, now: float) -> None:
        """Every reader is done with band ``band`` of workload ``w``'s line buffer ``r``."""
        self.state.rings[w][r].free(band, now)
        self._changed(self.ring_base[w] + r)

    # --- deadlocks -----------------------------------------------------------------------------------------
    def spill_best(self, now: float) -> Optional[tuple[int, int]]:
        """Spill the band of the best queued tile on a core with a free slot: (tile, core), or None."""
        cores = self.cores
        best: Optional[tuple[int, Key]] = None
        for core, queue in enumerate(self.queues):
            if cores.slots_used[core] < cores.slot_capacity and queue and (best is None or queue[0] < best[1]):
                best = (core, queue[0])
        for parked in self.parked:
            for _, tiles in parked.values():
                for core, key in tiles:
                    if cores.slots_used[core] < cores.slot_capacity and (best is None or key < best[1]):
                        best = (core, key)
        if best is None:
            return None
        core, key = best
        if self.queues[core] and self.queues[core][0] == key:
            heapq.heappop(self.queues[core])
        else:
            for parked in self.parked:
                for _, tiles in parked.values():
                    if (core, key) in tiles:
                        tiles.remove((core, key))
                        self.parked_count[core] -= 1
        cores.touched[core] = 1
        g = key[-1]
        st = self.state
        j, t = st.locate(g)
        tb = st.job_tables[j]
        gb = st.job_band_base[j] + tb.band[t]
        w, frame, band = st.job_workload[j], st.job_frame[j], tb.band_index[t]
        st.spilled[gb] = 1
        st.job_spills[j] += 1
        # the band's other parked tiles may start now (it writes DRAM); the reference's walk finds them
        for ring, parked in enumerate(self.parked):
            if gb in parked:
                self._unpark(ring, gb)
        if not st.reserved[gb]:
            for r, _ in tb.ring_writes[t]:
                st.rings[w][r].skip(frame, band)
                self._changed(self.ring_base[w] + r)
        self.rec.spills.append(Spill(now, w, tb.node[t], band, frame, DEADLOCK_SPILL))
        return g, core
