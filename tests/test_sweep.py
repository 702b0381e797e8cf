"""Design-space sweeps: grids, the point store, local and Dask executors, interruption and resume, Pareto fronts.

Every sweep here runs real simulations (timing only, which computes the same
cycles and energy as a run with kernels) of the exported test models.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import helper

import gspsim
from gspsim.engine.options import SimOptions
from gspsim.errors import ConfigError
from gspsim.sweep import LocalExecutor, PointStore, build_grid, plan, run_sweep
from gspsim.cli import main as gspsim_main
from gspsim.sweep.executors import DaskExecutor
from gspsim.sweep.grid import area_proxy_bytes, point_indices
from gspsim.sweep.modelfiles import content_hash
from gspsim.sweep.pareto import OBJECTIVES, dominates, front_rows, pareto_indices
from gspsim.sweep.table import result_rows, write_csv, write_parquet
from gspsim.sweep.worker import PointTask, run_point

from helpers import ROOT, TRANSFORMER, save_model, tensor

EDGE = ROOT / "gspsim" / "models" / "edge_mlp.onnx"


def _point_files(out: Path) -> list[Path]:
    return sorted((out / "points").glob("*.json"))


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# --- grids and keys (no simulation) -----------------------------------------------------------------------------


def test_grid_is_the_cross_product_with_hardware_built_per_point(tmp_path: Path) -> None:
    spec = build_grid([str(EDGE)], overrides={"cores": [4, 8, 16], "dram_gbps": [12.8, 25.6],
                                             "precision": ["fp32", "int8"]})
    assert spec.size == 12
    planned = plan(spec)
    assert len(planned) == 12 and len({p.key for p in planned}) == 12
    seen = {(p.point.hardware.cores.count, p.point.hardware.dram.bandwidth_bytes_per_s, p.point.options.precision)
            for p in planned}
    assert seen == {(c, d * 1e9, pr) for c in (4, 8, 16) for d in (12.8, 25.6) for pr in ("fp32", "int8")}
    for p in planned:
        hw = p.point.hardware
        assert area_proxy_bytes(hw) == hw.cores.count * hw.cores.local_memory_bytes + hw.shared_memory.size_bytes
        assert hw.shared_memory.size_bytes == gspsim.load_hardware("blaize-1600").shared_memory.size_bytes

    # a grid file, with a flag overriding one of its axes and a model path relative to the file
    (tmp_path / "m").mkdir()
    shutil.copy(EDGE, tmp_path / "m" / "edge.onnx")
    grid = tmp_path / "sweep.toml"
    grid.write_text('[sweep]\nmodels = ["m/"]\nsample = 3\nseed = 7\n'
                    '[axes]\ncores = [2, 4]\nshared_kib = [128, 256, 512]\nschedulers = ["heft", "default"]\n'
                    '[axes.hw.dma]\nengines = [1, 2]\n')
    spec = build_grid(grid_file=grid, overrides={"cores": [8]})
    assert spec.axes["cores"] == (8,) and spec.axes["scheduler"] == ("heft", None)
    assert spec.axes["model"] == (str(tmp_path / "m" / "edge.onnx"),)
    assert spec.size == 12 and len(plan(spec)) == 3
    assert {p.point.hardware.dma.engines for p in plan(build_grid(grid_file=grid, sample=12))} == {1, 2}
    # the sample is seeded, sorted, without repeats
    drawn = point_indices(build_grid(grid_file=grid))
    assert drawn == point_indices(build_grid(grid_file=grid)) and drawn == sorted(set(drawn)) and len(drawn) == 3
    assert {tuple(point_indices(build_grid(grid_file=grid, seed=s))) for s in range(5)} != {tuple(drawn)}

    for bad in ({"colour": [1]}, {"scheduler": ["no-such-strategy"]}, {"precision": ["fp64"]},
                {"mode": ["sideways"]}, {"cores": [0]}, {"hw.cores.nope": [1]}):
        with pytest.raises(ConfigError):
            plan(build_grid([str(EDGE)], overrides=bad))


def test_fuse_axis_for_fusion_ablations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--fuse on,off sweeps fusion; --no-fuse is --fuse off; each point records it and hashes it apart."""
    planned = plan(build_grid([str(EDGE)], overrides={"fuse": [True, False]}))
    assert [p.point.options.fuse for p in planned] == [True, False] and len({p.key for p in planned}) == 2
    assert plan(build_grid([str(EDGE)]))[0].point.options.fuse is True
    assert gspsim_main(["sweep", str(EDGE), "--fuse", "on,off", "--out", str(tmp_path), "--dry-run"]) == 0
    assert "2 points" in capsys.readouterr().out
    assert gspsim_main(["sweep", str(EDGE), "--no-fuse", "--out", str(tmp_path), "--dry-run"]) == 0
    assert "1 points" in capsys.readouterr().out
    assert gspsim_main(["sweep", str(EDGE), "--no-fuse", "--fuse", "on", "--out", str(tmp_path)]) == 2
    assert "--no-fuse contradicts --fuse" in capsys.readouterr().err
    assert gspsim_main(["sweep", str(EDGE), "--fuse", "maybe", "--out", str(tmp_path)]) == 2
    assert "'maybe' is not on or off" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="expected true or false"):
        build_grid([str(EDGE)], overrides={"fuse": ["yes"]})


