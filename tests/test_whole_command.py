"""The whole command as users feel it (issue 18): light start, cached calibration, ahead-of-time kernel warm-up.

Speed itself is measured in benchmarks/bench_whole_process.py; these tests check
what makes it fast without timing anything: which modules a command imports,
that the calibration cache gives the same int8 results and never stale ranges,
and that warm-up leaves nothing for the next process to compile.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from gspsim import api
from gspsim.accuracy import accuracy_report
from gspsim.content_cache import accuracy_key, cache_folder, cached_accuracy_report, calibration_key, calibration_ranges
from gspsim.engine.options import SimOptions
from gspsim.models import bundled_model_path
from gspsim.passes.quantize import calibrate, synthetic_calibration

ROOT = Path(__file__).resolve().parents[1]
SMALL_CNN = bundled_model_path("small-cnn")
EDGE_MLP = bundled_model_path("edge-mlp")

#: runs ``python -m gspsim ARGS`` in this process, then prints what it imported and its collector's thresholds
COMMAND_PROBE = """
import gc, runpy, sys
sys.argv = ["gspsim", *sys.argv[1:]]
try:
    runpy.run_module("gspsim", run_name="__main__")
except SystemExit:
    pass
print("MODULES " + " ".join(m for m in ("onnx", "numba", "networkx", "matplotlib", "dask", "simpy",
                                        "gspsim.engine.compiled.loop") if m in sys.modules))
print("THRESHOLDS", *gc.get_threshold())
"""


def _probe(*argv: str, env: Optional[dict[str, str]] = None) -> dict[str, list[str]]:
    """The probe's lines after a command, by their first word."""
    done = subprocess.run([sys.executable, "-c", COMMAND_PROBE, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert "MODULES" in done.stdout, done.stderr
    return {ln.split()[0]: ln.split()[1:] for ln in done.stdout.splitlines() if ln.split()[:1] in (["MODULES"],
                                                                                                   ["THRESHOLDS"])}


def _imported_by(*argv: str, env: Optional[dict[str, str]] = None) -> set[str]:
    return set(_probe(*argv, env=env)["MODULES"])


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["run", "--help"], ["hw", "list"]])
def test_commands_that_load_no_model_import_neither_onnx_nor_numba(argv: list[str]) -> None:
    imported = _imported_by(*argv)
    assert not imported & {"onnx", "numba", "matplotlib", "dask"}, imported


def test_a_run_does_import_what_it_needs() -> None:
    # the check above could pass because the probe never sees imports: a real run must show them
    # (the model loaded afresh: a model-cache hit imports no onnx, tests/test_model_cache.py)
    small = _imported_by("run", str(EDGE_MLP), "-q", "--timing-only", env={"GSPSIM_MODEL_CACHE": "0"})
    assert {"onnx", "numba", "networkx"} <= small
    # a run under the compiled loop's threshold plays in the Python loop: neither that loop nor SimPy is loaded
    assert not small & {"simpy", "gspsim.engine.compiled.loop"}, small
    assert {"simpy"} <= _imported_by("run", str(EDGE_MLP), "-q", "--timing-only", "--engine", "reference")
    assert {"gspsim.engine.compiled.loop"} <= _imported_by("run", str(EDGE_MLP), "-q", "--timing-only",
                                                           "--engine", "compiled")


def test_the_package_api_is_still_reachable_from_gspsim() -> None:
    import gspsim

    for name in gspsim.__all__:
        assert getattr(gspsim, name) is not None
    assert gspsim.simulate is api.simulate
    with pytest.raises(AttributeError):
        gspsim.no_such_name  # noqa: B018


def test_compare_help_still_lists_the_built_in_schedulers() -> None:
    from gspsim.cli import _builtin_names, build_parser

    text = next(a for a in build_parser()._actions if a.dest == "command").choices["compare"].format_help()
    assert "{builtin_schedulers}" not in text
    assert all(name in " ".join(text.split()) for name in _builtin_names())


# ---------------------------------------------------------------------------------------------- calibration cache
@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GSPSIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GSPSIM_CALIBRATION_CACHE", raising=False)
    return tmp_path / "cache"


def _int8_outputs(model: Path, **overrides: object) -> dict[str, np.ndarray]:
    result = api.simulate(model, precision="int8", accuracy_samples=0, **overrides)
    return {name: np.asarray(value) for name, value in result.outputs.items()}


