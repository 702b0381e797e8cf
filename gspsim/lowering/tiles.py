"""Tiles as columns: a node's tiles and their reads worked out over numpy arrays, ``Block`` records on demand.

A big model lowers to hundreds of thousands of tiles (YOLOv3-416: 540,826).
Building a Python record per tile, with its reads and its shares of the node's
MACs and bytes one at a time, cost about 39 us and 1 KiB a tile.  Here a node's
tiles are computed at once, as arrays over its bands x channel groups x column
ranges:

* :class:`TileColumns`: every tile's scalar facts (the fields of :class:`Block`),
  one int64 array each, indexed by tile id;
* :class:`ReadTable`: every distinct read of an input window (the tiles of a band
  whose windows agree share one), its bytes and overlap as columns, and its
  producer tiles, their shares and the reused (halo) bytes as flat arrays cut
  by offsets, computed for a node input when first asked for;
* :class:`BlockView`: ``TaskGraph.blocks``, a sequence of :class:`Block` that
  builds a tile's record from the columns when it is first asked for and keeps
  it, so code that reads tiles one by one (schedulers, reports) sees the same
  records as before, and code that reads columns never builds them.

The arithmetic is the per-tile lowering's, entry for entry (shares by
cumulative rounding, so they add up exactly); ``tests/test_lowering_arrays.py``
checks every field against that plain per-tile version on real models.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from typing import Iterator, NamedTuple, Optional, Sequence, Union, overload

import numpy as np

from .maps import AxisRange, Range, TileAxes, overlapping
from .ragged import concat_ranges, offsets, row_of, row_sums

#: products below this fit int64; larger ones are computed on Python integers
_INT64_SAFE = 2 ** 62


def _none() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, eq=False, slots=True)
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


class Block(NamedTuple):
    """One tile: a thread of one node over a band of rows, a group of channels and a range of columns.

    A named tuple rather than a dataclass: a big model has hundreds of thousands of tiles, and a tuple is built
    about ten times faster (immutable, compared and hashed by value all the same).
    """

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
    #: the core that keeps its channel group's weight slice (see :func:`gspsim.lowering.tasks.home_core`)
    home_core: int = 0
    #: the tile of the same channel group and columns in the node's previous band (-1 for the first band)
    previous: int = -1

    @property
    def in_bytes(self) -> int:
        return sum(i.nbytes for i in self.inputs)


#: the int64 columns of :class:`TileColumns`, in the order they are built
TILE_FIELDS = ("node", "band", "index", "band_index", "group", "col", "macs", "vector_ops", "out_bytes", "weight_bytes",
               "home_core", "previous")


@dataclass(frozen=True, eq=False)
class TileColumns:
    """Every tile's scalar facts as int64 arrays indexed by tile id (the fields of :class:`Block`).

    A tile's rows are its band's (``TaskGraph.bands[band].rows``), its channels and columns its node's group and
    column range (:attr:`BlockView.node_ranges`); its reads are
    ``read_ids[read_start[t]:read_start[t + 1]]``, rows of the :class:`ReadTable`,
    one per distinct activation input of its node in input order.
    """

    node: np.ndarray
    band: np.ndarray
    index: np.ndarray
    band_index: np.ndarray
    group: np.ndarray
    col: np.ndarray
    macs: np.ndarray
    vector_ops: np.ndarray
    out_bytes: np.ndarray
    weight_bytes: np.ndarray
    home_core: np.ndarray
    previous: np.ndarray
    read_start: np.ndarray
    read_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.node)


@dataclass(frozen=True, eq=False)
class ReadTable:
    """Every distinct tile read (:class:`TileRead`) as columns, node input by node input.

    A read's bytes and overlap are columns, computed in the lowering.  Its entries (producer tiles, shares,
    reused bytes) are computed only when asked for (:meth:`entries`), a node input's reads at a time, and kept:
    the memory plan puts most tensors in DRAM (cuts, graph inputs, layer mode), and the engines take reads of
    those by their bytes and overlap (band loads, staging), so most entries are never read (on YOLOv3-416, 1.3% of
    4.6 million are), while computing and keeping them all was half of the lowering's time and ~115 MiB.
    """

    #: tensor names; ``tensor[k]`` indexes them
    names: tuple[str, ...]
    tensor: np.ndarray
    nbytes: np.ndarray
    overlap: np.ndarray
    #: per node input: its reads (their windows); the reads of ``inputs[i]`` are ``input_start[i]:input_start[i+1]``
    inputs: tuple[InputReads, ...]
    input_start: np.ndarray
    #: entries of the node inputs asked for so far, by input, and -1: the whole table's (a cache: the table is
    #: immutable)
    _entries: dict[int, ReadEntries] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.nbytes)

    def _input_entries(self, i: int) -> ReadEntries:
        made = self._entries.get(i)
        if made is None:
            made = self._entries[i] = self.inputs[i].entries()
        return made

    def entries(self, ks: Sequence[int]) -> ReadEntries:
        """The entries of reads ``ks``, one read after the other (computing those of their node inputs first)."""
        ks = np.asarray(ks, dtype=np.int64)
        which = np.searchsorted(self.input_start, ks, side="right") - 1
        local = ks - self.input_start[which]
        order = np.argsort(which, kind="stable")
        inputs, cuts = np.unique(which[order], return_index=True)
        groups = [(self._input_entries(i), order[a:z]) for i, a, z in
                  zip(inputs.tolist(), cuts.tolist(), [*cuts[1:].tolist(), len(order)])]
        lengths = np.zeros(len(ks), dtype=np.int64)
        for made, at in groups:
            lengths[at] = made.start[local[at] + 1] - made.start[local[at]]
        start = offsets(lengths)
        columns = [np.zeros(int(start[-1]), dtype=np.int64) for _ in range(3)]
        for made, at in groups:
            into = concat_ranges(start[:-1][at], lengths[at])
            take = concat_ranges(made.start[local[at]], lengths[at])
            for column, values in zip(columns, (made.producer_tiles, made.shares, made.reused)):
                column[into] = values[take]
        return ReadEntries(start, *columns)

    def all_entries(self) -> ReadEntries:
        """The entries of every read (all computed and kept): for checks and tools that read the whole table."""
        made = self._entries.get(-1)
        if made is None:
            made = self._entries[-1] = self.entries(np.arange(len(self), dtype=np.int64))
        return made

    # the whole table's entry columns (:meth:`all_entries`)
    @property
    def start(self) -> np.ndarray:
        return self.all_entries().start

    @property
    def producer_tiles(self) -> np.ndarray:
        return self.all_entries().producer_tiles

    @property
    def shares(self) -> np.ndarray:
        return self.all_entries().shares

    @property
    def reused(self) -> np.ndarray:
        return self.all_entries().reused

    def totals(self, values: np.ndarray) -> np.ndarray:
        """Per read: the sum of ``values`` (an entry column of :meth:`all_entries`) over its entries."""
        return row_sums(values, self.start)


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while records without cycles are built by the hundred thousand: it would
    otherwise walk every live object again and again (40% of building a big model's records)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


class BlockView(Sequence[Block]):
    """``TaskGraph.blocks``: tile ``t``'s :class:`Block`, built from the columns on first access and kept.

    Reads are shared the same way: every tile that reads read ``k`` holds the same :class:`TileRead`.
    """

    #: tiles built at a time when the whole view is iterated (bounds the temporary Python lists)
    CHUNK = 1 << 16

    def __init__(self, tiles: TileColumns, reads: ReadTable, band_rows: Sequence[Range],
                 node_ranges: Sequence[tuple[Sequence[Range], Sequence[Range]]]) -> None:
        self.tiles = tiles
        self.reads = reads
        self._band_rows = band_rows
        #: per node: its channel groups' and column tiles' ranges
        self.node_ranges = node_ranges
        self._blocks: list[Optional[Block]] = [None] * len(tiles)
        self._read_objects: list[Optional[TileRead]] = [None] * len(reads)
        self._built = 0  # how many tiles (from 0) are known built, so that iterating twice costs nothing

    def __len__(self) -> int:
        return len(self._blocks)

    def read(self, k: int) -> TileRead:
        """Read ``k`` of the read table, built on first access and kept."""
        self._build_reads([k])
        r = self._read_objects[k]
        assert r is not None
        return r

    @overload
    def __getitem__(self, i: int) -> Block: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[Block, ...]: ...

    def __getitem__(self, i: Union[int, slice]) -> Union[Block, tuple[Block, ...]]:
        if isinstance(i, slice):
            return tuple(self[t] for t in range(*i.indices(len(self))))
        block = self._blocks[i]
        if block is None:
            t = i + len(self) if i < 0 else i
            self._build(t, t + 1)
            block = self._blocks[t]
            assert block is not None
        return block

    def __iter__(self) -> Iterator[Block]:
        if self._built < len(self):
            with cycle_collector_paused():
                for a in range(self._built, len(self), self.CHUNK):
                    self._build(a, min(len(self), a + self.CHUNK))
            self._built = len(self)
        return iter(self._blocks)  # type: ignore[arg-type]

    def _build(self, a: int, b: int) -> None:
        """Build tiles ``a .. b-1`` (and the reads they hold) that are not built yet.

        Field by field over the chunk (list comprehensions), then one tuple per tile; tiles that hold the same
        reads share one ``inputs`` tuple, and a node's tiles its range tuples.
        """
        c = self.tiles
        read_start = c.read_start[a:b + 1].tolist()
        ids = c.read_ids[read_start[0]:read_start[-1]]
        self._build_reads(np.unique(ids).tolist())
        reads = self._read_objects
        counts = np.diff(c.read_start[a:b + 1])
        held: dict[object, tuple[TileRead, ...]] = {}
        if len(counts) and (counts == 1).all():  # one input per tile: the read id is the key
            keys: list[object] = ids.tolist()
        else:
            flat, base = ids.tolist(), read_start[0]
            keys = [tuple(flat[s - base:e - base]) for s, e in zip(read_start, read_start[1:])]
        for key in keys:
            if key not in held:
                held[key] = (reads[key],) if isinstance(key, int) else tuple(reads[k] for k in key)  # type: ignore
        node, band, index, band_index, group, col, macs, vops, out, weight, home, previous = (
            getattr(c, name)[a:b].tolist() for name in TILE_FIELDS)
        ranges, rows_of = self.node_ranges, self._band_rows
        built = map(tuple.__new__, repeat(Block), zip(
            range(a, b), node, band, index, band_index, group, col, [rows_of[k] for k in band],
            [ranges[n][0][g] for n, g in zip(node, group)], [ranges[n][1][w] for n, w in zip(node, col)],
            macs, vops, out, weight, [held[k] for k in keys], home, previous))
        self._blocks[a:b] = [old if old is not None else new for old, new in zip(self._blocks[a:b], built)]

    def _build_reads(self, ks: list[int]) -> None:
        """Build the reads ``ks`` (sorted) that are not built yet."""
        made = self._read_objects
        ks = [k for k in ks if made[k] is None]
        if not ks:
            return
        r = self.reads
        at = np.asarray(ks, dtype=np.int64)
        entries = r.entries(at)
        starts, ends = entries.start[:-1].tolist(), entries.start[1:].tolist()
        names = [r.names[i] for i in r.tensor[at].tolist()]
        tiles, shares, reused = entries.producer_tiles, entries.shares, entries.reused
        nbytes, overlap = r.nbytes[at].tolist(), r.overlap[at].tolist()
        for k, name, size, halo, s, e in zip(ks, names, nbytes, overlap, starts, ends):
            made[k] = TileRead(name, size, tiles[s:e], shares[s:e], reused[s:e], halo)


# --- a node's tiles over arrays ----------------------------------------------------------------------------
def split_shares(totals: np.ndarray, starts: np.ndarray, stops: np.ndarray, extent: int) -> np.ndarray:
    """``totals[..., None] * stops // extent - totals[..., None] * starts // extent``: each total cut into the parts
    that ranges ``[start, stop)`` of ``extent`` carry (parts of a total add up to it exactly)."""
    t = totals[..., None]
    if int(totals.max(initial=0)) * max(1, extent) < _INT64_SAFE:
        return t * stops // extent - t * starts // extent
    t = t.astype(object)  # Python integers for the rare huge total
    return (t * stops.astype(object) // extent - t * starts.astype(object) // extent).astype(np.int64)


def segment_rounded_parts(nbytes: np.ndarray, weights: np.ndarray, totals: np.ndarray,
                          starts: np.ndarray) -> np.ndarray:
    """Per entry, within its segment (entries ``starts[k]`` to the next start): ``nbytes * done // total -
    nbytes * before // total``, ``done`` the running sum of the segment's ``weights`` and ``before`` the one
    before it; ``nbytes`` and ``totals`` are given per entry.  Parts of a segment add up exactly to its bytes
    (when its total is the sum of its weights).  A zero total gives zero parts."""
    if not len(weights):
        return np.zeros(0, dtype=np.int64)
    run = weights.cumsum()
    lengths = np.diff(starts)
    first = starts[:-1][lengths > 0]  # each non-empty segment's first entry
    before = np.where(first > 0, run[first - 1], 0)  # the running sum where each segment begins
    done = run - np.repeat(before, lengths[lengths > 0])
    safe_totals = np.where(totals == 0, 1, totals)
    if int(nbytes.max(initial=0)) * int(totals.max(initial=0)) < _INT64_SAFE:
        cut = nbytes * done // safe_totals
    else:
        cut = (nbytes.astype(object) * done.astype(object) // safe_totals.astype(object)).astype(np.int64)
    parts = cut.copy()
    parts[1:] -= cut[:-1]
    parts[first] = cut[first]
    parts[totals == 0] = 0
    return parts


@dataclass(frozen=True)
class Produced:
    """How a produced tensor is cut: its node's axes, band and tile layout (as its readers need it)."""

    node: int
    axes: TileAxes
    band_starts: np.ndarray
    band_stops: np.ndarray
    band_ids: tuple[int, ...]
    #: per band: its first tile id
    first_tile: np.ndarray
    group_starts: np.ndarray
    group_stops: np.ndarray
    col_starts: np.ndarray
    col_stops: np.ndarray


