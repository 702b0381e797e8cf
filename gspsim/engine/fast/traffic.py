"""A tile's bytes: its input transfers when it starts, its outputs when it is computed.

(Line-buffer room for its outputs is reserved in :mod:`.dispatch`.)

* :meth:`Traffic.issue` -- step f: the tile's inputs move when it starts: its
  band's DRAM loads (each input row once, earlier bands' rows first), its
  windows of line buffers (from its own core's memory where a producer tile
  ran on it or its previous band's tile held the rows, from DRAM for a
  spilled band, else over the interconnect), staging reads and its weight slice.
* :meth:`Traffic.send` -- step g: the tile's outputs go into its line
  buffers and/or DRAM (the band's kernel runs on the real tensors when its
  last tile is computed).
"""

from __future__ import annotations

from typing import Optional, Sequence

from ..executor import KernelExecutor
from ..memory import BandwidthChannel, load_band_rows
from ..records import Records
from .state import RunState
from .tables import ModelTables


class Traffic:
    """Transfers of started and computed tiles."""

    def __init__(self, state: RunState, rec: Records, dram: BandwidthChannel, onchip: BandwidthChannel,
                 executors: Sequence[Optional[KernelExecutor]]) -> None:
        self.state, self.rec = state, rec
        self.dram, self.onchip = dram, onchip
        self.executors = executors
        self.execute = any(e is not None for e in executors)
        #: per (job, node, tensor): arrival of each band's DRAM rows loaded so far
        self.loads: dict[tuple[int, int, str], list[float]] = {}
        #: per global band, when the kernels run: tiles not computed yet (the band's kernel runs when the last is)
        self.compute_left = [len(r) for tb in state.job_tables for r in tb.band_tiles] if self.execute else []

    def issue(self, j: int, t: int, g: int, core: int, now: float) -> float:
        """Queue tile ``g``'s input transfers on ``core`` at ``now``; the cycle they have all arrived."""
        st = self.state
        tb = st.job_tables[j]
        base = st.job_base[j]
        placed = st.core
        arrive = now
        for tensor in tb.dram_reads[t]:
            at = self._band_load(j, tb, tb.node[t], tb.band_index[t], tensor, now, g)
            if at > arrive:
                arrive = at
        # the previous band's tile of this group ran here: the rows both windows cover are still here
        prev = tb.previous[t]
        follows = prev >= 0 and placed[base + prev] == core
        local = tb.staging_reuse[t] if follows else 0
        onchip = tb.staging_bytes[t] - local
        dram = 0
        reads = tb.buffer_reads[t]
        if reads:
            spills = st.job_spills[j]
            spilled, band_of, band_base = st.spilled, tb.band, st.job_band_base[j]
            for read in reads:
                if read.small or spills:
                    for p, share, again in read.all_entries():
                        # written on this core, or (the halo) read by this core for the group's previous band
                        mine = share if placed[base + p] == core else (again if follows else 0)
                        local += mine
                        if spills and spilled[band_base + band_of[p]]:
                            dram += share - mine
                        else:
                            onchip += share - mine
                else:  # the same sums over arrays
                    here = st.core_view[base:base + tb.tiles][read.producer_tiles] == core
                    mine = int(read.shares[here].sum())
                    if follows:
                        mine += read.reused_total - int(read.reused[here].sum())
                    local += mine
                    onchip += read.share_total - mine
        rec = self.rec
        if dram:
            rec.dram_read["spill"] += dram
            at = self.dram.reserve(now, dram)
            if at > arrive:
                arrive = at
        if tb.home_core[t] == core:
            local += tb.weight_bytes[t]
        else:
            onchip += tb.weight_bytes[t]
        at = self.onchip.reserve(now, onchip)
        if at > arrive:
            arrive = at
        st.dram_bytes[g] += dram
        st.onchip_bytes[g] += onchip
        st.local_bytes[g] += local
        return arrive

    def _band_load(self, j: int, tb: ModelTables, node: int, band_index: int, tensor: str, now: float, g: int) -> float:
        """Arrival of the DRAM rows band ``band_index`` needs of ``tensor``, loading earlier bands' rows first."""
        key = (j, node, tensor)
        arrivals = self.loads.get(key)
        if arrivals is None:
            arrivals = self.loads[key] = []
        bands = tb.node_bands[node]
        for nbytes, kind in load_band_rows(arrivals, band_index, lambda k: tb.band_loads[bands[k]][tensor],
                                           self.dram, now):
            self.rec.dram_read[kind] += nbytes
            self.state.dram_bytes[g] += nbytes
        return arrivals[band_index]

    def send(self, j: int, t: int, g: int, now: float) -> float:
        """Send computed tile ``g``'s outputs at ``now``; the cycle they are written."""
        st = self.state
        tb = st.job_tables[j]
        gb = st.job_band_base[j] + tb.band[t]
        if self.execute:
            self.compute_left[gb] -= 1
            if self.compute_left[gb] == 0:
                tasks = tb.tasks
                band = tasks.bands[tb.band[t]]
                self.executors[j].run_band(tasks.nodes[band.node], band)
        rec = self.rec
        dram, kind = tb.dram_write[t]
        if dram:
            rec.dram_write[kind] += dram
        onchip = 0
        writes = tb.ring_writes[t]
        if writes:
            if st.spilled[gb]:
                for _, nbytes in writes:
                    dram += nbytes
                    rec.dram_write["spill"] += nbytes
            else:
                rings = st.rings[st.job_workload[j]]
                for r, nbytes in writes:
                    rings[r].commit(nbytes, now)
                    onchip += nbytes
        end = self.dram.reserve(now, dram)
        written = self.onchip.reserve(now, onchip)
        st.dram_bytes[g] += dram
        st.onchip_bytes[g] += onchip
        return written if written > end else end
