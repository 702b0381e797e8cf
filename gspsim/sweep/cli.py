"""``python -m gspsim sweep``: the command line of a design-space sweep.

``add_sweep_parser(subparsers)`` adds the subcommand to gspsim's parser and
``cmd_sweep(args, console)`` runs it; ``python -m gspsim.sweep`` runs it on
its own.  Importing this module imports neither Dask nor pyarrow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table

from ..errors import ConfigError
from ..terminal import markup_safe, printable

DESCRIPTION = """\
Simulate every point of a design space: the cross product (or a seeded random
sample) of model variants, chips, core counts, memories, DRAM bandwidths,
schedulers, modes and precisions. Each point is a full simulation. Results go
to OUT/results.csv and OUT/results.parquet (one row per point: every input and
every metric), the Pareto front over latency, energy and area
(cores x local memory + shared memory) is printed and drawn to OUT/pareto.png.

Nothing is lost: each finished point is stored at once under a hash of its
inputs (model file contents, full hardware config, options) in OUT/points/.
Run the same command again after a crash or Ctrl-C and only the missing points
run. A point that fails (e.g. a precision not built yet) is recorded with its
error and the sweep goes on; --retry-failed runs such points again.

Points are timing-only by default (every event simulated, kernels skipped:
the same cycles and energy, much faster); --execute runs the real kernels and
--check also compares each point's outputs with onnxruntime.
"""

EPILOG = """\
axes (grid file [axes] keys; flags take comma-separated lists and override the file):
  model        ONNX files or folders (positional, or [sweep] models = [...])
  hw           base chip: preset name or TOML file (--hw)          default blaize-1600
  cores        streaming cores (--cores)
  local_kib    local memory per core, KiB (--local-kib)
  shared_kib   shared on-chip memory, KiB (--shared-kib)
  dram_gbps    DRAM bandwidth, GB/s (--dram-gbps)
  clock_ghz    core clock, GHz (--clock-ghz)
  threads      thread slots per core (--threads)
  hw.S.F       any field of the hardware TOML, e.g. --axis hw.dma.engines=2,4
  scheduler    scheduling strategies or 'default' (--schedulers)
  mode         streaming, layer or 'default' (--modes)
  precision    fp32, fp16, bf16, int8 (--precisions); an op without a kernel at one fails that point only
  fuse         on, off: fuse elementwise ops into their producers (--fuse; --no-fuse is --fuse off)
  frames, tile, buffer_kib, sim_seed   (--frames --tiles --buffer-kib --sim-seeds)

grid file example (sweep.toml):
  [sweep]
  models = ["models/"]          # relative to the grid file
  sample = 20                   # optional: a seeded random sample of the product
  seed = 1
  [axes]
  cores = [4, 8, 16]
  dram_gbps = [12.8, 25.6]
  shared_kib = [256, 512]
  schedulers = ["depth-first", "heft"]

examples:
  python -m gspsim sweep model.onnx --cores 4,8,16 --dram-gbps 12.8,25.6 --out sweep/
  python -m gspsim sweep variants/ --grid sweep.toml --sample 50 --seed 3 --out sweep/
  python -m gspsim sweep model.onnx --grid sweep.toml --out sweep/ --dask local
  python -m gspsim sweep model.onnx --grid sweep.toml --out sweep/ --dask tcp://scheduler:8786

