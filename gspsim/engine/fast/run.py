"""The fast engine's run: its clock, the hardware scheduler's pass, deadlock spills and the records.

The rules are the reference engine's (:mod:`gspsim.engine.reference`, whose
docstring states them); this module plays them out without a process per
tile.  At each cycle where something happens:

1. every wake-up due at that cycle is handled (:mod:`.events`): it only
   reports -- a frame arrived, a weight load landed, a tile's inputs arrived,
   its compute finished (the compute unit goes at once to the best tile
   waiting for it), its outputs were written;
2. if anything was reported, the scheduler's pass (:meth:`FastEngine._decide`)
   acts on it in the reference's order a-h.  What the pass starts that
   reports at the same cycle (a tile with nothing to wait for) is handled in
   a further round at that cycle, as SimPy would process it before the
   scheduler acts again.

If no wake-up is left with tiles left, the line buffers have deadlocked: the
best blocked tile's band is spilled to DRAM, as in the reference.
"""

from __future__ import annotations

from heapq import heappop
from typing import Callable, Optional, Sequence

from ...hardware.config import HardwareConfig
from ...hardware.cost_model import CostModel
from ...lowering.memory import buffer_budget_bytes, weight_capacity_bytes
from ..executor import KernelExecutor
from ..memory import BandwidthChannel
from ..options import SimOptions
from ..records import EngineDeadlock, EngineRun, Records, Workload, order_jobs, progress_every
from .bands import Bands
from .cores import Cores
from .dispatch import Dispatcher
from .events import COMPUTED, FRAME, INPUTS, LANDED, WRITTEN, EventQueue
from .stacks import StackGate
from .state import RunState
from .tables import ModelTables
from .traffic import Traffic
from .weights import WeightMemory