def _selection(starts: list[int], stops: list[int], need: Optional[AxisRange], axis: Optional[int]) -> range:
    """Indices of a producer's ranges along ``axis`` that the window ``need`` covers (all of them when it is
    read whole or cut along another axis)."""
    if need is not None and axis == need[0]:
        return overlapping(starts, stops, need[1], need[2])
    return range(len(starts))


def window_bytes(shape: Sequence[int], itemsize: int, row_needs: Sequence[Optional[AxisRange]],
                 chan_needs: Sequence[Optional[AxisRange]], col_needs: Sequence[Optional[AxisRange]]) -> np.ndarray:
    """Bytes of every window (band x channel window x column window): :func:`gspsim.lowering.maps.range_bytes`
    over arrays (the input's extents, cut along each window's axis; a later cut of the same axis wins)."""
    ext = np.empty((len(row_needs), len(chan_needs), len(col_needs), len(shape)), dtype=np.int64)
    ext[...] = np.asarray(shape, dtype=np.int64)
    for b, need in enumerate(row_needs):
        if need is not None:
            ext[b, :, :, need[0]] = max(0, need[2] - need[1])
    for c, need in enumerate(chan_needs):
        if need is not None:
            ext[:, c, :, need[0]] = max(0, need[2] - need[1])
    for w, need in enumerate(col_needs):
        if need is not None:
            ext[:, :, w, need[0]] = max(0, need[2] - need[1])
    return ext.prod(axis=-1) * itemsize


