"""Turning the engine's raw accumulators into a :class:`SimResult`."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from .._version import __version__
from ..accuracy import AccuracyReport
from ..engine.bounds import critical_path_cycles, lower_bounds
from ..engine.cost_model import CostModel
from ..engine.options import SimOptions
from ..engine.simulator import EngineRun, Workload
from ..hardware.config import HardwareConfig
from .names import model_display_name
from .result import CheckResult, NodeResult, SimResult, Timeline

POWER_SAMPLES = 200


def _union_length(intervals) -> float:
    """Length of the union of (start, end) intervals (a sequence of pairs or an (n, 2) array).

    Vectorized form of the sweep over the intervals sorted by (start, end):
    a run of overlapping intervals merges into one (a new one begins where a
    start lies beyond every end so far), and the merged lengths are added in
    order, so the float result is the sweep's.
    """
    iv = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    if not len(iv):
        return 0.0
    order = np.lexsort((iv[:, 1], iv[:, 0]))
    s, e = iv[order, 0], iv[order, 1]
    reach = np.maximum.accumulate(e)
    first = np.flatnonzero(np.concatenate(([True], s[1:] > reach[:-1])))
    ends = reach[np.concatenate((first[1:] - 1, [len(s) - 1]))]
    return float(np.add.accumulate(ends - s[first])[-1])


def _minus_length(a, b, b_length: float) -> float:
    """Length of the union of ``a`` not covered by the union of ``b`` (whose length is ``b_length``)."""
    if not len(a):
        return 0.0  # union(b) - union(b)
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    return _union_length(np.concatenate((a, b))) - b_length


def power_series(
    events: Sequence[tuple[float, float, float]], latency: float, static_w: float, clock_hz: float,
    resolution: Optional[int],
) -> dict:
    """Average power per interval of ``resolution`` cycles: dynamic energy spread over each event, plus static."""
    if latency <= 0:
        return {"resolution_cycles": 0, "start_cycles": [], "watts": []}
    step = int(resolution) if resolution else max(1, int(np.ceil(latency / POWER_SAMPLES)))
    edges = np.arange(0.0, latency + step, step, dtype=np.float64)
    edges = edges[edges < latency]
    edges = np.append(edges, latency)
    energy_at = np.zeros_like(edges)
    if len(events):
        ev = np.asarray(events, dtype=np.float64)
        s, e, j = ev[:, 0], ev[:, 1], ev[:, 2]
        width = np.maximum(e - s, 1e-9)
        # cumulative dynamic energy at each edge: each event contributes linearly over [s, e]
        for chunk in range(0, len(ev), 4096):
            sl = slice(chunk, chunk + 4096)
            frac = np.subtract(edges[None, :], s[sl, None])  # the same operations, in place
            np.divide(frac, width[sl, None], out=frac)
            np.clip(frac, 0.0, 1.0, out=frac)
            np.multiply(frac, j[sl, None], out=frac)
            energy_at += frac.sum(axis=0)
    dt_s = np.diff(edges) / clock_hz
    watts = np.diff(energy_at) / np.where(dt_s > 0, dt_s, 1.0) + static_w
    return {
        "resolution_cycles": step,
        "start_cycles": edges[:-1].tolist(),
        "watts": np.round(watts, 9).tolist(),  # the same rounding as round(np.float64, 9)
    }


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest value that at least ``percent`` % of the values do not exceed."""
    ordered = sorted(values)
    rank = max(1, int(np.ceil(percent / 100.0 * len(ordered) - 1e-9)))
    return float(ordered[rank - 1])


def input_fps(arrivals: Sequence[float], clock_hz: float) -> float:
    """The rate frames arrived at: (n - 1) / (last arrival - first arrival); infinite when they came at once."""
    span = (max(arrivals) - min(arrivals)) / clock_hz if len(arrivals) > 1 else 0.0
    return (len(arrivals) - 1) / span if span > 0 else math.inf


