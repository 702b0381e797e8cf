"""The engine's tables computed over arrays are exactly the per-tile ones, and a compiled run builds no per-tile tuple.

``gspsim.engine.program.compile_program`` computes a program's per-tile tables
as numpy arrays over the lowering's columns, and
``gspsim.engine.compiled.tables.build_flat_program`` hands them to the compiled
loop as they are; ``program_reference`` is the plain per-tile version they
replace (tuples per tile, turned back into arrays with per-tile loops).  Every
array of the compiled engine's ``FlatProgram`` must be the same (dtype, shape,
values), and the per-tile tuples the Python engines read the same tuples, on
the test models at both precisions in both modes (their reshapes and flattens
are read through views), with forced small tiles, on random graphs and chips,
and on two exported models: YOLOv3 at 1/8 width (upsamples, concats, three
outputs) and ResNet-18 at 224.
"""

from __future__ import annotations

import tempfile
from dataclasses import fields, replace
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gspsim
from gspsim.api import compile_model, load_model, prepare_graph
from gspsim.engine import run_engine
from gspsim.engine.compiled import flat_program
from gspsim.engine.compiled.tables import FlatProgram, build_flat_program
from gspsim.engine.options import SimOptions
from gspsim.engine.program import BufferRead, compile_program
from gspsim.engine.records import Workload
from gspsim.hardware import load_hardware
from gspsim.hardware.config import HardwareConfig
from gspsim.hardware.cost_model import CostModel
from gspsim.ir.graph import DataflowGraph
from gspsim.lowering import lower_to_tasks, parse_tile, plan_layer_stacks
from gspsim.scheduling import make_scheduler

from helpers import DECODER_DECODE, DECODER_PREFILL, MOBILENET, RESNET, TRANSFORMER
from program_reference import per_tile_build_flat_program, per_tile_compile_program
from random_graphs import random_chip, random_cnn, save

#: the per-tile tuples the Python engines read (built from the arrays on first access)
PER_TILE = ("cycles", "home_core", "previous", "buffer_reads", "dram_reads", "staging_bytes", "staging_reuse",
            "ring_writes", "dram_write", "weight_key")
#: those compared with ==, and the per-band and per-node tables
TABLES = (*(f for f in PER_TILE if f != "buffer_reads"), "band_loads", "band_releases", "band_readers", "rings",
          "node_rings", "weight_loads", "stack_bands")


def _same_buffer_read(a: BufferRead, b: BufferRead) -> bool:
    return (a.tensor == b.tensor and a.nbytes == b.nbytes and a.share_total == b.share_total
            and a.reused_total == b.reused_total and a.entries == b.entries
            and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("producer_tiles", "shares", "reused")))


def assert_same_flat(got: FlatProgram, want: FlatProgram) -> None:
    """Every field of the two flat programs is equal (arrays: same dtype, shape and values)."""
    for f in fields(FlatProgram):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, f.name
            differ = np.flatnonzero(a != b)
            assert not len(differ), f"{f.name}: at {differ[:5].tolist()}: {a[differ[:5]]} != {b[differ[:5]]}"
        else:
            assert type(a) is type(b) and a == b, f.name


def _check(graph: DataflowGraph, hw: HardwareConfig, tile: Optional[str] = None,
           modes: tuple[str, ...] = ("streaming", "layer"), tuples: bool = True) -> None:
    tasks = lower_to_tasks(graph, hw, parse_tile(tile) if tile else None)
    for mode in modes:
        plan = plan_layer_stacks(tasks, hw, mode)
        got = compile_program(tasks, plan, hw, CostModel(hw))
        want = per_tile_compile_program(tasks, plan, hw, CostModel(hw))
        assert_same_flat(build_flat_program(got), per_tile_build_flat_program(want))
        if not tuples:
            continue
        for f in TABLES:
            assert getattr(got, f) == getattr(want, f), f
            assert type(getattr(got, f)) is type(getattr(want, f)), f
        assert len(got.buffer_reads) == len(want.buffer_reads)
        for t, (got_r, want_r) in enumerate(zip(got.buffer_reads, want.buffer_reads)):
            assert len(got_r) == len(want_r) and all(map(_same_buffer_read, got_r, want_r)), t
        assert got.planned_activation_bytes() == _planned_activation_bytes(want)


