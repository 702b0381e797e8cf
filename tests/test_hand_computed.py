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
    assert r.active_lower_bounds == {"critical_path": 18.0, "compute_roofline": 18.0, "dram_roofline": 11.0}
    assert r.active_efficiency == pytest.approx(18 / 47)


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


def _conv_relu_model(tmp_path):
    w = numpy_helper.from_array(np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3) / 10 - 0.4, "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    return save_model(nodes, [tensor("x", [1, 1, 4, 4])], [tensor("y", [1, 1, 4, 4])], [w], tmp_path / "cr.onnx")


def test_a_convolution_streaming_into_a_relu_through_a_line_buffer(tmp_path) -> None:
    """x -> Conv 3x3 pad 1 -> c -> Relu -> y with ``--no-fuse --tile rows=2``: c streams through a line buffer.

    The conv tiles run as in the test above (core 0; compute [9, 27) and [27, 45)), but their outputs now go
    into c's line buffer: each relu band reads one conv band, so the buffer holds one band plus run-ahead,
    capped at the whole 64 B tensor. Each conv tile writes its 32 B over the on-chip channel: [27, 31) and
    [45, 49). The relu tiles' home core is 1 (channel groups are dealt to cores in program order):
    * t=31: relu band 0 is ready; core 0's unit is busy until 45 (load 45), core 1 is free (load 31): core 1.
      It reads its 32 B of c from the buffer (conv tile 0 ran on core 0, so over the channel) [31, 35),
      computes 8 vector ops / 2 lanes = 4 cycles [35, 39), writes y's rows to DRAM [39, 41). c's band 0 is freed.
    * t=49: relu band 1: both cores free at 49, its home core 1 wins: reads [49, 53), computes [53, 57),
      writes [57, 59). Latency 59.
    * on-chip channel: 48 + 16 (staging) + 32 + 32 (conv writes) + 32 + 32 (relu reads) = 192 B;
      SRAM: conv tiles 2 x (48 + 32 + 36), relu tiles 2 x (32 + 32), weight load 36: 396 B; DRAM 164 B as before.
    * energy: compute 144 x 1 + 16 vector ops x 0.5 = 152 pJ; SRAM 39.6 pJ; interconnect 192 x 0.2 = 38.4 pJ;
      DRAM 164 pJ; static 0.01 W x 59 ns = 590 pJ.
    * the line buffer held at most one band: 32 B.
    * bounds: each band chain is conv 18 + relu 4 = 22 cycles; compute (36 + 8) / 2 = 22; DRAM 11.

    Fused (the default), the relu runs in the conv's threads: each tile computes 18 + 4 = 22 cycles, [9, 31) and
    [31, 53), and writes y to DRAM [31, 33) and [53, 55): latency 55, 64 B on chip, SRAM 268 B, static 550 pJ.
    """
    path = _conv_relu_model(tmp_path)
    r = gspsim.simulate(path, hand_chip(), tile="rows=2", fuse=False, accuracy_samples=0, check=True)
    assert r.check.passed and r.deadlock_spills == 0
    tl = r.timeline
    assert tl.block_core.tolist() == [0, 0, 1, 1]
    assert tl.block_start.tolist() == [3.0, 3.0, 31.0, 49.0] and tl.block_end.tolist() == [31.0, 49.0, 41.0, 59.0]
    assert r.latency_cycles == 59 and r.onchip_bytes == 192 and r.sram_bytes == 396
    assert r.dram_read_bytes + r.dram_write_bytes == 164
    assert r.energy_breakdown_j["compute"] == pytest.approx(152 * PJ)
    assert r.energy_breakdown_j["sram"] == pytest.approx(39.6 * PJ)
    assert r.energy_breakdown_j["interconnect"] == pytest.approx(38.4 * PJ)
    assert r.energy_breakdown_j["dram"] == pytest.approx(164 * PJ)
    assert r.energy_breakdown_j["static"] == pytest.approx(590 * PJ)
    assert [b["high_water_bytes"] for b in r.buffers] == [32] and [b["capacity_bytes"] for b in r.buffers] == [64]
    assert r.active_lower_bounds == {"critical_path": 22.0, "compute_roofline": 22.0, "dram_roofline": 11.0}
    fused = gspsim.simulate(path, hand_chip(), tile="rows=2", accuracy_samples=0, check=True)
    assert fused.check.passed and fused.model["nodes"] == 1
    assert fused.timeline.block_end.tolist() == [33.0, 55.0]
    assert fused.latency_cycles == 55 and fused.onchip_bytes == 64 and fused.sram_bytes == 268
    assert fused.energy_breakdown_j["compute"] == pytest.approx(152 * PJ)
    assert fused.energy_breakdown_j["static"] == pytest.approx(550 * PJ)
    np.testing.assert_array_equal(fused.outputs["y"], r.outputs["y"])