def test_int8_results_are_identical_with_the_cache_cold_warm_and_off(cache_dir: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cold = _int8_outputs(SMALL_CNN)
    assert len(list(cache_folder().glob("*.json"))) == 1
    warm = _int8_outputs(SMALL_CNN)
    monkeypatch.setenv("GSPSIM_CALIBRATION_CACHE", "0")
    off = _int8_outputs(SMALL_CNN)
    for name in off:
        np.testing.assert_array_equal(cold[name], off[name])
        np.testing.assert_array_equal(warm[name], off[name])


def test_cached_ranges_are_exactly_the_computed_ones(cache_dir: Path) -> None:
    graph = api.load_model(SMALL_CNN)
    samples = synthetic_calibration(graph, 4, 7)
    first = calibration_ranges(graph, samples, "percentile")
    again = calibration_ranges(graph, samples, "percentile")  # read back from the JSON entry
    assert again == first == calibrate(graph, samples, "percentile")


def test_the_cache_is_what_answers_a_repeated_calibration(cache_dir: Path) -> None:
    # an entry written under the key is what comes back: the second run does not recompute
    graph = api.load_model(SMALL_CNN)
    samples = synthetic_calibration(graph, 2, 0)
    ranges = calibration_ranges(graph, samples)
    entry = cache_folder() / f"{calibration_key(graph, samples, 'minmax', 99.99)}.json"
    name = next(iter(ranges))
    doc = json.loads(entry.read_text())
    doc["ranges"][name] = [-1.5, 2.5]
    entry.write_text(json.dumps(doc))
    assert calibration_ranges(graph, samples)[name] == (-1.5, 2.5)


def test_a_damaged_entry_is_recomputed(cache_dir: Path) -> None:
    graph = api.load_model(SMALL_CNN)
    samples = synthetic_calibration(graph, 2, 0)
    ranges = calibration_ranges(graph, samples)
    entry = cache_folder() / f"{calibration_key(graph, samples, 'minmax', 99.99)}.json"
    entry.write_text('{"ranges": {"x": [')
    assert calibration_ranges(graph, samples) == ranges
    assert json.loads(entry.read_text())["ranges"] == {k: list(v) for k, v in ranges.items()}


def _scaled_copy(model: Path, out: Path, factor: float) -> Path:
    """The model with its first convolution's weights scaled (same file size and names, other ranges)."""
    proto = onnx.load(str(model))
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    init = next(i for i in proto.graph.initializer if i.name == conv.input[1])
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(factor), init.name))
    onnx.save(proto, str(out))
    return out


def test_a_changed_model_file_is_calibrated_again(cache_dir: Path, tmp_path: Path) -> None:
    model = _scaled_copy(SMALL_CNN, tmp_path / "m.onnx", 1.0)
    options = SimOptions(precision="int8")
    api.prepare_precision(api.load_model(model), options)
    _scaled_copy(SMALL_CNN, model, 3.0)  # same path, new content
    graph = api.load_model(model)
    fresh = calibrate(graph, synthetic_calibration(graph, options.calibration_samples, options.seed + 10_000))
    served = calibration_ranges(graph, synthetic_calibration(graph, options.calibration_samples,
                                                             options.seed + 10_000))
    assert served == fresh
    assert len(list(cache_folder().glob("*.json"))) == 2


@pytest.mark.parametrize("change", [{"calibrator": "mse"}, {"calibration_samples": 3}, {"seed": 5}])
def test_a_changed_calibration_setting_is_calibrated_again(cache_dir: Path, change: dict) -> None:
    graph = api.load_model(SMALL_CNN)
    base = SimOptions(precision="int8", calibration_samples=4)
    api.prepare_precision(graph, base)
    changed = replace(base, **change)
    samples = synthetic_calibration(graph, changed.calibration_samples, changed.seed + 10_000)
    assert calibration_ranges(graph, samples, changed.calibrator) == calibrate(graph, samples, changed.calibrator)
    assert len(list(cache_folder().glob("*.json"))) == 2


def test_an_unwritable_cache_folder_does_not_fail_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GSPSIM_CACHE_DIR", str(blocker))  # calibration/ cannot be created under a file
    graph = api.load_model(SMALL_CNN)
    samples = synthetic_calibration(graph, 2, 0)
    assert calibration_ranges(graph, samples) == calibrate(graph, samples)


