"""Per-run state of the fast engine: flat tables indexed by global tile and global band ids.

Tiles of job ``j`` (one frame of one model) are ``offset[j] .. offset[j] +
tiles - 1`` (:func:`gspsim.engine.records.order_jobs`), its bands
``band_offset[j] ..``.  Per-tile records live in :mod:`array` arrays (8
bytes a tile, no Python object per entry), handed to numpy without a copy
of each element when the run ends.
"""

from __future__ import annotations

from array import array
from typing import Sequence

import numpy as np

from ..memory import LineBuffer
from ..records import Job, Records, Workload, label
from .tables import ModelTables


class RunState:
    """What every part of the fast engine reads and writes about tiles, bands and line buffers."""

    def __init__(self, workloads: Sequence[Workload], tables: Sequence[ModelTables], jobs: Sequence[Job]) -> None:
        self.jobs = jobs
        self.tables = tables
        #: per job: its model's tables, workload index, frame, first tile and first band
        self.job_tables = [tables[j.workload] for j in jobs]
        self.job_workload = [j.workload for j in jobs]
        self.job_frame = [j.frame for j in jobs]
        self.job_base = [j.offset for j in jobs]
        self.job_band_base = [j.band_offset for j in jobs]
        self.total = sum(tables[j.workload].tiles for j in jobs)
        bands = sum(len(tables[j.workload].band_tiles) for j in jobs)
        #: per global tile: its job, and its compute cycles
        self.job_of = array("l")
        self.cycles = array("q")
        for j, job in enumerate(jobs):
            self.job_of.extend(array("l", [j]) * tables[job.workload].tiles)
            self.cycles.extend(tables[job.workload].cycles)
        # per global tile: the records
        self.core = array("q", [-1]) * self.total
        #: the same memory as a numpy array (the array module never resizes it), for reads of many tiles
        self.core_view = np.frombuffer(self.core, dtype=np.int64)
        self.issue = array("d", bytes(8 * self.total))
        self.compute = array("d", bytes(8 * self.total))
        self.end = array("d", bytes(8 * self.total))
        self.dram_bytes = array("q", bytes(8 * self.total))
        self.onchip_bytes = array("q", bytes(8 * self.total))
        self.local_bytes = array("q", bytes(8 * self.total))
        #: tile -> its key among the ready tiles of its core, from readiness until it asks for a compute unit
        self.keys: dict[int, tuple] = {}
        # per global band
        self.spilled = bytearray(bands)
        self.reserved = bytearray(bands)
        #: per job: bands spilled (0 for almost every run: the reads then skip the spill test)
        self.job_spills = [0] * len(jobs)
        many = len(workloads) > 1
        #: per workload: its line buffers
        self.rings = [[LineBuffer(label(w, r.tensor, many), r.capacity, r.band_bytes) for r in wl.program.rings]
                      for w, wl in enumerate(workloads)]

    def locate(self, g: int) -> tuple[int, int]:
        """(job, tile id within its model) of global tile ``g``."""
        j = self.job_of[g]
        return j, g - self.job_base[j]

    def fill(self, rec: Records) -> None:
        """Hand the per-tile records to ``rec`` as numpy arrays."""
        rec.core = np.frombuffer(self.core, dtype=np.int64).copy()
        rec.issue = np.frombuffer(self.issue, dtype=np.float64).copy()
        rec.compute = np.frombuffer(self.compute, dtype=np.float64).copy()
        rec.end = np.frombuffer(self.end, dtype=np.float64).copy()
        rec.dram_bytes = np.frombuffer(self.dram_bytes, dtype=np.int64).copy()
        rec.onchip_bytes = np.frombuffer(self.onchip_bytes, dtype=np.int64).copy()
        rec.local_bytes = np.frombuffer(self.local_bytes, dtype=np.int64).copy()
