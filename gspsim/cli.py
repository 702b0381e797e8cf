"""The command line: ``python -m gspsim run | inspect | hw``.

User mistakes (a bad model, config, option or inputs file) end with one line
``error: ...`` on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._version import __version__
from .errors import GspsimError
from .report.cli import add_plot_parser, add_run_output_options, cmd_plot
from .sweep.cli import add_sweep_parser, cmd_sweep
from .vocab import CALIBRATORS, MODES

EPILOG_RUN = """\
examples:
  python -m gspsim run                               # the bundled small CNN on blaize-1600
  python -m gspsim run model.onnx --check            # compare the outputs with onnxruntime
  python -m gspsim run model.onnx --mode layer --hw layer-accel-16t --json out.json
  python -m gspsim run model.onnx --input-shape input=1x3x224x224 --frames 8
  python -m gspsim run cam_a.onnx cam_b.onnx --fps 30,15 --frames 4   # two camera streams on one chip

exit codes: 0 success, 1 --check failed, 2 bad model / config / option / input file.
"""


def _add_model_loading_options(p: argparse.ArgumentParser) -> None:
    """Options of every command that loads a model."""
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=DxD",
                   help="static shape for an input with dynamic dimensions, e.g. input=1x3x224x224 (repeatable)")
    p.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="refuse models whose weights and activations need more than SIZE (e.g. 8G, 512MiB, 2GB; "
                        "default: the machine's physical memory)")


def _add_block_rows_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--block-rows", type=int, default=None, metavar="N",
                   help="rows per block for every node (default: the rule in docs/execution-model.md)")


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
    p.add_argument("--hw", default="blaize-1600", metavar="PRESET|FILE",
                   help="hardware preset name or TOML file (default: blaize-1600; see 'gspsim hw list')")
    p.add_argument("--fps", default=None, metavar="R[,R...]",
                   help="input frame rate per model (one value for all, or one per model): frames arrive at that "
                        "rate and each must finish before the next arrives (deadline); default: all frames at once")
    p.add_argument("--precision", default="fp32", metavar="P[,P...]",
                   help="fp32, fp16, bf16 or int8 (int8 quantizes a float model first); a comma list runs each "
                        "and prints one table with latency, energy, DRAM traffic and accuracy per precision")
    p.add_argument("--precision-map", metavar="FILE.toml",
                   help="per-node precision overrides: a TOML table mapping node names or op types to "
                        "precisions, e.g. Softmax = \"fp16\" (mixed-precision experiments)")
    p.add_argument("--calib", metavar="FILE.npz|DIR",
                   help="int8 calibration inputs: an .npz of graph inputs or a folder of them "
                        "(default: seeded synthetic inputs)")
    p.add_argument("--calibrator", default="minmax", choices=CALIBRATORS,
                   help="how int8 activation ranges are chosen from calibration data (default minmax)")
    p.add_argument("--calib-samples", type=int, default=32, metavar="N",
                   help="synthetic calibration inputs when --calib is not given (default 32)")
    p.add_argument("--accuracy-samples", type=int, default=4, metavar="N",
                   help="seeded inputs of the accuracy report against fp32 (default 4; 0 turns it off)")
    p.add_argument("--mode", default=None, choices=MODES,
                   help="streaming: GSP block-level dataflow through on-chip ring buffers; layer: layer-by-layer "
                        "through DRAM (default: the chip's default_mode)")
    p.add_argument("--scheduler", default=None, metavar="NAME",
                   help="scheduling strategy (default: depth-first for streaming, layer for layer mode)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic inputs and random choices (default 0)")
    p.add_argument("--frames", type=int, default=1, help="stream N inputs through the chip, pipelined (default 1)")
    p.add_argument("--inputs", metavar="FILE.npz", help="graph inputs by name (default: seeded standard-normal)")
    p.add_argument("--outputs", metavar="FILE.npz", help="write the simulated graph outputs, by output name")
    p.add_argument("--json", metavar="PATH", help="write the full result as JSON (see docs/json-result.md)")
    p.add_argument("--check", action="store_true",
                   help="run onnxruntime on the same model and inputs; exit 1 if the outputs differ beyond "
                        "the precision's tolerance")
    _add_model_loading_options(p)
    _add_block_rows_option(p)
    p.add_argument("--ring-depth", type=int, default=None, metavar="N",
                   help="every ring buffer holds exactly N producer blocks (default: the compiler's deadlock-free "
                        "sizing, see docs/execution-model.md; an undersized buffer deadlocks and the engine spills)")
    p.add_argument("--timing-only", action="store_true",
                   help="skip the kernels (every event is still simulated): faster, no outputs")
    p.add_argument("--power-resolution", type=int, default=None, metavar="CYCLES",
                   help="cycles per sample of the power-over-time series (default: 1/200 of the latency)")
    p.add_argument("--nodes", type=int, default=0, metavar="N", help="also print the N slowest nodes")
    p.add_argument("--prune", default=None, metavar="SPEC[,SPEC...]",
                   help="prune the float model first: magnitude:SPARSITY[:layer], nm:N:M or channels:FRACTION; "
                        "a list (magnitude:0.3,0.5,0.7) prints one row per level with accuracy against the "
                        "unpruned fp32 model beside latency, energy and DRAM traffic")
    p.add_argument("--save-model", metavar="OUT.onnx",
                   help="write the (pruned) float model as ONNX that onnxruntime runs")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    add_run_output_options(p)


def _add_inspect_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="show a model's ops, parameters, MACs and what the frontend folded",
        description="Load an ONNX model through gspsim's frontend and passes and describe the resulting dataflow graph.",
    )
    p.add_argument("model", nargs="?", help="ONNX file (default: the bundled small CNN)")
    _add_model_loading_options(p)


def _add_hw_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hw", help="list or show hardware presets",
                       description="Hardware presets bundled with gspsim; pass --hw FILE.toml to run on your own chip.")
    hw_sub = p.add_subparsers(dest="hw_command", metavar="{list,show}")
    hw_sub.required = True
    hw_sub.add_parser("list", help="list the presets", description="List the bundled hardware presets.")
    show = hw_sub.add_parser("show", help="print one preset's (or file's) figures",
                             description="Print every figure of a preset or a TOML file, validated.")
    show.add_argument("name", metavar="NAME|FILE", help="preset name or TOML file")


def _add_compare_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="run several scheduling strategies on one model and chip, one table",
        description=(
            "Simulate MODEL once per scheduling strategy, in parallel processes, and print one table: latency, "
            "throughput, energy, DRAM traffic, mean core utilization and efficiency (lower bound / latency). "
            "The 'layer' strategy runs in layer mode (the baseline) unless --mode is given."
        ),
        epilog="example:\n  python -m gspsim compare model.onnx --schedulers all --csv compare.csv\n"
               "  python -m gspsim compare model.onnx --schedulers heft,round-robin,mypkg.sched:MyScheduler",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="ONNX file (default: the bundled small CNN)")
    p.add_argument("--schedulers", default="all", metavar="LIST",
                   help="'all' or comma-separated names: built-ins (" + ", ".join(_builtin_names()) + "), "
                        "entry points of group gspsim.schedulers, or package.module:Class (default: all)")
    p.add_argument("--hw", default="blaize-1600", metavar="PRESET|FILE", help="hardware preset or TOML file")
    p.add_argument("--mode", default=None, choices=MODES,
                   help="force one mode for every strategy (default: each strategy's own, else the chip's)")
    p.add_argument("--precision", default="fp32", metavar="P", help="fp32, fp16, bf16 or int8 (default fp32)")
    p.add_argument("--frames", type=int, default=1, help="frames streamed through the chip (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of inputs and of the random strategy (default 0)")
    _add_model_loading_options(p)
    _add_block_rows_option(p)
    p.add_argument("--timing-only", action="store_true", help="skip the kernels (faster; same timing)")
    p.add_argument("--jobs", type=int, default=None, metavar="N", help="parallel processes (default: one per core)")
    p.add_argument("--csv", metavar="PATH", help="write the table as CSV, one row per strategy")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def _builtin_names() -> list[str]:
    from .scheduling import scheduler_names

    return scheduler_names()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gspsim",
        description=(
            "gspsim: a graph streaming processor simulator. It runs ONNX models on a simulated Blaize-style GSP "
            "(or a layer-by-layer baseline), executing the real kernels, and reports cycles, DRAM traffic and energy."
        ),
    )
    parser.add_argument("--version", action="version", version=f"gspsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{run,compare,sweep,plot,inspect,hw}")
    sub.required = True
    _add_run_parser(sub)
    _add_compare_parser(sub)
    add_sweep_parser(sub)
    add_plot_parser(sub)
    _add_inspect_parser(sub)
    _add_hw_parser(sub)
    return parser


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


def _max_memory(args: argparse.Namespace) -> Optional[int]:
    """``--max-memory SIZE`` in bytes (parsed here so a bad value is a one-line error)."""
    from .frontend import parse_memory_size

    return parse_memory_size(args.max_memory) if args.max_memory else None


def _input_shapes(items: Sequence[str]) -> dict[str, tuple[int, ...]]:
    from .frontend import parse_input_shape

    return dict(parse_input_shape(t) for t in items)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from . import api
    from .engine.options import SimOptions
    from .hardware.config import load_hardware
    from .inputs import load_inputs
    from .output_files import refuse_overwriting, write_npz_atomic, write_text_atomic

    model_paths = list(args.model) or [str(api.default_model_path())]
    protected = model_paths + ([args.inputs] if args.inputs else []) + ([args.hw] if Path(args.hw).exists() else [])
    for dest, what in ((args.json, "--json"), (args.outputs, "--outputs"), (args.trace, "--trace"),
                       (args.report, "--report"), (args.csv, "--csv"), (args.save_model, "--save-model")):
        if dest:
            refuse_overwriting(dest, protected, what)
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
        block_rows=args.block_rows,
        ring_depth=args.ring_depth,
        power_resolution_cycles=args.power_resolution,
        precision_map=_precision_map(args.precision_map),
        calibrator=args.calibrator,
        calibration=args.calib,
        calibration_samples=args.calib_samples,
        accuracy_samples=args.accuracy_samples,
        prune=prunes[0],
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
    with console.status("loading model", spinner="dots") if not args.quiet else _nullcontext():
        shapes = _input_shapes(args.input_shape)
        graphs = [api.load_model(p, shapes, _max_memory(args)) for p in model_paths]
        inputs = [load_inputs(args.inputs, graphs[0])] if args.inputs else None
    if args.save_model:
        from .ir.to_onnx import save_model

        save_model(api.prepare_pruning(graphs[0], options), args.save_model)
    results = []
    for spec in prunes:
        for p in precisions:
            with console.status(f"simulating {spec + ' ' if spec else ''}at {p}", spinner="dots") \
                    if not args.quiet else _nullcontext():
                results.append(api.simulate_many(graphs, hw, replace(options, precision=p, prune=spec),
                                                 inputs=inputs, check=args.check, fps=fps))
    result = results[0]
    if args.json:
        if len(results) == 1:
            write_text_atomic(args.json, result.to_json())
        else:
            write_text_atomic(args.json, "[\n" + ",\n".join(r.to_json().rstrip("\n") for r in results) + "\n]\n")
    if args.outputs:
        write_npz_atomic(args.outputs, result.outputs)
    if args.trace or args.report or args.csv or args.plots:
        from .report.cli import write_outputs

        with console.status("writing trace, report and plots", spinner="dots") if not args.quiet else _nullcontext():
            write_outputs(result.to_dict(), trace=args.trace, report=args.report, csv=args.csv, plots_dir=args.plots)
    if args.prune and not args.quiet:
        print_prune_table(results, [s for s in prunes for _ in precisions], graphs[0], options, console)
    elif len(results) > 1 and not args.quiet:
        print_precision_table(results, console)
    failed = [r for r in results if r.check is not None and not r.check.passed]
    if failed:
        c = failed[0].check
        print(
            f"error: --check failed at {failed[0].precision}: output '{c.worst_output}' differs from onnxruntime by "
            f"max_rel_err {c.max_rel_err:.3g} (max_abs_err {c.max_abs_err:.3g}) > tolerance {c.tolerance:g}",
            file=sys.stderr,
        )
        if not args.quiet and len(results) == 1:
            print_summary(result, console, args.nodes)
        return 1
    if len(results) > 1:
        return 0
    if not args.quiet:
        print_summary(result, console, args.nodes)
    return 0


def _prune_labels(text: Optional[str]) -> list[str]:
    """``--prune`` as canonical spec strings; [""] (no pruning) when not given."""
    if text is None:
        return [""]
    from .passes.prune import parse_prune_specs

    return [s.label for s in parse_prune_specs(text)]


def print_prune_table(results, specs: Sequence[str], graph, options, console: Console) -> None:
    """Accuracy against the unpruned fp32 model beside the cost on the chip, one row per (spec, precision)."""
    from . import api
    from .passes.prune import weight_sparsity

    t = Table(title="compression: accuracy vs the unpruned fp32 model, and cost", title_justify="left")
    for col in ("prune", "precision", "weight sparsity", "params", "latency ms", "energy mJ", "DRAM MiB",
                "cosine", "max abs err", "top-1"):
        t.add_column(col, justify="left" if col in ("prune", "precision") else "right")
    sparsity: dict[str, float] = {}
    for r, spec in zip(results, specs):
        if spec not in sparsity:
            sparsity[spec] = weight_sparsity(api.prepare_pruning(graph, replace(options, prune=spec)))
        a = r.accuracy
        t.add_row(spec, r.precision, f"{sparsity[spec]:.1%}", f"{r.model.get('params', 0):,}",
                  f"{r.latency_s * 1e3:.4f}", f"{r.energy_j * 1e3:.4f}",
                  f"{(r.dram_read_bytes + r.dram_write_bytes) / 2**20:.3f}",
                  f"{a.cosine_similarity:.5f}" if a else "-", f"{a.max_abs_err:.3g}" if a else "-",
                  f"{a.top1_agreement:.1%}" if a and a.top1_agreement is not None else "-")
    console.print(t)


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


def print_precision_table(results, console: Console) -> None:
    t = Table(title="precisions side by side", title_justify="left")
    for col in ("precision", "latency ms", "energy mJ", "DRAM MiB", "cosine vs fp32", "max abs err", "top-1 agreement"):
        t.add_column(col, justify="left" if col == "precision" else "right")
    for r in results:
        a = r.accuracy
        t.add_row(r.precision, f"{r.latency_s * 1e3:.4f}", f"{r.energy_j * 1e3:.4f}",
                  f"{(r.dram_read_bytes + r.dram_write_bytes) / 2**20:.3f}",
                  f"{a.cosine_similarity:.5f}" if a else "1 (reference)" if r.precision == "fp32" else "-",
                  f"{a.max_abs_err:.3g}" if a else "0" if r.precision == "fp32" else "-",
                  (f"{a.top1_agreement:.1%}" if a and a.top1_agreement is not None else "-"))
    console.print(t)


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


def print_summary(result, console: Console, top_nodes: int = 0) -> None:
    names = ", ".join(Path(p).name for p in result.model["path"].split(", "))
    t = Table(title=f"gspsim {result.gspsim_version}: {names} on {result.hardware['name']}",
              show_header=False, title_justify="left")
    t.add_column("metric", style="bold")
    t.add_column("value")
    rows = [
        ("mode / scheduler / precision", f"{result.mode} / {result.scheduler} / {result.precision}"),
        ("nodes / blocks / MACs", f"{result.model['nodes']} / {result.blocks} / {result.model['macs']:,}"),
        ("latency", f"{result.latency_cycles:,.0f} cycles = {result.latency_s * 1e3:.4f} ms"),
        ("throughput", f"{result.throughput_fps:,.1f} fps" + (f" (steady state, {result.frames} frames)" if result.frames > 1 else "")),
        ("lower bound / efficiency", f"{result.lower_bound_cycles:,.0f} cycles / {result.efficiency:.2f}"),
        ("energy / avg power", f"{result.energy_j * 1e3:.4f} mJ / {result.avg_power_w:.3f} W"),
        ("DRAM read", f"{_fmt_bytes(result.dram_read_bytes)} (weights {_fmt_bytes(result.dram_bytes_by_kind['read']['weights'])}, "
                      f"activations {_fmt_bytes(result.dram_bytes_by_kind['read']['activations'])}, "
                      f"spill {_fmt_bytes(result.dram_bytes_by_kind['read']['spill'])})"),
        ("DRAM write", f"{_fmt_bytes(result.dram_write_bytes)} (activations {_fmt_bytes(result.dram_bytes_by_kind['write']['activations'])}, "
                       f"spill {_fmt_bytes(result.dram_bytes_by_kind['write']['spill'])})"),
        ("on-chip traffic", _fmt_bytes(result.onchip_bytes)),
        ("core utilization", f"mean {sum(result.core_utilization) / len(result.core_utilization):.1%}, "
                             f"max {max(result.core_utilization):.1%}"),
    ]
    if result.accuracy is not None:
        a = result.accuracy
        top1 = f", top-1 agreement {a.top1_agreement:.1%}" if a.top1_agreement is not None else ""
        rows.append(("accuracy vs fp32", f"cosine {a.cosine_similarity:.5f}, max_abs_err {a.max_abs_err:.3g}{top1} "
                                         f"({a.samples} seeded inputs)"))
    if result.check is not None:
        c = result.check
        verdict = "[green]passed[/green]" if c.passed else "[red]FAILED[/red]"
        rows.append(("check vs onnxruntime", f"{verdict}: max_rel_err {c.max_rel_err:.2e}, max_abs_err {c.max_abs_err:.2e} "
                                             f"(tolerance {c.tolerance:g})"))
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    if len(result.streams) > 1 or any(s["fps_in"] for s in result.streams):
        st = Table(title="streams", title_justify="left")
        for col in ("model", "frames", "fps in", "mean latency ms", "max latency ms", "deadline misses", "fps out"):
            st.add_column(col, justify="left" if col == "model" else "right")
        for s in result.streams:
            st.add_row(Path(s["path"]).name, str(s["frames"]), f"{s['fps_in']:g}" if s["fps_in"] else "-",
                       f"{s['mean_latency_s'] * 1e3:.4f}", f"{s['max_latency_s'] * 1e3:.4f}",
                       str(s["deadline_misses"]), f"{s['throughput_fps']:,.1f}")
        console.print(st)
        console.print(f"shared resources: DRAM busy {result.dram_utilization:.1%}, "
                      f"interconnect busy {result.interconnect_utilization:.1%} of the run")
    if top_nodes:
        nt = Table(title=f"{top_nodes} slowest nodes", title_justify="left")
        for col in ("node", "op", "blocks", "cores", "start", "end", "MACs", "DRAM", "energy µJ"):
            nt.add_column(col, justify="left" if col in ("node", "op") else "right")
        for n in sorted(result.nodes, key=lambda n: n.end_cycle - n.start_cycle, reverse=True)[:top_nodes]:
            nt.add_row(n.name, n.op, str(n.blocks), str(len(n.cores)), f"{n.start_cycle:,.0f}", f"{n.end_cycle:,.0f}",
                       f"{n.macs:,}", _fmt_bytes(n.dram_bytes), f"{n.energy_j * 1e6:.2f}")
        console.print(nt)


def cmd_inspect(args: argparse.Namespace, console: Console) -> int:
    from collections import Counter

    from . import api
    from .ir.costs import op_cost

    path = args.model or str(api.default_model_path())
    graph = api.load_model(path, _input_shapes(args.input_shape), _max_memory(args))
    costs = {op.name: op_cost(op, graph.tensors) for op in graph.ops()}
    console.print(f"[bold]{path}[/bold]: {len(graph)} nodes, {graph.num_params:,} parameters "
                  f"({_fmt_bytes(graph.weight_bytes)}), {sum(c.macs for c in costs.values()):,} MACs")
    for name in graph.inputs:
        info = graph.tensors[name]
        console.print(f"  input  {name}: {info.dtype}{list(info.shape)}")
    for name in graph.outputs:
        info = graph.tensors[name]
        console.print(f"  output {name}: {info.dtype}{list(info.shape)}")
    for note in graph.notes:
        console.print(f"  frontend: {note}")
    counts = Counter(op.op_type for op in graph.ops())
    console.print("  ops: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    t = Table(title_justify="left")
    for col in ("node", "op", "output", "MACs", "vector ops", "weights", "reads", "writes"):
        t.add_column(col, justify="left" if col in ("node", "op", "output") else "right")
    for op in graph.ops():
        c = costs[op.name]
        out = graph.tensors[op.outputs[0]]
        t.add_row(op.name, op.op_type, f"{out.dtype}{list(out.shape)}", f"{c.macs:,}", f"{c.vector_ops:,}",
                  _fmt_bytes(c.weight_bytes), _fmt_bytes(c.activation_read_bytes), _fmt_bytes(c.write_bytes))
    console.print(t)
    return 0


def cmd_hw(args: argparse.Namespace, console: Console) -> int:
    from .hardware.config import load_hardware, preset_names

    if args.hw_command == "list":
        t = Table(title="hardware presets", title_justify="left")
        for col in ("name", "cores", "int8 TOPS", "DRAM GB/s", "shared SRAM", "mode", "description"):
            t.add_column(col, no_wrap=col != "description")
        for name in preset_names():
            hw = load_hardware(name)
            t.add_row(name, str(hw.cores.count), f"{hw.peak_ops_per_s('int8') / 1e12:g}",
                      f"{hw.dram.bandwidth_bytes_per_s / 1e9:g}", _fmt_bytes(hw.shared_memory.size_bytes),
                      hw.default_mode, hw.description)
        console.print(t)
        return 0
    hw = load_hardware(args.name)
    console.print(f"[bold]{hw.name}[/bold]: {hw.description}")
    for section, values in hw.to_dict().items():
        if isinstance(values, dict):
            console.print(escape(f"[{section}]"))
            for k, v in values.items():
                console.print(f"  {k} = {v}")
        elif section not in ("name", "description"):
            console.print(f"{section} = {values}")
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
    from .compare import COMPARE_COLUMNS, compare_rows, compare_schedulers, parse_scheduler_list, rows_to_csv
    from .engine.options import SimOptions
    from .hardware.config import load_hardware
    from .output_files import refuse_overwriting, write_text_atomic

    model_path = args.model or str(api.default_model_path())
    if args.csv:
        refuse_overwriting(args.csv, [model_path] + ([args.hw] if Path(args.hw).exists() else []), "--csv")
    names = parse_scheduler_list(args.schedulers)
    hw = load_hardware(args.hw)
    options = SimOptions(mode=args.mode, precision=args.precision, seed=args.seed, frames=args.frames,
                         execute=not args.timing_only, block_rows=args.block_rows)
    api.validate_options(options)
    shapes = _input_shapes(args.input_shape)
    limit = _max_memory(args)
    api.load_model(model_path, shapes, limit)  # report model errors once, before starting the processes
    with console.status(f"simulating {len(names)} strategies", spinner="dots") if not args.quiet else _nullcontext():
        results = compare_schedulers(model_path, hw, names, options, args.jobs, shapes, limit)
    rows = compare_rows(results)
    if args.csv:
        write_text_atomic(args.csv, rows_to_csv(rows))
    t = Table(title=f"{Path(model_path).name} on {hw.name}: {len(rows)} strategies", title_justify="left")
    for col in COMPARE_COLUMNS:
        t.add_column(col, justify="left" if col in ("scheduler", "mode") else "right")
    for row in rows:
        t.add_row(row["scheduler"], row["mode"], f"{row['latency_cycles']:,.0f}", f"{row['latency_ms']:.4f}",
                  f"{row['throughput_fps']:,.1f}", f"{row['energy_mj']:.4f}", f"{row['dram_mib']:.3f}",
                  f"{row['mean_utilization']:.1%}", f"{row['efficiency']:.3f}")
    console.print(t)
    return 0


COMMANDS = {"run": cmd_run, "compare": cmd_compare, "sweep": cmd_sweep, "plot": cmd_plot, "inspect": cmd_inspect, "hw": cmd_hw}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = make_console(quiet=bool(getattr(args, "quiet", False)))
    try:
        return COMMANDS[args.command](args, console)
    except GspsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