def steady_state_fps(frames: int, active_cycles: float, arrival_fps: float, clock_hz: float) -> float:
    """Frames per second the chip sustains: min(the arrival rate, frames / active seconds).

    The chip cannot deliver frames faster than they arrive, nor faster than it
    processes them: ``frames / active_s`` is its rate over the time it had
    work (with one frame, 1 / latency).  Frame completions themselves are no
    measure here: frames that arrive together finish together, and their
    spacing says nothing of the rate.  Rounded to 9 significant digits, so
    that a 30 fps input whose arrival cycles carry rounding error reads 30.
    """
    if active_cycles <= 0:
        return 0.0
    rate = min(arrival_fps, frames / (active_cycles / clock_hz))
    return float(f"{rate:.9g}")


def frame_latency_figures(arrivals: Sequence[float], ends: Sequence[float], clock_hz: float) -> dict:
    """Per-frame latency (frame done - frame arrived) statistics of a set of frames."""
    lat = [(e - r) / clock_hz for e, r in zip(ends, arrivals)]
    return {
        "mean_latency_s": float(np.mean(lat)),
        "p50_latency_s": nearest_rank(lat, 50),
        "p95_latency_s": nearest_rank(lat, 95),
        "max_latency_s": float(np.max(lat)),
    }


def active_lower_bounds(
    workloads: Sequence[Workload], block_cycles: Sequence[Sequence[int]], cost: CostModel, cores: int
) -> dict[str, float]:
    """Active cycles no schedule can beat (see docs/json-result.md).

    ``critical_path``: every frame takes at least its model's critical path
    after it arrives, so the chip has work during the union of
    [arrival, arrival + critical path]; the compute and DRAM rooflines are the
    engine's (work that only happens while frames are in flight).
    """
    makespan_bounds = lower_bounds([(w.tasks, c, w.release_cycles) for w, c in zip(workloads, block_cycles)],
                                    cost, cores)
    paths = [critical_path_cycles(w.tasks, c) for w, c in zip(workloads, block_cycles)]
    spans = [(r, r + path) for w, path in zip(workloads, paths) for r in w.release_cycles]
    return {
        "critical_path": _union_length(spans),
        "compute_roofline": makespan_bounds["compute_roofline"],
        "dram_roofline": makespan_bounds["dram_roofline"],
    }


def _model_summary(w: Workload, path: str) -> dict:
    graph = w.tasks.graph
    return {
        "path": path,
        "name": model_display_name(graph.name, path),
        "graph_name": graph.name,
        "nodes": len(graph),
        "params": graph.num_params,
        "weight_bytes": graph.weight_bytes,
        "macs": sum(n.cost.macs for n in w.tasks.nodes),
        "inputs": {i: list(graph.tensors[i].shape) for i in graph.inputs},
        "outputs": {o: list(graph.tensors[o].shape) for o in graph.outputs},
        "notes": list(graph.notes),
    }


