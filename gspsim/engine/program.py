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
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping, Optional, Sequence, TypeVar

import numpy as np

from ..hardware.config import HardwareConfig
from ..hardware.cost_model import CostModel
from ..lowering.stacks import REFETCH, MemoryPlan
from ..lowering.tasks import TaskGraph

#: DRAM traffic kinds (keys of the result's ``dram_bytes_by_kind``)
READ_KINDS = ("weights", "inputs", "intermediate", "spill")
WRITE_KINDS = ("outputs", "intermediate", "spill")


_T = TypeVar("_T")

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
class Program:
    """One model's tiles, bands and memory plan as tables (module docstring)."""

    tasks: TaskGraph
    plan: MemoryPlan
    # per tile
    cycles: tuple[int, ...]
    home_core: tuple[int, ...]
    previous: tuple[int, ...]
    buffer_reads: tuple[tuple[BufferRead, ...], ...]
    #: per tile: the DRAM-resident tensors it reads (through its band's loads and the staging area)
    dram_reads: tuple[tuple[str, ...], ...]
    #: per tile: bytes it reads from staging (its windows of DRAM-resident tensors), and the part of them the
    #: previous band's tile of its group read too
    staging_bytes: tuple[int, ...]
    staging_reuse: tuple[int, ...]
    #: per tile: (ring index, bytes) of each line buffer it writes
    ring_writes: tuple[tuple[tuple[int, int], ...], ...]
    #: per tile: bytes it writes to DRAM and their kind
    dram_write: tuple[tuple[int, str], ...]
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
    #: per tile: (node, channel group or -1, band index or -1) of the weight load it waits for, when its node's
    #: weights come slice by slice (policies "slices" and "refetch"); the same key as the load's
    weight_key: tuple[tuple[int, int, int], ...] = ()

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

    def planned_activation_bytes(self) -> dict[str, int]:
        """DRAM bytes of activations per frame that the plan implies, before any run: graph inputs read and
        outputs written, and intermediate tensors written and read back (cuts, or everything in layer mode).

        A run without spills moves exactly these (the engine-invariant tests check it).
        """
        out = {"inputs": 0, "outputs": 0, "intermediate_read": 0, "intermediate_write": 0}
        for nbytes, kind in self.dram_write:
            out["outputs" if kind == "outputs" else "intermediate_write"] += nbytes
        for loads in self.band_loads:
            for nbytes, kind in loads.values():
                out["inputs" if kind == "inputs" else "intermediate_read"] += nbytes
        return out


def compile_program(tasks: TaskGraph, plan: MemoryPlan, hw: HardwareConfig, cost: CostModel) -> Program:
    """The tables of one model (module docstring)."""
    nodes, bands, tiles = tasks.nodes, tasks.bands, tasks.tiles
    precision = np.asarray([node.op.precision for node in nodes], dtype=object)[tiles.node]
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
    return Program(
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
