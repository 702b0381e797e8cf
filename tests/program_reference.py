"""The engine's tables as they were before they were computed over arrays (gspsim at f46606e): the oracle of
test_program_arrays.

:func:`per_tile_compile_program` builds a program's per-tile tables as Python tuples (one per tile: its cycles,
its line-buffer reads as shared :class:`BufferRead` objects, its DRAM reads, its writes, ...), and
:func:`per_tile_build_flat_program` turns those tuples back into the compiled engine's arrays with per-tile
loops.  The package's :func:`gspsim.engine.program.compile_program` computes the tables as arrays and
:func:`gspsim.engine.compiled.tables.build_flat_program` takes them as they are: the flat arrays must be the same,
array for array, and the package's per-tile tuple views the same tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from itertools import chain
from operator import attrgetter
from typing import Callable, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from gspsim.engine.compiled.tables import FlatProgram
from gspsim.engine.program import READ_KINDS, SMALL_READ, WRITE_KINDS, BufferRead, Ring, WeightLoad
from gspsim.hardware.config import HardwareConfig
from gspsim.hardware.cost_model import CostModel
from gspsim.lowering.stacks import REFETCH, MemoryPlan
from gspsim.lowering.tasks import TaskGraph

_I64 = np.int64


@dataclass(frozen=True, eq=False)
class PerTileProgram:
    """gspsim.engine.program.Program at f46606e: the per-tile tables as tuples."""

    tasks: TaskGraph
    plan: MemoryPlan
    cycles: tuple[int, ...]
    home_core: tuple[int, ...]
    previous: tuple[int, ...]
    buffer_reads: tuple[tuple[BufferRead, ...], ...]
    dram_reads: tuple[tuple[str, ...], ...]
    staging_bytes: tuple[int, ...]
    staging_reuse: tuple[int, ...]
    ring_writes: tuple[tuple[tuple[int, int], ...], ...]
    dram_write: tuple[tuple[int, str], ...]
    band_loads: tuple[Mapping[str, tuple[int, str]], ...]
    band_releases: tuple[tuple[tuple[int, int], ...], ...]
    band_readers: Mapping[tuple[int, int], int]
    rings: tuple[Ring, ...]
    node_rings: tuple[tuple[int, ...], ...]
    weight_loads: tuple[tuple[WeightLoad, ...], ...]
    stack_bands: tuple[int, ...]
    weight_key: tuple[tuple[int, int, int], ...] = ()


class RingAndBandTables(NamedTuple):
    """What both oracles of ``compile_program`` build the same way (it did not change between 848c43f and
    f46606e): the line buffers, and every band's DRAM loads, line-buffer releases and readers."""

    graph_outputs: set[str]
    ring_index: dict[str, int]
    rings: list[Ring]
    node_rings: list[list[int]]
    #: the ring a reader node reads a tensor from, or None when it comes from DRAM
    source: Callable[[str, int], Optional[int]]
    band_loads: list[dict[str, tuple[int, str]]]
    band_releases: list[tuple[tuple[int, int], ...]]
    band_readers: dict[tuple[int, int], int]


def ring_and_band_tables(tasks: TaskGraph, plan: MemoryPlan) -> RingAndBandTables:
    """The line buffers and the per-band tables of ``compile_program`` (:class:`RingAndBandTables`)."""
    nodes, bands = tasks.nodes, tasks.bands
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
    return RingAndBandTables(graph_outputs, ring_index, rings, node_rings, source, band_loads, band_releases,
                             band_readers)