def test_accuracy_reports_are_identical_with_the_cache_cold_warm_and_off(cache_dir: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    graph = api.load_model(SMALL_CNN)
    reference = api.prepare_graph(graph, SimOptions(precision="fp32"))
    int8 = api.prepare_graph(graph, SimOptions(precision="int8", calibration_samples=4))
    cold = cached_accuracy_report(reference, int8, "int8", 3, 0)
    warm = cached_accuracy_report(reference, int8, "int8", 3, 0)
    monkeypatch.setenv("GSPSIM_CALIBRATION_CACHE", "0")
    assert cold == warm == cached_accuracy_report(reference, int8, "int8", 3, 0)
    assert cold.samples == 3 and 0.9 < cold.cosine_similarity <= 1.0
    assert len(list(cache_folder("accuracy").glob("*.json"))) == 1


@pytest.mark.parametrize("change", [{"samples": 2}, {"seed": 1}, {"precision": "fp16"}])
def test_a_changed_accuracy_setting_or_graph_is_reported_again(cache_dir: Path, change: dict) -> None:
    graph = api.load_model(SMALL_CNN)
    reference = api.prepare_graph(graph, SimOptions(precision="fp32"))
    args = {"precision": "int8", "samples": 3, "seed": 0, **change}
    other = api.prepare_graph(graph, SimOptions(precision=args["precision"], calibration_samples=4))
    cached_accuracy_report(reference, api.prepare_graph(graph, SimOptions(precision="int8", calibration_samples=4)),
                           "int8", 3, 0)
    served = cached_accuracy_report(reference, other, args["precision"], args["samples"], args["seed"])
    assert served == accuracy_report(reference, other, args["precision"], args["samples"], args["seed"])
    assert len(list(cache_folder("accuracy").glob("*.json"))) == 2
    assert accuracy_key(reference, other, args["precision"], args["samples"], args["seed"]) != \
        accuracy_key(reference, other, "int8", 3, 0)


# ---------------------------------------------------------------------------------------------- warm-up
def test_warmup_covers_every_precision_and_mode_and_leaves_nothing_to_compile() -> None:
    from gspsim.warmup import WARMUP_MODES, WARMUP_PRECISIONS, warm_up

    steps = warm_up([str(EDGE_MLP)])
    assert {(s.precision, s.mode) for s in steps} == {(p, m) for p in WARMUP_PRECISIONS for m in WARMUP_MODES}
    # the compiled loop too (a run of a large model plays in it; this small one would not by itself)
    from gspsim.engine.compiled import loop

    assert loop.run_loop.signatures
    # a new process loads every kernel from the on-disk cache the warm-up filled: nothing compiles
    done = subprocess.run([sys.executable, "-m", "gspsim", "warmup", str(EDGE_MLP)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "warm-up done: 0 kernel(s) compiled" in done.stdout


def test_warmup_of_a_bad_model_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    done = subprocess.run([sys.executable, "-m", "gspsim", "warmup", str(bad)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert "bad.onnx" in done.stderr


# ---------------------------------------------------------------------------------------------- the collector
def test_a_command_tunes_its_own_garbage_collector_and_the_api_leaves_its_callers_alone() -> None:
    from gspsim.command_process import GC_THRESHOLDS

    tuned = _probe("run", str(EDGE_MLP), "-q", "--timing-only")["THRESHOLDS"]
    assert tuple(int(x) for x in tuned) == GC_THRESHOLDS
    kept = _probe("--version", env={"GSPSIM_GC_TUNING": "0"})["THRESHOLDS"]
    assert tuple(int(x) for x in kept) == gc.get_threshold() != GC_THRESHOLDS  # Python's, untouched
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    api_only = ("import gc, sys; from gspsim import api; before = gc.get_threshold(); "
                "api.simulate(sys.argv[1], execute=False, accuracy_samples=0); print(gc.get_threshold() == before)")
    done = subprocess.run([sys.executable, "-c", api_only, str(EDGE_MLP)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "True"
    # the installed `gspsim` command is the same entry point as `python -m gspsim`
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["gspsim"] == "gspsim.cli:command_line"
