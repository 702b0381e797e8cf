"""The cost model: the one place where work and bytes become cycles and joules on a given chip.

Rules (documented with their derivation in docs/cost-model.md):

* compute cycles of a tile on one core = ``ceil(MACs / macs_per_cycle[p]) +
  ceil(vector_ops / vector_lanes[p])`` at its node's precision ``p``;
* a transfer of ``n`` bytes over a channel of ``B`` bytes/cycle occupies it for
  ``ceil(n / B)`` cycles; DRAM adds its access latency to every transfer; the
  on-chip channel between the cores and shared memory runs at the lower of
  the interconnect's and shared memory's bandwidth;
* dynamic energy = MACs x ``mac_pj[p]`` + vector ops x ``vector_op_pj[p]`` +
  local SRAM bytes x ``sram_pj_per_byte`` + bytes crossing the interconnect
  (to or from shared memory or another core) x ``interconnect_pj_per_byte`` +
  DRAM bytes x ``dram_pj_per_byte``; static energy = ``static_w`` x time.

Sparsity (:func:`sparse_op_cost`, applied when a node is lowered): a chip whose
``[sparsity]`` section gives ``zero_skip_efficiency[p] = e`` skips a share
``e`` of the MACs that multiply a zero weight, so a MAC op with weight zero
fraction ``z`` costs ``MACs - round(MACs x z x e)``; with
``compressed_weights`` its weight takes ``nonzeros x element bytes +
ceil(nonzeros x index_bits / 8)`` bytes (in DRAM and on chip) when that is
smaller than the dense tensor.  A chip without the section pays for every zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..ir.costs import OpCost
from ..vocab import PRECISIONS
from .config import HardwareConfig

PJ = 1e-12


@dataclass(frozen=True)
class CostModel:
    """Cycles and joules on one chip (every precision)."""

    hw: HardwareConfig

    # -- compute ---------------------------------------------------------------------------------------
    def compute_cycles(self, macs: int, vector_ops: int, precision: str) -> int:
        """Cycles one core needs for this much work at ``precision``."""
        c = self.hw.cores
        return int(math.ceil(macs / c.macs_per_cycle[precision])) + int(math.ceil(vector_ops / c.vector_lanes[precision]))

    def compute_cycles_array(self, macs: np.ndarray, vector_ops: np.ndarray, precision: np.ndarray) -> np.ndarray:
        """:meth:`compute_cycles` for many tiles at once (the same IEEE operations, so the same integers)."""
        out = np.zeros(len(macs), dtype=np.int64)
        for p in PRECISIONS:
            sel = precision == p
            if sel.any():
                c = self.hw.cores
                out[sel] = (np.ceil(macs[sel] / c.macs_per_cycle[p]).astype(np.int64)
                            + np.ceil(vector_ops[sel] / c.vector_lanes[p]).astype(np.int64))
        return out

    def compute_energy_array(self, macs: np.ndarray, vector_ops: np.ndarray, precision: np.ndarray) -> np.ndarray:
        """Joules of MACs and vector operations, per tile."""
        out = np.zeros(len(macs), dtype=np.float64)
        e = self.hw.energy
        for p in PRECISIONS:
            sel = precision == p
            if sel.any():
                out[sel] = macs[sel] * (e.mac_pj[p] * PJ) + vector_ops[sel] * (e.vector_op_pj[p] * PJ)
        return out

    # -- moving bytes ----------------------------------------------------------------------------------
    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.hw.dram_bytes_per_cycle

    @property
    def dram_latency_cycles(self) -> int:
        return self.hw.dram_latency_cycles

    @property
    def onchip_bytes_per_cycle(self) -> float:
        """The channel between the cores and shared memory: the slower of the interconnect and the SRAM port."""
        return min(self.hw.interconnect.bandwidth_bytes_per_cycle, self.hw.shared_memory.bandwidth_bytes_per_cycle)

    @staticmethod
    def transfer_cycles(nbytes: int, bytes_per_cycle: float) -> int:
        """Cycles a channel is busy with ``nbytes`` (no latency)."""
        return int(math.ceil(nbytes / bytes_per_cycle)) if nbytes > 0 else 0

    @property
    def sram_j_per_byte(self) -> float:
        return self.hw.energy.sram_pj_per_byte * PJ

    @property
    def interconnect_j_per_byte(self) -> float:
        return self.hw.energy.interconnect_pj_per_byte * PJ

    @property
    def dram_j_per_byte(self) -> float:
        return self.hw.energy.dram_pj_per_byte * PJ

    @property
    def static_w(self) -> float:
        return self.hw.energy.static_w

    @property
    def clock_hz(self) -> float:
        return self.hw.cores.clock_hz

    # -- power ---------------------------------------------------------------------------------------------
    def peak_power_w(self, precision: str) -> dict[str, float]:
        """Power with every unit busy: all cores at peak MACs, SRAM, interconnect and DRAM at full bandwidth, static.

        Local SRAM at full speed is taken as every core moving ``vector_lanes[p]`` operands of
        the precision per cycle (the width its vector unit reads); see docs/cost-model.md.
        """
        hw, e = self.hw, self.hw.energy
        clock, cores = hw.cores.clock_hz, hw.cores.count
        elem = {"int8": 1, "fp16": 2, "bf16": 2, "fp32": 4}[precision]
        parts = {
            "compute": cores * hw.cores.macs_per_cycle[precision] * clock * e.mac_pj[precision] * PJ,
            "sram": cores * hw.cores.vector_lanes[precision] * elem * clock * e.sram_pj_per_byte * PJ,
            "interconnect": self.onchip_bytes_per_cycle * clock * e.interconnect_pj_per_byte * PJ,
            "dram": hw.dram.bandwidth_bytes_per_s * e.dram_pj_per_byte * PJ,
            "static": e.static_w,
        }
        parts["total"] = sum(parts.values())
        return parts


def sparse_op_cost(cost: OpCost, precision: str, hw: HardwareConfig) -> OpCost:
    """``cost`` on this chip: zero-weight MACs skipped and weights compressed as its [sparsity] section says."""
    zeros = cost.mac_weight_zeros
    if not zeros or hw.sparsity.is_dense:
        return cost
    efficiency = hw.sparsity.zero_skip_efficiency[precision] if precision in PRECISIONS else 0.0
    macs = cost.macs - int(round(cost.macs * cost.weight_zero_fraction * efficiency))
    weight_bytes = cost.weight_bytes
    if hw.sparsity.compressed_weights:
        nonzeros = cost.mac_weight_elems - zeros
        elem = cost.mac_weight_bytes // cost.mac_weight_elems
        packed = nonzeros * elem + int(math.ceil(nonzeros * hw.sparsity.index_bits / 8))
        weight_bytes -= max(0, cost.mac_weight_bytes - packed)
    if macs == cost.macs and weight_bytes == cost.weight_bytes:
        return cost
    return replace(cost, macs=macs, weight_bytes=weight_bytes)
