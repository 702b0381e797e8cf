"""Lower bounds on latency, which no schedule on the given chip can beat.

* critical path: the longest chain of dependent bands, each band at its
  slowest tile's compute cycles (its tiles at best run side by side), after
  its frame arrives;
* compute roofline: every tile's compute cycles spread perfectly over every core;
* DRAM roofline: the bytes that must cross DRAM -- every weight once, and per
  frame the graph outputs that some node computes and the rows of each graph input that its widest
  reader needs -- at full DRAM bandwidth.

The result reports them over the time the chip had work
(:func:`gspsim.results.build.active_lower_bounds`): ``active_lower_bound_cycles``
is their maximum and ``active_efficiency = active_lower_bound_cycles /
active_cycles``, never above 1 -- the test suite asserts it rather than
clamping the ratio.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..engine.records import Workload
from ..hardware.cost_model import CostModel
from ..lowering.buffers import alias_roots


def critical_path_cycles(workload: Workload) -> float:
    """The longest chain of dependent bands of one frame."""
    prog = workload.program
    tasks = prog.tasks
    finish = [0.0] * len(tasks.bands)
    for band in tasks.bands:  # topological order
        start = max((finish[d] for d in band.deps), default=0.0)
        finish[band.id] = start + max((prog.cycles[t] for t in band.tiles), default=0)
    return max(finish, default=0.0)


def mandatory_dram_bytes(workload: Workload) -> int:
    """Weights once; per frame the graph outputs and the graph-input rows the widest reader loads."""
    tasks = workload.program.tasks
    graph = tasks.graph
    weights = sum(n.cost.weight_bytes for n in tasks.nodes)
    inputs = set(graph.inputs)
    read: dict[tuple[str, int], int] = {}
    for band in tasks.bands:
        if tasks.nodes[band.node].is_view:
            continue  # a view only relabels: it loads nothing
        for load in band.loads:
            if load.tensor in inputs:
                read[(load.tensor, band.node)] = read.get((load.tensor, band.node), 0) + load.nbytes
    widest = {t: max((n for (name, _), n in read.items() if name == t), default=0) for t in inputs}
    roots = alias_roots(tasks)
    # an output that only relabels a graph input (a model of views) is never computed, so never written
    written = [t for t in graph.outputs if roots.get(t, t) not in inputs]
    io = sum(widest.values()) + sum(tasks.nbytes(t) for t in written)
    return weights + workload.frames * io


def lower_bounds(workloads: Sequence[Workload], cost: CostModel, cores: int) -> dict[str, float]:
    """The three bounds for models sharing a chip."""
    path = max((max(w.release_cycles, default=0.0) + critical_path_cycles(w) for w in workloads), default=0.0)
    compute = sum(w.frames * sum(w.program.cycles) for w in workloads)
    dram = sum(mandatory_dram_bytes(w) for w in workloads)
    return {
        "critical_path": float(path),
        "compute_roofline": float(compute / cores),
        "dram_roofline": float(math.ceil(dram / cost.dram_bytes_per_cycle)),
    }
