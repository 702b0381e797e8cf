"""The tile shape of each node: how many output rows, channels and columns one thread computes.

A tile is a band of output rows x a group of output channels x a range of
columns (the GSP's 2-D block processing, Hot Chips 2017).  Splitting channels
as well as rows lets every core share the same one or two rows of a layer, so
a consumer can start as soon as a few producer rows exist and the buffers
between them stay a few rows deep (the depth-first tiles of DeFiNES, Mei et
al., HPCA 2023, and of Stream, Symons et al., IEEE TC 2025).

The compiler's rule (``--tile`` overrides it; docs/execution-model.md has the figure):

1. start from one output row, ``min(channels, cores)`` channel groups and whole rows;
2. a node whose weights would crowd the chip's weight memory (more than a
   quarter of it) computes all its rows in one band: its weights then stream
   through the chip once per frame, slice by slice, instead of staying on chip
   while its rows go by (which would leave room for few other nodes);
3. shrink until the tile's working set -- its input windows and its output --
   fits half a core's local memory (the other half holds the core's weight
   slices, which stream into the compute unit chunk by chunk): split columns
   first, then channel groups, then rows;
4. grow until a tile has at least :data:`MIN_TILE_CYCLES` of compute, so that
   threads are not dominated by their dispatch: merge columns, then channel
   groups, then rows (thin bands keep line buffers short), as long as the
   working set still fits and the node keeps at least one tile per core;
5. grow until a tile computes at least as long as its inputs take to reach
   its core at the core's share of the on-chip bandwidth (every channel group
   of a dense convolution reads the whole input window, and every band
   re-reads its halo rows): merge channel groups or rows, whichever helps
   more, while the working set fits and the merge cuts the transfer time per
   compute cycle by at least a tenth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional

from ..hardware.config import HardwareConfig
from ..hardware.cost_model import CostModel
from ..ir.costs import OpCost
from ..ir.graph import OpNode, TensorInfo
from .maps import TileAxes, needed_channels, needed_cols, needed_rows, range_bytes

#: a tile should have at least this many compute cycles (rule 4)
MIN_TILE_CYCLES = 256
#: a node whose weights exceed this share of the weight memory computes all its rows in one band (rule 2)
ONE_BAND_WEIGHT_SHARE = 4


@dataclass(frozen=True)
class TileShape:
    """Output rows, channels and columns of one tile: None = the compiler's choice, 0 = the whole axis."""

    rows: Optional[int] = None
    channels: Optional[int] = None
    cols: Optional[int] = None

    def __str__(self) -> str:
        parts = [f"{k}={'all' if v == 0 else v}" for k, v in
                 (("rows", self.rows), ("channels", self.channels), ("cols", self.cols)) if v is not None]
        return ",".join(parts) or "auto"


def parse_tile(text: str) -> TileShape:
    """``rows=R,channels=C,cols=W`` (any subset; 'all' = the whole axis) -> TileShape; ValueError if malformed."""
    values: dict[str, Optional[int]] = {"rows": None, "channels": None, "cols": None}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in values:
            raise ValueError(f"'{part}' is not rows=N, channels=N or cols=N")
        value = value.strip()
        if value == "all":
            values[key] = 0
            continue
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{key} must be a positive integer or 'all', got '{value}'")
        values[key] = int(value)
    return TileShape(**values)


@dataclass(frozen=True)
class NodeTiling:
    """A node's tile sizes, resolved against its output shape (every size >= 1)."""

    axes: TileAxes
    rows: int
    channels: int
    cols: int

    def shape(self) -> TileShape:
        return TileShape(self.rows, self.channels, self.cols)


def _extent(out: TensorInfo, axis: Optional[int]) -> int:
    return out.shape[axis] if axis is not None else 1