def per_tile_compile_program(tasks: TaskGraph, plan: MemoryPlan, hw: HardwareConfig, cost: CostModel) -> PerTileProgram:
    """The engine's tables with per-tile tuples (gspsim.engine.program.compile_program at f46606e)."""
    nodes, tiles = tasks.nodes, tasks.tiles
    precision = np.asarray([node.op.precision for node in nodes], dtype=object)[tiles.node]
    cycles = (cost.compute_cycles_array(tiles.macs, tiles.vector_ops, precision) if len(tiles)
              else np.zeros(0, dtype=np.int64))

    graph_outputs, ring_index, rings, node_rings, source, band_loads, band_releases, band_readers = \
        ring_and_band_tables(tasks, plan)

    buffer_reads: list[tuple[BufferRead, ...]] = []
    dram_reads: list[tuple[str, ...]] = []
    staging = np.zeros(len(tiles), dtype=np.int64)
    staging_reuse = np.zeros(len(tiles), dtype=np.int64)
    ring_writes: list[tuple[tuple[int, int], ...]] = []
    dram_write: list[tuple[int, str]] = []
    line_reads = _LineBufferReads(tasks)
    # equal per-tile entries are one tuple (a big model has hundreds of thousands of tiles and few distinct ones)
    same: dict[tuple, tuple] = {}  # type: ignore[type-arg]
    for node in nodes:
        a, z = node.blocks.start, node.blocks.stop
        n = z - a
        if node.is_view:
            buffer_reads.extend([()] * n)
            dram_reads.extend([()] * n)
            ring_writes.extend([()] * n)
            dram_write.extend([(0, "outputs")] * n)
            continue
        # a node's tiles read the same inputs in the same order: one column of read ids per input
        ids = tiles.read_ids[tiles.read_start[a]:tiles.read_start[z]].reshape(n, -1)
        follows = tiles.previous[a:z] >= 0
        per_input: list[list[BufferRead]] = []
        drams: list[str] = []
        for j in range(ids.shape[1]):
            column = ids[:, j]
            tensor = tasks.reads.names[int(tasks.reads.tensor[column[0]])]
            ring = source(tensor, node.index)
            if ring is not None and plan.root(tensor) == tensor:
                per_input.append([line_reads.direct(k) for k in column.tolist()])
            elif ring is not None:  # through a view: the root's producer tiles, all of them, in equal shares
                root = nodes[rings[ring].node].blocks
                per_input.append([line_reads.through_view(k, rings[ring].tensor, root, f)
                                  for k, f in zip(column.tolist(), follows.tolist())])
            else:  # from DRAM, through the band's loads and the staging area
                drams.append(tensor)
                staging[a:z] += tasks.reads.nbytes[column]
                staging_reuse[a:z] += tasks.reads.overlap[column]
        buffer_reads.extend([same.setdefault(r, r) for r in zip(*per_input)] if per_input else [()] * n)
        dram_reads.extend([tuple(drams)] * n)
        # what each tile writes: its share of a single output (the whole tensor of a multi-output node)
        outs = [o for o in node.op.outputs if o]
        out_bytes = tiles.out_bytes[a:z]
        band_index = tiles.band_index[a:z]
        writes: list[list[tuple[int, int]]] = []
        to_dram = np.zeros(n, dtype=np.int64)
        kind = "intermediate"
        for name in outs:
            size = out_bytes if len(outs) == 1 else np.full(n, tasks.nbytes(name), dtype=np.int64)
            r = ring_index.get(name)
            if r is not None:  # a band no one in the stack reads takes no room (but keeps its turn in the ring)
                read = np.asarray([(r, k) in band_readers for k in range(len(node.bands))], dtype=bool)
                writes.append([same.setdefault((r, w), (r, w)) for w in np.where(read[band_index], size, 0).tolist()])
            placement = plan.tensors.get(name)
            if placement is not None and placement.to_dram:
                to_dram += size
                if name in graph_outputs:
                    kind = "outputs"
        ring_writes.extend([same.setdefault(w, w) for w in zip(*writes)] if writes else [()] * n)
        dram_write.extend([same.setdefault((w, kind), (w, kind)) for w in to_dram.tolist()])

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
    return PerTileProgram(
        tasks=tasks, plan=plan, cycles=tuple(cycles.tolist()),
        home_core=tuple(tiles.home_core.tolist()), previous=tuple(tiles.previous.tolist()),
        buffer_reads=tuple(buffer_reads), dram_reads=tuple(dram_reads), staging_bytes=tuple(staging.tolist()),
        staging_reuse=tuple(staging_reuse.tolist()),
        ring_writes=tuple(ring_writes), dram_write=tuple(dram_write),
        band_loads=tuple(band_loads), band_releases=tuple(band_releases), band_readers=band_readers,
        rings=tuple(rings), node_rings=tuple(tuple(r) for r in node_rings), weight_loads=tuple(weight_loads),
        stack_bands=tuple(sum(len(nodes[n].bands) for n in s.nodes) for s in plan.stacks),
        weight_key=_weight_keys(tasks, weight_loads, same),
    )


