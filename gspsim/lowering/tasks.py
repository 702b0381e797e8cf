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
A node's tiles and reads are computed at once over arrays and kept as columns
(:mod:`gspsim.lowering.tiles`); ``TaskGraph.blocks`` builds a tile's
:class:`Block` record from them when it is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np

from ..errors import UnsupportedOpsError
from ..hardware.config import HardwareConfig
from ..hardware.cost_model import sparse_op_cost
from ..ir.costs import OpCost, op_cost
from ..ir.graph import DataflowGraph, OpNode, TensorInfo
from ..kernels import Kernel, UnsupportedKernel, fused_kernel, get_kernel
from .maps import (
    AxisRange, Range, TileAxes, needed_channels, needed_cols, needed_rows, normalize_axis, overlapping, range_bytes,
    split_ranges, tile_axes, weight_channel_axis,
)
from .ragged import offsets
from .tiles import (
    TILE_FIELDS, Block, BlockView, InputReads, Produced, ReadTable, TileColumns, TileRead, split_shares,
    window_bytes,
)
from .tiling import NodeTiling, TileShape, choose_tiling

__all__ = ["Band", "BandLoad", "Block", "NodeTasks", "TaskGraph", "TileRead", "check_supported", "home_core",
           "kernel_for", "lower_to_tasks"]


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
    #: its tiles' ids (consecutive)
    blocks: range

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
    #: per tile its :class:`Block` (built from ``tiles`` and ``reads`` when first asked for)
    blocks: BlockView
    #: per band, the bands that read its output
    band_consumers: tuple[tuple[int, ...], ...]
    #: node index that produces each tensor (graph inputs and weights absent)
    producer: Mapping[str, int]
    #: bytes of every tensor a node reads or writes, computed once
    tensor_bytes: Mapping[str, int] = field(default_factory=dict)

    @property
    def tiles(self) -> TileColumns:
        """Every tile's fields as int64 arrays (what code over all tiles should read rather than ``blocks``)."""
        return self.blocks.tiles

    @property
    def reads(self) -> ReadTable:
        """Every distinct tile read as columns (``tiles.read_ids`` index it)."""
        return self.blocks.reads

    def nbytes(self, tensor: str) -> int:
        size = self.tensor_bytes.get(tensor)
        return size if size is not None else self.graph.tensors[tensor].nbytes

    @property
    def tensors(self) -> Mapping[str, TensorInfo]:
        return self.graph.tensors

    def block_deps(self, block: int) -> tuple[int, ...]:
        """Producer tiles a tile waits for: every tile of the bands its band depends on."""
        return tuple(t for d in self.bands[int(self.tiles.band[block])].deps for t in self.bands[d].tiles)

    def consumers(self, block: int) -> tuple[int, ...]:
        """Tiles that wait for this tile: every tile of the bands that read its band."""
        return tuple(t for c in self.band_consumers[int(self.tiles.band[block])] for t in self.bands[c].tiles)


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



def _ranges(ranges: Sequence[Range]) -> tuple[np.ndarray, np.ndarray]:
    """Starts and stops of ranges as int64 arrays."""
    return (np.asarray([r[0] for r in ranges], dtype=np.int64), np.asarray([r[1] for r in ranges], dtype=np.int64))


def _distinct(windows: Sequence[Optional[AxisRange]]) -> tuple[list[Optional[AxisRange]], np.ndarray]:
    """The distinct windows (first-seen order), and each window's index among them."""
    index: dict[Optional[AxisRange], int] = {}
    ids = [index.setdefault(w, len(index)) for w in windows]
    return list(index), np.asarray(ids, dtype=np.int64)


class _Columns:
    """Chunks of the tile and read columns, node by node, joined at the end."""

    def __init__(self) -> None:
        self.tiles: dict[str, list[np.ndarray]] = {name: [] for name in (*TILE_FIELDS, "read_ids")}
        self.read_counts: list[np.ndarray] = []
        self.names: dict[str, int] = {}
        self.reads: dict[str, list[np.ndarray]] = {k: [] for k in ("tensor", "nbytes", "overlap")}
        self.inputs: list[InputReads] = []
        self.n_reads = 0

    def add_reads(self, tensor: str, reads: InputReads) -> int:
        """Append one node input's reads (their bytes and overlap; their entries wait until asked for); the id of
        its first."""
        first = self.n_reads
        n = len(reads)
        self.reads["tensor"].append(np.full(n, self.names.setdefault(tensor, len(self.names)), dtype=np.int64))
        self.reads["nbytes"].append(reads.nbytes.reshape(-1))
        self.reads["overlap"].append(reads.overlap())
        self.inputs.append(reads)
        self.n_reads += n
        return first

    def finish(self) -> tuple[TileColumns, ReadTable]:
        """Join the chunks, one column at a time, each column's chunks let go as soon as it is joined."""
        def cat(chunks: dict[str, list[np.ndarray]], key: str) -> np.ndarray:
            parts = chunks.pop(key)
            joined = np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, dtype=np.int64)
            parts.clear()
            return joined

        read_start = offsets(cat({"counts": self.read_counts}, "counts"))
        tiles = TileColumns(**{k: cat(self.tiles, k) for k in list(self.tiles)}, read_start=read_start)
        r = self.reads
        reads = ReadTable(names=tuple(self.names), tensor=cat(r, "tensor"), nbytes=cat(r, "nbytes"),
                          overlap=cat(r, "overlap"), inputs=tuple(self.inputs),
                          input_start=offsets(np.asarray([len(i) for i in self.inputs], dtype=np.int64)))
        return tiles, reads


