"""The streaming engine against the layer-by-layer baseline, and its GSP mechanisms at work."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from onnx import helper, numpy_helper

import gspsim
from gspsim.api import compile_model, prepare_graph
from gspsim.engine import run_engine
from gspsim.engine.records import Workload
from gspsim.hardware import hardware_from_dict, load_hardware
from gspsim.results.build import build_result
from gspsim.scheduling import make_scheduler

from helpers import MOBILENET, RESNET, ROOT, save_model, tensor


def intermediate_traffic(r: gspsim.SimResult) -> int:
    """DRAM bytes of tensors passed between nodes (planned cuts, layer mode) and of spills."""
    k = r.dram_bytes_by_kind
    return k["read"]["intermediate"] + k["write"]["intermediate"] + k["read"]["spill"] + k["write"]["spill"]


@pytest.mark.parametrize("model", [RESNET, MOBILENET], ids=lambda p: p.stem)
def test_streaming_keeps_activations_on_chip(model) -> None:
    graph = gspsim.load_model(model)
    streaming = gspsim.simulate(graph, "blaize-1600", mode="streaming", accuracy_samples=0)
    layer = gspsim.simulate(graph, "blaize-1600", mode="layer", accuracy_samples=0)
    for name, value in layer.outputs.items():
        np.testing.assert_array_equal(streaming.outputs[name], value)
    assert intermediate_traffic(layer) > 0 and intermediate_traffic(streaming) < intermediate_traffic(layer) / 10
    assert streaming.deadlock_spills == 0 and streaming.memory["stacks"]
    assert streaming.latency_cycles < layer.latency_cycles
    assert streaming.energy_j < layer.energy_j
    # the graph input is read from DRAM once per row in both modes
    assert streaming.dram_bytes_by_kind["read"]["inputs"] == layer.dram_bytes_by_kind["read"]["inputs"]


def _fork_model(tmp_path):
    """x -> conv0 -> (long chain) -> add(conv0, chain): a skip connection that must be buffered."""
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    c = 4
    prev = "x"
    for i in range(4):
        w = numpy_helper.from_array(rng.standard_normal((c, c, 3, 3)).astype(np.float32) * 0.3, f"w{i}")
        inits.append(w)
        nodes.append(helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], name=f"conv{i}", pads=[1, 1, 1, 1]))
        prev = f"c{i}"
    nodes.append(helper.make_node("Add", ["c0", prev], ["y"], name="skip_add"))
    return save_model(nodes, [tensor("x", [1, c, 32, 32])], [tensor("y", [1, c, 32, 32])], inits, tmp_path / "fork.onnx")


def test_a_small_budget_cuts_stacks_instead_of_spilling(tmp_path) -> None:
    graph = gspsim.load_model(_fork_model(tmp_path))
    roomy = gspsim.simulate(graph, "edge-4", tile="rows=1", check=True)
    assert roomy.check.passed and roomy.deadlock_spills == 0 and intermediate_traffic(roomy) == 0
    assert roomy.memory["min_buffer_budget_bytes"] > 2048
    tight = gspsim.simulate(graph, "edge-4", tile="rows=1", buffer_budget=2048, check=True)
    assert tight.check.passed and tight.deadlock_spills == 0
    assert tight.memory["cuts"] and intermediate_traffic(tight) > 0
    np.testing.assert_array_equal(tight.outputs["y"], roomy.outputs["y"])
    for buf in tight.buffers:
        assert buf["high_water_bytes"] <= buf["capacity_bytes"]


def test_undersized_line_buffers_stall_and_deadlocks_resolve_by_spilling(tmp_path) -> None:
    """Line buffers smaller than the compiler's sizing (made by hand here: no option makes them) deadlock; the
    engine then spills a band to DRAM, says why, and the outputs stay exact."""
    graph = gspsim.load_model(_fork_model(tmp_path))
    hw = load_hardware("edge-4")
    options = gspsim.SimOptions(tile="rows=1", mode="streaming", accuracy_samples=0)
    program = compile_model(prepare_graph(graph, options), hw, options)
    tiny = tuple(dataclasses.replace(r, capacity=max(r.band_bytes)) for r in program.rings)
    inputs = ({"x": np.random.default_rng(0).standard_normal((1, 4, 32, 32)).astype(np.float32)},)
    for engine in ("reference", "fast"):
        opts = dataclasses.replace(options, engine=engine)
        roomy = run_engine([Workload(program, make_scheduler("depth-first"), (0.0,), inputs)], hw, opts)
        tight = run_engine([Workload(dataclasses.replace(program, rings=tiny), make_scheduler("depth-first"),
                                     (0.0,), inputs)], hw, opts)
        assert not roomy.records.spills and tight.records.spills
        assert all(s.reason.startswith("deadlock") for s in tight.records.spills)
        assert tight.records.dram_write["spill"] > 0 and tight.records.dram_read["spill"] > 0
        np.testing.assert_array_equal(tight.records.outputs[0][0]["y"], roomy.records.outputs[0][0]["y"])
        result = build_result(list(tight.workloads), hw, opts, tight, ["fork.onnx"], [None])
        assert result.deadlock_spills == len(result.spills) > 0 and result.spills[0]["node"]
        assert sum(result.core_stalled_cycles) > 0  # backpressure happened before the deadlock


def test_frames_pipeline_and_arrival_rate() -> None:
    graph = gspsim.load_model(RESNET)
    one = gspsim.simulate(graph, "blaize-1600", accuracy_samples=0)
    four = gspsim.simulate(graph, "blaize-1600", frames=4, accuracy_samples=0)
    assert four.frames == 4 and len(four.frame_end_cycles) == 4
    # pipelined frames finish in less than four single-frame latencies; weights that fit load once
    assert four.makespan_cycles < 4 * one.latency_cycles
    assert four.steady_state_fps > one.steady_state_fps
    assert four.dram_bytes_by_kind["read"]["weights"] == one.dram_bytes_by_kind["read"]["weights"]
    paced = gspsim.simulate(graph, "blaize-1600", frames=3, fps=1000.0, accuracy_samples=0)
    stream = paced.streams[0]
    assert stream["deadline_misses"] == 0 and stream["max_latency_s"] < 1e-3
    assert paced.makespan_s >= 2e-3  # the third frame arrives at 2 ms
    assert paced.steady_state_fps == 1000.0  # the chip keeps up: frames leave as fast as they arrive


def test_power_series_integrates_to_the_energy() -> None:
    r = gspsim.simulate(RESNET, "blaize-1600", accuracy_samples=0)
    ps = r.power_series
    starts = np.asarray(ps["start_cycles"] + [r.makespan_cycles])
    joules = float(np.sum(np.asarray(ps["watts"]) * np.diff(starts) / r.hardware["clock_hz"]))
    assert joules == pytest.approx(r.energy_j, rel=1e-6)


def test_more_cores_and_bandwidth_do_not_slow_a_model_down() -> None:
    graph = gspsim.load_model(MOBILENET)
    small = gspsim.simulate(graph, "edge-4", accuracy_samples=0, execute=False)
    big = gspsim.simulate(graph, "blaize-1600", accuracy_samples=0, execute=False)
    assert big.latency_cycles < small.latency_cycles


def test_locality_saves_interconnect_traffic() -> None:
    """Tiles on their home core read their weight slice and their halo rows from their own memory."""
    graph = gspsim.load_model(RESNET)
    home = gspsim.simulate(graph, "blaize-1600", scheduler="depth-first", execute=False, accuracy_samples=0)
    anywhere = gspsim.simulate(graph, "blaize-1600", scheduler="round-robin", execute=False, accuracy_samples=0)
    assert home.onchip_bytes < anywhere.onchip_bytes
    assert home.energy_breakdown_j["interconnect"] < anywhere.energy_breakdown_j["interconnect"]


def _chip(**changes):
    d = load_hardware("edge-4").to_dict()
    for path, value in changes.items():
        section, field = path.split("__")
        d[section][field] = value
    return hardware_from_dict(d, "test chip")


def test_every_hardware_field_changes_a_result_it_should() -> None:
    """Bandwidth of shared memory, DMA engines and the interconnect are not ignored (issue: fields that did nothing)."""
    graph = gspsim.load_model(MOBILENET)
    base = gspsim.simulate(graph, _chip(), execute=False, accuracy_samples=0)
    for change in ({"shared_memory__bandwidth_bytes_per_cycle": 1.0}, {"interconnect__bandwidth_bytes_per_cycle": 1.0},
                   {"dma__engines": 1}, {"dram__bandwidth_bytes_per_s": 1e9}, {"cores__local_memory_bytes": 2048},
                   {"cores__thread_slots": 1}):
        other = gspsim.simulate(graph, _chip(**change), execute=False, accuracy_samples=0)
        assert other.latency_cycles != base.latency_cycles, change


#: the legacy-opset copies of test models exercise the frontend; their graphs are the same once loaded
SHIPPED_AND_TEST_MODELS = sorted(p for p in [*RESNET.parent.glob("*.onnx"), *(ROOT / "gspsim" / "models").glob("*.onnx")]
                                 if not p.stem.endswith("_legacy"))


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("model", SHIPPED_AND_TEST_MODELS, ids=lambda p: p.stem)
def test_streaming_is_never_slower_than_layer_and_frames_pipeline(model, precision: str) -> None:
    """Every shipped and test model: streaming latency at most layer latency, and 8 pipelined frames
    leave at least as fast as single frames (steady-state fps of 8 frames >= 1 / single-frame latency)."""
    graph = gspsim.load_model(model)
    runs = {(mode, frames): gspsim.simulate(graph, "blaize-1600", mode=mode, precision=precision, frames=frames,
                                            execute=False, accuracy_samples=0)
            for mode in ("streaming", "layer") for frames in (1, 8)}
    assert runs["streaming", 1].latency_cycles <= runs["layer", 1].latency_cycles
    for mode in ("streaming", "layer"):
        assert runs[mode, 8].steady_state_fps >= runs[mode, 1].steady_state_fps, mode


@pytest.mark.parametrize("budget", [4096, 16384])
@pytest.mark.parametrize("model", [RESNET, MOBILENET, RESNET.parent / "transformer_encoder.onnx"], ids=lambda p: p.stem)
def test_frames_stream_through_many_stacks_without_deadlock(model, budget: int) -> None:
    """Four frames through a model cut into many stacks by a small budget. Weight loads go stack by stack and
    frame by frame within a stack: loaded frame by frame, the first frame's loads for the next stack filled the
    weight memory while that stack waited for the frames behind to leave this one, and every run stalled."""
    graph = gspsim.load_model(model)
    one = gspsim.simulate(graph, "blaize-1600", buffer_budget=budget, execute=False, accuracy_samples=0)
    four = gspsim.simulate(graph, "blaize-1600", buffer_budget=budget, frames=4, execute=False, accuracy_samples=0)
    assert len(four.memory["stacks"]) > 1 and four.frames == 4 and four.deadlock_spills == 0
    assert four.steady_state_fps >= one.steady_state_fps


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("model", [MOBILENET, RESNET.parent / "transformer_encoder.onnx"], ids=lambda p: p.stem)
def test_frames_that_arrive_together_open_each_stack_once(model, engine: str) -> None:
    """A stack stays open until every arrived frame has passed it. Closed behind the first frame, it had to
    open again (three times for three frames of the transformer at 4 KiB), and a stack that must reopen behind
    a later one that cannot close without it deadlocked MobileNetV2 224 at fp32 with two frames."""
    from collections import Counter

    from gspsim.engine.options import SimOptions

    hw = load_hardware("blaize-1600")
    options = SimOptions(frames=3, buffer_budget=4096, execute=False, accuracy_samples=0, engine=engine)
    program = compile_model(prepare_graph(gspsim.load_model(model), options), hw, options)
    run = run_engine([Workload(program, make_scheduler("depth-first"), (0.0, 0.0, 0.0))], hw, options)
    opened = Counter(stack for _, stack, _, _ in run.records.stack_spans)
    assert len(program.plan.stacks) > 5 and set(opened) == set(range(len(program.plan.stacks)))
    assert max(opened.values()) == 1
