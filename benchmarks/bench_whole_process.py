"""Whole-process benchmark: the commands users type, timed as whole processes, next to onnxruntime's.

Usage::

    python -m gspsim.models.export --out /tmp/bm --names resnet18-224
    python benchmarks/bench_whole_process.py --model /tmp/bm/resnet18-224.onnx [--repeats 3] [--json PATH]
        [--tree DIR]
    python benchmarks/bench_whole_process.py [--repeats 3]     # start-up and the bundled default model only
    python -m gspsim.models.export --out /tmp/bm --names yolov3-416
    python benchmarks/bench_whole_process.py --timing-only-model /tmp/bm/yolov3-416.onnx [--repeats 1]

A user waits for the whole command, imports and all, not only for the simulation
that ``bench_models.py`` times.  Every row is a fresh ``python -m gspsim ...``
process (best of ``--repeats`` after one untimed warm-up run, so the Numba cache is
warm), in CPU seconds (user + system over all its threads, from
``getrusage``) and wall seconds.  CPU time is the figure to compare on a
shared machine: there the wall clock mostly measures waiting for a CPU.

* ``--version``, ``--help``, ``inspect MODEL``, ``run MODEL`` (fp32) and
  ``run MODEL --precision int8`` on the given model and on the bundled default
  model (``run`` without MODEL);
* int8 twice: with the content caches warm (calibration ranges, accuracy
  report and loaded model of the second run of a model, what best-of-N
  measures; see gspsim/content_cache.py and gspsim/model_cache.py) and cold
  (their folders emptied before every run: a model's first int8 run);
* **onnxruntime**'s whole process on the same model and the same inputs
  (``python -c`` importing onnxruntime and numpy, creating the session, running
  once on the inputs ``gspsim run`` uses: seed 0, written to an .npz by gspsim
  before timing), in the same benchmark run, so a busy machine slows both alike.

Then the **phase split** of ``run MODEL --precision int8``, content cache cold
and warm, one process each, with CPU timers (``time.process_time``) wrapped around gspsim's steps: imports (every
module the command needs, imported up front), model loading and passes
(``load_model``), calibration (``passes.quantize.calibrate``), quantization
and the precision pass, lowering (``compile_model``), the accuracy report
(``accuracy_report``), the content cache's keys (hashing graphs and inputs) and
the simulation (``run_engine``, kernels executing); "other" is the remainder
(inputs, results, printing).

``--timing-only-model MODEL`` (the big-model goal: YOLOv3-416 under 2 s and
1 GiB) times ``run MODEL --timing-only -q`` instead: wall, CPU and the peak
resident memory of the process (``ru_maxrss`` from ``wait4``), best of
``--repeats``, then one process with wall and CPU timers and the peak resident
memory after each phase: ONNX import, default passes (BN folding, constant
folding), precision and fusion, lowering to tiles (``lower_to_tasks``), the
memory plan (``plan_layer_stacks``), the engine's tables
(``compile_program``), the engine (``run_engine``) and the result
(``build_result``).

``--tree DIR`` times another checkout of gspsim (say ``git archive COMMIT``
extracted to DIR): its processes run with ``PYTHONPATH=DIR``.  The benchmark
uses its own ``GSPSIM_CACHE_DIR`` (a temporary folder), the user's Numba cache, and
Python's bytecode cache (it unsets ``PYTHONDONTWRITEBYTECODE``: a user's shell
does not set it, and without ``.pyc`` files every process compiles gspsim's
modules from source, 0.25-0.3 s).  ``GSPSIM_GC_TUNING=0`` in the benchmark's
environment times the commands with Python's default garbage collector
(gspsim/command_process.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]

ORT_SCRIPT = """
import sys
import numpy as np
import onnxruntime as ort
sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
feeds = dict(np.load(sys.argv[2]))
sess.run(None, feeds)
"""

INPUTS_SCRIPT = """
import sys
import numpy as np
from gspsim.api import load_model
from gspsim.inputs import synthetic_inputs
np.savez(sys.argv[2], **synthetic_inputs(load_model(sys.argv[1]), 0))
"""

#: (module, attribute, phase) wrapped with a timer in the phase-split process
PHASE_FUNCTIONS: tuple[tuple[str, str, str], ...] = (
    ("gspsim.api", "load_model", "load + passes"),
    ("gspsim.passes.quantize", "calibrate", "calibration"),
    ("gspsim.api", "prepare_graph", "precision + quantization (incl. calibration)"),
    ("gspsim.api", "compile_model", "lowering"),
    ("gspsim.api", "accuracy_report", "accuracy report"),  # before the content cache: api calls it directly
    ("gspsim.accuracy", "accuracy_report", "accuracy report"),  # with it: gspsim.content_cache calls it
    ("gspsim.content_cache", "calibration_key", "calibration cache key"),
    ("gspsim.content_cache", "accuracy_key", "accuracy cache key"),
    ("gspsim.api", "run_engine", "simulation"),
)

PHASE_SCRIPT = """
import importlib, json, sys, time
t0 = time.process_time()
import gspsim.cli
try:  # what the command does first (gspsim.command_process), in a checkout that has it
    from gspsim.command_process import tune_for_one_command
