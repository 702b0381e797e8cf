"""What the engines need to know about one model's tiles, worked out once before a run.

Everything here follows from the lowered program (:mod:`gspsim.lowering.tasks`),
the compiler's memory plan (:mod:`gspsim.lowering.stacks`) and the cost model;
nothing depends on what happens during the run.  Both engines (the reference
and the fast one) read these tables, so they share the compile-time facts and
differ only in how they play out the run-time rules.

For each tile:

* its compute cycles (the cost model at its node's precision);
* its **home core** (:func:`gspsim.lowering.tasks.home_core`): where its
  channel group's slice of the weights lives;
* the tile of the same channel group and columns in the previous band: a
  tile that runs on the same core as that one still holds the rows both
  windows cover (its halo), and reads only the rest;
* what it reads: from a line buffer (the bytes, and the producer tiles they
  come from, for locality), or from a tensor in DRAM (through its band's DMA
  load and the staging area: the band loads each input row once);
* what it writes: into a line buffer (its band's room is reserved when the
  band's first tile starts) and/or to DRAM.

For each band: the DRAM loads of its inputs that live in DRAM, and the line
buffer bands it releases when it is complete.

The per-tile tables are numpy arrays (:class:`TileTables`), computed over the
lowering's tile columns and read table a node at a time: a big model has
hundreds of thousands of tiles and few distinct nodes.  The compiled engine
reads the arrays; the Python engines index per-tile tuples, which
:class:`Program` builds from the arrays the first time they are asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Generic, Iterable, Iterator, Mapping, Optional, Sequence, TypeVar, Union, overload

import numpy as np

from ..hardware.config import HardwareConfig
from ..hardware.cost_model import CostModel
from ..lowering.ragged import concat_ranges, offsets, row_of, row_sums
from ..lowering.stacks import REFETCH, MemoryPlan
from ..lowering.tasks import TaskGraph
from ..lowering.tiles import cycle_collector_paused

#: DRAM traffic kinds (keys of the result's ``dram_bytes_by_kind``)
READ_KINDS = ("weights", "inputs", "intermediate", "spill")
WRITE_KINDS = ("outputs", "intermediate", "spill")


_T = TypeVar("_T")
_K = TypeVar("_K")
_V = TypeVar("_V")

#: a read of at most this many producer tiles is summed in a Python loop by the fast engine, a longer one with numpy
SMALL_READ = 24


@dataclass(frozen=True, eq=False)
class BufferRead:
    """A tile's read of a line buffer: per producer tile, the bytes it wrote and the part the previous band of
    the tile's channel group read too (:class:`gspsim.lowering.tasks.TileRead`; int64 arrays).

    Built once per program (tiles whose windows agree share one), with what the fast engine's hot path reads:
    the totals, and for a short read its entries as Python tuples.
    """

    tensor: str
    nbytes: int
    producer_tiles: np.ndarray
    shares: np.ndarray
    reused: np.ndarray
    share_total: int = 0
    reused_total: int = 0
    #: (producer tile, share, reused) per producer tile when the read is short (<= SMALL_READ), else empty
    entries: tuple[tuple[int, int, int], ...] = ()

    @classmethod
    def of(cls, tensor: str, nbytes: int, tiles: np.ndarray, shares: np.ndarray, reused: np.ndarray) -> "BufferRead":
        small = len(tiles) <= SMALL_READ
        entries = tuple(zip(tiles.tolist(), shares.tolist(), reused.tolist())) if small else ()
        return cls(tensor, nbytes, tiles, shares, reused, int(shares.sum()), int(reused.sum()), entries)

    @property
    def small(self) -> bool:
        return len(self.producer_tiles) <= SMALL_READ

    def all_entries(self) -> tuple[tuple[int, int, int], ...]:
        return self.entries if self.small else tuple(
            zip(self.producer_tiles.tolist(), self.shares.tolist(), self.reused.tolist()))


@dataclass(frozen=True)
class Ring:
    """A streamed tensor's line buffer."""

    tensor: str
    node: int
    capacity: int
    #: bytes of each band of its producer node (a multi-output node: the whole tensor, one band)
    band_bytes: tuple[int, ...]


