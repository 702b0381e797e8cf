"""Lowering: every graph node becomes tiles of work (the GSP's threads), grouped in row bands.

A node whose kernel can compute a band of output rows (``run_rows``) is split
into **bands** of output rows along that axis, and each band into **tiles**:
channel groups x column ranges (:mod:`gspsim.lowering.tiling` picks the
sizes).  Every other node is one band of one tile over the whole tensor.

* A tile is the unit the scheduler places and a core computes: its MACs,
  vector operations, the bytes it reads of each input (its window: rows,
  channels and columns, :mod:`gspsim.lowering.maps`), the bytes it writes and
  its slice of the node's weights.
* A band is the unit of data dependence: it depends on exactly the producer
  bands its rows read, and it is complete when all its tiles are.  Its
  kernel runs on the real tensors when it is complete (the band's rows for
  every channel at once), which gives exactly the whole-tensor result whatever
  the tiling.

Nodes are in topological order; bands and tiles are numbered node by node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np

from ..errors import UnsupportedOpsError
from ..hardware.config import HardwareConfig
from ..hardware.cost_model import sparse_op_cost
from ..ir.costs import OpCost, op_cost
from ..ir.graph import DataflowGraph, OpNode, TensorInfo
from ..kernels import Kernel, UnsupportedKernel, fused_kernel, get_kernel
from .maps import (
    Range, TileAxes, needed_channels, needed_cols, needed_rows, normalize_axis, overlapping, range_bytes,
    split_ranges, tile_axes, weight_channel_axis,
)
from .tiling import NodeTiling, TileShape, choose_tiling


#: a window not computed yet (None is a computed "the whole extent")
_UNSET = object()


def _none() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class TileRead:
    """One activation input of a tile: the bytes it reads, where they come from, and what it already holds."""

    tensor: str
    nbytes: int
    #: producer tiles whose output the window covers (empty for a graph input); int64 arrays, since a window
    #: of a wide layer covers hundreds of producer tiles
    producer_tiles: np.ndarray = field(default_factory=_none)
    #: per producer tile: bytes of the window it wrote (by the rows it covers; they add up to ``nbytes``)
    shares: np.ndarray = field(default_factory=_none)
    #: per producer tile: bytes of its share that the same channel group's previous band read too (its halo)
    reused: np.ndarray = field(default_factory=_none)
    #: bytes of the window the previous band's window covered too (all of ``reused``, or the halo rows of an
    #: input with no producer tiles)
    overlap: int = 0


@dataclass(frozen=True)
class Block:
    """One tile: a thread of one node over a band of rows, a group of channels and a range of columns."""

    id: int
    node: int
    #: global id of the band it belongs to
    band: int
    #: tile index within its node, and its band, channel group and column tile within the node
    index: int
    band_index: int
    group: int
    col: int
    rows: Range
    channels: Range
    cols: Range
    macs: int
    vector_ops: int
    out_bytes: int
    #: bytes of the node's weights this tile uses (its channel group's slice, or all of them)
    weight_bytes: int
    inputs: tuple[TileRead, ...]
    #: the core that keeps its channel group's weight slice (see :func:`home_core`)
    home_core: int = 0
    #: the tile of the same channel group and columns in the node's previous band (-1 for the first band)
    previous: int = -1

    @property
    def in_bytes(self) -> int:
        return sum(i.nbytes for i in self.inputs)


@dataclass(frozen=True)
class BandLoad:
    """Rows of an input a band brings from DRAM when that input lives there: the rows earlier bands did not bring."""

    tensor: str
    nbytes: int


@dataclass(frozen=True)
class Band:
    """A band of a node's output rows: the unit of data dependence (complete when all its tiles are)."""

    id: int
    node: int
    index: int
    rows: Range
    #: global ids of its tiles
    tiles: range
    #: producer bands its tiles read
    deps: tuple[int, ...]
    #: bytes its tiles write
    out_bytes: int
    #: per activation input read from DRAM (when it lives there): the new rows this band loads
    loads: tuple[BandLoad, ...]
    #: per produced input: (tensor, first, last) band index within the producer node that the band reads
    reads: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True, eq=False)
