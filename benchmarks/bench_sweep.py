"""Sweep benchmark: a timing-only hardware sweep of one model on a local Dask cluster, as a whole process.

Usage::

    python -m gspsim.models.export --out /tmp/bm --names resnet18-224
    python benchmarks/bench_sweep.py --model /tmp/bm/resnet18-224.onnx [--sample 100] [--workers 2] [--json PATH]
        [--tree DIR] [--keep DIR]

The grid is 1,000 points of the ``blaize-1600`` chip, the axes a researcher
sizing a chip for a model sweeps: core clock (10 values, 0.6-2.4 GHz), DRAM
bandwidth (10 values, 6.4-128 GB/s), shared on-chip memory (5 values,
256 KiB-4 MiB) and cores (8, 16).  Clock and DRAM bandwidth do not change how
the model is lowered; shared memory and cores do (10 distinct lowerings).
``--sample N`` runs a seeded sample of N of them (the sweep's own ``--sample``)
for a quick look.

The command timed is the one users type::

    python -m gspsim sweep MODEL --clock-ghz ... --dram-gbps ... --shared-kib ... --cores ...
        --dask local --jobs 2 --out DIR -q

one fresh process (and its Dask workers, whose CPU time is counted: CPU is
user + system of the process tree, from ``wait4``).  It reports points per
second (points / whole-process wall time, and over the sweep loop alone) and
the per-point split from the point files: load, lowering (and how many points
reused a lowering), simulation (inputs, engine, result), building the record;
"Dask and store" is what the loop's worker time holds beyond that (task
shipping, result transfer, the point files).  The loop runs from the first
point's start to the last point file written; "startup" is before it
(imports, the cluster, hashing and planning), "tables" after it (CSV, Parquet,
Pareto plot, shutting the cluster down).

The sweep runs with its own ``GSPSIM_CACHE_DIR`` (a temporary folder) and the
user's Numba cache (as ``bench_whole_process.py``): with an empty one, each
worker's first point would compile the compiled loop, about a minute and up to
200 s on a busy machine.  On a new machine run ``python -m gspsim warmup``
first.

``--tree DIR`` times another checkout of gspsim (``git archive COMMIT``
extracted to DIR) with ``PYTHONPATH=DIR``; a checkout whose point files have
no ``timings_s`` gives the loop figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from bench_whole_process import _env

ROOT = Path(__file__).resolve().parents[1]

#: the 1,000-point grid: axis flag -> values
GRID: tuple[tuple[str, str], ...] = (
    ("--cores", "8,16"),
    ("--shared-kib", "256,512,1024,2048,4096"),
    ("--dram-gbps", "6.4,12.8,19.2,25.6,32,38.4,51.2,64,102.4,128"),
    ("--clock-ghz", "0.6,0.8,1.0,1.2,1.4,1.6,1.8,2.0,2.2,2.4"),
)
PHASES = ("load", "lowering", "simulation", "record")


def grid_size() -> int:
    size = 1
    for _, values in GRID:
        size *= len(values.split(","))
    return size


def run_process(argv: Sequence[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Start, end and wall seconds of one run of ``argv`` (its CPU time: the caller reads os.times around it)."""
    start = time.time()
    proc = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=7200)  # communicate reaps the child: its rusage comes from RUSAGE_CHILDREN
    end = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(argv)} exited {proc.returncode}: {err.strip()[-800:]}")
    return {"start": start, "end": end, "wall_s": end - start}


def point_split(points_dir: Path, start: float, end: float, workers: int) -> dict[str, Any]:
    """The per-point phase split and the loop's span, from the point files the sweep wrote."""
    records = [json.loads(p.read_text()) for p in points_dir.glob("*.json")]
    finished = [p.stat().st_mtime for p in points_dir.glob("*.json")]
    n = len(records)
    ok = sum(1 for r in records if r["status"] == "ok")
    first_start = min(t - (r.get("wall_s") or 0.0) for t, r in zip(finished, records))
    loop = max(finished) - first_start
    worker_s = sum(r.get("wall_s") or 0.0 for r in records)
    split: dict[str, Any] = {"points": n, "ok": ok, "startup_s": first_start - start, "loop_s": loop,
                             "tables_s": end - max(finished), "points_per_s_loop": n / loop if loop else None}
    if all("timings_s" in r for r in records):
        per_point = {phase: sum(r["timings_s"][phase] for r in records) / n for phase in PHASES}
        per_point["dask and store"] = max(0.0, loop * workers - worker_s) / n
        split["per_point_s"] = per_point
        split["lowerings"] = sum(1 for r in records if not r.get("lowering_shared"))
    else:
        split["per_point_s"] = {"point (worker)": worker_s / n, "dask and store": max(0.0, loop * workers - worker_s) / n}
    return split


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="/tmp/bm/resnet18-224.onnx")
    ap.add_argument("--sample", type=int, default=None, help="a seeded sample of N points (default: all 1,000)")
    ap.add_argument("--workers", type=int, default=2, help="Dask LocalCluster worker processes (default 2)")
    ap.add_argument("--tree", default=str(ROOT), help="the gspsim checkout to time (default: this one)")
    ap.add_argument("--keep", metavar="DIR", help="write the sweep's output here (default: a temporary folder)")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    tree = Path(args.tree).resolve()
    model = str(Path(args.model).resolve())
    if not Path(model).is_file():
        raise SystemExit(f"error: {model}: no such file (export it: python -m gspsim.models.export --out /tmp/bm "
                         "--names resnet18-224)")
    with tempfile.TemporaryDirectory(prefix="gspsim-bench-sweep-") as tmp:
        out = Path(args.keep) if args.keep else Path(tmp) / "sweep"
        if out.exists():
            shutil.rmtree(out)
        env = _env(tree, Path(tmp) / "cache")
        command = [sys.executable, "-m", "gspsim", "sweep", model, *(x for pair in GRID for x in pair),
                   "--dask", "local", "--jobs", str(args.workers), "--out", str(out), "-q"]
        if args.sample:
            command += ["--sample", str(args.sample), "--seed", "0"]
        before = os.times()
        timing = run_process(command, env, Path(tmp))
        after = os.times()
        cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        split = point_split(out / "points", timing["start"], timing["end"], args.workers)
    n = split["points"]
    shown = " ".join(Path(c).name if c == model else c for c in command[1:])
    print(f"\ngspsim tree: {tree}   python {platform.python_version()}   load average {os.getloadavg()[0]:.2f}")
    print(f"command: python {shown}\n")
    print(f"{n} points ({split['ok']} ok) in {timing['wall_s']:.1f} s wall, {cpu:.1f} CPU s (process and workers): "
          f"{n / timing['wall_s']:.2f} points/s whole process, {split['points_per_s_loop']:.2f} points/s in the loop")
    if "lowerings" in split:
        print(f"lowerings: {split['lowerings']} of {n} points (the others reused one on their worker)")
    print(f"startup {split['startup_s']:.1f} s, loop {split['loop_s']:.1f} s, tables {split['tables_s']:.1f} s\n")
    print(f"| per point ({args.workers} workers) | s |\n|---|---|")
    for phase, seconds in split["per_point_s"].items():
        print(f"| {phase} | {seconds:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"tree": str(tree), "command": command, "wall_s": timing["wall_s"],
                                               "cpu_s": cpu, "load_average": os.getloadavg(), **split}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