@dataclass(frozen=True, eq=False)
class ReadEntries:
    """Producer-tile entries of some reads, as CSR: the entries of the ``i``-th are ``start[i]:start[i + 1]``."""

    start: np.ndarray
    producer_tiles: np.ndarray
    shares: np.ndarray
    reused: np.ndarray


@dataclass(frozen=True)
class _ProducerBands:
    """Per consumer band: the producer bands its rows cover (``count`` of them from ``first``), each one's weight
    (the rows of it the window covers, or 1 when the rows are read whole) and the part of it the band before read
    too (its ``again`` rows)."""

    first: np.ndarray
    count: np.ndarray
    weight: list[np.ndarray]
    again: list[np.ndarray]


def _row_overlaps(p: Optional[Produced], row_needs: Sequence[Optional[AxisRange]]
                  ) -> tuple[list[bool], list[int], list[Optional[Range]]]:
    """Per band: are its rows cut along the producer's row axis, its height, and the rows it shares with the band
    before it (when both cut the same axis)."""
    aligned, height, overlap_rows = [], [], []
    for b, need in enumerate(row_needs):
        before = row_needs[b - 1] if b else None
        a = need is not None and (p is None or p.axes.row == need[0])
        aligned.append(a)
        height.append(need[2] - need[1] if need is not None else 0)
        overlap_rows.append((max(before[1], need[1]), min(before[2], need[2]))
                            if a and before is not None and need is not None and before[0] == need[0] else None)
    return aligned, height, overlap_rows