def build_result(
    workloads: Sequence[Workload],
    hw: HardwareConfig,
    options: SimOptions,
    run: EngineRun,
    model_paths: Sequence[str],
    fps: Sequence[Optional[float]],
    check: Optional[CheckResult] = None,
    accuracy: Optional[AccuracyReport] = None,
) -> SimResult:
    stats = run.stats
    cost = CostModel.for_run(hw, options.precision)
    clock = hw.cores.clock_hz
    makespan = stats.latency_cycles  # the engine's clock when the last block finished
    many = len(workloads) > 1
    arrivals = [list(w.release_cycles) for w in workloads]
    ends = [list(e) for e in stats.frame_end_cycles]
    # the time the chip had work: at least one frame arrived and not yet done
    active = _union_length([(r, e) for rs, es in zip(arrivals, ends) for r, e in zip(rs, es)])
    bounds = active_lower_bounds(workloads, run.block_cycles, cost, hw.cores.count)
    lb = max(bounds.values())
    busy = tuple(_union_length(b) for b in stats.busy)
    stalled = tuple(_minus_length(st, b, u) for st, b, u in zip(stats.stalls, stats.busy, busy))
    idle = tuple(max(0.0, makespan - x - y) for x, y in zip(busy, stalled))
    energy = sum(stats.energy.values())
    # single-frame latency: each model's first frame, arrival to its last block (the longest over models)
    latency = max(es[0] - rs[0] for rs, es in zip(arrivals, ends))

    streams = []
    rates_in = []
    for wl, path, rate, rs, es in zip(workloads, model_paths, fps, arrivals, ends):
        deadline = 1.0 / rate if rate else None
        rates_in.append(input_fps(rs, clock))
        stream_active = _union_length(list(zip(rs, es)))
        streams.append({
            "path": path,
            "frames": wl.frames,
            "fps_in": rate,
            "latency_s": (es[0] - rs[0]) / clock,
            **frame_latency_figures(rs, es, clock),
            "deadline_s": deadline,
            "deadline_misses": int(sum(1 for e, r in zip(es, rs)
                                       if deadline is not None and (e - r) / clock > deadline + 1e-15)),
            "active_s": stream_active / clock,
            "steady_state_fps": steady_state_fps(wl.frames, stream_active, rates_in[-1], clock),
        })
    all_arrivals = [r for rs in arrivals for r in rs]
    all_ends = [e for es in ends for e in es]
    overall = frame_latency_figures(all_arrivals, all_ends, clock)

    nodes = []
    for w, wl in enumerate(workloads):
        prefix = f"m{w}/" if many else ""
        for n, s in zip(wl.tasks.nodes, stats.nodes[w]):
            nodes.append(NodeResult(
                name=prefix + n.op.name,
                op=n.op.op_type,
                precision=n.op.precision,
                blocks=len(n.blocks),
                cores=tuple(sorted(s.cores)),
                start_cycle=float(s.start) if s.start != float("inf") else 0.0,
                end_cycle=float(s.end),
                busy_cycles=float(s.cycles_busy),
                macs=n.cost.macs * wl.frames,
                dram_bytes=int(s.dram_bytes),
                energy_j=float(s.energy_j),
            ))

    summaries = [_model_summary(w, p) for w, p in zip(workloads, model_paths)]
    if many:
        model = {
            "path": ", ".join(model_paths),
            "name": " + ".join(s["name"] for s in summaries),
            "graph_name": " + ".join(s["graph_name"] for s in summaries),
            **{k: sum(s[k] for s in summaries) for k in ("nodes", "params", "weight_bytes", "macs")},
            "inputs": {f"m{i}/{k}": v for i, s in enumerate(summaries) for k, v in s["inputs"].items()},
            "outputs": {f"m{i}/{k}": v for i, s in enumerate(summaries) for k, v in s["outputs"].items()},
            "notes": [f"m{i}: {n}" for i, s in enumerate(summaries) for n in s["notes"]],
        }
    else:
        model = summaries[0]
    all_ends = [e for ends in stats.frame_end_cycles for e in ends]
    return SimResult(
        gspsim_version=__version__,
        model=model,
        hardware={
            "name": hw.name,
            "cores": hw.cores.count,
            "clock_hz": clock,
            "thread_slots": hw.cores.thread_slots,
            "macs_per_cycle_per_core": hw.cores.macs_per_cycle[options.precision],
            "peak_tops": hw.peak_ops_per_s(options.precision) / 1e12,
            "shared_memory_bytes": hw.shared_memory.size_bytes,
            "dram_bandwidth_bytes_per_s": hw.dram.bandwidth_bytes_per_s,
        },
        precision=options.precision,
        prune=options.prune,
        fuse=options.fuse,
        mode=options.mode or hw.default_mode,
        scheduler=options.scheduler_name,
        seed=options.seed,
        frames=sum(w.frames for w in workloads),
        latency_cycles=latency,
        latency_s=latency / clock,
        makespan_cycles=makespan,
        makespan_s=makespan / clock,
        active_cycles=active,
        active_s=active / clock,
        mean_latency_s=overall["mean_latency_s"],
        p50_latency_s=overall["p50_latency_s"],
        p95_latency_s=overall["p95_latency_s"],
        max_latency_s=overall["max_latency_s"],
        steady_state_fps=steady_state_fps(len(all_ends), active, sum(rates_in), clock),
        energy_j=energy,
        avg_power_w=energy / (makespan / clock) if makespan > 0 else 0.0,
        energy_breakdown_j=dict(stats.energy),
        dram_read_bytes=sum(stats.dram_read.values()),
        dram_write_bytes=sum(stats.dram_write.values()),
        dram_bytes_by_kind={"read": dict(stats.dram_read), "write": dict(stats.dram_write)},
        onchip_bytes=stats.interconnect_bytes,
        sram_bytes=stats.sram_bytes,
        core_active_utilization=tuple(b / active if active else 0.0 for b in busy),
        core_busy_cycles=busy,
        core_stalled_cycles=stalled,
        core_idle_cycles=idle,
        dram_active_utilization=stats.dram_busy_cycles / active if active else 0.0,
        interconnect_active_utilization=stats.interconnect_busy_cycles / active if active else 0.0,
        active_lower_bound_cycles=lb,
        active_lower_bounds=bounds,
        active_efficiency=min(1.0, lb / active) if active else 1.0,
        blocks=len(stats.block_start) if stats.block_start is not None else 0,
        deadlock_spills=stats.deadlock_spills,
        buffers=_buffers(workloads, stats),
        ring_buffer_high_water_bytes=stats.ring_high_water,
        power_series=power_series(stats.energy_events, makespan, hw.energy.static_w, clock, options.power_resolution_cycles),
        frame_arrival_cycles=tuple(all_arrivals),
        frame_end_cycles=tuple(all_ends),
        streams=tuple(streams),
        nodes=tuple(nodes),
        check=check,
        accuracy=accuracy,
        timeline=build_timeline(workloads, run),
        outputs=stats.outputs[0][-1] if stats.outputs and stats.outputs[0] else {},
    )


