"""The reference engine: the GSP's run-time rules written plainly, as one SimPy process per thread.

This is the definition of what the simulated chip does; the fast engine
(:mod:`gspsim.engine.fast`) must produce exactly the same records, which the
equivalence test checks on random graphs, random chips and every shipped
model.  It is one module of about 740 lines on purpose: a reviewer reads the
rules of steps a-g below in one place, in the order the scheduler applies
them, and the fast engine's modules mirror them one by one.  Only SimPy's
public API is used: processes, timeouts, events,
``Resource``, ``PriorityResource``, ``Container``, ``Environment.step`` and
``Environment.peek``.

A run alternates two phases at each cycle where something happens:

1. SimPy processes every event due at that cycle: frames arrive, threads'
   transfers and compute finish, weight loads land.  These only *report*
   (append to the lists below); they never take a shared resource.
2. The **hardware scheduler** (:meth:`ReferenceEngine._decide`) then acts on
   everything reported, in a fixed order and, within each step, in a fixed
   order of frames and tiles -- so no result depends on the order in which
   SimPy happened to process simultaneous events:

   a. finish threads whose outputs are written (free the thread slot, the
      line-buffer bands every completed band has finished reading, the
      weights a node no longer needs; wake the consumer bands);
   b. note arrived frames and landed weights;
   c. start weight loads, in DMA order (stack by stack, frame by frame within
      a stack: :func:`gspsim.engine.memory.weight_load_order`), while weight
      memory has room and a DMA engine is free;
   d. open waiting stacks, first come first served, while their line
      buffers fit the buffer memory (a stack stays open while a frame is in
      it or an arrived frame has yet to pass it);
   e. make ready every tile whose band's producer bands are complete, whose
      frame has arrived, whose stack is open for that frame (layer mode:
      whose node is next in program order) and whose weights are on chip;
      the scheduler names the core whose queue it joins;
   f. on each core, start queued tiles, best first, while a thread slot is
      free and the tile's band can reserve room in the line buffers it
      writes (else it waits: backpressure); a started tile's inputs move
      now: DRAM loads of its band's new input rows, its windows of line
      buffers (from its own core's memory where a producer tile ran on
      it, else over the interconnect), staging reads and its weight slice;
   g. send the outputs of tiles whose compute has finished (the band's
      kernel runs on the real tensors when its last tile finishes);
   h. ask each core's compute unit for the tiles whose inputs have arrived,
      best first (a unit that frees up later goes to the best thread waiting).

   Whatever this starts at the same cycle (a zero-byte transfer, a free
   compute unit) is processed by SimPy before the scheduler acts again.

If the event queue runs dry with tiles left, the line buffers have
deadlocked (only possible with buffers smaller than the compiler's sizing):
the best blocked tile's band writes to DRAM instead, counted as a spill
with its reason.  If no tile is blocked, the stacks kept open for frames
behind are closed (their frames may first need a stack that only that
buffer memory lets open; such a frame asks for them again later).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import simpy

from ..errors import GspsimError
from ..hardware.config import HardwareConfig
from ..hardware.cost_model import CostModel
from ..lowering.memory import buffer_budget_bytes, weight_capacity_bytes
from .executor import KernelExecutor
from .memory import (BandwidthChannel, LineBuffer, WeightBook, WeightQueue, load_band_rows, resident_models,
                     reopens, weight_load_order)
from .options import SimOptions
from .records import DEADLOCK_SPILL, EngineDeadlock, EngineRun, Records, Spill, Workload, label, order_jobs, progress_every, tile_key


class ReferenceEngine:
    """One run of the reference engine (use :func:`gspsim.engine.run_engine`)."""

    name = "reference"

    def __init__(self, workloads: Sequence[Workload], hw: HardwareConfig, options: SimOptions,
                 progress: Optional[Callable[[int, int], None]] = None) -> None:
        self.workloads = tuple(workloads)
        self.hw, self.options, self.progress = hw, options, progress
        self.cost = CostModel(hw)
        # cycles are floats from the start: an int clock would make a recorded cycle's type (and its JSON)
        # depend on whether a float delay had happened yet
        self.env = env = simpy.Environment(initial_time=0.0)
        self.layer_mode = options.mode == "layer"
        self.n_cores = hw.cores.count
        self.jobs = order_jobs(self.workloads)
        self.total = sum(len(self.workloads[j.workload].program.tasks.blocks) for j in self.jobs)
        self.rec = Records.empty(self.jobs, self.workloads, self.n_cores)
        self.many = len(self.workloads) > 1
        for wl in self.workloads:
            wl.scheduler.prepare(wl.program.tasks, hw, wl.program.cycles)
        # resources
        self.slots = [simpy.Resource(env, capacity=hw.cores.thread_slots) for _ in range(self.n_cores)]
        self.units = [simpy.PriorityResource(env, capacity=1) for _ in range(self.n_cores)]
        self.dma = simpy.Resource(env, capacity=hw.dma.engines)
        budget = buffer_budget_bytes(hw, options.buffer_budget)
        self.weight_memory = simpy.Container(env, capacity=max(1, weight_capacity_bytes(hw, options.buffer_budget)))
        self.buffer_memory = simpy.Container(env, capacity=max(1, budget))
        self.dram = BandwidthChannel(self.cost.dram_bytes_per_cycle, self.cost.dram_latency_cycles, record=True)
        self.onchip = BandwidthChannel(self.cost.onchip_bytes_per_cycle)
        # what processes report to the scheduler
        self.arrived_now: list[int] = []
        self.loaded_now: list[int] = []
        self.inputs_in: list[int] = []
        self.computed: list[int] = []
        self.written: list[int] = []
        self.dirty = False
        # per job
        self.arrived = [False] * len(self.jobs)
        self.tiles_left = [len(self.workloads[j.workload].program.tasks.blocks) for j in self.jobs]
        self.deps_left: list[list[int]] = []
        self.band_tiles_left: list[list[int]] = []
        self.band_compute_left: list[list[int]] = []
        self.node_bands_left: list[list[int]] = []
        self.stack_bands_left: list[list[int]] = []
        self.band_spilled: list[set[int]] = []
        self.band_reserved: list[set[tuple[int, int]]] = []
        self.readers_left: list[dict[tuple[int, int], int]] = []
        #: per job: tiles left that use each weight slice (key: Program.weight_key)
        self.group_tiles_left: list[dict[tuple[int, int, int], int]] = []
        for job in self.jobs:
            prog = self.workloads[job.workload].program
            tasks = prog.tasks
            self.deps_left.append([len(b.deps) for b in tasks.bands])
            self.band_tiles_left.append([len(b.tiles) for b in tasks.bands])
            self.band_compute_left.append([len(b.tiles) for b in tasks.bands])
            self.node_bands_left.append([len(n.bands) for n in tasks.nodes])
            self.stack_bands_left.append(list(prog.stack_bands))
            self.band_spilled.append(set())
            self.band_reserved.append(set())
            self.readers_left.append(dict(prog.band_readers))
            groups: dict[tuple[int, int, int], int] = {}
            for key in prog.weight_key:
                groups[key] = groups.get(key, 0) + 1
            self.group_tiles_left.append(groups)
        # per global tile
        #: per global tile: joined a core's queue (not ``queued``: that is the scheduler view's method)
        self.is_queued = [False] * self.total
        self.ready_cycle = [0.0] * self.total
        self.cycles = [0] * self.total
        for job in self.jobs:
            cyc = self.workloads[job.workload].program.cycles
            self.cycles[job.offset:job.offset + len(cyc)] = cyc
        self.keys: list[tuple] = [()] * self.total
        self.slot_req: dict[int, Any] = {}
        #: per tile waiting for the scheduler: its compute-unit grant, then its outputs' send-off
        self.grants: dict[int, simpy.Event] = {}
        self.sent: dict[int, simpy.Event] = {}
        self.done = 0
        self.report_every = progress_every(self.total)
        # per core
        self.queues: list[list[int]] = [[] for _ in range(self.n_cores)]
        self.queued_cycles_of = [0.0] * self.n_cores
        self.pending_cycles = [0.0] * self.n_cores
        self.alu_free = [0.0] * self.n_cores
        self.stall_since: list[Optional[float]] = [None] * self.n_cores
        # line buffers: per workload, per ring
        self.rings = [[LineBuffer(label(w, r.tensor, self.many), r.capacity, r.band_bytes)
                       for r in wl.program.rings] for w, wl in enumerate(self.workloads)]
        # stacks: per workload, per stack: frames inside; the FIFO of stacks waiting for buffer memory
        self.stack_claims = [[0] * len(wl.program.plan.stacks) for wl in self.workloads]
        #: per workload, per stack: kept open with no frame inside, for an arrived frame that has yet to pass it
        self.stack_kept = [[False] * len(wl.program.plan.stacks) for wl in self.workloads]
        self.stack_open_at = [[0.0] * len(wl.program.plan.stacks) for wl in self.workloads]
        self.stack_opened = [[False] * len(wl.program.plan.stacks) for wl in self.workloads]
        self.claimed: list[set[int]] = [set() for _ in self.jobs]
        self.stack_waiting: list[tuple[int, int]] = []
        self.stack_joiners: dict[tuple[int, int], list[int]] = {}
        # bands whose producers are done and frame has arrived, but not every tile is queued yet
        self.waiting_bands: list[dict[int, list[int]]] = [{} for _ in self.jobs]
        # layer mode: the next (job, node) in program order
        self.layer_position = (0, 0)
        # band loads from DRAM: (job, node, tensor) -> (bands issued, arrival per band)
        self.loads: dict[tuple[int, int, str], list[float]] = {}
        # weights
        self.resident = resident_models(self.workloads, self.weight_memory.capacity)
        self.weight_queue = WeightQueue(weight_load_order(self.workloads, self.jobs, self.resident),
                                        lambda w, node: self.workloads[w].program.plan.stack_of[node], len(self.jobs))
        self.book = WeightBook(len(self.jobs))  # started loads and the frames that use them
        self.executors = [
            KernelExecutor(self.workloads[j.workload].program.tasks, self.workloads[j.workload].inputs[j.frame])
            if options.execute else None
            for j in self.jobs
        ]

    # --- what a scheduler may read (gspsim.scheduling.base.EngineView) ----------------------------
    @property
    def now(self) -> float:
        return self.env.now

    def queued(self, core: int) -> int:
        return len(self.queues[core])

    def running(self, core: int) -> int:
        return self.slots[core].count

    def free_at(self, core: int) -> float:
        return max(self.alu_free[core], self.env.now) + self.pending_cycles[core]

    def queued_cycles(self, core: int) -> float:
        return self.queued_cycles_of[core]

    def block_core(self, block: int) -> int:
        return int(self.rec.core[self._view_base + block])

    _view_base = 0

    # --- helpers ------------------------------------------------------------------------------------
    def _locate(self, g: int) -> tuple[int, int]:
        """(job, tile id within its model) of global tile ``g``."""
        lo, hi = 0, len(self.jobs) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.jobs[mid].offset <= g:
                lo = mid
            else:
                hi = mid - 1
        return lo, g - self.jobs[lo].offset

    def _report(self) -> None:
        self.dirty = True

    # --- processes ------------------------------------------------------------------------------------
    def _frame(self, j: int):
        delay = self.jobs[j].release - self.env.now
        if delay > 0:
            yield self.env.timeout(delay)
        self.arrived_now.append(j)
        self._report()

    def _weight_load(self, load: int, req: Any, end: float):
        yield self.env.timeout(end - self.env.now)
        self.dma.release(req)
        self.loaded_now.append(load)
        self._report()

    def _tile(self, g: int, core: int, arrive: float):
        """One thread, from the moment its core started it to the moment its outputs are written."""
        env = self.env
        if arrive > env.now:
            yield env.timeout(arrive - env.now)
        cycles = self.cycles[g]
        if cycles:
            self.grants[g] = grant = env.event()
            self.inputs_in.append(g)
            self._report()
            req = yield grant
            yield req
            self.rec.compute[g] = env.now
            self.alu_free[core] = env.now + cycles
            self.pending_cycles[core] -= cycles
            yield env.timeout(cycles)
            self.units[core].release(req)
        else:
            self.rec.compute[g] = env.now
        self.sent[g] = sent = env.event()
        self.computed.append(g)
        self._report()
        end = yield sent
        if end > env.now:
            yield env.timeout(end - env.now)
        self.slots[core].release(self.slot_req.pop(g))
        self.written.append(g)
        self._report()

    # --- the run ----------------------------------------------------------------------------------------
    def run(self) -> EngineRun:
        env = self.env
        for j in range(len(self.jobs)):
            env.process(self._frame(j))
        while True:
            while env.peek() == env.now:
                env.step()
            if self.dirty:
                self.dirty = False
                self._decide()
                if env.peek() == env.now:
                    continue
            if env.peek() == float("inf"):
                if self.done == self.total:
                    break
                if not self._break_deadlock():
                    raise EngineDeadlock(self._stuck())
                continue
            env.step()
        self._finish()
        return EngineRun(self.workloads, self.rec, self.name)

    def _decide(self) -> None:
        now = self.env.now
        written, self.written = sorted(self.written), []
        for g in written:
            self._complete(g, now)
        arrived, self.arrived_now = sorted(self.arrived_now), []
        for j in arrived:
            self._arrive(j)
        loaded, self.loaded_now = sorted(self.loaded_now), []
        for load in loaded:
            self._landed(load)
        self._start_weight_loads(now)
        self._open_stacks(now)
        self._make_ready(now)
        for core in range(self.n_cores):
            self._dispatch(core, now)
        computed, self.computed = sorted(self.computed), []
        for g in computed:
            self._send_outputs(g, now)
        inputs, self.inputs_in = sorted(self.inputs_in, key=self._key), []
        for g in inputs:
            req = self.units[self.rec.core[g]].request(priority=self._key(g))
            self.grants.pop(g).succeed(req)

    def _key(self, g: int) -> tuple:
        """A ready tile's place among the threads of its core (its priority is asked once, when it became ready)."""
        return self.keys[g]

    # --- a: completions --------------------------------------------------------------------------------
    def _complete(self, g: int, now: float) -> None:
        j, t = self._locate(g)
        job = self.jobs[j]
        prog = self.workloads[job.workload].program
        tile = prog.tasks.blocks[t]
        self.rec.end[g] = now
        self.done += 1
        self.tiles_left[j] -= 1
        if self.tiles_left[j] == 0:
            self.rec.frame_end[job.workload][job.frame] = now
        if self.progress is not None and (self.done % self.report_every == 0 or self.done == self.total):
            self.progress(self.done, self.total)
        # weights: a slice (or a one-band node's whole weights) leaves when the tiles that use it are done
        key = prog.weight_key[t]
        groups = self.group_tiles_left[j]
        groups[key] -= 1
        if groups[key] == 0 and not self.resident[job.workload] and not prog.plan.holds(tile.node):
            load = self.book.job_slices[j].pop(key, None)
            if load is not None:
                self.weight_memory.get(self.book.load_info[load][3])
        self.band_tiles_left[j][tile.band] -= 1
        if self.band_tiles_left[j][tile.band]:
            return
        self._band_complete(j, tile.band, now)

    def _band_complete(self, j: int, b: int, now: float) -> None:
        job = self.jobs[j]
        prog = self.workloads[job.workload].program
        tasks = prog.tasks
        band = tasks.bands[b]
        rings = self.rings[job.workload]
        readers = self.readers_left[j]
        for ring, k in prog.band_releases[b]:
            readers[(ring, k)] -= 1
            pb = tasks.nodes[prog.rings[ring].node].bands[k]
            if readers[(ring, k)] == 0 and pb not in self.band_spilled[j]:
                rings[ring].free(k, now)
        for c in tasks.band_consumers[b]:
            self.deps_left[j][c] -= 1
            if self.deps_left[j][c] == 0 and self.arrived[j]:
                self._band_waits(j, c)
        node = band.node
        self.node_bands_left[j][node] -= 1
        if self.node_bands_left[j][node] == 0:
            self._node_complete(j, node, now)

    def _node_complete(self, j: int, node: int, now: float) -> None:
        job = self.jobs[j]
        w = job.workload
        prog = self.workloads[w].program
        if prog.plan.holds(node) and not self.resident[w] and node in self.book.job_held[j]:
            held = self.book.held[(w, node)]
            held[1] -= 1
            if held[1] == 0:
                self.weight_memory.get(self.book.load_info[held[0]][3])
                del self.book.held[(w, node)]
        s = prog.plan.stack_of[node]
        self.stack_bands_left[j][s] -= len(prog.tasks.nodes[node].bands)
        if self.stack_bands_left[j][s] == 0 and s in self.claimed[j]:
            self.stack_claims[w][s] -= 1
            if self.stack_claims[w][s] == 0 and self._frame_behind(w, s):
                self.stack_kept[w][s] = True
            elif self.stack_claims[w][s] == 0:
                nbytes = prog.plan.stacks[s].buffer_bytes
                if nbytes:
                    self.buffer_memory.get(nbytes)
                self.rec.stack_spans.append((w, s, self.stack_open_at[w][s], now))
        if self.layer_mode:
            self._advance_layer(j, node)

    def _frame_behind(self, w: int, s: int) -> bool:
        """Whether an arrived frame of workload ``w`` has yet to pass stack ``s`` (so the stack stays open:
        closed, it would have to open again behind a later stack that may never close without it), and can
        reach it: not a frame behind that must first open an earlier stack again (it waits to be the front
        frame, and would find every stack closed by then)."""
        return any(self.arrived[j] and job.workload == w and self.stack_bands_left[j][s] > 0
                   and s not in self.claimed[j] and not self._waits_to_reopen_before(j, w, s)
                   for j, job in enumerate(self.jobs))

    def _waits_to_reopen_before(self, j: int, w: int, s: int) -> bool:
        """Whether frame ``j`` is behind and must open again a stack before ``s``."""
        return not self._front(j) and reopens(self.claimed[j], self.stack_bands_left[j], self.stack_opened[w],
                                              self.stack_claims[w], self.stack_kept[w], s - 1)

    def _advance_layer(self, j: int, node: int) -> None:
        nodes = len(self.workloads[self.jobs[j].workload].program.tasks.nodes)
        nxt = (j, node + 1) if node + 1 < nodes else (j + 1, 0)
        self.layer_position = nxt
        if nxt[0] < len(self.jobs):
            self._recheck(nxt[0], nxt[1])

    # --- b: arrivals and weights ------------------------------------------------------------------------
    def _arrive(self, j: int) -> None:
        self.arrived[j] = True
        self.weight_queue.arrive(j)  # a frame's weights load once it has arrived
        tasks = self.workloads[self.jobs[j].workload].program.tasks
        for band in tasks.bands:
            if not band.deps:
                self._band_waits(j, band.id)

    def _band_waits(self, j: int, b: int) -> None:
        node = self.workloads[self.jobs[j].workload].program.tasks.bands[b].node
        self.waiting_bands[j].setdefault(node, []).append(b)

    def _recheck(self, j: int, node: int) -> None:
        """Bands of (job, node) that wait: look at them again in step e."""
        self.waiting_bands[j].setdefault(node, [])

    def _landed(self, load: int) -> None:
        self.book.landed[load] = True
        job, w, node, _ = self.book.load_info[load]
        if job is None:
            for j, jb in enumerate(self.jobs):
                if jb.workload == w:
                    self._recheck(j, node)
        else:
            for j, jb in enumerate(self.jobs):  # a held load serves every frame that claimed it
                if jb.workload == w and (self.book.job_held[j].get(node) == load or j == job):
                    self._recheck(j, node)

    # --- c: weight loads ----------------------------------------------------------------------------------
    def _start_weight_loads(self, now: float) -> None:
        queue = self.weight_queue
        queue.reconsider()  # every run set aside is looked at again
        while self.dma.count < self.dma.capacity:
            k = queue.head(self._waits_to_reopen)
            if k is None:
                return
            job, w, spec = queue.entries[k]
            node, nbytes = spec.node, spec.nbytes
            holds = self.workloads[w].program.plan.holds(node)
            if job is not None and holds and self.book.share_held(job, w, node):  # on chip for an earlier frame
                self._recheck(job, node)
                queue.take()
                continue
            room = self.weight_memory.capacity - self.weight_memory.level
            stored = min(nbytes, self.weight_memory.capacity)
            if stored > room:
                return
            queue.take()
            load, _ = self.book.start(job, w, spec, stored, holds)
            if stored:
                self.weight_memory.put(stored)
            req = self.dma.request()
            end = self.dram.reserve(now, nbytes)
            self.rec.dram_read["weights"] += nbytes
            self.rec.weight_loads.append((now, end, nbytes, w, node))
            self.env.process(self._weight_load(load, req, end))

    def _waits_to_reopen(self, j: int, w: int, s: int) -> bool:
        """Whether frame ``j``'s weight loads for stack ``s`` wait: it is behind and :func:`reopens` (layer mode
        runs frame after frame: never)."""
        return not self.layer_mode and not self._front(j) and reopens(
            self.claimed[j], self.stack_bands_left[j], self.stack_opened[w], self.stack_claims[w],
            self.stack_kept[w], s)

    def _front(self, j: int) -> bool:
        """Whether job ``j`` is the front frame: every frame before it is done."""
        return not any(any(left) for left in self.stack_bands_left[:j])

    def _weights_ready(self, j: int, tile) -> bool:
        w = self.jobs[j].workload
        prog = self.workloads[w].program
        if not prog.weight_loads[tile.node]:
            return True
        if self.resident[w]:
            load = self.book.resident_load.get((w, tile.node))
        elif prog.plan.holds(tile.node):
            load = self.book.job_held[j].get(tile.node)
        else:
            load = self.book.job_slices[j].get(prog.weight_key[tile.id])
        return load is not None and self.book.landed[load]

    # --- d: stacks ------------------------------------------------------------------------------------------
    def _open_stacks(self, now: float) -> None:
        while self.stack_waiting:
            w, s = self.stack_waiting[0]
            nbytes = self.workloads[w].program.plan.stacks[s].buffer_bytes
            if self.stack_claims[w][s] == 0:
                if self.buffer_memory.level + nbytes > self.buffer_memory.capacity:
                    return
                if nbytes:
                    self.buffer_memory.put(nbytes)
                self.rec.buffer_high_water = max(self.rec.buffer_high_water, self.buffer_memory.level)
                self.stack_open_at[w][s] = now
                self.stack_opened[w][s] = True
            self.stack_waiting.pop(0)
            for j in self.stack_joiners.pop((w, s)):
                self._claim(j, s)

    def _claim(self, j: int, s: int) -> None:
        w = self.jobs[j].workload
        self.stack_claims[w][s] += 1
        self.claimed[j].add(s)
        for n in self.workloads[w].program.plan.stacks[s].nodes:
            self._recheck(j, n)

    def _stack_open_for(self, j: int, node: int) -> bool:
        """Whether (job, node)'s stack holds its buffers for this frame; if not, ask for it."""
        w = self.jobs[j].workload
        s = self.workloads[w].program.plan.stack_of[node]
        if s in self.claimed[j]:
            return True
        # a frame enters its stacks in order: it asks for one when it holds every earlier one (a later stack held
        # early could keep out, for good, an earlier one it waits for)
        bands = self.workloads[w].program.stack_bands
        if any(bands[x] and x not in self.claimed[j] for x in range(s)):
            return False
        if self.stack_claims[w][s] > 0 or self.stack_kept[w][s]:  # open for other frames, or kept for this one
            self.stack_kept[w][s] = False
            self._claim(j, s)
            return True
        if not self._front(j) and reopens(self.claimed[j], self.stack_bands_left[j], self.stack_opened[w],
                                          self.stack_claims[w], self.stack_kept[w], s):
            return False  # only the front frame opens a stack again
        joiners = self.stack_joiners.get((w, s))
        if joiners is None:
            self.stack_waiting.append((w, s))
            self.stack_joiners[(w, s)] = [j]
        elif j not in joiners:
            joiners.append(j)
        self._open_stacks(self.env.now)  # a new request may open at once (first come, first served)
        return s in self.claimed[j]

    # --- e: readiness --------------------------------------------------------------------------------------
    def _make_ready(self, now: float) -> None:
        for j in range(len(self.jobs)):
            waiting = self.waiting_bands[j]
            if not waiting:
                continue
            job = self.jobs[j]
            wl = self.workloads[job.workload]
            tasks = wl.program.tasks
            for node in sorted(waiting):
                bands = waiting[node]
                if not bands:
                    del waiting[node]
                    continue
                if self.layer_mode and self.layer_position != (j, node):
                    continue
                if not self._stack_open_for(j, node):
                    continue
                left = []
                for b in sorted(set(bands)):
                    pending = False
                    for t in tasks.bands[b].tiles:
                        g = job.offset + t
                        if self.is_queued[g]:
                            continue
                        if not self._weights_ready(j, tasks.blocks[t]):
                            pending = True
                            continue
                        self._enqueue(j, g, t, now)
                    if pending:
                        left.append(b)
                if left:
                    waiting[node] = left
                else:
                    del waiting[node]

    def _enqueue(self, j: int, g: int, t: int, now: float) -> None:
        job = self.jobs[j]
        wl = self.workloads[job.workload]
        self.is_queued[g] = True
        self.ready_cycle[g] = now
        self.keys[g] = tile_key(wl.scheduler.priority(wl.program.tasks.blocks[t]), now, j, g)
        self._view_base = job.offset
        core = int(wl.scheduler.assign(wl.program.tasks.blocks[t], self))
        if not 0 <= core < self.n_cores:
            raise GspsimError(f"scheduler '{wl.scheduler.name}' assigned a block to core {core} "
                              f"(chip has {self.n_cores})")
        self.queues[core].append(g)
        self.queued_cycles_of[core] += self.cycles[g]

    # --- f: dispatch --------------------------------------------------------------------------------------
    def _dispatch(self, core: int, now: float) -> None:
        queue = self.queues[core]
        if not queue:
            self._stall(core, False, now)
            return
        blocked = False
        for g in sorted(queue, key=self._key):
            if self.slots[core].count >= self.slots[core].capacity:
                break
            if not self._reserve_outputs(g):
                blocked = True
                continue
            queue.remove(g)
            self._issue(g, core, now)
        free = self.slots[core].count < self.slots[core].capacity
        self._stall(core, blocked and free, now)

    def _stall(self, core: int, stalled: bool, now: float) -> None:
        since = self.stall_since[core]
        if stalled and since is None:
            self.stall_since[core] = now
        elif not stalled and since is not None:
            self.rec.stalls[core].append((since, now))
            self.stall_since[core] = None

    def _reserve_outputs(self, g: int, check_only: bool = False) -> bool:
        j, t = self._locate(g)
        job = self.jobs[j]
        prog = self.workloads[job.workload].program
        tile = prog.tasks.blocks[t]
        band_index = tile.band_index
        if tile.band in self.band_spilled[j]:
            return True
        rings = self.rings[job.workload]
        todo = [r for r, _ in prog.ring_writes[t] if (r, tile.band) not in self.band_reserved[j]]
        if not all(rings[r].can_reserve(job.frame, band_index) for r in todo):
            return False
        if not check_only:
            for r in todo:
                rings[r].reserve(job.frame, band_index)
                self.band_reserved[j].add((r, tile.band))
        return True

    def _issue(self, g: int, core: int, now: float) -> None:
        """Start tile g on ``core``: a thread slot, and every input transfer queued now."""
        j, t = self._locate(g)
        job = self.jobs[j]
        prog = self.workloads[job.workload].program
        tile = prog.tasks.blocks[t]
        self.slot_req[g] = self.slots[core].request()
        self.rec.core[g] = core
        self.rec.issue[g] = now
        self.queued_cycles_of[core] -= self.cycles[g]
        self.pending_cycles[core] += self.cycles[g]
        arrive = now
        dram = 0
        # inputs that live in DRAM: the band's loads (each input row once), then a window from staging
        for tensor in prog.dram_reads[t]:
            arrive = max(arrive, self._band_load(j, tile.node, tile.band_index, tensor, now, g))
        # the previous band's tile of this group ran here: the rows both windows cover are still here
        follows = prog.previous[t] >= 0 and self.rec.core[job.offset + prog.previous[t]] == core
        reuse = prog.staging_reuse[t] if follows else 0
        onchip = prog.staging_bytes[t] - reuse
        local = reuse
        spilled = self.band_spilled[j]
        blocks = prog.tasks.blocks
        for read in prog.buffer_reads[t]:
            for p, share, again in zip(read.producer_tiles.tolist(), read.shares.tolist(), read.reused.tolist()):
                # written on this core, or (the halo) read by this core for the group's previous band
                mine = share if self.rec.core[job.offset + p] == core else (again if follows else 0)
                local += mine
                if blocks[p].band in spilled:
                    dram += share - mine
                else:
                    onchip += share - mine
        if dram:
            self.rec.dram_read["spill"] += dram
            arrive = max(arrive, self.dram.reserve(now, dram))
        if prog.home_core[t] == core:
            local += tile.weight_bytes
        else:
            onchip += tile.weight_bytes
        arrive = max(arrive, self.onchip.reserve(now, onchip))
        self.rec.dram_bytes[g] += dram
        self.rec.onchip_bytes[g] += onchip
        self.rec.local_bytes[g] += local
        self.env.process(self._tile(g, core, arrive))

    def _band_load(self, j: int, node: int, band_index: int, tensor: str, now: float, g: int) -> float:
        """Arrival of the DRAM rows band ``band_index`` needs of ``tensor``, loading earlier bands' rows first."""
        job = self.jobs[j]
        prog = self.workloads[job.workload].program
        nodes = prog.tasks.nodes
        arrivals = self.loads.setdefault((j, node, tensor), [])
        bands = nodes[node].bands
        for nbytes, kind in load_band_rows(arrivals, band_index, lambda k: prog.band_loads[bands[k]][tensor],
                                           self.dram, now):
            self.rec.dram_read[kind] += nbytes
            self.rec.dram_bytes[g] += nbytes
        return arrivals[band_index]

    # --- g: outputs --------------------------------------------------------------------------------------
    def _send_outputs(self, g: int, now: float) -> None:
        j, t = self._locate(g)
        job = self.jobs[j]
        prog = self.workloads[job.workload].program
        tasks = prog.tasks
        tile = tasks.blocks[t]
        self.band_compute_left[j][tile.band] -= 1
        executor = self.executors[j]
        if executor is not None and self.band_compute_left[j][tile.band] == 0:
            executor.run_band(tasks.nodes[tile.node], tasks.bands[tile.band])
        dram, kind = prog.dram_write[t]
        if dram:
            self.rec.dram_write[kind] += dram
        onchip = 0
        spilled = tile.band in self.band_spilled[j]
        for r, nbytes in prog.ring_writes[t]:
            if spilled:
                dram += nbytes
                self.rec.dram_write["spill"] += nbytes
            else:
                self.rings[job.workload][r].commit(nbytes, now)
                onchip += nbytes
        end = max(self.dram.reserve(now, dram), self.onchip.reserve(now, onchip))
        self.rec.dram_bytes[g] += dram
        self.rec.onchip_bytes[g] += onchip
        self.sent.pop(g).succeed(end)

    # --- deadlocks ------------------------------------------------------------------------------------------
    def _break_deadlock(self) -> bool:
        """Spill the best queued tile blocked by line-buffer room, else close the stacks kept open for frames
        behind; False if there is neither."""
        best = None
        for core, queue in enumerate(self.queues):
            if self.slots[core].count >= self.slots[core].capacity:
                continue
            for g in queue:
                if best is None or self._key(g) < self._key(best[1]):
                    best = (core, g)
        if best is None:
            return self._close_kept_stacks()
        core, g = best
        j, t = self._locate(g)
        job = self.jobs[j]
        prog = self.workloads[job.workload].program
        tile = prog.tasks.blocks[t]
        rings = self.rings[job.workload]
        self.band_spilled[j].add(tile.band)
        for r, _ in prog.ring_writes[t]:
            if (r, tile.band) not in self.band_reserved[j]:
                rings[r].skip(job.frame, tile.band_index)
        self.rec.spills.append(Spill(self.env.now, job.workload, tile.node, tile.band_index, job.frame, DEADLOCK_SPILL))
        self.queues[core].remove(g)
        self._issue(g, core, self.env.now)
        return True

    def _close_kept_stacks(self) -> bool:
        """Close every stack kept open for a frame behind (no frame inside): its buffer memory goes to the
        stacks waiting for it.  A frame behind may wait first for a stack that only that memory lets open."""
        now = self.env.now
        closed = False
        for w, kept in enumerate(self.stack_kept):
            for s, is_kept in enumerate(kept):
                if not is_kept:
                    continue
                kept[s] = False
                nbytes = self.workloads[w].program.plan.stacks[s].buffer_bytes
                if nbytes:
                    self.buffer_memory.get(nbytes)
                self.rec.stack_spans.append((w, s, self.stack_open_at[w][s], now))
                closed = True
        if closed:
            self.dirty = True
        return closed

    def _stuck(self) -> str:
        left = [g for g in range(self.total) if self.rec.end[g] == 0 and self.rec.core[g] < 0][:5]
        names = []
        for g in left:
            j, t = self._locate(g)
            tasks = self.workloads[self.jobs[j].workload].program.tasks
            names.append(f"'{tasks.nodes[tasks.blocks[t].node].op.name}'")
        return (f"simulation stalled with {self.total - self.done} tile(s) left and nothing to spill "
                f"(waiting nodes: {', '.join(names)})")

    # --- end of run ---------------------------------------------------------------------------------------
    def _finish(self) -> None:
        self.rec.finish(self.env.now, self.stall_since, self.dram, self.onchip, self.rings, self.executors)