def test_point_key_follows_model_content_not_its_path(tmp_path: Path) -> None:
    for name in (TRANSFORMER.name, TRANSFORMER.name + ".data"):
        shutil.copy(TRANSFORMER.parent / name, tmp_path / name)
    moved = tmp_path / "renamed.onnx"
    os.rename(tmp_path / TRANSFORMER.name, moved)
    assert content_hash(moved) == content_hash(TRANSFORMER)
    data = bytearray((tmp_path / (TRANSFORMER.name + ".data")).read_bytes())
    data[-1] ^= 0xFF  # new weights in the external-data file: a different model
    (tmp_path / (TRANSFORMER.name + ".data")).write_bytes(bytes(data))
    assert content_hash(moved) != content_hash(TRANSFORMER)


def test_pareto_front_on_a_hand_checked_set() -> None:
    points = [(1, 5, 1), (2, 2, 2), (3, 3, 3), (1, 5, 1), (5, 1, 9), (5, 1, 8), (2, 2, 1)]
    # (3,3,3) is beaten by (2,2,2); (2,2,2) by (2,2,1); (5,1,9) by (5,1,8); the twins (1,5,1) are both kept
    assert pareto_indices(points) == [0, 3, 5, 6]
    assert pareto_indices([]) == []


# --- sweeps ------------------------------------------------------------------------------------------------------


def _unsupported_model(path: Path) -> Path:
    """A valid ONNX file whose one op no simulator kernel will ever run (a custom domain)."""
    node = helper.make_node("Mystery", ["x"], ["y"], domain="com.example")
    save_model([node], [tensor("x", [4, 4])], [tensor("y", [4, 4])], [], path)
    model = onnx.load(str(path))
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    onnx.save(model, str(path))
    return path