def _buffers(workloads: Sequence[Workload], stats) -> tuple[dict, ...]:
    """Per ring buffer: its tensor, the node writing it and the nodes reading it, capacity and high water."""
    many = len(workloads) > 1
    producer: dict[str, str] = {}
    consumers: dict[str, list[str]] = {}
    for w, wl in enumerate(workloads):
        prefix = f"m{w}/" if many else ""
        for op in wl.tasks.graph.ops():
            for t in op.outputs:
                producer[prefix + t] = prefix + op.name
            for t in op.activation_inputs:
                consumers.setdefault(prefix + t, []).append(prefix + op.name)
    return tuple(
        {"tensor": k, "producer": producer.get(k, ""), "consumers": consumers.get(k, []),
         "capacity_bytes": stats.buffer_capacity[k], "high_water_bytes": v}
        for k, v in sorted(stats.buffer_high_water.items())
    )


def build_timeline(workloads: Sequence[Workload], run: EngineRun) -> Timeline:
    stats = run.stats
    many = len(workloads) > 1
    if stats.block_node is not None:  # the engine's per-block tables
        block_node, block_index = stats.block_node, stats.block_index
        job_workload = np.asarray([workload for workload, _f, _r, _o in run.jobs], dtype=np.int64)
        job_frame = np.asarray([frame for _w, frame, _r, _o in run.jobs], dtype=np.int64)
        block_job = np.asarray(stats.block_job, dtype=np.int64)
        block_frame, block_model = job_frame[block_job], job_workload[block_job]
    else:
        node_offset = np.cumsum([0] + [len(w.tasks.nodes) for w in workloads])
        block_node, block_index, block_frame, block_model = [], [], [], []
        for workload, frame, _release, _offset in run.jobs:
            blocks = workloads[workload].tasks.blocks
            block_node.extend(int(node_offset[workload]) + b.node for b in blocks)
            block_index.extend(b.index for b in blocks)
            block_frame.extend([frame] * len(blocks))
            block_model.extend([workload] * len(blocks))
    names = tuple((f"m{w}/" if many else "") + n.op.name for w, wl in enumerate(workloads) for n in wl.tasks.nodes)
    return Timeline(
        node_names=names,
        node_ops=tuple(n.op.op_type for wl in workloads for n in wl.tasks.nodes),
        block_node=np.asarray(block_node, dtype=np.int64),
        block_frame=np.asarray(block_frame, dtype=np.int64),
        block_index=np.asarray(block_index, dtype=np.int64),
        block_model=np.asarray(block_model, dtype=np.int64),
        block_core=np.asarray(stats.block_core, dtype=np.int64),
        block_start=np.asarray(stats.block_start, dtype=np.float64),
        block_end=np.asarray(stats.block_end, dtype=np.float64),
        dram_transfers=np.asarray(stats.dram_transfers, dtype=np.float64).reshape(-1, 3),
        buffer_levels={k: np.asarray(v, dtype=np.float64).reshape(-1, 2) for k, v in sorted(stats.buffer_levels.items())},
    )
