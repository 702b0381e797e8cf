"""Engine invariants on random DAGs, random chips, random tiles and budgets (hypothesis).

Every tile runs exactly once and after every tile of the bands it depends on;
no core runs more threads than it has slots; line-buffer occupancy never
exceeds capacity, and the stacks' buffers never exceed the budget; with the
compiler's sizing nothing spills, and the DRAM traffic is exactly what the
memory plan implies; latency >= every lower bound (so efficiency <= 1,
asserted here, not clamped); the same inputs, config and seed give the same
result; and every mode, tile size, budget and fusion setting computes the same
outputs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gspsim
from gspsim.api import compile_model, load_model, prepare_graph, simulate_many
from gspsim.engine import run_engine
from gspsim.engine.options import SimOptions
from gspsim.engine.records import Workload
from gspsim.hardware.config import load_hardware
from gspsim.scheduling import make_scheduler, scheduler_names

from random_graphs import random_chip, random_cnn, save

TILES = [None, "rows=1", "rows=2,channels=1", "rows=3,cols=2", "rows=all"]


def _max_concurrency(starts: np.ndarray, ends: np.ndarray) -> int:
    events = sorted([(s, 1) for s in starts] + [(e, -1) for e in ends], key=lambda x: (x[0], x[1]))
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def _check_invariants(result: gspsim.SimResult, program, hw, frames: int) -> None:
    tasks = program.tasks
    tl = result.timeline
    nb = len(tasks.blocks)
    assert len(tl.block_start) == nb * frames == result.blocks
    assert np.all(tl.block_end >= tl.block_start) and np.all(tl.block_core >= 0)
    for f in range(frames):
        base = f * nb
        for block in tasks.blocks:
            start = tl.block_start[base + block.id]
            for dep in tasks.block_deps(block.id):
                assert start >= tl.block_end[base + dep], (f, block.id, dep)
    for core in range(hw.cores.count):
        mine = tl.block_core == core
        assert _max_concurrency(tl.block_start[mine], tl.block_end[mine]) <= hw.cores.thread_slots
    capacity = {b["tensor"]: b["capacity_bytes"] for b in result.buffers}
    for name, levels in tl.buffer_levels.items():
        assert levels[:, 1].max(initial=0) <= capacity[name]
        assert levels[:, 1].min(initial=0) >= 0
    assert result.ring_buffer_high_water_bytes <= max(result.memory["buffer_budget_bytes"],
                                                      max((s["buffer_bytes"] for s in result.memory["stacks"]),
                                                          default=0))
    assert result.deadlock_spills == 0 and not result.spills
    k = result.dram_bytes_by_kind
    graph = tasks.graph
    assert k["read"]["weights"] >= sum(n.cost.weight_bytes for n in tasks.nodes) or not result.memory["resident_weights"]
    assert k["write"]["outputs"] == frames * sum(graph.tensors[t].nbytes for t in graph.outputs)
    planned = program.planned_activation_bytes()
    assert k["read"]["inputs"] == frames * planned["inputs"]
    assert k["read"]["intermediate"] == frames * planned["intermediate_read"]
    assert k["write"]["intermediate"] == frames * planned["intermediate_write"]
    for name, bound in result.active_lower_bounds.items():
        assert result.active_cycles >= bound - 1e-6, name
    assert result.latency_cycles <= result.makespan_cycles and result.active_cycles <= result.makespan_cycles
    assert 0 < result.active_efficiency <= 1 + 1e-12
    assert max(result.core_active_utilization) <= 1 + 1e-9
    assert all(v >= 0 for v in result.energy_breakdown_j.values())


@settings(max_examples=60, deadline=None)
@given(model=random_cnn(), hw=random_chip(), mode=st.sampled_from(["streaming", "layer"]),
       frames=st.integers(1, 2), tile=st.sampled_from(TILES), seed=st.integers(0, 5),
       budget=st.sampled_from([None, 0, 2048, 65536]), scheduler=st.sampled_from(scheduler_names()),
       fuse=st.booleans())
def test_engine_invariants_on_random_graphs(model, hw, mode, frames, tile, seed, budget, scheduler, fuse) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        graph = gspsim.load_model(save(model, Path(tmp)))
        options = SimOptions(mode=mode, frames=frames, tile=tile, seed=seed, buffer_budget=budget,
                             scheduler=scheduler, fuse=fuse, accuracy_samples=0)
        result = gspsim.simulate(graph, hw, options)
        program = compile_model(prepare_graph(graph, options), hw, options)
        _check_invariants(result, program, hw, frames)
        again = gspsim.simulate(graph, hw, options)
        assert again.to_json() == result.to_json()
        # every mode, tile size, budget and fusion setting computes exactly the same outputs
        other = gspsim.simulate(graph, hw, SimOptions(mode="layer" if mode == "streaming" else "streaming",
                                                       seed=seed, frames=frames, fuse=not fuse, accuracy_samples=0))
        for name, value in result.outputs.items():
            np.testing.assert_array_equal(value, other.outputs[name])


@settings(max_examples=30, deadline=None)
@given(first=random_cnn(max_nodes=6), second=random_cnn(max_nodes=6), hw=random_chip(),
       mode=st.sampled_from(["streaming", "layer"]), frames=st.integers(1, 3),
       fps=st.sampled_from([None, 1e5, 1e6]))
def test_models_sharing_a_chip_always_finish(first, second, hw, mode, frames, fps) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = [save(first, Path(tmp), "a.onnx"), save(second, Path(tmp), "b.onnx")]
        options = SimOptions(mode=mode, frames=frames, accuracy_samples=0)
        result = simulate_many(paths, hw, options, fps=[fps, fps])
        alone = [gspsim.simulate(p, hw, options) for p in paths]
        assert len(result.streams) == 2 and all(s["frames"] == frames for s in result.streams)
        for name, bound in result.active_lower_bounds.items():
            assert result.active_cycles >= bound - 1e-6, name
        assert max(result.core_active_utilization) <= 1 + 1e-9
        assert result.deadlock_spills == 0
        # sharing the chip computes the first model's outputs exactly as running it alone
        assert result.outputs.keys() == alone[0].outputs.keys()
        for name, value in alone[0].outputs.items():
            np.testing.assert_array_equal(result.outputs[name], value)


@pytest.mark.parametrize("budget", [None, 4096])
@pytest.mark.parametrize("path", sorted((Path(__file__).parent / "models").glob("*.onnx")), ids=lambda p: p.name)
def test_a_frame_on_an_idle_chip_takes_one_frames_latency(path: Path, budget) -> None:
    """Frames two latencies apart find the chip idle: each takes exactly as long as a frame alone (a model whose
    weights stay resident loads them once, so its later frames are faster, and equal to each other).  Before
    2026-12-03 a frame's weights loaded before it arrived, and some of these runs stalled."""
    hw = load_hardware("edge-4")
    options = SimOptions(frames=3, execute=False, accuracy_samples=0, buffer_budget=budget)
    program = compile_model(prepare_graph(load_model(str(path)), options), hw, options)

    def frame_latencies(arrivals: tuple[float, ...]) -> list[float]:
        run = run_engine([Workload(program, make_scheduler(options.scheduler_name, 0), arrivals)], hw, options)
        return [end - start for end, start in zip(run.records.frame_end[0], arrivals, strict=True)]

    (alone,) = frame_latencies((0.0,))
    spaced = frame_latencies((0.0, 2 * alone, 4 * alone))
    assert spaced[0] == alone and spaced[1] == spaced[2]
    if program.plan.resident:
        assert spaced[1] <= alone
    else:
        assert spaced[1] == alone
