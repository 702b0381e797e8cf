"""``python -m gspsim plot RESULT.json ...``: plots, trace, HTML report and CSV from saved results.

gspsim/cli.py wires this in with ``add_plot_parser(sub)`` and the command
table entry ``"plot": cmd_plot``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import GspsimError
from .document import load_result, result_labels

EPILOG_PLOT = """\
plots written (as OUT/NAME.png and OUT/NAME.svg):
  gantt        blocks on cores over time, DRAM transfers on top      (needs the timeline)
  utilization  per-core busy fraction over time, mean core and DRAM use (needs the timeline)
  power        power over time and energy by component
  nodes        per-node latency (span, busy time) and energy
  roofline     each node's ops/s against its ops per DRAM byte, under the chip's roofs
with two or more results, also compare.* (latency, energy, DRAM per result) and pareto.*
(latency against energy), and each result's plots get its file name as a prefix.

examples:
  python -m gspsim run model.onnx --json out.json
  python -m gspsim plot out.json                          # -> out_plots/*.png, *.svg
  python -m gspsim plot out.json --out figs --format png --report out.html --trace out.trace.json
  python -m gspsim plot streaming.json layer.json --out cmp   # adds cmp/compare.* and cmp/pareto.*

Open a --trace file in https://ui.perfetto.dev or chrome://tracing (simulated time, in microseconds).
"""


def add_plot_parser(sub: "argparse._SubParsersAction[Any]") -> argparse.ArgumentParser:
    """Add the ``plot`` subcommand to gspsim's subparsers."""
    p = sub.add_parser(
        "plot",
        help="plots, a Perfetto trace, an HTML report or a CSV from saved --json results",
        description=(
            "Make the plots of one or more results saved with 'gspsim run --json FILE': a Gantt chart of the cores, "
            "utilization and power over time, per-node latency and energy, and a roofline; for several results also "
            "compare bars and a latency/energy Pareto plot. Optionally also writes the trace, HTML report and "
            "per-node CSV that 'run' writes with --trace, --report and --csv."
        ),
        epilog=EPILOG_PLOT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", nargs="+", metavar="RESULT.json", help="result file(s) written by 'gspsim run --json'")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for the plots, created if needed (default: RESULT_plots beside the first result)")
    p.add_argument("--format", default="png,svg", metavar="png,svg",
                   help="comma-separated image formats: png, svg or both (default: png,svg)")
    p.add_argument("--trace", metavar="PATH", help="also write a Chrome/Perfetto trace (first result only)")
    p.add_argument("--report", metavar="PATH", help="also write a self-contained HTML report (first result only)")
    p.add_argument("--csv", metavar="PATH", help="also write the per-node CSV table (first result only)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    return p


def parse_formats(text: str) -> tuple[str, ...]:
    from .plots import FORMATS

    formats = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise GspsimError(f"--format {text!r}: choose png, svg or png,svg")
    return formats


def cmd_plot(args: argparse.Namespace, console: Any) -> int:
    """Run ``plot``: load every result (one-line error naming a bad file), then write what was asked."""
    from ..output_files import refuse_overwriting
    from .csv_table import write_node_csv
    from .html import write_report
    from .plots import compare_bars, make_plots, pareto_plot
    from .trace import write_trace

    formats = parse_formats(args.format)
    paths = [Path(r) for r in args.results]
    for dest, what in ((args.trace, "--trace"), (args.report, "--report"), (args.csv, "--csv")):
        if dest:
            refuse_overwriting(dest, paths, what)
    docs = [load_result(p) for p in paths]
    out = Path(args.out) if args.out else paths[0].with_name(paths[0].stem + "_plots")
    written: list[Path] = []
    if len(docs) == 1:
        written += make_plots(docs[0], out, formats)
    else:
        stems = [p.stem for p in paths]
        prefixes = [f"{s}-" for s in stems] if len(set(stems)) == len(stems) else [f"{i + 1}-" for i in range(len(paths))]
        for doc, prefix in zip(docs, prefixes):
            written += make_plots(doc, out, formats, prefix=prefix)
        labels = result_labels(docs)
        points = [{"latency": d["latency_s"] * 1e3, "energy": d["energy_j"] * 1e3, "label": lab}
                  for d, lab in zip(docs, labels)]
        for fmt in formats:
            written.append(compare_bars(docs, out / f"compare.{fmt}", labels))
            written.append(pareto_plot(points, out / f"pareto.{fmt}", latency_unit="ms", energy_unit="mJ"))
    for dest, write in ((args.trace, write_trace), (args.report, write_report), (args.csv, write_node_csv)):
        if dest:
            write(docs[0], dest)
            written.append(Path(dest))
    if not getattr(args, "quiet", False):
        console.print(f"wrote {len(written)} files:")
        for p in written:
            console.print(f"  {p}")
    return 0
