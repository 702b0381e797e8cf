"""How load, simulation and ``inspect`` scale with graph size: chains of 1,000 to 10,000 nodes.

Two chains on a [1, 8] tensor: Identity nodes only (the frontend's passes drop
all but one), and Relu and Identity alternating (half the nodes reach lowering
and the engine).  Each size runs in a fresh process; the figures are CPU
seconds (``time.process_time``, so a busy machine's other load hits them
least) and the ratio to the smallest size: linear scaling gives about the size
ratio (10 for 10,000 against 1,000), a quadratic pass about its square.
Usage::

    python benchmarks/bench_large_graph.py [--sizes 1000 2000 4000 10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import chain_model  # noqa: E402

CHAINS = {"identity": ("Identity",), "relu+identity": ("Relu", "Identity")}


def measure(path: Path) -> dict[str, float]:
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); from helpers import chain_phases; "
            f"print(json.dumps(chain_phases({str(path)!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 10000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'chain':14} {'nodes':>6} {'kept':>6} {'load s':>7} {'run s':>7} {'inspect s':>9} {'total/first':>11}")
        for name, ops in CHAINS.items():
            first = None
            for n in args.sizes:
                f = measure(chain_model(n, Path(tmp) / f"{name}-{n}.onnx", ops))
                total = f["load_s"] + f["run_s"] + f["inspect_s"]
                first = first or total
                print(f"{name:14} {n:6d} {f['nodes_after_passes']:6d} {f['load_s']:7.2f} {f['run_s']:7.2f} "
                      f"{f['inspect_s']:9.2f} {total / first:11.1f}")


if __name__ == "__main__":
    main()
