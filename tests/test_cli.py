"""The command line as a user drives it: exit codes, one-line errors, the JSON contract."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from onnx import helper

from helpers import MOBILENET, RESNET, ROOT, TRANSFORMER, run_cli, save_model, tensor

SCHEMA = json.loads((ROOT / "docs" / "json-result.schema.json").read_text())


def _one_line_error(proc) -> str:
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_default_run_checks_against_onnxruntime_and_writes_valid_json(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = run_cli("run", "--check", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["check"]["passed"] and doc["check"]["max_rel_err"] <= 1e-4
    assert doc["model"]["path"].endswith("small_cnn.onnx")
    assert "latency" in proc.stdout and "passed" in proc.stdout


@pytest.mark.parametrize("model", [RESNET, MOBILENET, TRANSFORMER], ids=lambda p: p.stem)
@pytest.mark.parametrize("mode", ["streaming", "layer"])
def test_exported_models_match_onnxruntime(model: Path, mode: str, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = run_cli("run", str(model), "--check", "--mode", mode, "--json", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["mode"] == mode
    assert doc["check"]["passed"] and doc["check"]["max_rel_err"] <= 1e-4
    assert doc["latency_cycles"] == doc["makespan_cycles"] == doc["active_cycles"]  # one frame
    assert doc["active_cycles"] >= doc["active_lower_bound_cycles"] > 0


def test_unsupported_ops_are_all_named_in_one_line(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Bernoulli", ["x"], ["d"], name="coin_flip"),
        helper.make_node("RandomUniformLike", ["x"], ["h"], name="noise"),
        helper.make_node("Relu", ["x"], ["r"], name="ok_relu"),
    ]
    path = save_model(nodes, [tensor("x", [3, 3])], [tensor("d", [3, 3]), tensor("h", [3, 3]), tensor("r", [3, 3])],
                      [], tmp_path / "unsupported.onnx")
    proc = run_cli("run", str(path))
    assert proc.returncode == 2
    line = _one_line_error(proc)
    assert str(path) in line and "2 unsupported op(s)" in line
    assert "node 'coin_flip' (Bernoulli)" in line and "node 'noise' (RandomUniformLike)" in line
    assert "ok_relu" not in line


def test_json_is_byte_identical_across_runs(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for out in (a, b):
        assert run_cli("run", str(RESNET), "--json", str(out), "--quiet", "--seed", "3").returncode == 0
    assert a.read_bytes() == b.read_bytes()


def test_outputs_file_holds_the_simulated_outputs(tmp_path: Path) -> None:
    inputs = tmp_path / "in.npz"
    x = np.random.default_rng(7).standard_normal((1, 3, 64, 64)).astype(np.float32)
    np.savez(inputs, input=x)
    outputs = tmp_path / "out.npz"
    proc = run_cli("run", str(RESNET), "--inputs", str(inputs), "--outputs", str(outputs), "--check", "--quiet")
    assert proc.returncode == 0, proc.stderr
    import onnxruntime as ort

    expected = ort.InferenceSession(str(RESNET), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with np.load(outputs) as got:
        np.testing.assert_allclose(got["output"], expected, rtol=1e-4, atol=1e-5)


def test_bad_inputs_file_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((1, 3, 64, 64), np.float32))
    proc = run_cli("run", str(RESNET), "--inputs", str(bad))
    assert proc.returncode == 2
    line = _one_line_error(proc)
    assert str(bad) in line and "'images'" in line and "input" in line


def test_refuses_to_write_over_the_model(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(RESNET.read_bytes())
    before = model.read_bytes()
    proc = run_cli("run", str(model), "--json", str(model))
    assert proc.returncode == 2
    assert "refusing to write over an input file" in _one_line_error(proc)
    assert model.read_bytes() == before


def test_missing_model_and_unknown_preset(tmp_path: Path) -> None:
    proc = run_cli("run", str(tmp_path / "nope.onnx"))
    assert proc.returncode == 2 and "no such file" in _one_line_error(proc)
    proc = run_cli("run", "--hw", "no-such-chip")
    line = _one_line_error(proc)
    assert proc.returncode == 2 and "no-such-chip" in line and "blaize-1600" in line


def test_hw_list_and_show() -> None:
    proc = run_cli("hw", "list")
    assert proc.returncode == 0
    for name in ("blaize-1600", "edge-4", "layer-accel-16t"):
        assert name in proc.stdout
    proc = run_cli("hw", "show", "blaize-1600")
    assert proc.returncode == 0 and "macs_per_cycle" in proc.stdout and "16 int8 TOPS" in proc.stdout


@pytest.mark.parametrize("command", [[], ["run"], ["inspect"], ["hw"], ["hw", "show"]])
def test_every_command_has_help(command: list[str]) -> None:
    proc = run_cli(*command, "--help")
    assert proc.returncode == 0
    assert "usage:" in proc.stdout and len(proc.stdout.splitlines()) > 5


def test_inspect_reports_folding_and_macs() -> None:
    proc = run_cli("inspect", str(ROOT / "tests" / "models" / "resnet_style_legacy.onnx"))
    assert proc.returncode == 0, proc.stderr
    assert "BatchNormalization" in proc.stdout and "converted opset" in proc.stdout and "MACs" in proc.stdout


@pytest.mark.parametrize("argv, expected", [
    (["rnu"], "unknown command 'rnu' (did you mean 'run'?); choose from run, compare, sweep, plot, inspect, memory, hw"),
    (["run", "--mode", "Layer"], "--mode 'Layer': choose from streaming, layer (did you mean 'layer'?)"),
    (["sweep", "model.onnx"], "gspsim sweep: missing --out"),
    (["run", "--fames", "3"], "unknown option --fames (did you mean '--frames'?)"),
    (["run", "--frames", "x"], "--frames 'x': expected a whole number"),
    (["hw", "shwo", "edge-4"], "unknown hw command 'shwo' (did you mean 'show'?); choose from list, show"),
    ([], "missing a command: choose from run, compare, sweep, plot, inspect, memory, hw"),
])
def test_command_line_mistakes_are_one_line(argv: list[str], expected: str) -> None:
    proc = run_cli(*argv)
    assert proc.returncode == 2 and proc.stdout == ""
    line = _one_line_error(proc)
    assert expected in line and ("--help" in line or "choose from" in line)


def test_hw_show_toml_round_trips(tmp_path: Path) -> None:
    import tomllib

    from gspsim.hardware import load_hardware

    for name in ("blaize-1600", "blaize-1600-sparse", "edge-4", "layer-accel-16t"):
        proc = run_cli("hw", "show", name, "--toml")
        assert proc.returncode == 0, proc.stderr
        head = proc.stdout.splitlines()[:2]  # two comment lines: the chip, and how to use the file
        assert head[0].startswith(f"# {name}: ") and head[1].startswith("# written by") and "\\x" not in proc.stdout
        saved = tmp_path / f"{name}.toml"
        saved.write_text(proc.stdout)
        assert tomllib.loads(proc.stdout) == load_hardware(name).to_dict()
        assert load_hardware(saved) == load_hardware(name)  # every field, through --hw FILE
    edited = tmp_path / "edited.toml"
    edited.write_text((tmp_path / "edge-4.toml").read_text().replace("count = 4", "count = 8"))
    proc = run_cli("run", "--hw", str(edited), "--timing-only", "--json", str(tmp_path / "r.json"), "-q")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["hardware"]["cores"] == 8


def test_run_help_is_grouped() -> None:
    text = run_cli("run", "--help").stdout
    text = text[text.index("options:"):]  # after the usage line, which lists every option
    groups = ["chip and schedule:", "model inputs and frames:", "precision and compression:",
              "checks and output files:", "terminal:"]
    assert [text.index(g) for g in groups] == sorted(text.index(g) for g in groups)
    assert text.index("--timing-only") < text.index("model inputs and frames:") < text.index("--frames")
    assert text.index("checks and output files:") < text.index("--report PATH.html") < text.index("terminal:")


def test_compare_and_run_tables_use_words_not_snake_case(tmp_path: Path) -> None:
    proc = run_cli("compare", "--schedulers", "depth-first,layer", "--timing-only", "--jobs", "1",
                   "--csv", str(tmp_path / "c.csv"))
    assert proc.returncode == 0, proc.stderr
    header = next(line for line in proc.stdout.splitlines() if "scheduler" in line and "mode" in line)
    assert "latency ms" in header and "energy mJ" in header and "DRAM MiB" in header and "efficiency" in header
    assert "_" not in header
    assert f"wrote {tmp_path / 'c.csv'}" in proc.stdout
    csv_header = (tmp_path / "c.csv").read_text().splitlines()[0]
    assert csv_header.startswith("scheduler,mode,latency_cycles,latency_ms,makespan_ms,steady_state_fps")


def test_a_retired_hardware_field_is_one_warning_line(tmp_path: Path) -> None:
    """A chip file written for an older gspsim still runs; the field it no longer reads is named in one line."""
    preset = (ROOT / "gspsim" / "hardware" / "presets" / "edge-4.toml").read_text()
    chip = tmp_path / "old-chip.toml"
    chip.write_text(preset.replace("[dram]\n", "[dram]\nchannels = 4\n", 1))
    proc = run_cli("run", "--hw", str(chip), "--quiet")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"warning: {chip} [dram]: field 'channels' is ignored: DRAM channels are interleaved, so they "
                     "act as one pipe of the total bandwidth (bandwidth_bytes_per_s); the field never changed a "
                     "result and was removed"]


def test_a_model_of_views_only_states_no_throughput(tmp_path: Path) -> None:
    """An Identity model takes 0 cycles: the summary says its rate is n/a instead of printing 0.0 fps."""
    path = save_model([helper.make_node("Identity", ["x"], ["y"])], [tensor("x", [1, 4])], [tensor("y", [1, 4])],
                      [], tmp_path / "views.onnx")
    done = run_cli("run", str(path), "--json", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    assert "n/a (0 cycles" in done.stdout and "0.0 fps" not in done.stdout
    assert json.loads((tmp_path / "r.json").read_text())["steady_state_fps"] == 0
