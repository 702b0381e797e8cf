"""Lowering: every graph node becomes blocks of work, the GSP's threads.

A node whose kernel can compute a band of output rows (``run_rows``) is split
into row bands along that axis (rows of an NCHW feature map, tokens of a
matmul); every other node is one block over the whole tensor.  Each block
depends on exactly the producer blocks its receptive field reads
(:mod:`gspsim.lowering.receptive_field`).

Block size rule (override with ``block_rows``): a band holds as many rows as
keep its output within a quarter of a core's local memory (room for the input
window and double buffering), and no more than ``ceil(rows / cores)`` so that a
layer spreads over every core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional

from ..errors import UnsupportedOpsError
from ..hardware.config import HardwareConfig
from ..engine.cost_model import sparse_op_cost
from ..ir.costs import OpCost, op_cost
from ..ir.graph import DataflowGraph, OpNode, TensorInfo
from ..kernels import Kernel, UnsupportedKernel, get_kernel
from ..optable import spec_of
from .receptive_field import RowRange, block_ranges, needed_rows, normalize_axis, overlapping


@dataclass(frozen=True)
class BlockInput:
    """One activation input of a block: how many bytes it reads and from which producer blocks."""

    tensor: str
    nbytes: int
    #: producer block ids; empty for a graph input (read from DRAM)
    producer_blocks: tuple[int, ...]
    #: band indices of the first and last producer block read (None: no producer blocks, or not recorded)
    bands: Optional[tuple[int, int]] = None


@dataclass(frozen=True)
class Block:
    """One thread of work: a band of a node's output rows."""

    id: int
    node: int
    index: int
    rows: RowRange
    macs: int
    vector_ops: int
    out_bytes: int
    inputs: tuple[BlockInput, ...]
    deps: tuple[int, ...]

    @property
    def in_bytes(self) -> int:
        return sum(i.nbytes for i in self.inputs)


@dataclass(frozen=True, eq=False)
class NodeTasks:
    """A node and its blocks."""

    index: int
    op: OpNode
    cost: OpCost
    kernel: Kernel
    #: output axis the blocks split, or None for a single whole-tensor block
    row_axis: Optional[int]
    blocks: tuple[int, ...]

    @property
    def is_view(self) -> bool:
        return self.cost.is_view


@dataclass(frozen=True, eq=False)
class TaskGraph:
    """The lowered program: nodes in topological order and their blocks."""

    graph: DataflowGraph
    nodes: tuple[NodeTasks, ...]
    blocks: tuple[Block, ...]
    #: per block, the blocks that read its output
    consumers: tuple[tuple[int, ...], ...]
    #: node index that produces each tensor (graph inputs and weights absent)
    producer: Mapping[str, int]
    #: ``TensorInfo.nbytes`` of the tensors lowering sized (every tensor a node reads), computed once
    tensor_bytes: Mapping[str, int] = field(default_factory=dict)

    def nbytes(self, tensor: str) -> int:
        """``TensorInfo.nbytes`` of ``tensor`` (a numpy product per call, so reused from lowering when known)."""
        size = self.tensor_bytes.get(tensor)
        return size if size is not None else self.graph.tensors[tensor].nbytes

    @property
    def tensors(self) -> Mapping[str, TensorInfo]:
        return self.graph.tensors

    def output_bytes(self, block: Block, tensor: str) -> int:
        """Bytes of ``tensor`` that ``block`` writes (its band, or the whole tensor for multi-output ops)."""
        op = self.nodes[block.node].op
        if sum(1 for o in op.outputs if o) == 1:
            return block.out_bytes
        return self.graph.tensors[tensor].nbytes


