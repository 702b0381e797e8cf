"""Options of one simulation run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..vocab import Calibrator, Mode, Precision


@dataclass(frozen=True)
class SimOptions:
    """How to run: execution mode, scheduler, precision, frames and engine knobs."""

    #: "streaming" (the GSP: block-level dataflow through on-chip ring buffers), "layer" (the
    #: baseline: layer by layer through DRAM), or None for the chip's ``default_mode``
    mode: Optional[Mode] = None
    #: scheduler name; None picks the mode's default (depth-first for streaming, layer for layer)
    scheduler: Optional[str] = None
    #: the run's precision: fp32, fp16, bf16 or int8 (int8 quantizes a float model first)
    precision: Precision = "fp32"
    seed: int = 0
    #: inputs streamed through the chip one after another (pipelined in streaming mode)
    frames: int = 1
    #: run the kernels on the real tensors (False: timing only, every event still simulated)
    execute: bool = True
    #: the tile size of every node, e.g. "rows=2,channels=16" (None: the compiler's rule, gspsim.lowering.tiling)
    tile: Optional[str] = None
    #: shared-memory bytes for line buffers (None: half of shared memory; gspsim.lowering.memory)
    buffer_budget: Optional[int] = None
    #: which engine plays out the run (gspsim.engine.ENGINES): "fast" (compiled where it can be and the run is not
    #: small, gspsim.engine.compiled), "compiled", "python" (the fast engine's Python loop) or "reference" (the same
    #: results, checked by the test suite)
    engine: str = "fast"
    #: cycles per sample of the power series (None: 1/200 of the latency)
    power_resolution_cycles: Optional[int] = None
    #: per-node precision overrides: (node name or op type, precision) pairs
    precision_map: tuple[tuple[str, str], ...] = ()
    #: int8 post-training quantization: calibrator, calibration data (.npz or folder; None: seeded), samples
    calibrator: Calibrator = "minmax"
    calibration: Optional[str] = None
    calibration_samples: int = 32
    #: seeded inputs of the accuracy report against fp32 (0: no report)
    accuracy_samples: int = 4
    #: pruning applied to the float model before the precision step, e.g. "magnitude:0.5",
    #: "nm:2:4" or "channels:0.25" (gspsim.passes.prune); "" for none
    prune: str = ""
    #: fold elementwise ops (activations, standalone BatchNormalization, residual Adds ...) into the
    #: node that produces their input (gspsim.passes.fuse); False for ablations
    fuse: bool = True

    @property
    def scheduler_name(self) -> str:
        if self.scheduler:
            return self.scheduler
        return "depth-first" if self.mode == "streaming" else "layer"