class _LineBufferReads:
    """The :class:`BufferRead` of each distinct tile read that comes from a line buffer, built once and shared by
    every tile that reads it (with the totals of all reads summed at once)."""

    def __init__(self, tasks: TaskGraph) -> None:
        self.reads = tasks.reads
        self.bands, self.nodes = tasks.bands, tasks.nodes
        self.share_totals = self.reads.totals(self.reads.shares).tolist()
        self.reused_totals = self.reads.totals(self.reads.reused).tolist()
        self.starts = self.reads.start.tolist()
        self.made: dict[int, BufferRead] = {}
        self.views: dict[tuple[int, bool], BufferRead] = {}

    def direct(self, k: int) -> BufferRead:
        """Read ``k`` of the producer's own line buffer."""
        made = self.made.get(k)
        if made is None:
            r, a, z = self.reads, self.starts[k], self.starts[k + 1]
            tiles, shares, reused = r.producer_tiles[a:z], r.shares[a:z], r.reused[a:z]
            entries = tuple(zip(tiles.tolist(), shares.tolist(), reused.tolist())) if z - a <= SMALL_READ else ()
            made = self.made[k] = BufferRead(r.names[int(r.tensor[k])], int(r.nbytes[k]), tiles, shares, reused,
                                             self.share_totals[k], self.reused_totals[k], entries)
        return made

    def through_view(self, k: int, root: str, producers: range, follows: bool) -> BufferRead:
        """Read ``k`` of a view of ``root``: every producer tile of the root, in equal shares."""
        made = self.views.get((k, follows))
        if made is None:
            tiles = np.arange(producers.start, producers.stop, dtype=np.int64)
            n, nbytes = len(tiles), int(self.reads.nbytes[k])
            part = np.diff(nbytes * np.arange(n + 1, dtype=np.int64) // n) if n else tiles
            again = part if follows else np.zeros(n, dtype=np.int64)
            made = self.views[(k, follows)] = BufferRead.of(root, nbytes, tiles, part, again)
        return made


def _weight_keys(tasks: TaskGraph, weight_loads: Sequence[Sequence[WeightLoad]],
                 same: dict[tuple, tuple]) -> tuple[tuple[int, int, int], ...]:  # type: ignore[type-arg]
    """Per tile: the (node, group, band) key of the weight slice it waits for, the same key as its node's loads
    (the group only when the node's weights come per group, the band only when they come per band)."""
    keys: list[tuple[int, int, int]] = []
    tiles = tasks.tiles
    for node in tasks.nodes:
        a, z = node.blocks.start, node.blocks.stop
        loads = weight_loads[node.index]
        if not loads:
            keys.extend([(-1, -1, -1)] * (z - a))
            continue
        first = loads[0]
        n = z - a
        groups = tiles.group[a:z].tolist() if first.group >= 0 else [-1] * n
        bands = tiles.band_index[a:z].tolist() if first.band >= 0 else [-1] * n
        keys.extend([same.setdefault(k, k) for k in zip([first.node] * n, groups, bands)])
    return tuple(keys)


def _offsets(rows: Sequence[Sequence[object]]) -> np.ndarray:
    """Where each row of a ragged list starts in its concatenation (and the total at the end)."""
    ptr = np.zeros(len(rows) + 1, dtype=_I64)
    np.cumsum(np.fromiter(map(len, rows), dtype=_I64, count=len(rows)), out=ptr[1:])
    return ptr


def _csr(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and values of a ragged list of int lists."""
    ptr = _offsets(rows)
    return ptr, np.fromiter(chain.from_iterable(rows), dtype=_I64, count=int(ptr[-1]))


def _column(items: Sequence[object], name: str) -> np.ndarray:
    """Attribute ``name`` of every item, as int64."""
    return np.fromiter(map(attrgetter(name), items), dtype=_I64, count=len(items))


def _runs(band_tile_ptr: np.ndarray, band_tile: np.ndarray, slice_id: np.ndarray,
          sliced_band: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per band of a node loaded slice by slice: its tiles as runs of consecutive tiles of one slice, in the
    band's tile order: (run_ptr, slice, first tile, end tile)."""
    counts = np.diff(band_tile_ptr)
    band_of = np.repeat(np.arange(len(counts), dtype=_I64), counts)
    keep = sliced_band[band_of]
    tiles, band_of = band_tile[keep], band_of[keep]
    starts = np.ones(len(tiles), dtype=bool)  # a run starts at a band's first tile, a new slice or a gap
    starts[1:] = (band_of[1:] != band_of[:-1]) | (slice_id[tiles[1:]] != slice_id[tiles[:-1]]) | \
        (tiles[1:] != tiles[:-1] + 1)
    first = np.flatnonzero(starts)
    last = np.append(first[1:], len(tiles))[:len(first)] - 1
    run_ptr = np.zeros(len(counts) + 1, dtype=_I64)
    np.cumsum(np.bincount(band_of[first], minlength=len(counts)), out=run_ptr[1:])
    return run_ptr, slice_id[tiles[first]], tiles[first], tiles[last] + 1



def per_tile_build_flat_program(program: PerTileProgram) -> FlatProgram:
    """The compiled engine's arrays from the per-tile tuples (gspsim.engine.compiled.tables.build_flat_program at
    f46606e)."""
    tasks, plan = program.tasks, program.plan
    tiles, bands, nodes = tasks.tiles, tasks.bands, tasks.nodes  # the tiles' columns: no Block record is built
    n_tiles = len(tiles)

    def ints(values: Sequence[int]) -> np.ndarray:
        return np.asarray(values, dtype=_I64).reshape(-1)

    has_weights = [bool(loads) for loads in program.weight_loads]
    holds = [plan.holds(n.index) for n in nodes]
    slice_node = np.asarray([w and not h for w, h in zip(has_weights, holds)], dtype=bool)
    slice_ids: dict[tuple[int, int, int], int] = {}
    for loads in program.weight_loads:
        for load in loads:
            if slice_node[load.node]:
                slice_ids.setdefault((load.node, load.group, load.band), len(slice_ids))
    node = tiles.node
    slice_id = np.full(n_tiles, -1, dtype=_I64)
    sliced = np.flatnonzero(slice_node[node])
    keys = program.weight_key
    slice_id[sliced] = [slice_ids.setdefault(keys[t], len(slice_ids)) for t in sliced.tolist()]

    write_ptr = _offsets(program.ring_writes)  # (ring, bytes) pairs
    pairs = np.fromiter(chain.from_iterable(chain.from_iterable(program.ring_writes)), dtype=_I64,
                        count=2 * int(write_ptr[-1])).reshape(-1, 2)
    write_ring, write_bytes = pairs[:, 0].copy(), pairs[:, 1].copy()
    # line-buffer reads: tiles whose windows agree share one BufferRead object, and so one read here
    read_ptr = _offsets(program.buffer_reads)
    read_index: dict[int, int] = {}
    reads = []
    for read in chain.from_iterable(program.buffer_reads):
        if read_index.setdefault(id(read), len(reads)) == len(reads):
            reads.append(read)
    read_id = np.fromiter(map(read_index.__getitem__, map(id, chain.from_iterable(program.buffer_reads))),
                          dtype=_I64, count=int(read_ptr[-1]))
    entry_ptr = np.zeros(len(reads) + 1, dtype=_I64)
    np.cumsum(np.fromiter((len(r.producer_tiles) for r in reads), dtype=_I64, count=len(reads)), out=entry_ptr[1:])

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts).astype(_I64) if parts else np.zeros(0, dtype=_I64)

    # DRAM streams: one per (node, tensor) a tile reads from DRAM, rows per band of the node
    stream_index: dict[tuple[int, str], int] = {}
    row_ptr, row_bytes, row_kind = [0], [], []
    tile_streams: list[Sequence[int]] = [()] * n_tiles
    for t in np.flatnonzero(np.fromiter(map(len, program.dram_reads), dtype=_I64, count=n_tiles)).tolist():
        ids = []
        n = int(node[t])
        for tensor in program.dram_reads[t]:
            s = stream_index.get((n, tensor))
            if s is None:
                s = stream_index[(n, tensor)] = len(stream_index)
                for band in nodes[n].bands:
                    nbytes, kind = program.band_loads[band][tensor]
                    row_bytes.append(nbytes)
                    row_kind.append(READ_KINDS.index(kind))
                row_ptr.append(len(row_bytes))
            ids.append(s)
        tile_streams[t] = ids
    stream_ptr, stream_id = _csr(tile_streams)

    ring_band_ptr = np.zeros(len(program.rings) + 1, dtype=_I64)
    np.cumsum([len(r.band_bytes) for r in program.rings], out=ring_band_ptr[1:])
    ring_band_readers = np.zeros(int(ring_band_ptr[-1]), dtype=_I64)
    for (ring, k), count in program.band_readers.items():
        ring_band_readers[ring_band_ptr[ring] + k] = count
    release_ptr, release = _csr([[int(ring_band_ptr[r]) + k for r, k in rel] for rel in program.band_releases])

    band_tile_ptr, band_tile = _csr([b.tiles for b in bands])
    band_node = _column(bands, "node")
    run_ptr, run_slice, run_first, run_end = _runs(band_tile_ptr, band_tile, slice_id, slice_node[band_node])
    consumer_ptr, consumer = _csr(tasks.band_consumers)
    write_kinds = {kind: WRITE_KINDS.index(kind) for kind in WRITE_KINDS}
    dram_write_bytes, dram_write_kind = zip(*program.dram_write) if n_tiles else ((), ())

    return FlatProgram(
        tiles=n_tiles, bands=len(bands), nodes=len(nodes),
        cycles=ints(program.cycles), node=node, band=tiles.band, band_index=tiles.band_index, index=tiles.index,
        weight_bytes=tiles.weight_bytes, home_core=ints(program.home_core),
        previous=ints(program.previous), staging_bytes=ints(program.staging_bytes),
        staging_reuse=ints(program.staging_reuse),
        dram_write_bytes=ints(dram_write_bytes),
        dram_write_kind=ints(list(map(write_kinds.__getitem__, dram_write_kind))),
        slice_id=slice_id, write_ptr=write_ptr, write_ring=write_ring, write_bytes=write_bytes,
        read_ptr=read_ptr, read_id=read_id, entry_ptr=entry_ptr,
        entry_tile=cat([r.producer_tiles for r in reads]), entry_share=cat([r.shares for r in reads]),
        entry_reused=cat([r.reused for r in reads]),
        stream_ptr=stream_ptr, stream_id=stream_id, row_ptr=ints(row_ptr), row_bytes=ints(row_bytes),
        row_kind=ints(row_kind),
        band_tile_ptr=band_tile_ptr, band_tile=band_tile, band_deps=ints([len(b.deps) for b in bands]),
        band_node=band_node, consumer_ptr=consumer_ptr, consumer=consumer,
        release_ptr=release_ptr, release=release, run_ptr=run_ptr, run_slice=run_slice, run_first=run_first,
        run_end=run_end, roots=ints([b.id for b in bands if not b.deps]),
        nbands=ints([len(n.bands) for n in nodes]), stack_of=ints(plan.stack_of), holds=ints(holds),
        has_weights=ints(has_weights),
        ring_capacity=ints([r.capacity for r in program.rings]), ring_band_ptr=ring_band_ptr,
        ring_band_bytes=ints([n for r in program.rings for n in r.band_bytes]),
        ring_band_readers=ring_band_readers,
        ring_band_ring=ints([i for i, r in enumerate(program.rings) for _ in r.band_bytes]),
        ring_band_band=ints([band for r in program.rings for band in nodes[r.node].bands[:len(r.band_bytes)]]),
        ring_labels=tuple(r.tensor for r in program.rings),
        stack_bytes=ints([s.buffer_bytes for s in plan.stacks]), stack_bands=ints(program.stack_bands),
        slice_ids=slice_ids,
    )


def per_tile_planned_activation_bytes(program: PerTileProgram) -> dict[str, int]:
    """gspsim.engine.program.Program.planned_activation_bytes at f46606e, over the per-tile tuples."""
    out = {"inputs": 0, "outputs": 0, "intermediate_read": 0, "intermediate_write": 0}
    for nbytes, kind in program.dram_write:
        out["outputs" if kind == "outputs" else "intermediate_write"] += nbytes
    for loads in program.band_loads:
        for nbytes, kind in loads.values():
            out["inputs" if kind == "inputs" else "intermediate_read"] += nbytes
    return out


# --- comparing with the oracle -------------------------------------------------------------------------------
def same_buffer_read(a: BufferRead, b: BufferRead) -> bool:
    """Two line-buffer reads agree in every field (arrays by value)."""
    return (a.tensor == b.tensor and a.nbytes == b.nbytes and a.share_total == b.share_total
            and a.reused_total == b.reused_total and a.entries == b.entries
            and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("producer_tiles", "shares", "reused")))


def assert_same_flat(got: FlatProgram, want: FlatProgram) -> None:
    """Every field of the two flat programs is equal (arrays: same dtype, shape and values)."""
    for f in fields(FlatProgram):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, f.name
            differ = np.flatnonzero(a != b)
            assert not len(differ), f"{f.name}: at {differ[:5].tolist()}: {a[differ[:5]]} != {b[differ[:5]]}"
        else:
            assert type(a) is type(b) and a == b, f.name