except ImportError:
    pass
else:
    tune_for_one_command()
import gspsim.api, gspsim.passes.quantize, gspsim.accuracy, gspsim.engine, gspsim.results.build
import gspsim.kernels.ops
imports = time.process_time() - t0
phases = {}
def wrap(module, attr, phase):
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return  # a checkout without that module
    inner = getattr(mod, attr, None)
    if inner is None:
        return
    def timed(*args, **kwargs):
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            phases[phase] = phases.get(phase, 0.0) + time.process_time() - start
    setattr(mod, attr, timed)
for module, attr, phase in json.loads(sys.argv[1]):
    wrap(module, attr, phase)
code = gspsim.cli.main(sys.argv[2:])
phases["imports"] = imports
print("PHASES" + json.dumps(phases))
sys.exit(code)
"""


#: (module, attribute, phase) of a timing-only run, in the order they run.  Each is looked up by name in its
#: module when it runs, so wrapping the module's attribute times it; a name a checkout lacks is skipped (the
#: first entry is how checkouts before the model cache loaded a model)
TIMING_ONLY_PHASES: tuple[tuple[str, str, str], ...] = (
    ("gspsim.api", "import_onnx", "load: ONNX import"),
    ("gspsim.model_cache", "_read", "load: reading the model cache"),
    ("gspsim.frontend", "import_onnx_with_facts", "load: ONNX import"),
    ("gspsim.api", "run_default_passes", "load: default passes"),
    ("gspsim.api", "prepare_graph", "precision + fusion"),
    ("gspsim.api", "lower_to_tasks", "lowering: tiles"),
    ("gspsim.api", "plan_layer_stacks", "lowering: memory plan"),
    ("gspsim.api", "compile_program", "lowering: engine tables"),
    ("gspsim.api", "run_engine", "engine"),
    ("gspsim.api", "build_result", "results"),
)

TIMING_ONLY_SCRIPT = """
import importlib, json, resource, sys, time
wall0, cpu0 = time.perf_counter(), time.process_time()
import gspsim.cli
try:  # what the command does first (gspsim.command_process), in a checkout that has it
    from gspsim.command_process import tune_for_one_command
except ImportError:
    pass
else:
    tune_for_one_command()
import gspsim.api
phases = {"imports": [time.perf_counter() - wall0, time.process_time() - cpu0,
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024]}
def wrap(module, attr, phase):
    mod = importlib.import_module(module)
    inner = getattr(mod, attr, None)
    if inner is None:
        return  # a checkout without it
    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            got = phases.setdefault(phase, [0.0, 0.0, 0])
            got[0] += time.perf_counter() - wall
            got[1] += time.process_time() - cpu
            got[2] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the peak so far
    setattr(mod, attr, timed)
for module, attr, phase in json.loads(sys.argv[1]):
    wrap(module, attr, phase)
code = gspsim.cli.main(sys.argv[2:])
phases["whole process"] = [time.perf_counter() - wall0, time.process_time() - cpu0,
                           resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024]