def _producer_bands(p: Produced, row_needs: Sequence[Optional[AxisRange]]) -> _ProducerBands:
    aligned, height, overlap_rows = _row_overlaps(p, row_needs)
    first, count, weights, agains = [], [], [], []
    band_starts, band_stops = p.band_starts.tolist(), p.band_stops.tolist()
    for b, need in enumerate(row_needs):
        if aligned[b] and height[b]:
            assert need is not None
            sel = overlapping(band_starts, band_stops, need[1], need[2])
            starts, stops = p.band_starts[sel.start:sel.stop], p.band_stops[sel.start:sel.stop]
            weight = np.maximum(0, np.minimum(need[2], stops) - np.maximum(need[1], starts))
            ov = overlap_rows[b]
            again = (np.maximum(0, np.minimum(ov[1], stops) - np.maximum(ov[0], starts)) if ov is not None
                     else np.zeros(len(sel), dtype=np.int64))
        else:
            sel = range(len(p.band_ids))
            weight = np.ones(len(sel), dtype=np.int64)
            again = np.full(len(sel), 1 if b > 0 else 0, dtype=np.int64)
        first.append(sel.start)
        count.append(len(sel))
        weights.append(weight)
        agains.append(again)
    return _ProducerBands(np.asarray(first, dtype=np.int64), np.asarray(count, dtype=np.int64), weights, agains)