def working_set_bytes(op: OpNode, axes: TileAxes, out: TensorInfo, tensors: Mapping[str, TensorInfo],
                      cost: OpCost, rows: int, channels: int, cols: int) -> int:
    """Bytes one interior tile of this size holds: its input windows and its output."""
    r_extent, w_extent = _extent(out, axes.row), _extent(out, axes.col)
    r0 = max(0, min(r_extent - rows, r_extent // 2))  # a tile in the middle: full halos on every side
    w0 = max(0, min(w_extent - cols, w_extent // 2))
    row_rng, ch_rng, col_rng = (r0, r0 + rows), (0, channels), (w0, w0 + cols)
    total = 0
    for index, name in enumerate(op.inputs):
        if not name or name in op.weights:
            continue
        info = tensors[name]
        total += range_bytes(info, [
            needed_rows(*op.input_reader(index), info, out, axes.row, row_rng, tensors) if axes.row is not None else None,
            needed_channels(*op.input_reader(index), info, out, axes.channel, ch_rng) if axes.channel is not None else None,
            needed_cols(*op.input_reader(index), info, out, col_rng, tensors) if axes.col is not None else None,
        ])
    out_ranges = [(a, *r) for a, r in ((axes.row, row_rng), (axes.channel, ch_rng), (axes.col, col_rng))
                  if a is not None]
    total += range_bytes(out, out_ranges)
    return total


def tile_cycles(cost: OpCost, out: TensorInfo, axes: TileAxes, model: CostModel, precision: str,
                rows: int, channels: int, cols: int) -> int:
    """Compute cycles of one tile of this size (its share of the node's work, by the cost model)."""
    share = (rows / _extent(out, axes.row)) * (channels / _extent(out, axes.channel)) * (cols / _extent(out, axes.col))
    return model.compute_cycles(math.ceil(cost.macs * share), math.ceil(cost.vector_ops * share), precision)


def choose_tiling(op: OpNode, axes: TileAxes, out: Optional[TensorInfo], tensors: Mapping[str, TensorInfo],
                  cost: OpCost, hw: HardwareConfig, weight_capacity: int,
                  override: Optional[TileShape] = None) -> NodeTiling:
    """The compiler's tile size for one node (module docstring), or ``override`` where it gives a size."""
    if out is None or axes.row is None:
        return NodeTiling(axes, 1, 1, 1)
    r_extent, c_extent, w_extent = _extent(out, axes.row), _extent(out, axes.channel), _extent(out, axes.col)
    cores = hw.cores.count
    rows = 1 if cost.weight_bytes * ONE_BAND_WEIGHT_SHARE <= weight_capacity else r_extent
    channels = math.ceil(c_extent / min(c_extent, cores))
    cols = w_extent
    model = CostModel(hw)
    room = hw.cores.local_memory_bytes // 2

    def fits(r: int, c: int, w: int) -> bool:
        return working_set_bytes(op, axes, out, tensors, cost, r, c, w) <= room

    while not fits(rows, channels, cols):  # rule 3: split columns, then channels, then rows
        if cols > 1:
            cols = math.ceil(cols / 2)
        elif channels > 1:
            channels = math.ceil(channels / 2)
        elif rows > 1:
            rows = math.ceil(rows / 2)
        else:
            break
    def tiles(r: int, c: int, w: int) -> int:
        return math.ceil(r_extent / r) * math.ceil(c_extent / c) * math.ceil(w_extent / w)

    def allowed(r: int, c: int, w: int) -> bool:
        return fits(r, c, w) and tiles(r, c, w) >= min(cores, tiles(rows, channels, cols))

    while tile_cycles(cost, out, axes, model, op.precision, rows, channels, cols) < MIN_TILE_CYCLES:  # rule 4
        if cols < w_extent and allowed(rows, channels, min(w_extent, cols * 2)):
            cols = min(w_extent, cols * 2)
        elif channels < c_extent and allowed(rows, min(c_extent, channels * 2), cols):
            channels = min(c_extent, channels * 2)
        elif rows < r_extent and allowed(min(r_extent, rows * 2), channels, cols):
            rows = min(r_extent, rows * 2)
        else:
            break
    share = model.onchip_bytes_per_cycle / cores

    def transfer_per_cycle(r: int, c: int, w: int) -> float:
        """Cycles to bring the tile's inputs, per cycle of its compute (above 1: the tile is starved)."""
        moved = working_set_bytes(op, axes, out, tensors, cost, r, c, w)
        return moved / share / max(1, tile_cycles(cost, out, axes, model, op.precision, r, c, w))

    while (ratio := transfer_per_cycle(rows, channels, cols)) > 1:  # rule 5: the wider change that helps most
        options = [(r, c) for r, c in ((rows, min(c_extent, channels * 2)), (min(r_extent, rows * 2), channels))
                   if (r, c) != (rows, channels) and fits(r, c, cols)]
        best = min(options, key=lambda rc: transfer_per_cycle(rc[0], rc[1], cols), default=None)
        if best is None or transfer_per_cycle(best[0], best[1], cols) > 0.9 * ratio:
            break
        rows, channels = best
    if override is not None:
        rows = _overridden(rows, override.rows, r_extent)
        channels = _overridden(channels, override.channels, c_extent)
        cols = _overridden(cols, override.cols, w_extent)
    return NodeTiling(axes, rows, channels, cols)


def _overridden(chosen: int, given: Optional[int], extent: int) -> int:
    if given is None:
        return chosen
    return extent if given == 0 else min(extent, given)