def _fork_join_model(tmp_path):
    wa = numpy_helper.from_array(np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3) / 10 - 0.4, "wa")
    wb = numpy_helper.from_array(np.arange(9, dtype=np.float32)[::-1].reshape(1, 1, 3, 3).copy() / 10 - 0.3, "wb")
    nodes = [helper.make_node("Conv", ["x", "wa"], ["a"], name="conv_a", pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "wb"], ["b"], name="conv_b", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["a", "b"], ["y"], name="join")]
    return save_model(nodes, [tensor("x", [1, 1, 4, 4])], [tensor("y", [1, 1, 4, 4])], [wa, wb], tmp_path / "fj.onnx")


def test_a_fork_and_its_join(tmp_path) -> None:
    """x -> conv_a -> a; a -> conv_b -> b; y = a + b, with ``--no-fuse --tile rows=2``: a is read by two nodes.

    * weights: 36 B each, resident, one DMA engine: conv_a's [0, 3), then conv_b's [3, 6).
    * conv_a as in the first test but its band loads wait for conv_b's weights on DRAM: tile 0 [6, 9) and
      staging [3, 9), tile 1 row 3 [9, 10) and 16 B on chip [9, 11); core 0 computes [9, 27) and [27, 45);
      each writes its 32 B into a's line buffer [27, 31) and [45, 49).
    * a's buffer: conv_b's bands read a's rows [0, 3) and [1, 4): both bands; join band 0 reads a's band 0 but
      cannot run before b's band 0, which needs a's band 1: it holds both. Capacity: the whole 64 B, all used at 45.
    * t=49: conv_b's bands are ready; home core 1 (groups dealt in program order): both on core 1.
      tile 0 reads rows 0-1 of a's tile 0 (32 B) and row 2 of a's tile 1 (16 B), all over the channel:
      [49, 55); tile 1 reads rows 1-3, but rows 1-2 are still on core 1 from tile 0: 16 B, [55, 57).
      Compute [55, 73) and [73, 91); writes to b's buffer [73, 77) and [91, 95).
    * join's home core is 0. t=77: band 0: core 0 is free (core 1 computes until 91): core 0. It reads a's rows
      0-1 from core 0's own memory (a's tile 0 ran there) and b's rows 0-1 over the channel [77, 81), computes
      8 vector ops / 2 lanes [81, 85), writes y [85, 87). t=95: band 1 the same way: [95, 99), [99, 103),
      [103, 105). Latency 105.
    * on chip: conv_a 48 + 16 + 32 + 32, conv_b 48 + 16 + 32 + 32, join 32 + 32 = 320 B;
      SRAM: conv tiles 4 x (48 + 32 + 36), join tiles 2 x (64 + 32), weight loads 72 = 728 B; DRAM 72 + 64 + 64.
    * energy: compute 288 + 8 = 296 pJ, SRAM 72.8, interconnect 64, DRAM 200, static 1050 pJ.
    * bounds: critical path 18 + 18 + 4 = 40, compute (36 + 36 + 8) / 2 = 40, DRAM ceil(200 / 16) = 13.

    Fused, the join runs in conv_b's threads (22 cycles each): conv_b computes [55, 77) and [77, 99) and writes
    y [77, 79) and [99, 101): latency 101, 192 B on chip.
    """
    path = _fork_join_model(tmp_path)
    r = gspsim.simulate(path, hand_chip(), tile="rows=2", fuse=False, accuracy_samples=0, check=True)
    assert r.check.passed and r.deadlock_spills == 0
    tl = r.timeline
    assert tl.block_core.tolist() == [0, 0, 1, 1, 0, 0]
    assert tl.block_start.tolist() == [3.0, 3.0, 49.0, 49.0, 77.0, 95.0]
    assert tl.block_end.tolist() == [31.0, 49.0, 77.0, 95.0, 87.0, 105.0]
    assert r.latency_cycles == 105 and r.onchip_bytes == 320 and r.sram_bytes == 728
    assert r.dram_read_bytes + r.dram_write_bytes == 200
    for part, pj in (("compute", 296), ("sram", 72.8), ("interconnect", 64), ("dram", 200), ("static", 1050)):
        assert r.energy_breakdown_j[part] == pytest.approx(pj * PJ), part
    assert {b["tensor"]: (b["capacity_bytes"], b["high_water_bytes"]) for b in r.buffers} == {"a": (64, 64),
                                                                                           "b": (64, 32)}
    assert r.active_lower_bounds == {"critical_path": 40.0, "compute_roofline": 40.0, "dram_roofline": 13.0}
    fused = gspsim.simulate(path, hand_chip(), tile="rows=2", accuracy_samples=0, check=True)
    assert fused.check.passed and fused.model["nodes"] == 2
    assert fused.timeline.block_end.tolist() == [31.0, 49.0, 79.0, 101.0]
    assert fused.latency_cycles == 101 and fused.onchip_bytes == 192
    np.testing.assert_array_equal(fused.outputs["y"], r.outputs["y"])


