"""One model's compiled program as flat numpy arrays: what the compiled event loop reads.

The same facts as :class:`gspsim.engine.fast.tables.ModelTables` (per tile,
per band, per node, per line buffer), laid out for Numba: every ragged
per-tile list (a tile's line-buffer writes, its reads and each read's
producer tiles, its DRAM loads) becomes a CSR pair, an offsets array
``*_ptr`` beside the values; a weight slice key ``(node, group, band)``
becomes a small integer; a tensor a band loads from DRAM becomes a *stream*
(node, tensor) whose rows per band are a table.  The per-tile arrays are
the program's own (:class:`~gspsim.engine.program.TileTables`, computed over
the lowering's columns); this adds the per-band, per-node and per-ring
tables.  Built once per program and kept with it (:func:`flat_program`);
nothing here depends on the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Sequence

import numpy as np

from ...lowering.ragged import concat_ranges, offsets, row_of
from ..program import READ_KINDS, Program

_I64 = np.int64


def _csr(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and values of a ragged list of int lists (a short one: per band or per ring)."""
    ptr = offsets(np.fromiter(map(len, rows), dtype=_I64, count=len(rows)))
    return ptr, np.fromiter(chain.from_iterable(rows), dtype=_I64, count=int(ptr[-1]))


def _column(items: Sequence[object], name: str) -> np.ndarray:
    """Attribute ``name`` of every item, as int64."""
    return np.fromiter(map(attrgetter(name), items), dtype=_I64, count=len(items))


