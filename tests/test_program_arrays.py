"""The engine's tables as arrays on exported models, and a compiled run that builds no per-tile object.

``gspsim.engine.program.compile_program`` computes a program's per-tile tables
as numpy arrays over the lowering's columns, and
``gspsim.engine.compiled.tables.build_flat_program`` hands them to the compiled
loop as they are.  ``test_lowering_arrays`` holds them to the per-tile tables
(``program_reference``) on the test models and random graphs; here the same on
two exported models, YOLOv3 at 1/8 width (upsamples, concats, three outputs)
and ResNet-18 at 224, and the point of the arrays: a timing-only run of the
compiled engine builds no per-tile tuple and no ``Block`` record.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import gspsim
from gspsim.api import compile_model, load_model, prepare_graph
from gspsim.engine import run_engine
from gspsim.engine.compiled.tables import build_flat_program
from gspsim.engine.options import SimOptions
from gspsim.engine.program import compile_program
from gspsim.engine.records import Workload
from gspsim.hardware import load_hardware
from gspsim.hardware.cost_model import CostModel
from gspsim.lowering import lower_to_tasks, plan_layer_stacks
from gspsim.scheduling import make_scheduler

from helpers import MOBILENET
from program_reference import (
    assert_same_flat, per_tile_build_flat_program, per_tile_compile_program, per_tile_planned_activation_bytes,
    same_buffer_read,
)

#: the per-tile tuples the Python engines read (built from the arrays on first access)
PER_TILE = ("cycles", "home_core", "previous", "buffer_reads", "dram_reads", "staging_bytes", "staging_reuse",
            "ring_writes", "dram_write", "weight_key")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """YOLOv3 at 1/8 width and 64x64 and ResNet-18 at 224 (28,339 tiles), exported with torch (about 15 s)."""
    pytest.importorskip("torch")
    from gspsim.models.export import export_model
    from gspsim.models.variants import export_variant

    out = tmp_path_factory.mktemp("exported")
    return {"yolov3": export_variant("yolov3-416", out, width=0.125, resolution=64),
            "resnet18-224": export_model("resnet18-224", out / "resnet18-224.onnx")}


@pytest.mark.parametrize("name", ["yolov3", "resnet18-224"])
def test_tables_over_arrays_equal_the_per_tile_tables_on_exported_models(exported: dict[str, Path],
                                                                        name: str) -> None:
    hw = load_hardware("blaize-1600")
    tasks = lower_to_tasks(prepare_graph(gspsim.load_model(exported[name]), gspsim.SimOptions()), hw)
    for mode in ("streaming", "layer"):
        plan = plan_layer_stacks(tasks, hw, mode)
        got = compile_program(tasks, plan, hw, CostModel(hw))
        want = per_tile_compile_program(tasks, plan, hw, CostModel(hw))
        assert_same_flat(build_flat_program(got), per_tile_build_flat_program(want))
        assert got.planned_activation_bytes() == per_tile_planned_activation_bytes(want)
        for f in PER_TILE:
            if f != "buffer_reads":
                assert getattr(got, f) == getattr(want, f), f
        for t, (got_r, want_r) in enumerate(zip(got.buffer_reads, want.buffer_reads, strict=True)):
            assert len(got_r) == len(want_r) and all(map(same_buffer_read, got_r, want_r)), t


@pytest.mark.parametrize("scheduler", ["depth-first", "greedy", "layer", "round-robin", "heft", "critical-path"])
def test_a_compiled_timing_only_run_builds_no_per_tile_object(scheduler: str) -> None:
    """The compiled engine reads the program's arrays: no per-tile tuple (``Program.cycles``, ``buffer_reads``,
    ...) and no ``Block`` record is built, with a built-in scheduler whose priority is arithmetic on the tiles'
    fields."""
    hw = load_hardware("blaize-1600")
    options = replace(SimOptions(execute=False, engine="compiled"), mode=hw.default_mode)
    program = compile_model(prepare_graph(load_model(MOBILENET), options), hw, options)
    workload = Workload(program=program, scheduler=make_scheduler(scheduler, 0), release_cycles=(0.0,), inputs=())
    run = run_engine([workload], hw, options)
    assert run.engine == "compiled" and "engine.compiled.tables" in program.__dict__["_derived"]
    assert not [name for name in PER_TILE if name in program.__dict__]
    assert all(block is None for block in program.tasks.blocks._blocks)
    # asked for, a per-tile tuple is built once and kept
    assert program.cycles is program.cycles and len(program.cycles) == len(program.tasks.tiles)
    assert "cycles" in program.__dict__
