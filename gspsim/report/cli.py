"""Command-line glue: ``python -m gspsim plot RESULT.json ...`` and the output options of ``run``.

gspsim/cli.py wires this in with ``add_plot_parser(sub)`` plus ``"plot": cmd_plot``
in its command table, and ``add_run_output_options(p)`` / ``write_outputs(...)``
for ``run --trace/--report/--csv/--plots``.  matplotlib is imported only when
plots or a report are asked for.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import GspsimError
from ..terminal import markup_safe
from .document import Doc, load_result, result_labels

#: one-result plots, then the ones made from several results
SINGLE_PLOTS: tuple[str, ...] = ("gantt", "utilization", "power", "nodes", "roofline")
MULTI_PLOTS: tuple[str, ...] = ("compare", "pareto")
FORMATS: tuple[str, ...] = ("png", "svg")

EPILOG_PLOT = """\
plots written (as OUT/NAME.png and OUT/NAME.svg):
  gantt        blocks on cores over time, DRAM transfers on top       (needs the timeline)
  utilization  per-core busy fraction over time, mean core and DRAM use (needs the timeline)
  power        power over time and energy by component
  nodes        per-node latency (span, busy time) and energy
  roofline     each node's ops/s against its ops per DRAM byte, under the chip's roofs
with two or more results, also compare (latency, energy, DRAM per result) and pareto
(latency against energy, front highlighted); then each result's own plots are named
after its file (streaming-gantt.png, ...). Results are labelled by what differs between
them (mode, scheduler, precision, ...), else by file name.

examples:
  python -m gspsim run model.onnx --json out.json
  python -m gspsim plot out.json                           # -> out_plots/*.png, *.svg
  python -m gspsim plot out.json --out figs --format png --report out.html --trace out.trace.json
  python -m gspsim plot streaming.json layer.json --out cmp --only compare,pareto

Open a --trace file in https://ui.perfetto.dev or chrome://tracing (simulated time, in microseconds).
"""


def _add_output_options(p: argparse.ArgumentParser, trace_help_suffix: str = "") -> None:
    p.add_argument("--trace", metavar="PATH.json",
                   help="write a Chrome trace-event file: a track per core with a slice per block, DRAM transfers, "
                        "and counters for ring-buffer occupancy, DRAM bandwidth and power; open it in "
                        "ui.perfetto.dev or chrome://tracing" + trace_help_suffix)
    p.add_argument("--report", metavar="PATH.html",
                   help="write one self-contained HTML report (summary, plots, per-node table; no network needed)"
                        + trace_help_suffix)
    p.add_argument("--csv", metavar="PATH.csv",
                   help="write the per-node table as CSV (name, op, cores, start, end, cycles, MACs, DRAM bytes, "
                        "energy)" + trace_help_suffix)


#: the single-file outputs that ``-`` sends to standard output
TEXT_OUTPUTS: tuple[str, ...] = ("--trace", "--report", "--csv")


def plot_file_names(names: Sequence[str] = SINGLE_PLOTS, formats: Sequence[str] = FORMATS,
                    prefixes: Sequence[str] = ("",)) -> list[str]:
    """The files a plot folder may receive (checked before any work; see gspsim.output_files)."""
    return [f"{prefix}{name}.{fmt}" for prefix in prefixes for name in names for fmt in formats]


def add_run_output_options(p: argparse.ArgumentParser) -> None:
    """Add ``--trace``, ``--report``, ``--csv`` and ``--plots DIR`` to the ``run`` parser."""
    _add_output_options(p)
    p.add_argument("--plots", metavar="DIR",
                   help="write the plots (Gantt, utilization, power, per-node, roofline) as PNG and SVG into DIR")


def add_plot_parser(sub: "argparse._SubParsersAction[Any]") -> argparse.ArgumentParser:
    """Add the ``plot`` subcommand to gspsim's subparsers."""
    p = sub.add_parser(
        "plot",
        help="plots, a Perfetto trace, an HTML report or a CSV from saved --json results",
        description=(
            "Make the plots of one or more results saved with 'gspsim run --json FILE': a Gantt chart of the cores, "
            "utilization and power over time, per-node latency and energy, and a roofline; for several results also "
            "compare bars and a latency/energy Pareto plot. Can also write the trace, HTML report and per-node CSV "
            "that 'run' writes with --trace, --report and --csv."
        ),
        epilog=EPILOG_PLOT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", nargs="+", metavar="RESULT.json", help="result file(s) written by 'gspsim run --json'")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for the plots, created if needed (default: <first result>_plots beside it)")
    p.add_argument("--format", default="png,svg", metavar="png,svg",
                   help="comma-separated image formats: png, svg or both (default: png,svg)")
    p.add_argument("--only", default=None, metavar="NAMES",
                   help=f"comma-separated plots to make, from {','.join(SINGLE_PLOTS + MULTI_PLOTS)} (default: all)")
    _add_output_options(p, " (first result only)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    return p


def parse_list(text: str, choices: Sequence[str], option: str) -> tuple[str, ...]:
    """'a,b' -> ('a', 'b'), each one of ``choices``; a one-line error otherwise."""
    items = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()))
    bad = [f for f in items if f not in choices]
    if bad or not items:
        raise GspsimError(f"{option} {text!r}: choose from {', '.join(choices)} (comma-separated)")
    return items