def test_local_sweep_records_failures_and_finds_the_pareto_front(tmp_path: Path) -> None:
    bad = _unsupported_model(tmp_path / "mystery.onnx")
    spec = build_grid([str(EDGE), str(bad)], overrides={"cores": [4, 16], "shared_kib": [256, 1024],
                                                       "precision": ["fp32", "int8"]})
    planned = plan(spec)
    store = PointStore(tmp_path / "out")
    executor = LocalExecutor(jobs=2)
    try:
        outcome = run_sweep(planned, store, executor, spec)
    finally:
        executor.close()
    assert outcome.complete and outcome.computed == 16 and outcome.reused == 0
    rows = result_rows(outcome)
    assert len(rows) == 16 and len(_point_files(tmp_path / "out")) == 16
    for r in rows:  # each failing point failed alone, with the simulator's own message, and the sweep went on
        if r["model"] == str(bad):
            assert r["status"] == "failed" and r["latency_s"] is None
            assert "Mystery" in r["error"] or (r["precision"] != "fp32" and r["precision"] in r["error"])
        elif r["precision"] == "fp32":
            assert r["status"] == "ok" and r["error"] is None and r["latency_s"] > 0
    # precision is one more axis: each int8 point records what the simulator does with it, success or error
    for p in planned:
        if p.point.model != str(EDGE) or p.point.options.precision != "int8":
            continue
        row = next(r for r in rows if r["key"] == p.key)
        try:
            direct = gspsim.simulate(str(EDGE), p.point.hardware, p.point.options)
        except Exception as exc:  # e.g. NotYetAvailable while int8 is not built
            assert (row["status"], row["error"]) == ("failed", f"{type(exc).__name__}: {exc}")
        else:
            assert (row["status"], row["latency_s"], row["energy_j"]) == ("ok", direct.latency_s, direct.energy_j)
    failures = sum(r["status"] == "failed" for r in rows)

    # every metric is the simulator's: one point against a direct call
    p = next(p for p in planned if p.point.options.precision == "fp32" and p.point.hardware.cores.count == 16
             and p.point.hardware.shared_memory.size_bytes == 1024 * 1024 and p.point.model == str(EDGE))
    direct = gspsim.simulate(str(EDGE), p.point.hardware, SimOptions(execute=False))
    row = next(r for r in rows if r["key"] == p.key)
    assert (row["latency_s"], row["energy_j"], row["dram_read_bytes"]) == (
        direct.latency_s, direct.energy_j, direct.dram_read_bytes)
    assert row["area_proxy_bytes"] == 16 * 64 * 1024 + 1024 * 1024

    # the front: exactly the points no other point dominates, checked pair by pair
    front = front_rows(rows)
    vec = {i: tuple(rows[i][o] for o in OBJECTIVES) for i, r in enumerate(rows) if r["status"] == "ok"}
    assert front == sorted(i for i in vec if not any(dominates(vec[j], vec[i]) for j in vec if j != i))
    for k in range(3):  # the unique best point of each objective is on the front
        best = sorted(vec, key=lambda i: vec[i][k])
        if vec[best[0]][k] < vec[best[1]][k]:
            assert best[0] in front
    assert not any(rows[i]["status"] == "failed" for i in front)

    # a rerun reuses everything, failures included; --retry-failed runs only those again
    executor = LocalExecutor(jobs=1)
    try:
        again = run_sweep(planned, store, executor, spec)
        retried = run_sweep(planned, store, executor, spec, retry_failed=True)
    finally:
        executor.close()
    assert (again.computed, again.reused) == (0, 16)
    assert (retried.computed, retried.reused) == (failures, 16 - failures)

    # CSV and Parquet hold the same rows, every input and metric, failures included
    rows = result_rows(outcome, frozenset(rows[i]["key"] for i in front))
    csv_rows = _csv_rows(write_csv(rows, tmp_path / "results.csv"))
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(write_parquet(rows, tmp_path / "results.parquet")).to_pylist()
    assert len(csv_rows) == len(table) == 16
    assert [r["key"] for r in table] == [r["key"] for r in csv_rows] == [r["key"] for r in rows]
    assert [r["latency_s"] for r in table] == [r["latency_s"] for r in rows]
    assert sum(r["pareto"] for r in table) == len(front)
    assert {"cores", "shared_kib", "dram_gbps", "precision", "steady_state_fps", "makespan_s", "avg_power_w",
            "onchip_bytes", "mean_active_utilization", "active_efficiency", "error"} <= set(csv_rows[0])


