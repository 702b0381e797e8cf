"""Per-model tables of the fast engine: the compiled program's facts as flat lists, built once per run.

The :class:`~gspsim.engine.program.Program` already holds the per-tile
tables both engines share; this adds the per-tile, per-band and per-node
lists the fast engine looks up on its hot path (a list index instead of an
attribute of a ``Block``), so that no per-tile object is touched during a run.
Everything here is a compile-time fact: nothing depends on the run.
"""

from __future__ import annotations

from typing import Optional

from ..program import Program

class ModelTables:
    """One model's tiles, bands and nodes as lists indexed by local tile, band and node id."""

    __slots__ = (
        "program", "tasks", "blocks", "tiles", "cycles", "node", "band", "band_index", "weight_bytes",
        "home_core", "previous", "buffer_reads", "dram_reads", "staging_bytes", "staging_reuse", "ring_writes",
        "dram_write", "slice_key", "band_tiles", "band_deps", "band_node", "band_consumers", "band_releases",
        "band_loads", "roots", "node_bands", "node_nbands", "stack_of", "holds", "has_weights", "ring_bands",
        "band_runs",
    )

    def __init__(self, program: Program) -> None:
        tasks = program.tasks
        blocks = tasks.blocks
        plan = program.plan
        self.program = program
        self.tasks = tasks
        self.blocks = blocks
        self.tiles = len(blocks)
        # per tile
        self.cycles = program.cycles
        columns = tasks.tiles  # (the tiles' columns: reading them builds no Block record)
        self.node = columns.node.tolist()
        self.band = columns.band.tolist()
        self.band_index = columns.band_index.tolist()
        self.weight_bytes = columns.weight_bytes.tolist()
        self.home_core = program.home_core
        self.previous = program.previous
        self.buffer_reads = program.buffer_reads
        self.dram_reads = program.dram_reads
        self.staging_bytes = program.staging_bytes
        self.staging_reuse = program.staging_reuse
        self.ring_writes = program.ring_writes
        self.dram_write = program.dram_write
        # per node
        nodes = tasks.nodes
        self.node_bands = [n.bands for n in nodes]
        self.node_nbands = [len(n.bands) for n in nodes]
        self.stack_of = plan.stack_of
        self.holds = [plan.holds(n.index) for n in nodes]
        self.has_weights = [bool(loads) for loads in program.weight_loads]
        #: per tile: the weight slice it waits for when its node's weights come slice by slice, else None
        slice_node = [w and not h for w, h in zip(self.has_weights, self.holds)]
        keys = program.weight_key
        self.slice_key: list[Optional[tuple[int, int, int]]] = [
            keys[t] if slice_node[n] else None for t, n in enumerate(self.node)]
        # per band
        bands = tasks.bands
        self.band_tiles = [b.tiles for b in bands]
        self.band_deps = [len(b.deps) for b in bands]
        self.band_node = [b.node for b in bands]
        self.band_consumers = tasks.band_consumers
        self.band_releases = program.band_releases
        self.band_loads = program.band_loads
        self.roots = [b.id for b in bands if not b.deps]
        # per ring: its producer node's band ids (the band a ring band index stands for)
        self.ring_bands = [nodes[r.node].bands for r in program.rings]
        #: per band of a node loaded slice by slice: its tiles as runs (slice key, first tile, end) in tile order
        self.band_runs: list[tuple[tuple[tuple[int, int, int], int, int], ...]] = []
        for b, tiles in enumerate(self.band_tiles):
            runs: list[tuple[tuple[int, int, int], int, int]] = []
            if slice_node[self.band_node[b]]:
                for t in tiles:
                    key = self.slice_key[t]
                    if runs and runs[-1][0] == key and runs[-1][2] == t:
                        runs[-1] = (key, runs[-1][1], t + 1)
                    else:
                        runs.append((key, t, t + 1))
            self.band_runs.append(tuple(runs))
