"""A sweep worker shares lowered models between points: the shared program gives every point its own figures.

Real models and real simulations (timing only); every point simulated through
the cache is compared with a fresh simulation of the same point.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import replace

import pytest

from gspsim.api import load_model, simulate
from gspsim.engine.options import SimOptions
from gspsim.hardware import load_hardware
from gspsim.hardware.config import HardwareConfig, PrecisionTable, SparsityConfig
from gspsim.sweep.modelfiles import content_hash
from gspsim.sweep.programs import EscapedRead, LoweringCache, ReadLog, recording
from gspsim.sweep.worker import PointTask, lowering_cache, run_point

from helpers import MOBILENET, RESNET

SPARSE = SparsityConfig(zero_skip_efficiency=PrecisionTable(int8=0.5, fp16=0.5, bf16=0.5, fp32=0.5))


def _chip(base: HardwareConfig, clock: float = 1.0, dram: float = 1.0, cores: int = 0, static_w: float = 0.0,
          sparse: bool = False) -> HardwareConfig:
    return replace(
        base,
        cores=replace(base.cores, clock_hz=base.cores.clock_hz * clock, count=cores or base.cores.count),
        dram=replace(base.dram, bandwidth_bytes_per_s=base.dram.bandwidth_bytes_per_s * dram),
        energy=replace(base.energy, static_w=static_w or base.energy.static_w),
        sparsity=SPARSE if sparse else base.sparsity,
    )


@pytest.mark.parametrize("model", [RESNET, MOBILENET], ids=["resnet", "mobilenet"])
def test_shared_lowering_gives_every_point_the_figures_of_a_fresh_run(model) -> None:
    graph = load_model(model)
    base = load_hardware("blaize-1600")
    chips = [_chip(base, clock, dram, cores, static_w, sparse)
             for clock, dram, cores, static_w, sparse in itertools.product(
                 (1.0, 1.5), (0.5, 2.0), (0, 4), (0.0, 3.0), (False, True))]
    options = [SimOptions(execute=False), SimOptions(execute=False, frames=2, scheduler="heft"),
               SimOptions(execute=False, prune="magnitude:0.5"), SimOptions(execute=False, precision="fp16")]
    cache = LoweringCache(max_entries=64)
    for hw, opts in itertools.product(chips, options):
        shared = simulate(graph, hw, opts, lower=cache.lower)
        fresh = simulate(graph, hw, opts)
        assert shared.to_dict() == fresh.to_dict(), (hw.cores, hw.dram, hw.sparsity, opts)
    # clock, DRAM bandwidth, static power and the scheduler do not enter lowering; core count, sparsity (it
    # matters once pruning has made zeros, and is recorded either way), pruning and precision do
    assert cache.misses == 2 * 2 * 3  # cores x sparse x (default, prune, fp16); the frames + heft option shares
    assert cache.hits == len(chips) * len(options) - cache.misses


def test_the_key_is_what_lowering_read() -> None:
    graph = load_model(RESNET)
    hw = load_hardware("blaize-1600")
    cache = LoweringCache()
    simulate(graph, hw, SimOptions(execute=False), lower=cache.lower)
    [(hw_reads, option_reads)] = cache.lowering_inputs(graph)
    read = {path for path, _ in hw_reads}
    assert ("cores", "count") in read and ("cores", "local_memory_bytes") in read
    assert ("shared_memory", "size_bytes") in read
    assert not any(path[0] in ("dram", "energy", "dma") or path[-1] == "clock_hz" for path in read), read
    options_read = {path for path, _ in option_reads}
    assert {("mode",), ("tile",), ("buffer_budget",), ("precision",)} <= options_read
    assert ("frames",) not in options_read and ("scheduler",) not in options_read


def test_a_recording_copy_behaves_as_its_config_and_refuses_reads_after_lowering() -> None:
    hw = load_hardware("blaize-1600")
    log = ReadLog()
    copy = recording(hw, log)
    assert isinstance(copy, HardwareConfig) and copy == hw and hash(copy) == hash(hw)
    assert copy.sparsity.is_dense  # compares with a plain SparsityConfig()
    assert copy.dram_bytes_per_cycle == hw.dram_bytes_per_cycle
    assert copy.peak_ops_per_s("int8") == hw.peak_ops_per_s("int8")
    assert dataclasses.replace(copy, name="other").cores == hw.cores
    assert ("cores", "macs_per_cycle", "int8") in log.reads and ("cores", "count") in log.reads
    assert ("dram", "bandwidth_bytes_per_s") in log.reads and ("cores", "clock_hz") in log.reads
    log.open = False
    with pytest.raises(EscapedRead, match="cores was read after lowering"):
        copy.cores.count  # noqa: B018 - the read is the test


def test_a_worker_shares_lowering_between_points_and_splits_its_time() -> None:
    hw = load_hardware("blaize-1600")
    sha = content_hash(str(RESNET))
    options = SimOptions(execute=False)
    lowering_cache.cache_clear()
    first = run_point(PointTask(key="a", model=str(RESNET), model_sha256=sha, hardware=hw, options=options))
    second = run_point(PointTask(key="b", model=str(RESNET), model_sha256=sha, hardware=_chip(hw, clock=2.0),
                                 options=options))
    other = run_point(PointTask(key="c", model=str(RESNET), model_sha256=sha, hardware=_chip(hw, cores=4),
                                options=options))
    assert [r["status"] for r in (first, second, other)] == ["ok"] * 3
    assert [r["lowering_shared"] for r in (first, second, other)] == [False, True, False]
    assert second["metrics"]["latency_s"] < first["metrics"]["latency_s"]  # the faster clock's own figures
    for record in (first, second, other):
        timings = record["timings_s"]
        assert set(timings) == {"load", "lowering", "simulation", "record"}
        assert all(t >= 0 for t in timings.values()) and sum(timings.values()) <= record["wall_s"]
    assert second["timings_s"]["lowering"] < first["timings_s"]["lowering"]
    lowering_cache.cache_clear()


def test_the_cache_keeps_the_most_recently_used_lowerings() -> None:
    graph = load_model(RESNET)
    hw = load_hardware("blaize-1600")
    cache = LoweringCache(max_entries=2)
    options = SimOptions(execute=False)
    four, eight, sixteen = (_chip(hw, cores=n) for n in (4, 8, 16))
    for chip in (four, eight, four, sixteen):  # 4 is used again before 16 arrives: 8 goes out
        cache.lower(graph, chip, options, 2**34)
    assert (cache.hits, cache.misses) == (1, 3)
    cache.lower(graph, four, options, 2**34)
    cache.lower(graph, sixteen, options, 2**34)
    assert (cache.hits, cache.misses) == (3, 3)
    cache.lower(graph, eight, options, 2**34)
    assert (cache.hits, cache.misses) == (3, 4)
