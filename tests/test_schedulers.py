"""Scheduling strategies: same outputs whatever the schedule, sane efficiency, HEFT vs round-robin,
the docs tutorial's strategy loaded by module path and by entry point, and the compare command."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gspsim
from gspsim.scheduling import BUILTIN_SCHEDULERS, scheduler_names
from gspsim.scheduling.base import has_static_priority, uses_earliest_free

from helpers import MOBILENET, RESNET, ROOT, TRANSFORMER, run_cli

MLP = ROOT / "gspsim" / "models" / "edge_mlp.onnx"
TEST_MODELS = [RESNET, MOBILENET, TRANSFORMER, MLP]


@pytest.fixture(scope="module", params=TEST_MODELS, ids=lambda p: p.stem)
def model_runs(request) -> dict[str, gspsim.SimResult]:
    graph = gspsim.load_model(request.param)
    return {name: gspsim.simulate(graph, "blaize-1600", scheduler=name) for name in scheduler_names()}


def test_every_strategy_computes_the_layer_by_layer_outputs(model_runs) -> None:
    reference = model_runs["layer"]
    assert reference.mode == "layer"
    for name, result in model_runs.items():
        assert result.scheduler == name
        for key, value in reference.outputs.items():
            np.testing.assert_array_equal(result.outputs[key], value, err_msg=name)
        assert 0 < result.active_efficiency <= 1.0
        assert result.active_cycles >= result.active_lower_bound_cycles


def test_heft_is_no_slower_than_round_robin(model_runs) -> None:
    if model_runs["heft"].blocks < 16:
        # the 5-tile MLP: round-robin deals tile i to core i, which is each one-tile node's home core by
        # chance (docs/schedulers.md), while HEFT's least-loaded cores fetch the weight slices
        pytest.skip("too few tiles for HEFT's ranking to matter")
    assert model_runs["heft"].latency_cycles <= model_runs["round-robin"].latency_cycles


def _unmarked(cls: type) -> type:
    """``cls`` with ``priority`` and ``assign`` overridden by plain code: no speed-up marks, so the
    engine asks a priority per queued block and calls ``assign`` per block, and a least-loaded-core
    ``assign`` scans the view the way the ``EngineView`` protocol documents it."""

    class Unmarked(cls):  # type: ignore[misc, valid-type]
        def priority(self, block):  # noqa: ANN001, ANN201
            return super().priority(block)

        def assign(self, block, view):  # noqa: ANN001, ANN201
            if uses_earliest_free(cls(seed=0)):
                return min(range(self.cores), key=lambda c: (view.free_at(c) + view.queued_cycles(c), c))
            return super().assign(block, view)

    return Unmarked


@pytest.mark.parametrize("name", ["depth-first", "heft", "random", "layer"])
@pytest.mark.parametrize("fps", [None, 7000.0 / 3], ids=["at-once", "fractional-arrivals"])
def test_speed_up_marks_do_not_change_results(name: str, fps: float | None) -> None:
    """The engine's fast paths for marked schedulers give the same result, figure for figure, also when
    frame arrivals are not whole cycles."""
    cls = BUILTIN_SCHEDULERS[name]
    assert has_static_priority(cls(seed=3)) and not has_static_priority(_unmarked(cls)(seed=3))
    assert not uses_earliest_free(_unmarked(cls)(seed=3))
    graph = gspsim.load_model(MOBILENET)
    marked = gspsim.simulate(graph, "edge-4", scheduler=cls(seed=3), frames=3, fps=fps, execute=False)
    unmarked = gspsim.simulate(graph, "edge-4", scheduler=_unmarked(cls)(seed=3), frames=3, fps=fps, execute=False)
    assert marked.to_json() == unmarked.to_json()


class _FollowProducer(gspsim.Scheduler):
    """Each block on the core its first producer ran on (in its own frame), else on a random core."""

    name = "follow-producer"

    def prepare(self, tasks, hw, block_cycles):  # noqa: ANN001, ANN201
        super().prepare(tasks, hw, block_cycles)
        self._rng = np.random.default_rng(self.seed)

    def priority(self, block):  # noqa: ANN001, ANN201
        return block.id

    def assign(self, block, view):  # noqa: ANN001, ANN201
        deps = self.tasks.block_deps(block.id)
        if deps:
            core = view.block_core(deps[0])
            assert core >= 0, "a producer is always placed before its consumers are assigned"
            return core
        assert view.block_core(block.id) == -1
        return int(self._rng.integers(self.cores))  # frames place their first blocks differently


def test_block_core_tells_where_a_producer_of_the_same_frame_ran() -> None:
    graph = gspsim.load_model(RESNET)
    result = gspsim.simulate(graph, "edge-4", scheduler=_FollowProducer(seed=0), frames=3, fps=5000.0, execute=False)
    tl = result.timeline
    assert tl is not None and set(tl.block_frame.tolist()) == {0, 1, 2}
    tasks = gspsim.api.compile_model(gspsim.api.prepare_graph(graph, gspsim.SimOptions()),
                                     gspsim.load_hardware("edge-4"), gspsim.SimOptions()).tasks
    core = {(int(f), int(n), int(i)): int(c) for f, n, i, c in
            zip(tl.block_frame, tl.block_node, tl.block_index, tl.block_core)}
    differs = 0
    for block in tasks.blocks:
        deps = tasks.block_deps(block.id)
        if deps:
            producer = tasks.blocks[deps[0]]
            for frame in range(3):
                assert core[frame, block.node, block.index] == core[frame, producer.node, producer.index]
            differs += len({core[frame, producer.node, producer.index] for frame in range(3)}) > 1
    assert differs > 0  # the frames' producers ran on different cores: the frame matters


def _tutorial_code() -> str:
    text = (ROOT / "docs" / "schedulers.md").read_text()
    block = re.search(r"```python\n(# tutorial_scheduler\.py\n.*?)```", text, re.S)
    assert block, "tutorial code block not found in docs/schedulers.md"
    code = block.group(1)
    assert len(code.strip().splitlines()) < 40
    return code


def test_tutorial_scheduler_runs_from_a_module_path(tmp_path: Path) -> None:
    (tmp_path / "tutorial_scheduler.py").write_text(_tutorial_code())
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "gspsim", "run", str(RESNET), "--scheduler", "tutorial_scheduler:ShortestFirstScheduler",
         "--check", "--json", str(out), "--quiet"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    doc = json.loads(out.read_text())
    assert doc["scheduler"] == "shortest-first" and doc["check"]["passed"]


def test_tutorial_scheduler_registers_as_an_entry_point(tmp_path: Path) -> None:
    (tmp_path / "tutorial_scheduler.py").write_text(_tutorial_code())
    dist = tmp_path / "tutorial_sched-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tutorial-sched\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[gspsim.schedulers]\nshortest-first = tutorial_scheduler:ShortestFirstScheduler\n"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "gspsim", "compare", str(MLP), "--schedulers", "heft,shortest-first",
         "--csv", str(tmp_path / "c.csv"), "--quiet"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((tmp_path / "c.csv").open()))
    assert [r["scheduler"] for r in rows] == ["heft", "shortest-first"]


def test_compare_writes_one_row_per_strategy(tmp_path: Path) -> None:
    out = tmp_path / "compare.csv"
    proc = run_cli("compare", str(TRANSFORMER), "--schedulers", "all", "--csv", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out.open()))
    assert [r["scheduler"] for r in rows] == scheduler_names()
    for row in rows:
        assert 0 < float(row["active_efficiency"]) <= 1
        assert float(row["latency_cycles"]) > 0 and float(row["energy_mj"]) > 0
    for name in scheduler_names():
        assert name in proc.stdout


def test_unknown_scheduler_is_a_clear_error() -> None:
    proc = run_cli("run", str(MLP), "--scheduler", "fastest")
    assert proc.returncode == 2
    assert "unknown scheduler 'fastest'" in proc.stderr and "heft" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("run", str(MLP), "--scheduler", "no_such_module:Thing")
    assert proc.returncode == 2 and "cannot import module 'no_such_module'" in proc.stderr


def test_several_models_share_the_chip(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = run_cli("run", str(TRANSFORMER), str(MLP), "--fps", "20000,50000", "--frames", "3", "--check",
                   "--json", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    import json

    doc = json.loads(out.read_text())
    assert [Path(s["path"]).name for s in doc["streams"]] == [TRANSFORMER.name, MLP.name]
    for s in doc["streams"]:
        assert s["frames"] == 3 and s["deadline_s"] == pytest.approx(1 / s["fps_in"])
        assert 0 <= s["deadline_misses"] <= 3 and s["max_latency_s"] >= s["mean_latency_s"] > 0
    assert doc["check"]["passed"] and set(doc["check"]["per_output"]) == {"m0/output", "m1/output"}
    alone = gspsim.simulate(MLP, "blaize-1600", frames=3, fps=50000)
    shared_mlp = doc["streams"][1]
    assert shared_mlp["mean_latency_s"] >= alone.streams[0]["mean_latency_s"] - 1e-12


def _docs_code(module: str) -> str:
    text = (ROOT / "docs" / "schedulers.md").read_text()
    block = re.search(rf"```python\n(# {module}\.py\n.*?)```", text, re.S)
    assert block, f"{module} code block not found in docs/schedulers.md"
    return block.group(1)


def test_the_locality_tutorial_wins_on_a_model_with_forks(tmp_path: Path) -> None:
    """The docs' 25-line locality-aware strategy against the locality-blind greedy one, on residual forks."""
    namespace: dict = {}
    code = _docs_code("tutorial_locality")
    assert len(code.strip().splitlines()) <= 30
    exec(compile(code, "tutorial_locality.py", "exec"), namespace)  # noqa: S102 - the docs' own code
    sticky = namespace["StickyScheduler"]
    graph = gspsim.load_model(RESNET)
    runs = {name: gspsim.simulate(graph, "blaize-1600", scheduler=s, precision="int8", accuracy_samples=0,
                                  calibration_samples=4)
            for name, s in (("greedy", "greedy"), ("sticky", sticky(seed=0)))}
    for key, value in runs["greedy"].outputs.items():
        np.testing.assert_array_equal(runs["sticky"].outputs[key], value)
    assert runs["sticky"].onchip_bytes < 0.6 * runs["greedy"].onchip_bytes
    assert runs["sticky"].energy_j < runs["greedy"].energy_j
    assert runs["sticky"].latency_cycles < runs["greedy"].latency_cycles
