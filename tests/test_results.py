"""The time and rate figures of a result (docs/json-result.md, "Time and rate") on runs one can reason out.

The model is one Relu with no weights: every frame costs the chip the same
work, so with frames spaced far apart each takes exactly the one-frame
latency, and on a one-core, one-slot chip frames that arrive together run one
after another.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from onnx import helper

import gspsim
from gspsim.hardware import hardware_from_dict, load_hardware
from gspsim.results.build import nearest_rank
from gspsim.results.names import model_display_name

from helpers import RESNET, ROOT, run_cli, save_model, tensor

SCHEMA = json.loads((ROOT / "docs" / "json-result.schema.json").read_text())
CLOCK = 1e9  # blaize-1600's clock
#: cycles between frames at 10,000 fps: a whole number, so every arrival cycle is exact
PERIOD = 100_000


@pytest.fixture(scope="module")
def relu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("relu")
    return save_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [tensor("x", [1, 8, 32, 32])],
                      [tensor("y", [1, 8, 32, 32])], [], folder / "relu.onnx")


def _one_core_chip():
    d = load_hardware("blaize-1600").to_dict()
    d["name"] = "one-core"
    d["cores"]["count"] = 1
    d["cores"]["thread_slots"] = 1
    return hardware_from_dict(d, "one-core chip")


def test_nearest_rank_percentiles() -> None:
    eight = [8.0, 1.0, 7.0, 2.0, 6.0, 3.0, 5.0, 4.0]
    assert nearest_rank(eight, 50) == 4.0  # the 4th of 8
    assert nearest_rank(eight, 95) == 8.0  # ceil(7.6) = the 8th: the slowest
    assert nearest_rank([float(i) for i in range(1, 101)], 95) == 95.0
    assert nearest_rank([3.0], 95) == 3.0


def test_frames_far_apart_each_take_the_one_frame_latency(relu: Path) -> None:
    one = gspsim.simulate(relu, "blaize-1600", execute=False)
    lat = one.latency_cycles
    assert lat == one.makespan_cycles == one.active_cycles and 0 < lat < PERIOD
    assert one.steady_state_fps == pytest.approx(CLOCK / lat, rel=1e-8)  # one frame: 1 / latency

    paced = gspsim.simulate(relu, "blaize-1600", execute=False, frames=8, fps=CLOCK / PERIOD)
    jsonschema.validate(json.loads(paced.to_json()), SCHEMA)
    assert paced.frame_arrival_cycles == tuple(float(f * PERIOD) for f in range(8))
    assert paced.frame_end_cycles == tuple(f * PERIOD + lat for f in range(8))
    assert paced.latency_cycles == lat
    assert paced.p50_latency_s == paced.p95_latency_s == paced.max_latency_s == lat / CLOCK
    assert paced.mean_latency_s == pytest.approx(lat / CLOCK)
    assert paced.makespan_cycles == 7 * PERIOD + lat
    assert paced.active_cycles == 8 * lat  # the chip had work 8 x latency, and waited for the camera the rest
    # frames leave as fast as they arrive, not 8 frames / (7 periods + one latency)
    assert paced.steady_state_fps == 10_000.0
    assert paced.streams[0]["steady_state_fps"] == 10_000.0 and paced.streams[0]["deadline_misses"] == 0
    # the busy time of 8 frames over the time the chip had work: as busy as one frame alone
    assert sum(paced.core_busy_cycles) == pytest.approx(8 * sum(one.core_busy_cycles))
    for alone, many in zip(one.core_active_utilization, paced.core_active_utilization):
        assert many == pytest.approx(alone)
    assert paced.active_lower_bounds["critical_path"] == pytest.approx(8 * one.active_lower_bounds["critical_path"])
    assert paced.active_efficiency == pytest.approx(one.active_efficiency, rel=1e-3)
    assert paced.avg_power_w == pytest.approx(paced.energy_j / paced.makespan_s)


def test_frames_arriving_at_once_on_one_core_run_one_after_another(relu: Path) -> None:
    chip = _one_core_chip()
    one = gspsim.simulate(relu, chip, execute=False)
    batch = gspsim.simulate(relu, chip, execute=False, frames=8)
    ends = sorted(batch.frame_end_cycles)
    assert all(later > earlier for earlier, later in zip(ends, ends[1:]))  # one frame at a time
    assert batch.frame_arrival_cycles == (0.0,) * 8
    assert batch.latency_cycles == batch.frame_end_cycles[0] >= one.latency_cycles
    assert batch.makespan_cycles == batch.active_cycles == ends[-1]  # every frame waits from cycle 0
    assert batch.p50_latency_s == ends[3] / CLOCK and batch.p95_latency_s == batch.max_latency_s == ends[-1] / CLOCK
    # the steady state of a chip that is never idle: 8 frames over the makespan ...
    assert batch.steady_state_fps == pytest.approx(8 / batch.makespan_s, rel=1e-8)
    # ... and at most what one core doing one frame after another can do
    assert batch.steady_state_fps <= one.steady_state_fps * (1 + 1e-9)


def test_fps_30_with_8_frames_reports_at_most_30_fps(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = run_cli("run", "--fps", "30", "--frames", "8", "--timing-only", "--nodes", "3", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert 29.9 < doc["steady_state_fps"] <= 30.0 and doc["streams"][0]["steady_state_fps"] <= 30.0
    assert re.search(r"throughput\s+│\s+30\.0 fps", proc.stdout), proc.stdout
    # latency is one frame's, the makespan spans the 7 periods between the first and last arrival
    assert doc["latency_s"] < 1e-3 and 7 / 30 < doc["makespan_s"] < 7 / 30 + 1e-3
    assert doc["active_s"] < 8e-3 and min(doc["core_active_utilization"]) > 0
    assert 0 < doc["active_efficiency"] <= 1
    # --nodes ranks by busy core-cycles, not by a span that covers the whole run
    busiest = sorted(doc["nodes"], key=lambda n: -n["busy_cycles"])[:3]
    table = proc.stdout[proc.stdout.index("3 busiest nodes"):]
    names = [ln.split("│")[1].strip() for ln in table.splitlines() if ln.startswith("│")]
    assert names == [n["name"] for n in busiest]


def test_model_names_come_from_the_file_when_the_graph_name_is_an_exporter_default() -> None:
    assert model_display_name("main_graph", "/x/resnet_style.onnx") == "resnet_style"
    assert model_display_name("torch-jit-export", "cam.onnx") == "cam"
    assert model_display_name("", "y/cam.onnx") == "cam"
    assert model_display_name("my_detector", "y/cam.onnx") == "my_detector"
    result = gspsim.simulate(RESNET, execute=False)
    assert result.model["graph_name"] == "main_graph"  # what torch.onnx.export names every graph
    assert result.model["name"] == "resnet_style"
    from gspsim.report.document import title

    assert title(result.to_dict()).startswith("resnet_style on blaize-1600")
