"""The compiled engine: the fast engine's event loop in Numba, for one model with a built-in scheduler.

The Python fast engine (:mod:`gspsim.engine.fast`) spends about 35 µs of
interpreter time per tile.  This engine plays out the same rules
(:mod:`.loop`) over the program's flat tables (:mod:`.tables`) at a few
hundred nanoseconds a tile, and fills the same :class:`~gspsim.engine.records.Records`.

It takes a run when the rules it needs are the engine's own
(:func:`compiled_rule`): one model on the chip (any number of frames), and a
scheduler whose priority is static (:func:`~gspsim.scheduling.base.static_priority`)
and whose placement is one of the built-in rules
(:func:`~gspsim.scheduling.base.assign_rule`): depth-first, greedy, HEFT,
critical-path, layer and round-robin.  Any other run -- several models, the
random or pipeline scheduler, a user's scheduler -- goes to the Python loop,
which calls the scheduler object as before.

Two things differ from the Python loop, neither in the records: the kernels
of a run that executes them run after the loop, band by band in the order the
loop completed the bands (their values never change a timing), and the
progress callback is called when the loop has finished, with the same
``(done, total)`` calls.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from ...hardware.config import HardwareConfig
from ...hardware.cost_model import CostModel
from ...lowering.memory import buffer_budget_bytes, weight_capacity_bytes
from ...scheduling.base import Scheduler
from ..executor import KernelExecutor
from ..memory import WeightQueue, resident_models, weight_load_order
from ..options import SimOptions
from ..program import READ_KINDS, WRITE_KINDS, Program
from ..rules import compiled_rule
from ..records import DEADLOCK_SPILL, EngineDeadlock, EngineRun, Records, Spill, Workload, order_jobs, progress_every
from . import loop
from .tables import FlatProgram, build_flat_program

def flat_program(program: Program) -> FlatProgram:
    """The program's flat tables, built on first use and kept with the program (``Program.derived``)."""
    return program.derived("engine.compiled.tables", build_flat_program)


@dataclass(frozen=True)
class TileFields:
    """Every tile's fields as arrays, under a ``Block``'s names: a built-in static priority written with
    arithmetic on the block's fields gives every tile's priority at once when called on this."""

    id: np.ndarray
    node: np.ndarray
    band: np.ndarray
    index: np.ndarray
    band_index: np.ndarray
    home_core: np.ndarray
    weight_bytes: np.ndarray


def static_ranks(scheduler: Scheduler, program: Program, flat: FlatProgram) -> np.ndarray:
    """Each tile's place among the distinct static priorities of ``scheduler`` (``priority_ranks``).

    A built-in scheduler's priority (gspsim.scheduling) is first called once on :class:`TileFields`: when it
    gives numbers or a tuple of arrays of numbers, the ranks come from one lexicographic sort of them; a
    test holds this to the per-block ranks.  Anything else (a user's priority, or one that indexes a
    Python list by the block's id) is asked block by block.
    """
    if type(scheduler).priority.__module__.startswith("gspsim.scheduling."):
        fields = TileFields(np.arange(flat.tiles, dtype=np.int64), flat.node, flat.band, flat.index, flat.band_index,
                            flat.home_core, flat.weight_bytes)
        try:
            key = scheduler.priority(fields)  # type: ignore[arg-type]
            parts = [np.broadcast_to(np.asarray(k), (flat.tiles,)) for k in (key if isinstance(key, tuple) else (key,))]
        except (TypeError, ValueError, IndexError):
            parts = []
        if parts and all(p.dtype.kind in "iuf" for p in parts):
            order = np.lexsort(parts[::-1]) if flat.tiles else np.zeros(0, dtype=np.int64)
            new = np.zeros(len(order), dtype=bool)
            for part in parts:
                ordered = part[order]
                new[1:] |= ordered[1:] != ordered[:-1]
            ranks = np.empty(flat.tiles, dtype=np.int64)
            ranks[order] = np.cumsum(new)
            return ranks
    return priority_ranks([scheduler.priority(b) for b in program.tasks.blocks])


def priority_ranks(priorities: Sequence[object]) -> np.ndarray:
    """Each tile's place among the distinct priorities in ascending order (equal priorities, equal ranks)."""
    order = sorted(range(len(priorities)), key=priorities.__getitem__)
    ranks = np.empty(len(priorities), dtype=np.int64)
    rank, previous = -1, object()
    for t in order:
        p = priorities[t]
        if rank < 0 or p != previous:
            rank += 1
            previous = p
        ranks[t] = rank
    return ranks


