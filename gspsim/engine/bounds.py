"""Lower bounds on latency, which no schedule can beat on the given chip.

* critical path: the longest chain of dependent blocks, each at its compute
  time on one core, after its frame arrives;
* compute roofline: all compute cycles spread perfectly over every core;
* DRAM roofline: the bytes that must cross DRAM (weights once, graph inputs,
  graph outputs) at full DRAM bandwidth.

``lower_bound_cycles`` is their maximum; efficiency = lower bound / latency.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..lowering.tasks import TaskGraph
from .cost_model import CostModel


def critical_path_cycles(tasks: TaskGraph, block_cycles: Sequence[int]) -> float:
    finish = [0.0] * len(tasks.blocks)
    for b in tasks.blocks:  # blocks are in topological order
        start = max((finish[d] for d in b.deps), default=0.0)
        finish[b.id] = start + block_cycles[b.id]
    return max(finish, default=0.0)


def mandatory_dram_bytes(tasks: TaskGraph, frames: int = 1) -> int:
    """Weights (each once), and per frame the graph outputs and the graph-input rows some block reads."""
    # compressed sparse weights (see cost_model.sparse_op_cost) can take less than the dense tensors
    weights = min(tasks.graph.weight_bytes, sum(n.cost.weight_bytes for n in tasks.nodes))
    outputs = sum(tasks.tensors[o].nbytes for o in tasks.graph.outputs)
    inputs = 0
    for name in tasks.graph.inputs:
        per_node: dict[int, int] = {}
        for b in tasks.blocks:
            for inp in b.inputs:
                if inp.tensor == name:
                    per_node[b.node] = per_node.get(b.node, 0) + inp.nbytes
        inputs += min(tasks.tensors[name].nbytes, max(per_node.values(), default=0))
    return weights + frames * (outputs + inputs)


def lower_bounds(
    programs: Sequence[tuple[TaskGraph, Sequence[int], Sequence[float]]], cost: CostModel, cores: int
) -> dict[str, float]:
    """Bounds for models sharing a chip; each program is (tasks, block cycles, frame arrival cycles)."""
    cp = 0.0
    compute = 0.0
    dram_bytes = 0
    for tasks, block_cycles, releases in programs:
        path = critical_path_cycles(tasks, block_cycles)
        cp = max(cp, max(releases, default=0.0) + path)
        compute += len(releases) * sum(block_cycles)
        dram_bytes += mandatory_dram_bytes(tasks, len(releases))
    return {
        "critical_path": float(cp),
        "compute_roofline": float(compute / cores),
        "dram_roofline": float(math.ceil(dram_bytes / cost.dram_bytes_per_cycle)),
    }
