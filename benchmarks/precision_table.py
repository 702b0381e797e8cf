"""Latency, energy, DRAM traffic and accuracy per precision on the test models, as a Markdown table.

    python benchmarks/precision_table.py [--hw blaize-1600] [MODEL.onnx ...]

Prints the table that docs/precision.md shows (seed 0, 4 accuracy samples, 32 calibration samples).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gspsim
from gspsim.vocab import PRECISIONS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = [ROOT / "tests" / "models" / f"{m}.onnx" for m in ("resnet_style", "mobilenetv2_style", "transformer_encoder")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--hw", default="blaize-1600")
    args = parser.parse_args()
    print("| model | precision | latency (cycles) | energy (µJ) | DRAM (KiB) | cosine vs fp32 | max abs err | top-1 agreement |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.models:
        graph = gspsim.load_model(path)
        for p in PRECISIONS:
            r = gspsim.simulate(graph, args.hw, precision=p)
            a = r.accuracy
            cos = f"{a.cosine_similarity:.4f}" if a else "1 (reference)"
            err = f"{a.max_abs_err:.3g}" if a else "0"
            top1 = f"{a.top1_agreement:.0%}" if a and a.top1_agreement is not None else "-"
            dram = (r.dram_read_bytes + r.dram_write_bytes) / 1024
            print(f"| {path.stem} | {p} | {r.latency_cycles:,.0f} | {r.energy_j * 1e6:.2f} | {dram:,.1f} | {cos} | {err} | {top1} |")


if __name__ == "__main__":
    main()
