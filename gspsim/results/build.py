"""Turning an engine's raw records into a :class:`SimResult`: every total, energy and per-node figure.

The engine only records what happened to each tile (where and when it ran,
the bytes it moved) and to each weight load; the figures a user sees are
computed here, with the cost model's rules (docs/cost-model.md):

* energy per tile = compute (MACs and vector operations at its precision) +
  local SRAM (every byte it reads, writes and its weight slice pass through
  its core's memory) + interconnect (its bytes that cross between cores and
  shared memory) + DRAM (its bytes to or from DRAM); per weight load, DRAM +
  SRAM (written into weight memory); plus static power over the run;
* a core is busy while its compute unit runs a tile, stalled while it has a
  free slot and ready tiles that all wait for line-buffer room, idle otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from .._version import __version__
from ..accuracy import AccuracyReport
from ..engine.options import SimOptions
from ..engine.program import Program
from ..engine.records import EngineRun, Workload
from ..hardware.config import HardwareConfig
from ..hardware.cost_model import CostModel
from ..lowering.tiles import ReadTable, TileColumns
from .bounds import critical_path_cycles, rooflines
from .names import model_display_name
from .result import CheckResult, NodeResult, SimResult, Timeline

POWER_SAMPLES = 200


def _union_length(intervals) -> float:
    """Length of the union of (start, end) intervals (an (n, 2) array or a sequence of pairs)."""
    iv = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    if not len(iv):
        return 0.0
    order = np.lexsort((iv[:, 1], iv[:, 0]))
    s, e = iv[order, 0], iv[order, 1]
    reach = np.maximum.accumulate(e)
    first = np.flatnonzero(np.concatenate(([True], s[1:] > reach[:-1])))
    ends = reach[np.concatenate((first[1:] - 1, [len(s) - 1]))]
    return float(np.add.accumulate(ends - s[first])[-1])


def union_lengths(starts: np.ndarray, ends: np.ndarray, group: np.ndarray, groups: int) -> list[float]:
    """Per group ``0 .. groups - 1``, :func:`_union_length` of its intervals (the same floats; no end before its start).

    One sort of all intervals by group and start (two stable argsorts: the starts, then the small group
    numbers); then per group, on its slice, :func:`_union_length`'s steps without its sort.  Intervals of
    one group that start together may come in another order than there, which changes no run of
    overlapping intervals, so no sum.
    """
    out = [0.0] * groups
    if not len(starts):
        return out
    order = np.argsort(starts, kind="stable")
    narrow = np.int16 if groups <= np.iinfo(np.int16).max else np.int32  # numpy radix-sorts 16-bit keys
    order = order[np.argsort(group[order].astype(narrow), kind="stable")]
    g, s, e = group[order], starts[order], ends[order]
    cuts = np.searchsorted(g, np.arange(groups + 1)).tolist()
    for k in range(groups):
        if cuts[k] == cuts[k + 1]:
            continue
        gs, ge = s[cuts[k]:cuts[k + 1]], e[cuts[k]:cuts[k + 1]]
        reach = np.maximum.accumulate(ge)
        first = np.flatnonzero(np.concatenate(([True], gs[1:] > reach[:-1])))
        run_ends = reach[np.concatenate((first[1:] - 1, [len(gs) - 1]))]
        out[k] = float(np.add.accumulate(run_ends - gs[first])[-1])
    return out


def core_busy_and_stalled(compute: np.ndarray, cycles: np.ndarray, core: np.ndarray, stalls: Sequence[Sequence],
                          cores: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per core, cycles its compute unit ran a tile (the union of its tiles' compute intervals), and cycles it
    stalled and was not busy (the union of its stall intervals, less the busy union)."""
    computing = cycles > 0
    busy_start = compute[computing]
    busy_end = busy_start + cycles[computing]
    busy_core = core[computing].astype(np.int64)
    busy = union_lengths(busy_start, busy_end, busy_core, cores)
    stall = np.asarray([iv for c in range(cores) for iv in stalls[c]], dtype=np.float64).reshape(-1, 2)
    stall_core = np.repeat(np.arange(cores, dtype=np.int64), [len(stalls[c]) for c in range(cores)])
    either = union_lengths(np.concatenate((stall[:, 0], busy_start)), np.concatenate((stall[:, 1], busy_end)),
                           np.concatenate((stall_core, busy_core)), cores)
    stalled = tuple(either[c] - busy[c] if len(stalls[c]) else 0.0 for c in range(cores))
    return tuple(busy), stalled


