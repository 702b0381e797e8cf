"""Command-line glue: ``python -m gspsim plot RESULT.json ...`` and the output options of ``run``.

gspsim/cli.py wires this in with ``add_plot_parser(sub)`` plus ``"plot": cmd_plot``
in its command table, and ``add_run_output_options(p)`` / ``write_outputs(...)``
for ``run --trace/--report/--csv/--plots``.  matplotlib is imported only when
plots or a report are asked for.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from ..errors import GspsimError

if TYPE_CHECKING:  # the result modules import onnx and the kernels: imported when a command uses them
    from .document import Doc

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
after its file (streaming-gantt.png, ...), or after its label when a file holds several
results (the list 'run --precision fp32,int8 --json' writes: fp32-gantt.png, int8-gantt.png).
Results are labelled by what differs between them (mode, scheduler, precision, ...), else
by file name. With several results, --report, --trace and --csv each write one file that
covers them all (a report comparing them, a trace with a process group per run, a CSV with
a 'run' column).

examples:
  python -m gspsim run model.onnx --json out.json
  python -m gspsim plot out.json                           # -> out_plots/*.png, *.svg
  python -m gspsim plot out.json --out figs --format png --report out.html --trace out.trace.json
  python -m gspsim plot streaming.json layer.json --out cmp --only compare,pareto

Open a --trace file in https://ui.perfetto.dev or chrome://tracing (simulated time, in microseconds).
"""


def _add_output_options(p: Any, trace_help_suffix: str = "") -> None:
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


def add_run_output_options(p: Any) -> None:
    """Add ``--trace``, ``--report``, ``--csv`` and ``--plots DIR`` to the ``run`` parser (or an argument group)."""
    several = " (several precisions or prune levels: one file covering every run)"
    _add_output_options(p, several)
    p.add_argument("--plots", metavar="DIR",
                   help="write the plots (Gantt, utilization, power, per-node, roofline) as PNG and SVG into DIR; "
                        "several runs add compare and pareto plots and prefix each run's plots with its label "
                        "(int8-gantt.png)")


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
    _add_output_options(p, " (several results: one file covering them all)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    return p


def parse_list(text: str, choices: Sequence[str], option: str) -> tuple[str, ...]:
    """'a,b' -> ('a', 'b'), each one of ``choices``; a one-line error otherwise."""
    items = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()))
    bad = [f for f in items if f not in choices]
    if bad or not items:
        raise GspsimError(f"{option} {text!r}: choose from {', '.join(choices)} (comma-separated)")
    return items


def run_prefixes(labels: Sequence[str]) -> list[str]:
    """File-name prefixes of several results' own plots, from their labels ("int8" -> "int8-gantt.png")."""
    from .document import file_slug

    slugs = [file_slug(label) for label in labels]
    if len(set(slugs)) < len(slugs):
        slugs = [f"{i + 1}-{s}" for i, s in enumerate(slugs)]
    return [f"{s}-" for s in slugs]


def write_outputs(docs: Doc | Sequence[Doc], *, trace: Optional[str] = None, report: Optional[str] = None,
                  csv: Optional[str] = None, plots_dir: Optional[str] = None, formats: Sequence[str] = FORMATS,
                  plot_names: Optional[Sequence[str]] = None, labels: Optional[Sequence[str]] = None,
                  prefixes: Optional[Sequence[str]] = None) -> list[Path]:
    """Write whichever of trace, HTML report, CSV and plot folder are given; returns the files written.

    Several results make one file each (a report comparing them, one trace with
    a process group per run, one CSV with a ``run`` column) and one plot folder
    with the compare and Pareto plots and each run's own plots, prefixed by its
    label (see docs/gallery.md).  ``plot_names`` picks plots from
    SINGLE_PLOTS + MULTI_PLOTS (default: all).
    """
    from .document import result_labels

    docs = [docs] if isinstance(docs, Mapping) else list(docs)
    labels = list(labels) if labels is not None else result_labels(docs)
    wanted = list(plot_names) if plot_names is not None else [*SINGLE_PLOTS, *MULTI_PLOTS]
    written: list[Path] = []
    if plots_dir:
        from .plots import make_plots

        singles = [n for n in wanted if n in SINGLE_PLOTS]
        if len(docs) == 1:
            written += make_plots(docs[0], plots_dir, formats, names=singles) if singles else []
        else:
            written += _compare_plots(docs, labels, Path(plots_dir), formats, wanted)
            for doc, prefix in zip(docs, prefixes or run_prefixes(labels)):
                written += make_plots(doc, plots_dir, formats, prefix=prefix, names=singles) if singles else []
    if trace:
        from .trace import write_trace

        write_trace(docs[0] if len(docs) == 1 else docs, trace, labels)
        written.append(Path(trace))
    if report:
        from .html import write_report

        written.append(write_report(docs[0] if len(docs) == 1 else docs, report, labels))
    if csv:
        from .csv_table import write_node_csv

        write_node_csv(docs[0] if len(docs) == 1 else docs, csv, labels)
        written.append(Path(csv))
    return written


