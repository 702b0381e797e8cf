"""Runs worked out by hand: every cycle, byte and joule of a few tiny graphs on a tiny chip.

The chip ("hand"): 2 cores with 2 thread slots each, 4 fp32 MACs and 2 fp32 vector lanes per cycle, 1 GHz;
8 KiB shared memory (4 KiB of line buffers), on-chip channel min(8, 16) = 8 B/cycle; DRAM 16 B/cycle with no
latency, one DMA engine; energy 1 pJ per MAC, 0.5 pJ per vector op, 0.1 pJ per local SRAM byte, 0.2 pJ per
on-chip channel byte, 1 pJ per DRAM byte, 10 mW static. Every figure asserted below is derived in the test's
docstring from these numbers and the rules of docs/cost-model.md and docs/execution-model.md, so a uniform
timing or accounting error cannot pass.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

import gspsim
from gspsim.hardware import hardware_from_dict, load_hardware
from gspsim.hardware.cost_model import CostModel

from helpers import save_model, tensor


def hand_chip():
    d = load_hardware("edge-4").to_dict()
    d["name"] = "hand"
    d["cores"].update(count=2, thread_slots=2, clock_hz=1e9, local_memory_bytes=4096,
                      macs_per_cycle={"int8": 4.0, "fp16": 4.0, "bf16": 4.0, "fp32": 4.0},
                      vector_lanes={"int8": 2.0, "fp16": 2.0, "bf16": 2.0, "fp32": 2.0})
    d["shared_memory"].update(size_bytes=8192, bandwidth_bytes_per_cycle=16.0)
    d["dram"].update(bandwidth_bytes_per_s=16e9, latency_ns=0.0)
    d["dma"].update(engines=1)
    d["interconnect"].update(bandwidth_bytes_per_cycle=8.0)
    d["energy"].update(mac_pj={"int8": 1.0, "fp16": 1.0, "bf16": 1.0, "fp32": 1.0},
                       vector_op_pj={"int8": 0.5, "fp16": 0.5, "bf16": 0.5, "fp32": 0.5},
                       sram_pj_per_byte=0.1, interconnect_pj_per_byte=0.2, dram_pj_per_byte=1.0, static_w=0.01)
    return hardware_from_dict(d, "hand chip")


PJ = 1e-12


def _conv_model(tmp_path):
    w = numpy_helper.from_array(np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3) / 10, "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])
    return save_model([node], [tensor("x", [1, 1, 4, 4])], [tensor("y", [1, 1, 4, 4])], [w], tmp_path / "conv.onnx")


def test_one_convolution_in_two_bands(tmp_path) -> None:
    """x[1,1,4,4] -> Conv 3x3 pad 1 (36 B of weights) -> y, tiles of 2 rows (``--tile rows=2``): 2 bands of one tile.

    * t=0: the frame arrives; the weight DMA loads 36 B: ceil(36/16) = 3 cycles, [0, 3).
    * t=3: both tiles are ready. depth-first: both cores start free (load 3): tile 0 -> core 0 (its home core,
      the lowest index). Tile 1: core 0 now has 18 queued cycles (load 21), core 1 has 3; its home core 0 is
      within one tile's compute (21 <= 3 + 18), so core 0 again. Both start at t=3 (2 slots).
      - tile 0 reads input rows [0, 3): its band loads them from DRAM, 3 rows x 16 B = 48 B, [3, 6); its window
        from staging, 48 B, over the 8 B/cycle on-chip channel, [3, 9); its weights are local (home core).
        Inputs in at 9.
      - tile 1 reads rows [1, 4): its band loads only row 3, 16 B, DRAM [6, 7); its window is 48 B, but tile 0
        of the previous band ran on this core, so rows 1-2 (2/3 of it, 32 B) are here: 16 B on chip, [9, 11).
    * compute: 72 MACs / 4 = 18 cycles each; core 0's unit: tile 0 [9, 27), tile 1 (waiting since 11) [27, 45).
    * outputs: 2 rows x 16 B = 32 B each to DRAM (a graph output): tile 0 [27, 29), tile 1 [45, 47).
    * latency 47. DRAM: weights 36, inputs 48 + 16 = 64, outputs 64: 164 B. On-chip channel: 48 + 16 = 64 B.
      SRAM: per tile 48 in + 32 out + 36 weights = 116, twice, + 36 B of weight load = 268 B.
    * energy: compute 144 MACs x 1 pJ = 144 pJ; SRAM 268 x 0.1 = 26.8 pJ; interconnect 64 x 0.2 = 12.8 pJ;
      DRAM 164 x 1 = 164 pJ; static 0.01 W x 47 ns = 470 pJ; total 817.6 pJ.
    * bounds: critical path 18 (the two bands are independent), compute 36 / 2 cores = 18,
      DRAM ceil(164 / 16) = 11: lower bound 18, efficiency 18/47.
    """
    r = gspsim.simulate(_conv_model(tmp_path), hand_chip(), tile="rows=2", accuracy_samples=0, check=True)
    assert r.check.passed
    tl = r.timeline
    assert tl.block_core.tolist() == [0, 0]
    assert tl.block_start.tolist() == [3.0, 3.0] and tl.block_end.tolist() == [29.0, 47.0]
    assert r.latency_cycles == 47
    assert r.dram_bytes_by_kind == {"read": {"weights": 36, "inputs": 64, "intermediate": 0, "spill": 0},
                                    "write": {"outputs": 64, "intermediate": 0, "spill": 0}}
    assert r.onchip_bytes == 64 and r.sram_bytes == 268
    assert r.energy_breakdown_j["compute"] == pytest.approx(144 * PJ)
    assert r.energy_breakdown_j["sram"] == pytest.approx(26.8 * PJ)
    assert r.energy_breakdown_j["interconnect"] == pytest.approx(12.8 * PJ)
    assert r.energy_breakdown_j["dram"] == pytest.approx(164 * PJ)
    assert r.energy_breakdown_j["static"] == pytest.approx(470 * PJ)
    assert r.energy_j == pytest.approx(817.6 * PJ)
    assert r.lower_bounds == {"critical_path": 18.0, "compute_roofline": 18.0, "dram_roofline": 11.0}
    assert r.efficiency == pytest.approx(18 / 47)


def test_peak_power_of_blaize_1600() -> None:
    """16 x 500 x 1e9 x 0.39 pJ = 3.12 W; 16 x 64 B x 1e9 x 0.625 pJ = 0.64 W; 256 B x 1e9 x 3.125 pJ = 0.8 W;
    25.6e9 B/s x 20.3 pJ = 0.5197 W; static 1.6 W: 6.6797 W, within 10% of the published ~7 W."""
    peak = CostModel(load_hardware("blaize-1600")).peak_power_w("int8")
    assert peak["compute"] == pytest.approx(3.12)
    assert peak["sram"] == pytest.approx(0.64)
    assert peak["interconnect"] == pytest.approx(0.8)
    assert peak["dram"] == pytest.approx(0.51968)
    assert peak["total"] == pytest.approx(6.67968)
    assert abs(peak["total"] - 7.0) <= 0.7
