"""What a run hands to the results stage: raw records, no totals.

Both engines fill the same records; :mod:`gspsim.results.build` turns them into
figures (energy, utilization, per-node statistics, power over time).  Two
engines that follow the same rules fill identical records, which the
equivalence test checks through the JSON result.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

import numpy as np

from ..errors import GspsimError
from ..scheduling.base import Scheduler
from .program import READ_KINDS, WRITE_KINDS, Program

if TYPE_CHECKING:
    from .executor import KernelExecutor
    from .memory import BandwidthChannel, LineBuffer


@dataclass(frozen=True)
class Workload:
    """One model on the chip: its compiled program, its scheduler, and its frames."""

    program: Program
    scheduler: Scheduler
    #: cycle at which each frame's inputs arrive (one entry per frame)
    release_cycles: tuple[float, ...]
    #: graph inputs of each frame (empty when the kernels do not run)
    inputs: tuple[Mapping[str, np.ndarray], ...] = ()

    @property
    def frames(self) -> int:
        return len(self.release_cycles)

    @property
    def tasks(self):
        return self.program.tasks


@dataclass(frozen=True)
class Job:
    """One frame of one model; its tiles are global ids ``offset .. offset + tiles - 1``."""

    workload: int
    frame: int
    offset: int
    band_offset: int
    release: float


def order_jobs(workloads: Sequence[Workload]) -> list[Job]:
    """Frames of every model in arrival order (ties: model order, then frame): the global numbering of tiles."""
    order = sorted((t, w, f) for w, wl in enumerate(workloads) for f, t in enumerate(wl.release_cycles))
    jobs, offset, band_offset = [], 0, 0
    for t, w, f in order:
        jobs.append(Job(w, f, offset, band_offset, float(t)))
        offset += len(workloads[w].program.tasks.blocks)
        band_offset += len(workloads[w].program.tasks.bands)
    return jobs


class EngineDeadlock(GspsimError):
    """The run stopped with tiles left and nothing a spill could resolve."""


#: why a band spilled to DRAM when the line buffers deadlocked
DEADLOCK_SPILL = "deadlock: every tile that could free line-buffer room waits for room itself"


@dataclass
class Spill:
    """A band whose output went to DRAM to break a deadlock (never planned; reported with its reason)."""

    cycle: float
    workload: int
    node: int
    band: int
    frame: int
    reason: str


@dataclass
class Records:
    """Raw records of one run (see the module docstring)."""

    jobs: list[Job]
    #: per global tile
    core: np.ndarray
    issue: np.ndarray
    compute: np.ndarray
    end: np.ndarray
    #: per global tile: bytes it moved: from/to DRAM, over the interconnect, within its core's local memory
    dram_bytes: np.ndarray
    onchip_bytes: np.ndarray
    local_bytes: np.ndarray
    dram_read: dict[str, int] = field(default_factory=lambda: dict.fromkeys(READ_KINDS, 0))
    dram_write: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WRITE_KINDS, 0))
    #: per weight load: (start, end, bytes, workload, node)
    weight_loads: list[tuple[float, float, int, int, int]] = field(default_factory=list)
    #: every DRAM transfer: (start, end, bytes), flat
    dram_transfers: list[float] = field(default_factory=list)
    dram_busy_cycles: float = 0.0
    onchip_busy_cycles: float = 0.0
    #: per line buffer (label): (cycle, bytes held) after every change, capacity and high water
    ring_levels: dict[str, array] = field(default_factory=dict)
    ring_capacity: dict[str, int] = field(default_factory=dict)
    ring_high_water: dict[str, int] = field(default_factory=dict)
    #: most line-buffer bytes allocated at once (all stacks of all models)
    buffer_high_water: int = 0
    #: per core: (start, end) of intervals where it had ready threads but every one waited for buffer room
    stalls: list[list[tuple[float, float]]] = field(default_factory=list)
    spills: list[Spill] = field(default_factory=list)
    #: (workload, stack, open cycle, close cycle) of every time a stack held its buffers
    stack_spans: list[tuple[int, int, float, float]] = field(default_factory=list)
    #: per workload, per frame: cycle its last tile finished
    frame_end: list[list[float]] = field(default_factory=list)
    #: per workload, per frame: graph outputs (empty when the kernels did not run)
    outputs: list[list[dict[str, np.ndarray]]] = field(default_factory=list)
    latency_cycles: float = 0.0

    @staticmethod
    def empty(jobs: list[Job], workloads: Sequence[Workload], cores: int) -> "Records":
        total = sum(len(workloads[j.workload].program.tasks.blocks) for j in jobs)
        return Records(
            jobs=jobs,
            core=np.full(total, -1, dtype=np.int64),
            issue=np.zeros(total), compute=np.zeros(total), end=np.zeros(total),
            dram_bytes=np.zeros(total, dtype=np.int64), onchip_bytes=np.zeros(total, dtype=np.int64),
            local_bytes=np.zeros(total, dtype=np.int64),
            stalls=[[] for _ in range(cores)],
            frame_end=[[0.0] * w.frames for w in workloads],
            outputs=[[{} for _ in range(w.frames)] for w in workloads],
        )

    def finish(self, now: float, stall_since: Sequence[Optional[float]], dram: "BandwidthChannel",
               onchip: "BandwidthChannel", rings: Sequence[Sequence["LineBuffer"]],
               executors: Sequence[Optional["KernelExecutor"]]) -> None:
        """Close the run at cycle ``now``: open stalls end, the channels' and line buffers' histories and the
        executed frames' outputs are taken over (the same steps for both engines)."""
        self.latency_cycles = float(now)
        for core, since in enumerate(stall_since):
            if since is not None:
                self.stalls[core].append((since, now))
        self.dram_transfers = dram.transfers
        self.dram_busy_cycles = dram.busy_cycles
        self.onchip_busy_cycles = onchip.busy_cycles
        for model_rings in rings:
            for ring in model_rings:
                self.ring_levels[ring.label] = ring.levels
                self.ring_capacity[ring.label] = ring.capacity
                self.ring_high_water[ring.label] = ring.high_water
        for job, executor in zip(self.jobs, executors, strict=True):
            if executor is not None:
                self.outputs[job.workload][job.frame] = executor.outputs()


@dataclass(frozen=True)
class EngineRun:
    """A finished run: its workloads, its records and which engine produced them."""

    workloads: tuple[Workload, ...]
    records: Records
    engine: str

    @property
    def spills(self) -> int:
        return len(self.records.spills)

    def block_cycles(self, w: int) -> Sequence[int]:
        return self.workloads[w].program.cycles


def tile_key(priority: object, ready_cycle: float, job: int, tile: int) -> tuple:
    """The order among ready threads on a core: the scheduler's priority, then readiness, frame and tile."""
    return (priority, ready_cycle, job, tile)


def label(workload: int, tensor: str, many: bool) -> str:
    return f"m{workload}/{tensor}" if many else tensor


def progress_every(total: int) -> int:
    """How many tiles between two progress callbacks (at most 100 per run, counting the last)."""
    return max(1, -(-total // 99))

