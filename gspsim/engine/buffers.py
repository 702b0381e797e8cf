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
    return _scan_reads(tasks, _forks(tasks), {})[3]


def _forks(tasks: TaskGraph) -> set[str]:
    """Produced tensors read by more than one node."""
    readers: dict[str, set[int]] = {}
    for node in tasks.nodes:
        for t in node.op.activation_inputs:
            readers.setdefault(t, set()).add(node.index)
    return {t for t, r in readers.items() if len(r) > 1 and t in tasks.producer}


def _scan_reads(tasks: TaskGraph, forks: set[str], whole: Mapping[str, int]):
    """One pass over every block's inputs: what :func:`plan_buffers` needs to know of the reads.

    Returns, per tensor, the most bytes one consumer block reads at once
    (``TaskGraph.output_bytes`` of its producer blocks; ``whole`` maps the
    outputs of multi-output nodes to their size) and the number of consumer
    blocks; per (tensor, consumer node), the rows (block index, first and
    last producer band read); and the :func:`fork_spans` of ``forks``.
    """
    blocks = tasks.blocks
    out_bytes = [b.out_bytes for b in blocks]
    index = [b.index for b in blocks]
    window: dict[str, int] = {}
    readers: dict[str, int] = {}
    ranges: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    reach: list[dict[str, int]] = [{} for _ in blocks] if forks else []
    spans: dict[str, int] = {}
    # the last block of the last node reading each fork: after it, reaching that fork no longer matters
    last_read = {t: -1 for t in forks}
    for node in tasks.nodes:
        if node.blocks:
            for t in node.op.activation_inputs:
                if t in last_read:
                    last_read[t] = max(last_read[t], node.blocks[-1])
    for b in blocks:  # topological order
        direct = []
        for inp in b.inputs:
            producers = inp.producer_blocks
            if not producers:
                continue
            tensor = inp.tensor
            size = whole.get(tensor)
            need = sum(map(out_bytes.__getitem__, producers)) if size is None else size * len(producers)
            if window.get(tensor, 0) < need:
                window[tensor] = need
            readers[tensor] = readers.get(tensor, 0) + 1
            bands = inp.bands  # the first and last producer band, as lowering found them
            # else: a producer's ids run in band order, its smallest / largest band at the ends
            row = (b.index, *(bands if bands is not None else (index[min(producers)], index[max(producers)])))
            key = (tensor, b.node)
            rows = ranges.get(key)
            if rows is None:
                ranges[key] = [row]
            else:
                rows.append(row)
            if tensor in forks:
                direct.append((tensor, row[1], row[2]))
        if not forks:
            continue
        if not direct and len(b.deps) == 1:
            reach[b.id] = reach[b.deps[0]]  # the same as its one producer's (never changed after its block)
            continue
        mine = reach[b.id]
        for d in b.deps:
            for t, idx in reach[d].items():
                if mine.get(t, -1) < idx and last_read[t] >= b.id:
                    mine[t] = idx
        for t, _, last in direct:
            if mine.get(t, -1) < last:
                mine[t] = last
        for t, first, _ in direct:
            spans[t] = max(spans.get(t, 0), mine[t] - first + 1)
    return window, readers, ranges, spans


def bands_in_flight(tasks: TaskGraph, cores: int) -> list[int]:
    """Bands each node may have in flight: one per core (or all its bands), so no node is starved of cores.

    A buffer too small for that would throttle its producer and consumers to
    fewer cores than the chip has; the planner rather spills such a tensor.
    """
    return [max(1, min(cores, len(n.blocks))) for n in tasks.nodes]


def _consumer_spans(ranges: Mapping[tuple[str, int], list[tuple[int, int, int]]],
                    parallel: Sequence[int]) -> dict[str, int]:
    """Per tensor: the producer bands that ``parallel[c]`` consecutive blocks of a consumer c read at once."""
    spans: dict[str, int] = {}
    for (tensor, node), rows in ranges.items():
        rows.sort()
        k = parallel[node]
        if k >= len(rows):  # one window over all rows
            widest = max(r[2] for r in rows) - min(r[1] for r in rows) + 1
        else:
            lows, highs = [r[1] for r in rows], [r[2] for r in rows]
            widest = max(max(highs[i:i + k]) - min(lows[i:i + k]) + 1 for i in range(len(rows) - k + 1))
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
    out_bytes = [b.out_bytes for b in blocks]
    # TaskGraph.output_bytes without a call per block: a block's band of a single-output node, else the whole tensor
    whole = {name: tasks.nbytes(name)
             for node in tasks.nodes if sum(1 for o in node.op.outputs if o) > 1 for name in node.op.outputs if name}
    window, readers, ranges, spans = _scan_reads(tasks, _forks(tasks) if mode != "layer" else set(), whole)
    budget = ring_budget(hw) if budget is None else budget
    parallel = bands_in_flight(tasks, hw.cores.count)
    in_flight = _consumer_spans(ranges, parallel) if not ring_depth else {}
    wanted: dict[str, int] = {}
    total: dict[str, int] = {}  # TensorInfo.nbytes is a numpy product per call: once per tensor
    for node in tasks.nodes:
        for name in (o for o in node.op.outputs if o):
            size = whole.get(name)
            nbytes = total[name] = size if size is not None else tasks.nbytes(name)
            if not node.blocks:
                largest = nbytes
            elif size is None:
                largest = max(map(out_bytes.__getitem__, node.blocks))
            else:
                largest = size
            if ring_depth:  # exactly what the user asked for: undersized buffers deadlock and spill
                needed = ring_depth * largest
            else:  # what the consumers hold while the producer writes its next bands, every node at full width
                depth_bytes = (in_flight.get(name, 0) + parallel[node.index]) * largest
                needed = max(window.get(name, 0) + largest, depth_bytes, (spans.get(name, 0) + 1) * largest)
            wanted[name] = max(min(nbytes, needed), largest, 1)
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
            nbytes=total[name],
            readers=readers.get(name, 0),
        )
    return plans
