"""Whole-model benchmark: gspsim's simulation time against onnxruntime, per model, precision and mode.

Usage::

    python benchmarks/bench_models.py [--json PATH] [--quick] [--models-dir DIR] [--repeats N]

Models: the edge MLP (bundled), a ResNet-18-style and a MobileNetV2-style CNN at
224x224 (exported with torch into ``--models-dir``, default
``~/.cache/gspsim-bench``, when absent), and the small transformer encoder of
``tests/models``.  ``--quick`` keeps the two small ones (well under a minute).

Per model, in one process, on the same seeded inputs (``gspsim.inputs.synthetic_inputs``,
seed 0, the inputs ``gspsim run`` uses):

* **ort**: onnxruntime fp32 inference (``session.run``), warm, median of runs
  interleaved with the simulations (so a busy machine slows both alike), onnxruntime's
  default threads;
* **sim**: gspsim's simulation with the kernels executing on the real tensors, per
  precision (fp32, fp16, int8) and mode (streaming, layer): the engine and the result
  (``simulate_workloads`` + ``build_result``) on the compiled program, median of
  ``--repeats`` after one warm-up run.  Compiling (ONNX import, precision pass, int8
  post-training quantization with its calibration runs, lowering to blocks) is the
  **compile** column, as onnxruntime's session creation is not in its time.  A
  precision that fails (say int8 before its pass exists) is reported as failed;
* **timing-only**: the same run without kernels (every event simulated): its time and
  blocks simulated per second, over the engine + result, and over a whole sweep point
  (``gspsim.simulate`` on the imported graph: precision pass, inputs, lowering, engine,
  result);
* **peak memory** of a full fp32 streaming simulation from the ONNX file, in a fresh
  subprocess: tracemalloc's peak (numpy and Python allocations) and the growth of the
  resident set (``ru_maxrss``) over the process after its imports, against the model's
  weights plus its largest set of live activations (tensors produced and not yet read
  by their last reader, in program order);
* **JIT warm-up**: a fresh subprocess with an empty ``NUMBA_CACHE_DIR`` times its first
  full simulation (every kernel compiled) and its second (steady state); a fresh
  process with the normal cache gives the first call with cached kernels.

Prints one table (ratios are sim / ort) and writes everything as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from gspsim.vocab import MODES

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gspsim-bench"
#: the precisions benchmarked by default
PRECISIONS = ("fp32", "fp16", "int8")
HW = "blaize-1600"
#: name -> (file, exported by torch into --models-dir?)
MODELS: dict[str, tuple[str, bool]] = {
    "edge-mlp": (str(REPO / "gspsim" / "models" / "edge_mlp.onnx"), False),
    "resnet18-224": ("resnet18-224.onnx", True),
    "mobilenetv2-224": ("mobilenetv2-224.onnx", True),
    "transformer": (str(REPO / "tests" / "models" / "transformer_encoder.onnx"), False),
}
QUICK = ("edge-mlp", "transformer")


# --------------------------------------------------------------------------- helpers


def model_path(name: str, models_dir: Path) -> Path:
    """The model's ONNX file, exported with torch (``python -m gspsim.models.export``) when absent."""
    file, exported = MODELS[name]
    if not exported:
        return Path(file)
    path = models_dir / file
    if not path.exists():
        models_dir.mkdir(parents=True, exist_ok=True)
        print(f"exporting {name} with torch into {models_dir} ...", flush=True)
        subprocess.run([sys.executable, "-m", "gspsim.models.export", "--out", str(models_dir), "--names", name],
                       check=True, cwd=REPO)
    return path


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def live_activation_peak(graph: Any) -> int:
    """Largest sum of live activation bytes in program order (graph inputs until their last reader)."""
    tensors = graph.tensors
    readers: dict[str, int] = {}
    ops = list(graph.ops())
    for op in ops:
        for t in set(op.activation_inputs):
            readers[t] = readers.get(t, 0) + 1
    keep = set(graph.outputs)
    live = {t: tensors[t].nbytes for t in graph.inputs}
    peak = sum(live.values())
    for op in ops:
        for t in (o for o in op.outputs if o):
            live[t] = tensors[t].nbytes
        peak = max(peak, sum(live.values()))
        for t in set(op.activation_inputs):
            readers[t] -= 1
            if readers[t] == 0 and t not in keep:
                live.pop(t, None)
    return peak