def write_outputs(doc: Doc, *, trace: Optional[str] = None, report: Optional[str] = None, csv: Optional[str] = None,
                  plots_dir: Optional[str] = None, formats: Sequence[str] = FORMATS,
                  plot_names: Optional[Sequence[str]] = None) -> list[Path]:
    """Write whichever of trace, HTML report, CSV and plot folder are given; returns the files written."""
    written: list[Path] = []
    if plots_dir:
        from .plots import make_plots

        written += make_plots(doc, plots_dir, formats, names=plot_names)
    if trace:
        from .trace import write_trace

        write_trace(doc, trace)
        written.append(Path(trace))
    if report:
        from .html import write_report

        written.append(write_report(doc, report))
    if csv:
        from .csv_table import write_node_csv

        write_node_csv(doc, csv)
        written.append(Path(csv))
    return written


def cmd_plot(args: argparse.Namespace, console: Any) -> int:
    """Run ``plot``: load every result (one-line error naming a bad file), then write what was asked."""
    from ..output_files import STDOUT, check_destinations

    formats = parse_list(args.format, FORMATS, "--format")
    only = parse_list(args.only, SINGLE_PLOTS + MULTI_PLOTS, "--only") if args.only else SINGLE_PLOTS + MULTI_PLOTS
    paths = [Path(r) for r in args.results]
    if len(paths) == 1 and set(only) <= set(MULTI_PLOTS):
        raise GspsimError(f"--only {args.only}: compare and pareto need two or more results")
    out = Path(args.out) if args.out else paths[0].with_name(paths[0].stem + "_plots")
    singles = [n for n in only if n in SINGLE_PLOTS]
    stems = [p.stem for p in paths]
    unique = len(set(stems)) == len(stems)
    prefixes = [""] if len(paths) == 1 else [f"{s}-" for s in stems] if unique else [f"{i + 1}-" for i in range(len(paths))]
    names = plot_file_names(singles, formats, prefixes)
    if len(paths) > 1:
        names += plot_file_names([n for n in only if n in MULTI_PLOTS], formats)
    check_destinations(
        outputs=[("--trace", args.trace), ("--report", args.report), ("--csv", args.csv)],
        inputs=[("RESULT", p) for p in paths],
        folders=[("--out", out, names)] if names else [],
        stdout_ok=TEXT_OUTPUTS,
    )
    if STDOUT in (args.trace, args.report, args.csv):
        args.quiet = True  # standard output carries that file
    docs = [load_result(p) for p in paths]
    written: list[Path] = []
    if len(docs) == 1:
        written += write_outputs(docs[0], plots_dir=str(out) if singles else None, formats=formats,
                                 plot_names=singles)
    else:
        from .plots import compare_bars, make_plots, pareto_plot

        if singles:
            for doc, prefix in zip(docs, prefixes):
                written += make_plots(doc, out, formats, prefix=prefix, names=singles)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GspsimError(f"{out}: cannot create the plot folder ({exc.strerror or exc})") from None
        labels = result_labels(docs, stems)
        points = [{"latency": float(d["latency_s"]) * 1e3, "energy": float(d["energy_j"]) * 1e3, "label": lab}
                  for d, lab in zip(docs, labels)]
        for fmt in formats:
            if "compare" in only:
                written.append(compare_bars(docs, out / f"compare.{fmt}", labels))
            if "pareto" in only:
                written.append(pareto_plot(points, out / f"pareto.{fmt}", latency_unit="ms", energy_unit="mJ"))
    written += write_outputs(docs[0], trace=args.trace, report=args.report, csv=args.csv)
    if not getattr(args, "quiet", False):
        console.print(f"wrote {len(written)} file{'s' if len(written) != 1 else ''}:")
        for p in written:
            console.print(f"  {markup_safe(p)}")
    return 0
