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

import heapq
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
import simpy

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
        self.block_cycles = [
            [self.costs[w.tasks.nodes[b.node].op.precision].compute_cycles(b.macs, b.vector_ops) for b in w.tasks.blocks]
            for w in self.workloads
        ]
        self.plans: list[Mapping[str, BufferPlan]] = [
            plan_buffers(w.tasks, hw, options.mode, options.ring_depth) for w in self.workloads
        ]
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
        self.placed_core = np.full(self.total, -1, dtype=np.int64)
        self.t_start = np.zeros(self.total)
        self.t_end = np.zeros(self.total)
        self.done_count = 0
        # weights: a model whose weights fit the weight pool (after the models before it) keeps them
        # resident, loaded once; any other model loads a node's weights per frame and frees them after use.
        # A node whose weights exceed the whole pool streams them from DRAM once per frame, just in time.
        wb = weight_budget(hw)
        self.weight_streamed = [[n.cost.weight_bytes > wb for n in w.tasks.nodes] for w in self.workloads]
        self.resident: list[bool] = []
        room = wb
        for w, streamed in zip(self.workloads, self.weight_streamed):
            need = sum(n.cost.weight_bytes for n in w.tasks.nodes if not streamed[n.index])
            self.resident.append(need <= room)
            room -= need if need <= room else 0
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
        return max(self.alu_free[core], self.env.now) + self.pending_cycles[core]

    def queued_cycles(self, core: int) -> float:
        return self.queued_cycles_per_core[core]

    # --- readiness and dispatch ---------------------------------------------------------------
    def _locate(self, g: int) -> tuple[int, _Job, Block]:
        j = self.job_of_list[g]
        job = self.jobs[j]
        return j, job, self.workloads[job.workload].tasks.blocks[g - job.offset]

    def _maybe_ready(self, g: int) -> None:
        j, job, block = self._locate(g)
        w = job.workload
        if self.deps_left[g] or not self.arrived[j] or not self.gate_open[j][block.node]:
            return
        if not self.weights_ready[j][block.node]:
            if self.weight_streamed[w][block.node] and not self.weight_fetch_started[j][block.node]:
                # weights too large to keep on chip: streamed from DRAM once for this frame, just in time
                self.weight_fetch_started[j][block.node] = 1
                nbytes = self.workloads[w].tasks.nodes[block.node].cost.weight_bytes
                self.env.process(self._load_weights(j, w, block.node, nbytes))
            return
        self.deps_left[g] = -1  # marks "queued" so it is never queued twice
        self._place_outputs(j, w, block.node)
        scheduler = self.workloads[w].scheduler
        core = int(scheduler.assign(block, self))
        if not 0 <= core < self.cores:
            raise GspsimError(f"scheduler '{scheduler.name}' assigned a block to core {core} (chip has {self.cores})")
        self.seq += 1
        heapq.heappush(self.queues[core], (scheduler.priority(block), j, self.seq, g))
        self.queued_cycles_per_core[core] += self.block_cycles[w][block.id]
        self._dispatch_all()

    def _dispatch(self, core: int) -> bool:
        """Issue queued blocks, best first, while slots are free and their outputs have room."""
        queue = self.queues[core]
        blocked = []
        issued = False
        while queue and self.running_per_core[core] < self.slots:
            item = heapq.heappop(queue)
            g = item[-1]
            if not self._reserve_outputs(g):
                blocked.append(item)
                continue
            self._issue(core, g)
            issued = True
        for item in blocked:
            heapq.heappush(queue, item)
        stalled = bool(blocked) and self.running_per_core[core] < self.slots
        since = self.stall_since[core]
        if stalled and since is None:
            self.stall_since[core] = self.env.now
        elif not stalled and since is not None:
            self.stats.stalls[core].append((since, self.env.now))
            self.stall_since[core] = None
        return issued

    def _issue(self, core: int, g: int) -> None:
        _, job, block = self._locate(g)
        cycles = self.block_cycles[job.workload][block.id]
        self.queued_cycles_per_core[core] -= cycles
        self.pending_cycles[core] += cycles
        self.running_per_core[core] += 1
        self.placed_core[g] = core
        self.env.process(self._run_block(g, core))

    def _acquire_compute(self, core: int, g: int) -> Optional[simpy.events.Event]:
        """The core's compute unit for block g: None if free now, else an event fired when it is g's turn."""
        if not self.compute_busy[core]:
            self.compute_busy[core] = True
            return None
        j, job, block = self._locate(g)
        turn = self.env.event()
        self.seq += 1
        key = self.workloads[job.workload].scheduler.priority(block)
        heapq.heappush(self.compute_waiting[core], (key, j, self.seq, turn))
        return turn

    def _release_compute(self, core: int) -> None:
        waiting = self.compute_waiting[core]
        if waiting:
            heapq.heappop(waiting)[-1].succeed()  # handed straight to the best waiting thread
        else:
            self.compute_busy[core] = False

    def _on_chip_outputs(self, g: int) -> list[tuple[RingBuffer, int]]:
        j, job, block = self._locate(g)
        tasks = self.workloads[job.workload].tasks
        node = tasks.nodes[block.node]
        if node.is_view or self.spilled[g]:
            return []
        plans = self.plans[job.workload]
        return [
            (self._buffer(j, name, plans[name]), tasks.output_bytes(block, name))
            for name in node.op.outputs
            if name and self._on_chip(j, name)
        ]

    def _reserve_outputs(self, g: int) -> bool:
        """Reserve ring-buffer room for a block's output; bands are written in order, like a ring's write pointer."""
        outs = self._on_chip_outputs(g)
        if not outs:
            return True
        j, _, block = self._locate(g)
        if block.index != self.next_band[j][block.node]:
            return False
        if not all(buf.can_reserve(n) for buf, n in outs):
            return False
        for buf, n in outs:
            buf.reserve(n)
        self.next_band[j][block.node] += 1
        return True

    def _dispatch_all(self) -> None:
        """Dispatch on every core with queued work and a free slot, until nothing more can issue."""
        progress = True
        while progress:
            progress = False
            for core in range(self.cores):
                if self.queues[core] and self.running_per_core[core] < self.slots:
                    progress |= self._dispatch(core)

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
            self.env.process(self._load_weights(j, w, n, nbytes))

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

    # --- one block --------------------------------------------------------------------------
    def _buffer(self, j: int, tensor: str, plan: BufferPlan) -> RingBuffer:
        """The ring buffer of one frame's tensor."""
        key = (j, tensor)
        buf = self.buffers.get(key)
        if buf is None:
            buf = self.buffers[key] = RingBuffer(tensor, plan.capacity)
        return buf

    def _run_block(self, g: int, core: int):
        env, stats = self.env, self.stats
        j, job, block = self._locate(g)
        w = job.workload
        tasks = self.workloads[w].tasks
        plans = self.plans[w]
        node = tasks.nodes[block.node]
        nstats = stats.nodes[w][block.node]
        t0 = env.now
        self.t_start[g] = t0
        # 1. inputs: from ring buffers over the interconnect, or from DRAM
        dram_in = onchip_in = 0
        if not node.is_view:
            for inp in block.inputs:
                plan = plans.get(inp.tensor)
                spilled = any(self.spilled[job.offset + p] for p in inp.producer_blocks)
                if plan is not None and self._on_chip(j, inp.tensor) and not spilled:
                    onchip_in += inp.nbytes
                    continue
                dram_in += inp.nbytes
                kind = "spill" if plan is not None and plan.readers and not self.layer_mode else "activations"
                stats.dram_read[kind] += inp.nbytes
        arrive = max(self.dram.reserve(env.now, dram_in), self.interconnect.reserve(env.now, onchip_in))
        if arrive > env.now:
            yield env.timeout(arrive - env.now)
        # 2. compute on this core's compute unit, which serves its waiting threads by scheduler priority
        cycles = self.block_cycles[w][block.id]
        if cycles:
            turn = self._acquire_compute(core, g)
            if turn is not None:
                yield turn
            self.pending_cycles[core] -= cycles
            start = env.now
            self.alu_free[core] = start + cycles
            stats.busy[core].append((start, start + cycles))
            yield env.timeout(cycles)
            self._release_compute(core)
        else:
            self.pending_cycles[core] -= cycles
        executor = self.executors[j]
        if executor is not None:
            executor.run_block(node, block)
        # 3. outputs: into ring buffers (backpressure) and/or DRAM
        dram_out = onchip_out = 0
        for name in (o for o in node.op.outputs if o):
            plan = plans[name]
            nbytes = tasks.output_bytes(block, name)
            if plan.graph_output:
                dram_out += nbytes
                stats.dram_write["activations"] += nbytes
            if node.is_view:
                continue  # a view relabels its input's storage: nothing moves
            if self._on_chip(j, name) and not self.spilled[g]:
                self._buffer(j, name, plan).commit(nbytes, env.now)
                onchip_out += nbytes
            elif plan.readers and not (plan.graph_output and not self._on_chip(j, name)):
                dram_out += nbytes
                stats.dram_write["activations" if self.layer_mode else "spill"] += nbytes
        arrive = max(self.dram.reserve(env.now, dram_out), self.interconnect.reserve(env.now, onchip_out))
        if arrive > env.now:
            yield env.timeout(arrive - env.now)
        # 4. energy and traffic
        dram_bytes = dram_in + dram_out
        ic_bytes = onchip_in + onchip_out
        sram = 0 if node.is_view else block.in_bytes + block.out_bytes + node.cost.weight_bytes
        e_compute = self.costs[node.op.precision].compute_energy(block.macs, block.vector_ops)
        e_dram = dram_bytes * self.cost.dram_j_per_byte
        e_ic = ic_bytes * self.cost.interconnect_j_per_byte
        e_sram = sram * self.cost.sram_j_per_byte
        stats.energy["compute"] += e_compute
        stats.energy["dram"] += e_dram
        stats.energy["interconnect"] += e_ic
        stats.energy["sram"] += e_sram
        stats.interconnect_bytes += ic_bytes
        stats.sram_bytes += sram
        joules = e_compute + e_dram + e_ic + e_sram
        stats.energy_events.append((t0, env.now, joules))
        nstats.energy_j += joules
        nstats.dram_bytes += dram_bytes
        nstats.start = min(nstats.start, t0)
        nstats.end = max(nstats.end, env.now)
        nstats.cores.add(core)
        nstats.cycles_busy += cycles
        self.t_end[g] = env.now
        # 5. release the slot, wake consumers, free the producers' buffer space
        self.running_per_core[core] -= 1
        self._finish(g, j, job, block)
        self._dispatch_all()

    def _finish(self, g: int, j: int, job: _Job, block: Block) -> None:
        w = job.workload
        tasks = self.workloads[w].tasks
        plans = self.plans[w]
        base = job.offset
        for inp in block.inputs:
            plan = plans.get(inp.tensor)
            for p in inp.producer_blocks:
                gp = base + p
                self.readers_left[gp] -= 1
                if self.readers_left[gp] == 0 and plan is not None and self._on_chip(j, inp.tensor) and not self.spilled[gp]:
                    self._buffer(j, inp.tensor, plan).free(tasks.output_bytes(tasks.blocks[p], inp.tensor), self.env.now)
        for c in tasks.consumers[block.id]:
            gc = base + c
            self.deps_left[gc] -= 1
            if self.deps_left[gc] == 0:
                self._maybe_ready(gc)
        self.done_count += 1
        self.finished[g] = 1
        self.job_blocks_left[j] -= 1
        if self.job_blocks_left[j] == 0:
            self.stats.frame_end_cycles[w][job.frame] = self.env.now
        n = block.node
        self.node_blocks_left[j][n] -= 1
        if self.node_blocks_left[j][n] == 0:
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
        self.env.process(self._prefetch_weights())
        for j in range(len(self.jobs)):
            self.env.process(self._arrive(j))
        while True:
            self.env.run()
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
        stats.block_job, stats.block_start, stats.block_end = self.job_of, self.t_start, self.t_end
        stats.block_core = self.placed_core
        stats.outputs = [[{} for _ in range(w.frames)] for w in self.workloads]
        for j, executor in enumerate(self.executors):
            if executor is not None:
                job = self.jobs[j]
                stats.outputs[job.workload][job.frame] = executor.outputs()
        return stats


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
    engine = _Engine(workloads, hw, options)
    stats = engine.run()
    return EngineRun(
        stats=stats,
        block_cycles=tuple(tuple(c) for c in engine.block_cycles),
        jobs=tuple((j.workload, j.frame, j.release, j.offset) for j in engine.jobs),
    )