def power_series(events: np.ndarray, latency: float, static_w: float, clock_hz: float,
                 resolution: Optional[int]) -> dict:
    """Average power per interval of ``resolution`` cycles: each event's energy spread over it, plus static."""
    if latency <= 0:
        return {"resolution_cycles": 0, "start_cycles": [], "watts": []}
    step = int(resolution) if resolution else max(1, int(np.ceil(latency / POWER_SAMPLES)))
    edges = np.arange(0.0, latency + step, step, dtype=np.float64)
    edges = edges[edges < latency]
    edges = np.append(edges, latency)
    energy_at = energy_spent_by(events, edges)
    dt_s = np.diff(edges) / clock_hz
    watts = np.diff(energy_at) / np.where(dt_s > 0, dt_s, 1.0) + static_w
    return {"resolution_cycles": step, "start_cycles": edges[:-1].tolist(), "watts": np.round(watts, 9).tolist()}


def energy_spent_by(events: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per edge cycle, the energy the events (rows: start, end, joules) have spent by then, each at an even rate.

    Added up 4096 events at a time in their order; an edge at or before a chunk's
    first start gets nothing from it and one a cycle past its last end all of its
    energy, computed as the same sums without the events' fractions; the edges
    between take each event's fraction (:mod:`gspsim.results.spent`).
    """
    from .spent import add_spent  # Numba, loaded with the first power series

    energy_at = np.zeros_like(edges)
    if not len(events):
        return energy_at
    s, e, j = (np.ascontiguousarray(events[:, k], dtype=np.float64) for k in range(3))
    width = np.maximum(e - s, 1e-9)
    for chunk in range(0, len(events), 4096):
        sl = slice(chunk, chunk + 4096)
        # the edges up to the chunk's first start, and from one cycle past its last end (a cycle, so that an
        # event of no duration has spent all at each: (edge - start) / 1e-9 >= 1)
        started = int(np.searchsorted(edges, s[sl].min(), side="right"))
        spent = max(started, int(np.searchsorted(edges, e[sl].max() + 1.0, side="left")))
        add_spent(edges, s, width, j, chunk, min(chunk + 4096, len(events)), started, spent, energy_at)
        # the energies added one after another, as the sum over the rows above adds each column
        energy_at[spent:] += np.add.accumulate(j[sl])[-1]
    return energy_at


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


def sums_by(index: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """``np.add.at(np.zeros(count), index, values)``: per bin ``0 .. count - 1``, its values added in their order
    (``np.bincount`` adds them one after another, as ``add.at`` does, at a fraction of its cost).

    Integer values come back as floats, exact while a bin's total stays below 2**53 (bytes per node do).
    """
    return np.bincount(index, weights=values, minlength=count) if len(index) else np.zeros(count)


def node_first_and_last(workloads: Sequence[Workload], tables: "_TileTables", issue: np.ndarray,
                        end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per node, its tiles' first issue (inf without tiles) and last end (0 without tiles).

    One model: every frame's tiles line up, so the extremes over frames come first, per tile, and then per
    node over the program's tiles sorted by node (kept with the program); several: ``ufunc.at``.
    """
    count = tables.node_count
    starts, ends = np.full(count, np.inf), np.zeros(count)
    program = program_tiles(workloads[0].program) if len(workloads) == 1 else None
    if program is not None and len(program.node) and len(issue):
        frames = len(issue) // len(program.node)
        first = issue.reshape(frames, -1).min(axis=0)[program.node_order]
        last = end.reshape(frames, -1).max(axis=0)[program.node_order]
        starts[program.node_present] = np.minimum.reduceat(first, program.node_cuts)
        ends[program.node_present] = np.maximum(0.0, np.maximum.reduceat(last, program.node_cuts))
    else:
        np.minimum.at(starts, tables.node, issue)
        np.maximum.at(ends, tables.node, end)
    return starts, ends


def cores_per_node(node: np.ndarray, core: np.ndarray, count: int) -> list[tuple[int, ...]]:
    """Per node (of ``count``), the distinct cores its tiles ran on, ascending; ``node`` and ``core`` are per tile."""
    per_node: list[list[int]] = [[] for _ in range(count)]
    if len(node):
        lowest = int(core.min())
        span = int(core.max()) - lowest + 1
        for key in np.unique(node * span + (core - lowest)).tolist():  # sorted by node, then core
            per_node[key // span].append(key % span + lowest)
    return [tuple(c) for c in per_node]


def active_lower_bounds(workloads: Sequence[Workload], cost: CostModel, cores: int) -> dict[str, float]:
    """Active cycles no schedule can beat (see docs/json-result.md and :mod:`gspsim.results.bounds`).

    ``critical_path``: every frame takes at least its model's critical path
    after it arrives, so the chip has work during the union of
    [arrival, arrival + critical path]; the compute roofline (tiles compute
    only while their frame is in flight) and the DRAM roofline (the first
    frame arrives at cycle 0 and needs every weight before it is done; graph
    inputs and outputs move while their frame is in flight).
    """
    paths = [critical_path_cycles(w) for w in workloads]
    spans = [(r, r + path) for w, path in zip(workloads, paths) for r in w.release_cycles]
    return {"critical_path": _union_length(spans), **rooflines(workloads, cost, cores)}


@dataclass(frozen=True, eq=False)
class _ProgramFacts:
    """What a result reports of a program's model, plan and nodes that no run changes (built once per program).

    Kept as tuples; each result gets its own lists and dicts built from them, so that no caller can change
    what the next run of the program reports.
    """

    graph_name: str
    nodes: int
    params: int
    weight_bytes: int
    macs: int
    inputs: tuple[tuple[str, tuple[int, ...]], ...]
    outputs: tuple[tuple[str, tuple[int, ...]], ...]
    notes: tuple[str, ...]
    #: the memory plan: budgets, stacks (first, last, nodes, buffer, held weight and weight bytes), cuts
    plan: tuple[Any, ...]
    stacks: tuple[tuple[Any, ...], ...]
    cuts: tuple[tuple[str, int], ...]
    #: per node: name, op type, precision, tiles, bands, tile shape, stack, MACs per frame
    node_rows: tuple[tuple[str, str, str, int, int, tuple[int, int, int], int, int], ...]
    #: tensor -> producing op, tensor root -> reading ops (line buffers' ends)
    producer: tuple[tuple[str, str], ...]
    consumers: tuple[tuple[str, tuple[str, ...]], ...]

    @staticmethod
    def of(program: Program) -> "_ProgramFacts":
        tasks, plan = program.tasks, program.plan
        graph = tasks.graph
        producer: dict[str, str] = {}
        consumers: dict[str, list[str]] = {}
        for op in graph.ops():
            for t in op.outputs:
                producer[t] = op.name
            for t in dict.fromkeys(op.activation_inputs):
                consumers.setdefault(plan.root(t), []).append(op.name)
        return _ProgramFacts(
            graph_name=graph.name, nodes=len(graph), params=graph.num_params, weight_bytes=graph.weight_bytes,
            macs=sum(n.cost.macs for n in tasks.nodes),
            inputs=tuple((i, tuple(graph.tensors[i].shape)) for i in graph.inputs),
            outputs=tuple((o, tuple(graph.tensors[o].shape)) for o in graph.outputs),
            notes=tuple(graph.notes),
            plan=(plan.buffer_budget, plan.weight_capacity, plan.min_buffer_budget, plan.resident),
            stacks=tuple((tasks.nodes[st.first].op.name, tasks.nodes[st.last].op.name, len(st.nodes),
                          st.buffer_bytes, st.held_weight_bytes, st.weight_bytes) for st in plan.stacks),
            cuts=tuple((t, tasks.nbytes(t)) for t in plan.cuts),
            node_rows=tuple((n.op.name, n.op.op_type, n.op.precision, len(n.blocks), len(n.bands),
                             (n.tiling.rows, n.tiling.channels, n.tiling.cols), plan.stack_of[n.index], n.cost.macs)
                            for n in tasks.nodes),
            producer=tuple(producer.items()),
            consumers=tuple((k, tuple(v)) for k, v in consumers.items()),
        )


def program_facts(program: Program) -> _ProgramFacts:
    """The program's run-independent facts (built on first use, then kept with the program)."""
    return program.derived("results.facts", _ProgramFacts.of)


def _model_summary(w: Workload, path: str) -> dict:
    facts = program_facts(w.program)
    return {
        "path": path,
        "name": model_display_name(facts.graph_name, path),
        "graph_name": facts.graph_name,
        "nodes": facts.nodes,
        "params": facts.params,
        "weight_bytes": facts.weight_bytes,
        "macs": facts.macs,
        "inputs": {i: list(shape) for i, shape in facts.inputs},
        "outputs": {o: list(shape) for o, shape in facts.outputs},
        "notes": list(facts.notes),
    }


_STACK_KEYS = ("first", "last", "nodes", "buffer_bytes", "held_weight_bytes", "weight_bytes")


def _memory_summary(w: Workload) -> dict[str, Any]:
    """The compiler's memory plan of one model (docs/execution-model.md)."""
    facts = program_facts(w.program)
    buffer_budget, weight_capacity, min_buffer_budget, resident = facts.plan
    return {
        "buffer_budget_bytes": buffer_budget,
        "weight_capacity_bytes": weight_capacity,
        "min_buffer_budget_bytes": min_buffer_budget,
        "resident_weights": resident,
        "stacks": [dict(zip(_STACK_KEYS, row)) for row in facts.stacks],
        "cuts": [{"tensor": t, "bytes": nbytes} for t, nbytes in facts.cuts],
    }


def _in_bytes(tiles: TileColumns, reads: ReadTable) -> np.ndarray:
    """``Block.in_bytes`` of every tile: the sum of its reads' bytes, as differences of one running total."""
    running = np.zeros(len(tiles.read_ids) + 1, dtype=np.int64)
    np.cumsum(reads.nbytes[tiles.read_ids], out=running[1:])
    return running[tiles.read_start[1:]] - running[tiles.read_start[:-1]]


@dataclass(frozen=True, eq=False)
class _ProgramTiles:
    """Per tile of one frame of a program: what turns its records into energy and per-node figures.

    Built once per program (:meth:`gspsim.engine.program.Program.derived`); energies are not kept here, as
    they depend on the chip's energy figures, which a sweep varies over one program.
    """

    node: np.ndarray
    index: np.ndarray
    macs: np.ndarray
    vector_ops: np.ndarray
    #: each tile's node's precision (an object array)
    precision: np.ndarray
    #: bytes through its core's local SRAM: reads, writes and its weight slice (a view's tile: none)
    sram: np.ndarray
    cycles: np.ndarray
    #: per node: the compute cycles of its tiles
    node_cycles: np.ndarray
    #: the tiles sorted by node (stable), the nodes that have tiles, and where each one's tiles start in that order
    node_order: np.ndarray
    node_present: np.ndarray
    node_cuts: np.ndarray

    @staticmethod
    def of(program: Program) -> "_ProgramTiles":
        tiles, nodes = program.tasks.tiles, program.tasks.nodes  # the columns: no Block record is built
        node, index, macs, vops = tiles.node, tiles.index, tiles.macs, tiles.vector_ops
        views = np.asarray([n.is_view for n in nodes], dtype=bool)[node]
        cycles = program.tile_tables.cycles
        node_cycles = np.zeros(len(nodes), dtype=np.int64)
        np.add.at(node_cycles, node, cycles)
        tiles_per_node = np.bincount(node, minlength=len(nodes))
        present = np.flatnonzero(tiles_per_node)
        tables = _ProgramTiles(
            node=node, index=index, macs=macs, vector_ops=vops,
            precision=np.asarray([n.op.precision for n in nodes], dtype=object)[node],
            sram=np.where(views, 0, _in_bytes(tiles, program.tasks.reads) + tiles.out_bytes + tiles.weight_bytes),
            cycles=cycles, node_cycles=node_cycles,
            node_order=np.argsort(node, kind="stable"), node_present=present,
            node_cuts=np.concatenate(([0], np.cumsum(tiles_per_node[present])[:-1])).astype(np.int64))
        # shared by every run of the program (node, index, macs and vector_ops are the lowering's own columns,
        # cycles the program's: the compiled engine hands them to Numba, which types a read-only array apart)
        for array in (tables.precision, tables.sram, tables.node_cycles, tables.node_order, tables.node_present,
                      tables.node_cuts):
            array.flags.writeable = False
        return tables


def program_tiles(program: Program) -> _ProgramTiles:
    """The program's per-tile tables (built on first use, then kept with the program)."""
    return program.derived("results.tiles", _ProgramTiles.of)


class _TileTables:
    """Per global tile, across jobs: what the records need to be turned into energy and per-node figures."""

    def __init__(self, run: EngineRun, cost: CostModel) -> None:
        workloads, jobs = run.workloads, run.records.jobs
        node_base = np.cumsum([0] + [len(w.tasks.nodes) for w in workloads])
        programs = [program_tiles(w.program) for w in workloads]
        e_compute = [cost.compute_energy_array(t.macs, t.vector_ops, t.precision) if len(t.node) else np.zeros(0)
                     for t in programs]
        parts = [j.workload for j in jobs]
        sizes = np.asarray([len(programs[w].node) for w in parts], dtype=np.int64)

        def cat(arrays: Sequence[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate([arrays[w] for w in parts]).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

        self.e_compute = cat(e_compute, np.float64)
        self.sram = cat([t.sram for t in programs], np.int64)
        self.node = cat([t.node + node_base[w] for w, t in enumerate(programs)], np.int64)
        self.index = cat([t.index for t in programs], np.int64)
        self.cycles = cat([t.cycles for t in programs], np.int64)
        self.frame = np.repeat(np.asarray([j.frame for j in jobs], dtype=np.int64), sizes)
        self.model = np.repeat(np.asarray(parts, dtype=np.int64), sizes)
        self.node_count = int(node_base[-1])
        self.node_base = node_base


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
    rec = run.records
    cost = CostModel(hw)
    clock = hw.cores.clock_hz
    makespan = rec.latency_cycles  # the engine's clock when the last tile finished
    many = len(workloads) > 1
    arrivals = [list(w.release_cycles) for w in workloads]
    frame_ends = [list(e) for e in rec.frame_end]
    # the time the chip had work: at least one frame arrived and not yet done
    active = _union_length([(r, e) for rs, es in zip(arrivals, frame_ends) for r, e in zip(rs, es)])
    # single-frame latency: each model's first frame, arrival to its last tile (the longest over models)
    latency = max(es[0] - rs[0] for rs, es in zip(arrivals, frame_ends))
    tables = _TileTables(run, cost)

    # -- energy: per tile and per weight load, then static -------------------------------------------
    loads = np.asarray([(s, e, b, w, n) for s, e, b, w, n in rec.weight_loads] or np.zeros((0, 5)),
                       dtype=np.float64).reshape(-1, 5)
    load_bytes = loads[:, 2].astype(np.int64)
    e_sram_tiles = tables.sram * cost.sram_j_per_byte
    e_ic_tiles = rec.onchip_bytes * cost.interconnect_j_per_byte
    e_dram_tiles = rec.dram_bytes * cost.dram_j_per_byte
    e_load = load_bytes * (cost.dram_j_per_byte + cost.sram_j_per_byte)
    energy = {
        "compute": float(tables.e_compute.sum()),
        "sram": float(e_sram_tiles.sum() + (load_bytes * cost.sram_j_per_byte).sum()),
        "dram": float(e_dram_tiles.sum() + (load_bytes * cost.dram_j_per_byte).sum()),
        "interconnect": float(e_ic_tiles.sum()),
        "static": cost.static_w * makespan / clock,
    }
    e_tiles = tables.e_compute + e_sram_tiles + e_ic_tiles + e_dram_tiles
    events = np.concatenate((np.column_stack((rec.issue, rec.end, e_tiles)),
                             np.column_stack((loads[:, 0], loads[:, 1], e_load)))) if len(loads) else \
        np.column_stack((rec.issue, rec.end, e_tiles))

    # -- cores ------------------------------------------------------------------------------------------
    busy, stalled = core_busy_and_stalled(rec.compute, tables.cycles, rec.core, rec.stalls, hw.cores.count)
    idle = tuple(max(0.0, makespan - x - y) for x, y in zip(busy, stalled))

    bounds = active_lower_bounds(workloads, cost, hw.cores.count)
    lb = max(bounds.values())

    # -- per node ------------------------------------------------------------------------------------------
    count = tables.node_count
    node = tables.node
    starts, ends = node_first_and_last(workloads, tables, rec.issue, rec.end)
    # every frame of a model runs each of its tiles once
    node_busy = np.concatenate([program_tiles(wl.program).node_cycles * wl.frames for wl in workloads])
    # tiles, then weight loads: each node's figures added in that order
    load_node = tables.node_base[loads[:, 3].astype(np.int64)] + loads[:, 4].astype(np.int64)
    owner = np.concatenate((node, load_node))
    node_dram = sums_by(owner, np.concatenate((rec.dram_bytes, load_bytes)), count).astype(np.int64)
    node_energy = sums_by(owner, np.concatenate((e_tiles, e_load)), count)
    node_cores = cores_per_node(node, rec.core, count)
    nodes = []
    node_starts = np.where(starts != np.inf, starts, 0.0).tolist()
    per_node = list(zip(node_cores, node_starts, ends.tolist(), node_busy.astype(np.float64).tolist(),
                        node_dram.tolist(), node_energy.tolist()))
    for w, wl in enumerate(workloads):
        prefix = f"m{w}/" if many else ""
        base = int(tables.node_base[w])
        for (name, op, precision, blocks, bands, tile, stack, macs), (cores, start, end, cycles, dram, joules) in zip(
                program_facts(wl.program).node_rows, per_node[base:]):
            nodes.append(NodeResult(
                name=prefix + name, op=op, precision=precision, blocks=blocks, cores=cores, start_cycle=start,
                end_cycle=end, busy_cycles=cycles, macs=macs * wl.frames, dram_bytes=dram, energy_j=joules,
                bands=bands, tile=tile, stack=stack,
            ))

    streams = []
    rates_in = []
    for wl, path, rate, rs, es in zip(workloads, model_paths, fps, arrivals, frame_ends):
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
    all_ends = [e for es in frame_ends for e in es]
    overall = frame_latency_figures(all_arrivals, all_ends, clock)

    summaries = [_model_summary(w, p) for w, p in zip(workloads, model_paths)]
    memories = [_memory_summary(w) for w in workloads]
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
        memory: dict[str, Any] = {"models": memories}
    else:
        model = summaries[0]
        memory = memories[0]
    total_energy = sum(energy.values())
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
        energy_j=total_energy,
        avg_power_w=total_energy / (makespan / clock) if makespan > 0 else 0.0,
        energy_breakdown_j=energy,
        dram_read_bytes=sum(rec.dram_read.values()),
        dram_write_bytes=sum(rec.dram_write.values()),
        dram_bytes_by_kind={"read": dict(rec.dram_read), "write": dict(rec.dram_write)},
        onchip_bytes=int(rec.onchip_bytes.sum()),
        sram_bytes=int(tables.sram.sum() + load_bytes.sum()),
        core_active_utilization=tuple(b / active if active else 0.0 for b in busy),
        core_busy_cycles=busy,
        core_stalled_cycles=stalled,
        core_idle_cycles=idle,
        dram_active_utilization=rec.dram_busy_cycles / active if active else 0.0,
        interconnect_active_utilization=rec.onchip_busy_cycles / active if active else 0.0,
        active_lower_bound_cycles=lb,
        active_lower_bounds=bounds,
        # no clamp: lower bound <= active time is an invariant the test suite asserts
        active_efficiency=lb / active if active else 1.0,
        blocks=len(rec.issue),
        deadlock_spills=len(rec.spills),
        spills=tuple({"cycle": s.cycle, "model": s.workload, "node": workloads[s.workload].tasks.nodes[s.node].op.name,
                      "band": s.band, "frame": s.frame, "reason": s.reason} for s in rec.spills),
        memory=memory,
        buffers=_buffers(workloads, rec),
        ring_buffer_high_water_bytes=rec.buffer_high_water,
        power_series=power_series(events, makespan, hw.energy.static_w, clock, options.power_resolution_cycles),
        frame_arrival_cycles=tuple(all_arrivals),
        frame_end_cycles=tuple(all_ends),
        streams=tuple(streams),
        nodes=tuple(nodes),
        check=check,
        accuracy=accuracy,
        timeline=build_timeline(workloads, run, tables),
        outputs=rec.outputs[0][-1] if rec.outputs and rec.outputs[0] else {},
    )


def _buffers(workloads: Sequence[Workload], rec) -> tuple[dict, ...]:
    """Per line buffer: its tensor, the node writing it and the nodes reading it, capacity and high water."""
    many = len(workloads) > 1
    producer: dict[str, str] = {}
    consumers: dict[str, list[str]] = {}
    for w, wl in enumerate(workloads):
        prefix = f"m{w}/" if many else ""
        facts = program_facts(wl.program)
        producer.update((prefix + t, prefix + op) for t, op in facts.producer)
        for t, ops in facts.consumers:
            consumers.setdefault(prefix + t, []).extend(prefix + op for op in ops)
    return tuple(
        {"tensor": k, "producer": producer.get(k, ""), "consumers": list(consumers.get(k, ())),
         "capacity_bytes": rec.ring_capacity[k], "high_water_bytes": v}
        for k, v in sorted(rec.ring_high_water.items())
    )


def build_timeline(workloads: Sequence[Workload], run: EngineRun, tables: _TileTables) -> Timeline:
    rec = run.records
    many = len(workloads) > 1
    rows = [(w, row) for w, wl in enumerate(workloads) for row in program_facts(wl.program).node_rows]
    names = tuple((f"m{w}/" if many else "") + row[0] for w, row in rows)
    return Timeline(
        node_names=names,
        node_ops=tuple(row[1] for _, row in rows),
        block_node=tables.node,
        block_frame=tables.frame,
        block_index=tables.index,
        block_model=tables.model,
        block_core=rec.core.copy(),
        block_start=rec.issue.copy(),
        block_end=rec.end.copy(),
        dram_transfers=np.asarray(rec.dram_transfers, dtype=np.float64).reshape(-1, 3),
        buffer_levels={k: np.asarray(v, dtype=np.float64).reshape(-1, 2) for k, v in sorted(rec.ring_levels.items())},
    )
