"""Where each intermediate tensor lives: an on-chip ring buffer, or DRAM.

Streaming mode puts a tensor in a ring buffer when the buffer it needs fits the
ring-buffer budget (half of the shared on-chip memory; the other half holds
prefetched weights) and room is free when its producer starts.  The capacity a tensor needs is the largest window of
producer blocks one consumer block reads at once plus one producer block (so
the producer can run ahead), what the consumers hold while the producer writes
its next bands with every node on as many cores as it has bands
(:func:`bands_in_flight`), and for a tensor read by several nodes (a residual
fork) the span of producer blocks one consumer block keeps alive
(:func:`fork_spans`): the compiler's deadlock-free sizing.  ``--ring-depth N``
replaces it with exactly N producer blocks, for experiments with undersized
buffers (the engine then breaks deadlocks by spilling).  Buffers are allocated
from half of the shared memory just in time (see :func:`plan_buffers`).  A
consumer that reads the whole tensor (reshape, global pooling, softmax over the
blocked axis) needs the whole tensor on chip; when that does not fit, the
tensor spills: it goes through DRAM and the traffic is counted as spill.
Layer mode sends every intermediate tensor through DRAM.  Graph outputs are
always written to DRAM as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from ..hardware.config import HardwareConfig
from ..lowering.tasks import TaskGraph


@dataclass(frozen=True)
class BufferPlan:
    """The placement of one produced tensor."""

    tensor: str
    #: True: a candidate for an on-chip ring buffer of ``capacity`` bytes; False: always through DRAM
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


def fork_spans(tasks: TaskGraph) -> dict[str, int]:
    """For each tensor read by several nodes, the most producer blocks one consumer block keeps alive.

    A consumer block of a fork (say the Add closing a residual branch) reads
    the tensor's band [a, b) directly, but it can only run once the other
    branch has produced its own band, which transitively needed producer
    blocks up to some later index.  Everything between must stay buffered:
    span = (latest producer block reached through any path) - (earliest block
    read directly) + 1.
    """
    blocks = tasks.blocks
    readers: dict[str, set[int]] = {}
    for node in tasks.nodes:
        for t in node.op.activation_inputs:
            readers.setdefault(t, set()).add(node.index)
    forks = {t for t, r in readers.items() if len(r) > 1 and t in tasks.producer}
    if not forks:
        return {}
    reach: list[dict[str, int]] = [{} for _ in blocks]
    spans: dict[str, int] = {}
    for b in blocks:  # topological order
        mine = reach[b.id]
        for d in b.deps:
            for t, idx in reach[d].items():
                if mine.get(t, -1) < idx:
                    mine[t] = idx
        for inp in b.inputs:
            if inp.tensor in forks and inp.producer_blocks:
                idx = [blocks[p].index for p in inp.producer_blocks]
                if mine.get(inp.tensor, -1) < max(idx):
                    mine[inp.tensor] = max(idx)
        for inp in b.inputs:
            if inp.tensor in forks and inp.producer_blocks:
                first = min(blocks[p].index for p in inp.producer_blocks)
                spans[inp.tensor] = max(spans.get(inp.tensor, 0), mine[inp.tensor] - first + 1)
    return spans


def bands_in_flight(tasks: TaskGraph, cores: int) -> list[int]:
    """Bands each node may have in flight: one per core (or all its bands), so no node is starved of cores.

    A buffer too small for that would throttle its producer and consumers to
    fewer cores than the chip has; the planner rather spills such a tensor.
    """
    return [max(1, min(cores, len(n.blocks))) for n in tasks.nodes]


def _consumer_spans(tasks: TaskGraph, parallel: Sequence[int]) -> dict[str, int]:
    """Per tensor: the producer bands that ``parallel[c]`` consecutive blocks of a consumer c read at once."""
    ranges: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    blocks = tasks.blocks
    for b in blocks:
        for inp in b.inputs:
            if inp.producer_blocks:
                idx = [blocks[p].index for p in inp.producer_blocks]
                ranges.setdefault((inp.tensor, b.node), []).append((b.index, min(idx), max(idx)))
    spans: dict[str, int] = {}
    for (tensor, node), rows in ranges.items():
        rows.sort()
        k = parallel[node]
        widest = max(max(r[2] for r in rows[i:i + k]) - min(r[1] for r in rows[i:i + k]) + 1
                     for i in range(max(1, len(rows) - k + 1)))
        spans[tensor] = max(spans.get(tensor, 0), widest)
    return spans


def plan_buffers(
    tasks: TaskGraph,
    hw: HardwareConfig,
    mode: str,
    ring_depth: int | None,
    budget: int | None = None,
) -> Mapping[str, BufferPlan]:
    """Decide, for every tensor an op produces, whether it streams on chip or goes through DRAM.

    A tensor is a candidate for a ring buffer when its buffer fits ``budget``
    bytes (default: the ring half of shared memory) at all.  The engine then
    allocates candidates' buffers from that memory just in time, when the
    producer is about to start, and frees them when the last reader is done;
    a candidate that finds no room then spills for that frame.
    """
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
    spans = fork_spans(tasks) if mode != "layer" else {}
    budget = ring_budget(hw) if budget is None else budget
    parallel = bands_in_flight(tasks, hw.cores.count)
    in_flight = _consumer_spans(tasks, parallel) if not ring_depth else {}
    wanted: dict[str, int] = {}
    for node in tasks.nodes:
        for name in (o for o in node.op.outputs if o):
            info = tasks.tensors[name]
            largest = max((tasks.output_bytes(blocks[i], name) for i in node.blocks), default=info.nbytes)
            if ring_depth:  # exactly what the user asked for: undersized buffers deadlock and spill
                needed = ring_depth * largest
            else:  # what the consumers hold while the producer writes its next bands, every node at full width
                depth_bytes = (in_flight.get(name, 0) + parallel[node.index]) * largest
                needed = max(window.get(name, 0) + largest, depth_bytes, (spans.get(name, 0) + 1) * largest)
            wanted[name] = max(min(info.nbytes, needed), largest, 1)
    on_chip = {t for t, size in wanted.items() if mode != "layer" and readers.get(t, 0) and size <= budget}
    plans: dict[str, BufferPlan] = {}
    for name, capacity in wanted.items():
        consumed = readers.get(name, 0) > 0
        keep = name in on_chip
        plans[name] = BufferPlan(
            tensor=name,
            on_chip=keep,
            capacity=capacity if keep else 0,
            spill=consumed and not keep and mode != "layer",
            graph_output=name in tasks.graph.outputs,
            nbytes=tasks.tensors[name].nbytes,
            readers=readers.get(name, 0),
        )
    return plans
