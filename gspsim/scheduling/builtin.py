"""Built-in scheduling strategies (more arrive with the scheduler comparison work)."""

from __future__ import annotations

from typing import Any

from ..lowering.tasks import Block
from .base import EngineView, Scheduler


class LayerScheduler(Scheduler):
    """Layer-by-layer, data-parallel: a node's blocks are dealt across all cores in turn.

    Models a conventional accelerator that runs one layer at a time over all its
    compute units (the GSP's baseline).  Blocks start in program order.
    """

    name = "layer"
    summary = "layer-by-layer, each layer's blocks dealt across all cores (conventional accelerator)"

    def priority(self, block: Block) -> Any:
        return (block.node, block.index)

    def assign(self, block: Block, view: EngineView) -> int:
        return block.index % self.cores


class DepthFirstScheduler(Scheduler):
    """Depth-first streaming: the deepest ready block runs first, on the least-loaded core.

    Models the GSP hardware scheduler's depth-first graph scheduling (EE Times
    2019; US 11,416,282): consumers run as soon as their data exists, which
    drains the ring buffers and keeps intermediate data on chip.
    """

    name = "depth-first"
    summary = "deepest ready block first, least-loaded core (GSP depth-first hardware scheduling)"

    def priority(self, block: Block) -> Any:
        return (-block.node, block.index)

    def assign(self, block: Block, view: EngineView) -> int:
        return min(range(self.cores), key=lambda c: (view.free_at(c) + view.queued_cycles(c), c))
