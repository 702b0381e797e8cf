"""docs/ops.md from the op table: every op gspsim knows, its kernels per precision, cost rule, row map, int8 role.

    python tools/ops_table.py            # rewrite docs/ops.md
    python tools/ops_table.py --check    # exit 1 if docs/ops.md differs from what the table gives

``tests/test_docs_ops_table.py`` runs the check, so the page cannot drift
from the table (``gspsim/optable/builtin.py``) or the kernels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the checkout's gspsim, not another installed copy

DOC = ROOT / "docs" / "ops.md"

HEADER = """# Supported ops

Generated from the op table (`gspsim/optable/builtin.py`) and the kernels
(`gspsim/kernels/ops/`) by `python tools/ops_table.py`; do not edit by hand
(`tests/test_docs_ops_table.py` fails when this page and the table disagree).

A mark in a precision column means a kernel computes the op at that precision
(a layout op's one dtype-generic kernel serves all four). bf16 kernels are the
fp32 ones with every float output rounded to bf16. Ops on integer tensors run
in the integers' own type at any precision; the int8 column is what runs on
int8/uint8 codes in a quantized graph. **Cost** is how the op's work is counted
(`gspsim/ir/costs.py`); **row map** how a band of output rows maps to the
input rows it reads (`gspsim/lowering/maps.py`; "whole tensor": each tile
reads its inputs whole); **int8** what int8 quantization does with
the op (`gspsim/passes/quantize.py`, `qdq.py`): *requantize* (becomes the
QLinear op shown), *pass-through* (runs on codes, keeps its input's scale),
*activation* (fused into its producer's requantization), *integer* (a
quantized op itself), *float* (stays float by rule), *none* (no int8
lowering). **Fusable** marks the elementwise ops that may run in their
producer's epilogue (`gspsim/passes/fuse.py`).
Ops listed without any kernel are known to the passes (costed, quantized,
rewritten) but a model using them is refused.
"""


def render() -> str:
    """The markdown page for the current op table."""
    from gspsim.kernels import kernel_precisions
    from gspsim.optable import Int8Role, all_specs
    from gspsim.vocab import PRECISIONS

    rows = ["| op | domain | " + " | ".join(PRECISIONS) + " | cost | row map | int8 | fusable |",
            "|---|---|" + "---|" * len(PRECISIONS) + "---|---|---|---|"]
    counts = {p: 0 for p in PRECISIONS}
    specs = all_specs()
    for spec in specs:
        have = kernel_precisions(spec.op_type)
        for p in have:
            counts[p] += 1
        marks = " | ".join("✓" if p in have else "" for p in PRECISIONS)
        int8 = spec.int8.value + (f" → {spec.qlinear}" if spec.int8 is Int8Role.REQUANTIZE and spec.qlinear else "")
        rows.append(f"| {spec.op_type} | {spec.domain or 'ai.onnx'} | {marks} | {spec.cost.describe()} | "
                    f"{spec.row_map.value} | {int8} | {'yes' if spec.fusable else ''} |")
    summary = ", ".join(f"{counts[p]} at {p}" for p in PRECISIONS)
    return f"{HEADER}\n{len(specs)} op types; with a kernel: {summary}.\n\n" + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help=f"compare with {DOC.relative_to(ROOT)}, write nothing")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        same = DOC.exists() and DOC.read_text(encoding="utf-8") == text
        print(f"{DOC.relative_to(ROOT)} is {'up to date' if same else 'out of date: run python tools/ops_table.py'}")
        return 0 if same else 1
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