def _rounded(nbytes: np.ndarray, done: np.ndarray, total: np.ndarray) -> np.ndarray:
    """``nbytes * done // total`` (the cut of :func:`segment_rounded_parts`; ``done <= total``, ``total > 0``)."""
    if int(nbytes.max(initial=0)) * int(total.max(initial=0)) < _INT64_SAFE:
        return nbytes * done // total
    return (nbytes.astype(object) * done.astype(object) // total.astype(object)).astype(np.int64)


@dataclass(frozen=True, eq=False)
class InputReads:
    """The distinct reads of one input of one node: one per band x channel window x column window, in that order.

    Holds the windows they read, so that their bytes and overlap are known at once and their entries (producer
    tiles, shares, reused bytes) can be computed when first asked for (:class:`ReadTable`).  A read covers the
    producer tiles of the producer bands its rows overlap (every band when the rows are read whole or cut along
    another axis) x the groups and columns its windows overlap; each producer tile's share is by the rows of its
    band the window covers, cut by cumulative rounding so the shares add up to the read's bytes, and its reused
    part is the share of the rows the previous band's window covered too (never more than its share).
    """

    #: bytes of every window (band x channel window x column window)
    nbytes: np.ndarray
    producer: Optional[Produced]
    row_needs: tuple[Optional[AxisRange], ...]
    chan_needs: tuple[Optional[AxisRange], ...]
    col_needs: tuple[Optional[AxisRange], ...]

    def __len__(self) -> int:
        return self.nbytes.size

    def _windows(self, p: Produced) -> tuple[list[range], list[range]]:
        """The producer's groups and column ranges each channel window and each column window covers."""
        return ([_selection(p.group_starts.tolist(), p.group_stops.tolist(), need, p.axes.channel)
                 for need in self.chan_needs],
                [_selection(p.col_starts.tolist(), p.col_stops.tolist(), need, p.axes.col) for need in self.col_needs])

    def overlap(self) -> np.ndarray:
        """Per read: bytes the previous band's window covered too -- the sum of its entries' reused bytes, computed
        without them.

        Entries of a read come producer band by producer band, ``G`` (groups x columns it covers) alike per band.
        With ``f(x) = nbytes * x // total``, an entry's share is ``f(C) - f(C')`` (``C`` the running weight,
        ``C'`` the one before it) and its reused part ``min(share, f(A) - f(A'))`` (``A`` the running ``again``
        rows).  A band none of whose rows were read before adds nothing; while every band so far was read before
        in full, ``A == C`` and the reused parts add up to ``f(C)``; only the entries of the other bands are
        worked out one by one (a 3x3 convolution's: one band in three; a 1x1's: none).
        """
        nbytes, p = self.nbytes, self.producer
        n_rows, n_chan, n_col = nbytes.shape
        if p is None:  # a graph input: no producer tiles; the halo is the share of the rows both bands read
            _, height, overlap_rows = _row_overlaps(p, self.row_needs)
            overlap = np.zeros_like(nbytes)
            for b in range(n_rows):
                ov, h = overlap_rows[b], height[b]
                if ov is not None and h:
                    overlap[b] = nbytes[b] * max(0, ov[1] - ov[0]) // h
                elif b > 0 and self.row_needs[b] is None:
                    overlap[b] = nbytes[b]
            return overlap.reshape(-1)
        bands = _producer_bands(p, self.row_needs)
        g_sel, w_sel = self._windows(p)
        per_band = n_chan * n_col
        # per read: its bytes, its entries per producer band (G) and its total weight
        g_count = np.tile((np.asarray([len(s) for s in g_sel], dtype=np.int64)[:, None]
                           * np.asarray([len(s) for s in w_sel], dtype=np.int64)[None, :]).reshape(-1), n_rows)
        flat = nbytes.reshape(-1)
        band_of_read = np.arange(len(flat), dtype=np.int64) // max(1, per_band)
        weight_sum = np.asarray([int(w.sum()) for w in bands.weight], dtype=np.int64)
        total = weight_sum[band_of_read] * g_count
        # the bands read before in full, from the first on: their reused parts add up to f(their weight)
        prefix, partial_band, partial_w, partial_a, partial_wc, partial_ac = [], [], [], [], [], []
        for b, (w, a) in enumerate(zip(bands.weight, bands.again)):
            full = np.logical_and.accumulate(a == w)
            prefix.append(int(w[full].sum()))
            at = np.flatnonzero(~full & (a > 0))  # bands read before in part (or after one that was): entry by entry
            if len(at):
                w_before, a_before = np.cumsum(w) - w, np.cumsum(a) - a
                partial_band.append(np.full(len(at), b, dtype=np.int64))
                partial_w.append(w[at])
                partial_a.append(a[at])
                partial_wc.append(w_before[at])
                partial_ac.append(a_before[at])
        safe_total = np.where(total > 0, total, 1)
        overlap = np.where(total > 0, _rounded(flat, np.asarray(prefix, dtype=np.int64)[band_of_read] * g_count,
                                               safe_total), 0)
        if partial_band:
            # every (read, partly reread producer band) pair, then its G entries
            m_band = np.concatenate(partial_band)
            pair_read = (m_band[:, None] * per_band + np.arange(per_band, dtype=np.int64)[None, :]).reshape(-1)
            pick = np.repeat(np.arange(len(m_band), dtype=np.int64), per_band)
            w, a, wc, ac = (np.concatenate(v)[pick] for v in (partial_w, partial_a, partial_wc, partial_ac))
            g = g_count[pair_read]
            keep = total[pair_read] > 0
            pair_read, w, a, wc, ac, g = (v[keep] for v in (pair_read, w, a, wc, ac, g))
            pair_ptr = offsets(g)
            pair = row_of(pair_ptr)
            j = np.arange(int(pair_ptr[-1]), dtype=np.int64) - pair_ptr[pair]
            n, t, gp = flat[pair_read][pair], total[pair_read][pair], g[pair]
            w_run = wc[pair] * gp + j * w[pair]  # the running weight before the entry
            a_run = ac[pair] * gp + j * a[pair]
            share = _rounded(n, w_run + w[pair], t) - _rounded(n, w_run, t)
            again = _rounded(n, a_run + a[pair], t) - _rounded(n, a_run, t)
            np.add.at(overlap, pair_read, row_sums(np.minimum(share, again), pair_ptr))
        return overlap

    def entries(self) -> ReadEntries:
        """Every read's entries, read after read; each read's entries in (producer band, group, column) order."""
        nbytes, p = self.nbytes, self.producer
        n_rows, n_chan, n_col = nbytes.shape
        if p is None:  # a graph input: no producer tiles
            zeros = np.zeros(0, dtype=np.int64)
            return ReadEntries(np.zeros(nbytes.size + 1, dtype=np.int64), zeros, zeros, zeros)
        bands = _producer_bands(p, self.row_needs)
        g_sel, w_sel = self._windows(p)
        b_lo, b_n = bands.first, bands.count
        g_lo, g_n = (np.asarray(v, dtype=np.int64) for v in ([s.start for s in g_sel], [len(s) for s in g_sel]))
        w_lo, w_n = (np.asarray(v, dtype=np.int64) for v in ([s.start for s in w_sel], [len(s) for s in w_sel]))
        weight_flat = np.concatenate(bands.weight) if bands.weight else np.zeros(0, dtype=np.int64)
        again_flat = np.concatenate(bands.again) if bands.again else np.zeros(0, dtype=np.int64)
        weight_base = np.zeros(n_rows, dtype=np.int64)
        weight_base[1:] = np.cumsum(b_n)[:-1]
        weight_sum = np.asarray([int(w.sum()) for w in bands.weight], dtype=np.int64)
        # entries of read (b, c, w), in (producer band, group, column) order: b_n[b] x g_n[c] x w_n[w]
        per_band = g_n[:, None] * w_n[None, :]  # (channel window, column window)
        lengths = (b_n[:, None, None] * per_band[None, :, :]).reshape(-1)
        totals = (weight_sum[:, None, None] * per_band[None, :, :]).reshape(-1)
        starts = offsets(lengths)
        read = row_of(starts)
        e = np.arange(int(starts[-1]), dtype=np.int64) - starts[read]
        rb, rc, rw = read // (n_chan * n_col), (read // n_col) % n_chan, read % n_col
        n_gw, n_w = per_band[rc, rw], w_n[rw]
        bi = e // np.maximum(n_gw, 1)
        gw = e - bi * n_gw
        gi = gw // np.maximum(n_w, 1)
        wi = gw - gi * n_w
        n_cols = len(p.col_starts)
        tiles = p.first_tile[b_lo[rb] + bi] + (g_lo[rc] + gi) * n_cols + (w_lo[rw] + wi)
        weights = weight_flat[weight_base[rb] + bi]
        agains = again_flat[weight_base[rb] + bi]
        flat_bytes = nbytes.reshape(-1)
        entry_bytes, entry_totals = flat_bytes[read], totals[read]
        shares = segment_rounded_parts(entry_bytes, weights, entry_totals, starts)
        reused = np.minimum(shares, segment_rounded_parts(entry_bytes, agains, entry_totals, starts))
        return ReadEntries(starts, tiles, shares, reused)