def rows_per_block(out: TensorInfo, axis: int, hw: HardwareConfig, override: Optional[int] = None) -> int:
    """The documented block-size rule (see module docstring)."""
    extent = out.shape[axis]
    if override:
        return max(1, min(extent, int(override)))
    row_bytes = max(1, out.nbytes // max(1, extent))
    by_memory = max(1, (hw.cores.local_memory_bytes // 4) // row_bytes)
    by_spread = max(1, math.ceil(extent / hw.cores.count))
    return max(1, min(extent, by_memory, by_spread))


def kernel_for(op: OpNode) -> Kernel:
    """The kernel of ``op`` at the precision the precision pass gave it."""
    return get_kernel(op.op_type, op.precision)


def check_supported(graph: DataflowGraph) -> None:
    """One error naming every node whose op has no kernel at its precision."""
    missing = []
    for op in graph.ops():
        try:
            kernel_for(op)
        except UnsupportedKernel:
            missing.append(f"node '{op.name}' ({op.op_type}{'' if op.precision == 'fp32' else ' at ' + op.precision})")
    if missing:
        where = graph.source_path or graph.name
        raise UnsupportedOpsError(f"{where}: {len(missing)} unsupported op(s): " + ", ".join(missing))


def _block_axis(op: OpNode, kernel: Kernel, tensors: Mapping[str, TensorInfo]) -> Optional[int]:
    outputs = [o for o in op.outputs if o]
    if kernel.run_rows is None or kernel.row_axis is None or len(outputs) != 1 or spec_of(op.op_type).is_view:
        return None
    out = tensors[outputs[0]]
    if not out.shape:
        return None
    axis = normalize_axis(kernel.row_axis, len(out.shape))
    if not 0 <= axis < len(out.shape) or out.shape[axis] <= 1:
        return None
    return axis


def _share(total: int, start: int, stop: int, extent: int) -> int:
    """The part of ``total`` that rows [start, stop) of ``extent`` carry; parts add up exactly."""
    return total * stop // extent - total * start // extent


def _graph_input_bands(
    op: OpNode,
    out: Optional[TensorInfo],
    axis: int,
    ranges: list[RowRange],
    tensors: Mapping[str, TensorInfo],
    bands: Mapping[str, object],
) -> dict[str, list[tuple[int, int, int]]]:
    """Bands of each graph input a blocked node reads, widened so that together they cover the input.

    The DMA brings a graph input in whole bands: rows that no block reads
    (between the taps of a strided 1x1 convolution, say) still cross DRAM once.
    """
    result: dict[str, list[tuple[int, int, int]]] = {}
    for i_index, name in enumerate(op.inputs):
        if not name or name in op.weights or name in bands or name in result or out is None:
            continue
        needs = [needed_rows(op, i_index, tensors[name], out, axis, r, tensors) for r in ranges]
        if any(n is None for n in needs) or len({n[0] for n in needs}) != 1:
            continue
        in_axis = needs[0][0]
        extent = tensors[name].shape[in_axis]
        los = [0] + [n[1] for n in needs[1:]]
        his = [max(n[2], nxt) for n, nxt in zip(needs, los[1:])] + [extent]
        result[name] = [(in_axis, lo, max(lo, hi)) for lo, hi in zip(los, his)]
    return result


def lower_to_tasks(graph: DataflowGraph, hw: HardwareConfig, block_rows: Optional[int] = None) -> TaskGraph:
    """Split every node into blocks and connect each block to the producer blocks it reads."""
    check_supported(graph)
    tensors = graph.tensors
    nodes: list[NodeTasks] = []
    blocks: list[Block] = []
    producer: dict[str, int] = {}
    # per produced tensor: (node index, axis, band starts, band stops, block ids)
    bands: dict[str, tuple[Optional[int], list[int], list[int], tuple[int, ...]]] = {}
    # TensorInfo.nbytes is a numpy product per call; every block of a node asks for it again
    nbytes_of: dict[str, int] = {}
    for n_index, op in enumerate(graph.ops()):
        kernel = kernel_for(op)
        # zero-skipping / compressed weights (zeros counted only for a chip that uses them)
        cost = sparse_op_cost(op_cost(op, tensors, count_zeros=not hw.sparsity.is_dense), op.precision, hw)
        axis = _block_axis(op, kernel, tensors)
        out = tensors[op.outputs[0]] if op.outputs and op.outputs[0] else None
        if axis is not None and out is not None:
            extent = out.shape[axis]
            ranges = block_ranges(extent, rows_per_block(out, axis, hw, block_rows))
        else:
            extent = 1
            ranges = [(0, 1)]
        ids: list[int] = []
        input_bands = _graph_input_bands(op, out, axis, ranges, tensors, bands) if axis is not None else {}
        for b_index, (start, stop) in enumerate(ranges):
            inputs: list[BlockInput] = []
            deps: set[int] = set()
            for i_index, name in enumerate(op.inputs):
                if not name or name in op.weights or any(bi.tensor == name for bi in inputs):
                    continue
                info = tensors[name]
                total = nbytes_of.get(name)
                if total is None:
                    total = nbytes_of[name] = info.nbytes
                need = (
                    needed_rows(op, i_index, info, out, axis, (start, stop), tensors)
                    if axis is not None and out is not None
                    else None
                )
                p_axis, p_starts, p_stops, p_ids = bands.get(name, (None, [], [], ()))
                if need is not None and p_axis is not None and need[0] == p_axis:
                    in_axis, lo, hi = need
                    nbytes = _share(total, lo, hi, info.shape[in_axis])
                    read = overlapping(p_starts, p_stops, lo, hi)
                    producers = tuple(p_ids[k] for k in read)
                    band_range = (read.start, read.stop - 1) if producers else None
                elif name in input_bands:
                    in_axis, lo, hi = input_bands[name][b_index]  # a graph input, DMA'd in bands
                    nbytes = _share(total, lo, hi, info.shape[in_axis])
                    producers = ()
                    band_range = None
                else:
                    nbytes = total
                    producers = p_ids
                    band_range = (0, len(p_ids) - 1) if p_ids else None
                inputs.append(BlockInput(name, nbytes, producers, band_range))
                deps.update(producers)
            block = Block(
                id=len(blocks),
                node=n_index,
                index=b_index,
                rows=(start, stop),
                macs=_share(cost.macs, start, stop, extent),
                vector_ops=_share(cost.vector_ops, start, stop, extent),
                out_bytes=_share(cost.write_bytes, start, stop, extent),
                inputs=tuple(inputs),
                deps=tuple(sorted(deps)),
            )
            blocks.append(block)
            ids.append(block.id)
        nodes.append(NodeTasks(n_index, op, cost, kernel, axis, tuple(ids)))
        for k, name in enumerate(o for o in op.outputs if o):
            producer[name] = n_index
            if k == 0 and axis is not None:
                bands[name] = (axis, [r[0] for r in ranges], [r[1] for r in ranges], tuple(ids))
            else:
                bands[name] = (None, [], [], tuple(ids))
    consumers: list[list[int]] = [[] for _ in blocks]
    for b in blocks:
        for d in b.deps:
            consumers[d].append(b.id)
    return TaskGraph(
        graph=graph,
        nodes=tuple(nodes),
        blocks=tuple(blocks),
        consumers=tuple(tuple(c) for c in consumers),
        producer=producer,
        tensor_bytes=nbytes_of,
    )
