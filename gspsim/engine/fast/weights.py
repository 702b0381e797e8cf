"""Weight memory and the DMA engines that fill it (the reference engine's steps b and c, and its releases).

Loads start in the run's DMA order (:func:`gspsim.engine.memory.weight_load_order`),
a frame's once it has arrived (:class:`gspsim.engine.memory.WeightQueue`), head of
line: while a DMA engine is free and the next load fits in weight memory.  A
model whose weights all fit stays resident; otherwise a "held" node's weights
are loaded once per frame and shared by the frames in flight until the last of
them finishes the node, and a node loaded slice by slice frees each slice when
the tiles that use it are done.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from ..memory import BandwidthChannel, WeightBook, WeightQueue, resident_models, weight_load_order
from ..records import Job, Records, Workload
from .events import LANDED, EventQueue
from .tables import ModelTables


class WeightMemory(WeightBook):
    """Which weights are on chip, which loads are under way, and the queue of loads still to start."""

    def __init__(self, workloads: Sequence[Workload], tables: Sequence[ModelTables], jobs: Sequence[Job],
                 capacity: int, engines: int, dram: BandwidthChannel, rec: Records, events: EventQueue) -> None:
        self.workloads, self.tables, self.jobs = workloads, tables, jobs
        self.capacity = max(1, capacity)
        self.level = 0
        self.engines, self.busy = engines, 0
        self.dram, self.rec, self.events = dram, rec, events
        self.resident = resident_models(workloads, self.capacity)
        self.queue = WeightQueue(weight_load_order(workloads, jobs, self.resident),
                                 lambda w, node: workloads[w].program.plan.stack_of[node], len(jobs))
        #: frames arrived so far, and the stacks' change count the runs set aside were last looked at with
        self.arrivals = 0
        self.stacks_seen = 0
        #: (bytes in weight memory, busy engines, frames arrived, stacks' change count) when loads last
        #: stopped: nothing can start until one of them changes
        self.waited: Optional[tuple[int, int, int, int]] = None
        #: counts every change that can make a tile's weights ready (a load started, shared or landed)
        self.version = 0
        WeightBook.__init__(self, len(jobs))
        #: per started load: its slice key when it is one slice of a frame's weights (else None)
        self.load_slice: list[Optional[tuple[int, int, int]]] = []
        #: per job: slice key -> tiles left that use that slice (models not resident only)
        self.slice_tiles_left: list[dict[tuple[int, int, int], int]] = []
        for job in jobs:
            counts: dict[tuple[int, int, int], int] = {}
            if not self.resident[job.workload]:
                for key in tables[job.workload].slice_key:
                    if key is not None:
                        counts[key] = counts.get(key, 0) + 1
            self.slice_tiles_left.append(counts)

    # --- step c ------------------------------------------------------------------------------------------
    def arrive(self, j: int) -> None:
        """Frame ``j`` arrived: its loads may start."""
        self.queue.arrive(j)
        self.arrivals += 1

    def start_loads(self, now: float, waits: Callable[[int, int, int], bool], stacks_changes: int) -> None:
        """Start loads in DMA order while an engine is free and the next one fits (head of line);
        ``waits`` is the stacks' rule for a frame's loads (:meth:`StackGate.waits_to_reopen`), and
        ``stacks_changes`` their change count."""
        if self.waited == (self.level, self.busy, self.arrivals, stacks_changes):
            return
        queue, entries = self.queue, self.queue.entries
        if stacks_changes != self.stacks_seen:
            queue.reconsider()
            self.stacks_seen = stacks_changes
        while self.busy < self.engines:
            k = queue.head(waits)
            if k is None:
                break
            job, w, spec = entries[k]
            node, nbytes = spec.node, spec.nbytes
            holds = self.tables[w].holds[node]
            if job is not None and holds and self.share_held(job, w, node):  # on chip for an earlier frame
                queue.take()
                self.version += 1
                continue
            stored = min(nbytes, self.capacity)
            if stored > self.capacity - self.level:
                break
            queue.take()
            self.version += 1
            load, key = self.start(job, w, spec, stored, holds)
            self.level += stored
            self.load_slice.append(key)
            self.busy += 1
            end = self.dram.reserve(now, nbytes)
            self.rec.dram_read["weights"] += nbytes
            self.rec.weight_loads.append((now, end, nbytes, w, node))
            self.events.at(now + (end - now), LANDED, load)
        self.waited = (self.level, self.busy, self.arrivals, stacks_changes)

    # --- step b ------------------------------------------------------------------------------------------
    def land(self, load: int) -> None:
        """A load's bytes are in weight memory (its DMA engine is free again)."""
        self.busy -= 1
        self.landed[load] = True
        self.version += 1

    # --- readiness (step e) ------------------------------------------------------------------------------
    def node_ready(self, j: int, w: int, node: int) -> Optional[bool]:
        """Whether (job, node)'s weights are on chip; None when each tile waits for its own slice."""
        t = self.tables[w]
        if not t.has_weights[node]:
            return True
        if self.resident[w]:
            load = self.resident_load.get((w, node))
        elif t.holds[node]:
            load = self.job_held[j].get(node)
        else:
            return None
        return load is not None and self.landed[load]

    def slice_ready(self, j: int, key: tuple[int, int, int]) -> bool:
        load = self.job_slices[j].get(key)
        return load is not None and self.landed[load]

    # --- releases (step a) -------------------------------------------------------------------------------
    def tile_done(self, j: int, key: tuple[int, int, int]) -> None:
        """A tile of a node loaded slice by slice is done: its slice leaves when no tile needs it."""
        left = self.slice_tiles_left[j]
        left[key] -= 1
        if left[key] == 0:
            load = self.job_slices[j].pop(key, None)
            if load is not None:
                self.level -= self.load_info[load][3]

    def node_done(self, j: int, w: int, node: int) -> None:
        """A frame finished a node: held weights leave when the last frame sharing them is done."""
        if self.tables[w].holds[node] and not self.resident[w] and node in self.job_held[j]:
            held = self.held[(w, node)]
            held[1] -= 1
            if held[1] == 0:
                self.level -= self.load_info[held[0]][3]
                del self.held[(w, node)]
