"""Lowering alone: ``lower_to_tasks``, ``compile_program`` and ``build_flat_program`` on given models, CPU time and
memory, this checkout and (``--tree``) another one, in the same run.

Usage::

    python benchmarks/bench_lowering.py /tmp/bm/resnet18-224.onnx /tmp/bm/yolov3-416.onnx [--repeats 3]
        [--tree DIR ...] [--precision fp32] [--json PATH]

Each model and tree runs in a fresh process (``PYTHONPATH=TREE``): the model is
loaded and prepared (precision, fusion) once, then lowered ``--repeats`` times;
the table gives the best CPU seconds (``time.process_time``) of
``lower_to_tasks`` (tiles and reads), of ``compile_program`` (the engines'
tables, from a fresh lowering each time) and of ``build_flat_program`` (the
compiled engine's arrays, where the checkout has it), the peak resident memory
of the process before lowering, after the first ``lower_to_tasks`` and after the
first ``compile_program`` and ``build_flat_program``, and the time to build
every tile's ``Block`` record (``list(tasks.blocks)``: where records are built
on demand, what the first code that walks them pays; a checkout that builds
them in ``lower_to_tasks`` pays nothing here).  CPU time is the figure to
compare on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, resource, sys, time
import gspsim.api as api
from gspsim.engine.options import SimOptions
from gspsim.engine.program import compile_program
from gspsim.hardware.config import load_hardware
from gspsim.hardware.cost_model import CostModel
from gspsim.lowering import lower_to_tasks, plan_layer_stacks
try:
    from gspsim.engine.compiled.tables import build_flat_program
except ImportError:  # a checkout before the compiled engine
    build_flat_program = None
model, precision, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
hw = load_hardware(api.DEFAULT_HARDWARE)
options = SimOptions(precision=precision)
graph = api.prepare_graph(api.load_model(model), options)
out = {"peak_before": peak(), "lower_s": [], "compile_s": [], "flat_s": [], "records_s": []}
for r in range(repeats):
    t0 = time.process_time()
    tasks = lower_to_tasks(graph, hw)
    t1 = time.process_time()
    out["lower_s"].append(t1 - t0)
    if r == 0:
        out["peak_lowered"] = peak()
    plan = plan_layer_stacks(tasks, hw, hw.default_mode)
    t2 = time.process_time()
    program = compile_program(tasks, plan, hw, CostModel(hw))
    t3 = time.process_time()
    out["compile_s"].append(t3 - t2)
    if build_flat_program is not None:
        build_flat_program(program)
        out["flat_s"].append(time.process_time() - t3)
    if r == 0:
        out["peak_compiled"] = peak()
    t3 = time.process_time()
    list(tasks.blocks)
    out["records_s"].append(time.process_time() - t3)
    out["tiles"] = len(tasks.blocks)
    del tasks, plan, program
print("RESULT" + json.dumps(out))
"""


def measure(tree: Path, model: str, precision: str, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, model, precision, str(repeats)], env=env, cwd="/",
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.split("RESULT", 1)[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--tree", action="append", default=[], help="another gspsim checkout to time beside this one")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    gib = 2 ** 30
    rows = []
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| model | tree | tiles | lower_to_tasks CPU s | compile_program CPU s | build_flat_program CPU s "
          "| Block records CPU s | peak GiB: before / after lowering / after tables |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for model in args.models:
        for tree in [ROOT, *map(Path, args.tree)]:
            m = measure(tree, str(Path(model).resolve()), args.precision, args.repeats)
            rows.append({"model": model, "tree": str(tree), **m})
            flat = f"{min(m['flat_s']):.2f}" if m["flat_s"] else "-"
            peaks = " / ".join(f"{m[k] / gib:.2f}" for k in ("peak_before", "peak_lowered", "peak_compiled"))
            print(f"| {Path(model).stem} | {tree} | {m['tiles']:,} | {min(m['lower_s']):.2f} "
                  f"| {min(m['compile_s']):.2f} | {flat} | {min(m['records_s']):.2f} | {peaks} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"precision": args.precision, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
