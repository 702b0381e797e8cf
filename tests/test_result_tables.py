"""The result builder's array computations (gspsim/results/) against their plain per-tile definitions, on real
lowered models and real engine runs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import gspsim
from gspsim.api import compile_model, prepare_graph
from gspsim.engine import run_engine
from gspsim.engine.options import SimOptions
from gspsim.engine.records import Workload
from gspsim.hardware.config import load_hardware
from gspsim.hardware.cost_model import CostModel
from gspsim.results.bounds import critical_path_cycles, slowest_tile_cycles
from gspsim.results.build import (_in_bytes, _TileTables, _union_length, core_busy_and_stalled, cores_per_node,
                                  energy_spent_by, node_first_and_last, sums_by, union_lengths)
from gspsim.scheduling import make_scheduler

from helpers import MOBILENET, RESNET, TRANSFORMER


@pytest.fixture(scope="module", params=[RESNET, MOBILENET, TRANSFORMER], ids=lambda p: p.stem)
def workload_run(request):
    hw = load_hardware("blaize-1600")
    options = SimOptions(mode="streaming", frames=3, execute=False, accuracy_samples=0)
    program = compile_model(prepare_graph(gspsim.load_model(request.param), options), hw, options)
    workload = Workload(program, make_scheduler(options.scheduler_name, options.seed), (0.0, 500.0, 500.0))
    return workload, run_engine([workload], hw, options)


def test_slowest_tile_per_band_is_the_max_over_the_bands_tiles(workload_run) -> None:
    workload, _ = workload_run
    prog = workload.program
    plain = [max((prog.cycles[t] for t in band.tiles), default=0) for band in prog.tasks.bands]
    assert slowest_tile_cycles(workload) == plain
    finish = [0.0] * len(prog.tasks.bands)
    for band in prog.tasks.bands:
        finish[band.id] = max((finish[d] for d in band.deps), default=0.0) + plain[band.id]
    assert critical_path_cycles(workload) == max(finish) > 0


def test_per_tile_tables_are_each_tiles_own_figures(workload_run) -> None:
    workload, run = workload_run
    tables = _TileTables(run, CostModel(load_hardware("blaize-1600")))
    blocks, nodes = workload.tasks.blocks, workload.tasks.nodes
    sram = [0 if nodes[b.node].is_view else b.in_bytes + b.out_bytes + b.weight_bytes for b in blocks]
    assert tables.sram.tolist() == sram * workload.frames
    assert tables.node.tolist() == [b.node for b in blocks] * workload.frames
    assert tables.index.tolist() == [b.index for b in blocks] * workload.frames
    assert sum(sram) > 0 and any(len(b.inputs) > 1 for b in blocks)
    # tiles that read nothing (a node of constants) among others: tiles 1 and 4 lose their reads
    tiles, reads = workload.tasks.tiles, workload.tasks.reads
    counts = np.diff(tiles.read_start)
    keep = np.ones(len(tiles.read_ids), dtype=bool)
    for t in (1, 4):
        keep[tiles.read_start[t]:tiles.read_start[t + 1]] = False
        counts[t] = 0
    emptied = replace(tiles, read_ids=tiles.read_ids[keep], read_start=np.concatenate(([0], np.cumsum(counts))))
    assert counts[[0, 2, 3]].all()
    assert _in_bytes(emptied, reads).tolist() == [0 if t in (1, 4) else b.in_bytes for t, b in enumerate(blocks)]


def test_cores_per_node_are_the_distinct_cores_of_its_tiles(workload_run) -> None:
    _, run = workload_run
    tables = _TileTables(run, CostModel(load_hardware("blaize-1600")))
    node, core = tables.node, run.records.core
    plain = [tuple(int(c) for c in np.unique(core[node == k])) for k in range(tables.node_count)]
    assert cores_per_node(node, core, tables.node_count) == plain
    assert sum(map(len, plain)) > tables.node_count  # some node spread over several cores


def _energy_spent_by_plain(events: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Every event's fraction spent at every edge times its energy, summed 4096 events at a time."""
    energy_at = np.zeros_like(edges)
    s, e, j = events[:, 0], events[:, 1], events[:, 2]
    width = np.maximum(e - s, 1e-9)
    for chunk in range(0, len(events), 4096):
        sl = slice(chunk, chunk + 4096)
        energy_at += (np.clip((edges[None, :] - s[sl, None]) / width[sl, None], 0.0, 1.0) * j[sl, None]).sum(axis=0)
    return energy_at


def _random_events(rng: np.random.Generator, n: int, span: int, step: int) -> np.ndarray:
    """Events in time order or not, some of no duration, many starting or ending on an edge (a multiple of step)."""
    start = rng.integers(0, span, n).astype(np.float64)
    if rng.random() < 0.5:
        start.sort()
    duration = np.where(rng.random(n) < 0.2, 0.0, np.round(rng.exponential(span / 50, n)))
    on_edge = rng.random(n) < 0.3
    start[on_edge] -= start[on_edge] % step
    return np.column_stack((start, start + duration, rng.uniform(0, 1e-6, n)))