class CompiledEngine:
    """One run of the compiled loop (use :func:`gspsim.engine.run_engine`)."""

    name = "compiled"

    def __init__(self, workloads: Sequence[Workload], hw: HardwareConfig, options: SimOptions,
                 progress: Optional[Callable[[int, int], None]] = None) -> None:
        self.workloads = workloads = tuple(workloads)
        rule = compiled_rule(workloads)
        if rule is None:
            raise ValueError("the compiled engine runs one model with a built-in scheduler")
        self.hw, self.options, self.progress = hw, options, progress
        wl = workloads[0]
        program = wl.program
        scheduler = wl.scheduler
        scheduler.prepare(program.tasks, hw, program.tile_tables.cycles)  # the array: no per-tile tuple
        self.flat = flat = flat_program(program)
        self.jobs = jobs = order_jobs(workloads)
        cost = CostModel(hw)
        ranks = static_ranks(scheduler, program, flat)
        self.model = loop.ModelTables(
            flat.tiles, flat.bands, flat.nodes, flat.slices, flat.cycles, flat.node, flat.band, flat.band_index,
            flat.index, flat.weight_bytes, flat.home_core, flat.previous, flat.staging_bytes, flat.staging_reuse,
            flat.dram_write_bytes, flat.dram_write_kind, flat.slice_id, flat.write_ptr, flat.write_ring,
            flat.write_bytes, flat.read_ptr, flat.read_id, flat.entry_ptr, flat.entry_tile, flat.entry_share,
            flat.entry_reused, flat.stream_ptr, flat.stream_id, flat.row_ptr, flat.row_bytes, flat.row_kind,
            flat.band_tile_ptr, flat.band_tile, flat.band_deps, flat.band_node, flat.consumer_ptr, flat.consumer,
            flat.release_ptr, flat.release, flat.run_ptr, flat.run_slice, flat.run_first, flat.run_end, flat.roots,
            flat.nbands, flat.stack_of, flat.holds, flat.has_weights, flat.ring_capacity, flat.ring_band_ptr,
            flat.ring_band_bytes, flat.ring_band_readers, flat.ring_band_ring, flat.ring_band_band,
            flat.stack_bytes, flat.stack_bands, ranks,
        )
        weight_capacity = max(1, weight_capacity_bytes(hw, options.buffer_budget))
        resident = resident_models(workloads, weight_capacity)[0]
        plan = program.plan
        weight_queue = WeightQueue(weight_load_order(workloads, jobs, [resident]),
                                   lambda w, node: plan.stack_of[node], len(jobs))
        queue = weight_queue.entries
        job_runs = weight_queue.job_runs
        job_run_ptr = np.zeros(len(jobs) + 1, dtype=np.int64)
        np.cumsum([len(runs) for runs in job_runs], out=job_run_ptr[1:])
        slice_of = flat.slice_ids
        holds = flat.holds
        frames = len(jobs)
        job_frame = np.asarray([job.frame for job in jobs], dtype=np.int64)
        frame_job = np.empty(frames, dtype=np.int64)
        frame_job[job_frame] = np.arange(frames, dtype=np.int64)
        self.params = loop.RunParams(
            job_frame, frame_job, np.asarray([job.release for job in jobs], dtype=np.float64), bool(resident),
            options.mode == "layer", rule, hw.cores.count, hw.cores.thread_slots, bool(options.execute),
            float(cost.dram_bytes_per_cycle), float(cost.dram_latency_cycles), float(cost.onchip_bytes_per_cycle),
            weight_capacity, hw.dma.engines, max(1, buffer_budget_bytes(hw, options.buffer_budget)),
            np.asarray([-1 if job is None else job for job, _, _ in queue], dtype=np.int64),
            np.asarray([load.node for _, _, load in queue], dtype=np.int64),
            np.asarray([load.nbytes for _, _, load in queue], dtype=np.int64),
            np.asarray([-1 if job is None or holds[load.node] else slice_of[(load.node, load.group, load.band)]
                        for job, _, load in queue], dtype=np.int64),
            np.asarray(weight_queue.start, dtype=np.int64), np.asarray(weight_queue.end, dtype=np.int64),
            np.asarray([-1 if job is None else job for job in weight_queue.job], dtype=np.int64),
            np.asarray(weight_queue.stack, dtype=np.int64), job_run_ptr,
            np.asarray([r for runs in job_runs for r in runs], dtype=np.int64),
        )
        self.executors = [KernelExecutor(program.tasks, wl.inputs[job.frame]) if options.execute else None
                          for job in jobs]

    def run(self) -> EngineRun:
        """Play out the run in the compiled loop; the records."""
        (status, now, core, issue, compute, end, dram_b, onchip_b, local_b, stall_since, channel, ring_high,
         buffer_high, dram_read, dram_write, frame_end, stalls, spills, spans, weight_loads, transfers, levels,
         band_order, done) = loop.run_loop(self.model, self.params)
        if status == loop.STALLED:
            raise EngineDeadlock(self._stuck(end, core, int(done)))
        wl = self.workloads[0]
        tasks = wl.program.tasks
        if self.executors[0] is not None:  # the kernels, band by band in the order the loop completed them
            bands = self.flat.bands
            for gb in band_order.tolist():
                band = tasks.bands[gb % bands]
                self.executors[gb // bands].run_band(tasks.nodes[band.node], band)
        rec = Records.empty(self.jobs, self.workloads, self.hw.cores.count)
        rec.core, rec.issue, rec.compute, rec.end = core, issue, compute, end
        rec.dram_bytes, rec.onchip_bytes, rec.local_bytes = dram_b, onchip_b, local_b
        rec.dram_read = dict(zip(READ_KINDS, dram_read.tolist()))
        rec.dram_write = dict(zip(WRITE_KINDS, dram_write.tolist()))
        loads = weight_loads.reshape(-1, 4)
        rec.weight_loads = [(start, stop, int(nbytes), 0, int(node)) for start, stop, nbytes, node in loads.tolist()]
        rows = transfers.reshape(-1, 3)
        flat_transfers: list[float] = [0.0] * len(transfers)
        flat_transfers[0::3] = rows[:, 0].tolist()
        flat_transfers[1::3] = rows[:, 1].tolist()
        flat_transfers[2::3] = rows[:, 2].astype(np.int64).tolist()
        rec.buffer_high_water = int(buffer_high)
        for c, start, stop in stalls.reshape(-1, 3).tolist():
            rec.stalls[int(c)].append((start, stop))
        rec.spills = [Spill(cycle, 0, int(node), int(band), int(frame), DEADLOCK_SPILL)
                      for cycle, node, band, frame in spills.reshape(-1, 4).tolist()]
        rec.stack_spans = [(0, int(s), start, stop) for s, start, stop in spans.reshape(-1, 3).tolist()]
        rec.frame_end = [frame_end.tolist()]
        # Records.finish, with the loop's channels and line buffers
        rec.latency_cycles = float(now)
        for c, since in enumerate(stall_since.tolist()):
            if since == since:  # not NaN: a stall still open
                rec.stalls[c].append((since, now))
        rec.dram_transfers = flat_transfers
        rec.dram_busy_cycles = float(channel[0, 1])
        rec.onchip_busy_cycles = float(channel[1, 1])
        level_rows = levels.reshape(-1, 3)
        ring_of = level_rows[:, 0].astype(np.int64)
        for r, ring in enumerate(wl.program.rings):
            history = array("d")
            history.frombytes(np.ascontiguousarray(level_rows[ring_of == r, 1:]).tobytes())
            rec.ring_levels[ring.tensor] = history
            rec.ring_capacity[ring.tensor] = ring.capacity
            rec.ring_high_water[ring.tensor] = int(ring_high[r])
        for job, executor in zip(self.jobs, self.executors, strict=True):
            if executor is not None:
                rec.outputs[job.workload][job.frame] = executor.outputs()
        if self.progress is not None:
            total = len(core)
            every = progress_every(total)
            for count in range(every, total + 1, every):
                self.progress(count, total)
            if total % every:
                self.progress(total, total)
        return EngineRun(self.workloads, rec, self.name)

    def _stuck(self, end: np.ndarray, core: np.ndarray, done: int) -> str:
        """The Python loop's message for a run that stalled with nothing to spill."""
        tasks = self.workloads[0].program.tasks
        left = np.flatnonzero((end == 0) & (core < 0))[:5].tolist()
        names = [f"'{tasks.nodes[int(self.flat.node[g % self.flat.tiles])].op.name}'" for g in left]
        return (f"simulation stalled with {len(end) - done} tile(s) left and nothing to spill "
                f"(waiting nodes: {', '.join(names)})")
