"""Streaming (GSP) against layer-by-layer on the test models: latency and DRAM traffic, as a Markdown table.

    python benchmarks/streaming_vs_layer.py [--hw blaize-1600] [--precision fp32] [MODEL.onnx ...]

Prints the table that docs/execution-model.md shows. Both modes use the same
blocks and kernels; the last column checks that their outputs are identical.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import gspsim

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = [ROOT / "tests" / "models" / "resnet_style.onnx", ROOT / "tests" / "models" / "mobilenetv2_style.onnx",
                  ROOT / "tests" / "models" / "transformer_encoder.onnx"]


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--hw", default="blaize-1600")
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    print("| model | mode | latency (cycles) | activation DRAM read | activation DRAM write | spill | weights read | outputs equal |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.models:
        graph = gspsim.load_model(path)
        runs = {mode: gspsim.simulate(graph, args.hw, mode=mode, precision=args.precision, accuracy_samples=0)
                for mode in ("streaming", "layer")}
        equal = all(np.array_equal(runs["streaming"].outputs[k], v) for k, v in runs["layer"].outputs.items())
        for mode, r in runs.items():
            k = r.dram_bytes_by_kind
            print(f"| {path.stem} | {mode} | {r.latency_cycles:,.0f} | {_kib(k['read']['activations'])} | "
                  f"{_kib(k['write']['activations'])} | {_kib(k['read']['spill'] + k['write']['spill'])} | "
                  f"{_kib(k['read']['weights'])} | {'yes' if equal else 'NO'} |")


if __name__ == "__main__":
    main()
