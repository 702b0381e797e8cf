"""Engine speed: tiles simulated per second, timing-only, by the fast, the Python and the reference engine.

Usage::

    python benchmarks/bench_engine.py [--models-dir DIR] [--models resnet18-224 mobilenetv2-224]
        [--precision int8] [--modes streaming layer] [--engines fast compiled python reference] [--repeats N]
        [--frames 1 80 300]

``fast`` is what a user gets: the compiled loop (gspsim.engine.compiled) for
a run of one model with a built-in scheduler and at least
``COMPILED_LOOP_MIN_TILES`` (10,000) tiles over its frames, the Python loop
for a smaller one (loading the compiled loop would cost a process more than
it saves); ``compiled`` forces the compiled loop (whatever the size: what
it does per tile, its cache load done once before timing); ``python`` is the
fast engine's Python loop, ``reference`` the SimPy engine.

Per model, precision and mode, the model is compiled once -- ONNX import,
the precision pass (int8: post-training quantization with a 2-sample
calibration, which changes scales but no tile or cycle), fusion as
``simulate`` does it (:func:`gspsim.api.prepare_graph`), lowering to tiles,
the memory plan and the program's tables (:func:`gspsim.api.compile_model`)
-- and none of that is timed.  Then, per engine, the least CPU time of
``--repeats`` runs (CPU time and the least, so that a shared machine's load hits it least) of

* **engine**: :func:`gspsim.engine.run_engine` on fresh workloads, timing
  only (``execute=False``): the engine's own per-run tables, its event loop
  and its records;
* **engine+result**: the same plus :func:`gspsim.results.build.build_result` and its JSON
  (energy, per-node figures, power series, timeline): issue 18's figure.

Tiles per second are tiles / time; the *ratio* rows are the reference's (and the
Python loop's) time over the fast engine's, measured in the same run.  The two engines' JSON results are
compared too (they must be identical; ``tests/test_engine_equivalence.py``
checks it on many more runs).  The 224x224 CNNs are exported with torch into
``--models-dir`` when absent, as for ``bench_models.py``.
"""

from __future__ import annotations

import argparse
import gc
import shlex
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout this script is in

from bench_models import DEFAULT_CACHE, HW, MODELS, model_path


def best(fn: Callable[[], object], repeats: int) -> float:
    """Least CPU time of ``fn`` over ``repeats`` calls (CPU time, and the least, so that other work on a shared
    machine hits it least; the engines are single-threaded Python)."""
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def bench(path: Path, precision: str, mode: str, engines: list[str], repeats: dict[str, int],
          frames: int = 1) -> list[dict]:
    """Per engine: tiles (of every frame), seconds of engine and of engine + result, and the run's JSON."""
    from dataclasses import replace

    from gspsim.api import compile_model, load_model, prepare_graph
    from gspsim.engine import run_engine
    from gspsim.engine.options import SimOptions
    from gspsim.engine.records import Workload
    from gspsim.hardware.config import load_hardware
    from gspsim.results.build import build_result
    from gspsim.scheduling import make_scheduler

    hw = load_hardware(HW)
    options = SimOptions(mode=mode, precision=precision, execute=False, accuracy_samples=0, calibration_samples=2,
                         frames=frames)
    program = compile_model(prepare_graph(load_model(path), options), hw, options)
    tiles = len(program.tasks.blocks) * frames
    rows = []
    for engine in engines:
        run_options = replace(options, engine=engine)

        def workloads() -> list[Workload]:
            return [Workload(program, make_scheduler(run_options.scheduler_name, run_options.seed), (0.0,) * frames)]

        def engine_only() -> None:
            run_engine(workloads(), hw, run_options)

        def with_result() -> str:
            w = workloads()
            run = run_engine(w, hw, run_options)
            return build_result(w, hw, run_options, run, [str(path)], [None]).to_json()

        rows.append({"engine": engine, "tiles": tiles, "engine_s": best(engine_only, repeats[engine]),
                     "total_s": best(with_result, repeats[engine]), "json": with_result()})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_CACHE,
                        help="where the 224x224 CNNs are (exported with torch when absent), as for bench_models.py")
    parser.add_argument("--models", nargs="+", default=["resnet18-224", "mobilenetv2-224"], choices=list(MODELS))
    parser.add_argument("--precision", default="int8")
    parser.add_argument("--modes", nargs="+", default=["streaming"])
    parser.add_argument("--engines", nargs="+", default=["fast", "reference"],
                        choices=["fast", "compiled", "python", "reference"])
    parser.add_argument("--repeats", type=int, default=9, help="runs of the fast engine (the reference: 1/3 of them)")
    parser.add_argument("--frames", type=int, nargs="+", default=[1],
                        help="frames arriving at once, one row each (how the engine scales with frames in flight)")
    args = parser.parse_args()
    repeats = {"fast": args.repeats, "compiled": args.repeats, "python": args.repeats,
               "reference": max(1, args.repeats // 3)}
    print("$ python " + " ".join(shlex.quote(a) for a in sys.argv))
    print(f"{'model':16s} {'prec':5s} {'mode':9s} {'frames':>6s} {'engine':9s} {'tiles':>7s} {'engine ms':>10s} "
          f"{'tiles/s':>9s} {'+result ms':>10s} {'tiles/s':>9s}")
    for name in args.models:
        for mode, frames in ((m, f) for m in args.modes for f in args.frames):
            rows = bench(model_path(name, args.models_dir), args.precision, mode, args.engines, repeats, frames)
            for r in rows:
                print(f"{name:16s} {args.precision:5s} {mode:9s} {frames:6d} {r['engine']:9s} {r['tiles']:7d} "
                      f"{r['engine_s'] * 1e3:10.1f} {r['tiles'] / r['engine_s']:9,.0f} "
                      f"{r['total_s'] * 1e3:10.1f} {r['tiles'] / r['total_s']:9,.0f}", flush=True)
            times = {r["engine"]: r for r in rows}
            for other in ("python", "reference"):
                if {"fast", other} <= times.keys():
                    ref, fast = times[other], times["fast"]
                    print(f"{'':16s} {'':5s} {mode:9s} {frames:6d} {other[:3] + '/fast':9s} {'':7s} "
                          f"{ref['engine_s'] / fast['engine_s']:9.1f}x"
                          f" {'':9s} {ref['total_s'] / fast['total_s']:9.1f}x", flush=True)
            if len({r["json"] for r in rows}) > 1:
                print(f"  !! {name} {mode}: the engines' JSON results differ", flush=True)


if __name__ == "__main__":
    main()
