"""Turning the engine's raw accumulators into a :class:`SimResult`."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .._version import __version__
from ..engine.bounds import lower_bounds
from ..engine.cost_model import CostModel
from ..engine.options import SimOptions
from ..engine.simulator import RunStats
from ..hardware.config import HardwareConfig
from ..lowering.tasks import TaskGraph
from .result import CheckResult, NodeResult, SimResult, Timeline

POWER_SAMPLES = 200


def _union_length(intervals: Sequence[tuple[float, float]]) -> float:
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def _minus_length(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> float:
    """Length of the union of ``a`` not covered by the union of ``b``."""
    return _union_length([*a, *b]) - _union_length(b)


def power_series(
    events: Sequence[tuple[float, float, float]], latency: float, static_w: float, clock_hz: float,
    resolution: Optional[int],
) -> dict:
    """Average power per interval of ``resolution`` cycles: dynamic energy spread over each event, plus static."""
    if latency <= 0:
        return {"resolution_cycles": 0, "start_cycles": [], "watts": []}
    step = int(resolution) if resolution else max(1, int(np.ceil(latency / POWER_SAMPLES)))
    edges = np.arange(0.0, latency + step, step, dtype=np.float64)
    if edges[-1] < latency:
        edges = np.append(edges, latency)
    energy_at = np.zeros_like(edges)
    if events:
        ev = np.asarray(events, dtype=np.float64)
        s, e, j = ev[:, 0], ev[:, 1], ev[:, 2]
        width = np.maximum(e - s, 1e-9)
        # cumulative dynamic energy at each edge: each event contributes linearly over [s, e]
        for chunk in range(0, len(ev), 4096):
            sl = slice(chunk, chunk + 4096)
            frac = np.clip((edges[None, :] - s[sl, None]) / width[sl, None], 0.0, 1.0)
            energy_at += (frac * j[sl, None]).sum(axis=0)
    dt_s = np.diff(edges) / clock_hz
    watts = np.diff(energy_at) / np.where(dt_s > 0, dt_s, 1.0) + static_w
    return {
        "resolution_cycles": step,
        "start_cycles": [float(x) for x in edges[:-1]],
        "watts": [float(round(w, 9)) for w in watts],
    }


def build_result(
    tasks: TaskGraph,
    hw: HardwareConfig,
    options: SimOptions,
    stats: RunStats,
    block_cycles: Sequence[int],
    model_path: str,
    check: Optional[CheckResult] = None,
) -> SimResult:
    cost = CostModel.for_run(hw, options.precision)
    latency = stats.latency_cycles
    latency_s = latency / hw.cores.clock_hz
    frames = options.frames
    bounds = lower_bounds(tasks, block_cycles, cost, hw.cores.count, frames)
    lb = max(bounds.values())
    busy = tuple(_union_length(b) for b in stats.busy)
    stalled = tuple(_minus_length(st, b) for st, b in zip(stats.stalls, stats.busy))
    idle = tuple(max(0.0, latency - x - y) for x, y in zip(busy, stalled))
    if frames > 1:
        ends = sorted(stats.frame_end_cycles)
        span = (ends[-1] - ends[0]) / hw.cores.clock_hz
        fps = (frames - 1) / span if span > 0 else 0.0
    else:
        fps = 1.0 / latency_s if latency_s > 0 else 0.0
    energy = sum(stats.energy.values())
    nodes = tuple(
        NodeResult(
            name=n.op.name,
            op=n.op.op_type,
            blocks=len(n.blocks),
            cores=tuple(sorted(s.cores)),
            start_cycle=float(s.start) if s.start != float("inf") else 0.0,
            end_cycle=float(s.end),
            busy_cycles=float(s.cycles_busy),
            macs=n.cost.macs * frames,
            dram_bytes=int(s.dram_bytes),
            energy_j=float(s.energy_j),
        )
        for n, s in zip(tasks.nodes, stats.nodes)
    )
    graph = tasks.graph
    return SimResult(
        gspsim_version=__version__,
        model={
            "path": model_path,
            "name": graph.name,
            "nodes": len(graph),
            "params": graph.num_params,
            "weight_bytes": graph.weight_bytes,
            "macs": sum(n.cost.macs for n in tasks.nodes),
            "inputs": {i: list(graph.tensors[i].shape) for i in graph.inputs},
            "outputs": {o: list(graph.tensors[o].shape) for o in graph.outputs},
            "notes": list(graph.notes),
        },
        hardware={
            "name": hw.name,
            "cores": hw.cores.count,
            "clock_hz": hw.cores.clock_hz,
            "thread_slots": hw.cores.thread_slots,
            "macs_per_cycle_per_core": hw.cores.macs_per_cycle[options.precision],
            "peak_tops": hw.peak_ops_per_s(options.precision) / 1e12,
            "shared_memory_bytes": hw.shared_memory.size_bytes,
            "dram_bandwidth_bytes_per_s": hw.dram.bandwidth_bytes_per_s,
        },
        precision=options.precision,
        mode=options.mode,
        scheduler=options.scheduler_name,
        seed=options.seed,
        frames=frames,
        latency_cycles=latency,
        latency_s=latency_s,
        throughput_fps=fps,
        energy_j=energy,
        avg_power_w=energy / latency_s if latency_s > 0 else 0.0,
        energy_breakdown_j=dict(stats.energy),
        dram_read_bytes=sum(stats.dram_read.values()),
        dram_write_bytes=sum(stats.dram_write.values()),
        dram_bytes_by_kind={"read": dict(stats.dram_read), "write": dict(stats.dram_write)},
        onchip_bytes=stats.interconnect_bytes,
        sram_bytes=stats.sram_bytes,
        core_utilization=tuple(b / latency if latency else 0.0 for b in busy),
        core_busy_cycles=busy,
        core_stalled_cycles=stalled,
        core_idle_cycles=idle,
        lower_bound_cycles=lb,
        lower_bounds=bounds,
        efficiency=lb / latency if latency else 1.0,
        blocks=len(tasks.blocks) * frames,
        deadlock_spills=stats.deadlock_spills,
        buffers=tuple(
            {"tensor": k, "capacity_bytes": stats.buffer_capacity[k], "high_water_bytes": v}
            for k, v in sorted(stats.buffer_high_water.items())
        ),
        power_series=power_series(
            stats.energy_events, latency, hw.energy.static_w, hw.cores.clock_hz, options.power_resolution_cycles
        ),
        frame_end_cycles=tuple(stats.frame_end_cycles),
        nodes=nodes,
        check=check,
        timeline=build_timeline(tasks, stats),
        outputs=stats.outputs[-1] if stats.outputs else {},
    )


def build_timeline(tasks: TaskGraph, stats: RunStats) -> Timeline:
    nb = len(tasks.blocks)
    total = len(stats.block_start) if stats.block_start is not None else 0
    ids = np.arange(total)
    per_block_node = np.array([b.node for b in tasks.blocks], dtype=np.int64)
    per_block_index = np.array([b.index for b in tasks.blocks], dtype=np.int64)
    transfers = np.asarray(stats.dram_transfers, dtype=np.float64).reshape(-1, 3)
    return Timeline(
        node_names=tuple(n.op.name for n in tasks.nodes),
        node_ops=tuple(n.op.op_type for n in tasks.nodes),
        block_node=per_block_node[ids % nb] if nb else ids,
        block_frame=ids // nb if nb else ids,
        block_index=per_block_index[ids % nb] if nb else ids,
        block_core=np.asarray(stats.block_core, dtype=np.int64),
        block_start=np.asarray(stats.block_start, dtype=np.float64),
        block_end=np.asarray(stats.block_end, dtype=np.float64),
        dram_transfers=transfers,
        buffer_levels={k: np.asarray(v, dtype=np.float64).reshape(-1, 2) for k, v in sorted(stats.buffer_levels.items())},
    )