@dataclass(frozen=True)
class WeightLoad:
    """One DMA load of weights: a node's whole weights, or one channel group's slice (for one band, or every band)."""

    node: int
    #: channel group, or -1 for the whole node
    group: int
    nbytes: int
    #: the band it serves (a "refetch" node), or -1 for all of the node's bands
    band: int = -1


@dataclass(frozen=True, eq=False)
class TileTables:
    """Every tile's tables as int64 numpy arrays indexed by tile id: the primary form of a program's per-tile facts.

    A big model has hundreds of thousands of tiles (YOLOv3-416: 540,826), so nothing here is a Python object per
    tile.  A per-tile list is a CSR pair (:mod:`gspsim.lowering.ragged`): tile ``t``'s items are
    ``values[ptr[t]:ptr[t + 1]]``.  The compiled engine reads these arrays as they are; the Python engines read
    the per-tile tuples :class:`Program` builds from them on first use.
    """

    cycles: np.ndarray
    #: bytes the tile reads from staging (its windows of DRAM-resident tensors), and the part of them the
    #: previous band's tile of its group read too
    staging_bytes: np.ndarray
    staging_reuse: np.ndarray
    #: bytes the tile writes to DRAM, and their kind (an index in WRITE_KINDS)
    dram_write_bytes: np.ndarray
    dram_write_kind: np.ndarray
    #: the line buffers the tile writes: (ring index, bytes) per write, in its node's output order
    write_ptr: np.ndarray
    write_ring: np.ndarray
    write_bytes: np.ndarray
    #: the tile's line-buffer reads, in its node's input order: ids of the distinct reads below
    read_ptr: np.ndarray
    read_id: np.ndarray
    #: the DRAM tensors the tile reads (through its band's loads and the staging area): ids of the streams below
    stream_ptr: np.ndarray
    stream_id: np.ndarray
    # per distinct line-buffer read (tiles whose windows agree share one), numbered in the order tiles first use
    # them: the ring it reads, its bytes, and per producer tile (entry) the bytes it wrote and the part of them
    # the previous band of the reading tile's group read too
    read_ring: np.ndarray
    read_nbytes: np.ndarray
    entry_ptr: np.ndarray
    entry_tile: np.ndarray
    entry_share: np.ndarray
    entry_reused: np.ndarray
    # per stream (a DRAM-resident tensor one node reads), numbered node by node in input order
    stream_node: np.ndarray
    stream_tensor: tuple[str, ...]


class _PerTileView(Generic[_T]):
    """A per-tile tuple of :class:`Program`, built from the program's arrays on first access and kept.

    A non-data descriptor (a class attribute without annotation, so not a dataclass field): the tuple it builds
    goes into the instance's ``__dict__`` under the attribute's name, written directly as ``Program.derived``
    writes its tables (the dataclass is frozen only against ``setattr``; the program is immutable, so the
    tuple cannot go stale), and every later access finds it there, at the cost of a plain attribute lookup:
    the reference engine reads these per tile on its hot path.
    """

    def __init__(self, build: Callable[["Program"], _T]) -> None:
        self.build = build
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, program: None, owner: type) -> "_PerTileView[_T]": ...

    @overload
    def __get__(self, program: "Program", owner: type) -> _T: ...

    def __get__(self, program: Optional["Program"], owner: type) -> Union[_T, "_PerTileView[_T]"]:
        if program is None:
            return self
        with cycle_collector_paused():  # tuples by the hundred thousand, none in a cycle
            value = program.__dict__[self.name] = self.build(program)
        return value


