"""A/B of the compiled engine's event loop: another checkout's ``loop.py`` against this one's, in one process.

Usage::

    python benchmarks/bench_loop_ab.py --old a0c6294 --model /tmp/bm/yolov3-416.onnx [--frames 1] [--repeats 7]

On a shared machine two processes timed minutes apart disagree by a third; two
loops timed alternately in one process, on the same tables, do not.  The old
``gspsim/engine/compiled/loop.py`` (``git show OLD:...``) is written beside
this one as ``_ab_old_loop.py`` for the run (and removed after), so that its
imports resolve as the original's do; both loops are compiled or loaded from
Numba's cache, both run once and must return identical arrays, then they run
alternately ``--repeats`` times each: the best of each and their ratio.
The old loop must take the same tables (``ModelTables``, ``RunParams``) as this one.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOP = ROOT / "gspsim" / "engine" / "compiled" / "loop.py"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", required=True, help="the git revision whose loop.py is the baseline")
    ap.add_argument("--model", required=True)
    ap.add_argument("--frames", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--hw", default="blaize-1600")
    args = ap.parse_args()
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{args.old}:gspsim/engine/compiled/loop.py"],
                            capture_output=True, text=True, check=True).stdout
    old_path = LOOP.with_name("_ab_old_loop.py")
    old_path.write_text(source)
    try:
        sys.path.insert(0, str(ROOT))
        import numpy as np

        from gspsim.api import compile_model, load_model, prepare_graph
        from gspsim.engine.compiled import CompiledEngine, loop
        from gspsim.engine.options import SimOptions
        from gspsim.engine.records import Workload
        from gspsim.hardware.config import load_hardware
        from gspsim.scheduling import make_scheduler

        old = importlib.import_module("gspsim.engine.compiled._ab_old_loop")
        hw = load_hardware(args.hw)
        options = SimOptions(mode="streaming", precision="fp32", execute=False, accuracy_samples=0,
                             frames=args.frames, engine="compiled")
        program = compile_model(prepare_graph(load_model(args.model), options), hw, options)
        work = [Workload(program, make_scheduler(options.scheduler_name, options.seed), (0.0,) * args.frames)]
        engine = CompiledEngine(work, hw, options)
        for x, y in zip(old.run_loop(engine.model, engine.params), loop.run_loop(engine.model, engine.params)):
            if not np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True):
                print("error: the two loops' results differ", file=sys.stderr)
                return 1
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(args.repeats):
            for name, run in (("old", old.run_loop), ("new", loop.run_loop)):
                start = time.perf_counter()
                run(engine.model, engine.params)
                times[name].append(time.perf_counter() - start)
        a, b = min(times["old"]), min(times["new"])
        tiles = len(program.tasks.tiles) * args.frames
        print(f"{Path(args.model).name}, {tiles:,} tiles: {args.old} {a * 1e3:.0f} ms, this tree {b * 1e3:.0f} ms, "
              f"ratio {b / a:.2f} (best of {args.repeats}; identical results)")
        return 0
    finally:
        old_path.unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())
