"""Where the traffic and the cycles go: fusion on/off, three tile sizes, three line-buffer budgets, one model.

    python benchmarks/ablation.py MODEL.onnx [--precision int8] [--hw blaize-1600]

Prints the ablation table of docs/execution-model.md (timing only: every
configuration computes the same outputs, which the test suite checks).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gspsim

CONFIGS = [
    ("default (fused, compiler's tiles, 256 KiB budget)", {}),
    ("fusion off (--no-fuse)", {"fuse": False}),
    ("taller tiles: --tile rows=4", {"tile": "rows=4"}),
    ("too small: --tile rows=1,channels=4", {"tile": "rows=1,channels=4"}),
    ("budget 64 KiB", {"buffer_budget": 64 * 1024}),
    ("budget 128 KiB", {"buffer_budget": 128 * 1024}),
    ("budget 512 KiB (all of shared memory)", {"buffer_budget": 512 * 1024}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--hw", default="blaize-1600")
    parser.add_argument("--precision", default="int8")
    args = parser.parse_args()
    graph = gspsim.load_model(args.model)
    print(f"{args.model.stem}, {args.precision}, {args.hw}, streaming, one frame\n")
    print("| configuration | latency (cycles) | efficiency | tiles | stacks | cuts | intermediate DRAM | "
          "weights DRAM | on-chip traffic | energy |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, changes in CONFIGS:
        r = gspsim.simulate(graph, args.hw, precision=args.precision, execute=False, accuracy_samples=0, **changes)
        k = r.dram_bytes_by_kind
        inter = k["read"]["intermediate"] + k["write"]["intermediate"] + k["read"]["spill"] + k["write"]["spill"]
        print(f"| {label} | {r.latency_cycles:,.0f} | {r.active_efficiency:.2f} | {r.blocks:,} | {len(r.memory['stacks'])} "
              f"| {len(r.memory['cuts'])} | {inter / 1e6:.2f} MB | {k['read']['weights'] / 1e6:.2f} MB | "
              f"{r.onchip_bytes / 1e6:.1f} MB | {r.energy_j * 1e3:.3f} mJ |")


if __name__ == "__main__":
    main()