print("PHASES" + json.dumps(phases))
sys.exit(code)
"""


def run_measured(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds, peak resident bytes (``wait4``'s ``ru_maxrss``) and stdout of one process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"error: {' '.join(argv)} exited {proc.returncode}: {err.read().strip()[-500:]}")
        out.seek(0)
        return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, out.read()


def timing_only_benchmark(model: str, tree: Path, repeats: int) -> dict[str, object]:
    """The big-model goal: ``run MODEL --timing-only`` as a whole process, and its phase split (module docstring)."""
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="gspsim-bench-") as tmp:
        env, cwd = _env(tree, Path(tmp) / "cache"), Path(tmp)
        command = [py, "-m", "gspsim", "run", model, "--timing-only", "-q"]
        runs = [run_measured(command, env, cwd) for _ in range(repeats)]
        _, _, _, out = run_measured([py, "-c", TIMING_ONLY_SCRIPT, json.dumps(TIMING_ONLY_PHASES),
                                     *command[3:]], env, cwd)
    phases = json.loads(out.split("PHASES", 1)[1])
    wall, cpu, peak = min(r[0] for r in runs), min(r[1] for r in runs), min(r[2] for r in runs)
    print(f"\n`run {Path(model).name} --timing-only`, whole process, best of {repeats}: {wall:.2f} s wall, "
          f"{cpu:.2f} CPU s, peak resident memory {peak / 2**30:.2f} GiB (goal: under 2 s and 1 GiB)\n")
    print("| phase | wall s | CPU s | peak resident memory after it, GiB |\n|---|---|---|---|")
    for phase, (p_wall, p_cpu, p_peak) in phases.items():
        print(f"| {phase} | {p_wall:.2f} | {p_cpu:.2f} | {p_peak / 2**30:.2f} |")
    return {"model": model, "wall_s": wall, "cpu_s": cpu, "peak_rss_bytes": peak, "phases": phases}


def _env(tree: Path, cache: Path) -> dict[str, str]:
    """The environment of a timed process: gspsim from ``tree``, its caches in ``cache``, but the user's Numba
    cache (else each run would compile every kernel and the compiled loop first), and Python's bytecode cache
    on, as in a user's shell (with ``PYTHONDONTWRITEBYTECODE`` set, as on some CI machines, every process
    compiles gspsim's hundred-odd modules from source: 0.25-0.3 s)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(tree) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["GSPSIM_CACHE_DIR"] = str(cache)
    env.setdefault("NUMBA_CACHE_DIR", str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                                          / "gspsim" / "numba"))
    env["TERM"] = "dumb"
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall-clock seconds, CPU seconds (user + system, all threads) and standard output of one process."""
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=1800)
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return elapsed, cpu, done.stdout


def _empty(folders: Sequence[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def best_of(argv: Sequence[str], env: dict[str, str], cwd: Path, repeats: int,
            before_each: Sequence[Path] = ()) -> tuple[float, float]:
    """Best wall and best CPU time of ``repeats`` runs after one untimed warm-up (``before_each`` emptied first)."""
    walls, cpus = [], []
    for i in range(repeats + 1):
        _empty(before_each)
        elapsed, cpu, _ = _run(argv, env, cwd)
        if i:
            walls.append(elapsed)
            cpus.append(cpu)
    return min(walls), min(cpus)


def _split(phases: dict[str, float], total: float) -> dict[str, float]:
    """The timers' figures as disjoint phases of one whole process (``total``: its CPU seconds, from outside)."""
    calibration = phases.get("calibration", 0.0)
    calibration_key = phases.get("calibration cache key", 0.0)
    split = {
        "imports": phases["imports"],
        "load + passes": phases.get("load + passes", 0.0),
        "calibration": calibration,
        "cache keys (hashing graphs and inputs)": calibration_key + phases.get("accuracy cache key", 0.0),
        "precision pass and quantization": phases.get("precision + quantization (incl. calibration)", 0.0)
        - calibration - calibration_key,
        "lowering": phases.get("lowering", 0.0),
        "accuracy report": phases.get("accuracy report", 0.0),
        "simulation (kernels executing)": phases.get("simulation", 0.0),
    }
    split["other (interpreter start, inputs, results, printing)"] = total - sum(split.values())
    split["whole process"] = total
    return split


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="the big model, e.g. ResNet-18 224 (see the usage above); without it, only "
                                    "the start-up rows and the bundled default model (no phase split)")
    ap.add_argument("--timing-only-model", metavar="MODEL",
                    help="time `run MODEL --timing-only` (wall, CPU, peak memory) and its phase split, nothing else")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tree", default=str(ROOT), help="the gspsim checkout to time (default: this one)")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    tree = Path(args.tree).resolve()
    if args.timing_only_model:
        figures = timing_only_benchmark(str(Path(args.timing_only_model).resolve()), tree, args.repeats)
        if args.json:
            Path(args.json).write_text(json.dumps({"tree": str(tree), "repeats": args.repeats,
                                                   "load_average": os.getloadavg(), **figures}, indent=1))
        return 0
    model = str(Path(args.model).resolve()) if args.model else None
    default_model = str(tree / "gspsim" / "models" / "small_cnn.onnx")
    py = sys.executable
    gsp = [py, "-m", "gspsim"]
    with tempfile.TemporaryDirectory(prefix="gspsim-bench-") as tmp:
        cache = Path(tmp) / "cache"
        env = _env(tree, cache)
        cwd = Path(tmp)
        content_cache = [cache / "calibration", cache / "accuracy", cache / "models"]
        rows: list[tuple[str, float, float]] = []

        def row(label: str, command: Sequence[str], before_each: Sequence[Path] = ()) -> float:
            wall, cpu = best_of(command, env, cwd, args.repeats, before_each)
            rows.append((label, wall, cpu))
            print(f"{label:<48} {wall:7.2f} s wall {cpu:7.2f} s CPU", file=sys.stderr, flush=True)
            return cpu

        figures: dict[str, float] = {}
        figures["version"] = row("--version", [*gsp, "--version"])
        figures["help"] = row("--help", [*gsp, "--help"])
        for name, path in ((("model", model),) if model else ()) + (("default", default_model),):
            npz = str(Path(tmp) / f"{name}-inputs.npz")
            _run([py, "-c", INPUTS_SCRIPT, path, npz], env, cwd)
            target = [path] if name == "model" else []
            short = Path(path).stem
            figures[f"{name}_ort"] = row(f"onnxruntime fp32 {short}", [py, "-c", ORT_SCRIPT, path, npz])
            figures[f"{name}_inspect"] = row(f"inspect {short}", [*gsp, "inspect", path])
            figures[f"{name}_fp32"] = row(f"run {short}", [*gsp, "run", *target, "-q"])
            figures[f"{name}_int8_warm"] = row(f"run {short} --precision int8 (cache warm)",
                                               [*gsp, "run", *target, "--precision", "int8", "-q"])
            figures[f"{name}_int8_cold"] = row(f"run {short} --precision int8 (cache cold)",
                                               [*gsp, "run", *target, "--precision", "int8", "-q"],
                                               before_each=content_cache)
        phase_argv = [py, "-c", PHASE_SCRIPT, json.dumps(PHASE_FUNCTIONS), "run", str(model), "--precision", "int8",
                      "-q"]
        _empty(content_cache)
        splits = {}
        for cache_state in ("cold", "warm") if model else ():
            _, total, out = _run(phase_argv, env, cwd)
            splits[cache_state] = _split(json.loads(out.split("PHASES", 1)[1]), total)
    big = "model" if model else "default"
    ratio_warm = figures[f"{big}_int8_warm"] / figures[f"{big}_ort"]
    ratio_cold = figures[f"{big}_int8_cold"] / figures[f"{big}_ort"]
    print(f"\ngspsim tree: {tree}   python {platform.python_version()}   best of {args.repeats}\n")
    print("| command | CPU s (user + system) | wall s |\n|---|---|---|")
    for label, wall, cpu in rows:
        print(f"| `{label}` | {cpu:.2f} | {wall:.2f} |")
    print(f"\nint8 {Path(model or default_model).stem} / onnxruntime fp32: {ratio_warm:.1f}x (content cache warm), "
          f"{ratio_cold:.1f}x (cold)")
    for cache_state, split in splits.items():
        print(f"\nphase split of `run {Path(str(model)).name} --precision int8`, content cache {cache_state}, whole "
              f"process {split['whole process']:.2f} CPU s:\n\n| phase | CPU s |\n|---|---|")
        for phase, seconds in split.items():
            print(f"| {phase} | {seconds:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"tree": str(tree), "repeats": args.repeats, "figures_cpu_s": figures,
                                               "rows": rows, "load_average": os.getloadavg(),
                                               "ratio_int8_warm": ratio_warm, "ratio_int8_cold": ratio_cold,
                                               "phases": splits}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
