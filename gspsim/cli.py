"""The command line: ``python -m gspsim run | inspect | hw``.

User mistakes (a bad model, config, option or inputs file) end with one line
``error: ...`` on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from rich.console import Console
from rich.table import Table

from ._version import __version__
from .argparsing import OneLineParser
from .errors import GspsimError
from .terminal import markup_safe, print_table, printable
from .report.cli import add_plot_parser, add_run_output_options, announce, cmd_plot
from .report.console import print_precision_table, print_prune_table, print_summary
from .report.units import fmt_bytes as _fmt_bytes
from .sweep.cli import add_sweep_parser, cmd_sweep
from .vocab import CALIBRATORS, MODES

if TYPE_CHECKING:
    from .progress import RunProgress

EPILOG_RUN = """\
examples:
  python -m gspsim run                               # the bundled small CNN on blaize-1600
  python -m gspsim run model.onnx --check            # compare the outputs with onnxruntime
  python -m gspsim run model.onnx --mode layer --hw layer-accel-16t --json out.json
  python -m gspsim run model.onnx --input-shape input=1x3x224x224 --frames 8
  python -m gspsim run cam_a.onnx cam_b.onnx --fps 30,15 --frames 4   # two camera streams on one chip

exit codes: 0 success, 1 --check failed, 2 bad model / config / option / input file,
3 internal error (a bug in gspsim: please report it; --debug shows the traceback).
"""


def _add_model_loading_options(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Options of every command that loads a model."""
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=DxD",
                   help="static shape for an input with dynamic dimensions, e.g. input=1x3x224x224 (repeatable)")
    p.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="refuse models whose weights and activations need more than SIZE (e.g. 8G, 512MiB, 2GB; "
                        "default: the machine's physical memory)")


