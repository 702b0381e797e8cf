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
    nodes, bands, blocks = tasks.nodes, tasks.bands, tasks.blocks
    macs = np.fromiter((b.macs for b in blocks), dtype=np.int64, count=len(blocks))
    vops = np.fromiter((b.vector_ops for b in blocks), dtype=np.int64, count=len(blocks))
    precision = np.asarray([nodes[b.node].op.precision for b in blocks], dtype=object)
    cycles = cost.compute_cycles_array(macs, vops, precision) if len(blocks) else np.zeros(0, dtype=np.int64)

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
    return Program(
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
