"""Built-in placement strategies that need no look-ahead: layer, round-robin, depth-first, random."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..hardware.config import HardwareConfig
from ..lowering.tasks import Block, TaskGraph
from .base import EngineView, Scheduler, assign_rule, static_priority


def earliest_free_core(view: EngineView, cores: int) -> int:
    """The core whose compute unit frees up first, counting the blocks already queued on it (lowest index on ties)."""
    fast = getattr(view, "earliest_free_core", None)
    if fast is not None:  # the engine's own scan over its state: same sums, no two calls per core
        return fast(cores)
    return min(range(cores), key=lambda c: (view.free_at(c) + view.queued_cycles(c), c))


class LayerScheduler(Scheduler):
    """Layer-by-layer, data-parallel: a node's blocks are dealt across all cores in turn.

    Models a conventional accelerator that runs one layer at a time over all its
    compute units, the GSP's baseline (e.g. the SCALE-Sim / ZigZag execution
    model: one layer after another).  It implies ``--mode layer`` unless a mode is given.
    """

    name = "layer"
    summary = "layer-by-layer, each layer's blocks dealt across all cores (conventional accelerator)"
    preferred_mode = "layer"

    @static_priority
    def priority(self, block: Block) -> Any:
        return (block.node, block.index)

    @assign_rule("node-index")
    def assign(self, block: Block, view: EngineView) -> int:
        return block.index % self.cores


class RoundRobinScheduler(Scheduler):
    """Round-robin: blocks go to cores in turn as they become ready, first come first served.

    The simplest dynamic placement, with no knowledge of load or of the graph.
    """

    name = "round-robin"
    summary = "ready blocks dealt to cores in turn, first come first served"

    def prepare(self, tasks: TaskGraph, hw: HardwareConfig, block_cycles: Sequence[int]) -> None:
        super().prepare(tasks, hw, block_cycles)
        self._next = 0

    @static_priority
    def priority(self, block: Block) -> Any:
        return 0  # ties keep arrival order

    @assign_rule("arrival-turns")
    def assign(self, block: Block, view: EngineView) -> int:
        core = self._next % self.cores
        self._next += 1
        return core


def core_load(view: EngineView, core: int) -> float:
    """When ``core`` would start a new block: its compute unit's free time plus the work queued on it."""
    return view.free_at(core) + view.queued_cycles(core)


class DepthFirstScheduler(Scheduler):
    """Depth-first streaming: the deepest ready block runs first, on its home core unless that would delay it.

    Models the GSP hardware scheduler's depth-first graph scheduling (EE Times
    2019; US 11,416,282): consumers run as soon as their data exists, which
    drains the line buffers and keeps intermediate data on chip.  A block goes
    to its home core -- where its channel group's weights live and where the
    previous band of its group left its halo rows -- unless the least-loaded
    core would start it earlier by more than the block's own compute time.
    """

    name = "depth-first"
    summary = "deepest ready block first, on its home core unless another core is a block's time sooner free"

    @static_priority
    def priority(self, block: Block) -> Any:
        return (-block.node, block.index)

    @assign_rule("home-unless-sooner")
    def assign(self, block: Block, view: EngineView) -> int:
        best = earliest_free_core(view, self.cores)
        home = block.home_core
        if core_load(view, home) <= core_load(view, best) + self.block_cycles[block.id]:
            return home
        return best


class RandomScheduler(Scheduler):
    """A seeded random baseline: random core, random order among ready blocks.

    Any sensible strategy should beat it; the same seed gives the same schedule.
    """

    name = "random"
    summary = "seeded random core and random order (a baseline to beat)"

    def prepare(self, tasks: TaskGraph, hw: HardwareConfig, block_cycles: Sequence[int]) -> None:
        super().prepare(tasks, hw, block_cycles)
        rng = np.random.default_rng(self.seed)
        self._keys = rng.random(len(tasks.blocks)).tolist()
        self._rng = rng

    @static_priority
    def priority(self, block: Block) -> Any:
        return self._keys[block.id]

    def assign(self, block: Block, view: EngineView) -> int:
        return int(self._rng.integers(self.cores))