def _runs(band_tile_ptr: np.ndarray, band_tile: np.ndarray, slice_id: np.ndarray,
          sliced_band: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per band of a node loaded slice by slice: its tiles as runs of consecutive tiles of one slice, in the
    band's tile order: (run_ptr, slice, first tile, end tile)."""
    counts = np.diff(band_tile_ptr)
    band_of = row_of(band_tile_ptr)
    keep = sliced_band[band_of]
    tiles, band_of = band_tile[keep], band_of[keep]
    starts = np.ones(len(tiles), dtype=bool)  # a run starts at a band's first tile, a new slice or a gap
    starts[1:] = (band_of[1:] != band_of[:-1]) | (slice_id[tiles[1:]] != slice_id[tiles[:-1]]) | \
        (tiles[1:] != tiles[:-1] + 1)
    first = np.flatnonzero(starts)
    last = np.append(first[1:], len(tiles))[:len(first)] - 1
    run_ptr = offsets(np.bincount(band_of[first], minlength=len(counts)))
    return run_ptr, slice_id[tiles[first]], tiles[first], tiles[last] + 1


@dataclass(frozen=True, eq=False)
class FlatProgram:
    """A program's tables as arrays (module docstring); ``t`` a tile, ``b`` a band, ``n`` a node, ``r`` a ring."""

    tiles: int
    bands: int
    nodes: int
    # per tile
    cycles: np.ndarray
    node: np.ndarray
    band: np.ndarray
    band_index: np.ndarray
    index: np.ndarray
    weight_bytes: np.ndarray
    home_core: np.ndarray
    previous: np.ndarray
    staging_bytes: np.ndarray
    staging_reuse: np.ndarray
    dram_write_bytes: np.ndarray
    #: index in WRITE_KINDS
    dram_write_kind: np.ndarray
    #: the weight slice the tile waits for when its node's weights come slice by slice, else -1
    slice_id: np.ndarray
    #: (ring, bytes) of each line buffer the tile writes
    write_ptr: np.ndarray
    write_ring: np.ndarray
    write_bytes: np.ndarray
    #: the tile's line-buffer reads, and per read its (producer tile, share, reused) entries
    read_ptr: np.ndarray
    read_id: np.ndarray
    entry_ptr: np.ndarray
    entry_tile: np.ndarray
    entry_share: np.ndarray
    entry_reused: np.ndarray
    #: the DRAM streams (node, tensor) the tile reads through its band's loads
    stream_ptr: np.ndarray
    stream_id: np.ndarray
    # per stream: its rows (bytes, READ_KINDS index) per band of its node, at row_ptr[stream] + band index
    row_ptr: np.ndarray
    row_bytes: np.ndarray
    row_kind: np.ndarray
    # per band
    band_tile_ptr: np.ndarray
    band_tile: np.ndarray
    band_deps: np.ndarray
    band_node: np.ndarray
    consumer_ptr: np.ndarray
    consumer: np.ndarray
    #: line-buffer bands it releases: (ring, band index) -> flat ring band ring_band_ptr[ring] + index
    release_ptr: np.ndarray
    release: np.ndarray
    #: runs of tiles of one weight slice (slice id, first tile, end), in tile order, for slice-by-slice nodes
    run_ptr: np.ndarray
    run_slice: np.ndarray
    run_first: np.ndarray
    run_end: np.ndarray
    roots: np.ndarray
    # per node
    nbands: np.ndarray
    stack_of: np.ndarray
    holds: np.ndarray
    has_weights: np.ndarray
    # per ring, and per flat ring band
    ring_capacity: np.ndarray
    ring_band_ptr: np.ndarray
    ring_band_bytes: np.ndarray
    ring_band_readers: np.ndarray
    #: per flat ring band: its ring, and the producer band it stands for (its node's band)
    ring_band_ring: np.ndarray
    ring_band_band: np.ndarray
    ring_labels: tuple[str, ...]
    # per stack
    stack_bytes: np.ndarray
    stack_bands: np.ndarray
    #: weight slice key (node, group, band) -> slice id
    slice_ids: dict[tuple[int, int, int], int]

    @property
    def slices(self) -> int:
        return len(self.slice_ids)


def build_flat_program(program: Program) -> FlatProgram:
    """The arrays of ``program`` (module docstring).

    The per-tile arrays are the program's own (:class:`~gspsim.engine.program.TileTables`, the lowering's tile
    columns); what is added here is per band, node, ring, stream and weight slice, and each tile's weight slice.
    """
    tasks, plan, tt = program.tasks, program.plan, program.tile_tables
    tiles, bands, nodes = tasks.tiles, tasks.bands, tasks.nodes  # the tiles' columns: no Block record is built
    n_tiles = len(tiles)

    def ints(values: Sequence[int]) -> np.ndarray:
        return np.asarray(values, dtype=_I64).reshape(-1)

    has_weights = [bool(loads) for loads in program.weight_loads]
    holds = [plan.holds(n.index) for n in nodes]
    slice_node = np.asarray([w and not h for w, h in zip(has_weights, holds)], dtype=bool)
    # weight slices: numbered in DMA order, node by node
    slice_ids: dict[tuple[int, int, int], int] = {}
    for loads in program.weight_loads:
        for load in loads:
            if slice_node[load.node]:
                slice_ids.setdefault((load.node, load.group, load.band), len(slice_ids))
    # each tile of a node loaded slice by slice: the slice its weight key names (compile_program gives every such
    # tile the key of one of its node's loads)
    node = tiles.node
    slice_id = np.full(n_tiles, -1, dtype=_I64)
    sliced = np.flatnonzero(slice_node[node])
    if len(sliced):
        tile_keys = np.stack([column[sliced] for column in program.weight_key_columns()], axis=1)
        load_keys = np.asarray(list(slice_ids), dtype=_I64).reshape(-1, 3)  # in slice id order
        # one integer per key, to look the tiles' keys up among the loads' (groups and bands start at -1)
        shift = np.maximum(tile_keys.max(axis=0), load_keys.max(axis=0, initial=0)) + 2

        def code(keys: np.ndarray) -> np.ndarray:
            return (keys[:, 0] * shift[1] + keys[:, 1] + 1) * shift[2] + keys[:, 2] + 1

        load_codes = code(load_keys)
        by_code = np.argsort(load_codes)
        at = np.minimum(np.searchsorted(load_codes[by_code], code(tile_keys)), max(0, len(load_codes) - 1))
        if not len(load_codes) or not np.array_equal(load_codes[by_code][at], code(tile_keys)):
            raise ValueError("a tile waits for a weight slice its node never loads")
        slice_id[sliced] = by_code[at]

    # DRAM streams (node, tensor): their rows per band of the node
    row_ptr, row_bytes, row_kind = [0], [], []
    for n, tensor in zip(tt.stream_node.tolist(), tt.stream_tensor):
        for band in nodes[n].bands:
            nbytes, kind = program.band_loads[band][tensor]
            row_bytes.append(nbytes)
            row_kind.append(READ_KINDS.index(kind))
        row_ptr.append(len(row_bytes))

    ring_band_ptr = np.zeros(len(program.rings) + 1, dtype=_I64)
    np.cumsum([len(r.band_bytes) for r in program.rings], out=ring_band_ptr[1:])
    ring_band_readers = np.zeros(int(ring_band_ptr[-1]), dtype=_I64)
    for (ring, k), count in program.band_readers.items():
        ring_band_readers[ring_band_ptr[ring] + k] = count
    release_ptr, release = _csr([[int(ring_band_ptr[r]) + k for r, k in rel] for rel in program.band_releases])

    # a band's tiles are a range of tile ids
    band_tile_ptr = offsets(ints([len(b.tiles) for b in bands]))
    band_tile = concat_ranges(ints([b.tiles.start for b in bands]), np.diff(band_tile_ptr))
    band_node = _column(bands, "node")
    run_ptr, run_slice, run_first, run_end = _runs(band_tile_ptr, band_tile, slice_id, slice_node[band_node])
    consumer_ptr, consumer = _csr(tasks.band_consumers)

    return FlatProgram(
        tiles=n_tiles, bands=len(bands), nodes=len(nodes),
        cycles=tt.cycles, node=node, band=tiles.band, band_index=tiles.band_index, index=tiles.index,
        weight_bytes=tiles.weight_bytes, home_core=tiles.home_core, previous=tiles.previous,
        staging_bytes=tt.staging_bytes, staging_reuse=tt.staging_reuse,
        dram_write_bytes=tt.dram_write_bytes, dram_write_kind=tt.dram_write_kind,
        slice_id=slice_id, write_ptr=tt.write_ptr, write_ring=tt.write_ring, write_bytes=tt.write_bytes,
        read_ptr=tt.read_ptr, read_id=tt.read_id, entry_ptr=tt.entry_ptr,
        entry_tile=tt.entry_tile, entry_share=tt.entry_share, entry_reused=tt.entry_reused,
        stream_ptr=tt.stream_ptr, stream_id=tt.stream_id, row_ptr=ints(row_ptr), row_bytes=ints(row_bytes),
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