def _compare_plots(docs: Sequence[Doc], labels: Sequence[str], out: Path, formats: Sequence[str],
                   wanted: Sequence[str]) -> list[Path]:
    """compare.FMT and pareto.FMT of several results in ``out`` (created if needed)."""
    from .plots import compare_bars, pareto_plot

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GspsimError(f"{out}: cannot create the plot folder ({exc.strerror or exc})") from None
    points = [{"latency": float(d["latency_s"]) * 1e3, "energy": float(d["energy_j"]) * 1e3, "label": lab}
              for d, lab in zip(docs, labels)]
    written: list[Path] = []
    for fmt in formats:
        if "compare" in wanted:
            written.append(compare_bars(docs, out / f"compare.{fmt}", labels))
        if "pareto" in wanted:
            written.append(pareto_plot(points, out / f"pareto.{fmt}", latency_unit="ms", energy_unit="mJ"))
    return written


def announce(console: Any, written: Sequence[Path]) -> None:
    """One line per file written ("wrote r.html"); the plots of one folder in one line."""
    from rich.markup import escape

    folders: dict[Path, list[Path]] = {}
    for p in written:
        if p.suffix.lstrip(".") in FORMATS:
            folders.setdefault(p.parent, []).append(p)
    done: set[Path] = set()
    for p in written:
        if p.suffix.lstrip(".") not in FORMATS:
            console.print(f"wrote {escape(str(p))}", highlight=False, soft_wrap=True)
        elif p.parent not in done:
            done.add(p.parent)
            files = folders[p.parent]
            stems = ", ".join(dict.fromkeys(f.stem for f in files))
            kinds = "/".join(dict.fromkeys(f.suffix.lstrip(".") for f in files))
            console.print(f"wrote {len(files)} plot file{'s' if len(files) != 1 else ''} to "
                          f"{escape(str(p.parent))}{'/' if str(p.parent) != '.' else ''}: {escape(stems)} ({kinds})",
                          highlight=False, soft_wrap=True)


def cmd_plot(args: argparse.Namespace, console: Any) -> int:
    """Run ``plot``: load every result (one-line error naming a bad file), then write what was asked."""
    from ..output_files import STDOUT, check_destinations
    from .document import load_results, result_labels

    formats = parse_list(args.format, FORMATS, "--format")
    only = parse_list(args.only, SINGLE_PLOTS + MULTI_PLOTS, "--only") if args.only else SINGLE_PLOTS + MULTI_PLOTS
    paths = [Path(r) for r in args.results]
    loaded = [load_results(p) for p in paths]
    docs = [d for group in loaded for d in group]
    # names of the results when their fields do not tell them apart: file stems (r.json holding 2: r[1], r[2])
    names = [p.stem if len(group) == 1 else f"{p.stem}[{i + 1}]"
             for p, group in zip(paths, loaded) for i in range(len(group))]
    if len(docs) == 1 and set(only) <= set(MULTI_PLOTS):
        raise GspsimError(f"--only {args.only}: compare and pareto need two or more results")
    out = Path(args.out) if args.out else paths[0].with_name(paths[0].stem + "_plots")
    labels = result_labels(docs, names)
    # each result's own plots are named after its file when every file holds one result, else after its label
    one_each = all(len(group) == 1 for group in loaded) and len(set(p.stem for p in paths)) == len(paths)
    prefixes = [""] if len(docs) == 1 else [f"{p.stem}-" for p in paths] if one_each else run_prefixes(labels)
    singles = [n for n in only if n in SINGLE_PLOTS]
    files = plot_file_names(singles, formats, prefixes)
    if len(docs) > 1:
        files += plot_file_names([n for n in only if n in MULTI_PLOTS], formats)
    check_destinations(
        outputs=[("--trace", args.trace), ("--report", args.report), ("--csv", args.csv)],
        inputs=[("RESULT", p) for p in paths],
        folders=[("--out", out, files)] if files else [],
        stdout_ok=TEXT_OUTPUTS,
    )
    if STDOUT in (args.trace, args.report, args.csv):
        args.quiet = True  # standard output carries that file
    written = write_outputs(docs, plots_dir=str(out), formats=formats, plot_names=only, labels=labels,
                            prefixes=prefixes)
    written += write_outputs(docs, trace=args.trace, report=args.report, csv=args.csv, labels=labels)
    if not getattr(args, "quiet", False):
        announce(console, written)
    return 0
