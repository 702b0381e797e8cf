"""The SimPy discrete-event simulation of a graph streaming processor.

Every block (thread) of every frame of every model is one SimPy process that
waits for a thread slot on the core its scheduler chose, moves its inputs (from
on-chip ring buffers over the interconnect, or from DRAM), computes on the
core's compute unit, executes its real kernel, and writes its output (into a
ring buffer, stalling while the buffer is full, or to DRAM).  A block becomes
ready when its frame has arrived, the producer blocks it reads are done, and
its node's weights are on chip (a DMA prefetcher loads them ahead of use).
Layer mode adds a barrier: a node starts only when the previous node (in
program order, frame after frame) has finished.

Several models may share the chip (:class:`Workload` each, with its own frame
arrival times); they compete for cores, slots, DRAM and the interconnect.

A core's compute unit serves one thread at a time; threads whose data has
arrived wait for it in scheduler-priority order.  A producer block is issued only when it can reserve room for its output in
its ring buffer (credit-based flow control); while it cannot, the producer is
stalled (backpressure) and its core counts stalled time.  If the event queue
runs dry while blocks remain, the buffers have deadlocked (every block that
could free space waits for space itself); the engine then issues the
highest-priority blocked producer with its output spilled to DRAM, and goes on.
"""

from __future__ import annotations

import gc
import heapq
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
import simpy
from simpy.events import NORMAL, PENDING, URGENT, Event

from ..errors import GspsimError
from ..hardware.config import PRECISION_KEYS, HardwareConfig
from ..lowering.tasks import Block, TaskGraph
from ..scheduling.base import Scheduler
from .buffers import BufferPlan, plan_buffers, ring_budget, weight_budget
from .cost_model import CostModel
from .executor import KernelExecutor
from .memory import BandwidthChannel, RingBuffer
from .options import SimOptions


class EngineDeadlock(GspsimError):
    """The simulation stopped with blocks left and nothing that a spill could resolve."""


@dataclass(frozen=True)
class Workload:
    """One model on the chip: its lowered program, its scheduler, and its frames."""

    tasks: TaskGraph
    scheduler: Scheduler
    #: cycle at which each frame's inputs arrive (one entry per frame)
    release_cycles: tuple[float, ...]
    #: graph inputs of each frame (empty when the kernels do not run)
    inputs: tuple[Mapping[str, np.ndarray], ...] = ()

    @property
    def frames(self) -> int:
        return len(self.release_cycles)


@dataclass
class NodeStats:
    start: float = float("inf")
    end: float = 0.0
    cores: set[int] = field(default_factory=set)
    dram_bytes: int = 0
    energy_j: float = 0.0
    cycles_busy: float = 0.0


@dataclass
class RunStats:
    """Raw accumulators of one run, turned into a SimResult by gspsim.results."""

    latency_cycles: float = 0.0
    #: per workload, per frame: cycle at which its last block finished
    frame_end_cycles: list[list[float]] = field(default_factory=list)
    dram_read: dict[str, int] = field(default_factory=lambda: {"weights": 0, "activations": 0, "spill": 0})
    dram_write: dict[str, int] = field(default_factory=lambda: {"activations": 0, "spill": 0})
    interconnect_bytes: int = 0
    sram_bytes: int = 0
    energy: dict[str, float] = field(
        default_factory=lambda: {"compute": 0.0, "sram": 0.0, "dram": 0.0, "interconnect": 0.0, "static": 0.0}
    )
    busy: list[list[tuple[float, float]]] = field(default_factory=list)
    stalls: list[list[tuple[float, float]]] = field(default_factory=list)
    energy_events: list[tuple[float, float, float]] = field(default_factory=list)
    #: per workload, per node
    nodes: list[list[NodeStats]] = field(default_factory=list)
    buffer_high_water: dict[str, int] = field(default_factory=dict)
    buffer_capacity: dict[str, int] = field(default_factory=dict)
    deadlock_spills: int = 0
    #: per global block (jobs in order, blocks in order within a job)
    block_job: Optional[np.ndarray] = None
    block_start: Optional[np.ndarray] = None
    block_end: Optional[np.ndarray] = None
    block_core: Optional[np.ndarray] = None
    #: per workload, per frame: the graph outputs
    outputs: list[list[dict[str, np.ndarray]]] = field(default_factory=list)
    dram_transfers: list[tuple[float, float, int]] = field(default_factory=list)
    dram_busy_cycles: float = 0.0
    interconnect_busy_cycles: float = 0.0
    buffer_levels: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    ring_high_water: int = 0


@dataclass(frozen=True)
class _Job:
    workload: int
    frame: int
    offset: int  # first global block id
    release: float


