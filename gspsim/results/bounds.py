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

Each bound's per-frame part depends on the program alone, so it is worked out
once per program (:meth:`gspsim.engine.program.Program.derived`) and shared by
every run of it; what depends on the chip's figures (the DRAM bandwidth) is
applied per run, since a sweep shares one program between points that differ there.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..engine.program import Program
from ..engine.records import Workload
from ..hardware.cost_model import CostModel
from ..lowering.buffers import alias_roots


def critical_path_cycles(workload: Workload) -> float:
    """The longest chain of dependent bands of one frame (worked out once per program)."""
    return workload.program.derived("results.critical_path", _critical_path)


def _critical_path(prog: Program) -> float:
    bands = prog.tasks.bands
    finish = [0.0] * len(bands)
    for band, slowest in zip(bands, _slowest_tile_cycles(prog)):  # topological order
        start = max((finish[d] for d in band.deps), default=0.0)
        finish[band.id] = start + slowest
    return max(finish, default=0.0)


def slowest_tile_cycles(workload: Workload) -> list[int]:
    """Per band, the compute cycles of its slowest tile (0 for a band without tiles)."""
    return _slowest_tile_cycles(workload.program)


def _slowest_tile_cycles(prog: Program) -> list[int]:
    """Lowering numbers tiles band by band, so a band's tiles are the slice of
    the program's cycles from its first tile to the next band's first."""
    cycles = prog.tile_tables.cycles
    slowest = np.zeros(len(prog.tasks.bands), dtype=np.int64)
    firsts = np.fromiter((b.tiles.start for b in prog.tasks.bands), dtype=np.int64, count=len(slowest))
    sizes = np.fromiter((len(b.tiles) for b in prog.tasks.bands), dtype=np.int64, count=len(slowest))
    tiled = sizes > 0
    if tiled.any():
        slowest[tiled] = np.maximum.reduceat(cycles, firsts[tiled])
    return slowest.tolist()


def mandatory_dram_bytes(workload: Workload) -> int:
    """Weights once; per frame the graph outputs and the graph-input rows the widest reader loads."""
    weights, per_frame = workload.program.derived("results.mandatory_dram_bytes", _mandatory_dram_parts)
    return weights + workload.frames * per_frame


def _mandatory_dram_parts(prog: Program) -> tuple[int, int]:
    """(weight bytes, graph input and output bytes per frame) of :func:`mandatory_dram_bytes`."""
    tasks = prog.tasks
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
    return weights, io


def rooflines(workloads: Sequence[Workload], cost: CostModel, cores: int) -> dict[str, float]:
    """The compute and DRAM rooflines of models sharing a chip, in cycles."""
    compute = sum(w.frames * w.program.derived("results.compute_cycles", _compute_cycles) for w in workloads)
    dram = sum(mandatory_dram_bytes(w) for w in workloads)
    return {
        "compute_roofline": float(compute / cores),
        "dram_roofline": float(math.ceil(dram / cost.dram_bytes_per_cycle)),
    }


def _compute_cycles(prog: Program) -> int:
    """Every tile's compute cycles, one frame."""
    return int(prog.tile_tables.cycles.sum())
