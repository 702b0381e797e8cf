"""Options of one simulation run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

MODES: tuple[str, ...] = ("streaming", "layer")


@dataclass(frozen=True)
class SimOptions:
    """How to run: execution mode, scheduler, precision, frames and engine knobs."""

    #: "streaming" (the GSP: block-level dataflow through on-chip ring buffers), "layer" (the
    #: baseline: layer by layer through DRAM), or None for the chip's ``default_mode``
    mode: Optional[str] = None
    #: scheduler name; None picks the mode's default (depth-first for streaming, layer for layer)
    scheduler: Optional[str] = None
    precision: str = "fp32"
    seed: int = 0
    #: inputs streamed through the chip one after another (pipelined in streaming mode)
    frames: int = 1
    #: run the kernels on the real tensors (False: timing only, every event still simulated)
    execute: bool = True
    #: rows per block for every node (None: the documented rule in gspsim.lowering.tasks)
    block_rows: Optional[int] = None
    #: ring-buffer capacity in producer blocks (at least what one consumer block's window needs)
    ring_depth: int = 4
    #: cycles per sample of the power series (None: 1/200 of the latency)
    power_resolution_cycles: Optional[int] = None

    @property
    def scheduler_name(self) -> str:
        if self.scheduler:
            return self.scheduler
        return "depth-first" if self.mode == "streaming" else "layer"