def lower_to_tasks(graph: DataflowGraph, hw: HardwareConfig, tile: Optional[TileShape] = None,
                   weight_capacity: Optional[int] = None) -> TaskGraph:
    """Tile every node and connect each band to the producer bands it reads.

    ``weight_capacity`` is the chip's weight memory (the tiling rule puts a node
    whose weights exceed it in one band); ``tile`` overrides the tile size.
    Bands are built one by one (their dependences); a node's tiles and reads
    at once, over arrays (:mod:`gspsim.lowering.tiles`).
    """
    from .memory import weight_capacity_bytes  # the chip's memory split, defined once there

    check_supported(graph)
    if weight_capacity is None:
        weight_capacity = weight_capacity_bytes(hw)
    tensors = graph.tensors
    nodes: list[NodeTasks] = []
    bands: list[Band] = []
    node_ranges: list[tuple[list[Range], list[Range]]] = []
    columns = _Columns()
    n_tiles = 0
    producer: dict[str, int] = {}
    produced: dict[str, Produced] = {}
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
        def ext(axis: Optional[int]) -> int:
            return out.shape[axis] if (axis is not None and out is not None) else 1

        r_extent, c_extent, w_extent = ext(axes.row), ext(axes.channel), ext(axes.col)
        row_ranges = split_ranges(r_extent, tiling.rows)
        groups = split_ranges(c_extent, tiling.channels)
        col_ranges = split_ranges(w_extent, tiling.cols)
        weight_split = axes.channel is not None and weight_channel_axis(op) is not None
        activation_inputs = [(i, name) for i, name in enumerate(op.inputs) if name and name not in op.weights]
        # first-occurrence inputs (an op may read one tensor twice, e.g. x * x)
        seen: set[str] = set()
        unique_inputs = [(i, n) for i, n in activation_inputs if not (n in seen or seen.add(n))]
        readers = {i: op.input_reader(i) for i, _ in unique_inputs}
        per_band = len(groups) * len(col_ranges)
        first_tile = n_tiles
        # -- bands: the producer bands each reads (its dependences) and the rows it brings from DRAM ------------
        band_ids: list[int] = []
        row_needs: dict[str, list[Optional[AxisRange]]] = {name: [] for _, name in unique_inputs}
        prev_hi: dict[str, int] = {}
        for b_index, rows in enumerate(row_ranges):
            band_id = len(bands)
            deps: set[int] = set()
            loads: list[BandLoad] = []
            band_reads: list[tuple[str, int, int]] = []
            for i, name in unique_inputs:
                info = tensors[name]
                need = needed_rows(*readers[i], info, out, axes.row, rows, tensors) if axes.row is not None else None
                row_needs[name].append(need)
                p = produced.get(name)
                if p is not None:
                    if need is not None and p.axes.row == need[0]:
                        read = overlapping(p.band_starts.tolist(), p.band_stops.tolist(), need[1], need[2])
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
            tiles_start = first_tile + b_index * per_band
            bands.append(Band(
                id=band_id, node=n_index, index=b_index, rows=rows, tiles=range(tiles_start, tiles_start + per_band),
                deps=tuple(sorted(deps)), out_bytes=_share(cost.write_bytes, rows[0], rows[1], r_extent),
                loads=tuple(loads), reads=tuple(band_reads),
            ))
            band_ids.append(band_id)
        # -- tiles: every band x channel group x column range, over arrays --------------------------------------
        r_starts, r_stops = _ranges(row_ranges)
        g_starts, g_stops = _ranges(groups)
        w_starts, w_stops = _ranges(col_ranges)
        shape = (len(row_ranges), len(groups), len(col_ranges))
        n = len(row_ranges) * per_band

        def per_tile(values: np.ndarray, axis: int) -> np.ndarray:
            """A value per band (axis 0), per group (1) or per column range (2), repeated for every tile."""
            return np.broadcast_to(values.reshape([-1 if a == axis else 1 for a in range(3)]), shape).reshape(-1)

        def tile_shares(total: int) -> np.ndarray:
            """``total`` cut by rows, then channels, then columns (each tile's part; they add up exactly)."""
            band = split_shares(np.asarray([total], dtype=np.int64), r_starts, r_stops, r_extent)[0]
            group = split_shares(band, g_starts, g_stops, c_extent)
            return split_shares(group, w_starts, w_stops, w_extent).reshape(-1)

        index = np.arange(n, dtype=np.int64)
        band_index = per_tile(np.arange(len(row_ranges), dtype=np.int64), 0)
        group = per_tile(np.arange(len(groups), dtype=np.int64), 1)
        weights = (split_shares(np.asarray([cost.weight_bytes], dtype=np.int64), g_starts, g_stops, c_extent)[0]
                   if weight_split else np.full(len(groups), cost.weight_bytes, dtype=np.int64))
        chunk = {
            "node": np.full(n, n_index, dtype=np.int64), "band": per_tile(np.asarray(band_ids, dtype=np.int64), 0),
            "index": index, "band_index": band_index, "group": group,
            "col": per_tile(np.arange(len(col_ranges), dtype=np.int64), 2),
            "macs": tile_shares(cost.macs), "vector_ops": tile_shares(cost.vector_ops),
            "out_bytes": tile_shares(cost.write_bytes), "weight_bytes": per_tile(weights, 1),
            "home_core": (group_base + group) % cores,
            "previous": np.where(band_index > 0, first_tile + index - per_band, -1),
        }
        # -- reads: per input, one per band x distinct channel window x distinct column window ---------------
        read_ids = np.zeros((n, len(unique_inputs)), dtype=np.int64)
        for j, (i, name) in enumerate(unique_inputs):
            info = tensors[name]
            # the windows of a channel group and of a column range are the same in every band; tiles of a band
            # whose windows agree read alike (every channel group of a conv reads all input channels)
            chans, chan_of = _distinct([needed_channels(*readers[i], info, out, axes.channel, g)
                                        if axes.channel is not None else None for g in groups])
            cols, col_of = _distinct([needed_cols(*readers[i], info, out, w, tensors) if axes.col is not None else None
                                      for w in col_ranges])
            nbytes = window_bytes(info.shape, info.itemsize, row_needs[name], chans, cols)
            first = columns.add_reads(name, InputReads(nbytes, produced.get(name), tuple(row_needs[name]),
                                                       tuple(chans), tuple(cols)))
            per_read_band = len(chans) * len(cols)
            read_ids[:, j] = first + band_index * per_read_band + chan_of[group] * len(cols) + per_tile(col_of, 2)
        chunk["read_ids"] = read_ids.reshape(-1)
        for k, v in chunk.items():
            columns.tiles[k].append(v)
        columns.read_counts.append(np.full(n, len(unique_inputs), dtype=np.int64))
        nodes.append(NodeTasks(n_index, op, cost, kernel, tiling, tuple(band_ids), range(first_tile, first_tile + n)))
        node_ranges.append((groups, col_ranges))
        n_tiles += n
        group_base += len(groups)
        one = len(outputs) == 1
        for name in outputs:
            producer[name] = n_index
            produced[name] = Produced(
                node=n_index, axes=axes if one else TileAxes(None, None, None),
                band_starts=r_starts, band_stops=r_stops, band_ids=tuple(band_ids),
                first_tile=first_tile + np.arange(len(row_ranges), dtype=np.int64) * per_band,
                group_starts=g_starts if one else np.zeros(1, dtype=np.int64),
                group_stops=g_stops if one else np.ones(1, dtype=np.int64),
                col_starts=w_starts if one else np.zeros(1, dtype=np.int64),
                col_stops=w_stops if one else np.ones(1, dtype=np.int64),
            )
    band_consumers: list[list[int]] = [[] for _ in bands]
    for b in bands:
        for d in b.deps:
            band_consumers[d].append(b.id)
    tile_columns, read_table = columns.finish()
    return TaskGraph(
        graph=graph, nodes=tuple(nodes), bands=tuple(bands),
        blocks=BlockView(tile_columns, read_table, [b.rows for b in bands], node_ranges),
        band_consumers=tuple(tuple(c) for c in band_consumers), producer=producer, tensor_bytes=nbytes_of,
    )
