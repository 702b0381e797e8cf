"""Where each intermediate tensor lives: an on-chip ring buffer, or DRAM.

Streaming mode puts a tensor in a ring buffer when the buffer it needs fits the
ring-buffer budget (half of the shared on-chip memory; the other half holds
prefetched weights).  The capacity a tensor needs is the largest window of
producer blocks one consumer block reads at once plus one producer block (so
the producer can run ahead), and at least ``ring_depth`` producer blocks.  A
consumer that reads the whole tensor (reshape, global pooling, softmax over the
blocked axis) needs the whole tensor on chip; when that does not fit, the
tensor spills: it goes through DRAM and the traffic is counted as spill.
Layer mode sends every intermediate tensor through DRAM.  Graph outputs are
always written to DRAM as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..hardware.config import HardwareConfig
from ..lowering.tasks import TaskGraph


@dataclass(frozen=True)
class BufferPlan:
    """The placement of one produced tensor."""

    tensor: str
    #: True: an on-chip ring buffer of ``capacity`` bytes; False: through DRAM
    on_chip: bool
    capacity: int
    #: in DRAM only because it did not fit on chip (streaming mode): counted as spill traffic
    spill: bool
    #: a graph output (also written to DRAM)
    graph_output: bool
    #: bytes the producer writes in total
    nbytes: int
    #: consumer blocks that read it (0: only a graph output, or dead)
    readers: int


def ring_budget(hw: HardwareConfig) -> int:
    """Bytes of shared memory the ring buffers may use (the rest holds weights)."""
    return hw.shared_memory.size_bytes // 2


def weight_budget(hw: HardwareConfig) -> int:
    """Bytes of shared memory for prefetched weights."""
    return hw.shared_memory.size_bytes - ring_budget(hw)


def plan_buffers(tasks: TaskGraph, hw: HardwareConfig, mode: str, ring_depth: int) -> Mapping[str, BufferPlan]:
    """Decide, for every tensor an op produces, whether it streams on chip or goes through DRAM."""
    blocks = tasks.blocks
    window: dict[str, int] = {}
    readers: dict[str, int] = {}
    for b in blocks:
        for inp in b.inputs:
            if not inp.producer_blocks:
                continue
            need = sum(tasks.output_bytes(blocks[p], inp.tensor) for p in inp.producer_blocks)
            window[inp.tensor] = max(window.get(inp.tensor, 0), need)
            readers[inp.tensor] = readers.get(inp.tensor, 0) + 1
    budget = ring_budget(hw)
    plans: dict[str, BufferPlan] = {}
    for node in tasks.nodes:
        for name in (o for o in node.op.outputs if o):
            info = tasks.tensors[name]
            is_output = name in tasks.graph.outputs
            producer_blocks = [blocks[i] for i in node.blocks]
            largest = max((tasks.output_bytes(b, name) for b in producer_blocks), default=info.nbytes)
            needed = min(info.nbytes, max(window.get(name, 0) + largest, ring_depth * largest))
            needed = max(needed, largest, 1)
            consumed = readers.get(name, 0) > 0
            if mode == "layer" or not consumed:
                on_chip, spill = False, False
            elif needed <= budget:
                on_chip, spill = True, False
            else:
                on_chip, spill = False, True
            plans[name] = BufferPlan(
                name, on_chip, needed if on_chip else 0, spill, is_output, info.nbytes, readers.get(name, 0)
            )
    return plans
