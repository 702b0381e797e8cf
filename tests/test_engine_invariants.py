"""Engine invariants on random DAGs and random chips (hypothesis).

Every block runs exactly once and after its dependencies; no core runs more
threads than it has slots; buffer occupancy never exceeds capacity; DRAM bytes
>= weights + graph inputs + graph outputs; latency >= every lower bound; energy
equals the sum of its parts; the same inputs, config and seed give the same
result; and every mode, block size and fusion setting computes the same outputs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import gspsim
from gspsim.api import lower, prepare_graph, simulate_many
from gspsim.engine.options import SimOptions
from gspsim.scheduling import scheduler_names

from random_graphs import random_chip, random_cnn, save


def _max_concurrency(starts: np.ndarray, ends: np.ndarray) -> int:
    events = sorted([(s, 1) for s in starts] + [(e, -1) for e in ends], key=lambda x: (x[0], x[1]))
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def _check_invariants(result: gspsim.SimResult, tasks, hw, frames: int) -> None:
    tl = result.timeline
    nb = len(tasks.blocks)
    assert len(tl.block_start) == nb * frames
    assert np.all(tl.block_end >= tl.block_start)
    assert np.all(tl.block_core >= 0)
    for g in range(nb * frames):
        f, b = divmod(g, nb)
        for d in tasks.blocks[b].deps:
            assert tl.block_start[g] >= tl.block_end[f * nb + d], (g, d)
    for core in range(hw.cores.count):
        mine = tl.block_core == core
        assert _max_concurrency(tl.block_start[mine], tl.block_end[mine]) <= hw.cores.thread_slots
    capacity = {b["tensor"]: b["capacity_bytes"] for b in result.buffers}
    for name, levels in tl.buffer_levels.items():
        base = name.split("[frame")[0]
        assert levels[:, 1].max(initial=0) <= capacity[base]
    graph = tasks.graph
    must = graph.weight_bytes + frames * sum(graph.tensors[t].nbytes for t in (*graph.inputs, *graph.outputs))
    assert result.dram_read_bytes + result.dram_write_bytes >= must
    for name, bound in result.active_lower_bounds.items():
        assert result.active_cycles >= bound - 1e-6, name
    assert result.latency_cycles <= result.makespan_cycles and result.active_cycles <= result.makespan_cycles
    assert abs(result.energy_j - sum(result.energy_breakdown_j.values())) <= 1e-12 + 1e-9 * result.energy_j
    assert 0 <= result.active_efficiency <= 1 + 1e-9


@settings(max_examples=80)
@given(model=random_cnn(), hw=random_chip(), mode=st.sampled_from(["streaming", "layer"]),
       frames=st.integers(1, 2), block_rows=st.sampled_from([None, 1, 3]), seed=st.integers(0, 5),
       ring_depth=st.sampled_from([None, None, 1, 2]), scheduler=st.sampled_from(scheduler_names()),
       fuse=st.booleans())
def test_engine_invariants_on_random_graphs(model, hw, mode, frames, block_rows, seed, ring_depth, scheduler,
                                            fuse) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = save(model, Path(tmp))
        graph = gspsim.load_model(path)
        options = SimOptions(mode=mode, frames=frames, block_rows=block_rows, seed=seed, ring_depth=ring_depth,
                             scheduler=scheduler, fuse=fuse)
        result = gspsim.simulate(graph, hw, options)
        tasks = lower(prepare_graph(graph, options), hw, options)
        _check_invariants(result, tasks, hw, frames)
        again = gspsim.simulate(graph, hw, options)
        assert again.to_json() == result.to_json()
        # every mode, block size and fusion setting computes exactly the same outputs
        other = gspsim.simulate(graph, hw, SimOptions(mode="layer" if mode == "streaming" else "streaming", seed=seed,
                                                       frames=frames, fuse=not fuse))
        for name, value in result.outputs.items():
            np.testing.assert_array_equal(value, other.outputs[name])


@settings(max_examples=40)
@given(first=random_cnn(max_nodes=6), second=random_cnn(max_nodes=6), hw=random_chip(),
       mode=st.sampled_from(["streaming", "layer"]), frames=st.integers(1, 3),
       fps=st.sampled_from([None, 1e5, 1e6]))
def test_models_sharing_a_chip_always_finish(first, second, hw, mode, frames, fps) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = [save(first, Path(tmp), "a.onnx"), save(second, Path(tmp), "b.onnx")]
        options = SimOptions(mode=mode, frames=frames)
        result = simulate_many(paths, hw, options, fps=[fps, fps])
        alone = [gspsim.simulate(p, hw, options) for p in paths]
        assert len(result.streams) == 2 and all(s["frames"] == frames for s in result.streams)
        for name, bound in result.active_lower_bounds.items():
            assert result.active_cycles >= bound - 1e-6, name
        assert max(result.core_active_utilization) <= 1 + 1e-9
        assert abs(result.energy_j - sum(result.energy_breakdown_j.values())) <= 1e-12 + 1e-9 * result.energy_j
        # sharing the chip computes the first model's outputs exactly as running it alone
        assert result.outputs.keys() == alone[0].outputs.keys()
        for name, value in alone[0].outputs.items():
            np.testing.assert_array_equal(result.outputs[name], value)