class FastEngine:
    """One run of the fast engine (use :func:`gspsim.engine.run_engine`); it is also the scheduler's view."""

    name = "python"

    def __init__(self, workloads: Sequence[Workload], hw: HardwareConfig, options: SimOptions,
                 progress: Optional[Callable[[int, int], None]] = None) -> None:
        self.workloads = workloads = tuple(workloads)
        self.hw, self.options = hw, options
        cost = CostModel(hw)
        self.jobs = jobs = order_jobs(workloads)
        self.n_cores = hw.cores.count
        for wl in workloads:
            wl.scheduler.prepare(wl.program.tasks, hw, wl.program.cycles)
        tables = [ModelTables(wl.program) for wl in workloads]
        self.state = st = RunState(workloads, tables, jobs)
        self.rec = rec = Records.empty(jobs, workloads, self.n_cores)
        self.events = EventQueue()
        self.dram = BandwidthChannel(cost.dram_bytes_per_cycle, cost.dram_latency_cycles, record=True)
        self.onchip = BandwidthChannel(cost.onchip_bytes_per_cycle)
        self.cores = Cores(self.n_cores, hw.cores.thread_slots, rec.stalls)
        self.weights = WeightMemory(workloads, tables, jobs, weight_capacity_bytes(hw, options.buffer_budget),
                                    hw.dma.engines, self.dram, rec, self.events)
        self.stacks = StackGate(workloads, jobs, buffer_budget_bytes(hw, options.buffer_budget), rec,
                                options.mode == "layer")
        self.executors = [KernelExecutor(workloads[j.workload].program.tasks, workloads[j.workload].inputs[j.frame])
                          if options.execute else None for j in jobs]
        self.traffic = Traffic(st, rec, self.dram, self.onchip, self.executors)
        self.dispatcher = Dispatcher(st, self.cores, rec)
        self.bands = Bands(workloads, st, rec, self.weights, self.stacks, self.cores, self.dispatcher, self,
                           options.mode == "layer", progress, progress_every(st.total))
        self.stacks.arrived = self.bands.arrived
        self._now = 0.0
        # what the wake-ups report to the scheduler's next pass
        self.dirty = False
        self.arrived_now: list[int] = []
        self.loaded_now: list[int] = []
        self.inputs_in: list[int] = []
        self.computed: list[int] = []
        self.written: list[int] = []
        #: tiles started in this pass with nothing to wait for: they report in the next round at this cycle
        self.soon: list[int] = []

    # --- what a scheduler may read (gspsim.scheduling.base.EngineView) ----------------------------
    @property
    def now(self) -> float:
        return self._now

    def queued(self, core: int) -> int:
        return self.dispatcher.queued(core)

    def running(self, core: int) -> int:
        return self.cores.slots_used[core]

    def free_at(self, core: int) -> float:
        alu, now = self.cores.alu_free[core], self._now
        return (alu if alu > now else now) + self.cores.pending[core]

    def queued_cycles(self, core: int) -> float:
        return self.cores.queued_cycles[core]

    def block_core(self, block: int) -> int:
        return self.state.core[self.bands.view_base + block]

    def earliest_free_core(self, cores: int) -> int:
        """:func:`gspsim.scheduling.builtin.earliest_free_core` over the engine's own tables."""
        return self.cores.earliest_free(self._now, cores)

    # --- the run ------------------------------------------------------------------------------------
    def run(self) -> EngineRun:
        """Play out the run (module docstring); the records."""
        events = self.events
        heap = events.heap
        for j, job in enumerate(self.jobs):
            events.at(job.release if job.release > 0 else 0.0, FRAME, j)
        now = 0.0
        while True:
            self._now = now
            if self.soon or (heap and heap[0][0] == now):
                self._wake(now)
            if self.dirty:
                self.dirty = False
                self._decide(now)
                if self.dirty or self.soon or (heap and heap[0][0] == now):
                    continue
            if not heap:
                if self.bands.done == self.state.total:
                    break
                if not self._break_deadlock(now):
                    raise EngineDeadlock(self._stuck())
                continue
            now = heap[0][0]
        self._finish(now)
        return EngineRun(self.workloads, self.rec, self.name)

    def _wake(self, now: float) -> None:
        """Handle every wake-up due at ``now`` (step 1 of the module docstring): each only reports."""
        self.dirty = True
        soon = self.soon
        if soon:
            self.soon = []
            for g in soon:
                self._inputs_arrived(g, now)
        st, cores = self.state, self.cores
        heap = self.events.heap
        while heap and heap[0][0] == now:
            _, kind, ident = heappop(heap)
            if kind == COMPUTED:
                core = st.core[ident]
                nxt = cores.release(core)
                if nxt >= 0:
                    self._start_compute(nxt, core, now)
                self.computed.append(ident)
            elif kind == WRITTEN:
                cores.release_slot(st.core[ident])
                self.written.append(ident)
            elif kind == INPUTS:
                self._inputs_arrived(ident, now)
            elif kind == LANDED:
                self.weights.land(ident)
                self.loaded_now.append(ident)
            else:
                self.arrived_now.append(ident)

    def _inputs_arrived(self, g: int, now: float) -> None:
        if self.state.cycles[g]:
            self.inputs_in.append(g)
        else:
            del self.state.keys[g]
            self.state.compute[g] = now
            self.computed.append(g)

    def _start_compute(self, g: int, core: int, now: float) -> None:
        cycles = self.state.cycles[g]
        self.state.compute[g] = now
        self.cores.start_compute(core, now, cycles)
        self.events.at(now + cycles, COMPUTED, g)

    def _decide(self, now: float) -> None:
        """The hardware scheduler's pass, steps a-h of the reference engine."""
        bands, st = self.bands, self.state
        if self.written:
            written, self.written = sorted(self.written), []
            for g in written:
                bands.complete(g, now)
        if self.arrived_now:
            arrived, self.arrived_now = sorted(self.arrived_now), []
            for j in arrived:
                bands.arrive(j)
                self.weights.arrive(j)
        if self.loaded_now:
            loaded, self.loaded_now = sorted(self.loaded_now), []
            info, slices = self.weights.load_info, self.weights.load_slice
            for load in loaded:
                if slices[load] is not None:
                    bands.slice_landed(info[load][0], slices[load])
        self.weights.start_loads(now, self.stacks.waits_to_reopen, self.stacks.changes)
        self.stacks.open_waiting(now)
        bands.make_ready(now)
        self.dispatcher.dispatch(now, self._issue)
        if self.computed:
            computed, self.computed = sorted(self.computed), []
            traffic, cores, events = self.traffic, self.cores, self.events
            for g in computed:
                j, t = st.locate(g)
                end = traffic.send(j, t, g, now)
                if end > now:
                    events.at(now + (end - now), WRITTEN, g)
                else:
                    cores.release_slot(st.core[g])
                    self.written.append(g)
                    self.dirty = True
        if self.inputs_in:
            keys = st.keys
            keyed = sorted([keys.pop(g) for g in self.inputs_in])
            self.inputs_in = []
            cores = self.cores
            for key in keyed:
                g = key[-1]
                core = st.core[g]
                if cores.request(core, key):
                    self._start_compute(g, core, now)

    def _issue(self, g: int, core: int, now: float) -> None:
        """Start tile ``g`` on ``core``: a thread slot, and every input transfer queued now."""
        st = self.state
        j, t = st.locate(g)
        self.cores.occupy(core, st.cycles[g])
        st.core[g] = core
        st.issue[g] = now
        arrive = self.traffic.issue(j, t, g, core, now)
        if arrive > now:
            self.events.at(now + (arrive - now), INPUTS, g)
        else:
            self.soon.append(g)

    # --- deadlocks ------------------------------------------------------------------------------------------
    def _break_deadlock(self, now: float) -> bool:
        """Spill the best queued tile blocked by line-buffer room and start it, else close the stacks kept open
        for frames behind; False if there is neither."""
        spilled = self.dispatcher.spill_best(now)
        if spilled is None:
            if self.stacks.close_kept(now):  # the reference's second remedy
                self.dirty = True
                return True
            return False
        self._issue(spilled[0], spilled[1], now)
        return True

    def _stuck(self) -> str:
        st = self.state
        left = [g for g in range(st.total) if st.end[g] == 0 and st.core[g] < 0][:5]
        names = []
        for g in left:
            j, t = st.locate(g)
            tb = st.job_tables[j]
            names.append(f"'{tb.tasks.nodes[tb.node[t]].op.name}'")
        return (f"simulation stalled with {st.total - self.bands.done} tile(s) left and nothing to spill "
                f"(waiting nodes: {', '.join(names)})")

    # --- end of run ---------------------------------------------------------------------------------------
    def _finish(self, now: float) -> None:
        self.state.fill(self.rec)
        self.rec.finish(now, self.cores.stall_since, self.dram, self.onchip, self.state.rings, self.executors)
