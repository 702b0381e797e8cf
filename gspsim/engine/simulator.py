"""The SimPy discrete-event simulation of a graph streaming processor.

Every block (thread) of every frame of every model is a chain of SimPy events
(see ``_Engine._issue``) that waits for a thread slot on the core its scheduler
chose, moves its inputs (from on-chip ring buffers over the interconnect, or
from DRAM), computes on the core's compute unit, executes its real kernel, and
writes its output (into a ring buffer, stalling while the buffer is full, or to
DRAM).  A block becomes
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
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import simpy
from simpy.events import NORMAL, URGENT, Event

from ..errors import GspsimError
from ..hardware.config import HardwareConfig
from ..lowering.tasks import Block, TaskGraph
from ..scheduling.base import Scheduler, has_static_priority, uses_earliest_free
from ..vocab import PRECISIONS
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
    #: per core: (start, end) of its compute unit's busy intervals, an (n, 2) array (no particular order)
    busy: list = field(default_factory=list)
    stalls: list[list[tuple[float, float]]] = field(default_factory=list)
    #: (start, end, joules) of every completion (blocks, weight loads), in completion order: an (n, 3) array
    energy_events: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
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
    #: node (numbered across workloads, in workload order) and band index of each global block
    block_node: Optional[np.ndarray] = None
    block_index: Optional[np.ndarray] = None
    #: per workload, per frame: the graph outputs
    outputs: list[list[dict[str, np.ndarray]]] = field(default_factory=list)
    #: start, end and bytes of every DRAM transfer, flat (three entries per transfer)
    dram_transfers: list[float] = field(default_factory=list)
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
        self.out_bytes: list[int] = [b.out_bytes for b in blocks]
        macs = np.fromiter((b.macs for b in blocks), dtype=np.int64, count=count)
        vops = np.fromiter((b.vector_ops for b in blocks), dtype=np.int64, count=count)
        node_precision = [n.op.precision for n in nodes]
        precision = [node_precision[n] for n in self.node]
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
        node_view = [n.is_view for n in nodes]
        node_weight = [n.cost.weight_bytes for n in nodes]
        node_outputs = [tuple(o for o in n.op.outputs if o) for n in nodes]
        # TaskGraph.output_bytes: a block's band of a single-output node, else the whole tensor
        whole = {name: plans[name].nbytes for outs in node_outputs if len(outs) > 1 for name in outs}
        node_plans = [tuple((name, plans[name]) for name in outs) for outs in node_outputs]
        spill_kind = "activations" if layer_mode else "spill"
        # Only a tensor whose plan makes it a ring-buffer candidate (plan.on_chip) may be placed on chip; every
        # other input and output goes through DRAM whatever happens, so its bytes are fixed per block.
        #: per block: bytes of the inputs that always come from DRAM (0 for a view), and the part counted as spill
        self.dram_fixed: list[int] = []
        self.dram_fixed_spill: list[int] = []
        #: per block: ring-candidate inputs (empty for a view):
        #: (tensor, bytes, producer blocks, DRAM traffic kind, plan, bytes each producer wrote or None: its band)
        self.ring_inputs: list[tuple[tuple[str, int, tuple[int, ...], str, BufferPlan, Optional[int]], ...]] = []
        #: per block: the same for every block, views included, to free the producers' ring space when done
        self.frees: list[tuple[tuple[str, int, tuple[int, ...], str, BufferPlan, Optional[int]], ...]] = []
        #: per block: bytes written to graph outputs in DRAM
        self.graph_out: list[int] = []
        #: per block: bytes always written to DRAM (graph outputs, and consumed non-candidates unless a view)
        self.out_fixed: list[int] = []
        #: per block (empty for a view): (tensor, plan, bytes, has readers, is a graph output) of each ring-candidate output
        self.ring_outputs: list[tuple[tuple[str, BufferPlan, int, bool, bool], ...]] = []
        # nodes of several outputs write whole tensors: the same outputs for each of their blocks
        node_multi = [tuple((name, plan, whole[name], bool(plan.readers), plan.graph_output) for name, plan in outs)
                      if len(outs) != 1 else () for outs in node_plans]
        node_multi_ring = [tuple(o for o in outs if o[1].on_chip) for outs in node_multi]
        node_graph_out = [sum(o[2] for o in outs if o[4]) for outs in node_multi]
        node_multi_spill = [sum(o[2] for o in outs if not o[1].on_chip and o[3] and not o[4]) for outs in node_multi]
        sram: list[int] = []
        get_plan, get_whole = plans.get, whole.get
        for b in blocks:
            n = b.node
            view = node_view[n]
            fixed = fixed_spill = in_bytes = 0
            ins = []
            for inp in b.inputs:
                nbytes = inp.nbytes
                in_bytes += nbytes
                plan = get_plan(inp.tensor)
                if plan is None:
                    fixed += nbytes
                elif not plan.on_chip:
                    fixed += nbytes
                    if plan.readers:
                        fixed_spill += nbytes
                else:
                    ins.append((inp.tensor, nbytes, inp.producer_blocks, spill_kind if plan.readers else "activations",
                                plan, get_whole(inp.tensor)))
            frees = tuple(ins)
            self.frees.append(frees)
            sram.append(0 if view else in_bytes + b.out_bytes + node_weight[n])
            outs = node_plans[n]
            if len(outs) == 1:
                name, plan = outs[0]
                graph_out = b.out_bytes if plan.graph_output else 0
                if plan.on_chip:
                    out = ((name, plan, b.out_bytes, bool(plan.readers), plan.graph_output),)
                    out_spill = 0
                else:
                    out = ()
                    out_spill = b.out_bytes if plan.readers and not plan.graph_output else 0
            else:
                out, graph_out, out_spill = node_multi_ring[n], node_graph_out[n], node_multi_spill[n]
            self.graph_out.append(graph_out)
            if view:
                self.dram_fixed.append(0)
                self.dram_fixed_spill.append(0)
                self.ring_inputs.append(())
                self.ring_outputs.append(())
                self.out_fixed.append(graph_out)
            else:
                self.dram_fixed.append(fixed)
                self.dram_fixed_spill.append(fixed_spill)
                self.ring_inputs.append(frees)
                self.ring_outputs.append(out)
                self.out_fixed.append(graph_out + out_spill)
        self.sram: list[int] = sram
        self.e_sram: list[float] = (np.asarray(sram, dtype=np.int64) * cost.sram_j_per_byte).tolist()


_deps_of = operator.attrgetter("deps")


class _Step(Event):
    """A block's SimPy event, reused for each of its waits (inputs in, compute turn, compute done, outputs out).

    A block waits for one thing at a time, so one event object serves its
    whole chain: each wait sets the callback and pushes the event on SimPy's
    queue as ``Timeout`` (a delay: same time, priority and a fresh event id)
    or ``Event.succeed`` (a compute-unit turn: now) would.  The urgent start
    event of a batch of blocks (see ``_Engine._start_batch``) is one too.
    """

    def __init__(self, env: simpy.Environment, g: int, core: int) -> None:
        # Event.__init__, inlined and already triggered (ok, value None): only the engine schedules it
        self.env = env
        self.callbacks = None
        self.g = g
        self.core = core
        self._ok = True
        self._value = None


class _Engine:
    """One simulation run (internal; use :func:`simulate_workloads`)."""

    def __init__(self, workloads: Sequence[Workload], hw: HardwareConfig, options: SimOptions) -> None:
        self.workloads, self.hw, self.options = list(workloads), hw, options
        self.env = simpy.Environment()
        # per-precision compute costs (each node runs at its own precision); memory costs are shared
        self.costs = {p: CostModel.for_run(hw, p) for p in PRECISIONS}
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
        self.interconnect = BandwidthChannel(self.cost.interconnect_bytes_per_cycle, record=False)
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
        self.job_base = [job.offset for job in self.jobs]
        self.job_w = [job.workload for job in self.jobs]
        for w, wl in enumerate(self.workloads):
            wl.scheduler.prepare(wl.tasks, hw, self.block_cycles[w])
        # per-workload scheduler fast paths: priorities computed once, the engine's own earliest-free-core scan
        self.assign_fast = [uses_earliest_free(w.scheduler) for w in self.workloads]
        prio_of = [list(map(w.scheduler.priority, w.tasks.blocks)) if has_static_priority(w.scheduler) else None
                   for w in self.workloads]
        self.prio_static = [p is not None for p in prio_of]
        # per global block (jobs in order): static tables of its workload, and (job, node) slots
        self.jn_base: list[int] = []
        self.loc: list[int] = []
        self.loc_index: list[int] = []
        self.cyc: list[int] = []
        self.prio: list = []
        self.jn_of: list[int] = []
        self.ring_inputs: list = []
        self.dram_fixed: list[int] = []
        self.ring_outputs: list = []
        self.graph_out: list[int] = []
        self.out_fixed: list[int] = []
        self.dram_fixed_spill: list[int] = []
        self.out_bytes: list[int] = []
        self.frees: list = []
        self.consumers: list = []
        self.deps_left: list[int] = []
        self.readers_left: list[int] = []
        jn = 0
        for job in self.jobs:
            w = job.workload
            tasks, st = self.workloads[w].tasks, self.static[w]
            self.jn_base.append(jn)
            count = len(tasks.blocks)
            self.loc += range(count)
            self.cyc += st.cycles
            self.loc_index += st.index
            self.prio += prio_of[w] if prio_of[w] is not None else [None] * count
            self.jn_of += [jn + n for n in st.node]
            self.ring_inputs += st.ring_inputs
            self.dram_fixed += st.dram_fixed
            self.ring_outputs += st.ring_outputs
            self.graph_out += st.graph_out
            self.out_fixed += st.out_fixed
            self.dram_fixed_spill += st.dram_fixed_spill
            self.out_bytes += st.out_bytes
            self.frees += st.frees
            self.consumers += tasks.consumers
            self.deps_left += map(len, map(_deps_of, tasks.blocks))
            self.readers_left += map(len, tasks.consumers)
            jn += len(tasks.nodes)
        #: per (job, node) slot: its job and node
        self.jn_job = [j for j, job in enumerate(self.jobs) for _ in self.workloads[job.workload].tasks.nodes]
        self.jn_node = [n for job in self.jobs for n in range(len(self.workloads[job.workload].tasks.nodes))]
        self.arrived = bytearray(len(self.jobs))
        self.spilled = bytearray(self.total)
        # per global block, as lists while running (element access is cheaper than numpy's); arrays at the end
        self.placed_core: list[int] = [-1] * self.total
        #: global id of block 0 of the (model, frame) whose block the scheduler is assigning (see block_core)
        self.view_base = 0
        self.t_start: list[float] = [0.0] * self.total
        self.t_end: list[float] = [0.0] * self.total
        #: cycle at which a block's compute began (its busy interval is [t_compute, t_compute + cycles))
        self.t_compute: list[float] = [0.0] * self.total
        #: bytes a running block moves (kept between its events, and for the energy at the end)
        self.dram_in = [0] * self.total
        self.onchip_in = [0] * self.total
        self.dram_out = [0] * self.total
        self.onchip_out = [0] * self.total
        #: completions in order: a block id, or ~k for the k-th weight load (energy is summed in this order)
        self.done_log: list[int] = []
        #: per weight load: (start, end, bytes, workload, node)
        self.weight_loads: list[tuple[float, float, int, int, int]] = []
        #: blocks spilled to break a deadlock (0: no producer check needed)
        self.spill_count = 0
        #: blocks issued (g, core flat) whose urgent start event is pending (see _run_batch)
        self.starting: Optional[list[int]] = None
        #: block events no longer in use (a block's chain has ended), reused by the next blocks
        self.free_steps: list[_Step] = []
        #: start events created and not yet processed or queued: (cycle, event id, batch), see _run_events
        self.batches: list[tuple[float, int, list[int]]] = []
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
        # per (job, node) slot: weights on chip, streamed fetch started, layer-mode gate, all three and arrival
        self.weights_ready = bytearray(
            n.cost.weight_bytes == 0 for j in self.jobs for n in self.workloads[j.workload].tasks.nodes)
        self.weight_fetch_started = bytearray(len(self.weights_ready))
        self.weight_pool = simpy.Container(self.env, capacity=max(1, wb), init=0)
        self.dma_inflight = simpy.Resource(self.env, capacity=hw.dma.engines)
        # ring buffers: allocated from one on-chip pool when the producer is about to start (a candidate
        # that finds no room spills for that frame), freed when the last node reading it is done
        self.ring_budget = ring_budget(hw)
        self.ring_level = 0
        self.ring_high_water = 0
        #: per job: tensor -> True (ring buffer) / False (through DRAM), decided when its producer starts
        self.placement: list[dict[str, bool]] = [{} for _ in self.jobs]
        #: per (job, node) slot: its outputs' placement decided
        self.placed = bytearray(len(self.weights_ready))
        self.readers_of: list[dict[str, int]] = []
        self.activation_inputs: list[list[tuple[str, ...]]] = []
        for w in self.workloads:
            count: dict[str, int] = {}
            for node in w.tasks.nodes:
                for t in set(node.op.activation_inputs):
                    count[t] = count.get(t, 0) + 1
            self.readers_of.append(count)
            self.activation_inputs.append([tuple(set(node.op.activation_inputs)) for node in w.tasks.nodes])
        self.readers_pending = [dict(self.readers_of[j.workload]) for j in self.jobs]
        self.node_blocks_left = [len(n.blocks) for j in self.jobs for n in self.workloads[j.workload].tasks.nodes]
        # layer-mode barrier: node n of job j opens when the previous (job, node) in sequence is done
        self.gate_open = bytearray(len(self.weights_ready))
        if not self.layer_mode:
            self.gate_open = bytearray(b"\x01" * len(self.gate_open))
        elif self.jobs:
            self.gate_open[0] = 1
        #: per (job, node) slot: frame arrived, gate open and weights on chip (a ready block may queue)
        self.open = bytearray(len(self.weights_ready))
        # per-core dispatch state
        self.queues: list[list[tuple]] = [[] for _ in range(self.cores)]
        self.queued_cycles_per_core = [0.0] * self.cores
        self.running_per_core = [0] * self.cores
        self.alu_free = [0.0] * self.cores
        #: compute cycles of dispatched blocks that have not reached the compute unit yet
        self.pending_cycles = [0.0] * self.cores
        #: per core: pending + queued cycles, kept for the earliest-free-core scan.  When every time is an
        #: integer (integer cycles, DRAM latency and frame arrivals: then every event time, sum and
        #: difference is an exact integer below 2**53) max(alu, now) + pending + queued may be summed in
        #: any order, so the scan adds one list instead of two with the same result.
        self.load = [0.0] * self.cores
        self.integral = float(self.cost.dram_latency_cycles).is_integer() and all(
            float(job.release).is_integer() for job in self.jobs)
        #: each core's compute unit: busy flag and the threads waiting for it, best priority first
        self.compute_busy = [False] * self.cores
        self.compute_waiting: list[list[tuple]] = [[] for _ in range(self.cores)]
        self.seq = 0
        #: per (job, node) slot: the next output band to be written (ring buffers fill in order)
        self.next_band = [0] * len(self.weights_ready)
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
        self.execute = options.execute
        # the callbacks of a block's waits, as the one-element lists SimPy events carry (never mutated)
        self._cb_arrived = [self._compute]
        self._cb_turn = [self._compute_turn]
        self._cb_done = [self._compute_done]
        self._cb_written = [self._outputs_written]
        self._cb_batch = [self._start_batch]

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

    def block_core(self, block: int) -> int:
        """Core that block ``block`` (a ``Block.id``) of the frame being assigned runs or ran on (-1: not yet)."""
        return self.placed_core[self.view_base + block]

    def earliest_free_core(self, cores: int) -> int:
        """``scheduling.builtin.earliest_free_core`` over the engine's lists: the same sums, first core on ties."""
        now = self.env._now
        if self.integral:
            keys = [(a if a >= now else now) + load for a, load in zip(self.alu_free, self.load)]
        else:
            keys = [((a if a >= now else now) + p) + q
                    for a, p, q in zip(self.alu_free, self.pending_cycles, self.queued_cycles_per_core)]
        if cores != len(keys):
            keys = keys[:cores]
        return keys.index(min(keys))

    # --- readiness and dispatch ---------------------------------------------------------------
    def _locate(self, g: int) -> tuple[int, _Job, Block]:
        j = self.job_of_list[g]
        job = self.jobs[j]
        return j, job, self.workloads[job.workload].tasks.blocks[g - job.offset]

    def _maybe_ready(self, g: int) -> None:
        if not self.deps_left[g]:
            self._ready(g)

    def _ready(self, g: int) -> None:
        """Block g's producers are done: queue it on the core its scheduler picks, if its node may start."""
        jn = self.jn_of[g]
        if not self.open[jn]:
            j = self.job_of_list[g]
            if self.arrived[j] and self.gate_open[jn] and not self.weights_ready[jn]:
                w, n = self.job_w[j], self.jn_node[jn]
                if self.weight_streamed[w][n] and not self.weight_fetch_started[jn]:
                    # weights too large to keep on chip: streamed from DRAM once for this frame, just in time
                    self.weight_fetch_started[jn] = 1
                    nbytes = self.workloads[w].tasks.nodes[n].cost.weight_bytes
                    self._process(self._load_weights(j, w, n, nbytes))
            return
        self.deps_left[g] = -1  # marks "queued" so it is never queued twice
        if not self.placed[jn]:
            self.placed[jn] = 1
            self._place_outputs(jn)
        j = self.job_of_list[g]
        w = self.job_w[j]
        if self.assign_fast[w]:
            core = self.earliest_free_core(self.cores)
        else:
            scheduler = self.workloads[w].scheduler
            self.view_base = self.job_base[j]  # block_core answers for this frame of this model
            core = int(scheduler.assign(self.workloads[w].tasks.blocks[self.loc[g]], self))
            if not 0 <= core < self.cores:
                raise GspsimError(
                    f"scheduler '{scheduler.name}' assigned a block to core {core} (chip has {self.cores})")
        prio = self.prio[g] if self.prio_static[w] else self._priority(g)
        self.seq += 1
        queues = self.queues
        if any(queues) or self.running_per_core[core] >= self.slots:
            heapq.heappush(queues[core], (prio, j, self.seq, g))
            self.queued_cycles_per_core[core] += self.cyc[g]
            self.load[core] += self.cyc[g]
            self._dispatch_all()
            return
        # every queue empty and a free slot: _dispatch_all would pop this block at once and issue it, or
        # find it blocked (the core stalls); the same without the queue round trip
        self.queued_cycles_per_core[core] += self.cyc[g]
        self.load[core] += self.cyc[g]
        since = self.stall_since[core]
        if not self.ring_outputs[g] or self._reserve_outputs(g):  # no ring-candidate output: nothing to reserve
            self._issue(core, g)
            if since is not None:
                self.stats.stalls[core].append((since, self.env._now))
                self.stall_since[core] = None
        else:
            heapq.heappush(queues[core], (prio, j, self.seq, g))
            if since is None:
                self.stall_since[core] = self.env._now

    def _priority(self, g: int) -> Any:
        """The scheduler's priority of block g, asked now (a priority not marked static may change)."""
        w = self.job_w[self.job_of_list[g]]
        return self.workloads[w].scheduler.priority(self.workloads[w].tasks.blocks[self.loc[g]])

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
        cycles = self.cyc[g]
        self.queued_cycles_per_core[core] -= cycles
        self.pending_cycles[core] += cycles
        self.running_per_core[core] += 1
        self.placed_core[g] = core
        batch = self.starting
        if batch is None:  # a new start event: urgent, now (kept aside until the event loop sees it, see _run_events)
            batch = self.starting = []
            env = self.env
            self.batches.append((env._now, next(env._eid), batch))
        batch.append(g)
        batch.append(core)

    def _process(self, generator) -> None:
        """Start a SimPy process; blocks issued after it start after its initialization, as before."""
        self.starting = None
        self.env.process(generator)

    def _start_batch(self, event: _Step) -> None:
        """The start event of a batch that waited in SimPy's queue."""
        self._run_batch(event.batch)

    def _transfer(self, now: float, dram_bytes: int, onchip_bytes: int) -> float:
        """A block's DRAM and interconnect transfers, both queued now: the cycle by which both have arrived.

        ``BandwidthChannel.reserve`` on each channel, inlined (this runs twice per block); the
        interconnect records no transfers.
        """
        arrive = now
        if dram_bytes > 0:
            ch = self.dram
            free = ch.free_at
            start = free if free > now else now
            cycles = math.ceil(dram_bytes / ch.bytes_per_cycle)
            ch.free_at = end = start + cycles
            ch.busy_cycles += cycles
            ch.total_bytes += dram_bytes
            ch.transfers += (start, end, dram_bytes)
            arrive = end + ch.latency
        if onchip_bytes > 0:
            ch = self.interconnect
            free = ch.free_at
            start = free if free > now else now
            cycles = math.ceil(onchip_bytes / ch.bytes_per_cycle)
            ch.free_at = end = start + cycles
            ch.busy_cycles += cycles
            ch.total_bytes += onchip_bytes
            end += ch.latency
            if end > arrive:
                arrive = end
        return arrive

    def _run_batch(self, batch: list[int]) -> None:
        """The start event of the blocks issued at this cycle since the last urgent event: start them in order.

        One urgent event per batch instead of one per block (as one process
        initialization per block was): blocks issued while the batch runs join
        it, which is their place in SimPy's order as long as no other urgent
        event (a process start) came in between; :meth:`_process` closes the
        batch when one does.  1. Each block moves its inputs: from ring
        buffers over the interconnect, or from DRAM (:meth:`_transfer`), then
        computes.
        """
        env = self.env
        now = env._now
        queue, eid, push = env._queue, env._eid, heapq.heappush
        t_start, dram_fixed, ring_inputs = self.t_start, self.dram_fixed, self.ring_inputs
        dram_in_of, onchip_in_of = self.dram_in, self.onchip_in
        dram_read = self.stats.dram_read
        steps = self.free_steps
        i = 0
        while i < len(batch):
            g, core = batch[i], batch[i + 1]
            i += 2
            t_start[g] = now
            dram_in = dram_fixed[g]  # counted in dram_read at the end (_collect)
            onchip_in = 0
            inputs = ring_inputs[g]
            if inputs:
                j = self.job_of_list[g]
                placement = self.placement[j]
                check_spill = self.spill_count > 0
                for tensor, nbytes, producers, kind, _, _ in inputs:
                    if placement.get(tensor, False) and not (check_spill and any(
                            self.spilled[self.job_base[j] + p] for p in producers)):
                        onchip_in += nbytes
                        continue
                    dram_in += nbytes
                    dram_read[kind] += nbytes
            dram_in_of[g] = dram_in
            onchip_in_of[g] = onchip_in
            arrive = self._transfer(now, dram_in, onchip_in)
            if steps:
                step = steps.pop()
                step.g = g
                step.core = core
            else:
                step = _Step(env, g, core)
            if arrive > now:
                step.callbacks = self._cb_arrived
                push(queue, (now + (arrive - now), NORMAL, next(eid), step))
            else:
                self._compute(step)
        if self.starting is batch:
            self.starting = None

    def _compute(self, step: _Step) -> None:
        """2. compute on this core's compute unit, which serves its waiting threads by scheduler priority."""
        g, core = step.g, step.core
        cycles = self.cyc[g]
        if cycles:
            if self.compute_busy[core]:  # wait for g's turn (_compute_turn)
                j = self.job_of_list[g]
                prio = self.prio[g] if self.prio_static[self.job_w[j]] else self._priority(g)
                self.seq += 1
                heapq.heappush(self.compute_waiting[core], (prio, j, self.seq, step))
                return
            self.compute_busy[core] = True
            self.pending_cycles[core] -= cycles
            self.load[core] -= cycles
            env = self.env
            now = env._now
            self.alu_free[core] = now + cycles
            self.t_compute[g] = now
            step.callbacks = self._cb_done
            heapq.heappush(env._queue, (now + cycles, NORMAL, next(env._eid), step))
        else:
            self.pending_cycles[core] -= cycles
            self._after_compute(step)

    def _compute_turn(self, step: _Step) -> None:
        """The compute unit is g's: busy for its cycles."""
        g, core = step.g, step.core
        cycles = self.cyc[g]
        self.pending_cycles[core] -= cycles
        self.load[core] -= cycles
        env = self.env
        now = env._now
        self.alu_free[core] = now + cycles
        self.t_compute[g] = now
        step.callbacks = self._cb_done
        heapq.heappush(env._queue, (now + cycles, NORMAL, next(env._eid), step))

    def _compute_done(self, step: _Step) -> None:
        waiting = self.compute_waiting[step.core]
        if waiting:  # handed straight to the best waiting thread (Event.succeed: now, normal priority)
            turn = heapq.heappop(waiting)[-1]
            turn.callbacks = self._cb_turn
            env = self.env
            heapq.heappush(env._queue, (env._now, NORMAL, next(env._eid), turn))
        else:
            self.compute_busy[step.core] = False
        self._after_compute(step)

    def _after_compute(self, step: _Step) -> None:
        """The kernel runs on the real tensors; 3. outputs: into ring buffers (backpressure) and/or DRAM."""
        g = step.g
        if self.execute:
            j = self.job_of_list[g]
            executor = self.executors[j]
            if executor is not None:
                tasks = self.workloads[self.job_w[j]].tasks
                block = tasks.blocks[self.loc[g]]
                executor.run_block(tasks.nodes[block.node], block)
        env = self.env
        now = env._now
        dram_out = self.out_fixed[g]  # counted in dram_write at the end (_collect)
        onchip_out = 0
        outputs = self.ring_outputs[g]
        if outputs:
            j = self.job_of_list[g]
            placement = self.placement[j]
            spilled = self.spilled[g]
            for name, plan, nbytes, readers, graph_output in outputs:
                on_chip = placement.get(name, False)
                if on_chip and not spilled:
                    self._buffer(j, name, plan).commit(nbytes, now)
                    onchip_out += nbytes
                elif readers and not (graph_output and not on_chip):
                    dram_out += nbytes
                    self.stats.dram_write["activations" if self.layer_mode else "spill"] += nbytes
        self.dram_out[g] = dram_out
        self.onchip_out[g] = onchip_out
        arrive = self._transfer(now, dram_out, onchip_out)
        if arrive > now:
            step.callbacks = self._cb_written
            heapq.heappush(env._queue, (now + (arrive - now), NORMAL, next(env._eid), step))
        else:
            self._outputs_written(step)

    def _outputs_written(self, step: _Step) -> None:
        """4. done (its energy is summed at the end, in completion order); 5. release the slot, wake consumers."""
        g = step.g
        now = self.env._now
        self.t_end[g] = now
        self.running_per_core[step.core] -= 1
        self.done_log.append(g)
        self.free_steps.append(step)
        # free the producers' ring space
        j = self.job_of_list[g]
        base = self.job_base[j]
        frees = self.frees[g]
        if frees:
            readers_left, spilled, placement = self.readers_left, self.spilled, self.placement[j]
            for tensor, _, producers, _, plan, size in frees:
                for p in producers:
                    gp = base + p
                    readers_left[gp] -= 1
                    if readers_left[gp] == 0 and placement.get(tensor, False) and not spilled[gp]:
                        self._buffer(j, tensor, plan).free(self.out_bytes[gp] if size is None else size, now)
        # wake consumers
        deps_left = self.deps_left
        for c in self.consumers[g]:
            gc = base + c
            deps_left[gc] -= 1
            if deps_left[gc] == 0:
                self._ready(gc)
        # count the node done (a frame ends with its last block: its latest end, see _collect)
        self.done_count += 1
        jn = self.jn_of[g]
        self.node_blocks_left[jn] -= 1
        if self.node_blocks_left[jn] == 0:
            self._node_done(j, jn)
        self._dispatch_all()

    def _node_done(self, j: int, jn: int) -> None:
        """A node's last block of a frame is done: its inputs' buffers may go, its weights may leave."""
        w, n = self.job_w[j], self.jn_node[jn]
        tasks = self.workloads[w].tasks
        plans = self.plans[w]
        pending, placement = self.readers_pending[j], self.placement[j]
        for t in self.activation_inputs[w][n]:
            pending[t] -= 1
            if pending[t] == 0 and placement.get(t, False):
                self.ring_level -= plans[t].capacity
        weight = tasks.nodes[n].cost.weight_bytes
        if weight and not self.resident[w] and not self.weight_streamed[w][n]:
            self.weight_pool.get(weight)
        if self.layer_mode:
            self._open_next(j, n)

    def _open_next(self, j: int, n: int) -> None:
        """Layer mode: the next node of this frame, or the first node of the next frame, may start."""
        if n + 1 < len(self.workloads[self.job_w[j]].tasks.nodes):
            nj, nn = j, n + 1
        elif j + 1 < len(self.jobs):
            nj, nn = j + 1, 0
        else:
            return
        jn = self.jn_base[nj] + nn
        self.gate_open[jn] = 1
        self.open[jn] = self.arrived[nj] and self.weights_ready[jn]
        self._ready_job_node(nj, nn)

    def _reserve_outputs(self, g: int) -> bool:
        """Reserve ring-buffer room for a block's output; bands are written in order, like a ring's write pointer."""
        outputs = self.ring_outputs[g]
        if not outputs or self.spilled[g]:  # a view writes nothing
            return True
        j = self.job_of_list[g]
        placement = self.placement[j]
        if len(outputs) == 1:  # the common case, without building lists
            name, plan, nbytes, _, _ = outputs[0]
            if not placement.get(name, False):
                return True
            buf = self._buffer(j, name, plan)
            jn = self.jn_of[g]
            if self.loc_index[g] != self.next_band[jn] or not buf.level + buf.reserved + nbytes <= buf.capacity:
                return False
            buf.reserved += nbytes
            self.next_band[jn] += 1
            return True
        outs = [(self._buffer(j, name, plan), nbytes) for name, plan, nbytes, _, _ in outputs
                if placement.get(name, False)]
        if not outs:
            return True
        jn = self.jn_of[g]
        if self.loc_index[g] != self.next_band[jn]:
            return False
        if not all(buf.can_reserve(nbytes) for buf, nbytes in outs):
            return False
        for buf, nbytes in outs:
            buf.reserve(nbytes)
        self.next_band[jn] += 1
        return True

    def _dispatch_all(self) -> None:
        """Dispatch on every core with queued work and a free slot, until nothing more can issue."""
        queues, running, slots = self.queues, self.running_per_core, self.slots
        cores = range(self.cores)
        while any(queues):  # a pass over empty queues issues nothing: stop as the full loop would
            progress = False
            # dispatching on one core changes no other core's queue: the cores with work can be filtered lazily
            for core in filter(queues.__getitem__, cores):
                if running[core] < slots:
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
        g = item[-1]
        jn = self.jn_of[g]
        if self.loc_index[g] == self.next_band[jn]:
            self.next_band[jn] += 1
        self.spilled[g] = 1
        self.spill_count += 1
        self.stats.deadlock_spills += 1
        self._issue(core, g)
        return True

    def _ready_job_node(self, j: int, n: int) -> None:
        base = self.job_base[j]
        for b in self.workloads[self.job_w[j]].tasks.nodes[n].blocks:
            self._maybe_ready(base + b)

    def _arrive(self, j: int):
        """A frame's inputs arrive: its blocks may start."""
        delay = self.jobs[j].release - self.env.now
        if delay > 0:
            yield self.env.timeout(delay)
        self.arrived[j] = 1
        first = self.jn_base[j]
        for jn in range(first, first + len(self.workloads[self.job_w[j]].tasks.nodes)):
            self.open[jn] = self.gate_open[jn] and self.weights_ready[jn]
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
        stats.sram_bytes += nbytes
        stats.nodes[w][n].dram_bytes += nbytes
        # energy: summed with the blocks' in completion order at the end (_energy)
        self.done_log.append(~len(self.weight_loads))
        self.weight_loads.append((start, self.env.now, nbytes, w, n))
        jobs = [job] if job is not None else [k for k, jb in enumerate(self.jobs) if jb.workload == w]
        for k in jobs:
            jn = self.jn_base[k] + n
            self.weights_ready[jn] = 1
            self.open[jn] = self.arrived[k] and self.gate_open[jn]
            self._ready_job_node(k, n)

    def _place_outputs(self, jn: int) -> None:
        """When a node is about to start in a frame: a ring buffer for each output, if there is room."""
        j = self.jn_job[jn]
        w = self.job_w[j]
        placement = self.placement[j]
        plans = self.plans[w]
        for name in self.workloads[w].tasks.nodes[self.jn_node[jn]].op.outputs:
            if not name or name in placement:
                continue
            plan = plans[name]
            room = plan.on_chip and self.ring_level + plan.capacity <= self.ring_budget
            placement[name] = room
            if room:
                self.ring_level += plan.capacity
                self.ring_high_water = max(self.ring_high_water, self.ring_level)

    def _buffer(self, j: int, tensor: str, plan: BufferPlan) -> RingBuffer:
        """The ring buffer of one frame's tensor."""
        key = (j, tensor)
        buf = self.buffers.get(key)
        if buf is None:
            buf = self.buffers[key] = RingBuffer(tensor, plan.capacity)
        return buf

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
                done = set(self.done_log)
                left = [g for g in range(self.total) if g not in done][:5]
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
        batches = self.batches
        while True:
            # start events of batches (urgent, now, with their event ids): run at once while each is the
            # event SimPy would pop next, else queued as events (an earlier urgent event is pending)
            while batches:
                now, eid, batch = batches[0]
                if queue:
                    top = queue[0]
                    if top[0] == now and top[1] == URGENT and top[2] < eid:
                        for now, eid, batch in batches:
                            event = _Step(env, -1, -1)
                            event.callbacks = self._cb_batch
                            event.batch = batch
                            heapq.heappush(queue, (now, URGENT, eid, event))
                        batches.clear()
                        break
                del batches[0]
                self._run_batch(batch)
            if not queue:
                return
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
        # what every block moves whatever the placement: graph inputs and non-candidates read, graph outputs
        # and non-candidates written
        spill_kind = "activations" if self.layer_mode else "spill"
        fixed_spill, graph_out = sum(self.dram_fixed_spill), sum(self.graph_out)
        stats.dram_read["activations"] += sum(self.dram_fixed) - fixed_spill
        stats.dram_read[spill_kind] += fixed_spill
        stats.dram_write["activations"] += graph_out
        stats.dram_write[spill_kind] += sum(self.out_fixed) - graph_out
        # a frame ends when its last block does: the clock (as SimPy kept it, int or float) at its last completion
        ended = bytearray(len(self.jobs))
        left = sum(1 for j, job in enumerate(self.jobs) if self.workloads[job.workload].tasks.blocks)
        for g in reversed(self.done_log):
            if not left:
                break
            if g >= 0 and not ended[self.job_of_list[g]]:
                j = self.job_of_list[g]
                ended[j] = 1
                left -= 1
                stats.frame_end_cycles[self.jobs[j].workload][self.jobs[j].frame] = self.t_end[g]
        stats.block_job, stats.block_start, stats.block_end = self.job_of, t_start, t_end
        stats.block_core = np.asarray(self.placed_core, dtype=np.int64)
        self._energy(t_start, t_end)
        stats.energy["static"] = self.cost.static_w * stats.latency_cycles / self.cost.clock_hz
        self._busy(stats.block_core)
        self._node_stats(t_start, t_end)
        stats.outputs = [[{} for _ in range(w.frames)] for w in self.workloads]
        for j, executor in enumerate(self.executors):
            if executor is not None:
                job = self.jobs[j]
                stats.outputs[job.workload][job.frame] = executor.outputs()
        return stats

    def _energy(self, t_start: np.ndarray, t_end: np.ndarray) -> None:
        """Energy and traffic of every completion (blocks and weight loads), summed in completion order.

        The run only logs completions; the float sums here add the same terms
        in the same order as adding them at each completion would (a zero term
        where a completion has none: x + 0.0 == x), so the totals are identical.
        """
        stats, cost = self.stats, self.cost
        log = np.asarray(self.done_log, dtype=np.int64)
        is_block = log >= 0
        g = np.where(is_block, log, 0)
        k = np.where(is_block, 0, ~log)
        loads = np.asarray([(s, e, b, w, n) for s, e, b, w, n in self.weight_loads] or [(0.0, 0.0, 0, 0, 0)],
                           dtype=np.float64)
        load_bytes = loads[:, 2].astype(np.int64)[k]
        dram_b = (np.asarray(self.dram_in, dtype=np.int64) + np.asarray(self.dram_out, dtype=np.int64))[g]
        ic_b = (np.asarray(self.onchip_in, dtype=np.int64) + np.asarray(self.onchip_out, dtype=np.int64))[g]
        e_compute = np.concatenate([self.static[j.workload].e_compute for j in self.jobs] or [[]])
        e_sram_blk = np.concatenate([self.static[j.workload].e_sram for j in self.jobs] or [[]])
        sram_blk = np.concatenate([self.static[j.workload].sram for j in self.jobs] or [[]]).astype(np.int64)
        zero = np.zeros(len(log))
        e_c = np.where(is_block, e_compute[g] if len(e_compute) else zero, 0.0)
        e_d = np.where(is_block, dram_b * cost.dram_j_per_byte, load_bytes * cost.dram_j_per_byte)
        e_i = np.where(is_block, ic_b * cost.interconnect_j_per_byte, 0.0)
        e_s = np.where(is_block, e_sram_blk[g] if len(e_sram_blk) else zero, load_bytes * cost.sram_j_per_byte)
        joules = e_c + e_d + e_i + e_s
        energy = stats.energy
        for key, terms in (("compute", e_c), ("dram", e_d), ("interconnect", e_i), ("sram", e_s)):
            if len(terms):
                energy[key] = float(energy[key] + np.add.accumulate(terms)[-1])
        blocks = log[is_block]
        stats.interconnect_bytes += int(ic_b[is_block].sum())
        stats.sram_bytes += int(sram_blk[blocks].sum()) if len(blocks) else 0
        start = np.where(is_block, t_start[g] if self.total else zero, loads[k, 0])
        end = np.where(is_block, t_end[g] if self.total else zero, loads[k, 1])
        stats.energy_events = np.column_stack((start, end, joules))
        # per node (of each workload): energy in completion order, DRAM bytes of its blocks
        node_base = np.cumsum([0] + [len(w.tasks.nodes) for w in self.workloads])
        jn_node = np.asarray(self.jn_node, dtype=np.int64)
        jn_w = np.asarray([self.job_w[j] for j in self.jn_job], dtype=np.int64)
        jn_key = node_base[jn_w] + jn_node if len(jn_node) else jn_node
        jn_of = np.asarray(self.jn_of, dtype=np.int64)
        load_key = node_base[loads[:, 3].astype(np.int64)] + loads[:, 4].astype(np.int64)
        key = np.where(is_block, jn_key[jn_of[g]] if self.total else 0, load_key[k])
        stats.block_node = jn_key[jn_of] if self.total else np.zeros(0, dtype=np.int64)
        stats.block_index = np.asarray(self.loc_index, dtype=np.int64)
        order = np.argsort(key, kind="stable")
        key_sorted, joules_sorted = key[order], joules[order]
        bounds = np.flatnonzero(np.diff(key_sorted)) + 1
        firsts = np.concatenate(([0], bounds)) if len(key_sorted) else bounds
        lasts = np.concatenate((bounds, [len(key_sorted)])) if len(key_sorted) else bounds
        nodes = [ns for w in stats.nodes for ns in w]
        block_dram = np.zeros(len(nodes), dtype=np.int64)
        np.add.at(block_dram, key[is_block], dram_b[is_block])
        for lo, hi in zip(firsts.tolist(), lasts.tolist()):
            ns = nodes[int(key_sorted[lo])]
            ns.energy_j = float(ns.energy_j + np.add.accumulate(joules_sorted[lo:hi])[-1])
        for ns, extra in zip(nodes, block_dram.tolist()):
            ns.dram_bytes += extra

    def _busy(self, cores: np.ndarray) -> None:
        """Per core: the compute unit's busy intervals, one per block with cycles (in block order)."""
        cycles = np.asarray(self.cyc, dtype=np.int64)
        mask = cycles > 0
        start = np.asarray(self.t_compute, dtype=np.float64)[mask]
        intervals = np.column_stack((start, start + cycles[mask]))
        on = cores[mask]
        self.stats.busy = [intervals[on == c] for c in range(self.cores)]

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
            # integer cycles: the sums are exact, so their order does not matter
            busy = np.add.reduceat(np.asarray(self.block_cycles[w], dtype=np.int64), firsts).tolist()
            lasts = firsts[1:].tolist() + [count]
            placed = self.placed_core
            for first, last, first_start, last_end, cycles, ns in zip(
                    firsts.tolist(), lasts, starts, ends, busy, self.stats.nodes[w]):
                ns.start = min(ns.start, first_start)
                ns.end = max(ns.end, last_end)
                ns.cores.update(placed[job.offset + first:job.offset + last])
                ns.cycles_busy += float(cycles)


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