def _planned_activation_bytes(program: object) -> dict[str, int]:
    """Program.planned_activation_bytes from the per-tile tuples (as it was written over them)."""
    out = {"inputs": 0, "outputs": 0, "intermediate_read": 0, "intermediate_write": 0}
    for nbytes, kind in program.dram_write:  # type: ignore[attr-defined]
        out["outputs" if kind == "outputs" else "intermediate_write"] += nbytes
    for loads in program.band_loads:  # type: ignore[attr-defined]
        for nbytes, kind in loads.values():
            out["inputs" if kind == "inputs" else "intermediate_read"] += nbytes
    return out


@pytest.mark.parametrize("model", [RESNET, MOBILENET, TRANSFORMER, DECODER_PREFILL, DECODER_DECODE],
                         ids=lambda p: p.stem)
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_tables_over_arrays_equal_the_per_tile_tables(model: Path, precision: str) -> None:
    graph = prepare_graph(gspsim.load_model(model), gspsim.SimOptions(precision=precision, calibration_samples=2))
    _check(graph, load_hardware("blaize-1600"))


@pytest.mark.parametrize("tile", ["rows=1", "rows=2,channels=1", "rows=3,cols=2", "rows=1,channels=all,cols=all"])
def test_tables_over_arrays_equal_the_per_tile_tables_with_forced_tiles(tile: str) -> None:
    """Forced small tiles: many bands, weights re-fetched per band and channel group, halos between bands."""
    for model in (RESNET, MOBILENET):
        graph = prepare_graph(gspsim.load_model(model), gspsim.SimOptions(precision="int8", calibration_samples=2))
        _check(graph, load_hardware("blaize-1600"), tile)


@settings(max_examples=30, deadline=None)
@given(model=random_cnn(), hw=random_chip(),
       tile=st.sampled_from([None, "rows=1", "rows=2,channels=1", "rows=3,cols=2"]))
def test_tables_over_arrays_equal_the_per_tile_tables_on_random_graphs(model, hw, tile) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        graph = prepare_graph(gspsim.load_model(save(model, Path(tmp))), gspsim.SimOptions())
        _check(graph, hw, tile)


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
    graph = prepare_graph(gspsim.load_model(exported[name]), gspsim.SimOptions())
    _check(graph, load_hardware("blaize-1600"), tuples=name == "yolov3")


@pytest.mark.parametrize("scheduler", ["depth-first", "greedy", "layer", "round-robin"])
def test_a_compiled_timing_only_run_builds_no_per_tile_object(scheduler: str) -> None:
    """The compiled engine reads the program's arrays: no per-tile tuple view (``Program.cycles``,
    ``buffer_reads``, ...) and no ``Block`` record is built, with a built-in scheduler whose priority is
    arithmetic on the tiles' fields."""
    hw = load_hardware("blaize-1600")
    options = replace(SimOptions(execute=False), mode=hw.default_mode)
    program = compile_model(prepare_graph(load_model(MOBILENET), options), hw, options)
    workload = Workload(program=program, scheduler=make_scheduler(scheduler, 0), release_cycles=(0.0,), inputs=())
    run = run_engine([workload], hw, options)
    assert run.engine == "compiled" and flat_program(program) is flat_program(program)
    assert "engine.compiled.tables" in program.__dict__["_derived"]
    assert not [name for name in PER_TILE if name in program.__dict__]
    assert all(block is None for block in program.tasks.blocks._blocks)
    # asked for, a per-tile tuple is built once and kept
    assert program.cycles is program.cycles and len(program.cycles) == len(program.tasks.tiles)
    assert "cycles" in program.__dict__