@pytest.mark.parametrize("seed", range(8))
def test_energy_spent_by_each_edge_is_every_events_share_summed(seed: int) -> None:
    rng = np.random.default_rng(seed)
    span = int(rng.integers(10, 10**6))
    step = max(1, span // int(rng.integers(10, 400)))
    events = _random_events(rng, int(rng.integers(1, 20000)), span, step)
    edges = np.arange(0.0, span + 2 * step, step)
    np.testing.assert_array_equal(energy_spent_by(events, edges), _energy_spent_by_plain(events, edges))


def test_an_event_of_no_duration_has_spent_nothing_at_its_own_cycle() -> None:
    """(edge - start) / 1e-9 is 0 there: its energy counts from the next edge on."""
    events = np.array([(0.0, 5.0, 1.0), (10.0, 10.0, 2.0)])
    edges = np.array([0.0, 5.0, 10.0, 15.0])
    np.testing.assert_array_equal(energy_spent_by(events, edges), [0.0, 1.0, 1.0, 3.0])
    np.testing.assert_array_equal(_energy_spent_by_plain(events, edges), [0.0, 1.0, 1.0, 3.0])


def test_energy_spent_by_each_edge_of_a_real_run_is_every_events_share_summed(workload_run) -> None:
    _, run = workload_run
    rec = run.records
    events = np.column_stack((rec.issue, rec.end, rec.dram_bytes * 1e-10 + 1e-9))
    edges = np.linspace(0.0, rec.latency_cycles, 201)
    np.testing.assert_array_equal(energy_spent_by(events, edges), _energy_spent_by_plain(events, edges))


@pytest.mark.parametrize("seed", range(8))
def test_union_lengths_per_group_are_each_groups_union_length(seed: int) -> None:
    """Nested, touching, repeated and empty intervals, groups with none, in any order; the same floats."""
    rng = np.random.default_rng(seed)
    n, groups = int(rng.integers(1, 3000)), int(rng.integers(1, 40))
    start = np.round(rng.uniform(0, 10**5, n), int(rng.integers(0, 3)))
    start[rng.random(n) < 0.2] = start[0]  # repeated starts
    end = start + np.where(rng.random(n) < 0.1, 0.0, np.round(rng.exponential(500, n), 1))
    group = rng.integers(0, groups, n) if rng.random() < 0.5 else rng.integers(0, max(1, groups // 2), n)
    plain = [_union_length(np.column_stack((start[group == k], end[group == k]))) for k in range(groups)]
    assert union_lengths(start, end, group, groups) == plain
    assert union_lengths(start[:0], end[:0], group[:0], groups) == [0.0] * groups


def test_core_busy_and_stalled_are_each_cores_unions(workload_run) -> None:
    workload, run = workload_run
    rec = run.records
    tables = _TileTables(run, CostModel(load_hardware("blaize-1600")))
    cores = len(rec.stalls)
    busy, stalled = core_busy_and_stalled(rec.compute, tables.cycles, rec.core, rec.stalls, cores)
    computing = tables.cycles > 0
    iv = np.column_stack((rec.compute, rec.compute + tables.cycles))[computing]
    per_core = [iv[rec.core[computing] == c] for c in range(cores)]
    assert busy == tuple(_union_length(b) for b in per_core)
    assert stalled == tuple(_union_length(np.concatenate((np.asarray(st, dtype=np.float64).reshape(-1, 2), b))) - u
                            if len(st) else 0.0 for st, b, u in zip(rec.stalls, per_core, busy))
    # made-up stalls, overlapping the busy time and each other, on some cores
    rng = np.random.default_rng(0)
    stalls = [[(float(a), float(a + rng.integers(0, 5000))) for a in rng.integers(0, int(rec.latency_cycles), 3)]
              if c % 3 else [] for c in range(cores)]
    _, stalled = core_busy_and_stalled(rec.compute, tables.cycles, rec.core, stalls, cores)
    assert stalled == tuple(_union_length(np.concatenate((np.asarray(st, dtype=np.float64).reshape(-1, 2), b))) - u
                            if len(st) else 0.0 for st, b, u in zip(stalls, per_core, busy))
    assert sum(stalled) > 0


def test_sums_by_add_each_bins_values_in_order_as_add_at_does(workload_run) -> None:
    workload, run = workload_run
    rec = run.records
    tables = _TileTables(run, CostModel(load_hardware("blaize-1600")))
    rng = np.random.default_rng(1)
    for values in (rec.issue * 1.1e-7 + rng.uniform(0, 1e-3, len(rec.issue)), rec.dram_bytes):
        plain = np.zeros(tables.node_count, dtype=values.dtype)
        np.add.at(plain, tables.node, values)
        np.testing.assert_array_equal(sums_by(tables.node, values, tables.node_count), plain)
    assert sums_by(tables.node[:0], rec.issue[:0], 5).tolist() == [0.0] * 5


def test_node_first_and_last_are_the_extremes_over_each_nodes_tiles(workload_run) -> None:
    workload, run = workload_run
    rec = run.records
    tables = _TileTables(run, CostModel(load_hardware("blaize-1600")))
    starts, ends = node_first_and_last([workload], tables, rec.issue, rec.end)
    plain_starts, plain_ends = np.full(tables.node_count, np.inf), np.zeros(tables.node_count)
    np.minimum.at(plain_starts, tables.node, rec.issue)
    np.maximum.at(plain_ends, tables.node, rec.end)
    np.testing.assert_array_equal(starts, plain_starts)
    np.testing.assert_array_equal(ends, plain_ends)
    assert workload.frames > 1 and len(set(rec.issue.tolist())) > tables.node_count