def test_dask_local_cluster_sweep_interrupted_then_resumed_runs_every_point_once(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    spec = build_grid([str(TRANSFORMER), str(EDGE)], overrides={"cores": [4, 8, 16], "dram_gbps": [12.8, 25.6]})
    planned = plan(spec)
    assert len(planned) == 12
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        first = run_sweep(planned, PointStore(tmp_path), DaskExecutor(client), spec, max_points=3)
        assert first.stopped and 3 <= first.computed < 12
        assert len(_point_files(tmp_path)) == first.computed
        executor = DaskExecutor(client)
        second = run_sweep(planned, PointStore(tmp_path), executor, spec)
        executor.close()
    assert second.complete and not second.stopped
    assert second.reused == first.computed and second.computed == 12 - first.computed
    rows = result_rows(second)
    assert len(rows) == 12 and len({r["key"] for r in rows}) == 12
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert {f.stem for f in _point_files(tmp_path)} == {p.key for p in planned}
    # the cluster's numbers are the simulator's numbers
    p = planned[0]
    direct = gspsim.simulate(p.point.model, p.point.hardware, p.point.options)
    assert second.records[p.key]["metrics"]["latency_s"] == direct.latency_s


def test_killed_sweep_loses_nothing_finished_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # six points of >= 0.1 s each, one at a time: killed 20 ms after the second is stored, the sweep is mid-way
    cmd = [sys.executable, "-m", "gspsim.sweep", str(TRANSFORMER), "--cores", "2,4,8", "--dram-gbps", "16,32",
           "--jobs", "1", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list((out / "points").glob("*.json"))) < 2 and proc.poll() is None:
            assert time.monotonic() < deadline, "the sweep stored no point in time"
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker processes, as a crash would
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    kept = len(_point_files(out))
    assert 2 <= kept < 6 and not (out / "results.csv").exists()

    resumed = subprocess.run([*cmd[:-4], "--jobs", "2", "--out", str(out)], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{6 - kept} computed now, {kept} reused" in resumed.stdout
    rows = _csv_rows(out / "results.csv")
    assert len(rows) == 6 and len({r["key"] for r in rows}) == 6 and all(r["status"] == "ok" for r in rows)
    assert len(_point_files(out)) == 6 and not list((out / "points").glob(".*.tmp"))
    assert (out / "pareto.png").stat().st_size > 0
    try:
        import pyarrow  # noqa: F401  (the sweep extra)
    except ImportError:
        assert "no results.parquet" in resumed.stdout
    else:
        assert (out / "results.parquet").stat().st_size > 0
    assert "Pareto front over latency, energy, area" in resumed.stdout


def _die_on_budget_3(task: PointTask) -> dict[str, Any]:
    """A point whose worker process dies (as on a crash in native code or an OOM kill)."""
    if task.options.buffer_budget == 3 * 1024:
        os._exit(3)
    return run_point(task)


def test_a_point_that_kills_its_worker_process_fails_alone(tmp_path: Path) -> None:
    spec = build_grid([str(EDGE)], overrides={"buffer_kib": [2, 3, 4, 5]})
    executor = LocalExecutor(jobs=2, point_fn=_die_on_budget_3)
    try:
        outcome = run_sweep(plan(spec), PointStore(tmp_path), executor, spec)
    finally:
        executor.close()
    rows = result_rows(outcome)
    assert outcome.complete and len(rows) == 4 and len(_point_files(tmp_path)) == 4
    assert [r["status"] for r in rows] == ["ok", "failed", "ok", "ok"]
    assert "worker process died" in rows[1]["error"]


def test_cli_help_and_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        gspsim_main(["sweep", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in ("--grid", "--dask", "--sample", "--max-points", "Pareto", "points/", "--execute"):
        assert word in text
    assert gspsim_main(["sweep", str(EDGE), "--cores", "4,8", "--precisions", "fp32,int8", "--out", str(tmp_path),
                       "--dry-run"]) == 0
    assert "4 points" in capsys.readouterr().out
    assert gspsim_main(["sweep", str(EDGE), "--axis", "colour=1", "--out", str(tmp_path)]) == 2
    assert "unknown sweep axis 'colour'" in capsys.readouterr().err


def test_model_variants_export_and_sweep_as_distinct_models(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    import numpy as np
    import torch

    from gspsim.models import definitions
    from gspsim.models.variants import export_variant, variant_config, variant_input_shape

    assert variant_config("edge-mlp", 0.5)["hidden"] == (32, 16)
    assert variant_config("resnet-style", 2.0)["width"] == 16
    assert variant_config("mobilenetv2-style", 2.0)["width_mult"] == pytest.approx(0.7)
    assert variant_input_shape("resnet-style", 96) == (1, 3, 96, 96)
    with pytest.raises(ValueError):
        variant_input_shape("edge-mlp", 32)
    path = export_variant("edge-mlp", tmp_path, 0.5)
    assert path.name == "edge_mlp_w0.5.onnx"
    model = definitions.init_weights(definitions.EdgeMLP(hidden=(32, 16)), 0).eval()
    x = np.random.default_rng(1).standard_normal((1, 10), dtype=np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x})
    np.testing.assert_allclose(got, model(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    # the variant is a model of its own in a sweep: its own content hash, fewer MACs
    result = gspsim.simulate(str(path), "blaize-1600", SimOptions(execute=False))
    assert result.model["macs"] < gspsim.simulate(str(EDGE), "blaize-1600", SimOptions(execute=False)).model["macs"]
    assert content_hash(path) != content_hash(EDGE)