class NodeTasks:
    """A node, its tiling and its bands and tiles."""

    index: int
    op: OpNode
    cost: OpCost
    kernel: Kernel
    tiling: NodeTiling
    bands: tuple[int, ...]
    blocks: tuple[int, ...]

    @property
    def row_axis(self) -> Optional[int]:
        return self.tiling.axes.row

    @property
    def is_view(self) -> bool:
        return self.cost.is_view


@dataclass(frozen=True, eq=False)
class TaskGraph:
    """The lowered program: nodes in topological order, their bands and tiles."""

    graph: DataflowGraph
    nodes: tuple[NodeTasks, ...]
    bands: tuple[Band, ...]
    blocks: tuple[Block, ...]
    #: per band, the bands that read its output
    band_consumers: tuple[tuple[int, ...], ...]
    #: node index that produces each tensor (graph inputs and weights absent)
    producer: Mapping[str, int]
    #: bytes of every tensor a node reads or writes, computed once
    tensor_bytes: Mapping[str, int] = field(default_factory=dict)

    def nbytes(self, tensor: str) -> int:
        size = self.tensor_bytes.get(tensor)
        return size if size is not None else self.graph.tensors[tensor].nbytes

    @property
    def tensors(self) -> Mapping[str, TensorInfo]:
        return self.graph.tensors

    def block_deps(self, block: int) -> tuple[int, ...]:
        """Producer tiles a tile waits for: every tile of the bands its band depends on."""
        return tuple(t for d in self.bands[self.blocks[block].band].deps for t in self.bands[d].tiles)

    def consumers(self, block: int) -> tuple[int, ...]:
        """Tiles that wait for this tile: every tile of the bands that read its band."""
        return tuple(t for c in self.band_consumers[self.blocks[block].band] for t in self.bands[c].tiles)


def home_core(group_base: int, group: int, cores: int) -> int:
    """Where a channel group's weight slice lives: groups are numbered across nodes in program order and dealt
    to the cores in turn, so a node's groups spread over the cores and consecutive nodes start where the last
    one ended (weight-stationary placement)."""
    return (group_base + group) % cores


def kernel_for(op: OpNode) -> Kernel:
    """The kernel of ``op`` at the precision the precision pass gave it."""
    if op.epilogue:
        return fused_kernel(op)
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


def _row_axis(op: OpNode, kernel: Kernel, out: Optional[TensorInfo], outputs: int) -> Optional[int]:
    if kernel.run_rows is None or kernel.row_axis is None or outputs != 1 or out is None or not out.shape:
        return None
    axis = normalize_axis(kernel.row_axis, len(out.shape))
    if not 0 <= axis < len(out.shape) or out.shape[axis] <= 1:
        return None
    return axis


def _share(total: int, start: int, stop: int, extent: int) -> int:
    """The part of ``total`` that ``[start, stop)`` of ``extent`` carries; parts add up exactly."""
    return total * stop // extent - total * start // extent


@dataclass(frozen=True)
class _Produced:
    """How a produced tensor is cut: its node's axes, band and tile layout."""

    node: int
    axes: TileAxes
    band_starts: list[int]
    band_stops: list[int]
    band_ids: tuple[int, ...]
    #: per band: its first tile id
    first_tile: tuple[int, ...]
    groups: list[Range]
    col_ranges: list[Range]


