"""Lowering: tiles cover every output element once, their shares add up, the compiler's rule holds, --tile overrides it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import gspsim
from gspsim.api import prepare_graph
from gspsim.errors import ConfigError
from gspsim.hardware import load_hardware
from gspsim.lowering import TileShape, lower_to_tasks, parse_tile
from gspsim.lowering.tiling import working_set_bytes

from helpers import MOBILENET, RESNET
from random_graphs import random_chip, random_cnn, save


def _lower(graph, hw, tile=None, precision="fp32"):
    return lower_to_tasks(prepare_graph(graph, gspsim.SimOptions(precision=precision, calibration_samples=2)),
                          hw, parse_tile(tile) if tile else None)


def _check_tiles(tasks) -> None:
    for node in tasks.nodes:
        blocks = [tasks.blocks[t] for t in node.blocks]
        # MACs, vector ops and output bytes of the tiles add up to the node's exactly
        assert sum(b.macs for b in blocks) == node.cost.macs
        assert sum(b.vector_ops for b in blocks) == node.cost.vector_ops
        assert sum(b.out_bytes for b in blocks) == node.cost.write_bytes
        # the tiles of a band cover its rows x every channel x every column exactly once
        out = tasks.tensors[node.op.outputs[0]] if node.op.outputs and node.op.outputs[0] else None
        axes = node.tiling.axes
        for b_id in node.bands:
            band = tasks.bands[b_id]
            cells = set()
            for t in band.tiles:
                tile = tasks.blocks[t]
                assert tile.rows == band.rows and tile.band == b_id and tile.node == node.index
                for c in range(*tile.channels):
                    for w in range(*tile.cols):
                        assert (c, w) not in cells
                        cells.add((c, w))
            if out is not None and axes.row is not None:
                chans = out.shape[axes.channel] if axes.channel is not None else 1
                cols = out.shape[axes.col] if axes.col is not None else 1
                assert len(cells) == chans * cols
        if out is not None and axes.row is not None:
            rows = [tasks.bands[b].rows for b in node.bands]
            assert rows[0][0] == 0 and rows[-1][1] == out.shape[axes.row]
            assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))
    # a band depends only on earlier bands (topological order)
    for band in tasks.bands:
        assert all(d < band.id for d in band.deps)


@settings(max_examples=40, deadline=None)
@given(model=random_cnn(), hw=random_chip(), tile=st.sampled_from([None, "rows=1", "rows=2,channels=1", "rows=3,cols=2"]))
def test_tiles_partition_every_node(model, hw, tile) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        graph = gspsim.load_model(save(model, Path(tmp)))
        _check_tiles(_lower(graph, hw, tile))


@pytest.mark.parametrize("model", [RESNET, MOBILENET], ids=lambda p: p.stem)
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_compiler_rule_fits_local_memory_and_spreads_over_the_cores(model, precision) -> None:
    hw = load_hardware("blaize-1600")
    tasks = _lower(gspsim.load_model(model), hw, precision=precision)
    _check_tiles(tasks)
    for node in tasks.nodes:
        t = node.tiling
        if t.axes.row is None:
            continue
        out = tasks.tensors[node.op.outputs[0]]
        ws = working_set_bytes(node.op, t.axes, out, tasks.tensors, node.cost, t.rows, t.channels, t.cols)
        single_row = working_set_bytes(node.op, t.axes, out, tasks.tensors, node.cost, 1, 1, 1)
        # rule 3: the working set fits half the local memory whenever one row of one channel does
        assert ws <= hw.cores.local_memory_bytes // 2 or single_row > hw.cores.local_memory_bytes // 2


def test_tile_override_and_its_errors() -> None:
    assert parse_tile("rows=2,channels=all") == TileShape(2, 0, None)
    assert str(parse_tile("rows=2,channels=all")) == "rows=2,channels=all"
    for bad in ("rows", "rows=0", "depth=2", "rows=x"):
        with pytest.raises(ValueError):
            parse_tile(bad)
    with pytest.raises(ConfigError, match="--tile 'rows=0'"):
        gspsim.simulate(RESNET, tile="rows=0", execute=False)
    hw = load_hardware("blaize-1600")
    tasks = _lower(gspsim.load_model(RESNET), hw, "rows=1,channels=all,cols=all")
    for node in tasks.nodes:
        if node.tiling.axes.row is not None:
            assert node.tiling.rows == 1 and len(tasks.bands[node.bands[0]].tiles) == 1


@settings(max_examples=200, deadline=None)
@given(segments=st.lists(st.tuples(st.integers(0, 2 ** 52), st.lists(st.integers(0, 300), max_size=40)),
                         min_size=1, max_size=6))
def test_tile_read_shares_on_arrays_equal_the_plain_loop(segments) -> None:
    """Reads' shares are cut on int64 arrays, many reads at once (lowering.tiles.segment_rounded_parts); the plain
    running-sum loop of each read gives the same parts, and a read's parts add up to its bytes."""
    import numpy as np

    from gspsim.lowering.tiles import segment_rounded_parts

    plain: list[int] = []
    for nbytes, weights in segments:
        total, done = sum(weights), 0
        for w in weights:
            start, done = done, done + w
            plain.append(nbytes * done // total - nbytes * start // total if total else 0)
    lengths = [len(w) for _, w in segments]
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    per_entry = [(nbytes, sum(w)) for nbytes, w in segments for _ in w]
    parts = segment_rounded_parts(np.asarray([n for n, _ in per_entry], dtype=np.int64).reshape(-1),
                                  np.asarray([w for _, ws in segments for w in ws], dtype=np.int64).reshape(-1),
                                  np.asarray([t for _, t in per_entry], dtype=np.int64).reshape(-1), starts)
    assert parts.tolist() == plain
    for k, (nbytes, weights) in enumerate(segments):
        if sum(weights):
            assert int(parts[starts[k]:starts[k + 1]].sum()) == nbytes