class _StaticBlocks:
    """Everything about a workload's blocks that does not change during a run, computed once.

    The per-block loop of the engine reads these flat lists instead of walking
    the task graph's objects (attribute lookups, generator expressions and
    ``output_bytes`` calls per block were most of its time); cycles and
    compute energy are computed for all blocks at once with numpy, with the
    same float operations as :class:`CostModel`, so they are bit-identical.
    """

    def __init__(self, tasks: TaskGraph, plans: Mapping[str, BufferPlan], costs: Mapping[str, CostModel],
                 cost: CostModel, layer_mode: bool) -> None:
        blocks, nodes = tasks.blocks, tasks.nodes
        count = len(blocks)
        self.node: list[int] = [b.node for b in blocks]
        self.index: list[int] = [b.index for b in blocks]
        macs = np.fromiter((b.macs for b in blocks), dtype=np.int64, count=count)
        vops = np.fromiter((b.vector_ops for b in blocks), dtype=np.int64, count=count)
        precision = [nodes[n].op.precision for n in self.node]
        cycles = np.zeros(count, dtype=np.int64)
        e_compute = np.zeros(count, dtype=np.float64)
        for p in set(precision):
            c = costs[p]
            sel = np.fromiter((q == p for q in precision), dtype=bool, count=count)
            # CostModel.compute_cycles / compute_energy, vectorized (same IEEE operations)
            cycles[sel] = np.ceil(macs[sel] / c.macs_per_cycle).astype(np.int64) + np.ceil(
                vops[sel] / c.vector_lanes).astype(np.int64)
            e_compute[sel] = macs[sel] * c.mac_j + vops[sel] * c.vector_op_j
        self.cycles: list[int] = cycles.tolist()
        self.e_compute: list[float] = e_compute.tolist()
        self.is_view: list[bool] = [nodes[n].is_view for n in self.node]
        sram = np.fromiter(
            (0 if nodes[b.node].is_view else b.in_bytes + b.out_bytes + nodes[b.node].cost.weight_bytes for b in blocks),
            dtype=np.int64, count=count,
        )
        self.sram: list[int] = sram.tolist()
        self.e_sram: list[float] = (sram * cost.sram_j_per_byte).tolist()
        #: per block: (tensor, bytes read, its buffer plan or None, producer blocks, DRAM traffic kind)
        self.inputs: list[tuple[tuple[str, int, Optional[BufferPlan], tuple[int, ...], str], ...]] = []
        #: per block: (tensor, plan or None, ((producer block, bytes it wrote), ...)) for freeing ring space
        self.frees: list[tuple[tuple[str, Optional[BufferPlan], tuple[tuple[int, int], ...]], ...]] = []
        #: per block: (output tensor, plan, bytes this block writes)
        self.outputs: list[tuple[tuple[str, BufferPlan, int], ...]] = []
        node_outputs = [tuple(o for o in n.op.outputs if o) for n in nodes]
        # TaskGraph.output_bytes: a block's band of a single-output node, else the whole tensor
        whole = {name: tasks.tensors[name].nbytes for outs in node_outputs if len(outs) > 1 for name in outs}
        out_bytes = [b.out_bytes for b in blocks]
        for b in blocks:
            ins, frees = [], []
            for inp in b.inputs:
                tensor = inp.tensor
                plan = plans.get(tensor)
                kind = "spill" if plan is not None and plan.readers and not layer_mode else "activations"
                ins.append((tensor, inp.nbytes, plan, inp.producer_blocks, kind))
                size = whole.get(tensor)
                frees.append((tensor, plan, tuple(
                    (p, out_bytes[p] if size is None else size) for p in inp.producer_blocks)))
            self.inputs.append(tuple(ins))
            self.frees.append(tuple(frees))
            outs = node_outputs[b.node]
            self.outputs.append(tuple((name, plans[name], b.out_bytes if len(outs) == 1 else whole[name]) for name in outs))


class _BlockEvent(Event):
    """A SimPy event that carries its block and core to the engine callback that handles it.

    Scheduled at once (``priority`` given: a timeout, or the urgent start
    event, like a process's initialization) or pending until
    :meth:`trigger_now` (a compute-unit turn, like ``Event.succeed``).
    """

    def __init__(self, env: simpy.Environment, callback, g: int, core: int,
                 priority: Optional[int] = None, delay: float = 0) -> None:
        # Event.__init__ and Timeout.__init__, inlined (one of these per block step)
        self.env = env
        self.callbacks = [callback]
        self.g = g
        self.core = core
        if priority is None:
            self._value = PENDING
        else:
            self._ok = True
            self._value = None
            # Environment.schedule, inlined
            heapq.heappush(env._queue, (env._now + delay, priority, next(env._eid), self))

    def trigger_now(self) -> None:
        """Event.succeed(): processed at the current time, after the urgent events."""
        self._ok = True
        self._value = None
        self.env.schedule(self, NORMAL, 0)


