"""The memory a run holds per block and frame: what gspsim/run_memory.py's estimate is built on.

Runs the bundled CNN timing-only at two frame counts under ``tracemalloc``
and prints the marginal bytes per block of each frame (``blocks`` counts every
frame's blocks) of the simulation (engine and result) and of writing the
result's JSON, next to the constant the ``--max-memory`` estimate uses.
tracemalloc sees every Python and numpy allocation; the figures are peaks.
Usage::

    python benchmarks/bench_run_memory.py [--frames 100 400]
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout this script is in


def peak(fn) -> tuple[int, object]:
    tracemalloc.start()
    try:
        value = fn()
        return tracemalloc.get_traced_memory()[1], value
    finally:
        tracemalloc.stop()


def main() -> None:
    import gspsim
    from gspsim.run_memory import BYTES_PER_BLOCK_FRAME

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs=2, default=[100, 400])
    args = parser.parse_args()
    graph = gspsim.load_model(gspsim.api.default_model_path())
    gspsim.simulate(graph, "blaize-1600", execute=False)  # warm up
    figures = []
    for frames in args.frames:
        sim, result = peak(lambda: gspsim.simulate(graph, "blaize-1600", frames=frames, execute=False))
        js, _ = peak(result.to_json)
        figures.append((frames, result.blocks, sim, js))
        print(f"frames {frames:5d}: {result.blocks:7,d} blocks, simulation peak {sim / 2**20:7.1f} MiB, "
              f"JSON peak {js / 2**20:7.1f} MiB")
    (_, b0, s0, j0), (_, b1, s1, j1) = figures
    print(f"marginal bytes per block and frame: simulation {(s1 - s0) / (b1 - b0):.0f}, JSON {(j1 - j0) / (b1 - b0):.0f}; "
          f"the estimate uses {BYTES_PER_BLOCK_FRAME} for both")


if __name__ == "__main__":
    main()