class Ort:
    """onnxruntime fp32 on the model file: warm runs collected while the simulations are timed."""

    def __init__(self, path: Path, inputs: dict[str, np.ndarray]) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        t0 = time.perf_counter()
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.session_s = time.perf_counter() - t0
        self.feeds = {i.name: inputs[i.name] for i in self.session.get_inputs()}
        self.names = [o.name for o in self.session.get_outputs()]
        self.times: list[float] = []
        self.outputs = dict(zip(self.names, self.session.run(self.names, self.feeds)))
        for _ in range(3):
            self.session.run(self.names, self.feeds)

    def sample(self, runs: int = 3) -> None:
        for _ in range(runs):
            t, _ = timed(lambda: self.session.run(self.names, self.feeds))
            self.times.append(t)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


# --------------------------------------------------------------------------- in-process measurements


def compile_program(graph: Any, precision: str, mode: str, hw: Any, tile: Optional[str]) -> tuple[Any, Any]:
    """(options, compiled program) of the imported graph at a precision and mode."""
    from gspsim.api import compile_model, prepare_graph
    from gspsim.engine.options import SimOptions

    options = SimOptions(mode=mode, precision=precision, accuracy_samples=0, tile=tile)
    return options, compile_model(prepare_graph(graph, options), hw, options)


def run_program(program: Any, options: Any, hw: Any, path: Path, inputs: dict[str, np.ndarray], execute: bool) -> tuple[float, float, Any]:
    """(engine + result seconds, engine seconds, result) of one simulation of the compiled program."""
    from dataclasses import replace

    from gspsim.engine import run_engine
    from gspsim.engine.records import Workload
    from gspsim.results.build import build_result
    from gspsim.scheduling import make_scheduler

    options = replace(options, execute=execute)
    workload = Workload(program=program, scheduler=make_scheduler(options.scheduler_name, options.seed),
                        release_cycles=(0.0,), inputs=(inputs,) if execute else ())
    t0 = time.perf_counter()
    run = run_engine([workload], hw, options)
    t1 = time.perf_counter()
    result = build_result([workload], hw, options, run, [str(path)], [None])
    return time.perf_counter() - t0, t1 - t0, result