@dataclass(frozen=True, eq=False)
class Program:
    """One model's tiles, bands and memory plan as tables (module docstring).

    Per tile, the tables are arrays (:attr:`tile_tables`); the per-tile tuples the Python engines index on their
    hot path (``cycles``, ``buffer_reads``, ``ring_writes``, ...) are views of them, built on first access and
    kept (:class:`_PerTileView`), so that a run of the compiled engine builds none.
    """

    tasks: TaskGraph
    plan: MemoryPlan
    tile_tables: TileTables
    # per band
    #: tensor -> (bytes, kind) of each DRAM load the band issues for its inputs that live in DRAM
    band_loads: tuple[Mapping[str, tuple[int, str]], ...]
    #: (ring index, producer band index within its node) of every line-buffer band it releases when complete
    band_releases: tuple[tuple[tuple[int, int], ...], ...]
    #: per (ring index, band index): how many reader bands must complete before the band is freed
    band_readers: Mapping[tuple[int, int], int]
    # per node
    rings: tuple[Ring, ...]
    #: per node: indices of the rings it writes (its on-chip outputs)
    node_rings: tuple[tuple[int, ...], ...]
    #: per node: its weight loads per frame in DMA order (one whole load, one per channel group, or one per
    #: channel group and band), empty if it has none
    weight_loads: tuple[tuple[WeightLoad, ...], ...]
    #: per stack: how many bands its nodes have
    stack_bands: tuple[int, ...]

    @property
    def weight_bytes(self) -> int:
        return sum(load.nbytes for loads in self.weight_loads for load in loads)

    def derived(self, name: str, build: Callable[["Program"], _T]) -> _T:
        """A table derived from the program alone (never from a run), built on first use and kept with it.

        The program is immutable, so the table cannot go stale; runs of the same program (frames, sweep
        points, repeats) share it.  ``name`` says whose table it is (e.g. "engine.compiled.tables").
        """
        tables = self.__dict__.setdefault("_derived", {})
        if name not in tables:
            tables[name] = build(self)
        return tables[name]

    # -- per-tile tuples for the Python engines: views of tile_tables, built on first access (_PerTileView) -----
    # (lambdas where the builder is a function defined below the class)
    #: per tile: its compute cycles on one core (the cost model at its node's precision)
    cycles = _PerTileView(lambda p: tuple(p.tile_tables.cycles.tolist()))
    #: per tile: the core that keeps its channel group's weight slice
    home_core = _PerTileView(lambda p: tuple(p.tasks.tiles.home_core.tolist()))
    #: per tile: the tile of the same channel group and columns in its node's previous band, or -1
    previous = _PerTileView(lambda p: tuple(p.tasks.tiles.previous.tolist()))
    #: per tile: bytes it reads from staging, and the part the previous band's tile of its group read too
    staging_bytes = _PerTileView(lambda p: tuple(p.tile_tables.staging_bytes.tolist()))
    staging_reuse = _PerTileView(lambda p: tuple(p.tile_tables.staging_reuse.tolist()))
    #: per tile: its line-buffer reads; tiles share the BufferRead of a distinct read
    buffer_reads = _PerTileView(lambda p: _buffer_read_view(p))
    #: per tile: the DRAM-resident tensors it reads (through its band's loads and the staging area)
    dram_reads = _PerTileView(lambda p: _dram_read_view(p))
    #: per tile: (ring index, bytes) of each line buffer it writes
    ring_writes = _PerTileView(lambda p: _ring_write_view(p))
    #: per tile: bytes it writes to DRAM and their kind
    dram_write = _PerTileView(lambda p: _dram_write_view(p))
    #: per tile: (node, channel group or -1, band index or -1) of the weight load it waits for, when its node's
    #: weights come slice by slice (policies "slices" and "refetch"); the same key as the load's
    weight_key = _PerTileView(lambda p: _weight_key_view(p))

    def weight_key_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:attr:`weight_key` as three arrays (node, group, band), computed from the tiles' columns: the key's
        node is -1 for a node without weights, its group -1 unless the node's weights come per channel group,
        its band -1 unless they come per band (the fields of its node's first load tell which)."""
        tiles = self.tasks.tiles
        firsts = [loads[0] if loads else None for loads in self.weight_loads]
        has_loads = np.asarray([w is not None for w in firsts], dtype=bool)[tiles.node]
        per_group = np.asarray([w is not None and w.group >= 0 for w in firsts], dtype=bool)[tiles.node]
        per_band = np.asarray([w is not None and w.band >= 0 for w in firsts], dtype=bool)[tiles.node]
        return (np.where(has_loads, tiles.node, -1), np.where(per_group, tiles.group, -1),
                np.where(per_band, tiles.band_index, -1))

    def planned_activation_bytes(self) -> dict[str, int]:
        """DRAM bytes of activations per frame that the plan implies, before any run: graph inputs read and
        outputs written, and intermediate tensors written and read back (cuts, or everything in layer mode).

        A run without spills moves exactly these (the engine-invariant tests check it).
        """
        tt = self.tile_tables
        to_outputs = tt.dram_write_kind == WRITE_KINDS.index("outputs")
        out = {"inputs": 0, "outputs": int(tt.dram_write_bytes[to_outputs].sum()), "intermediate_read": 0,
               "intermediate_write": int(tt.dram_write_bytes[~to_outputs].sum())}
        for loads in self.band_loads:
            for nbytes, kind in loads.values():
                out["inputs" if kind == "inputs" else "intermediate_read"] += nbytes
        return out


def _shared(rows: Iterable[_K]) -> tuple[_K, ...]:
    """``tuple(rows)`` with equal rows as one object (a big model has many tiles and few distinct rows)."""
    same: dict[_K, _K] = {}
    return tuple(same.setdefault(row, row) for row in rows)


def _rows(ptr: np.ndarray, values: Sequence[_V]) -> Iterator[tuple[_V, ...]]:
    """Each row of a CSR table as a tuple of its values."""
    bounds = ptr.tolist()
    return (tuple(values[a:b]) for a, b in zip(bounds, bounds[1:]))


def _buffer_read_view(program: Program) -> tuple[tuple[BufferRead, ...], ...]:
    """Per tile: its line-buffer reads, one :class:`BufferRead` per distinct read shared by the tiles that read it."""
    tt = program.tile_tables
    ptr = tt.entry_ptr
    share_totals = row_sums(tt.entry_share, ptr).tolist()
    reused_totals = row_sums(tt.entry_reused, ptr).tolist()
    objects: list[BufferRead] = []
    for r, (a, b) in enumerate(zip(ptr[:-1].tolist(), ptr[1:].tolist())):
        tiles, shares, reused = tt.entry_tile[a:b], tt.entry_share[a:b], tt.entry_reused[a:b]
        entries = tuple(zip(tiles.tolist(), shares.tolist(), reused.tolist())) if b - a <= SMALL_READ else ()
        objects.append(BufferRead(program.rings[int(tt.read_ring[r])].tensor, int(tt.read_nbytes[r]), tiles, shares,
                                  reused, share_totals[r], reused_totals[r], entries))
    return _shared(tuple(objects[i] for i in ids) for ids in _rows(tt.read_ptr, tt.read_id.tolist()))


def _dram_read_view(program: Program) -> tuple[tuple[str, ...], ...]:
    """Per tile: the names of the DRAM-resident tensors it reads (its streams' tensors)."""
    tt = program.tile_tables
    return _shared(tuple(tt.stream_tensor[s] for s in ids) for ids in _rows(tt.stream_ptr, tt.stream_id.tolist()))


def _ring_write_view(program: Program) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Per tile: its (ring, bytes) writes."""
    tt = program.tile_tables
    pairs = _shared(zip(tt.write_ring.tolist(), tt.write_bytes.tolist()))
    return _shared(_rows(tt.write_ptr, pairs))


def _dram_write_view(program: Program) -> tuple[tuple[int, str], ...]:
    """Per tile: (bytes, kind) of its DRAM write."""
    tt = program.tile_tables
    return _shared(zip(tt.dram_write_bytes.tolist(), [WRITE_KINDS[k] for k in tt.dram_write_kind.tolist()]))


def _weight_key_view(program: Program) -> tuple[tuple[int, int, int], ...]:
    """Per tile: its weight key as a tuple (:meth:`Program.weight_key_columns`)."""
    node, group, band = program.weight_key_columns()
    return _shared(zip(node.tolist(), group.tolist(), band.tolist()))


#: where a tile's input comes from (per entry of the lowering's read table)
_NO_READ, _FROM_DRAM, _FROM_RING, _THROUGH_VIEW = -1, 0, 1, 2


def compile_program(tasks: TaskGraph, plan: MemoryPlan, hw: HardwareConfig, cost: CostModel) -> Program:
    """The tables of one model (module docstring)."""
    nodes, bands, tiles = tasks.nodes, tasks.bands, tasks.tiles
    # each tile's precision as a fixed-width string array (compared with each precision name at C speed)
    precision = np.asarray([node.op.precision for node in nodes], dtype=str)[tiles.node]
    cycles = (cost.compute_cycles_array(tiles.macs, tiles.vector_ops, precision) if len(tiles)
              else np.zeros(0, dtype=np.int64))

    graph_inputs = set(tasks.graph.inputs)
    graph_outputs = {plan.root(o) for o in tasks.graph.outputs}
    # line buffers: every on-chip root tensor
    ring_index: dict[str, int] = {}
    rings: list[Ring] = []
    node_rings: list[list[int]] = [[] for _ in nodes]
    for node in nodes:
        outs = [o for o in node.op.outputs if o]
        for name in outs:
            p = plan.tensors.get(name)
            if p is None or not p.on_chip or p.reason.startswith("alias"):
                continue
            per_band = tuple(bands[b].out_bytes for b in node.bands) if len(outs) == 1 else (tasks.nbytes(name),)
            ring_index[name] = len(rings)
            node_rings[node.index].append(len(rings))
            rings.append(Ring(name, node.index, p.capacity, per_band))

    def source(tensor: str, reader: int) -> Optional[int]:
        """The ring a reader node reads ``tensor`` from, or None when it comes from DRAM."""
        root = plan.root(tensor)
        r = ring_index.get(root)
        if r is None or plan.stack_of[rings[r].node] != plan.stack_of[reader]:
            return None
        return r

    band_loads: list[dict[str, tuple[int, str]]] = []
    band_releases: list[tuple[tuple[int, int], ...]] = []
    band_readers: dict[tuple[int, int], int] = {}
    for band in bands:
        node = nodes[band.node]
        loads: dict[str, tuple[int, str]] = {}
        releases: list[tuple[int, int]] = []
        if not node.is_view:
            for load in band.loads:
                if source(load.tensor, band.node) is None:
                    loads[load.tensor] = (load.nbytes, "inputs" if load.tensor in graph_inputs else "intermediate")
            for tensor, first, last in band.reads:
                ring = source(tensor, band.node)
                if ring is None:
                    continue
                if plan.root(tensor) != tensor:  # through a view: the whole root
                    first, last = 0, len(rings[ring].band_bytes) - 1
                for k in range(first, last + 1):
                    releases.append((ring, k))
                    band_readers[(ring, k)] = band_readers.get((ring, k), 0) + 1
        band_loads.append(loads)
        band_releases.append(tuple(releases))
    # a band that no reader in the stack reads (a strided consumer skips it) takes no room in the ring
    rings = [replace(r, band_bytes=tuple(n if (i, k) in band_readers else 0 for k, n in enumerate(r.band_bytes)))
             for i, r in enumerate(rings)]

    weight_loads: list[tuple[WeightLoad, ...]] = []
    for node in nodes:
        w = node.cost.weight_bytes
        if not w:
            weight_loads.append(())
        elif plan.holds(node.index) or plan.resident:
            weight_loads.append((WeightLoad(node.index, -1, w),))
        else:  # slice by slice, one per channel group if the weights are cut by channel; per band if re-fetched
            # each channel group's slice, in group order (the order of their first tiles)
            groups, first = np.unique(tiles.group[node.blocks.start:node.blocks.stop], return_index=True)
            slices = list(zip(groups.tolist(), tiles.weight_bytes[node.blocks.start + first].tolist()))
            if sum(n for _, n in slices) != w:
                slices = [(-1, w)]
            per_band = range(len(node.bands)) if plan.weight_policy[node.index] == REFETCH else (-1,)
            weight_loads.append(tuple(WeightLoad(node.index, g, n, k) for k in per_band for g, n in slices))
    return Program(
        tasks=tasks, plan=plan,
        tile_tables=_tile_tables(tasks, plan, cycles, rings, ring_index, band_readers, source, graph_outputs),
        band_loads=tuple(band_loads), band_releases=tuple(band_releases), band_readers=band_readers,
        rings=tuple(rings), node_rings=tuple(tuple(r) for r in node_rings), weight_loads=tuple(weight_loads),
        stack_bands=tuple(sum(len(nodes[n].bands) for n in s.nodes) for s in plan.stacks),
    )


def _tile_tables(tasks: TaskGraph, plan: MemoryPlan, cycles: np.ndarray, rings: Sequence[Ring],
                 ring_index: Mapping[str, int], band_readers: Mapping[tuple[int, int], int],
                 source: Callable[[str, int], Optional[int]], graph_outputs: set[str]) -> TileTables:
    """Every tile's reads and writes as arrays (:class:`TileTables`).

    What a node's input is (from a line buffer, through a view of one, or from DRAM) and what its outputs are
    (line buffers, DRAM) is decided once per node; every tile of the node follows it, over arrays.
    """
    nodes, tiles, reads = tasks.nodes, tasks.tiles, tasks.reads
    n_tiles = len(tiles)
    # the lowering's reads: tile t's inputs are entries read_start[t]:read_start[t+1] of read_ids (one per input,
    # in input order; a node's tiles all have the same inputs)
    read_start, read_k = tiles.read_start, tiles.read_ids
    entry_source = np.full(len(read_k), _NO_READ, dtype=np.int64)  # where each input comes from
    entry_ring = np.full(len(read_k), -1, dtype=np.int64)  # the ring it comes from (from a ring or a view)
    stream_node: list[int] = []
    stream_tensor: list[str] = []
    stream_counts = np.zeros(n_tiles, dtype=np.int64)  # per tile: how many DRAM streams it reads
    stream_parts: list[np.ndarray] = []  # per node with streams: its tiles' stream ids, tile by tile
    # writes: per node, its tiles' (ring, bytes) pairs tile by tile, and how many per tile
    write_counts = np.zeros(n_tiles, dtype=np.int64)
    write_rings: list[np.ndarray] = []
    write_sizes: list[np.ndarray] = []
    dram_write_bytes = np.zeros(n_tiles, dtype=np.int64)
    dram_write_kind = np.full(n_tiles, WRITE_KINDS.index("outputs"), dtype=np.int64)  # a view writes nothing
    for node in nodes:
        a, z = node.blocks.start, node.blocks.stop
        n = z - a
        if node.is_view or not n:
            continue
        lo, hi = int(read_start[a]), int(read_start[z])
        inputs = (hi - lo) // n
        where, ring_of, streams = [], [], []
        for j in range(inputs):
            tensor = reads.names[int(reads.tensor[read_k[lo + j]])]
            ring = source(tensor, node.index)
            if ring is None:  # from DRAM, through the band's loads and the staging area: a stream
                streams.append(len(stream_node))
                stream_node.append(node.index)
                stream_tensor.append(tensor)
            where.append(_FROM_DRAM if ring is None else
                         _FROM_RING if plan.root(tensor) == tensor else _THROUGH_VIEW)
            ring_of.append(-1 if ring is None else ring)
        entry_source[lo:hi] = np.tile(np.asarray(where, dtype=np.int64), n)
        entry_ring[lo:hi] = np.tile(np.asarray(ring_of, dtype=np.int64), n)
        if streams:
            stream_counts[a:z] = len(streams)
            stream_parts.append(np.tile(np.asarray(streams, dtype=np.int64), n))
        # what each tile writes: its share of a single output (the whole tensor of a multi-output node)
        outs = [o for o in node.op.outputs if o]
        band_index = tiles.band_index[a:z]
        ring_columns: list[np.ndarray] = []
        ring_ids: list[int] = []
        kind = "intermediate"
        for name in outs:
            size = tiles.out_bytes[a:z] if len(outs) == 1 else np.full(n, tasks.nbytes(name), dtype=np.int64)
            r = ring_index.get(name)
            if r is not None:  # a band no one in the stack reads takes no room (but keeps its turn in the ring)
                read = np.asarray([(r, k) in band_readers for k in range(len(node.bands))], dtype=bool)
                ring_columns.append(np.where(read[band_index], size, 0))
                ring_ids.append(r)
            placement = plan.tensors.get(name)
            if placement is not None and placement.to_dram:
                dram_write_bytes[a:z] += size
                if name in graph_outputs:
                    kind = "outputs"
        dram_write_kind[a:z] = WRITE_KINDS.index(kind)
        if ring_ids:
            write_counts[a:z] = len(ring_ids)
            write_rings.append(np.tile(np.asarray(ring_ids, dtype=np.int64), n))
            write_sizes.append(np.stack(ring_columns, axis=1).reshape(-1))  # tile by tile, in output order

    # staging: the windows of the inputs that come from DRAM
    from_dram = entry_source == _FROM_DRAM
    staging_bytes = row_sums(np.where(from_dram, reads.nbytes[read_k], 0), read_start)
    staging_reuse = row_sums(np.where(from_dram, reads.overlap[read_k], 0), read_start)

    # line-buffer reads.  A read from the producer's own ring is the lowering's read k; a read through a view
    # covers every producer tile of the root in equal shares, and its reused part is all of it when the tile
    # follows a band of its group, else none.  So a distinct read is k, or (k, follows) through a view, coded as
    # 2k (+1 when it follows): k is read one way only (a read belongs to one input of one node).
    buffered = (entry_source == _FROM_RING) | (entry_source == _THROUGH_VIEW)
    read_ptr = offsets(row_sums(buffered, read_start))
    entry_of = np.flatnonzero(buffered)  # the lowering's entries that are line-buffer reads, tile by tile
    through_view = entry_source[entry_of] == _THROUGH_VIEW
    follows = tiles.previous[row_of(read_start)[entry_of]] >= 0
    code = 2 * read_k[entry_of] + (through_view & follows)
    # number the distinct codes in the order tiles first use them
    distinct, first_use, which = np.unique(code, return_index=True, return_inverse=True)
    order = np.argsort(first_use, kind="stable")
    number = np.empty(len(order), dtype=np.int64)
    number[order] = np.arange(len(order), dtype=np.int64)
    read_id = number[which.reshape(-1)]
    first = entry_of[first_use[order]]  # per distinct read: the first entry that reads it
    k = read_k[first]
    view = entry_source[first] == _THROUGH_VIEW
    read_ring = entry_ring[first]
    read_nbytes = reads.nbytes[k]
    # the entries (producer tiles) of each distinct read
    root_nodes = np.asarray([rings[r].node for r in read_ring[view].tolist()], dtype=np.int64)
    root_start = np.asarray([nodes[n].blocks.start for n in root_nodes.tolist()], dtype=np.int64)
    root_size = np.asarray([len(nodes[n].blocks) for n in root_nodes.tolist()], dtype=np.int64)
    own = ~view  # from the producer's own ring: the lowering's entries of read k, as they are (computed now: the
    # lowering computes a read's entries only when asked for, and only line-buffer reads need them)
    own_entries = reads.entries(k[own])
    lengths = np.zeros(len(k), dtype=np.int64)
    lengths[own] = np.diff(own_entries.start)
    lengths[view] = root_size
    entry_ptr = offsets(lengths)
    total = int(entry_ptr[-1])
    entry_tile = np.zeros(total, dtype=np.int64)
    entry_share = np.zeros(total, dtype=np.int64)
    entry_reused = np.zeros(total, dtype=np.int64)
    into = concat_ranges(entry_ptr[:-1][own], lengths[own])
    entry_tile[into] = own_entries.producer_tiles
    entry_share[into] = own_entries.shares
    entry_reused[into] = own_entries.reused
    # through a view: producer tile i of n gets nbytes * (i + 1) // n - nbytes * i // n (the parts add up exactly)
    into = concat_ranges(entry_ptr[:-1][view], root_size)
    i = into - np.repeat(entry_ptr[:-1][view], root_size)
    n_of, nbytes_of = np.repeat(root_size, root_size), np.repeat(read_nbytes[view], root_size)
    entry_tile[into] = np.repeat(root_start, root_size) + i
    share = nbytes_of * (i + 1) // np.maximum(n_of, 1) - nbytes_of * i // np.maximum(n_of, 1)
    entry_share[into] = share
    entry_reused[into] = np.where(np.repeat(distinct[order][view] % 2 == 1, root_size), share, 0)

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    return TileTables(
        cycles=cycles, staging_bytes=staging_bytes, staging_reuse=staging_reuse,
        dram_write_bytes=dram_write_bytes, dram_write_kind=dram_write_kind,
        write_ptr=offsets(write_counts), write_ring=cat(write_rings), write_bytes=cat(write_sizes),
        read_ptr=read_ptr, read_id=read_id, stream_ptr=offsets(stream_counts), stream_id=cat(stream_parts),
        read_ring=read_ring, read_nbytes=read_nbytes, entry_ptr=entry_ptr, entry_tile=entry_tile,
        entry_share=entry_share, entry_reused=entry_reused,
        stream_node=np.asarray(stream_node, dtype=np.int64), stream_tensor=tuple(stream_tensor),
    )