class _Engine:
    """One simulation run (internal; use :func:`simulate_workloads`)."""

    def __init__(self, workloads: Sequence[Workload], hw: HardwareConfig, options: SimOptions) -> None:
        self.workloads, self.hw, self.options = list(workloads), hw, options
        self.env = simpy.Environment()
        # per-precision compute costs (each node runs at its own precision); memory costs are shared
        self.costs = {p: CostModel.for_run(hw, p) for p in PRECISION_KEYS}
        self.cost = self.costs[options.precision]
        self.layer_mode = options.mode == "layer"
        self.cores = hw.cores.count
        self.slots = hw.cores.thread_slots
        self.many = len(self.workloads) > 1
        self.plans: list[Mapping[str, BufferPlan]] = [
            plan_buffers(w.tasks, hw, options.mode, options.ring_depth) for w in self.workloads
        ]
        self.static = [_StaticBlocks(w.tasks, self.plans[i], self.costs, self.cost, self.layer_mode)
                       for i, w in enumerate(self.workloads)]
        self.block_cycles = [st.cycles for st in self.static]
        self.dram = BandwidthChannel(self.cost.dram_bytes_per_cycle, self.cost.dram_latency_cycles)
        self.interconnect = BandwidthChannel(self.cost.interconnect_bytes_per_cycle)
        self.buffers: dict[tuple[int, str], RingBuffer] = {}  # (workload, tensor)
        # jobs (model, frame) in arrival order; global block ids run job by job
        order = sorted(
            ((t, w, f) for w, wl in enumerate(self.workloads) for f, t in enumerate(wl.release_cycles)),
        )
        self.jobs: list[_Job] = []
        offset = 0
        for t, w, f in order:
            self.jobs.append(_Job(w, f, offset, float(t)))
            offset += len(self.workloads[w].tasks.blocks)
        self.total = offset
        self.job_of = np.empty(self.total, dtype=np.int64)
        for j, job in enumerate(self.jobs):
            self.job_of[job.offset: job.offset + len(self.workloads[job.workload].tasks.blocks)] = j
        self.job_of_list = self.job_of.tolist()
        self.job_index = {(job.workload, job.frame): j for j, job in enumerate(self.jobs)}
        self.deps_left: list[int] = []
        self.readers_left: list[int] = []
        for job in self.jobs:
            tasks = self.workloads[job.workload].tasks
            self.deps_left += [len(b.deps) for b in tasks.blocks]
            self.readers_left += [len(c) for c in tasks.consumers]
        self.arrived = bytearray(len(self.jobs))
        self.spilled = bytearray(self.total)
        self.finished = bytearray(self.total)
        # per global block, as lists while running (element access is cheaper than numpy's); arrays at the end
        self.placed_core: list[int] = [-1] * self.total
        self.t_start: list[float] = [0.0] * self.total
        self.t_end: list[float] = [0.0] * self.total
        #: bytes a running block moves (kept between its events)
        self.dram_in = [0] * self.total
        self.onchip_in = [0] * self.total
        self.dram_out = [0] * self.total
        self.onchip_out = [0] * self.total
        #: blocks spilled to break a deadlock (0: no producer check needed)
        self.spill_count = 0
        #: blocks issued (g, core flat) whose urgent start event is pending (see _start_batch)
        self.starting: Optional[list[int]] = None
        self.done_count = 0
        # weights: a model whose weights fit the weight pool (after the models before it) keeps them
        # resident, loaded once; any other model loads a node's weights per frame and frees them after use.
        # A node whose weights exceed the whole pool streams them from DRAM once per frame, just in time.
        wb = weight_budget(hw)
        self.resident: list[bool] = []
        room = wb
        for w in self.workloads:
            need = sum(n.cost.weight_bytes for n in w.tasks.nodes)
            self.resident.append(need <= room)
            room -= need if need <= room else 0
        # what resident models leave of the pool is all a per-frame node may use; larger ones stream
        self.weight_streamed = [
            [not resident and n.cost.weight_bytes > room for n in w.tasks.nodes]
            for w, resident in zip(self.workloads, self.resident)
        ]
        # per job, per node: weights on chip
        self.weights_ready = [
            bytearray(n.cost.weight_bytes == 0 for n in self.workloads[j.workload].tasks.nodes) for j in self.jobs
        ]
        self.weight_fetch_started = [bytearray(len(g)) for g in self.weights_ready]
        self.weight_pool = simpy.Container(self.env, capacity=max(1, wb), init=0)
        self.dma_inflight = simpy.Resource(self.env, capacity=hw.dma.engines)
        # ring buffers: allocated from one on-chip pool when the producer is about to start (a candidate
        # that finds no room spills for that frame), freed when the last node reading it is done
        self.ring_budget = ring_budget(hw)
        self.ring_level = 0
        self.ring_high_water = 0
        #: per job: tensor -> True (ring buffer) / False (through DRAM), decided when its producer starts
        self.placement: list[dict[str, bool]] = [{} for _ in self.jobs]
        self.readers_of: list[dict[str, int]] = []
        for w in self.workloads:
            count: dict[str, int] = {}
            for node in w.tasks.nodes:
                for t in set(node.op.activation_inputs):
                    count[t] = count.get(t, 0) + 1
            self.readers_of.append(count)
        self.readers_pending = [dict(self.readers_of[j.workload]) for j in self.jobs]
        self.node_blocks_left = [[len(n.blocks) for n in self.workloads[j.workload].tasks.nodes] for j in self.jobs]
        self.job_blocks_left = [len(self.workloads[j.workload].tasks.blocks) for j in self.jobs]
        # layer-mode barrier: node n of job j opens when the previous (job, node) in sequence is done
        self.gate_open = [bytearray(len(self.workloads[j.workload].tasks.nodes)) for j in self.jobs]
        if not self.layer_mode:
            self.gate_open = [bytearray(b"\x01" * len(g)) for g in self.gate_open]
        elif self.jobs:
            self.gate_open[0][0] = 1
        # per-core dispatch state
        self.queues: list[list[tuple]] = [[] for _ in range(self.cores)]
        self.queued_cycles_per_core = [0.0] * self.cores
        self.running_per_core = [0] * self.cores
        self.alu_free = [0.0] * self.cores
        #: compute cycles of dispatched blocks that have not reached the compute unit yet
        self.pending_cycles = [0.0] * self.cores
        #: each core's compute unit: busy flag and the threads waiting for it, best priority first
        self.compute_busy = [False] * self.cores
        self.compute_waiting: list[list[tuple]] = [[] for _ in range(self.cores)]
        self.seq = 0
        #: per job, per node: the next output band to be written (ring buffers fill in order)
        self.next_band = [[0] * len(self.workloads[j.workload].tasks.nodes) for j in self.jobs]
        #: per core: cycle since which ready blocks wait only for ring-buffer room (None: not stalled)
        self.stall_since: list[Optional[float]] = [None] * self.cores
        self.stats = RunStats(
            busy=[[] for _ in range(self.cores)],
            stalls=[[] for _ in range(self.cores)],
            nodes=[[NodeStats() for _ in w.tasks.nodes] for w in self.workloads],
            frame_end_cycles=[[0.0] * w.frames for w in self.workloads],
        )
        self.executors: list[Optional[KernelExecutor]] = [
            KernelExecutor(self.workloads[j.workload].tasks, self.workloads[j.workload].inputs[j.frame])
            if options.execute else None
            for j in self.jobs
        ]
        for w, wl in enumerate(self.workloads):
            wl.scheduler.prepare(wl.tasks, hw, self.block_cycles[w])

    # --- EngineView -------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.env.now

    def queued(self, core: int) -> int:
        return len(self.queues[core])

    def running(self, core: int) -> int:
        return self.running_per_core[core]

    def free_at(self, core: int) -> float:
        # called cores x blocks times by load-aware schedulers: no property, no builtin call
        alu, now = self.alu_free[core], self.env._now
        return (alu if alu >= now else now) + self.pending_cycles[core]

    def queued_cycles(self, core: int) -> float:
        return self.queued_cycles_per_core[core]

    # --- readiness and dispatch ---------------------------------------------------------------
    def _locate(self, g: int) -> tuple[int, _Job, Block]:
        j = self.job_of_list[g]
        job = self.jobs[j]
        return j, job, self.workloads[job.workload].tasks.blocks[g - job.offset]

    def _maybe_ready(self, g: int) -> None:
        if self.deps_left[g]:
            return
        j = self.job_of_list[g]
        if not self.arrived[j]:
            return
        job = self.jobs[j]
        w = job.workload
        b = g - job.offset
        n = self.static[w].node[b]
        if not self.gate_open[j][n]:
            return
        if not self.weights_ready[j][n]:
            if self.weight_streamed[w][n] and not self.weight_fetch_started[j][n]:
                # weights too large to keep on chip: streamed from DRAM once for this frame, just in time
                self.weight_fetch_started[j][n] = 1
                nbytes = self.workloads[w].tasks.nodes[n].cost.weight_bytes
                self._process(self._load_weights(j, w, n, nbytes))
            return
        self.deps_left[g] = -1  # marks "queued" so it is never queued twice
        self._place_outputs(j, w, n)
        workload = self.workloads[w]
        block = workload.tasks.blocks[b]
        scheduler = workload.scheduler
        core = int(scheduler.assign(block, self))
        if not 0 <= core < self.cores:
            raise GspsimError(f"scheduler '{scheduler.name}' assigned a block to core {core} (chip has {self.cores})")
        self.seq += 1
        heapq.heappush(self.queues[core], (scheduler.priority(block), j, self.seq, g))
        self.queued_cycles_per_core[core] += self.block_cycles[w][b]
        self._dispatch_all()

    def _dispatch(self, core: int) -> bool:
        """Issue queued blocks, best first, while slots are free and their outputs have room."""
        queue = self.queues[core]
        running = self.running_per_core
        slots = self.slots
        blocked = []
        issued = False
        while queue and running[core] < slots:
            item = heapq.heappop(queue)
            g = item[-1]
            if not self._reserve_outputs(g):
                blocked.append(item)
                continue
            self._issue(core, g)
            issued = True
        for item in blocked:
            heapq.heappush(queue, item)
        stalled = bool(blocked) and running[core] < slots
        since = self.stall_since[core]
        if stalled and since is None:
            self.stall_since[core] = self.env._now
        elif not stalled and since is not None:
            self.stats.stalls[core].append((since, self.env._now))
            self.stall_since[core] = None
        return issued

    def _issue(self, core: int, g: int) -> None:
        """Start block g on ``core``: a thread slot now, its inputs when SimPy processes the start event.

        Each block is a chain of SimPy events with callbacks rather than a
        process: the start event is scheduled exactly like a process's
        initialization (urgent, now) and every wait is a timeout or a
        compute-unit turn, so events are processed in the same order as with
        one generator process per block, without the generator, the process
        object and its termination event.
        """
        job = self.jobs[self.job_of_list[g]]
        cycles = self.block_cycles[job.workload][g - job.offset]
        self.queued_cycles_per_core[core] -= cycles
        self.pending_cycles[core] += cycles
        self.running_per_core[core] += 1
        self.placed_core[g] = core
        batch = self.starting
        if batch is None:
            batch = self.starting = []
            _BlockEvent(self.env, self._start_batch, -1, -1, URGENT, 0).batch = batch
        batch.append(g)
        batch.append(core)

    def _process(self, generator) -> None:
        """Start a SimPy process; blocks issued after it start after its initialization, as before."""
        self.starting = None
        self.env.process(generator)

    def _start_batch(self, event: "_BlockEvent") -> None:
        """The start event of the blocks issued at this cycle since the last urgent event: start them in order.

        One urgent event per batch instead of one per block (as one process
        initialization per block was): blocks issued while the batch runs join
        it, which is their place in SimPy's order as long as no other urgent
        event (a process start) came in between; :meth:`_process` closes the
        batch when one does.
        """
        batch = event.batch
        i = 0
        while i < len(batch):
            self._start_block(batch[i], batch[i + 1])
            i += 2
        if self.starting is batch:
            self.starting = None

    def _acquire_compute(self, core: int, g: int) -> Optional[simpy.events.Event]:
        """The core's compute unit for block g: None if free now, else an event fired when it is g's turn."""
        if not self.compute_busy[core]:
            self.compute_busy[core] = True
            return None
        j, job, block = self._locate(g)
        turn = _BlockEvent(self.env, self._compute_turn, g, core)
        self.seq += 1
        key = self.workloads[job.workload].scheduler.priority(block)
        heapq.heappush(self.compute_waiting[core], (key, j, self.seq, turn))
        return turn

    def _release_compute(self, core: int) -> None:
        waiting = self.compute_waiting[core]
        if waiting:
            heapq.heappop(waiting)[-1].trigger_now()  # handed straight to the best waiting thread
        else:
            self.compute_busy[core] = False

    def _reserve_outputs(self, g: int) -> bool:
        """Reserve ring-buffer room for a block's output; bands are written in order, like a ring's write pointer."""
        j = self.job_of_list[g]
        job = self.jobs[j]
        w = job.workload
        st = self.static[w]
        b = g - job.offset
        if st.is_view[b] or self.spilled[g]:
            return True
        placement = self.placement[j]
        outputs = st.outputs[b]
        if len(outputs) == 1:  # the common case, without building lists
            name, plan, nbytes = outputs[0]
            if not placement.get(name, False):
                return True
            buf = self._buffer(j, name, plan)
            n = st.node[b]
            if st.index[b] != self.next_band[j][n] or not buf.can_reserve(nbytes):
                return False
            buf.reserved += nbytes
            self.next_band[j][n] += 1
            return True
        outs = [(self._buffer(j, name, plan), nbytes) for name, plan, nbytes in outputs if placement.get(name, False)]
        if not outs:
            return True
        n = st.node[b]
        if st.index[b] != self.next_band[j][n]:
            return False
        if not all(buf.can_reserve(nbytes) for buf, nbytes in outs):
            return False
        for buf, nbytes in outs:
            buf.reserve(nbytes)
        self.next_band[j][n] += 1
        return True

    def _dispatch_all(self) -> None:
        """Dispatch on every core with queued work and a free slot, until nothing more can issue."""
        queues, running, slots = self.queues, self.running_per_core, self.slots
        cores = range(self.cores)
        while any(queues):  # a pass over empty queues issues nothing: stop as the full loop would
            progress = False
            for core in cores:
                if queues[core] and running[core] < slots:
                    progress |= self._dispatch(core)
            if not progress:
                return

    def _break_deadlock(self) -> bool:
        """Issue the best blocked block with its output spilled to DRAM; False if nothing is queued."""
        best = None
        for core, queue in enumerate(self.queues):
            if queue and self.running_per_core[core] < self.slots and (best is None or queue[0] < best[1]):
                best = (core, queue[0])
        if best is None:
            return False
        core, item = best
        self.queues[core].remove(item)
        heapq.heapify(self.queues[core])
        j, _, block = self._locate(item[-1])
        if block.index == self.next_band[j][block.node]:
            self.next_band[j][block.node] += 1
        self.spilled[item[-1]] = 1
        self.spill_count += 1
        self.stats.deadlock_spills += 1
        self._issue(core, item[-1])
        return True

    def _ready_job_node(self, j: int, n: int) -> None:
        job = self.jobs[j]
        for b in self.workloads[job.workload].tasks.nodes[n].blocks:
            self._maybe_ready(job.offset + b)

    def _arrive(self, j: int):
        """A frame's inputs arrive: its blocks may start."""
        delay = self.jobs[j].release - self.env.now
        if delay > 0:
            yield self.env.timeout(delay)
        self.arrived[j] = 1
        job = self.jobs[j]
        tasks = self.workloads[job.workload].tasks
        for b in tasks.blocks:
            if not b.deps:
                self._maybe_ready(job.offset + b.id)

    # --- weights --------------------------------------------------------------------------------
    def _prefetch_weights(self):
        """DMA: load weights in program order as weight memory frees up.

        Resident models' weights first (once), their programs interleaved by
        progress (node index / node count); then, frame by frame in arrival
        order, the weights of the models that do not fit.
        """
        resident = sorted(
            (node.index / len(wl.tasks.nodes), w, node.index)
            for w, wl in enumerate(self.workloads) if self.resident[w] for node in wl.tasks.nodes
        )
        order = [(None, w, n) for _, w, n in resident] + [
            (j, job.workload, n)
            for j, job in enumerate(self.jobs) if not self.resident[job.workload]
            for n in range(len(self.workloads[job.workload].tasks.nodes))
        ]
        for j, w, n in order:
            nbytes = self.workloads[w].tasks.nodes[n].cost.weight_bytes
            if nbytes == 0 or self.weight_streamed[w][n]:
                continue
            yield self.weight_pool.put(nbytes)
            self._process(self._load_weights(j, w, n, nbytes))

    def _load_weights(self, job: Optional[int], w: int, n: int, nbytes: int):
        """Load one node's weights: for every frame of a resident model (job None), or for one job."""
        with self.dma_inflight.request() as req:
            yield req
            start = self.env.now
            arrive = self.dram.reserve(self.env.now, nbytes)
            yield self.env.timeout(arrive - self.env.now)
        stats = self.stats
        stats.dram_read["weights"] += nbytes
        e_dram, e_sram = nbytes * self.cost.dram_j_per_byte, nbytes * self.cost.sram_j_per_byte
        stats.energy["dram"] += e_dram
        stats.energy["sram"] += e_sram
        stats.sram_bytes += nbytes
        stats.nodes[w][n].dram_bytes += nbytes
        stats.nodes[w][n].energy_j += e_dram + e_sram
        stats.energy_events.append((start, self.env.now, e_dram + e_sram))
        jobs = [job] if job is not None else [k for k, jb in enumerate(self.jobs) if jb.workload == w]
        for k in jobs:
            self.weights_ready[k][n] = 1
            self._ready_job_node(k, n)

    def _place_outputs(self, j: int, w: int, n: int) -> None:
        """When a node is about to start in a frame: a ring buffer for each output, if there is room."""
        placement = self.placement[j]
        plans = self.plans[w]
        for name in self.workloads[w].tasks.nodes[n].op.outputs:
            if not name or name in placement:
                continue
            plan = plans[name]
            room = plan.on_chip and self.ring_level + plan.capacity <= self.ring_budget
            placement[name] = room
            if room:
                self.ring_level += plan.capacity
                self.ring_high_water = max(self.ring_high_water, self.ring_level)

    def _on_chip(self, j: int, tensor: str) -> bool:
        return self.placement[j].get(tensor, False)

    # --- one block: a chain of events (start, inputs in, compute turn, compute done, outputs out) ----
    def _buffer(self, j: int, tensor: str, plan: BufferPlan) -> RingBuffer:
        """The ring buffer of one frame's tensor."""
        key = (j, tensor)
        buf = self.buffers.get(key)
        if buf is None:
            buf = self.buffers[key] = RingBuffer(tensor, plan.capacity)
        return buf

    def _start_block(self, g: int, core: int) -> None:
        """1. inputs: from ring buffers over the interconnect, or from DRAM."""
        now = self.env._now
        self.t_start[g] = now
        j = self.job_of_list[g]
        job = self.jobs[j]
        st = self.static[job.workload]
        b = g - job.offset
        dram_in = onchip_in = 0
        if not st.is_view[b]:
            placement = self.placement[j]
            spilled, base, check_spill = self.spilled, job.offset, self.spill_count > 0
            dram_read = self.stats.dram_read
            for tensor, nbytes, plan, producers, kind in st.inputs[b]:
                if plan is not None and placement.get(tensor, False) and not (
                        check_spill and any(spilled[base + p] for p in producers)):
                    onchip_in += nbytes
                    continue
                dram_in += nbytes
                dram_read[kind] += nbytes
        self.dram_in[g] = dram_in
        self.onchip_in[g] = onchip_in
        arrive = max(self.dram.reserve(now, dram_in) if dram_in > 0 else now,
                     self.interconnect.reserve(now, onchip_in) if onchip_in > 0 else now)
        if arrive > now:
            _BlockEvent(self.env, self._inputs_arrived, g, core, NORMAL, arrive - now)
        else:
            self._compute(g, core)

    def _inputs_arrived(self, event: "_BlockEvent") -> None:
        self._compute(event.g, event.core)

    def _compute(self, g: int, core: int) -> None:
        """2. compute on this core's compute unit, which serves its waiting threads by scheduler priority."""
        job = self.jobs[self.job_of_list[g]]
        cycles = self.block_cycles[job.workload][g - job.offset]
        if cycles:
            if self.compute_busy[core]:
                self._acquire_compute(core, g)  # _compute_turn runs when it is g's turn
                return
            self.compute_busy[core] = True
            self._run_compute(g, core, cycles)
        else:
            self.pending_cycles[core] -= cycles
            self._after_compute(g, core)

    def _compute_turn(self, event: "_BlockEvent") -> None:
        g = event.g
        job = self.jobs[self.job_of_list[g]]
        self._run_compute(g, event.core, self.block_cycles[job.workload][g - job.offset])

    def _run_compute(self, g: int, core: int, cycles: int) -> None:
        self.pending_cycles[core] -= cycles
        start = self.env._now
        self.alu_free[core] = start + cycles
        self.stats.busy[core].append((start, start + cycles))
        _BlockEvent(self.env, self._compute_done, g, core, NORMAL, cycles)

    def _compute_done(self, event: "_BlockEvent") -> None:
        self._release_compute(event.core)
        self._after_compute(event.g, event.core)

    def _after_compute(self, g: int, core: int) -> None:
        """The kernel runs on the real tensors; 3. outputs: into ring buffers (backpressure) and/or DRAM."""
        j = self.job_of_list[g]
        job = self.jobs[j]
        w = job.workload
        st = self.static[w]
        b = g - job.offset
        executor = self.executors[j]
        if executor is not None:
            tasks = self.workloads[w].tasks
            executor.run_block(tasks.nodes[st.node[b]], tasks.blocks[b])
        now = self.env._now
        dram_out = onchip_out = 0
        is_view = st.is_view[b]
        placement = self.placement[j]
        dram_write = self.stats.dram_write
        for name, plan, nbytes in st.outputs[b]:
            if plan.graph_output:
                dram_out += nbytes
                dram_write["activations"] += nbytes
            if is_view:
                continue  # a view relabels its input's storage: nothing moves
            on_chip = placement.get(name, False)
            if on_chip and not self.spilled[g]:
                self._buffer(j, name, plan).commit(nbytes, now)
                onchip_out += nbytes
            elif plan.readers and not (plan.graph_output and not on_chip):
                dram_out += nbytes
                dram_write["activations" if self.layer_mode else "spill"] += nbytes
        arrive = max(self.dram.reserve(now, dram_out) if dram_out > 0 else now,
                     self.interconnect.reserve(now, onchip_out) if onchip_out > 0 else now)
        if arrive > now:
            self.dram_out[g] = dram_out
            self.onchip_out[g] = onchip_out
            _BlockEvent(self.env, self._outputs_written, g, core, NORMAL, arrive - now)
        else:
            self._complete(g, core, dram_out, onchip_out)

    def _outputs_written(self, event: "_BlockEvent") -> None:
        g = event.g
        self._complete(g, event.core, self.dram_out[g], self.onchip_out[g])

    def _complete(self, g: int, core: int, dram_out: int, onchip_out: int) -> None:
        """4. energy and traffic; 5. release the slot, wake consumers, free the producers' buffer space."""
        now = self.env._now
        j = self.job_of_list[g]
        job = self.jobs[j]
        w = job.workload
        st = self.static[w]
        b = g - job.offset
        stats, cost = self.stats, self.cost
        dram_bytes = self.dram_in[g] + dram_out
        ic_bytes = self.onchip_in[g] + onchip_out
        e_compute = st.e_compute[b]
        e_dram = dram_bytes * cost.dram_j_per_byte
        e_ic = ic_bytes * cost.interconnect_j_per_byte
        e_sram = st.e_sram[b]
        energy = stats.energy
        energy["compute"] += e_compute
        energy["dram"] += e_dram
        energy["interconnect"] += e_ic
        energy["sram"] += e_sram
        stats.interconnect_bytes += ic_bytes
        stats.sram_bytes += st.sram[b]
        joules = e_compute + e_dram + e_ic + e_sram
        stats.energy_events.append((self.t_start[g], now, joules))
        nstats = stats.nodes[w][st.node[b]]
        nstats.energy_j += joules
        nstats.dram_bytes += dram_bytes
        self.t_end[g] = now
        self.running_per_core[core] -= 1
        self._finish(g, j, job, b)
        self._dispatch_all()

    def _finish(self, g: int, j: int, job: _Job, b: int) -> None:
        w = job.workload
        st = self.static[w]
        tasks = self.workloads[w].tasks
        base = job.offset
        readers_left, spilled, placement = self.readers_left, self.spilled, self.placement[j]
        for tensor, plan, producers in st.frees[b]:
            for p, nbytes in producers:
                gp = base + p
                readers_left[gp] -= 1
                if readers_left[gp] == 0 and plan is not None and placement.get(tensor, False) and not spilled[gp]:
                    self._buffer(j, tensor, plan).free(nbytes, self.env._now)
        deps_left = self.deps_left
        for c in tasks.consumers[b]:
            gc = base + c
            deps_left[gc] -= 1
            if deps_left[gc] == 0:
                self._maybe_ready(gc)
        self.done_count += 1
        self.finished[g] = 1
        self.job_blocks_left[j] -= 1
        if self.job_blocks_left[j] == 0:
            self.stats.frame_end_cycles[w][job.frame] = self.env._now
        n = st.node[b]
        self.node_blocks_left[j][n] -= 1
        if self.node_blocks_left[j][n] == 0:
            plans = self.plans[w]
            for t in set(tasks.nodes[n].op.activation_inputs):
                self.readers_pending[j][t] -= 1
                if self.readers_pending[j][t] == 0 and self._on_chip(j, t):
                    self.ring_level -= plans[t].capacity
            weight = tasks.nodes[n].cost.weight_bytes
            if weight and not self.resident[w] and not self.weight_streamed[w][n]:
                self.weight_pool.get(weight)
            if self.layer_mode:
                self._open_next(j, n)

    def _open_next(self, j: int, n: int) -> None:
        """Layer mode: the next node of this frame, or the first node of the next frame, may start."""
        if n + 1 < len(self.gate_open[j]):
            nj, nn = j, n + 1
        elif j + 1 < len(self.jobs):
            nj, nn = j + 1, 0
        else:
            return
        self.gate_open[nj][nn] = 1
        self._ready_job_node(nj, nn)

    # --- the run ------------------------------------------------------------------------------
    def run(self) -> RunStats:
        self._process(self._prefetch_weights())
        for j in range(len(self.jobs)):
            self._process(self._arrive(j))
        while True:
            self._run_events()
            if self.done_count == self.total:
                break
            if not self._break_deadlock():
                left = [g for g in range(self.total) if not self.finished[g]][:5]
                names = ", ".join(
                    f"'{self.workloads[self._locate(g)[1].workload].tasks.nodes[self._locate(g)[2].node].op.name}'"
                    for g in left
                )
                raise EngineDeadlock(
                    f"simulation stalled with {self.total - self.done_count} block(s) left and nothing to spill "
                    f"(waiting nodes: {names})"
                )
        return self._collect()

    def _run_events(self) -> None:
        """``Environment.run()`` without ``until``: process SimPy's events in order until none is left.

        The loop of ``Environment.step`` inlined (a method call and a try block
        less per event, the engine's largest fixed cost per block); a failed
        event (a weight-loading process that raised) is re-raised as SimPy does.
        """
        env = self.env
        queue = env._queue
        pop = heapq.heappop
        while queue:
            env._now, _, _, event = pop(queue)
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc

    def _collect(self) -> RunStats:
        stats = self.stats
        stats.latency_cycles = float(self.env.now)
        for core, since in enumerate(self.stall_since):
            if since is not None:
                stats.stalls[core].append((since, self.env.now))
        stats.energy["static"] = self.cost.static_w * stats.latency_cycles / self.cost.clock_hz
        for (j, name), buf in self.buffers.items():
            job = self.jobs[j]
            label = name if not self.many else f"m{job.workload}/{name}"
            stats.buffer_high_water[label] = max(stats.buffer_high_water.get(label, 0), buf.high_water)
            stats.buffer_capacity[label] = buf.capacity
            frames = self.workloads[job.workload].frames
            stats.buffer_levels[label if frames == 1 else f"{label}[frame {job.frame}]"] = buf.levels
        stats.ring_high_water = self.ring_high_water
        stats.dram_transfers = self.dram.transfers
        stats.dram_busy_cycles = self.dram.busy_cycles
        stats.interconnect_busy_cycles = self.interconnect.busy_cycles
        t_start = np.asarray(self.t_start, dtype=np.float64)
        t_end = np.asarray(self.t_end, dtype=np.float64)
        stats.block_job, stats.block_start, stats.block_end = self.job_of, t_start, t_end
        stats.block_core = np.asarray(self.placed_core, dtype=np.int64)
        self._node_stats(t_start, t_end)
        stats.outputs = [[{} for _ in range(w.frames)] for w in self.workloads]
        for j, executor in enumerate(self.executors):
            if executor is not None:
                job = self.jobs[j]
                stats.outputs[job.workload][job.frame] = executor.outputs()
        return stats


    def _node_stats(self, t_start: np.ndarray, t_end: np.ndarray) -> None:
        """Per node: first start, last end, cores used and busy cycles, reduced over its blocks at once."""
        for job in self.jobs:
            w = job.workload
            tasks = self.workloads[w].tasks
            count = len(tasks.blocks)
            if not count:
                continue
            firsts = np.fromiter((n.blocks[0] for n in tasks.nodes), dtype=np.int64, count=len(tasks.nodes))
            span = slice(job.offset, job.offset + count)
            starts = np.minimum.reduceat(t_start[span], firsts).tolist()
            ends = np.maximum.reduceat(t_end[span], firsts).tolist()
            cycles = self.block_cycles[w]
            for node, first_start, last_end, ns in zip(tasks.nodes, starts, ends, self.stats.nodes[w]):
                lo, hi = job.offset + node.blocks[0], job.offset + node.blocks[-1] + 1
                ns.start = min(ns.start, first_start)
                ns.end = max(ns.end, last_end)
                ns.cores.update(self.placed_core[lo:hi])
                # integer cycles: the float sum is exact, so its order does not matter
                ns.cycles_busy += float(sum(cycles[node.blocks[0]:node.blocks[-1] + 1]))


@dataclass(frozen=True)
class EngineRun:
    """What a run hands to the results stage."""

    stats: RunStats
    #: per workload: each block's compute cycles
    block_cycles: tuple[tuple[int, ...], ...]
    #: per global block job: (workload, frame, release cycle, first block id)
    jobs: tuple[tuple[int, int, float, int], ...]


def simulate_workloads(workloads: Sequence[Workload], hw: HardwareConfig, options: SimOptions) -> EngineRun:
    """Run the simulation of one or more models sharing the chip."""
    # the run allocates many small objects and frees them by reference counting: the cyclic garbage
    # collector's passes over the (large) heap of the loaded model would only cost time
    collect = gc.isenabled()
    gc.disable()
    try:
        engine = _Engine(workloads, hw, options)
        stats = engine.run()
    finally:
        if collect:
            gc.enable()
    return EngineRun(
        stats=stats,
        block_cycles=tuple(tuple(c) for c in engine.block_cycles),
        jobs=tuple((j.workload, j.frame, j.release, j.offset) for j in engine.jobs),
    )