exit codes: 0 done (failed points are recorded, not fatal), 2 bad grid / option, 3 internal error (a bug: please
report it; --debug shows the traceback), 130 interrupted (resume by rerunning).
"""

#: the files a sweep writes in its --out folder (besides points/)
OUTPUT_FILES: tuple[str, ...] = ("results.csv", "results.parquet", "pareto.png")

#: flag -> axis, for the per-axis list flags
AXIS_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--hw", "hw", "base chips: preset names or TOML files (default blaize-1600)"),
    ("--cores", "cores", "core counts, e.g. 4,8,16"),
    ("--local-kib", "local_kib", "local memory per core in KiB, e.g. 32,64"),
    ("--shared-kib", "shared_kib", "shared on-chip memory in KiB, e.g. 256,512,1024"),
    ("--dram-gbps", "dram_gbps", "DRAM bandwidths in GB/s, e.g. 12.8,25.6"),
    ("--clock-ghz", "clock_ghz", "core clocks in GHz"),
    ("--threads", "threads", "thread slots per core"),
    ("--schedulers", "scheduler", "scheduling strategies (built-in names, package.module:Class, or 'default')"),
    ("--modes", "mode", "streaming, layer, default"),
    ("--precisions", "precision", "fp32, fp16, bf16, int8 (int8 quantizes a float model first; a model with an op "
                                  "that has no kernel at a precision fails at that point only)"),
    ("--fuse", "fuse", "on, off: fuse elementwise ops into their producers (on,off for an ablation)"),
    ("--frames", "frames", "frames streamed per run"),
    ("--tiles", "tile", "tile sizes separated by ';', e.g. 'rows=1;rows=4,channels=32' ('default': the compiler's rule)"),
    ("--buffer-kib", "buffer_kib", "line-buffer budgets in KiB ('default': half of shared memory)"),
    ("--sim-seeds", "sim_seed", "seeds of the synthetic inputs and random schedulers"),
)


def add_sweep_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``sweep`` to gspsim's subcommands."""
    p = subparsers.add_parser(
        "sweep",
        help="design-space sweep: many chips, precisions, schedulers and model variants; CSV/Parquet and Pareto front",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fill_sweep_parser(p)
    return p


def fill_sweep_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="*", help="ONNX files or folders of them (model variants of one sweep)")
    p.add_argument("--grid", metavar="FILE.toml", help="grid file: [sweep] settings and [axes] lists")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: results.csv, results.parquet, pareto.png, points/ (reused on rerun)")
    axes = p.add_argument_group("axes (comma-separated values; each replaces the grid file's list)")
    for flag, axis, text in AXIS_FLAGS:
        axes.add_argument(flag, dest=f"axis_{axis}", metavar="LIST", help=text)
    axes.add_argument("--axis", action="append", default=[], metavar="NAME=V1,V2",
                      help="any axis by name, e.g. hw.dma.engines=2,4 or cores=4,8 (repeatable)")
    walk = p.add_argument_group("which points")
    walk.add_argument("--sample", type=int, default=None, metavar="N",
                      help="run a seeded random sample of N points of the cross product instead of all of it")
    walk.add_argument("--seed", type=int, default=None, metavar="S",
                      help="seed of --sample (default 0; the simulation's own seed is the sim_seed axis)")
    walk.add_argument("--max-points", type=int, default=None, metavar="N",
                      help="stop after N newly computed points (rerun to continue); points already "
                           "finishing are kept too")
    walk.add_argument("--retry-failed", action="store_true", help="run stored failed points again")
    walk.add_argument("--dry-run", action="store_true",
                      help="print how many points the grid has and how many are stored, run nothing")
    run = p.add_argument_group("how each point runs")
    run.add_argument("--no-fuse", action="store_true",
                     help="no fusion at any point (the same as --fuse off)")
    run.add_argument("--execute", action="store_true",
                     help="run the real kernels at every point (default: timing only, same cycles and energy)")
    run.add_argument("--check", action="store_true", help="compare every point's outputs with onnxruntime "
                                                          "(implies --execute; adds check_* columns)")
    run.add_argument("--input-shape", action="append", default=[], metavar="NAME=DxD",
                     help="static shape for a dynamic input, for every model (repeatable)")
    where = p.add_argument_group("where the points run")
    where.add_argument("--jobs", type=int, default=None, metavar="N",
                       help="local worker processes (default: one per core); with --dask local, its workers")
    where.add_argument("--dask", metavar="ADDRESS|local",
                       help="run on a Dask distributed cluster: a scheduler address (tcp://host:8786) or "
                            "'local' to start a LocalCluster here (needs the sweep extra)")
    out = p.add_argument_group("output")
    out.add_argument("--pareto-global", action="store_true",
                     help="one Pareto front over all models (default: one front per model, since a smaller "
                          "model variant would otherwise win everywhere)")
    out.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def _overrides(args: argparse.Namespace) -> dict[str, list[Any]]:
    from .grid import canonical_axis, parse_cli_values

    overrides: dict[str, list[Any]] = {}
    for _, axis, _ in AXIS_FLAGS:
        text = getattr(args, f"axis_{axis}")
        if text is not None:
            overrides[axis] = parse_cli_values(axis, text)
    for item in args.axis:
        name, sep, values = item.partition("=")
        if not sep:
            raise ConfigError(f"--axis '{item}': expected NAME=V1,V2")
        axis = canonical_axis(name)
        overrides[axis] = parse_cli_values(axis, values)
    if args.no_fuse:
        if overrides.get("fuse", [False]) != [False]:
            raise ConfigError("--no-fuse contradicts --fuse: give one of them")
        overrides["fuse"] = [False]
    return overrides