def bench_model(name: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    import gspsim
    from gspsim.api import load_model
    from gspsim.check import compare_outputs
    from gspsim.hardware.config import load_hardware
    from gspsim.inputs import synthetic_inputs

    hw = load_hardware(HW)
    load_s, graph = timed(lambda: load_model(path))
    inputs = synthetic_inputs(graph, 0)
    ort = Ort(path, inputs)
    weights = int(graph.weight_bytes)
    acts = live_activation_peak(graph)
    entry: dict[str, Any] = {
        "path": str(path), "nodes": len(graph), "weight_bytes": weights, "live_activation_peak_bytes": acts,
        "import_s": load_s, "ort_session_s": ort.session_s, "runs": [],
    }
    for precision in args.precisions:
        for mode in args.modes:
            row: dict[str, Any] = {"precision": precision, "mode": mode}
            try:
                compile_s, (options, tasks) = timed(lambda: compile_program(graph, precision, mode, hw, args.tile))
                sim_inputs = synthetic_inputs(tasks.tasks.graph, 0)
                first_s, _, result = run_program(tasks, options, hw, path, sim_inputs, True)  # warm-up (kernels loaded)
                sims, engines = [], []
                for _ in range(args.repeats):
                    ort.sample()
                    sim_s, engine_s, result = run_program(tasks, options, hw, path, sim_inputs, True)
                    sims.append(sim_s)
                    engines.append(engine_s)
                check = compare_outputs(result.outputs, ort.outputs, precision)
                row.update(
                    ok=True, compile_s=compile_s + load_s, first_s=first_s, sim_s=statistics.median(sims),
                    sim_runs_s=sims, engine_s=statistics.median(engines), blocks=result.blocks,
                    latency_cycles=result.latency_cycles, check_passed=check.passed, max_rel_err=check.max_rel_err,
                )
                if precision == "fp32":  # timing-only: same program, no kernels
                    runs = [run_program(tasks, options, hw, path, sim_inputs, False) for _ in range(args.repeats + 1)][1:]
                    t_sim = statistics.median(r[0] for r in runs)
                    t_engine = statistics.median(r[1] for r in runs)
                    point = []
                    for _ in range(args.repeats):
                        t, _ = timed(lambda: gspsim.simulate(graph, HW, mode=mode, execute=False, accuracy_samples=0,
                                                             tile=args.tile))
                        point.append(t)
                    row["timing_only"] = {
                        "sim_s": t_sim, "engine_s": t_engine, "blocks_per_s": result.blocks / t_sim,
                        "engine_blocks_per_s": result.blocks / t_engine,
                        "sweep_point_s": statistics.median(point), "sweep_point_blocks_per_s": result.blocks / statistics.median(point),
                    }
            except Exception as exc:  # a precision that does not work yet is reported, not fatal
                row.update(ok=False, error=f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
                if args.verbose:
                    traceback.print_exc()
            entry["runs"].append(row)
            print(f"  {name} {precision} {mode}: " + (
                f"sim {row['sim_s'] * 1e3:.1f} ms" if row.get("ok") else f"FAILED {row['error']}"), flush=True)
    ort.sample(10)
    entry["ort_s"] = ort.median
    entry["ort_runs"] = len(ort.times)
    for row in entry["runs"]:
        if row.get("ok"):
            row["sim_over_ort"] = row["sim_s"] / entry["ort_s"]
    return entry


# --------------------------------------------------------------------------- subprocess measurements


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in a fresh process: peak memory, or first (JIT) vs steady full simulation."""
    import resource

    import gspsim

    kind, path, precision = spec["kind"], spec["path"], spec.get("precision", "fp32")
    options = dict(mode="streaming", precision=precision, accuracy_samples=0, tile=spec.get("tile"))
    if kind == "memory":
        import gc
        import tracemalloc

        # a first run imports the lazily loaded modules and loads the compiled kernels, so the measured
        # run counts the simulation's own memory: the imported model, its programs, tensors and results
        gspsim.simulate(path, HW, **options)
        gc.collect()
        base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        tracemalloc.start()
        gspsim.simulate(path, HW, **options)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {"tracemalloc_peak_bytes": peak, "rss_base_bytes": base_rss,
                "rss_peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    from gspsim.api import load_model

    graph = load_model(path)
    first, _ = timed(lambda: gspsim.simulate(graph, HW, **options))
    steady = [timed(lambda: gspsim.simulate(graph, HW, **options))[0] for _ in range(2)]
    return {"first_s": first, "steady_s": min(steady)}


def in_subprocess(spec: dict[str, Any], env: Optional[dict[str, str]] = None) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=REPO)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_memory_and_jit(entry: dict[str, Any], args: argparse.Namespace) -> None:
    spec = {"path": entry["path"], "tile": args.tile}
    mem = in_subprocess({**spec, "kind": "memory"})
    if "error" not in mem:
        reference = entry["weight_bytes"] + entry["live_activation_peak_bytes"]
        mem["reference_bytes"] = reference
        mem["tracemalloc_ratio"] = mem["tracemalloc_peak_bytes"] / reference
        mem["rss_growth_bytes"] = mem["rss_peak_bytes"] - mem["rss_base_bytes"]
        mem["rss_growth_ratio"] = mem["rss_growth_bytes"] / reference
    entry["memory"] = mem
    entry["jit"] = {}
    for precision in args.jit_precisions:
        with tempfile.TemporaryDirectory(prefix="gspsim-numba-") as cache:
            cold = in_subprocess({**spec, "kind": "jit", "precision": precision}, {"NUMBA_CACHE_DIR": cache})
        cached = in_subprocess({**spec, "kind": "jit", "precision": precision})
        entry["jit"][precision] = {
            "cold": cold, "cached": cached,
            "warmup_s": cold["first_s"] - cold["steady_s"] if "error" not in cold else None,
            "cached_warmup_s": cached["first_s"] - cached["steady_s"] if "error" not in cached else None,
        }


# --------------------------------------------------------------------------- report


def _ms(x: Optional[float]) -> str:
    if x is None:
        return "-"
    return f"{x * 1e3:,.1f}" if x >= 1e-4 else f"{x * 1e3:.3f}"


def print_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"gspsim vs onnxruntime fp32 ({results['machine']['cpus']} CPUs, {HW})", show_lines=False)
    for col in ("model", "ort fp32 ms", "precision / mode", "compile s", "sim ms", "sim/ort", "check",
                "timing-only ms", "blocks", "blocks/s (sim | engine | sweep pt)", "peak mem / (W+A)", "JIT warm-up s"):
        table.add_column(col, justify="left" if col in ("model", "precision / mode", "check") else "right")
    for name, entry in results["models"].items():
        first = True
        for row in entry["runs"]:
            cells = [name if first else "", _ms(entry["ort_s"]) if first else "", f"{row['precision']} / {row['mode']}"]
            if row.get("ok"):
                cells += [f"{row['compile_s']:.2f}", _ms(row["sim_s"]), f"{row['sim_over_ort']:.1f}x",
                          "pass" if row["check_passed"] else f"FAIL {row['max_rel_err']:.2g}"]
            else:
                cells += ["-", "failed", "-", row["error"][:40]]
            t = row.get("timing_only")
            if t:
                cells += [_ms(t["sim_s"]), f"{row['blocks']:,}",
                          f"{t['blocks_per_s']:,.0f} | {t['engine_blocks_per_s']:,.0f} | {t['sweep_point_blocks_per_s']:,.0f}"]
            else:
                cells += ["", "", ""]
            mem, jit = entry.get("memory", {}), entry.get("jit", {})
            if first and mem and "error" not in mem:
                cells.append(f"{mem['tracemalloc_peak_bytes'] / 2**20:,.1f} MiB = {mem['tracemalloc_ratio']:.1f}x "
                             f"(rss +{mem['rss_growth_bytes'] / 2**20:,.0f} MiB)")
            else:
                cells.append("" if not first else "-")
            jit_row = jit.get(row["precision"]) if row["mode"] == "streaming" else None
            if jit_row and jit_row.get("warmup_s") is not None:
                cells.append(f"{jit_row['warmup_s']:.1f} (cached {jit_row['cached_warmup_s']:.1f})"
                             if jit_row.get("cached_warmup_s") is not None else f"{jit_row['warmup_s']:.1f}")
            else:
                cells.append("")
            table.add_row(*cells)
            first = False
        table.add_section()
    Console(width=220).print(table)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="small models only (edge MLP, transformer)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), help="models to run (default: all)")
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_CACHE, help="where the 224x224 CNNs are (exported when absent)")
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each simulation (median)")
    parser.add_argument("--tile", default=None, help="tile size, e.g. rows=2 (default: the compiler's rule)")
    parser.add_argument("--no-subprocess", action="store_true", help="skip peak memory and JIT warm-up")
    parser.add_argument("--jit-precisions", nargs="+", default=["fp32", "int8"])
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    names = args.models or (list(QUICK) if args.quick else list(MODELS))
    if args.quick:
        args.repeats = min(args.repeats, 3)
        args.jit_precisions = ["fp32"]
    import gspsim

    results: dict[str, Any] = {
        "gspsim_version": gspsim.__version__,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "hardware": HW, "repeats": args.repeats, "tile": args.tile, "models": {},
    }
    started = time.perf_counter()
    for name in names:
        path = model_path(name, args.models_dir)
        print(f"{name}: {path}", flush=True)
        entry = bench_model(name, path, args)
        if not args.no_subprocess:
            bench_memory_and_jit(entry, args)
        results["models"][name] = entry
    results["wall_s"] = time.perf_counter() - started
    results["machine"]["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    print_table(results)
    print(f"benchmark wall time {results['wall_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
