"""What a simulation run will hold in memory, estimated from the lowered models and the options before it runs.

The frontend refuses a model whose weights and one frame's activations exceed
``--max-memory``.  A run multiplies what one frame needs: the engine and the
result keep records of every block of every frame (``--frames``, several
models), the kernels' inputs and outputs of every frame are kept, synthetic
calibration holds ``--calib-samples`` inputs, and the power series takes
memory per sample (``--power-resolution``).  This module adds those up so that
a run that cannot fit is refused in one line, naming the option, before
anything is simulated.

The per-block figure is measured, not derived from the engine's internals
(which change): ``python benchmarks/bench_run_memory.py`` runs the bundled CNN
timing-only at 100 and 400 frames under ``tracemalloc`` and reports the
marginal bytes per block and frame of the run and of writing its JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from .errors import ConfigError
from .frontend.memory import format_bytes

#: engine and result records per block of each frame (measured 660-830 B), and the result document's Python objects
#: and JSON text while it is written (~1.5 KB), rounded up
BYTES_PER_BLOCK_FRAME = 3 << 10
#: per frame and model: its release time, latency and throughput records
BYTES_PER_FRAME = 256
#: per power-series sample: its edges, energy and watts (numpy, then JSON lists)
BYTES_PER_POWER_SAMPLE = 128
#: power_series spreads events over samples in chunks of this many events (8 bytes per event and sample)
POWER_EVENT_CHUNK = 4096


@dataclass(frozen=True)
class ProgramSize:
    """One model of a run, as lowering made it."""

    path: str
    blocks: int
    frames: int
    #: bytes of one frame's graph inputs and outputs (kept for every frame when the kernels run)
    input_bytes: int
    output_bytes: int


@dataclass(frozen=True)
class RunMemory:
    """The estimate, by what causes it."""

    block_records: int
    frame_tensors: int
    power_series: int

    @property
    def total(self) -> int:
        return self.block_records + self.frame_tensors + self.power_series


def estimate_run_memory(programs: Sequence[ProgramSize], execute: bool,
                        power_samples: int = 0) -> RunMemory:
    """Bytes a run holds at its peak beyond the models themselves (Python integers: nothing overflows)."""
    block_frames = sum(p.blocks * p.frames for p in programs)
    events = max(block_frames, 1)
    return RunMemory(
        block_records=block_frames * BYTES_PER_BLOCK_FRAME + sum(p.frames for p in programs) * BYTES_PER_FRAME,
        frame_tensors=sum(p.frames * (p.input_bytes + p.output_bytes) for p in programs) if execute else 0,
        power_series=power_samples * (BYTES_PER_POWER_SAMPLE + 8 * min(events, POWER_EVENT_CHUNK)),
    )


def power_samples_at_least(latency_cycles_at_least: float, resolution: Optional[int]) -> int:
    """The fewest power-series samples a run of at least that latency has (0 for the default 200-sample series)."""
    if not resolution or not math.isfinite(latency_cycles_at_least):
        return 0
    return int(latency_cycles_at_least // resolution)


def check_run_memory(programs: Sequence[ProgramSize], execute: bool, power_samples: int, limit: int,
                     resolution: Optional[int] = None) -> RunMemory:
    """Refuse a run whose estimate exceeds ``limit``, naming the option that makes it large."""
    memory = estimate_run_memory(programs, execute, power_samples)
    if memory.total <= limit:
        return memory
    frames = max(p.frames for p in programs)
    blocks = sum(p.blocks for p in programs)
    parts = {
        "block_records": f"--frames {frames} x {blocks:,} blocks per frame need about "
                         f"{format_bytes(memory.block_records)} of engine and result records",
        "frame_tensors": f"--frames {frames} keep every frame's inputs and outputs: about "
                         f"{format_bytes(memory.frame_tensors)}",
        "power_series": f"--power-resolution {resolution} gives at least {power_samples:,} power samples: about "
                        f"{format_bytes(memory.power_series)}",
    }
    largest = max(parts, key=lambda k: getattr(memory, k))
    raise ConfigError(f"{parts[largest]}; the run needs about {format_bytes(memory.total)} in all, more than the "
                      f"memory limit {format_bytes(limit)} (raise it with --max-memory, or ask for less)")


__all__ = ["ProgramSize", "RunMemory", "check_run_memory", "estimate_run_memory", "power_samples_at_least"]
