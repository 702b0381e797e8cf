"""The Python API: compile a model, simulate it, get a SimResult.

    import gspsim
    result = gspsim.simulate("model.onnx", hw="blaize-1600", mode="streaming", check=True)
    print(result.latency_s, result.energy_j, result.dram_read_bytes)
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

from .check import compare_outputs, run_onnxruntime
from .engine import ENGINES, run_engine
from .engine.options import SimOptions
from .engine.program import Program, compile_program
from .engine.records import Workload
from .accuracy import AccuracyReport
from .content_cache import cached_accuracy_report
from .errors import ConfigError
from .frontend.memory import format_bytes, resolve_limit
from .hardware.config import HardwareConfig, load_hardware
from .inputs import check_inputs, synthetic_inputs
from .ir.graph import DataflowGraph
from .hardware.cost_model import CostModel
from .lowering import TileShape, lower_to_tasks, parse_tile, plan_layer_stacks
from .models import bundled_model_path
from .passes import run_default_passes
from .optable import Int8Role, spec_of
from .passes.precision import assign_precision, validate_overrides
from .results.build import build_result
from .results.result import SimResult
from .run_memory import ProgramSize, check_run_memory, power_samples_at_least
from .scheduling import Scheduler, make_scheduler
from .vocab import CALIBRATORS, MODES, PRECISIONS

#: the model ``run`` uses when none is given
DEFAULT_MODEL = "small-cnn"
DEFAULT_HARDWARE = "blaize-1600"
#: seeds are numpy SeedSequence entropy; offsets (calibration, accuracy, frames) are added to them
MAX_SEED = 2**63 - 1
#: every count option (frames, rows, depths, samples) is an int64 in the JSON result and in numpy
MAX_COUNT = 2**63 - 1
#: frames arriving later than this (with --fps) are refused: 10**15 cycles is 11 days at 1 GHz
MAX_RELEASE_CYCLES = 1e15

PathLike = Union[str, "os.PathLike[str]"]


def default_model_path() -> Path:
    return bundled_model_path(DEFAULT_MODEL)


def load_model(
    path: PathLike,
    input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
    max_memory_bytes: Optional[int] = None,
    input_values: Optional[Mapping[str, np.ndarray]] = None,
) -> DataflowGraph:
    """ONNX file -> IR after the default passes (BN folding, Identity/Dropout removal).

    A model whose weights and activations need more than ``max_memory_bytes``
    (default: the machine's physical memory) is refused before anything is allocated.
    ``input_values`` (the inputs the model will run on) specialise it where a small integer input decides
    a shape or control flow (``gspsim/frontend/bind_inputs.py``): later inputs must hold the same values.
    """
    from .frontend import check_cached_limits, import_onnx_with_facts
    from .model_cache import load_model_cached

    def load() -> tuple[DataflowGraph, Any]:
        graph, facts = import_onnx_with_facts(path, input_shapes, max_memory_bytes, input_values)
        return run_default_passes(graph), facts

    return load_model_cached(path, input_shapes, resolve_limit(max_memory_bytes), load, check_cached_limits,
                             input_values)


def _hardware(hw: Union[str, PathLike, HardwareConfig]) -> HardwareConfig:
    return hw if isinstance(hw, HardwareConfig) else load_hardware(hw)


def validate_options(options: SimOptions) -> None:
    if options.mode is not None and options.mode not in MODES:
        raise ConfigError(f"--mode '{options.mode}': choose one of {', '.join(MODES)}")
    if options.precision not in PRECISIONS:
        raise ConfigError(f"--precision '{options.precision}': choose one of {', '.join(PRECISIONS)}")
    validate_overrides(dict(options.precision_map), "--precision-map")
    if options.calibrator not in CALIBRATORS:
        raise ConfigError(f"--calibrator '{options.calibrator}': choose one of {', '.join(CALIBRATORS)}")
    if options.calibration_samples < 1:
        raise ConfigError(f"--calib-samples must be >= 1, got {options.calibration_samples}")
    if options.accuracy_samples < 0:
        raise ConfigError(f"--accuracy-samples must be >= 0, got {options.accuracy_samples}")
    if not 0 <= options.seed <= MAX_SEED:
        raise ConfigError(f"--seed must be between 0 and {MAX_SEED} (2**63 - 1), got {options.seed}")
    if options.frames < 1:
        raise ConfigError(f"--frames must be >= 1, got {options.frames}")
    if options.tile is not None:
        _tile_shape(options)
    if options.buffer_budget is not None and options.buffer_budget < 0:
        raise ConfigError(f"--buffer-budget must be >= 0 bytes, got {options.buffer_budget}")
    if options.engine not in ENGINES:
        raise ConfigError(f"--engine '{options.engine}': choose one of {', '.join(ENGINES)}")
    if options.power_resolution_cycles is not None and options.power_resolution_cycles < 1:
        raise ConfigError(f"--power-resolution must be >= 1 cycle, got {options.power_resolution_cycles}")
    for option, value in (("--frames", options.frames), ("--power-resolution", options.power_resolution_cycles),
                          ("--calib-samples", options.calibration_samples),
                          ("--accuracy-samples", options.accuracy_samples),
                          ("--buffer-budget", options.buffer_budget)):
        if value is not None and value > MAX_COUNT:
            raise ConfigError(f"{option} must be at most {MAX_COUNT} (2**63 - 1), got {value}")
    if options.prune:
        from .passes.prune import parse_prune_spec

        parse_prune_spec(options.prune)


def is_quantized(graph: DataflowGraph) -> bool:
    """Whether the model already holds quantized ops (a QDQ or QOperator model)."""
    return any(spec_of(op.op_type).int8 is Int8Role.INTEGER for op in graph.ops())


def prepare_precision(graph: DataflowGraph, options: SimOptions, max_memory_bytes: Optional[int] = None) -> DataflowGraph:
    """The graph as it runs at ``options.precision``: QDQ fused, int8-quantized if asked, precisions assigned.

    A QDQ model's DequantizeLinear -> op -> QuantizeLinear patterns become QLinear
    ops that run natively in int8.  ``--precision int8`` on a float model runs
    gspsim's post-training quantization first.  Then every op gets its
    precision (see gspsim.passes.precision).  Calibration data (a file, or
    ``calibration_samples`` synthetic inputs) must fit in ``max_memory_bytes``.
    """
    if is_quantized(graph):
        from .passes.qdq import fuse_qdq

        graph = fuse_qdq(graph)
    elif options.precision == "int8":
        from .content_cache import calibration_ranges
        from .passes.quantize import load_calibration, quantize_graph, synthetic_calibration

        if options.calibration:
            calibration = load_calibration(options.calibration, graph, max_memory_bytes)
        else:
            check_calibration_memory(graph, options.calibration_samples, resolve_limit(max_memory_bytes))
            calibration = synthetic_calibration(graph, options.calibration_samples, options.seed + 10_000)
        # nodes (or op types) the precision map sends to a float precision stay float
        keep_float = {key for key, value in options.precision_map if value != "int8"}
        ranges = calibration_ranges(graph, calibration, options.calibrator)  # cached on disk, by content
        graph = quantize_graph(graph, calibration, calibrator=options.calibrator, keep_float=keep_float, ranges=ranges)
    return assign_precision(graph, options.precision, dict(options.precision_map))


def prepare_graph(graph: DataflowGraph, options: SimOptions, max_memory_bytes: Optional[int] = None) -> DataflowGraph:
    """The graph as it is lowered: precisions assigned (:func:`prepare_precision`), then fused unless
    ``options.fuse`` is False (see gspsim.passes.fuse)."""
    graph = prepare_precision(graph, options, max_memory_bytes)
    if options.fuse:
        from .passes.fuse import fuse_elementwise

        graph = fuse_elementwise(graph)
    return graph


def prepare_pruning(graph: DataflowGraph, options: SimOptions) -> DataflowGraph:
    """The float model after ``options.prune`` (seeded), before any precision step; unchanged without it."""
    if not options.prune:
        return graph
    from .passes.prune import parse_prune_spec

    if is_quantized(graph):
        raise ConfigError("--prune works on float models; this model is already quantized")
    return parse_prune_spec(options.prune).apply(graph, options.seed)


def _onnxruntime_outputs(
    graph: DataflowGraph, path: str, inputs: Mapping[str, np.ndarray], pruned: bool
) -> dict[str, np.ndarray]:
    """onnxruntime's outputs of ``path``, or of ``graph`` written out when pruning changed it."""
    if not pruned:
        return run_onnxruntime(path, inputs)
    import tempfile

    from .ir.to_onnx import save_model

    with tempfile.TemporaryDirectory(prefix="gspsim-pruned-") as folder:
        written = os.path.join(folder, "pruned.onnx")
        save_model(replace(graph, source_path=""), written)
        return run_onnxruntime(written, inputs)


def _tile_shape(options: SimOptions) -> Optional[TileShape]:
    if options.tile is None:
        return None
    try:
        return parse_tile(options.tile)
    except ValueError as exc:
        raise ConfigError(f"--tile '{options.tile}': {exc}") from None


def compile_model(graph: DataflowGraph, hw: HardwareConfig, options: SimOptions) -> Program:
    """Lower a graph to tiles, plan its on-chip memory and build the engines' tables."""
    from .lowering.memory import weight_capacity_bytes

    mode = options.mode or hw.default_mode
    tasks = lower_to_tasks(graph, hw, _tile_shape(options), weight_capacity_bytes(hw, options.buffer_budget))
    plan = plan_layer_stacks(tasks, hw, mode, options.buffer_budget)
    return compile_program(tasks, plan, hw, CostModel(hw))


#: a model as it runs: the float graph after pruning, the graph as lowered, and its program
Lowered = tuple[DataflowGraph, DataflowGraph, Program]
#: how a run turns a loaded model into what it simulates (:func:`lower_model`, or a sweep's cache of it)
LowerFn = Callable[[DataflowGraph, HardwareConfig, SimOptions, int], Lowered]


def lower_model(source: DataflowGraph, hw: HardwareConfig, options: SimOptions, limit: int) -> Lowered:
    """Pruning, precision, fusion and lowering of one loaded model: everything a run does before the engine.

    A pure function of its arguments (the graphs are immutable), so a sweep may
    share its result between points that give it the same inputs
    (gspsim.sweep.programs).
    """
    pruned = prepare_pruning(source, options)
    graph = prepare_graph(pruned, options, limit)
    return pruned, graph, compile_model(graph, hw, options)  # refuses ops without a kernel


def check_calibration_memory(graph: DataflowGraph, samples: int, limit: int) -> None:
    """Synthetic calibration holds every sample's inputs at once: refuse more than the memory limit."""
    need = samples * sum(graph.tensors[name].nbytes for name in graph.inputs)
    if need > limit:
        raise ConfigError(f"--calib-samples {samples}: the synthetic calibration inputs need {format_bytes(need)}, "
                          f"more than the memory limit {format_bytes(limit)} (raise it with --max-memory)")


def check_memory(programs: Sequence[Program], hw: HardwareConfig, options: SimOptions, periods: Sequence[float],
                 paths: Sequence[str], limit: int) -> None:
    """Refuse, before it runs, a run whose frames, models and power series cannot fit in ``limit`` bytes."""
    sizes = [ProgramSize(path=path, blocks=len(p.tasks.blocks), frames=options.frames,
                         input_bytes=sum(p.tasks.nbytes(t) for t in p.tasks.graph.inputs),
                         output_bytes=sum(p.tasks.nbytes(t) for t in p.tasks.graph.outputs))
             for p, path in zip(programs, paths)]
    samples = 0
    if options.power_resolution_cycles:
        # the run lasts at least as long as its weights and every frame's inputs and outputs take on DRAM,
        # and until the last frame arrives
        dram = sum(p.weight_bytes + s.frames * (s.input_bytes + s.output_bytes)
                   for p, s in zip(programs, sizes)) / hw.dram_bytes_per_cycle
        arrival = max((p * (options.frames - 1) for p in periods), default=0.0)
        samples = power_samples_at_least(max(dram, arrival), options.power_resolution_cycles)
    check_run_memory(sizes, options.execute, samples, limit, options.power_resolution_cycles)


def simulate(
    model: Union[PathLike, DataflowGraph, None] = None,
    hw: Union[str, PathLike, HardwareConfig] = DEFAULT_HARDWARE,
    options: Optional[SimOptions] = None,
    *,
    inputs: Optional[Mapping[str, np.ndarray]] = None,
    check: bool = False,
    scheduler: Union[str, Scheduler, None] = None,
    input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
    fps: Optional[float] = None,
    max_memory_bytes: Optional[int] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    lower: LowerFn = lower_model,
    **option_overrides: Any,
) -> SimResult:
    """Compile ``model`` (a path, an IR graph, or None for the bundled default) and simulate it.

    ``options`` (or keyword overrides such as ``mode="layer"``) say how; ``scheduler``
    is a strategy name or a :class:`Scheduler` instance; ``inputs``
    default to seeded synthetic tensors; ``check=True`` compares the outputs with
    onnxruntime's and stores the verdict in ``result.check``; ``fps`` makes the
    frames arrive at that rate instead of all at once; ``progress(blocks done,
    total blocks)`` is called about 100 times while the engine runs; ``lower`` is
    :func:`lower_model` or a cache of it (a sweep's workers share it between points).
    """
    return simulate_many(
        [model], hw, options, inputs=[inputs], check=check, scheduler=scheduler, input_shapes=input_shapes,
        fps=[fps], max_memory_bytes=max_memory_bytes, progress=progress, lower=lower, **option_overrides,
    )


def simulate_many(
    models: Sequence[Union[PathLike, DataflowGraph, None]],
    hw: Union[str, PathLike, HardwareConfig] = DEFAULT_HARDWARE,
    options: Optional[SimOptions] = None,
    *,
    inputs: Optional[Sequence[Optional[Mapping[str, np.ndarray]]]] = None,
    check: bool = False,
    scheduler: Union[str, Scheduler, None] = None,
    input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
    fps: Optional[Sequence[Optional[float]]] = None,
    max_memory_bytes: Optional[int] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    lower: LowerFn = lower_model,
    **option_overrides: Any,
) -> SimResult:
    """Several models sharing one chip, each streaming ``options.frames`` frames at its own ``fps``.

    Per-model latency, deadline misses (a frame not done before the next one
    arrives) and throughput are in ``result.streams``; DRAM and interconnect
    utilization show the contention for shared resources.
    """
    options = replace(options or SimOptions(), **option_overrides)
    validate_options(options)
    hardware = _hardware(hw)
    fps = list(fps) if fps is not None else [None] * len(models)
    inputs = list(inputs) if inputs is not None else [None] * len(models)
    if len(fps) != len(models):
        raise ConfigError(f"give one --fps per model ({len(models)} models, {len(fps)} rates)")
    if len(inputs) != len(models):
        raise ConfigError(f"give one inputs mapping per model ({len(models)} models, {len(inputs)} given)")
    for rate in fps:
        if rate is not None and not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
            raise ConfigError(f"--fps must be a finite number > 0, got {rate}")
        if rate is not None and hardware.cores.clock_hz / rate * max(options.frames - 1, 0) > MAX_RELEASE_CYCLES:
            raise ConfigError(f"--fps {rate:g} with --frames {options.frames}: the last frame would arrive after "
                              f"{MAX_RELEASE_CYCLES:.0e} cycles; give a higher rate or fewer frames")
    if isinstance(scheduler, str):
        options = replace(options, scheduler=scheduler)
        scheduler = None
    if scheduler is None and options.scheduler:
        scheduler = make_scheduler(options.scheduler, options.seed)
    mode = options.mode or (scheduler.preferred_mode if scheduler is not None else None) or hardware.default_mode
    options = replace(options, mode=mode)
    if scheduler is not None:
        options = replace(options, scheduler=scheduler.name or options.scheduler_name)
    if check and not options.execute:
        raise ConfigError("--check needs the kernels to run; drop --timing-only")
    limit = resolve_limit(max_memory_bytes)
    paths: list[str] = []
    sources: list[DataflowGraph] = []
    unpruned_sources: list[DataflowGraph] = []
    graphs: list[DataflowGraph] = []
    programs: list[Program] = []
    for model, given in zip(models, inputs):
        if model is None:
            model = default_model_path()
        values = given if isinstance(given, Mapping) else None  # check_inputs refuses anything else, below
        source = model if isinstance(model, DataflowGraph) else load_model(model, input_shapes, max_memory_bytes,
                                                                             values)
        paths.append(source.source_path or str(model))
        unpruned_sources.append(source)
        pruned, graph, program = lower(source, hardware, options, limit)
        sources.append(pruned)
        graphs.append(graph)
        programs.append(program)
    periods = [hardware.cores.clock_hz / rate if rate else 0.0 for rate in fps]
    check_memory(programs, hardware, options, periods, paths, limit)
    workloads: list[Workload] = []
    reports: list[AccuracyReport] = []
    pruned = [source is not unpruned for source, unpruned in zip(sources, unpruned_sources)]
    for index, (source, unpruned, graph, program, given, period) in enumerate(
            zip(sources, unpruned_sources, graphs, programs, inputs, periods)):
        # a model that comes quantized has no fp32 model to compare with (use --check against onnxruntime)
        if options.accuracy_samples and (options.precision != "fp32" or options.precision_map or options.prune) \
                and not is_quantized(source):
            reference = assign_precision(unpruned, "fp32")  # pruning is measured against the unpruned model
            reports.append(cached_accuracy_report(reference, graph, options.precision, options.accuracy_samples,
                                                  options.seed))
        first = check_inputs(given, graph) if given is not None else synthetic_inputs(graph, options.seed)
        frame_inputs = ([first] + [synthetic_inputs(graph, options.seed + f) for f in range(1, options.frames)]
                        if options.execute else [])
        if scheduler is not None and index == 0:
            strategy = scheduler
        elif scheduler is not None:
            strategy = type(scheduler)(seed=options.seed)
        else:
            strategy = make_scheduler(options.scheduler_name, options.seed)
        workloads.append(Workload(
            program=program,
            scheduler=strategy,
            release_cycles=tuple(f * period for f in range(options.frames)),
            inputs=tuple(frame_inputs),
        ))
    run = run_engine(workloads, hardware, options, progress=progress)
    verdict = None
    if check:
        simulated, reference = {}, {}
        prefix = len(workloads) > 1
        for w, (wl, path) in enumerate(zip(workloads, paths)):
            # inputs the model was specialised to are constants of the graph, inputs of the file
            ref = _onnxruntime_outputs(sources[w], path, {**sources[w].bound_inputs, **wl.inputs[-1]}, pruned[w])
            for name, value in ref.items():
                key = f"m{w}/{name}" if prefix else name
                reference[key] = value
                simulated[key] = run.records.outputs[w][-1][name]
        # models that come quantized are compared with onnxruntime running the same quantized file
        verdict = compare_outputs(simulated, reference, options.precision, all(is_quantized(s) for s in sources))
    return build_result(workloads, hardware, options, run, paths, fps, verdict, merge_reports(reports))


def merge_reports(reports: Sequence[AccuracyReport]) -> Optional[AccuracyReport]:
    """One report for several models (output names prefixed m0/, m1/ ...)."""
    if len(reports) <= 1:
        return reports[0] if reports else None
    per = {f"m{i}/{k}": v for i, r in enumerate(reports) for k, v in r.per_output.items()}
    top1 = [r.top1_agreement for r in reports if r.top1_agreement is not None]
    return AccuracyReport(
        reference="fp32", precision=reports[0].precision, samples=reports[0].samples,
        max_abs_err=max(r.max_abs_err for r in reports),
        cosine_similarity=min(r.cosine_similarity for r in reports),
        cosine_similarity_mean=float(np.mean([r.cosine_similarity_mean for r in reports])),
        top1_agreement=float(np.mean(top1)) if top1 else None,
        per_output=per,
    )
