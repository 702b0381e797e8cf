"""The streaming engine against the layer-by-layer baseline, and its GSP mechanisms at work."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

import gspsim
from gspsim.hardware import hardware_from_dict, load_hardware

from helpers import MOBILENET, RESNET, save_model, tensor


@pytest.mark.parametrize("model", [RESNET, MOBILENET], ids=lambda p: p.stem)
def test_streaming_keeps_activations_on_chip(model) -> None:
    graph = gspsim.load_model(model)
    streaming = gspsim.simulate(graph, "blaize-1600", mode="streaming")
    layer = gspsim.simulate(graph, "blaize-1600", mode="layer")
    for name, value in layer.outputs.items():
        np.testing.assert_array_equal(streaming.outputs[name], value)

    def activation_traffic(r):
        k = r.dram_bytes_by_kind
        return k["read"]["activations"] + k["write"]["activations"] + k["read"]["spill"] + k["write"]["spill"]

    assert activation_traffic(streaming) * 3 < activation_traffic(layer)
    assert streaming.onchip_bytes > 0 and layer.onchip_bytes == 0
    assert streaming.latency_cycles < layer.latency_cycles
    assert streaming.energy_j < layer.energy_j


def _fork_model(tmp_path):
    """x -> conv_a -> (long chain) -> add(conv_a, chain): a skip connection that must be buffered."""
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


def _tiny_chip(shared_bytes: int, slots: int = 2):
    d = load_hardware("edge-4").to_dict()
    d["name"] = "tiny"
    d["shared_memory"]["size_bytes"] = shared_bytes
    d["cores"]["thread_slots"] = slots
    return hardware_from_dict(d, "tiny chip")


def test_small_buffers_stall_and_deadlocks_resolve_by_spilling(tmp_path) -> None:
    path = _fork_model(tmp_path)
    graph = gspsim.load_model(path)
    roomy = gspsim.simulate(graph, "edge-4", mode="streaming", block_rows=1, check=True)
    assert roomy.check.passed and roomy.deadlock_spills == 0
    tight = gspsim.simulate(graph, _tiny_chip(3 * 1024), mode="streaming", block_rows=1, ring_depth=1, check=True)
    assert tight.check.passed  # the engine never hangs and the numbers stay right
    np.testing.assert_array_equal(tight.outputs["y"], roomy.outputs["y"])
    assert sum(tight.core_stalled_cycles) > 0  # backpressure happened
    assert tight.deadlock_spills > 0 and tight.dram_bytes_by_kind["write"]["spill"] > 0
    for buf in tight.buffers:
        assert buf["high_water_bytes"] <= buf["capacity_bytes"]


def test_frames_pipeline_and_arrival_rate() -> None:
    graph = gspsim.load_model(RESNET)
    one = gspsim.simulate(graph, "blaize-1600")
    four = gspsim.simulate(graph, "blaize-1600", frames=4)
    assert four.frames == 4 and len(four.frame_end_cycles) == 4
    # pipelined frames finish in less than four single-frame latencies
    assert four.makespan_cycles < 4 * one.latency_cycles
    assert four.steady_state_fps > one.steady_state_fps
    paced = gspsim.simulate(graph, "blaize-1600", frames=3, fps=1000.0)
    stream = paced.streams[0]
    assert stream["deadline_misses"] == 0 and stream["max_latency_s"] < 1e-3
    assert paced.makespan_s >= 2e-3  # the third frame arrives at 2 ms
    assert paced.steady_state_fps == 1000.0  # the chip keeps up: frames leave as fast as they arrive


def test_power_series_integrates_to_the_energy() -> None:
    r = gspsim.simulate(RESNET, "blaize-1600")
    ps = r.power_series
    starts = np.asarray(ps["start_cycles"] + [r.makespan_cycles])
    joules = float(np.sum(np.asarray(ps["watts"]) * np.diff(starts) / r.hardware["clock_hz"]))
    assert joules == pytest.approx(r.energy_j, rel=1e-6)
    assert abs(sum(r.energy_breakdown_j.values()) - r.energy_j) < 1e-15


def test_more_cores_and_bandwidth_do_not_slow_a_model_down() -> None:
    graph = gspsim.load_model(MOBILENET)
    small = gspsim.simulate(graph, "edge-4")
    big = gspsim.simulate(graph, "blaize-1600")
    assert big.latency_cycles < small.latency_cycles
