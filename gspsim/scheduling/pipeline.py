"""Balanced pipeline partition: contiguous stages of the graph on groups of cores, for streams of frames."""

from __future__ import annotations

from typing import Any, Sequence

from ..hardware.config import HardwareConfig
from ..lowering.tasks import Block, TaskGraph
from .base import EngineView, Scheduler


def balanced_stages(work: Sequence[float], stages: int) -> list[int]:
    """Split ``work`` (in program order) into ``stages`` contiguous parts of near-equal sum; stage of each item."""
    total = float(sum(work)) or 1.0
    out, acc, stage = [], 0.0, 0
    for w in work:
        # move on when this stage already holds its share and stages remain
        if acc >= total * (stage + 1) / stages and stage < stages - 1:
            stage += 1
        out.append(stage)
        acc += w
    return out


class PipelineScheduler(Scheduler):
    """Balanced pipeline: the program is cut into contiguous stages of equal compute, each on its own cores.

    Frame f+1 enters stage 1 while frame f is in stage 2, as in pipelined
    multi-core inference (e.g. the layer-fused pipelines of Stream, Symons et
    al., IEEE TC 2025).  With one frame it wastes cores; with ``--frames`` it
    raises throughput.
    """

    name = "pipeline"
    summary = "contiguous stages of equal compute on groups of cores; frames flow through the stages"

    def prepare(self, tasks: TaskGraph, hw: HardwareConfig, block_cycles: Sequence[int]) -> None:
        super().prepare(tasks, hw, block_cycles)
        node_work = [sum(block_cycles[b] for b in n.blocks) for n in tasks.nodes]
        n_stages = max(1, min(self.cores, sum(1 for w in node_work if w > 0)))
        self._stage_of_node = balanced_stages(node_work, n_stages)
        per = self.cores / n_stages
        self._cores_of_stage = [
            list(range(int(round(s * per)), max(int(round(s * per)) + 1, int(round((s + 1) * per)))))
            for s in range(n_stages)
        ]

    def priority(self, block: Block) -> Any:
        return (block.node, block.index)

    def assign(self, block: Block, view: EngineView) -> int:
        group = self._cores_of_stage[self._stage_of_node[block.node]]
        return min(group, key=lambda c: (view.free_at(c) + view.queued_cycles(c), c))
