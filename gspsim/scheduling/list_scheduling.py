"""List-scheduling strategies that rank blocks by the graph below them: greedy, HEFT, critical path."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..hardware.config import HardwareConfig
from ..lowering.tasks import Block, TaskGraph
from .base import EngineView, Scheduler, assigns_earliest_free, static_priority
from .builtin import earliest_free_core


def upward_ranks(tasks: TaskGraph, block_cycles: Sequence[int], comm_cycles: Sequence[float]) -> list[float]:
    """rank(t) = cycles(t) + comm(t) + max rank over the bands that read t's band: HEFT's upward rank, per tile.

    Dependencies are between bands (a band waits for whole producer bands), so a
    band's rank below is the largest of its tiles' ranks.
    """
    band_rank = [0.0] * len(tasks.bands)
    rank = [0.0] * len(tasks.blocks)
    for band in reversed(tasks.bands):  # bands are in topological order
        consumers = tasks.band_consumers[band.id]
        below = max((band_rank[c] for c in consumers), default=0.0)
        for t in band.tiles:
            rank[t] = block_cycles[t] + (comm_cycles[t] + below if consumers else 0.0)
        band_rank[band.id] = max((rank[t] for t in band.tiles), default=0.0)
    return rank


class GreedyScheduler(Scheduler):
    """Greedy earliest-finish list scheduling: each ready block, in arrival order, to the core that finishes it first.

    Graham's list scheduling with an earliest-finish-time rule (Graham 1969).
    """

    name = "greedy"
    summary = "ready blocks in arrival order, each to the core that would finish it first"

    @static_priority
    def priority(self, block: Block) -> Any:
        return 0

    @assigns_earliest_free
    def assign(self, block: Block, view: EngineView) -> int:
        return earliest_free_core(view, self.cores)


class HeftScheduler(Scheduler):
    """HEFT: highest upward rank first, on the earliest-finish core.

    Topcuoglu, Hariri and Wu, "Performance-effective and low-complexity task
    scheduling for heterogeneous computing", IEEE TPDS 2002.  The communication
    term is the block's output moved over the interconnect; all cores are alike
    here, so the earliest-finish core is the least-loaded one.
    """

    name = "heft"
    summary = "highest upward rank (compute + communication to the exit) first, earliest-finish core (Topcuoglu 2002)"

    def prepare(self, tasks: TaskGraph, hw: HardwareConfig, block_cycles: Sequence[int]) -> None:
        super().prepare(tasks, hw, block_cycles)
        bw = hw.interconnect.bandwidth_bytes_per_cycle
        comm = (tasks.tiles.out_bytes / bw).tolist()  # over the tiles' columns: no Block record is built
        # an array, so that the priority can be asked of every tile at once (gspsim.engine.compiled.static_ranks)
        self._rank = np.asarray(upward_ranks(tasks, block_cycles, comm))

    @static_priority
    def priority(self, block: Block) -> Any:
        return (-self._rank[block.id], block.id)

    @assigns_earliest_free
    def assign(self, block: Block, view: EngineView) -> int:
        return earliest_free_core(view, self.cores)


class CriticalPathScheduler(Scheduler):
    """Critical-path first: the block with the longest compute path to the exit runs first.

    The classic CP / HLFET priority (Hu 1961; Adam, Chandy and Dickson 1974),
    ignoring communication; placed on the least-loaded core.
    """

    name = "critical-path"
    summary = "longest compute path to the exit first (HLFET), least-loaded core"

    def prepare(self, tasks: TaskGraph, hw: HardwareConfig, block_cycles: Sequence[int]) -> None:
        super().prepare(tasks, hw, block_cycles)
        self._level = np.asarray(upward_ranks(tasks, block_cycles, [0.0] * len(tasks.blocks)))  # as HEFT's

    @static_priority
    def priority(self, block: Block) -> Any:
        return (-self._level[block.id], block.id)

    @assigns_earliest_free
    def assign(self, block: Block, view: EngineView) -> int:
        return earliest_free_core(view, self.cores)
