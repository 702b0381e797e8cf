"""The per-tile lowering and engine tables as they were before node-level arrays (gspsim at 848c43f): the oracle of
test_lowering_arrays.

:func:`reference_lowering` builds every tile's ``Block`` and every read's
producer tiles and shares one at a time, in plain Python over the same window
maps; the package's :func:`gspsim.lowering.lower_to_tasks` computes them per
node over arrays and must give the same tiles, bands and reads.
:func:`reference_compile_program` builds the engine's tables tile by tile from
``tasks.blocks``; :func:`gspsim.engine.program.compile_program` builds them from
the tile columns and must give the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from gspsim.engine.program import BufferRead, WeightLoad
from gspsim.hardware.config import HardwareConfig
from gspsim.hardware.cost_model import CostModel, sparse_op_cost
from gspsim.ir.costs import op_cost
from gspsim.ir.graph import DataflowGraph
from gspsim.lowering.maps import (
    Range, TileAxes, needed_channels, needed_cols, needed_rows, overlapping, range_bytes, split_ranges, tile_axes,
    weight_channel_axis,
)
from gspsim.lowering.stacks import REFETCH, MemoryPlan
from gspsim.lowering.tasks import (
    Band, BandLoad, Block, NodeTasks, TaskGraph, TileRead, _row_axis, check_supported, home_core, kernel_for,
)
from gspsim.lowering.tiling import TileShape, choose_tiling
from program_reference import PerTileProgram, ring_and_band_tables

#: a window not computed yet (None is a computed "the whole extent")
_UNSET = object()


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


def reference_lowering(graph: DataflowGraph, hw: HardwareConfig, tile: Optional[TileShape] = None,
                       weight_capacity: Optional[int] = None) -> tuple[list[NodeTasks], list[Band], list[Block]]:
    """Tile every node and connect each band to the producer bands it reads.

    ``weight_capacity`` is the chip's weight memory (the tiling rule puts a node
    whose weights exceed it in one band); ``tile`` overrides the tile size.
    """
    from gspsim.lowering.memory import weight_capacity_bytes  # the chip's memory split, defined once there

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
        def ext(axis: Optional[int]) -> int:
            return out.shape[axis] if (axis is not None and out is not None) else 1

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
    return nodes, bands, blocks


def reference_compile_program(tasks: TaskGraph, plan: MemoryPlan, hw: HardwareConfig, cost: CostModel
                              ) -> PerTileProgram:
    """The engine's tables built tile by tile from ``tasks.blocks`` (gspsim.engine.program.compile_program at
    848c43f)."""
    nodes, bands, blocks = tasks.nodes, tasks.bands, tasks.blocks
    macs = np.fromiter((b.macs for b in blocks), dtype=np.int64, count=len(blocks))
    vops = np.fromiter((b.vector_ops for b in blocks), dtype=np.int64, count=len(blocks))
    precision = np.asarray([nodes[b.node].op.precision for b in blocks], dtype=object)
    cycles = cost.compute_cycles_array(macs, vops, precision) if len(blocks) else np.zeros(0, dtype=np.int64)

    graph_outputs, ring_index, rings, node_rings, source, band_loads, band_releases, band_readers = \
        ring_and_band_tables(tasks, plan)

    buffer_reads: list[tuple[BufferRead, ...]] = []
    shared_reads: dict[int, BufferRead] = {}  # by id of the lowering's TileRead (alive as long as the tasks)
    dram_reads: list[tuple[str, ...]] = []
    staging: list[int] = []
    staging_reuse: list[int] = []
    ring_writes: list[tuple[tuple[int, int], ...]] = []
    dram_write: list[tuple[int, str]] = []
    for b in blocks:
        node = nodes[b.node]
        if node.is_view:
            buffer_reads.append(())
            dram_reads.append(())
            staging.append(0)
            staging_reuse.append(0)
            ring_writes.append(())
            dram_write.append((0, "outputs"))
            continue
        reads, drams, stage, reuse = [], [], 0, 0
        for r in b.inputs:
            ring = source(r.tensor, b.node)
            if ring is not None and plan.root(r.tensor) == r.tensor:
                read = shared_reads.get(id(r))
                if read is None:  # tiles of a band whose windows agree share their TileRead, and this
                    read = shared_reads[id(r)] = BufferRead.of(r.tensor, r.nbytes, r.producer_tiles, r.shares,
                                                               r.reused)
                reads.append(read)
            elif ring is not None:  # through a view: the root's producer tiles, all of them, in equal shares
                producers = np.asarray([t for band in nodes[rings[ring].node].bands for t in bands[band].tiles],
                                       dtype=np.int64)
                n = len(producers)
                part = np.diff(r.nbytes * np.arange(n + 1, dtype=np.int64) // n) if n else producers
                again = part if b.previous >= 0 else np.zeros(n, dtype=np.int64)
                reads.append(BufferRead.of(rings[ring].tensor, r.nbytes, producers, part, again))
            else:
                drams.append(r.tensor)
                stage += r.nbytes
                reuse += r.overlap
        buffer_reads.append(tuple(reads))
        dram_reads.append(tuple(drams))
        staging.append(stage)
        staging_reuse.append(reuse)
        outs = [o for o in node.op.outputs if o]
        writes, to_dram, kind = [], 0, "intermediate"
        for name in outs:
            size = b.out_bytes if len(outs) == 1 else tasks.nbytes(name)
            r = ring_index.get(name)
            if r is not None:  # a band no one in the stack reads takes no room (but keeps its turn in the ring)
                writes.append((r, size if (r, b.band_index) in band_readers else 0))
            p = plan.tensors.get(name)
            if p is not None and p.to_dram:
                to_dram += size
                if name in graph_outputs:
                    kind = "outputs"
        ring_writes.append(tuple(writes))
        dram_write.append((to_dram, kind))

    weight_loads: list[tuple[WeightLoad, ...]] = []
    for node in nodes:
        w = node.cost.weight_bytes
        if not w:
            weight_loads.append(())
        elif plan.holds(node.index) or plan.resident:
            weight_loads.append((WeightLoad(node.index, -1, w),))
        else:  # slice by slice, one per channel group if the weights are cut by channel; per band if re-fetched
            firsts: dict[int, int] = {}
            for t in node.blocks:
                firsts.setdefault(blocks[t].group, t)
            slices = [(g, blocks[t].weight_bytes) for g, t in firsts.items()]
            if sum(n for _, n in slices) != w:
                slices = [(-1, w)]
            per_band = range(len(node.bands)) if plan.weight_policy[node.index] == REFETCH else (-1,)
            weight_loads.append(tuple(WeightLoad(node.index, g, n, k) for k in per_band for g, n in slices))
    return PerTileProgram(
        tasks=tasks, plan=plan, cycles=tuple(cycles.tolist()),
        home_core=tuple(b.home_core for b in blocks), previous=tuple(b.previous for b in blocks),
        buffer_reads=tuple(buffer_reads), dram_reads=tuple(dram_reads), staging_bytes=tuple(staging),
        staging_reuse=tuple(staging_reuse),
        ring_writes=tuple(ring_writes), dram_write=tuple(dram_write),
        band_loads=tuple(band_loads), band_releases=tuple(band_releases), band_readers=band_readers,
        rings=tuple(rings), node_rings=tuple(tuple(r) for r in node_rings), weight_loads=tuple(weight_loads),
        stack_bands=tuple(sum(len(nodes[n].bands) for n in s.nodes) for s in plan.stacks),
        weight_key=tuple(_weight_key(weight_loads[b.node], b.group, b.band_index) for b in blocks),
    )


def _weight_key(loads: Sequence[WeightLoad], group: int, band: int) -> tuple[int, int, int]:
    """The (node, group, band) key of the slice a tile of a node with these loads waits for."""
    if not loads:
        return (-1, -1, -1)
    first = loads[0]
    return (first.node, group if first.group >= 0 else -1, band if first.band >= 0 else -1)


def shares(nbytes: int, count: int) -> list[int]:
    """``nbytes`` split into ``count`` parts that add up exactly (part i = n(i+1)//c - ni//c)."""
    return [nbytes * (i + 1) // count - nbytes * i // count for i in range(count)]
