"""The SimPy discrete-event simulation of a graph streaming processor.

Every block (thread) of every frame is one SimPy process that waits for a
thread slot on the core its scheduler chose, moves its inputs (from on-chip
ring buffers over the interconnect, or from DRAM), computes on the core's
compute unit, executes its real kernel, and writes its output (into a ring
buffer, stalling while the buffer is full, or to DRAM).  A block becomes ready
when the producer blocks it reads are done and its node's weights are on chip
(a DMA prefetcher loads them ahead of use).  Layer mode adds a barrier: a node
starts only when the previous node (in program order) has finished.

If the event queue runs dry while blocks remain, the buffers have deadlocked
(every thread that could free space waits for space itself); the engine then
spills the longest-stalled producer block to DRAM and goes on.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
import simpy

from ..errors import GspsimError
from ..hardware.config import HardwareConfig
from ..lowering.tasks import TaskGraph
from ..scheduling.base import Scheduler
from .buffers import BufferPlan, plan_buffers, weight_budget
from .cost_model import CostModel
from .executor import KernelExecutor
from .memory import BandwidthChannel, RingBuffer
from .options import SimOptions


class EngineDeadlock(GspsimError):
    """The simulation stopped with blocks left and nothing that a spill could resolve."""


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
    frame_end_cycles: list[float] = field(default_factory=list)
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
    nodes: list[NodeStats] = field(default_factory=list)
    buffer_high_water: dict[str, int] = field(default_factory=dict)
    buffer_capacity: dict[str, int] = field(default_factory=dict)
    deadlock_spills: int = 0
    block_start: Optional[np.ndarray] = None
    block_end: Optional[np.ndarray] = None
    block_core: Optional[np.ndarray] = None
    outputs: list[dict[str, np.ndarray]] = field(default_factory=list)
    dram_transfers: list[tuple[float, float, int]] = field(default_factory=list)
    buffer_levels: dict[str, list[tuple[float, int]]] = field(default_factory=dict)


class _Engine:
    """One simulation run (internal; use :func:`simulate`)."""

    def __init__(
        self,
        tasks: TaskGraph,
        hw: HardwareConfig,
        options: SimOptions,
        scheduler: Scheduler,
        frame_inputs: Sequence[Mapping[str, np.ndarray]],
    ) -> None:
        self.tasks, self.hw, self.options, self.scheduler = tasks, hw, options, scheduler
        self.env = simpy.Environment()
        self.cost = CostModel.for_run(hw, options.precision)
        self.frames = options.frames
        self.layer_mode = options.mode == "layer"
        nb, nn = len(tasks.blocks), len(tasks.nodes)
        self.nb, self.nn = nb, nn
        self.cores = hw.cores.count
        self.slots = hw.cores.thread_slots
        self.block_cycles = [self.cost.compute_cycles(b.macs, b.vector_ops) for b in tasks.blocks]
        self.plans: Mapping[str, BufferPlan] = plan_buffers(tasks, hw, options.mode, options.ring_depth)
        self.dram = BandwidthChannel(self.cost.dram_bytes_per_cycle, self.cost.dram_latency_cycles)
        self.interconnect = BandwidthChannel(self.cost.interconnect_bytes_per_cycle)
        self.buffers: dict[tuple[int, str], RingBuffer] = {}
        total = nb * self.frames
        self.deps_left = [len(tasks.blocks[g % nb].deps) for g in range(total)]
        self.readers_left = [len(tasks.consumers[g % nb]) for g in range(total)]
        self.spilled = bytearray(total)
        self.placed_core = np.full(total, -1, dtype=np.int64)
        self.t_start = np.zeros(total)
        self.t_end = np.zeros(total)
        self.done_count = 0
        self.finished = bytearray(total)
        self.total = total
        # weights: loaded once per node, streamed per block when they exceed the weight budget
        wb = weight_budget(hw)
        self.weight_streamed = [n.cost.weight_bytes > wb for n in tasks.nodes]
        self.weights_ready = [n.cost.weight_bytes == 0 or self.weight_streamed[n.index] for n in tasks.nodes]
        self.weight_pool = simpy.Container(self.env, capacity=max(1, wb), init=0)
        self.node_frames_left = [self.frames] * nn
        self.node_blocks_left = [len(n.blocks) for n in tasks.nodes] * self.frames
        # layer-mode barrier: sequence position f * nn + n opens when the previous one is done
        self.gate_open = bytearray(self.frames * nn)
        if self.layer_mode:
            self.gate_open[0] = 1
        else:
            self.gate_open = bytearray(b"\x01" * (self.frames * nn))
        # per-core dispatch state
        self.queues: list[list[tuple]] = [[] for _ in range(self.cores)]
        self.queued_cycles_per_core = [0.0] * self.cores
        self.running_per_core = [0] * self.cores
        self.alu_free = [0.0] * self.cores
        #: compute cycles of dispatched blocks that have not reached the compute unit yet
        self.pending_cycles = [0.0] * self.cores
        self.seq = 0
        self.stalled: dict[int, tuple[float, simpy.events.Event]] = {}
        self.stats = RunStats(
            busy=[[] for _ in range(self.cores)],
            stalls=[[] for _ in range(self.cores)],
            nodes=[NodeStats() for _ in range(nn)],
            frame_end_cycles=[0.0] * self.frames,
        )
        self.executors = [KernelExecutor(tasks, x) for x in frame_inputs] if options.execute else []
        self.frame_blocks_left = [nb] * self.frames
        scheduler.prepare(tasks, hw, self.block_cycles)

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

    def block_core(self, block: int) -> int:
        return int(self.placed_core[block])

    # --- readiness and dispatch ---------------------------------------------------------------
    def _maybe_ready(self, g: int) -> None:
        b = g % self.nb
        f = g // self.nb
        node = self.tasks.blocks[b].node
        if self.deps_left[g] or not self.weights_ready[node] or not self.gate_open[f * self.nn + node]:
            return
        self.deps_left[g] = -1  # marks "queued" so it is never queued twice
        block = self.tasks.blocks[b]
        core = int(self.scheduler.assign(block, self))
        if not 0 <= core < self.cores:
            raise GspsimError(f"scheduler '{self.scheduler.name}' assigned block {b} to core {core} (chip has {self.cores})")
        self.seq += 1
        heapq.heappush(self.queues[core], (self.scheduler.priority(block), f, self.seq, g))
        self.queued_cycles_per_core[core] += self.block_cycles[b]
        self._dispatch(core)

    def _dispatch(self, core: int) -> None:
        queue = self.queues[core]
        while queue and self.running_per_core[core] < self.slots:
            *_, g = heapq.heappop(queue)
            cycles = self.block_cycles[g % self.nb]
            self.queued_cycles_per_core[core] -= cycles
            self.pending_cycles[core] += cycles
            self.running_per_core[core] += 1
            self.placed_core[g] = core
            self.env.process(self._run_block(g, core))

    def _open_node(self, f: int, n: int) -> None:
        """Layer mode: let node n of frame f start."""
        self.gate_open[f * self.nn + n] = 1
        for b in self.tasks.nodes[n].blocks:
            self._maybe_ready(f * self.nb + b)

    # --- weights --------------------------------------------------------------------------------
    def _prefetch_weights(self):
        """DMA: load each node's weights, in program order, as weight memory frees up."""
        inflight = simpy.Resource(self.env, capacity=self.hw.dma.engines)
        for node in self.tasks.nodes:
            nbytes = node.cost.weight_bytes
            if nbytes == 0 or self.weight_streamed[node.index]:
                continue
            yield self.weight_pool.put(nbytes)
            self.env.process(self._load_weights(node.index, nbytes, inflight))

    def _load_weights(self, n: int, nbytes: int, inflight: simpy.Resource):
        with inflight.request() as req:
            yield req
            start = self.env.now
            arrive = self.dram.reserve(self.env.now, nbytes)
            yield self.env.timeout(arrive - self.env.now)
        self.stats.dram_read["weights"] += nbytes
        joules = nbytes * (self.cost.dram_j_per_byte + self.cost.sram_j_per_byte)
        self.stats.energy["dram"] += nbytes * self.cost.dram_j_per_byte
        self.stats.energy["sram"] += nbytes * self.cost.sram_j_per_byte
        self.stats.sram_bytes += nbytes
        self.stats.nodes[n].dram_bytes += nbytes
        self.stats.nodes[n].energy_j += joules
        self.stats.energy_events.append((start, self.env.now, joules))
        self.weights_ready[n] = True
        for f in range(self.frames):
            for b in self.tasks.nodes[n].blocks:
                self._maybe_ready(f * self.nb + b)

    # --- one block --------------------------------------------------------------------------
    def _buffer(self, f: int, tensor: str) -> RingBuffer:
        key = (f, tensor)
        buf = self.buffers.get(key)
        if buf is None:
            buf = self.buffers[key] = RingBuffer.create(self.env, tensor, self.plans[tensor].capacity)
        return buf

    def _run_block(self, g: int, core: int):
        env, tasks, stats = self.env, self.tasks, self.stats
        f, b = divmod(g, self.nb)
        block = tasks.blocks[b]
        node = tasks.nodes[block.node]
        nstats = stats.nodes[block.node]
        t0 = env.now
        self.t_start[g] = t0
        # 1. inputs: from ring buffers over the interconnect, or from DRAM
        dram_in = onchip_in = 0
        if not node.is_view:
            for inp in block.inputs:
                plan = self.plans.get(inp.tensor)
                spilled = any(self.spilled[f * self.nb + p] for p in inp.producer_blocks)
                if plan is not None and plan.on_chip and not spilled:
                    onchip_in += inp.nbytes
                    continue
                dram_in += inp.nbytes
                stats.dram_read["spill" if plan is not None and (plan.on_chip or plan.spill) else "activations"] += inp.nbytes
        weight_dram = node.cost.weight_bytes if self.weight_streamed[block.node] else 0
        stats.dram_read["weights"] += weight_dram
        arrive = max(self.dram.reserve(env.now, dram_in + weight_dram), self.interconnect.reserve(env.now, onchip_in))
        if arrive > env.now:
            yield env.timeout(arrive - env.now)
        # 2. compute on this core's compute unit
        cycles = self.block_cycles[b]
        self.pending_cycles[core] -= cycles
        if cycles:
            start = max(env.now, self.alu_free[core])
            end = start + cycles
            self.alu_free[core] = end
            stats.busy[core].append((start, end))
            yield env.timeout(end - env.now)
        if self.executors:
            self.executors[f].run_block(node, block)
        # 3. outputs: into ring buffers (backpressure) and/or DRAM
        dram_out = onchip_out = 0
        if node.is_view:
            for name in (o for o in node.op.outputs if o and self.plans[o].graph_output):
                dram_out += tasks.output_bytes(block, name)
                stats.dram_write["activations"] += tasks.output_bytes(block, name)
        else:
            for name in (o for o in node.op.outputs if o):
                plan = self.plans[name]
                nbytes = tasks.output_bytes(block, name)
                if plan.graph_output:
                    dram_out += nbytes
                    stats.dram_write["activations"] += nbytes
                if plan.on_chip:
                    buf = self._buffer(f, name)
                    put = buf.put(nbytes)
                    if not put.triggered:
                        spill = env.event()
                        stall_start = env.now
                        self.stalled[g] = (stall_start, spill)
                        yield put | spill
                        del self.stalled[g]
                        stats.stalls[core].append((stall_start, env.now))
                        if not put.triggered:
                            put.cancel()
                            self.spilled[g] = 1
                            stats.deadlock_spills += 1
                    if not self.spilled[g]:
                        buf.note_level()
                        onchip_out += nbytes
                        continue
                    dram_out += nbytes
                    stats.dram_write["spill"] += nbytes
                elif plan.readers and not plan.graph_output:
                    dram_out += nbytes
                    stats.dram_write["spill" if plan.spill else "activations"] += nbytes
        arrive = max(self.dram.reserve(env.now, dram_out), self.interconnect.reserve(env.now, onchip_out))
        if arrive > env.now:
            yield env.timeout(arrive - env.now)
        # 4. energy and traffic
        dram_bytes = dram_in + weight_dram + dram_out
        ic_bytes = onchip_in + onchip_out
        sram = 0 if node.is_view else block.in_bytes + tasks.output_bytes(block, node.op.outputs[0]) + node.cost.weight_bytes
        e_compute = self.cost.compute_energy(block.macs, block.vector_ops)
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
        self._finish(g, f, b, block)
        self._dispatch(core)

    def _finish(self, g: int, f: int, b: int, block) -> None:
        tasks = self.tasks
        base = f * self.nb
        for inp in block.inputs:
            plan = self.plans.get(inp.tensor)
            for p in inp.producer_blocks:
                gp = base + p
                self.readers_left[gp] -= 1
                if self.readers_left[gp] == 0 and plan is not None and plan.on_chip and not self.spilled[gp]:
                    self._buffer(f, inp.tensor).free(tasks.output_bytes(tasks.blocks[p], inp.tensor))
        for c in tasks.consumers[b]:
            gc = base + c
            self.deps_left[gc] -= 1
            if self.deps_left[gc] == 0:
                self._maybe_ready(gc)
        self.done_count += 1
        self.finished[g] = 1
        self.frame_blocks_left[f] -= 1
        if self.frame_blocks_left[f] == 0:
            self.stats.frame_end_cycles[f] = self.env.now
        n = block.node
        key = f * self.nn + n
        self.node_blocks_left[key] -= 1
        if self.node_blocks_left[key] == 0:
            self.node_frames_left[n] -= 1
            if self.node_frames_left[n] == 0 and not self.weight_streamed[n] and tasks.nodes[n].cost.weight_bytes:
                self.weight_pool.get(tasks.nodes[n].cost.weight_bytes)
            if self.layer_mode and key + 1 < self.frames * self.nn:
                nf, nn_ = divmod(key + 1, self.nn)
                self._open_node(nf, nn_)

    # --- the run ------------------------------------------------------------------------------
    def run(self) -> RunStats:
        self.env.process(self._prefetch_weights())
        for f in range(self.frames):
            for g in range(f * self.nb, (f + 1) * self.nb):
                if self.deps_left[g] == 0:
                    self._maybe_ready(g)
        while True:
            self.env.run()
            if self.done_count == self.total:
                break
            if not self.stalled:
                left = [g for g in range(self.total) if not self.finished[g]][:5]
                names = ", ".join(f"'{self.tasks.nodes[self.tasks.blocks[g % self.nb].node].op.name}'" for g in left)
                raise EngineDeadlock(
                    f"simulation stalled with {self.total - self.done_count} block(s) left and no buffer to spill "
                    f"(waiting nodes: {names})"
                )
            g = min(self.stalled, key=lambda k: (self.stalled[k][0], k))
            self.stalled[g][1].succeed()
        stats = self.stats
        stats.latency_cycles = float(self.env.now)
        stats.energy["static"] = self.cost.static_w * stats.latency_cycles / self.cost.clock_hz
        stats.buffer_high_water = {}
        stats.buffer_capacity = {}
        for (f, name), buf in self.buffers.items():
            stats.buffer_high_water[name] = max(stats.buffer_high_water.get(name, 0), buf.high_water)
            stats.buffer_capacity[name] = buf.capacity
            stats.buffer_levels[name if self.frames == 1 else f"{name}[frame {f}]"] = buf.levels
        stats.dram_transfers = self.dram.transfers
        stats.block_start, stats.block_end, stats.block_core = self.t_start, self.t_end, self.placed_core
        stats.outputs = [ex.outputs() for ex in self.executors]
        return stats


def simulate_tasks(
    tasks: TaskGraph,
    hw: HardwareConfig,
    options: SimOptions,
    scheduler: Scheduler,
    frame_inputs: Sequence[Mapping[str, np.ndarray]],
) -> tuple[RunStats, Sequence[int]]:
    """Run the simulation; returns the raw statistics and each block's compute cycles."""
    engine = _Engine(tasks, hw, options, scheduler, frame_inputs)
    return engine.run(), engine.block_cycles
