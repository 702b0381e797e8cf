"""Fusion on and off (``--no-fuse``) per model and precision: nodes, blocks, latency and traffic, as a Markdown table.

    python benchmarks/fusion_table.py [--hw blaize-1600] [--mode streaming] [--precisions fp32,int8] [MODEL.onnx ...]

Timing only (the kernels do not run; cycles and traffic are the same as with them), seed 0. The fused
and unfused outputs are bit-identical: tests/test_fuse.py checks it on every test model and precision.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gspsim

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = [ROOT / "tests" / "models" / f"{m}.onnx" for m in ("resnet_style", "mobilenetv2_style", "transformer_encoder")]


def _kib(n: float) -> str:
    return f"{n / 1024:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--hw", default="blaize-1600")
    parser.add_argument("--mode", default="streaming", choices=["streaming", "layer"])
    parser.add_argument("--precisions", default="fp32,int8")
    args = parser.parse_args()
    print("| model | precision | fusion | nodes | blocks | latency (cycles) | activation DRAM (KiB) | spill (KiB) "
          "| on-chip traffic (KiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in args.models:
        graph = gspsim.load_model(path)
        for precision in args.precisions.split(","):
            for fuse in (False, True):
                r = gspsim.simulate(graph, args.hw, mode=args.mode, precision=precision, fuse=fuse, execute=False,
                                    accuracy_samples=0)
                kinds = r.dram_bytes_by_kind
                act = kinds["read"]["activations"] + kinds["write"]["activations"]
                spill = kinds["read"]["spill"] + kinds["write"]["spill"]
                print(f"| {path.stem} | {precision} | {'on' if fuse else 'off'} | {r.model['nodes']} | {r.blocks:,} "
                      f"| {r.latency_cycles:,.0f} | {_kib(act)} | {_kib(spill)} | {_kib(r.onchip_bytes)} |")


if __name__ == "__main__":
    main()