def _span(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def _tile_read(name: str, nbytes: int, p: Optional[_Produced], rows: Optional[tuple[int, int, int]],
               ch: Optional[tuple[int, int, int]], col: Optional[tuple[int, int, int]],
               before: Optional[tuple[int, int, int]], follows: bool) -> TileRead:
    """A tile's read of one input: the producer tiles it covers with the bytes each wrote (split by rows),
    and the bytes the same group's previous band read too (``before``: its window; ``follows``: it exists)."""
    aligned = rows is not None and (p is None or p.axes.row == rows[0])
    if aligned and before is not None and before[0] == rows[0]:
        overlap_rows: Optional[tuple[int, int]] = (max(before[1], rows[1]), min(before[2], rows[2]))
    else:
        overlap_rows = None
    height = rows[2] - rows[1] if rows is not None else 0
    if p is None:
        if overlap_rows is not None and height:
            return TileRead(name, nbytes, overlap=nbytes * max(0, overlap_rows[1] - overlap_rows[0]) // height)
        return TileRead(name, nbytes, overlap=nbytes if follows and rows is None else 0)
    n_cols = len(p.col_ranges)
    g_sel = range(len(p.groups))
    if ch is not None and p.axes.channel == ch[0]:
        g_sel = overlapping([g[0] for g in p.groups], [g[1] for g in p.groups], ch[1], ch[2])
    w_sel = range(n_cols)
    if col is not None and p.axes.col == col[0]:
        w_sel = overlapping([w[0] for w in p.col_ranges], [w[1] for w in p.col_ranges], col[1], col[2])
    if aligned and height:
        b_sel = overlapping(p.band_starts, p.band_stops, rows[1], rows[2])
        weight = [_span((rows[1], rows[2]), (p.band_starts[b], p.band_stops[b])) for b in b_sel]
        again = [_span(overlap_rows, (p.band_starts[b], p.band_stops[b])) if overlap_rows else 0 for b in b_sel]
    else:
        b_sel = range(len(p.band_ids))
        weight = [1] * len(b_sel)
        again = [1 if follows else 0] * len(b_sel)
    per_band = len(g_sel) * len(w_sel)
    # entries in (band, group, column) order; shares by cumulative rounding so that they add up to nbytes
    # exactly, and the reused parts to their total (the same arithmetic per entry as a loop, on arrays)
    weights = np.repeat(np.asarray(weight, dtype=np.int64), per_band)
    agains = np.repeat(np.asarray(again, dtype=np.int64), per_band)
    first = np.asarray([p.first_tile[b] for b in b_sel], dtype=np.int64)
    within = (np.asarray(g_sel, dtype=np.int64)[:, None] * n_cols + np.asarray(w_sel, dtype=np.int64)[None, :])
    tiles = (first[:, None] + within.reshape(1, -1)).reshape(-1)
    total = int(weights.sum())
    if total == 0:
        zeros = np.zeros(len(tiles), dtype=np.int64)
        return TileRead(name, nbytes, tiles, zeros, zeros, 0)
    shares = _rounded_parts(nbytes, weights, total)
    reused = np.minimum(shares, _rounded_parts(nbytes, agains, total))
    return TileRead(name, nbytes, tiles, shares, reused, int(reused.sum()))


def _rounded_parts(nbytes: int, weights: np.ndarray, total: int) -> np.ndarray:
    """``nbytes * done // total - nbytes * start // total`` for each entry, ``done`` the running sum of
    ``weights`` and ``start`` the one before it: parts that add up exactly."""
    done = weights.cumsum()
    if nbytes * total < 2 ** 62:  # int64 holds every product
        cut = nbytes * done // total
    else:  # Python integers for the rare huge tensor
        cut = np.asarray([nbytes * int(d) // total for d in done], dtype=np.int64)
    parts = cut.copy()
    parts[1:] -= cut[:-1]
    return parts


def lower_to_tasks(graph: DataflowGraph, hw: HardwareConfig, tile: Optional[TileShape] = None,
                   weight_capacity: Optional[int] = None) -> TaskGraph:
    """Tile every node and connect each band to the producer bands it reads.

    ``weight_capacity`` is the chip's weight memory (the tiling rule puts a node
    whose weights exceed it in one band); ``tile`` overrides the tile size.
    """
    from .memory import weight_capacity_bytes  # the chip's memory split, defined once there

    check_supported(graph)
    if weight_capacity is None:
        weight_capacity = weight_capacity_bytes(hw)
    tensors = graph.tensors
    nodes: list[NodeTasks] = []
    bands: list[Band] = []
    blocks: list[Block] = []
    producer: dict[str, int] = {}
    produced: dict[str, _Produced] = {}
    nbytes_of: dict[str, int] = {}
    group_base = 0
    cores = hw.cores.count

    def size(name: str) -> int:
        value = nbytes_of.get(name)
        if value is None:
            value = nbytes_of[name] = tensors[name].nbytes
        return value

    for n_index, op in enumerate(graph.ops()):
        kernel = kernel_for(op)
        cost = sparse_op_cost(op_cost(op, tensors, count_zeros=not hw.sparsity.is_dense), op.precision, hw)
        outputs = [o for o in op.outputs if o]
        out = tensors[outputs[0]] if outputs else None
        for o in outputs:
            size(o)
        axes = tile_axes(op, _row_axis(op, kernel, out, len(outputs)), out)
        tiling = choose_tiling(op, axes, out, tensors, cost, hw, weight_capacity, tile)
        ext = (lambda a: out.shape[a] if (a is not None and out is not None) else 1)
        row_ranges = split_ranges(ext(axes.row), tiling.rows)
        groups = split_ranges(ext(axes.channel), tiling.channels)
        col_ranges = split_ranges(ext(axes.col), tiling.cols)
        weight_split = axes.channel is not None and weight_channel_axis(op) is not None
        activation_inputs = [(i, name) for i, name in enumerate(op.inputs) if name and name not in op.weights]
        # first-occurrence inputs (an op may read one tensor twice, e.g. x * x)
        seen: set[str] = set()
        unique_inputs = [(i, n) for i, n in activation_inputs if not (n in seen or seen.add(n))]
        readers = {i: op.input_reader(i) for i, _ in unique_inputs}
        channel_window: dict[tuple[int, Range], Optional[tuple[int, int, int]]] = {}
        col_window: dict[tuple[int, Range], Optional[tuple[int, int, int]]] = {}
        band_ids: list[int] = []
        tile_ids: list[int] = []
        first_tiles: list[int] = []
        prev_hi: dict[str, int] = {}
        prev_window: dict[str, Optional[tuple[int, int, int]]] = {}
        r_extent, c_extent, w_extent = ext(axes.row), ext(axes.channel), ext(axes.col)
        per_band = len(groups) * len(col_ranges)
        for b_index, rows in enumerate(row_ranges):
            band_id = len(bands)
            deps: set[int] = set()
            loads: list[BandLoad] = []
            band_reads: list[tuple[str, int, int]] = []
            need_rows: dict[str, Optional[tuple[int, int, int]]] = {}
            for i, name in unique_inputs:
                info = tensors[name]
                need = needed_rows(*readers[i], info, out, axes.row, rows, tensors) if axes.row is not None else None
                need_rows[name] = need
                p = produced.get(name)
                if p is not None:
                    if need is not None and p.axes.row == need[0]:
                        read = overlapping(p.band_starts, p.band_stops, need[1], need[2])
                    else:
                        read = range(len(p.band_ids))
                    if len(read):
                        deps.update(p.band_ids[k] for k in read)
                        band_reads.append((name, read.start, read.stop - 1))
                # the rows a band brings from DRAM: those no earlier band of this node brought (each row once)
                if need is None:
                    new = size(name) if b_index == 0 else 0
                else:
                    start, hi = max(need[1], prev_hi.get(name, 0)), need[2]
                    new = range_bytes(info, [(need[0], start, hi)]) if hi > start else 0
                    prev_hi[name] = max(prev_hi.get(name, 0), hi)
                loads.append(BandLoad(name, new))
            first_tile = len(blocks)
            band_macs = _share(cost.macs, rows[0], rows[1], r_extent)
            band_vops = _share(cost.vector_ops, rows[0], rows[1], r_extent)
            band_out = _share(cost.write_bytes, rows[0], rows[1], r_extent)
            same_window: dict[tuple[str, Optional[tuple[int, int, int]], Optional[tuple[int, int, int]]], TileRead] = {}
            for g_index, chans in enumerate(groups):
                g_macs = _share(band_macs, chans[0], chans[1], c_extent)
                g_vops = _share(band_vops, chans[0], chans[1], c_extent)
                g_out = _share(band_out, chans[0], chans[1], c_extent)
                g_weight = _share(cost.weight_bytes, chans[0], chans[1], c_extent) if weight_split \
                    else cost.weight_bytes
                for w_index, cols in enumerate(col_ranges):
                    reads = []
                    for i, name in unique_inputs:
                        info = tensors[name]
                        r_need = need_rows[name]
                        # the windows of a channel group and of a column range are the same in every band
                        c_need = channel_window.get((i, chans), _UNSET)
                        if c_need is _UNSET:
                            c_need = channel_window[(i, chans)] = needed_channels(
                                *readers[i], info, out, axes.channel, chans) if axes.channel is not None else None
                        w_need = col_window.get((i, cols), _UNSET)
                        if w_need is _UNSET:
                            w_need = col_window[(i, cols)] = needed_cols(
                                *readers[i], info, out, cols, tensors) if axes.col is not None else None
                        # tiles of a band whose windows agree read alike (every channel group of a conv
                        # reads all input channels): one TileRead, shared
                        key = (name, c_need, w_need)
                        read = same_window.get(key)
                        if read is None:
                            nbytes = range_bytes(info, [r_need, c_need, w_need])
                            read = same_window[key] = _tile_read(
                                name, nbytes, produced.get(name), r_need, c_need, w_need,
                                prev_window.get(name) if b_index else None, b_index > 0)
                        reads.append(read)
                    blocks.append(Block(
                        id=len(blocks), node=n_index, band=band_id, index=len(tile_ids), band_index=b_index,
                        group=g_index, col=w_index, rows=rows, channels=chans, cols=cols,
                        macs=_share(g_macs, cols[0], cols[1], w_extent),
                        vector_ops=_share(g_vops, cols[0], cols[1], w_extent),
                        out_bytes=_share(g_out, cols[0], cols[1], w_extent),
                        weight_bytes=g_weight, inputs=tuple(reads),
                        home_core=home_core(group_base, g_index, cores),
                        previous=len(blocks) - per_band if b_index else -1,
                    ))
                    tile_ids.append(len(blocks) - 1)
            prev_window = dict(need_rows)
            bands.append(Band(
                id=band_id, node=n_index, index=b_index, rows=rows, tiles=range(first_tile, len(blocks)),
                deps=tuple(sorted(deps)), out_bytes=band_out, loads=tuple(loads), reads=tuple(band_reads),
            ))
            band_ids.append(band_id)
            first_tiles.append(first_tile)
        nodes.append(NodeTasks(n_index, op, cost, kernel, tiling, tuple(band_ids), tuple(tile_ids)))
        group_base += len(groups)
        for name in outputs:
            producer[name] = n_index
            produced[name] = _Produced(
                node=n_index, axes=axes if len(outputs) == 1 else TileAxes(None, None, None),
                band_starts=[r[0] for r in row_ranges], band_stops=[r[1] for r in row_ranges],
                band_ids=tuple(band_ids), first_tile=tuple(first_tiles),
                groups=groups if len(outputs) == 1 else [(0, 1)],
                col_ranges=col_ranges if len(outputs) == 1 else [(0, 1)],
            )
    band_consumers: list[list[int]] = [[] for _ in bands]
    for b in bands:
        for d in b.deps:
            band_consumers[d].append(b.id)
    return TaskGraph(
        graph=graph, nodes=tuple(nodes), bands=tuple(bands), blocks=tuple(blocks),
        band_consumers=tuple(tuple(c) for c in band_consumers), producer=producer, tensor_bytes=nbytes_of,
    )