def _add_tiling_options(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Options of every command that compiles a model for a chip."""
    p.add_argument("--tile", default=None, metavar="rows=R,channels=C,cols=W",
                   help="tile size of every node, any subset of rows/channels/cols ('all' = the whole axis; "
                        "default: the compiler's rule in docs/execution-model.md)")
    p.add_argument("--buffer-budget", default=None, metavar="SIZE",
                   help="shared-memory bytes for line buffers, e.g. 256K or 1M (default: half of shared memory; "
                        "the rest holds weights)")
    p.add_argument("--no-fuse", action="store_true",
                   help="keep every elementwise op (Relu, Clip, residual Add, ...) a node of its own instead of "
                        "fusing it into the node that produces its input (for ablations; outputs are identical)")


def _add_run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="simulate a model on a chip (the main job)",
        description=(
            "Compile an ONNX model (PyTorch export), simulate it on a graph streaming processor while its "
            "kernels compute the real outputs, and report latency, throughput, DRAM traffic, energy and power. "
            "Without MODEL, runs the bundled small CNN."
        ),
        epilog=EPILOG_RUN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="*", help="ONNX file(s); several share the chip at once (default: the bundled small CNN)")
    chip = p.add_argument_group("chip and schedule")
    frames = p.add_argument_group("model inputs and frames")
    prec = p.add_argument_group("precision and compression")
    out = p.add_argument_group("checks and output files")
    term = p.add_argument_group("terminal")
    chip.add_argument("--hw", default="blaize-1600", metavar="PRESET|FILE",
                      help="hardware preset name or TOML file (default: blaize-1600; see 'gspsim hw list')")
    frames.add_argument("--fps", default=None, metavar="R[,R...]",
                        help="input frame rate per model (one value for all, or one per model): frames arrive at "
                             "that rate and each must finish before the next arrives (deadline); default: all "
                             "frames at once")
    prec.add_argument("--precision", default="fp32", metavar="P[,P...]",
                      help="fp32, fp16, bf16 or int8 (int8 quantizes a float model first); a comma list runs each "
                           "and prints one table with latency, energy, DRAM traffic and accuracy per precision "
                           "(--report, --trace, --csv and --plots then cover every run)")
    prec.add_argument("--precision-map", metavar="FILE.toml",
                      help="per-node precision overrides: a TOML table mapping node names or op types to "
                           "precisions, e.g. Softmax = \"fp16\" (mixed-precision experiments)")
    prec.add_argument("--calib", metavar="FILE.npz|DIR",
                      help="int8 calibration inputs: an .npz of graph inputs or a folder of them "
                           "(default: seeded synthetic inputs)")
    prec.add_argument("--calibrator", default="minmax", choices=CALIBRATORS,
                      help="how int8 activation ranges are chosen from calibration data (default minmax)")
    prec.add_argument("--calib-samples", type=int, default=32, metavar="N",
                      help="synthetic calibration inputs when --calib is not given (default 32)")
    prec.add_argument("--accuracy-samples", type=int, default=4, metavar="N",
                      help="seeded inputs of the accuracy report against fp32 (default 4; 0 turns it off)")
    chip.add_argument("--mode", default=None, choices=MODES,
                      help="streaming: GSP block-level dataflow through on-chip ring buffers; layer: layer-by-layer "
                           "through DRAM (default: the chip's default_mode)")
    chip.add_argument("--scheduler", default=None, metavar="NAME",
                      help="scheduling strategy (default: depth-first for streaming, layer for layer mode)")
    frames.add_argument("--seed", type=int, default=0,
                        help="seed of the synthetic inputs and random choices (default 0)")
    frames.add_argument("--frames", type=int, default=1,
                        help="stream N inputs through the chip, pipelined (default 1)")
    frames.add_argument("--inputs", metavar="FILE.npz", help="graph inputs by name (default: seeded standard-normal)")
    out.add_argument("--outputs", metavar="FILE.npz", help="write the simulated graph outputs, by output name")
    out.add_argument("--json", metavar="PATH", help="write the full result as JSON (see docs/json-result.md)")
    out.add_argument("--check", action="store_true",
                     help="run onnxruntime on the same model and inputs; exit 1 if the outputs differ beyond "
                          "the precision's tolerance")
    _add_model_loading_options(frames)
    _add_tiling_options(chip)
    chip.add_argument("--engine", default="fast", choices=["fast", "compiled", "python", "reference"],
                      help="fast (default: compiled with Numba for one model of 10,000 tiles or more and a "
                           "built-in scheduler, else in Python), compiled (the Numba loop whatever the size), python "
                           "(the fast engine's Python loop always) or reference (the plain SimPy engine the others "
                           "are checked against); all give the same results")
    chip.add_argument("--timing-only", action="store_true",
                      help="skip the kernels (every event is still simulated): faster, no outputs")
    out.add_argument("--power-resolution", type=int, default=None, metavar="CYCLES",
                     help="cycles per sample of the power-over-time series (default: 1/200 of the makespan)")
    term.add_argument("--nodes", type=int, default=0, metavar="N",
                      help="also print the N busiest nodes (ranked by busy core-cycles over all frames)")
    prec.add_argument("--prune", default=None, metavar="SPEC[,SPEC...]",
                      help="prune the float model first: magnitude:SPARSITY[:layer], nm:N:M or channels:FRACTION; "
                           "a list (magnitude:0.3,0.5,0.7) prints one row per level with accuracy against the "
                           "unpruned fp32 model beside latency, energy and DRAM traffic")
    prec.add_argument("--save-model", metavar="OUT.onnx",
                      help="write the (pruned) float model as ONNX that onnxruntime runs")
    term.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    add_run_output_options(out)


def _add_inspect_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="show a model's ops, parameters, MACs and what the frontend folded and the compiler fused",
        description="Load an ONNX model through gspsim's frontend and passes and describe the dataflow graph as it "
                    "is lowered at a precision: its nodes, what was folded and fused, and each node's cost.",
    )
    p.add_argument("model", nargs="?", help="ONNX file (default: the bundled small CNN)")
    p.add_argument("--precision", default="fp32", metavar="P",
                   help="fp32, fp16, bf16 or int8 (int8 quantizes a float model first, with seeded calibration "
                        "inputs); default fp32")
    p.add_argument("--hw", default="blaize-1600", metavar="PRESET|FILE",
                   help="the chip whose memory plan is shown (default blaize-1600)")
    _add_model_loading_options(p)
    _add_tiling_options(p)


def _add_memory_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "memory",
        help="how much on-chip memory a model needs: its memory plan across line-buffer budgets",
        description=(
            "Compile a model for a chip (no simulation) and print its memory plan: the line-buffer budget that "
            "streams it with no cut, its stacks at the default budget, and the activation DRAM traffic the plan "
            "implies at a range of budgets."
        ),
    )
    p.add_argument("model", nargs="?", help="ONNX file (default: the bundled small CNN)")
    p.add_argument("--hw", default="blaize-1600", metavar="PRESET|FILE", help="hardware preset or TOML file")
    p.add_argument("--precision", default="fp32", help="fp32, fp16, bf16 or int8 (default fp32)")
    p.add_argument("--mode", default=None, choices=MODES, help="default: the chip's")
    p.add_argument("--budgets", default=None, metavar="SIZE[,SIZE...]",
                   help="budgets to plan at, e.g. 64K,256K,1M (default: from 1/16 of the no-cut budget up to it)")
    p.add_argument("--plot", metavar="FILE.png|FILE.svg", help="draw activation DRAM traffic against the budget")
    p.add_argument("--csv", metavar="PATH", help="write the table as CSV")
    p.add_argument("--calib-samples", type=int, default=8, metavar="N",
                   help="synthetic calibration inputs for int8 (default 8; the plan does not depend on them)")
    _add_model_loading_options(p)
    _add_tiling_options(p)


def _add_hw_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hw", help="list or show hardware presets",
                       description="Hardware presets bundled with gspsim; pass --hw FILE.toml to run on your own chip.")
    hw_sub = p.add_subparsers(dest="hw_command", metavar="{list,show}")
    hw_sub.required = True
    hw_sub.add_parser("list", help="list the presets", description="List the bundled hardware presets.")
    show = hw_sub.add_parser("show", help="print one preset's (or file's) figures",
                             description="Print every figure of a preset or a TOML file, validated.")
    show.add_argument("name", metavar="NAME|FILE", help="preset name or TOML file")
    show.add_argument("--toml", action="store_true",
                      help="print the chip as a TOML file you can save, edit and run with --hw FILE.toml")


def _add_warmup_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "warmup", help="compile the Numba kernels ahead of time (the first run then starts at full speed)",
        description=("Simulate each MODEL (default: the bundled models) at fp32, fp16, bf16 and int8, streaming and "
                     "layer, so that Numba compiles every kernel they call and caches it (in NUMBA_CACHE_DIR if set, "
                     "else in numba/ under GSPSIM_CACHE_DIR or ~/.cache/gspsim). Later runs load the cached kernels; "
                     "a second warm-up compiles nothing."),
    )
    p.add_argument("model", nargs="*", help="ONNX file(s) whose kernels to compile (default: the bundled models)")
    p.add_argument("--hw", default="blaize-1600", metavar="PRESET|FILE", help="hardware preset or TOML file")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def cmd_warmup(args: argparse.Namespace, console: Console) -> int:
    from .models import BUNDLED_MODELS, bundled_model_path
    from .warmup import warm_up

    models = args.model or [str(bundled_model_path(name)) for name in BUNDLED_MODELS]
    steps = warm_up(models, args.hw, on_step=lambda s: console.print(
        f"{markup_safe(s.model)} {s.precision} {s.mode}: "
        + (f"skipped ({markup_safe(s.skipped)})" if s.skipped else
           f"{s.compiled} kernel(s) compiled, {s.seconds:.1f} s"), highlight=False))
    console.print(f"warm-up done: {sum(s.compiled for s in steps)} kernel(s) compiled in "
                  f"{sum(s.seconds for s in steps):.1f} s", highlight=False)
    return 0


def _add_compare_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="run several scheduling strategies on one model and chip, one table",
        description=(
            "Simulate MODEL once per scheduling strategy, in parallel processes, and print one table: latency, "
            "makespan, throughput, energy, DRAM traffic, mean core utilization and efficiency (lower bound / "
            "active time; docs/json-result.md defines each). "
            "The 'layer' strategy runs in layer mode (the baseline) unless --mode is given."
        ),
        epilog="example:\n  python -m gspsim compare model.onnx --schedulers all --csv compare.csv\n"
               "  python -m gspsim compare model.onnx --schedulers heft,round-robin,mypkg.sched:MyScheduler",
        formatter_class=_SchedulerNamesHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="ONNX file (default: the bundled small CNN)")
    p.add_argument("--schedulers", default="all", metavar="LIST",
                   help="'all' or comma-separated names: built-ins (" + _BUILTIN_SCHEDULERS + "), "
                        "entry points of group gspsim.schedulers, or package.module:Class (default: all)")
    p.add_argument("--hw", default="blaize-1600", metavar="PRESET|FILE", help="hardware preset or TOML file")
    p.add_argument("--mode", default=None, choices=MODES,
                   help="force one mode for every strategy (default: each strategy's own, else the chip's)")
    p.add_argument("--precision", default="fp32", metavar="P", help="fp32, fp16, bf16 or int8 (default fp32)")
    p.add_argument("--frames", type=int, default=1, help="frames streamed through the chip (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of inputs and of the random strategy (default 0)")
    _add_model_loading_options(p)
    _add_tiling_options(p)
    p.add_argument("--timing-only", action="store_true", help="skip the kernels (faster; same timing)")
    p.add_argument("--jobs", type=int, default=None, metavar="N", help="parallel processes (default: one per core)")
    p.add_argument("--csv", metavar="PATH", help="write the table as CSV, one row per strategy")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def _builtin_names() -> list[str]:
    from .scheduling import scheduler_names

    return scheduler_names()


#: stands for the built-in scheduler names in help text, filled in when the help is printed
_BUILTIN_SCHEDULERS = "{builtin_schedulers}"


class _SchedulerNamesHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Fills in the scheduler names only when ``compare --help`` prints them: listing them imports the schedulers."""

    def _get_help_string(self, action: argparse.Action) -> Optional[str]:
        text = super()._get_help_string(action)
        if text and _BUILTIN_SCHEDULERS in text:
            text = text.replace(_BUILTIN_SCHEDULERS, ", ".join(_builtin_names()))
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(  # argparse mistakes are one line too (gspsim/argparsing.py)
        prog="python -m gspsim",
        description=(
            "gspsim: a graph streaming processor simulator. It runs ONNX models on a simulated Blaize-style GSP "
            "(or a layer-by-layer baseline), executing the real kernels, and reports cycles, DRAM traffic and energy."
        ),
    )
    parser.add_argument("--version", action="version", version=f"gspsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{run,compare,sweep,plot,inspect,memory,hw,warmup}")
    sub.required = True
    _add_run_parser(sub)
    _add_compare_parser(sub)
    add_sweep_parser(sub)
    add_plot_parser(sub)
    _add_inspect_parser(sub)
    _add_memory_parser(sub)
    _add_hw_parser(sub)
    _add_warmup_parser(sub)
    _add_debug_option(parser, False)
    _add_debug_to_commands(parser)
    return parser


def _add_debug_to_commands(parser: argparse.ArgumentParser) -> None:
    """``--debug`` after any (sub)command too; SUPPRESS keeps a subcommand from resetting the top-level value."""
    for action in parser._actions:  # noqa: SLF001 - argparse lists subparsers only here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for command in action.choices.values():
                _add_debug_option(command, argparse.SUPPRESS)
                _add_debug_to_commands(command)


def _hw_file(hw: str) -> Optional[str]:
    """``--hw`` when it names a file (an input to protect), None for a preset name."""
    return hw if Path(hw).exists() else None


def _max_memory(args: argparse.Namespace) -> Optional[int]:
    """``--max-memory SIZE`` in bytes (parsed here so a bad value is a one-line error)."""
    from .frontend import parse_memory_size

    return parse_memory_size(args.max_memory) if args.max_memory else None


def _size_option(text: Optional[str], option: str) -> Optional[int]:
    """A byte-size option (e.g. ``--buffer-budget 256K``) in bytes, or None when not given."""
    from .frontend import parse_memory_size

    return parse_memory_size(text, option) if text else None


def _memory_left(limit: Optional[int], results: Sequence) -> Optional[int]:
    """The memory limit for the next run of a list: what the results kept so far hold is taken off it."""
    if not results:
        return limit
    from .frontend.memory import format_bytes, resolve_limit

    total = resolve_limit(limit)
    kept = sum(_result_bytes(r) for r in results)
    if kept >= total:
        raise GspsimError(f"the {len(results)} results so far hold about {format_bytes(kept)}, the whole memory limit "
                          f"{format_bytes(total)}; run fewer precisions or prune levels at once, or raise --max-memory")
    return total - kept


def _result_bytes(result) -> int:
    """About what a kept result holds: its timeline arrays, and the JSON text it becomes (a quarter of a run's)."""
    from .run_memory import BYTES_PER_BLOCK_FRAME

    return result.blocks * BYTES_PER_BLOCK_FRAME // 4


def _input_shapes(items: Sequence[str]) -> dict[str, tuple[int, ...]]:
    if not items:  # the loader (and onnx with it) is imported only to parse a shape
        return {}
    from .frontend import parse_input_shape

    return dict(parse_input_shape(t) for t in items)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from . import api
    from .engine.options import SimOptions
    from .hardware.config import load_hardware
    from .output_files import STDOUT, check_destinations
    from .progress import RunProgress
    from .report.cli import TEXT_OUTPUTS, plot_file_names

    model_paths = list(args.model) or [str(api.default_model_path())]
    check_destinations(
        outputs=[("--json", args.json), ("--outputs", args.outputs), ("--trace", args.trace),
                 ("--report", args.report), ("--csv", args.csv), ("--save-model", args.save_model)],
        inputs=[*(("the model", m) for m in model_paths), ("--inputs", args.inputs), ("--hw", _hw_file(args.hw)),
                ("--calib", args.calib), ("--precision-map", args.precision_map)],
        folders=[("--plots", args.plots, plot_file_names())],
        stdout_ok=("--json", *TEXT_OUTPUTS),
    )
    if STDOUT in (args.json, args.trace, args.report, args.csv):
        console.quiet = True  # standard output carries that file: no tables beside it
    if args.nodes < 0:
        raise GspsimError(f"--nodes must be >= 0, got {args.nodes}")
    prunes = _prune_labels(args.prune)
    if args.save_model and (len(model_paths) > 1 or len(prunes) > 1):
        raise GspsimError("--save-model writes one model: give one model and at most one --prune spec")
    hw = load_hardware(args.hw)
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    options = SimOptions(
        mode=args.mode,
        scheduler=args.scheduler,
        precision=precisions[0] if precisions else "",
        seed=args.seed,
        frames=args.frames,
        execute=not args.timing_only,
        tile=args.tile,
        buffer_budget=_size_option(args.buffer_budget, "--buffer-budget"),
        engine=args.engine,
        power_resolution_cycles=args.power_resolution,
        precision_map=_precision_map(args.precision_map),
        calibrator=args.calibrator,
        calibration=args.calib,
        calibration_samples=args.calib_samples,
        accuracy_samples=args.accuracy_samples,
        prune=prunes[0],
        fuse=not args.no_fuse,
    )
    for p in precisions or [""]:
        api.validate_options(replace(options, precision=p))
    fps = _parse_fps(args.fps, len(model_paths))
    if args.outputs and args.timing_only:
        raise GspsimError("--outputs needs the kernels to run; drop --timing-only")
    if args.inputs and len(model_paths) > 1:
        raise GspsimError("--inputs applies to one model; with several models the inputs are seeded")
    if args.outputs and len(precisions) > 1:
        raise GspsimError("--outputs takes one precision; run each precision separately")
    # a spinner line per stage and a bar of blocks simulated, on a terminal only (gspsim/progress.py)
    with RunProgress(console, enabled=console.is_terminal and not args.quiet) as shown:
        graphs, results, written = _simulate_and_write(args, shown, hw, options, model_paths, precisions, prunes, fps)
    result = results[0]
    if args.prune and not args.quiet:
        print_prune_table(results, [s for s in prunes for _ in precisions], graphs[0], options, console)
    elif len(results) > 1 and not args.quiet:
        print_precision_table(results, console)
    failed = [r for r in results if r.check is not None and not r.check.passed]
    if failed:
        print(f"error: {check_failure(failed[0].precision, failed[0].check)}", file=sys.stderr)
        if not args.quiet and len(results) == 1:
            print_summary(result, console, args.nodes)
        announce(console, written)
        return 1
    if not args.quiet and len(results) == 1:
        print_summary(result, console, args.nodes)
    announce(console, written)
    return 0


def check_failure(precision: str, c) -> str:
    """The one line of a failed --check: the worst output, and why (NaN/Inf that differ, or the error)."""
    from .check import non_finite_note

    errors = c.per_output.get(c.worst_output, {})
    if errors.get("non_finite_mismatches"):
        return (f"--check failed at {precision}: output '{printable(c.worst_output)}' has "
                f"{errors['non_finite_mismatches']} NaN/Inf value(s) where onnxruntime's differ "
                f"(max_rel_err {c.max_rel_err:.3g} over the finite values)")
    note = non_finite_note(c)
    return (f"--check failed at {precision}: output '{printable(c.worst_output)}' differs from onnxruntime by "
            f"max_rel_err {c.max_rel_err:.3g} (max_abs_err {c.max_abs_err:.3g}) > tolerance {c.tolerance:g}"
            + (f"; {printable(note)}" if note else ""))


def _simulate_and_write(args: argparse.Namespace, shown: "RunProgress", hw, options, model_paths: list[str],
                        precisions: list[str], prunes: list[str], fps: list[Optional[float]]):
    """``run`` after its options are checked: load, simulate each prune level and precision, write the files.

    Returns the loaded graphs, the results and the files written.
    """
    from . import api
    from .inputs import load_inputs, read_input_values
    from .output_files import write_npz_atomic, write_text_atomic

    with shown.stage("loading model"):
        shapes = _input_shapes(args.input_shape)
        limit = _max_memory(args)
        # the values given may specialise the model (an input that decides a shape: docs/onnx-conformance.md)
        values = read_input_values(args.inputs, limit) if args.inputs else None
        graphs = [api.load_model(p, shapes, limit, values) for p in model_paths]
        inputs = [load_inputs(args.inputs, graphs[0])] if args.inputs else None
    written: list[Path] = []
    if args.save_model:
        from .ir.to_onnx import save_model

        save_model(api.prepare_pruning(graphs[0], options), args.save_model)
        written.append(Path(args.save_model))
    results = []
    for spec in prunes:
        for p in precisions:
            runs = len(prunes) * len(precisions)
            what = f"simulating {spec + ' ' if spec else ''}at {p}" + (f" ({len(results) + 1} of {runs})"
                                                                       if runs > 1 else "")
            with shown.stage(markup_safe(what)) as hook:
                results.append(api.simulate_many(graphs, hw, replace(options, precision=p, prune=spec),
                                                 inputs=inputs, check=args.check, fps=fps, progress=hook,
                                                 max_memory_bytes=_memory_left(limit, results)))
    if args.json:
        if len(results) == 1:
            write_text_atomic(args.json, results[0].to_json())
        else:
            write_text_atomic(args.json, "[\n" + ",\n".join(r.to_json().rstrip("\n") for r in results) + "\n]\n")
        written.append(Path(args.json))
    if args.outputs:
        write_npz_atomic(args.outputs, results[0].outputs)
        written.append(Path(args.outputs))
    if args.trace or args.report or args.csv or args.plots:
        from .report.cli import write_outputs

        with shown.stage("writing trace, report and plots"):
            # several precisions or prune levels: one report, trace and CSV covering every run (docs/gallery.md)
            written += write_outputs([r.to_dict() for r in results], trace=args.trace, report=args.report,
                                     csv=args.csv, plots_dir=args.plots)
    return graphs, results, written


def _prune_labels(text: Optional[str]) -> list[str]:
    """``--prune`` as canonical spec strings; [""] (no pruning) when not given."""
    if text is None:
        return [""]
    from .passes.prune import parse_prune_specs

    return [s.label for s in parse_prune_specs(text)]


def _precision_map(path: Optional[str]) -> tuple[tuple[str, str], ...]:
    """Read ``--precision-map``: a TOML table of node name or op type -> precision."""
    if not path:
        return ()
    from .tomlfile import read_toml

    data = read_toml(path, "precision map file")
    for key, value in data.items():
        if not isinstance(value, str):
            raise GspsimError(f"{path}: '{key}' must map to a precision string such as \"fp16\", got {value!r}")
    return tuple(sorted(data.items()))


def _parse_fps(text: Optional[str], models: int) -> list[Optional[float]]:
    if text is None:
        return [None] * models
    try:
        rates = [float(t) for t in text.split(",")]
    except ValueError:
        raise GspsimError(f"--fps '{text}': expected numbers, e.g. 30 or 30,15") from None
    if len(rates) == 1:
        rates = rates * models
    if len(rates) != models:
        raise GspsimError(f"--fps '{text}': give one rate, or one per model ({models} models)")
    if any(not r > 0 for r in rates):
        raise GspsimError(f"--fps '{text}': rates must be > 0")
    return rates


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def cmd_inspect(args: argparse.Namespace, console: Console) -> int:
    from collections import Counter

    from . import api
    from .engine.options import SimOptions
    from .ir.costs import op_cost

    from .hardware.config import load_hardware

    path = args.model or str(api.default_model_path())
    hw = load_hardware(args.hw)
    options = SimOptions(precision=args.precision, fuse=not args.no_fuse, tile=args.tile,
                         buffer_budget=_size_option(args.buffer_budget, "--buffer-budget"))
    api.validate_options(options)
    options = replace(options, mode=hw.default_mode)
    graph = api.prepare_graph(api.load_model(path, _input_shapes(args.input_shape), _max_memory(args)), options)
    program = api.compile_model(graph, hw, options)
    plan = program.plan
    node_of = {n.op.name: n for n in program.tasks.nodes}
    costs = {op.name: op_cost(op, graph.tensors) for op in graph.ops()}
    ops = [part for node in graph.ops() for part in node.unfused()]
    fused = sum(1 for op in graph.ops() if op.epilogue)
    console.print(f"[bold]{markup_safe(path)}[/bold] at {args.precision}: {len(graph)} nodes"
                  + (f" ({len(ops)} ops, {fused} nodes with fused ops)" if fused else "")
                  + f", {graph.num_params:,} parameters ({_fmt_bytes(graph.weight_bytes)}), "
                  f"{sum(c.macs for c in costs.values()):,} MACs")
    for name in graph.inputs:
        info = graph.tensors[name]
        console.print(f"  input  {markup_safe(name)}: {info.dtype}{list(info.shape)}")
    for name in graph.outputs:
        info = graph.tensors[name]
        console.print(f"  output {markup_safe(name)}: {info.dtype}{list(info.shape)}")
    for note in graph.notes:
        console.print(f"  note: {markup_safe(note)}")
    counts = Counter(op.op_type for op in ops)
    console.print("  ops: " + markup_safe(", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))))
    console.print(markup_safe(
        f"  on {hw.name} ({plan.mode}): {len(program.tasks.blocks):,} tiles in {len(program.tasks.bands):,} bands; "
        f"{len(plan.stacks)} stack(s), {len(plan.cuts)} cut(s) at a {_fmt_bytes(plan.buffer_budget)} line-buffer "
        f"budget; line buffers that stream it with no cut: {_fmt_bytes(plan.min_buffer_budget)} (see 'gspsim memory')"))
    rows = []
    for op in graph.ops():
        c = costs[op.name]
        out = graph.tensors[op.outputs[0]]
        node = node_of[op.name]
        tile = node.tiling
        rows.append((op.name, "+".join(part.op_type for part in op.unfused()), op.precision,
                     f"{out.dtype}{list(out.shape)}", f"{c.macs:,}", f"{c.vector_ops:,}",
                     _fmt_bytes(c.weight_bytes), _fmt_bytes(c.activation_read_bytes), _fmt_bytes(c.write_bytes),
                     f"{tile.rows} × {tile.channels} × {tile.cols}", str(plan.stack_of[node.index])))
    print_table(console, "", ("node", "op (+ fused)", "precision", "output", "MACs", "vector ops", "weights", "reads",
                              "writes", "tile (rows × channels × cols)", "stack"), rows,
                left=("node", "op (+ fused)", "precision", "output"), no_wrap=("node", "op (+ fused)"))
    return 0


def cmd_memory(args: argparse.Namespace, console: Console) -> int:
    from . import api
    from .budget import budget_sweep
    from .engine.options import SimOptions
    from .hardware.config import load_hardware
    from .output_files import refuse_overwriting, write_text_atomic

    path = args.model or str(api.default_model_path())
    protected = [path] + ([args.hw] if Path(args.hw).exists() else [])
    for dest, what in ((args.plot, "--plot"), (args.csv, "--csv")):
        if dest:
            refuse_overwriting(dest, protected, what)
    hw = load_hardware(args.hw)
    options = SimOptions(mode=args.mode, precision=args.precision, tile=args.tile, fuse=not args.no_fuse,
                         buffer_budget=_size_option(args.buffer_budget, "--buffer-budget"),
                         calibration_samples=args.calib_samples, accuracy_samples=0)
    api.validate_options(options)
    options = replace(options, mode=options.mode or hw.default_mode)
    budgets = [_size_option(b.strip(), "--budgets") for b in args.budgets.split(",") if b.strip()] \
        if args.budgets else None
    graph = api.load_model(path, _input_shapes(args.input_shape), _max_memory(args))
    graph = api.prepare_graph(graph, options)
    program = api.compile_model(graph, hw, options)
    plan, tasks = program.plan, program.tasks
    need, points = budget_sweep(graph, hw, options, budgets)
    beyond = need > hw.shared_memory.size_bytes
    console.print(f"[bold]{Path(path).name}[/bold] at {options.precision} on {hw.name} ({options.mode}): "
                  f"line buffers that stream it with no cut: [bold]{_fmt_bytes(need)}[/bold]"
                  f"{' (more than its ' + _fmt_bytes(hw.shared_memory.size_bytes) + ' of shared memory)' if beyond else ''}; "
                  f"weights {_fmt_bytes(sum(n.cost.weight_bytes for n in tasks.nodes))} "
                  f"({'resident' if plan.resident else 'streamed: more than the ' + _fmt_bytes(plan.weight_capacity) + ' weight memory'})")
    t = Table(title=f"stacks at a {_fmt_bytes(plan.buffer_budget)} budget", title_justify="left")
    for col in ("stack", "nodes", "first node", "last node", "line buffers", "held weights", "all weights"):
        t.add_column(col, justify="left" if col in ("first node", "last node") else "right")
    for s in plan.stacks:
        t.add_row(str(s.index), str(len(s.nodes)), tasks.nodes[s.first].op.name, tasks.nodes[s.last].op.name,
                  _fmt_bytes(s.buffer_bytes), _fmt_bytes(s.held_weight_bytes), _fmt_bytes(s.weight_bytes))
    console.print(t)
    t = Table(title="activation DRAM traffic per frame by line-buffer budget", title_justify="left")
    for col in ("budget", "stacks", "cuts", "largest stack's buffers", "intermediate DRAM", "graph inputs + outputs"):
        t.add_column(col, justify="right")
    rows = []
    for p in points:
        t.add_row(_fmt_bytes(p.budget_bytes), str(p.stacks), str(p.cuts), _fmt_bytes(p.buffer_bytes),
                  _fmt_bytes(p.intermediate_bytes), _fmt_bytes(p.io_bytes))
        rows.append(f"{p.budget_bytes},{p.stacks},{p.cuts},{p.buffer_bytes},{p.intermediate_bytes},{p.io_bytes}")
    console.print(t)
    if args.csv:
        write_text_atomic(args.csv, "budget_bytes,stacks,cuts,largest_stack_buffer_bytes,intermediate_dram_bytes,"
                                    "io_dram_bytes\n" + "\n".join(rows) + "\n")
        console.print(f"wrote {args.csv}")
    if args.plot:
        from .report.plots import budget_plot

        budget_plot(points, need, f"{Path(path).name}, {options.precision}, {hw.name}", args.plot)
        console.print(f"wrote {args.plot}")
    return 0


def cmd_hw(args: argparse.Namespace, console: Console) -> int:
    from .hardware.config import load_hardware, preset_names

    if args.hw_command == "list":
        t = Table(title="hardware presets", title_justify="left")
        for col in ("name", "cores", "int8 TOPS", "DRAM GB/s", "shared SRAM", "mode", "description"):
            t.add_column(col, no_wrap=col != "description")
        for name in preset_names():
            hw = load_hardware(name)
            t.add_row(markup_safe(name), str(hw.cores.count), f"{hw.peak_ops_per_s('int8') / 1e12:g}",
                      f"{hw.dram.bandwidth_bytes_per_s / 1e9:g}", _fmt_bytes(hw.shared_memory.size_bytes),
                      markup_safe(hw.default_mode), markup_safe(hw.description))
        console.print(t)
        return 0
    hw = load_hardware(args.name)
    if args.toml:
        from .tomlfile import dumps_toml

        # plain print: rich would read [cores] as markup; the comments say where the figures come from
        print(f"# {printable(hw.name)}: {printable(' '.join(hw.description.split()))}")
        print(f"# written by 'gspsim hw show {printable(args.name)} --toml'; run it with --hw FILE.toml "
              "(docs/hardware.md explains every field and the presets' sources)\n")
        print(dumps_toml(hw.to_dict()), end="")
        return 0
    console.print(f"[bold]{markup_safe(hw.name)}[/bold]: {markup_safe(hw.description)}")
    for section, values in hw.to_dict().items():
        if isinstance(values, dict):
            console.print(markup_safe(f"[{section}]"))
            for k, v in values.items():
                console.print(markup_safe(f"  {k} = {v}"))
        elif section not in ("name", "description"):
            console.print(markup_safe(f"{section} = {values}"))
    console.print(f"peak: {hw.peak_ops_per_s('int8') / 1e12:g} int8 TOPS, {hw.peak_ops_per_s('fp16') / 1e12:g} fp16 TFLOPS, "
                  f"DRAM {hw.dram_bytes_per_cycle:g} B/cycle")
    return 0


PIPED_WIDTH = 160


def make_console(quiet: bool = False) -> Console:
    """Rich output on a terminal; plain, colourless and 160 columns wide when piped (nothing truncated)."""
    if sys.stdout.isatty():
        return Console(quiet=quiet, highlight=False)
    return Console(quiet=quiet, highlight=False, no_color=True, width=PIPED_WIDTH)


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from . import api
    from .compare import COMPARE_COLUMNS, COMPARE_HEADERS, compare_rows, compare_schedulers, parse_scheduler_list, rows_to_csv
    from .engine.options import SimOptions
    from .hardware.config import load_hardware
    from .output_files import STDOUT, check_destinations, write_text_atomic

    model_path = args.model or str(api.default_model_path())
    check_destinations(outputs=[("--csv", args.csv)], inputs=[("the model", model_path), ("--hw", _hw_file(args.hw))],
                       stdout_ok=("--csv",))
    if args.csv == STDOUT:
        console.quiet = True
    names = parse_scheduler_list(args.schedulers)
    hw = load_hardware(args.hw)
    options = SimOptions(mode=args.mode, precision=args.precision, seed=args.seed, frames=args.frames,
                         execute=not args.timing_only, tile=args.tile, fuse=not args.no_fuse,
                         buffer_budget=_size_option(args.buffer_budget, "--buffer-budget"))
    api.validate_options(options)
    shapes = _input_shapes(args.input_shape)
    limit = _max_memory(args)
    api.load_model(model_path, shapes, limit)  # report model errors once, before starting the processes
    with console.status(f"simulating {len(names)} strategies", spinner="dots") if not args.quiet else _nullcontext():
        results = compare_schedulers(model_path, hw, names, options, args.jobs, shapes, limit)
    rows = compare_rows(results)
    if args.csv:
        write_text_atomic(args.csv, rows_to_csv(rows))
    t = Table(title=markup_safe(f"{Path(model_path).name} on {hw.name}: {len(rows)} strategies"), title_justify="left")
    for col in COMPARE_COLUMNS:
        t.add_column(COMPARE_HEADERS[col], justify="left" if col in ("scheduler", "mode") else "right")
    for row in rows:
        t.add_row(markup_safe(row["scheduler"]), markup_safe(row["mode"]), f"{row['latency_cycles']:,.0f}",
                  f"{row['latency_ms']:.4f}", f"{row['makespan_ms']:.4f}", f"{row['steady_state_fps']:,.1f}",
                  f"{row['energy_mj']:.4f}", f"{row['dram_mib']:.3f}", f"{row['mean_active_utilization']:.1%}",
                  f"{row['active_efficiency']:.3f}")
    console.print(t)
    announce(console, [Path(args.csv)] if args.csv else [])
    return 0


COMMANDS = {"run": cmd_run, "compare": cmd_compare, "sweep": cmd_sweep, "plot": cmd_plot, "inspect": cmd_inspect,
            "memory": cmd_memory, "hw": cmd_hw, "warmup": cmd_warmup}


#: the exit code of an unexpected error (a bug in gspsim): 0 success, 1 --check failed, 2 a user's mistake
EXIT_INTERNAL_ERROR = 3
#: the exit code when standard output is closed early (``gspsim inspect big.onnx | head``): 128 + SIGPIPE
EXIT_BROKEN_PIPE = 141


def _add_debug_option(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument("--debug", action="store_true", default=default,
                   help="on an error, also print the Python traceback (for a bug report)")


def _internal_error_line(exc: BaseException) -> str:
    """One line for an exception gspsim did not expect: what it was, and where to report it."""
    what = " ".join(str(exc).split())[:300]
    return (f"error: internal error ({type(exc).__name__}{': ' + printable(what) if what else ''}); this is a bug "
            f"in gspsim {__version__}: please report it with the command line that caused it (rerun with --debug "
            "for the traceback)")


def command_line() -> None:
    """The ``gspsim`` command and ``python -m gspsim``: this process runs one command, then exits with its code."""
    from .command_process import tune_for_one_command

    tune_for_one_command()
    sys.exit(main())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; every failure ends in one line on stderr and an exit code (README: exit codes)."""
    import traceback

    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    try:
        console = make_console(quiet=bool(getattr(args, "quiet", False)))
        console.on_broken_pipe = _raise_broken_pipe  # rich would exit 1, which means "--check failed"
        with warnings.catch_warnings():  # restored on the way out: the API's callers keep Python's format
            if not debug:
                warnings.showwarning = _one_line_warning
            return COMMANDS[args.command](args, console)
    except GspsimError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {printable(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a raw traceback
        if debug:
            traceback.print_exc()
        print(_internal_error_line(exc), file=sys.stderr)
        return EXIT_INTERNAL_ERROR


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: Optional[str] = None) -> None:
    """A warning as one line, ``warning: ...``, like the errors (--debug shows Python's own form)."""
    print(f"warning: {printable(str(message))}", file=sys.stderr)


def _raise_broken_pipe() -> None:
    raise BrokenPipeError


def _quiet_stdout() -> None:
    """Standard output's reader went away: point it at /dev/null so that the interpreter's final flush is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