def test_two_frames_share_the_resident_weights(tmp_path) -> None:
    """The single convolution, two frames arriving at once (``--frames 2``).

    * weights load once, [0, 3). At t=3 four tiles are ready, assigned in frame order: frame 0's two to core 0
      (as before); frame 1's tile 0: its home core 0 has 36 queued cycles (load 39) against core 1's 3, more
      than one tile (18) apart: core 1; frame 1's tile 1: core 1 now has 18 queued (load 21), core 0's 39 is
      within 18 of it: core 0 (its home).
    * core 0 starts frame 0's tiles (both slots); core 1 starts frame 1's tile 0: its band loads rows 0-2 from
      DRAM [7, 10), its staging window 48 B and its weight slice 36 B (core 1 is not its home) over the channel:
      84 B, [11, 22); computes [22, 40), writes [40, 42).
    * frame 0 as in the first test: tile 0 writes [27, 29) and frees a slot on core 0 at 29, where frame 1's
      tile 1 starts: row 3 from DRAM [29, 30), its window (its previous band ran on core 1: no halo here) 48 B
      [29, 35); it computes after frame 0's tile 1, [45, 63), and writes [63, 65). Frame 0 ends at 47 (tile 1
      writes [45, 47)), frame 1 at 65: latency (the first frame's) 47, makespan 65.
    * DRAM: weights 36 once, inputs 2 x 64, outputs 2 x 64 = 292 B; on chip 64 + 84 + 48 = 196 B; SRAM
      4 x 116 + 36 = 500 B. Energy: compute 288, SRAM 50, DRAM 292, interconnect 39.2, static 650 pJ.
    * bounds: critical path 18, compute 4 x 18 / 2 = 36, DRAM ceil(292 / 16) = 19.
    """
    r = gspsim.simulate(_conv_model(tmp_path), hand_chip(), tile="rows=2", accuracy_samples=0, frames=2)
    tl = r.timeline
    assert tl.block_frame.tolist() == [0, 0, 1, 1] and tl.block_core.tolist() == [0, 0, 1, 0]
    assert tl.block_start.tolist() == [3.0, 3.0, 3.0, 29.0] and tl.block_end.tolist() == [29.0, 47.0, 42.0, 65.0]
    assert r.latency_cycles == 47 and r.makespan_cycles == 65 and r.frame_end_cycles == (47, 65)
    assert r.dram_bytes_by_kind["read"]["weights"] == 36 and r.dram_read_bytes + r.dram_write_bytes == 292
    assert r.onchip_bytes == 196 and r.sram_bytes == 500
    for part, pj in (("compute", 288), ("sram", 50), ("interconnect", 39.2), ("dram", 292), ("static", 650)):
        assert r.energy_breakdown_j[part] == pytest.approx(pj * PJ), part
    assert r.active_lower_bounds == {"critical_path": 18.0, "compute_roofline": 36.0, "dram_roofline": 19.0}
