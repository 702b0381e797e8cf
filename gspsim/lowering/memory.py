"""How the compiler splits the chip's on-chip memory: line buffers, weights, and each core's working set.

* **Line buffers** (the GSP's ring buffers between producer and consumer
  nodes) live in shared memory: by default half of it, or ``--buffer-budget``
  bytes (at most all of it).
* **Weights** live in the rest of shared memory and in the cores' local
  memories: each core keeps half of its local memory for the weight slices
  of the channel groups it is home to (channel group ``g`` of every node is
  homed on core ``g mod cores``), and the other half for its tiles' working
  set (:mod:`gspsim.lowering.tiling`).
"""

from __future__ import annotations

from typing import Optional

from ..hardware.config import HardwareConfig


def buffer_budget_bytes(hw: HardwareConfig, requested: Optional[int] = None) -> int:
    """Shared-memory bytes for line buffers: ``requested`` (at most all of shared memory) or half of it."""
    size = hw.shared_memory.size_bytes
    return size // 2 if requested is None else max(0, min(size, int(requested)))


def local_weight_bytes(hw: HardwareConfig) -> int:
    """Bytes of one core's local memory that hold weight slices."""
    return hw.cores.local_memory_bytes // 2


def weight_capacity_bytes(hw: HardwareConfig, buffer_budget: Optional[int] = None) -> int:
    """Bytes of weights the chip holds at once: shared memory left by the line buffers plus every core's weight half."""
    shared = hw.shared_memory.size_bytes - buffer_budget_bytes(hw, buffer_budget)
    return shared + hw.cores.count * local_weight_bytes(hw)
