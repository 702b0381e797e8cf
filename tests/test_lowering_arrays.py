"""Lowering over node-level arrays gives exactly the per-tile lowering's tiles, reads and engine tables.

``gspsim.lowering.lower_to_tasks`` computes a node's tiles and reads at once as
columns, ``gspsim.engine.program.compile_program`` builds the engine's tables
from them as arrays (the per-tile tuples the Python engines read are views of
them) and ``gspsim.engine.compiled.tables.build_flat_program`` hands those to
the compiled engine; ``lowering_reference`` is the plain per-tile version of
the first two (one ``Block`` and one read at a time) and ``program_reference``
the per-tile tables and flat arrays as they were before they were arrays.
Every field of every tile, read, table and flat array must agree, on the
shipped models at both precisions, with the compiler's tiles and with forced
ones, in both modes, and on random graphs and chips.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gspsim
from gspsim.api import prepare_graph
from gspsim.engine.compiled.tables import build_flat_program
from gspsim.engine.program import compile_program
from gspsim.hardware import load_hardware
from gspsim.hardware.config import HardwareConfig
from gspsim.hardware.cost_model import CostModel
from gspsim.ir.graph import DataflowGraph
from gspsim.lowering import TileRead, lower_to_tasks, parse_tile, plan_layer_stacks
from gspsim.lowering.ragged import row_sums
from gspsim.lowering.tiles import TILE_FIELDS

from helpers import DECODER_DECODE, DECODER_PREFILL, MOBILENET, RESNET, TRANSFORMER
from lowering_reference import reference_compile_program, reference_lowering
from program_reference import (
    assert_same_flat, per_tile_build_flat_program, per_tile_compile_program, per_tile_planned_activation_bytes,
    same_buffer_read,
)
from random_graphs import random_chip, random_cnn, save

BLOCK_FIELDS = ("id", "node", "band", "index", "band_index", "group", "col", "rows", "channels", "cols", "macs",
                "vector_ops", "out_bytes", "weight_bytes", "home_core", "previous")
#: Program tables compared with ==, and their types
TABLES = ("cycles", "home_core", "previous", "dram_reads", "staging_bytes", "staging_reuse", "ring_writes",
          "dram_write", "band_loads", "band_releases", "band_readers", "rings", "node_rings", "weight_loads",
          "stack_bands", "weight_key")


def _same_read(a: TileRead, b: TileRead) -> bool:
    return (a.tensor == b.tensor and a.nbytes == b.nbytes and a.overlap == b.overlap
            and all(getattr(a, f).dtype == np.int64 and np.array_equal(getattr(a, f), getattr(b, f))
                    for f in ("producer_tiles", "shares", "reused")))


def _check(graph: DataflowGraph, hw: HardwareConfig, tile: Optional[str] = None, modes: tuple[str, ...] = ("streaming",)
           ) -> None:
    shape = parse_tile(tile) if tile else None
    tasks = lower_to_tasks(graph, hw, shape)
    # programs compiled before anything else asks for reads' entries (the lowering computes them on demand)
    programs = {mode: compile_program(tasks, plan_layer_stacks(tasks, hw, mode), hw, CostModel(hw)) for mode in modes}
    nodes, bands, blocks = reference_lowering(graph, hw, shape)
    assert tasks.bands == tuple(bands)
    assert [tuple(n.blocks) for n in tasks.nodes] == [tuple(n.blocks) for n in nodes]
    assert [(n.tiling, n.cost) for n in tasks.nodes] == [(n.tiling, n.cost) for n in nodes]
    assert len(tasks.blocks) == len(blocks) == len(tasks.tiles)
    for got, want in zip(tasks.blocks, blocks):
        assert [getattr(got, f) for f in BLOCK_FIELDS] == [getattr(want, f) for f in BLOCK_FIELDS], want.id
        assert len(got.inputs) == len(want.inputs) and all(map(_same_read, got.inputs, want.inputs)), want.id
    for f in ("macs", "out_bytes", "weight_bytes", "previous"):  # the columns are the records' fields
        assert getattr(tasks.tiles, f).tolist() == [getattr(b, f) for b in blocks]
    for mode in modes:
        got_p = programs[mode]
        plan = got_p.plan
        want_p = reference_compile_program(tasks, plan, hw, CostModel(hw))
        for f in TABLES:
            assert getattr(got_p, f) == getattr(want_p, f), f
            assert type(getattr(got_p, f)) is type(getattr(want_p, f)), f
        assert len(got_p.buffer_reads) == len(want_p.buffer_reads)
        for t, (got_r, want_r) in enumerate(zip(got_p.buffer_reads, want_p.buffer_reads)):
            assert len(got_r) == len(want_r) and all(map(same_buffer_read, got_r, want_r)), t
        # the compiled engine's arrays, and the plan's DRAM traffic, as from the per-tile tables before
        per_tile = per_tile_compile_program(tasks, plan, hw, CostModel(hw))
        assert_same_flat(build_flat_program(got_p), per_tile_build_flat_program(per_tile))
        assert got_p.planned_activation_bytes() == per_tile_planned_activation_bytes(per_tile)


@pytest.mark.parametrize("model", [RESNET, MOBILENET, TRANSFORMER, DECODER_PREFILL, DECODER_DECODE],
                         ids=lambda p: p.stem)
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_array_lowering_equals_the_per_tile_lowering(model: Path, precision: str) -> None:
    graph = prepare_graph(gspsim.load_model(model), gspsim.SimOptions(precision=precision, calibration_samples=2))
    _check(graph, load_hardware("blaize-1600"), modes=("streaming", "layer"))


@pytest.mark.parametrize("tile", ["rows=1", "rows=2,channels=1", "rows=3,cols=2", "rows=1,channels=all,cols=all"])
def test_array_lowering_equals_the_per_tile_lowering_with_forced_tiles(tile: str) -> None:
    """Forced small tiles: many bands (weights re-fetched per band), halos between bands, narrow windows."""
    for model in (RESNET, MOBILENET):
        graph = prepare_graph(gspsim.load_model(model), gspsim.SimOptions(precision="int8", calibration_samples=2))
        _check(graph, load_hardware("blaize-1600"), tile)


@settings(max_examples=30, deadline=None)
@given(model=random_cnn(), hw=random_chip(),
       tile=st.sampled_from([None, "rows=1", "rows=2,channels=1", "rows=3,cols=2"]))
def test_array_lowering_equals_the_per_tile_lowering_on_random_graphs(model, hw, tile) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        graph = prepare_graph(gspsim.load_model(save(model, Path(tmp))), gspsim.SimOptions())
        _check(graph, hw, tile)


def test_blocks_are_built_once_and_share_their_reads() -> None:
    """``TaskGraph.blocks`` builds a tile's record on first access and keeps it; tiles of a band whose windows
    agree hold the same read."""
    graph = prepare_graph(gspsim.load_model(RESNET), gspsim.SimOptions())
    tasks = lower_to_tasks(graph, load_hardware("blaize-1600"))
    last = tasks.blocks[-1]
    assert last is tasks.blocks[len(tasks.blocks) - 1] and last.id == len(tasks.blocks) - 1
    assert tasks.blocks[2:5] == tuple(tasks.blocks[t] for t in range(2, 5))
    every = list(tasks.blocks)
    assert every[-1] is last and [b.id for b in every] == list(range(len(every)))
    conv = next(n for n in tasks.nodes if n.op.op_type == "Conv" and len(tasks.bands[n.bands[0]].tiles) > 1)
    first, second = (tasks.blocks[t] for t in tasks.bands[conv.bands[0]].tiles[:2])
    if first.cols == second.cols:  # two channel groups of one band read the same window of every input channel
        assert first.inputs[0] is second.inputs[0]
    assert set(TILE_FIELDS) >= {f for f in BLOCK_FIELDS if f not in ("id", "rows", "channels", "cols")}


def test_read_entries_are_computed_when_asked_for() -> None:
    """A read's entries (producer tiles, shares, reused bytes) wait until asked for: compiling a program asks only
    for those of the node inputs it reads from a line buffer (none in layer mode), and the overlap the lowering
    computes without them is the sum of their reused bytes (the windows of a graph input have no entries)."""
    graph = prepare_graph(gspsim.load_model(RESNET), gspsim.SimOptions())
    hw = load_hardware("blaize-1600")
    for mode in ("streaming", "layer"):
        tasks = lower_to_tasks(graph, hw)
        reads = tasks.reads
        plan = plan_layer_stacks(tasks, hw, mode)
        compile_program(tasks, plan, hw, CostModel(hw))
        asked = set(reads._entries)
        tensors = [reads.names[int(reads.tensor[start])] for start in reads.input_start[:-1].tolist()]
        on_chip = {i for i, t in enumerate(tensors) if t in plan.tensors and plan.tensors[plan.root(t)].on_chip}
        assert asked <= on_chip and (bool(asked) if mode == "streaming" else not asked), mode
        assert len(asked) < len(reads.inputs)
    every = reads.all_entries()
    assert len(every.start) == len(reads) + 1
    for i, node_input in enumerate(reads.inputs):
        a, z = reads.input_start[i], reads.input_start[i + 1]
        mine = reads.entries(np.arange(a, z))
        if node_input.producer is None:
            assert len(mine.producer_tiles) == 0 and np.array_equal(mine.start, np.zeros(z - a + 1))
        else:
            assert np.array_equal(reads.overlap[a:z], row_sums(mine.reused, mine.start)), i
        assert np.array_equal(mine.shares, every.shares[every.start[a]:every.start[z]]), i