def _status(console: Console, quiet: bool, text: str) -> Any:
    import contextlib

    return contextlib.nullcontext() if quiet else console.status(text, spinner="dots")


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    """Run (or resume) the sweep and write its tables and plot."""
    from ..frontend import parse_input_shape
    from ..output_files import check_destinations
    from .grid import build_grid, varying_axes
    from .runner import plan
    from .store import POINTS_DIR, PointStore

    for name in ("max_points", "sample", "jobs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    out = Path(args.out)
    spec = build_grid(
        args.model, args.grid, _overrides(args), sample=args.sample, seed=args.seed,
        execute=True if args.execute or args.check else None, check=True if args.check else None,
        input_shapes=dict(parse_input_shape(t) for t in args.input_shape),
    )
    check_destinations(
        outputs=[],
        inputs=[("--grid", args.grid), *(("the model", m) for m in spec.axes["model"]),
                *(("--hw", str(h)) for h in spec.axes.get("hw", ()) if Path(str(h)).exists())],
        folders=[("--out", out, OUTPUT_FILES), ("--out", out / POINTS_DIR, ())],
    )
    with _status(console, args.quiet, "hashing models and building the chips"):
        planned = plan(spec)
    axes = varying_axes(spec)
    out.mkdir(parents=True, exist_ok=True)
    store = PointStore(out)
    unique = len({p.key for p in planned})
    if args.dry_run:
        stored = sum(1 for k in {p.key for p in planned} if store.load(k) is not None)
        console.print(f"{len(planned)} points ({unique} distinct) of a grid of {spec.size}; {stored} stored in "
                      f"{markup_safe(store.root)}, {unique - stored} to run. "
                      f"Varying: {markup_safe(', '.join(axes) or 'nothing')}")
        return 0
    executor = _make_executor(args)
    try:
        outcome = _run(planned, store, executor, spec, args, console)
    finally:
        executor.close()
    code = _report(outcome, spec, axes, out, args, console)
    if outcome.interrupted:
        print(f"error: interrupted; the {len(outcome.records)} finished points are stored in {printable(store.root)}: "
              "run the same command again to resume", file=sys.stderr)
        return 130
    return code


def _make_executor(args: argparse.Namespace) -> Any:
    from .executors import DaskExecutor, LocalExecutor

    if args.dask:
        return DaskExecutor.connect(args.dask, jobs=args.jobs)
    return LocalExecutor(args.jobs)


def _run(planned: Sequence[Any], store: Any, executor: Any, spec: Any, args: argparse.Namespace,
         console: Console) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .runner import run_sweep

    unique = len({p.key for p in planned})
    if args.quiet:
        return run_sweep(planned, store, executor, spec, max_points=args.max_points, retry_failed=args.retry_failed)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"sweep on {markup_safe(executor.description)}", total=unique, note="")

        def progress(outcome: Any, record: Any) -> None:
            bar.update(task, completed=outcome.reused + outcome.computed,
                       note=f"{outcome.reused} reused, {outcome.failed} failed")

        outcome = run_sweep(planned, store, executor, spec, max_points=args.max_points,
                            retry_failed=args.retry_failed, progress=progress)
        bar.update(task, completed=outcome.reused + outcome.computed,
                   note=f"{outcome.reused} reused, {outcome.failed} failed")
    return outcome


def _report(outcome: Any, spec: Any, axes: Sequence[str], out: Path, args: argparse.Namespace,
            console: Console) -> int:
    from .pareto import front_rows, front_table, write_pareto_plot
    from .table import result_rows, write_csv, write_parquet

    rows = result_rows(outcome)
    front = front_rows(rows, per_model=not args.pareto_global)
    front_keys = frozenset(rows[i]["key"] for i in front)
    rows = result_rows(outcome, front_keys)
    csv_name, parquet_name, plot_name = OUTPUT_FILES
    written = [write_csv(rows, out / csv_name)]
    parquet = write_parquet(rows, out / parquet_name)
    if parquet is None:
        console.print("[yellow]warning[/yellow]: pyarrow is not installed, no results.parquet "
                      "(pip install 'gspsim[sweep]')")
    else:
        written.append(parquet)
    try:
        plot = write_pareto_plot(rows, front, axes, out / plot_name)
    except ImportError:
        console.print("[yellow]warning[/yellow]: matplotlib is not installed, no pareto.png")
        plot = None
    if plot is not None:
        written.append(plot)
    ok = sum(1 for r in rows if r["status"] == "ok")
    failed = [r for r in rows if r["status"] != "ok"]
    state = ("interrupted: rerun to continue" if outcome.interrupted else
             "stopped early (--max-points): rerun to continue" if outcome.stopped else "complete")
    console.print(f"{len(rows)} of {len(outcome.planned)} points: {ok} ok, {len(failed)} failed; "
                  f"{outcome.computed} computed now, {outcome.reused} reused from {markup_safe(out / 'points')} "
                  f"— {state}", soft_wrap=True)
    if failed:
        by_error: dict[str, list[Any]] = {}
        for r in failed:
            by_error.setdefault(str(r["error"]), []).append(r)
        t = Table(title=f"failed points: {len(failed)} (each row's error is in results.csv)", title_justify="left")
        t.add_column("points", justify="right")
        t.add_column("first point", overflow="fold")
        t.add_column("error", overflow="fold")
        for error, group in by_error.items():
            t.add_row(str(len(group)), markup_safe(_label(group[0], axes)), markup_safe(error))
        console.print(t)
    if front:
        show = axes or ["model"]
        console.print(front_table(rows, front, show,
                                  f"Pareto front over latency, energy, area: {len(front)} of {ok} points"
                                  + ("" if args.pareto_global or len(spec.axes["model"]) == 1
                                     else " (one front per model)")))
    for p in written:
        console.print(f"wrote {markup_safe(p)}", soft_wrap=True)
    return 0


def _label(row: Any, axes: Sequence[str]) -> str:
    return " ".join(f"{a}={Path(str(row[a])).stem if a == 'model' else _fmt(row[a])}" for a in axes) or "-"


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)

