"""Band dependencies: when a band's tiles join a core's queue, and what a completed tile or band releases.

The reference engine's steps a (completions), b (arrivals) and e
(readiness).  A band waits until its producer bands are complete and its
frame has arrived; it is then looked at in every scheduler pass, node by
node in program order, until its stack is open for the frame (layer mode:
its node is next in program order) and the weights its tiles use are on
chip.  Each tile that becomes ready gets its key and the core the scheduler
names.  A completed band frees the line-buffer bands every reader has
finished with and wakes the bands that read it; a completed node lets go of
its held weights and, with the last one, of its stack.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional, Sequence

from ...errors import GspsimError
from ...scheduling.base import EngineView, has_static_priority, uses_earliest_free
from ..records import Records, Workload, tile_key
from .cores import Cores
from .dispatch import Dispatcher
from .stacks import StackGate
from .state import RunState
from .tables import ModelTables
from .weights import WeightMemory


def _first_tile(run: tuple[tuple[int, int, int], int, int]) -> int:
    return run[1]


class Bands:
    """Dependency counts, the bands waiting to be ready, and completions."""

    def __init__(self, workloads: Sequence[Workload], state: RunState, rec: Records, weights: WeightMemory,
                 stacks: StackGate, cores: Cores, dispatcher: Dispatcher, view: EngineView, layer_mode: bool,
                 progress: Optional[Callable[[int, int], None]], report_every: int) -> None:
        self.workloads, self.state, self.rec = workloads, state, rec
        self.weights, self.stacks, self.cores, self.view = weights, stacks, cores, view
        self.dispatcher = dispatcher
        self.layer_mode = layer_mode
        self.progress, self.report_every = progress, report_every
        jobs = state.jobs
        self.arrived = [False] * len(jobs)
        self.tiles_left = [state.job_tables[j].tiles for j in range(len(jobs))]
        self.done = 0
        # per global band: producer bands and tiles not complete yet
        self.deps_left = [n for tb in state.job_tables for n in tb.band_deps]
        self.band_tiles_left = [len(r) for tb in state.job_tables for r in tb.band_tiles]
        #: per job: per node, bands not complete yet; per (ring, band), reader bands not complete yet
        self.node_bands_left = [list(tb.node_nbands) for tb in state.job_tables]
        self.readers_left = [dict(tb.program.band_readers) for tb in state.job_tables]
        #: per job: node -> its bands whose producers are done and frame has arrived, not every tile queued yet
        self.waiting: list[dict[int, list[int]]] = [{} for _ in jobs]
        # weights slice by slice, per job: band -> its runs of tiles (ModelTables.band_runs) whose slice is on
        # chip and not queued yet, and how many runs still wait; slice key -> (band, run) waiting for it
        self.ready_runs: list[dict[int, list[tuple[tuple[int, int, int], int, int]]]] = [{} for _ in jobs]
        self.runs_left: list[dict[int, int]] = [{} for _ in jobs]
        self.slice_waiters: list[dict[tuple[int, int, int], list]] = [{} for _ in jobs]
        #: layer mode: the next (job, node) in program order
        self.layer_position = (0, 0)
        #: counts changes that can make a waiting band ready (it waits, its slice lands, the layer order moves);
        #: with the weights' and stacks' counts, as they were when the last readiness pass began
        self.version = 0
        self.seen = (-1, -1, -1)
        #: per job: counts the changes of its own waiting bands; and the counts its last readiness scan began
        #: with (its own, the layer order's, the weights' and the stacks'): a job none of them moved for is
        #: skipped, as its scan would queue nothing and ask for nothing new (every frame waits in one list,
        #: so scanning them all at every pass made many-frame runs quadratic)
        self.job_version = [0] * len(jobs)
        self.job_seen: list[tuple[int, int, int, int]] = [(-1, -1, -1, -1)] * len(jobs)
        self.layer_version = 0
        #: jobs whose own count moved since the last pass began, and the shared counts that pass began with:
        #: while the shared counts stay, only those jobs are looked at
        self.moved: set[int] = set()
        self.shared_seen = (-1, -1, -1)
        schedulers = [wl.scheduler for wl in workloads]
        self.schedulers = schedulers
        #: per workload: every tile's priority, asked once before the run when the scheduler marks it static
        self.priorities = [[s.priority(b) for b in wl.program.tasks.blocks] if has_static_priority(s) else None
                           for s, wl in zip(schedulers, workloads)]
        self.earliest_free = [uses_earliest_free(s) for s in schedulers]
        #: the first global tile of the frame whose tile is being assigned (the view's ``block_core`` reads it)
        self.view_base = 0

    # --- b: arrivals ------------------------------------------------------------------------------------
    def arrive(self, j: int) -> None:
        self.arrived[j] = True
        tb = self.state.job_tables[j]
        for b in tb.roots:
            self._waits(j, tb, b)

    def _waits(self, j: int, tb: ModelTables, b: int) -> None:
        """Band ``b``'s producers are complete and its frame has arrived: it waits to be ready."""
        self.version += 1
        self.job_version[j] += 1
        self.moved.add(j)
        self.waiting[j].setdefault(tb.band_node[b], []).append(b)
        runs = tb.band_runs[b]
        if runs and not self.weights.resident[self.state.job_workload[j]]:
            # weights slice by slice: each run of tiles waits for its slice
            ready = []
            waiters = self.slice_waiters[j]
            for run in runs:
                if self.weights.slice_ready(j, run[0]):
                    ready.append(run)
                else:
                    waiters.setdefault(run[0], []).append((b, run))
            self.ready_runs[j][b] = ready
            self.runs_left[j][b] = len(runs) - len(ready)

    def slice_landed(self, j: int, key: tuple[int, int, int]) -> None:
        """A weight slice of job ``j`` is on chip: the runs of tiles waiting for it are ready."""
        self.version += 1
        self.job_version[j] += 1
        self.moved.add(j)
        for b, run in self.slice_waiters[j].pop(key, ()):
            self.ready_runs[j][b].append(run)
            self.runs_left[j][b] -= 1

    # --- e: readiness ----------------------------------------------------------------------------------
    def make_ready(self, now: float) -> None:
        """Queue every tile of a waiting band whose stack is open and whose weights are on chip.

        A pass that begins with nothing changed since the last one began would
        queue nothing, and its requests for stacks are already made: it is skipped.
        """
        seen = (self.version, self.weights.version, self.stacks.version)
        if seen == self.seen:
            return
        self.seen = seen
        st = self.state
        weights, stacks, job_version, job_seen = self.weights, self.stacks, self.job_version, self.job_seen
        shared = (self.layer_version, weights.version, stacks.version)
        jobs: Iterable[int] = sorted(self.moved) if shared == self.shared_seen else range(len(self.waiting))
        self.shared_seen = shared
        self.moved = set()
        for j in jobs:
            waiting = self.waiting[j]
            if not waiting:
                continue
            snapshot = (job_version[j], self.layer_version, weights.version, stacks.version)
            if job_seen[j] == snapshot:
                continue
            job_seen[j] = snapshot
            w = st.job_workload[j]
            tb = st.job_tables[j]
            base = st.job_base[j]
            for node in sorted(waiting):
                if self.layer_mode and self.layer_position != (j, node):
                    continue
                if not self.stacks.open_for(j, w, tb.stack_of[node], now):
                    continue
                ready = self.weights.node_ready(j, w, node)
                if ready is False:
                    continue
                bands = waiting[node]
                if ready:
                    for b in sorted(set(bands)):
                        for t in tb.band_tiles[b]:
                            self._enqueue(j, w, base + t, t, now)
                    del waiting[node]
                    continue
                # weights slice by slice: the runs of tiles whose slice is on chip, in tile order
                left = []
                ready_runs, runs_left = self.ready_runs[j], self.runs_left[j]
                for b in sorted(set(bands)):
                    runs = ready_runs[b]
                    if runs:
                        runs.sort(key=_first_tile)
                        for _, first, end in runs:
                            for t in range(first, end):
                                self._enqueue(j, w, base + t, t, now)
                        runs.clear()
                    if runs_left[b]:
                        left.append(b)
                    else:
                        del ready_runs[b], runs_left[b]
                if left:
                    waiting[node] = left
                else:
                    del waiting[node]

    def _enqueue(self, j: int, w: int, g: int, t: int, now: float) -> None:
        tb = self.state.job_tables[j]
        scheduler = self.schedulers[w]
        priorities = self.priorities[w]
        block = tb.blocks[t]
        key = tile_key(priorities[t] if priorities is not None else scheduler.priority(block), now, j, g)
        cores = self.cores
        if self.earliest_free[w]:
            core = cores.earliest_free(now, scheduler.cores)
        else:
            self.view_base = self.state.job_base[j]
            core = int(scheduler.assign(block, self.view))
            if not 0 <= core < cores.count:
                raise GspsimError(f"scheduler '{scheduler.name}' assigned a block to core {core} "
                                  f"(chip has {cores.count})")
        self.state.keys[g] = key
        self.dispatcher.enqueue(core, key, tb.cycles[t])

    # --- a: completions --------------------------------------------------------------------------------
    def complete(self, g: int, now: float) -> None:
        """Tile ``g``'s outputs are written."""
        st = self.state
        j = st.job_of[g]
        t = g - st.job_base[j]
        tb = st.job_tables[j]
        st.end[g] = now
        self.done += 1
        self.tiles_left[j] -= 1
        if self.tiles_left[j] == 0:
            self.rec.frame_end[st.job_workload[j]][st.job_frame[j]] = now
        if self.progress is not None and (self.done % self.report_every == 0 or self.done == st.total):
            self.progress(self.done, st.total)
        key = tb.slice_key[t]
        if key is not None and not self.weights.resident[st.job_workload[j]]:
            self.weights.tile_done(j, key)
        b = tb.band[t]
        gb = st.job_band_base[j] + b
        self.band_tiles_left[gb] -= 1
        if self.band_tiles_left[gb] == 0:
            self._band_complete(j, tb, b, now)

    def _band_complete(self, j: int, tb: ModelTables, b: int, now: float) -> None:
        st = self.state
        band_base = st.job_band_base[j]
        readers = self.readers_left[j]
        w = st.job_workload[j]
        for ring, k in tb.band_releases[b]:
            readers[(ring, k)] -= 1
            if readers[(ring, k)] == 0 and not st.spilled[band_base + tb.ring_bands[ring][k]]:
                self.dispatcher.free(w, ring, k, now)
        deps_left = self.deps_left
        if self.arrived[j]:
            for c in tb.band_consumers[b]:
                deps_left[band_base + c] -= 1
                if deps_left[band_base + c] == 0:
                    self._waits(j, tb, c)
        else:
            for c in tb.band_consumers[b]:
                deps_left[band_base + c] -= 1
        node = tb.band_node[b]
        left = self.node_bands_left[j]
        left[node] -= 1
        if left[node] == 0:
            self._node_complete(j, tb, node, now)

    def _node_complete(self, j: int, tb: ModelTables, node: int, now: float) -> None:
        w = self.state.job_workload[j]
        self.weights.node_done(j, w, node)
        self.stacks.bands_done(j, w, tb.stack_of[node], tb.node_nbands[node], now)
        if self.layer_mode:
            nxt = (j, node + 1) if node + 1 < len(tb.node_nbands) else (j + 1, 0)
            self.layer_position = nxt
            self.version += 1
            self.layer_version += 1
