"""The result builder's array computations (gspsim/results/) against their plain per-tile definitions, on real
lowered models and real engine runs."""

from __future__ import annotations

import numpy as np
import pytest

import gspsim
from gspsim.api import compile_model, prepare_graph
from gspsim.engine import run_engine
from gspsim.engine.options import SimOptions
from gspsim.engine.records import Workload
from gspsim.hardware.config import load_hardware
from gspsim.hardware.cost_model import CostModel
from gspsim.results.bounds import critical_path_cycles, slowest_tile_cycles
from gspsim.results.build import _TileTables, cores_per_node
from gspsim.scheduling import make_scheduler

from helpers import MOBILENET, RESNET, TRANSFORMER


@pytest.fixture(scope="module", params=[RESNET, MOBILENET, TRANSFORMER], ids=lambda p: p.stem)
def workload_run(request):
    hw = load_hardware("blaize-1600")
    options = SimOptions(mode="streaming", frames=3, execute=False, accuracy_samples=0)
    program = compile_model(prepare_graph(gspsim.load_model(request.param), options), hw, options)
    workload = Workload(program, make_scheduler(options.scheduler_name, options.seed), (0.0, 500.0, 500.0))
    return workload, run_engine([workload], hw, options)


def test_slowest_tile_per_band_is_the_max_over_the_bands_tiles(workload_run) -> None:
    workload, _ = workload_run
    prog = workload.program
    plain = [max((prog.cycles[t] for t in band.tiles), default=0) for band in prog.tasks.bands]
    assert slowest_tile_cycles(workload) == plain
    finish = [0.0] * len(prog.tasks.bands)
    for band in prog.tasks.bands:
        finish[band.id] = max((finish[d] for d in band.deps), default=0.0) + plain[band.id]
    assert critical_path_cycles(workload) == max(finish) > 0


def test_cores_per_node_are_the_distinct_cores_of_its_tiles(workload_run) -> None:
    _, run = workload_run
    tables = _TileTables(run, CostModel(load_hardware("blaize-1600")))
    node, core = tables.node, run.records.core
    plain = [tuple(int(c) for c in np.unique(core[node == k])) for k in range(tables.node_count)]
    assert cores_per_node(node, core, tables.node_count) == plain
    assert sum(map(len, plain)) > tables.node_count  # some node spread over several cores
