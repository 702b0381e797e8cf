"""Streaming (GSP) against layer-by-layer: latency and activation DRAM traffic by kind, as a Markdown table.

    python benchmarks/streaming_vs_layer.py [--hw blaize-1600] [--precision fp32,int8] [--timing-only] [MODEL.onnx ...]

Prints the tables of docs/execution-model.md. Both modes run the same tiles
and kernels; "intermediate" is the activation traffic other than the graph's
own inputs and outputs (planned cuts in streaming mode, every tensor in layer
mode), and "streaming / layer" compares it. With kernels running, the last
column checks that both modes' outputs are identical.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import gspsim

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = [ROOT / "tests" / "models" / "resnet_style.onnx", ROOT / "tests" / "models" / "mobilenetv2_style.onnx",
                  ROOT / "tests" / "models" / "transformer_encoder.onnx"]


def _kb(n: int) -> str:
    return f"{n / 1e3:,.1f} KB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--hw", default="blaize-1600")
    parser.add_argument("--precision", default="fp32,int8")
    parser.add_argument("--timing-only", action="store_true", help="skip the kernels (no outputs to compare)")
    args = parser.parse_args()
    print("| model | precision | mode | latency (cycles) | efficiency | graph in + out | intermediate | "
          "spill | streaming / layer | weights read | outputs equal |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in args.models:
        graph = gspsim.load_model(path)
        for precision in args.precision.split(","):
            runs = {mode: gspsim.simulate(graph, args.hw, mode=mode, precision=precision, accuracy_samples=0,
                                          execute=not args.timing_only)
                    for mode in ("streaming", "layer")}
            equal = "—" if args.timing_only else (
                "yes" if all(np.array_equal(runs["streaming"].outputs[k], v) for k, v in runs["layer"].outputs.items())
                else "NO")
            inter = {m: r.dram_bytes_by_kind["read"]["intermediate"] + r.dram_bytes_by_kind["write"]["intermediate"]
                     for m, r in runs.items()}
            for mode, r in runs.items():
                k = r.dram_bytes_by_kind
                ratio = f"{inter['streaming'] / inter['layer']:.3f}" if mode == "streaming" and inter["layer"] else ""
                print(f"| {path.stem} | {precision} | {mode} | {r.latency_cycles:,.0f} | {r.active_efficiency:.2f} | "
                      f"{_kb(k['read']['inputs'] + k['write']['outputs'])} | {_kb(inter[mode])} | "
                      f"{_kb(k['read']['spill'] + k['write']['spill'])} | {ratio} | {_kb(k['read']['weights'])} | "
                      f"{equal} |")


if __name__ == "__main__":
    main()
