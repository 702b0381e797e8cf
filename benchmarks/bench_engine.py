"""Where a timing-only simulation spends its time: the engine and result phases, per model and mode.

The "sim" timing-only column of ``bench_models.py`` is ``simulate_workloads``
+ ``build_result`` on an already lowered program.  This script splits it into
its phases, each the minimum over ``--repeats`` runs (so a shared machine's
load hits it least):

* ``plan``: ``plan_buffers`` (the compiler's ring-buffer sizing, redone per run);
* ``tables``: the engine's per-block tables (``_StaticBlocks``);
* ``init``: the whole engine set-up (``plan`` and ``tables`` included);
* ``run``: the SimPy event loop and the end-of-run reductions (``_Engine.run``);
* ``bounds`` and ``power``: ``lower_bounds`` and ``power_series`` (inside ``result``);
* ``result``: ``build_result``;
* ``sim``: ``simulate_workloads`` + ``build_result``, as ``bench_models.py`` times it;

and counts SimPy event ids per block (every scheduled event, and each batched
start event, takes one).  Usage::

    python benchmarks/bench_engine.py [--models-dir DIR] [--models resnet18-224 mobilenetv2-224] [--repeats N]
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path
from typing import Callable

from bench_models import DEFAULT_CACHE, HW, MODELS, model_path


def best(fn: Callable[[], object], repeats: int) -> float:
    """Minimum wall time of ``fn`` over ``repeats`` calls, with the cyclic GC paused as the engine pauses it."""
    times = []
    for _ in range(repeats):
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return min(times)


def bench(path: Path, mode: str, repeats: int) -> dict[str, float]:
    """Phase minima (seconds), blocks and event ids per block of one timing-only run of ``path``."""
    from gspsim.api import load_model, lower, prepare_precision
    from gspsim.engine.bounds import lower_bounds
    from gspsim.engine.buffers import plan_buffers
    from gspsim.engine.cost_model import CostModel
    from gspsim.engine.options import SimOptions
    from gspsim.engine.simulator import EngineRun, Workload, _Engine, _StaticBlocks, simulate_workloads
    from gspsim.hardware.config import load_hardware
    from gspsim.vocab import PRECISIONS
    from gspsim.results.build import build_result, power_series
    from gspsim.scheduling import make_scheduler

    hw = load_hardware(HW)
    options = SimOptions(mode=mode, precision="fp32", accuracy_samples=0, execute=False)
    tasks = lower(prepare_precision(load_model(path), options), hw, options)

    def workload() -> Workload:
        return Workload(tasks=tasks, scheduler=make_scheduler(options.scheduler_name, options.seed), release_cycles=(0.0,))

    costs = {p: CostModel.for_run(hw, p) for p in PRECISIONS}
    plans = plan_buffers(tasks, hw, options.mode, options.ring_depth)
    engine = _Engine([workload()], hw, options)
    stats = engine.run()
    events = next(engine.env._eid)
    run = EngineRun(stats=stats, block_cycles=(tuple(engine.block_cycles[0]),),
                    jobs=tuple((j.workload, j.frame, j.release, j.offset) for j in engine.jobs))
    wl = engine.workloads[0]
    cost = costs[options.precision]

    def engine_run() -> None:
        _Engine([workload()], hw, options).run()

    def sim() -> None:
        w = workload()
        build_result([w], hw, options, simulate_workloads([w], hw, options), [str(path)], [None])

    result = {
        "blocks": float(len(tasks.blocks)),
        "events_per_block": events / len(tasks.blocks),
        "plan": best(lambda: plan_buffers(tasks, hw, options.mode, options.ring_depth), repeats),
        "tables": best(lambda: _StaticBlocks(tasks, plans, costs, cost, mode == "layer"), repeats),
        "init": best(lambda: _Engine([workload()], hw, options), repeats),
        "init+run": best(engine_run, repeats),
        "bounds": best(lambda: lower_bounds([(tasks, run.block_cycles[0], (0.0,))], cost, hw.cores.count), repeats),
        "power": best(lambda: power_series(stats.energy_events, stats.latency_cycles, hw.energy.static_w,
                                           hw.cores.clock_hz, options.power_resolution_cycles), repeats),
        "result": best(lambda: build_result([wl], hw, options, run, [str(path)], [None]), repeats),
        "sim": best(sim, repeats),
    }
    result["run"] = result["init+run"] - result["init"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_CACHE,
                        help="where the 224x224 CNNs are (exported with torch when absent), as for bench_models.py")
    parser.add_argument("--models", nargs="+", default=["resnet18-224", "mobilenetv2-224"], choices=list(MODELS))
    parser.add_argument("--modes", nargs="+", default=["streaming", "layer"])
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    phases = ("plan", "tables", "init", "run", "bounds", "power", "result", "sim")
    print(f"{'model':18s} {'mode':9s} {'blocks':>6s} {'ev/blk':>6s} " + " ".join(f"{p:>7s}" for p in phases)
          + "   sim blocks/s   (ms, minimum of each phase)")
    for name in args.models:
        for mode in args.modes:
            r = bench(model_path(name, args.models_dir), mode, args.repeats)
            print(f"{name:18s} {mode:9s} {int(r['blocks']):6d} {r['events_per_block']:6.2f} "
                  + " ".join(f"{r[p] * 1e3:7.2f}" for p in phases) + f"   {r['blocks'] / r['sim']:12,.0f}", flush=True)


if __name__ == "__main__":
    main()
