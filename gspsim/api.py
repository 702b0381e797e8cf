"""The Python API: compile a model, simulate it, get a SimResult.

    import gspsim
    result = gspsim.simulate("model.onnx", hw="blaize-1600", mode="streaming", check=True)
    print(result.latency_s, result.energy_j, result.dram_read_bytes)
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from .check import compare_outputs, run_onnxruntime
from .engine.options import MODES, SimOptions
from .engine.simulator import simulate_tasks
from .errors import ConfigError, NotYetAvailable
from .frontend import import_onnx
from .hardware.config import HardwareConfig, load_hardware
from .inputs import check_inputs, synthetic_inputs
from .ir.graph import DataflowGraph
from .lowering.tasks import TaskGraph, lower_to_tasks
from .models import bundled_model_path
from .passes import run_default_passes
from .results.build import build_result
from .results.result import SimResult
from .scheduling import Scheduler, make_scheduler

#: the model ``run`` uses when none is given
DEFAULT_MODEL = "small-cnn"
DEFAULT_HARDWARE = "blaize-1600"
#: precisions the engine runs today
SUPPORTED_PRECISIONS: tuple[str, ...] = ("fp32",)
PLANNED_PRECISIONS: tuple[str, ...] = ("fp16", "bf16", "int8")

PathLike = Union[str, "os.PathLike[str]"]


def default_model_path() -> Path:
    return bundled_model_path(DEFAULT_MODEL)


def load_model(path: PathLike, input_shapes: Optional[Mapping[str, Sequence[int]]] = None) -> DataflowGraph:
    """ONNX file -> IR after the default passes (BN folding, Identity/Dropout removal)."""
    return run_default_passes(import_onnx(path, input_shapes))


def _hardware(hw: Union[str, PathLike, HardwareConfig]) -> HardwareConfig:
    return hw if isinstance(hw, HardwareConfig) else load_hardware(hw)


def validate_options(options: SimOptions) -> None:
    if options.mode is not None and options.mode not in MODES:
        raise ConfigError(f"--mode '{options.mode}': choose one of {', '.join(MODES)}")
    if options.precision in PLANNED_PRECISIONS:
        raise NotYetAvailable(
            f"--precision {options.precision} is not available yet (planned: int8/fp16/bf16 execution); use fp32"
        )
    if options.precision not in SUPPORTED_PRECISIONS:
        raise ConfigError(f"--precision '{options.precision}': choose one of fp32, fp16, bf16, int8")
    if options.frames < 1:
        raise ConfigError(f"--frames must be >= 1, got {options.frames}")
    if options.block_rows is not None and options.block_rows < 1:
        raise ConfigError(f"--block-rows must be >= 1, got {options.block_rows}")
    if options.ring_depth < 1:
        raise ConfigError(f"--ring-depth must be >= 1, got {options.ring_depth}")


def lower(graph: DataflowGraph, hw: HardwareConfig, options: SimOptions) -> TaskGraph:
    return lower_to_tasks(graph, hw, options.precision, options.block_rows)


def simulate(
    model: Union[PathLike, DataflowGraph, None] = None,
    hw: Union[str, PathLike, HardwareConfig] = DEFAULT_HARDWARE,
    options: Optional[SimOptions] = None,
    *,
    inputs: Optional[Mapping[str, np.ndarray]] = None,
    check: bool = False,
    scheduler: Optional[Scheduler] = None,
    input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
    **option_overrides: Any,
) -> SimResult:
    """Compile ``model`` (a path, an IR graph, or None for the bundled default) and simulate it.

    ``options`` (or keyword overrides such as ``mode="layer"``) say how; ``inputs``
    default to seeded synthetic tensors; ``check=True`` compares the outputs with
    onnxruntime's and stores the verdict in ``result.check``.
    """
    options = replace(options or SimOptions(), **option_overrides)
    validate_options(options)
    if model is None:
        model = default_model_path()
    graph = model if isinstance(model, DataflowGraph) else load_model(model, input_shapes)
    model_path = graph.source_path or str(model)
    hardware = _hardware(hw)
    if scheduler is None and options.scheduler:
        scheduler = make_scheduler(options.scheduler, options.seed)
    mode = options.mode or (scheduler.preferred_mode if scheduler is not None else None) or hardware.default_mode
    options = replace(options, mode=mode)
    strategy = scheduler if scheduler is not None else make_scheduler(options.scheduler_name, options.seed)
    tasks = lower(graph, hardware, options)
    first = check_inputs(inputs, graph) if inputs is not None else synthetic_inputs(graph, options.seed)
    frame_inputs = [first] + [synthetic_inputs(graph, options.seed + f) for f in range(1, options.frames)]
    stats, block_cycles = simulate_tasks(tasks, hardware, options, strategy, frame_inputs)
    verdict = None
    if check:
        if not options.execute:
            raise ConfigError("--check needs the kernels to run; drop --timing-only")
        reference = run_onnxruntime(model_path, frame_inputs[-1])
        verdict = compare_outputs(stats.outputs[-1], reference, options.precision)
    options = replace(options, scheduler=strategy.name or options.scheduler_name)
    return build_result(tasks, hardware, options, stats, block_cycles, model_path, verdict)
