"""The cost model: how many cycles and joules a block of work takes on a given chip.

Rules (documented in docs/cost-model.md):

* compute cycles of a block on one core = ``ceil(MACs / macs_per_cycle[p]) +
  ceil(vector_ops / vector_lanes[p])`` at its node's precision ``p``;
* a transfer of ``n`` bytes over a channel of ``B`` bytes/cycle occupies it for
  ``ceil(n / B)`` cycles; DRAM adds its access latency to every transfer;
* dynamic energy = MACs x ``mac_pj[p]`` + vector ops x ``vector_op_pj[p]`` +
  SRAM bytes x ``sram_pj_per_byte`` + interconnect bytes x
  ``interconnect_pj_per_byte`` + DRAM bytes x ``dram_pj_per_byte``; static
  energy = ``static_w`` x latency.

Precision ``p`` is the hardware-table key: fp32, fp16, bf16 or int8.

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

from ..hardware.config import HardwareConfig
from ..ir.costs import OpCost
from ..vocab import PRECISIONS

PJ = 1e-12


@dataclass(frozen=True)
class CostModel:
    """Constants taken from the hardware config at one precision."""

    macs_per_cycle: float
    vector_lanes: float
    mac_j: float
    vector_op_j: float
    sram_j_per_byte: float
    interconnect_j_per_byte: float
    dram_j_per_byte: float
    static_w: float
    clock_hz: float
    dram_bytes_per_cycle: float
    dram_latency_cycles: int
    interconnect_bytes_per_cycle: float

    @classmethod
    def for_run(cls, hw: HardwareConfig, precision: str) -> "CostModel":
        e = hw.energy
        return cls(
            macs_per_cycle=hw.cores.macs_per_cycle[precision],
            vector_lanes=hw.cores.vector_lanes[precision],
            mac_j=e.mac_pj[precision] * PJ,
            vector_op_j=e.vector_op_pj[precision] * PJ,
            sram_j_per_byte=e.sram_pj_per_byte * PJ,
            interconnect_j_per_byte=e.interconnect_pj_per_byte * PJ,
            dram_j_per_byte=e.dram_pj_per_byte * PJ,
            static_w=e.static_w,
            clock_hz=hw.cores.clock_hz,
            dram_bytes_per_cycle=hw.dram_bytes_per_cycle,
            dram_latency_cycles=hw.dram_latency_cycles,
            interconnect_bytes_per_cycle=hw.interconnect.bandwidth_bytes_per_cycle,
        )

    def compute_cycles(self, macs: int, vector_ops: int) -> int:
        """Cycles one core needs for this much work."""
        return int(math.ceil(macs / self.macs_per_cycle)) + int(math.ceil(vector_ops / self.vector_lanes))

    def compute_energy(self, macs: int, vector_ops: int) -> float:
        return macs * self.mac_j + vector_ops * self.vector_op_j


def transfer_cycles(nbytes: int, bytes_per_cycle: float) -> int:
    return int(math.ceil(nbytes / bytes_per_cycle)) if nbytes > 0 else 0


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
