"""The fast engine against the reference engine: the same records, hence byte-identical JSON results.

The reference engine (``gspsim/engine/reference.py``, one SimPy process per
tile) is the definition of the run-time rules; the fast engine plays out the
same rules with its own event loop and tables, in Python
(``gspsim/engine/fast/``) and, for one model with a built-in scheduler, in
Numba (``gspsim/engine/compiled/``).  Every speed-up of the fast engine is
checked here rather than claimed: every engine runs the same compiled programs and must fill every
field of :class:`~gspsim.engine.records.Records` identically (per-tile
cores, cycles and bytes, DRAM totals by kind, weight loads, DRAM transfers,
line-buffer levels, stalls, spills, stack spans, frame ends, outputs), and
the results built from them must serialize to the same JSON, timeline
included.  The runs cover random graphs on random chips, every model in
``tests/models`` and the bundled ones at fp32 and int8 in both modes, two
models sharing a chip, a user scheduler with a stateful priority and a
locality-aware placement, and line buffers too small to avoid deadlock
spills.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gspsim
from gspsim.api import compile_model, load_model, prepare_graph, simulate_many
from gspsim.engine import COMPILED_LOOP_MIN_TILES, run_engine
from gspsim.engine.compiled import compiled_rule, flat_program, priority_ranks, static_ranks
from gspsim.engine.options import SimOptions
from gspsim.engine.program import Program
from gspsim.engine.records import Records, Workload, progress_every
from gspsim.errors import ConfigError, GspsimError
from gspsim.hardware.config import HardwareConfig, load_hardware
from gspsim.inputs import synthetic_inputs
from gspsim.lowering.tasks import Block
from gspsim.models import bundled_model_path
from gspsim.results.build import build_result
from gspsim.scheduling import EngineView, Scheduler, make_scheduler, scheduler_names
from gspsim.scheduling.base import has_static_priority

from random_graphs import random_chip, random_cnn, save

MODELS_DIR = Path(__file__).parent / "models"
TEST_MODELS = sorted(MODELS_DIR.glob("*.onnx"))
BUNDLED = sorted(Path(bundled_model_path("small-cnn")).parent.glob("*.onnx"))
#: models small enough for the reference engine to run with every kernel executing
EXECUTED = {"small_cnn.onnx", "edge_mlp.onnx", "resnet_style.onnx"}


def assert_same_records(ref: Records, fast: Records) -> None:
    """Every field of the two engines' records is equal (arrays: same dtype and values)."""
    for f in fields(Records):
        a, b = getattr(ref, f.name), getattr(fast, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, f.name
            differ = np.flatnonzero(a != b)
            assert not len(differ), f"{f.name}: tiles {differ[:5].tolist()}: {a[differ[:5]]} != {b[differ[:5]]}"
        elif f.name == "outputs":
            for frames_a, frames_b in zip(a, b, strict=True):
                for out_a, out_b in zip(frames_a, frames_b, strict=True):
                    assert out_a.keys() == out_b.keys()
                    for name in out_a:
                        assert np.array_equal(out_a[name], out_b[name]), f"output {name}"
        else:
            assert repr(a) == repr(b), f"{f.name}: {repr(a)[:300]} != {repr(b)[:300]}"


def run_both(programs: Sequence[Program], hw: HardwareConfig, options: SimOptions,
             schedulers: Sequence[Any] = (), fps: Optional[Sequence[Optional[float]]] = None,
             inputs: Sequence[Sequence[dict]] = ()) -> dict[str, Any]:
    """Run every engine on fresh workloads of ``programs``; assert the same records and JSON; the fast run.

    The engines: the reference, the fast engine's Python loop, and its compiled loop where the run allows it
    (else the Python loop, which then runs once; "fast", what a user gets, picks one of the two by the run's
    size, test (f)).  All raising the same error (a deadlock nothing can spill) counts as the same outcome.
    """
    fps = list(fps) if fps is not None else [None] * len(programs)
    outcomes: dict[str, Any] = {}
    for engine in ("reference", "python", "compiled"):
        workloads = []
        for i, program in enumerate(programs):
            strategy = schedulers[i]() if schedulers else make_scheduler(options.scheduler_name, options.seed)
            period = hw.cores.clock_hz / fps[i] if fps[i] else 0.0
            workloads.append(Workload(program, strategy, tuple(f * period for f in range(options.frames)),
                                      tuple(inputs[i]) if inputs else ()))
        if engine == "compiled" and compiled_rule(workloads) is None:
            outcomes["compiled"] = outcomes["python"]
            break
        run_options = replace(options, engine=engine)
        calls: list[tuple[int, int]] = []
        try:
            run = run_engine(workloads, hw, run_options, progress=lambda done, total: calls.append((done, total)))
        except GspsimError as exc:
            outcomes[engine] = exc
            continue
        assert run.engine == engine
        result = build_result(workloads, hw, run_options, run, [p.tasks.graph.name for p in programs], fps)
        outcomes[engine] = (run, result.to_json(), calls)
    ref = outcomes["reference"]
    for name in ("python", "compiled"):
        other = outcomes[name]
        if isinstance(ref, Exception) or isinstance(other, Exception):
            assert type(ref) is type(other) and str(ref) == str(other), (name, ref, other)
            continue
        assert_same_records(ref[0].records, other[0].records)
        assert ref[1] == other[1]
        # the progress callback: the same calls, every progress_every(total) tiles (about a hundred) and at the end
        total = len(other[0].records.issue)
        every = progress_every(total)
        assert ref[2] == other[2] and other[2][-1] == (total, total)
        assert len(other[2]) == total // every + (total % every > 0)
    if isinstance(ref, Exception):
        return {}
    return {"run": outcomes["compiled"][0], "json": outcomes["compiled"][1]}


@functools.cache
def _graph(path: str, precision: str, fuse: bool):
    """A model lowered as simulate lowers it (int8: quantized with a short seeded calibration; fused unless
    ``fuse`` is False), shared by the tests."""
    return prepare_graph(load_model(path), SimOptions(precision=precision, calibration_samples=2, fuse=fuse))


def _program(path: str, hw: HardwareConfig, options: SimOptions) -> Program:
    return compile_model(_graph(str(path), options.precision, options.fuse), hw, options)


# --- (a) random graphs on random chips ------------------------------------------------------------------
@settings(max_examples=int(settings().max_examples * 1.2))
@given(model=random_cnn(), hw=random_chip(), mode=st.sampled_from(["streaming", "layer"]), frames=st.integers(1, 3),
       tile=st.sampled_from([None, "rows=1", "rows=2,channels=1", "rows=3,cols=2"]),
       budget=st.sampled_from([None, 0, 4096, 65536]), fps=st.sampled_from([None, 1e5]),
       scheduler=st.sampled_from(scheduler_names()), seed=st.integers(0, 3), execute=st.booleans(),
       fuse=st.booleans())
def test_random_graphs_on_random_chips(model, hw, mode, frames, tile, budget, fps, scheduler, seed, execute,
                                       fuse) -> None:
    options = SimOptions(mode=mode, frames=frames, tile=tile, buffer_budget=budget, scheduler=scheduler, seed=seed,
                         execute=execute, accuracy_samples=0, fuse=fuse)
    with tempfile.TemporaryDirectory() as tmp:
        graph = prepare_graph(gspsim.load_model(save(model, Path(tmp))), options)
    program = compile_model(graph, hw, options)
    inputs = [[synthetic_inputs(graph, seed + f) for f in range(frames)]] if execute else ()
    run_both([program], hw, options, fps=[fps], inputs=inputs)


# --- (b) every shipped model ------------------------------------------------------------------------------
@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("mode", ["streaming", "layer"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("path", TEST_MODELS + BUNDLED, ids=lambda p: p.name)
def test_shipped_models(path: Path, precision: str, mode: str, fuse: bool) -> None:
    hw = load_hardware("blaize-1600")
    execute = path.name in EXECUTED
    options = SimOptions(mode=mode, precision=precision, frames=2, execute=execute, accuracy_samples=0, fuse=fuse)
    program = _program(path, hw, options)
    graph = program.tasks.graph
    inputs = [[synthetic_inputs(graph, f) for f in range(2)]] if execute else ()
    same = run_both([program], hw, options, inputs=inputs)
    if execute:
        outputs = same["run"].records.outputs[0][-1]
        assert set(outputs) == set(graph.outputs) and all(np.isfinite(v).all() for v in outputs.values()
                                                          if v.dtype.kind == "f")


# --- (c) two models sharing a chip ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["streaming", "layer"])
def test_two_models_sharing_a_chip(mode: str) -> None:
    models = [MODELS_DIR / "resnet_style.onnx", MODELS_DIR / "mobilenetv2_style.onnx"]
    results = {engine: simulate_many(models, "edge-4", SimOptions(mode=mode, frames=2, engine=engine,
                                                                  accuracy_samples=0, execute=False),
                                     fps=[2e4, None])
               for engine in ("reference", "python", "fast")}
    assert results["reference"].to_json() == results["python"].to_json() == results["fast"].to_json()
    hw = load_hardware("edge-4")
    options = SimOptions(mode=mode, frames=2, execute=False, accuracy_samples=0)
    run_both([_program(m, hw, options) for m in models], hw, options, fps=[2e4, None])


# --- (d) a user scheduler: stateful priority, locality-aware placement --------------------------------------
class StickyScheduler(Scheduler):
    """Runs a tile where its first placed producer ran (``view.block_core``), else on the core with the least
    work and fewest threads; ranks the deepest node first and, within a node, by the order tiles became ready
    modulo 3 (a priority that depends on when it is asked, so the engine must ask it at readiness)."""

    name = "sticky"

    def prepare(self, tasks, hw, block_cycles) -> None:
        super().prepare(tasks, hw, block_cycles)
        self.asked = 0

    def priority(self, block: Block) -> Any:
        self.asked += 1
        return (-block.node, self.asked % 3, block.index)

    def assign(self, block: Block, view: EngineView) -> int:
        for read in block.inputs:
            for producer in read.producer_tiles:
                core = view.block_core(producer)
                if core >= 0:
                    return core
        return min(range(self.cores), key=lambda c: (view.free_at(c) + view.queued_cycles(c), view.queued(c),
                                                     view.running(c), c))


@pytest.mark.parametrize("mode", ["streaming", "layer"])
def test_user_scheduler_with_state_and_locality(mode: str) -> None:
    hw = load_hardware("blaize-1600")
    options = SimOptions(mode=mode, frames=2, execute=False, accuracy_samples=0)
    programs = [_program(MODELS_DIR / name, hw, options) for name in ("resnet_style.onnx", "mobilenetv2_style.onnx")]
    for program in programs:
        same = run_both([program], hw, options, schedulers=[StickyScheduler])
        cores = same["run"].records.core
        assert (cores >= 0).all()
    run_both(programs, hw, options, schedulers=[StickyScheduler, StickyScheduler])


@settings(max_examples=max(5, settings().max_examples // 2))
@given(first=random_cnn(max_nodes=6), second=random_cnn(max_nodes=6), hw=random_chip(),
       mode=st.sampled_from(["streaming", "layer"]), frames=st.integers(1, 2),
       budget=st.sampled_from([None, 4096]), fps=st.sampled_from([None, 3e4, 1e5]),
       sticky=st.booleans(), scheduler=st.sampled_from(scheduler_names()), fuse=st.booleans())
def test_random_models_sharing_a_chip(first, second, hw, mode, frames, budget, fps, sticky, scheduler,
                                      fuse) -> None:
    options = SimOptions(mode=mode, frames=frames, buffer_budget=budget, scheduler=scheduler, execute=False,
                         accuracy_samples=0, fuse=fuse)
    with tempfile.TemporaryDirectory() as tmp:
        graphs = [prepare_graph(gspsim.load_model(save(m, Path(tmp), f"m{i}.onnx")), options)
                  for i, m in enumerate((first, second))]
    programs = [compile_model(g, hw, options) for g in graphs]
    run_both(programs, hw, options, schedulers=[StickyScheduler] * 2 if sticky else (), fps=[fps, None])


# --- (e) line buffers too small: deadlocks resolved by spilling ------------------------------------------------
@pytest.mark.parametrize("scheduler", ["depth-first", "round-robin", "heft"])
@pytest.mark.parametrize("room", ["one band", "half"])
def test_undersized_line_buffers_spill_the_same_bands(scheduler: str, room: str) -> None:
    hw = load_hardware("edge-4")
    options = SimOptions(mode="streaming", frames=2, tile="rows=1", scheduler=scheduler, execute=False,
                         accuracy_samples=0)
    program = _program(MODELS_DIR / "resnet_style.onnx", hw, options)

    def shrunk(ring):
        band = max(ring.band_bytes)
        return replace(ring, capacity=band if room == "one band" else max(band, ring.capacity // 2))

    program = replace(program, rings=tuple(shrunk(r) for r in program.rings))
    same = run_both([program], hw, options)
    spills = same["run"].records.spills
    assert spills and all(s.reason.startswith("deadlock") for s in spills)


@pytest.mark.parametrize("mode", ["streaming", "layer"])
@pytest.mark.parametrize("budget", [None, 4096])
@pytest.mark.parametrize("fps", [None, 2e4])
def test_many_frames_waiting_on_stacks_and_line_buffers(mode: str, budget, fps) -> None:
    """Eight frames of a model at once: most wait at a stack's gate or a full line buffer while others run
    (the fast engine skips frames whose readiness cannot have changed and re-checks only the band at a
    line buffer's write pointer; the reference looks at every one each time)."""
    hw = load_hardware("edge-4")
    options = SimOptions(mode=mode, frames=8, buffer_budget=budget, execute=False, accuracy_samples=0)
    program = _program(MODELS_DIR / "mobilenetv2_style.onnx", hw, options)
    same = run_both([program], hw, options, fps=[fps])  # (with fps, both engines stalled before 2026-12)
    ends = same["run"].records.frame_end[0]
    assert len(ends) == 8 and all(end > 0 for end in ends)


@pytest.mark.parametrize("spacing", [0.3, 0.7, 1.5])
@pytest.mark.parametrize("case", ["resnet_style.onnx-int8-None", "decoder_decode.onnx-int8-4096",
                                  "decoder_prefill.onnx-fp32-4096", "mobilenetv2_style.onnx-fp32-None"])
def test_frames_arriving_while_others_run(case: str, spacing: float) -> None:
    """Three frames ``spacing`` single-frame latencies apart: frames behind that find their first stack closed
    wait to be the front frame, their weights with them, and frames enter stacks in order (each of these cases
    stalled with nothing to spill before 2026-12-03, in every engine)."""
    name, precision, budget = case.split("-")
    hw = load_hardware("edge-4")
    options = SimOptions(mode="streaming", precision=precision, frames=3, execute=False, accuracy_samples=0,
                         buffer_budget=None if budget == "None" else int(budget))
    program = _program(MODELS_DIR / name, hw, options)
    alone = run_engine([Workload(program, make_scheduler(options.scheduler_name, 0), (0.0,))], hw, options)
    fps = hw.cores.clock_hz / (spacing * alone.records.latency_cycles)
    same = run_both([program], hw, options, fps=[fps])
    ends = same["run"].records.frame_end[0]
    assert len(ends) == 3 and all(end > 0 for end in ends)


# --- (f) which loop the fast engine runs --------------------------------------------------------------------------
@pytest.mark.parametrize("scheduler", scheduler_names())
def test_fast_engine_compiles_the_built_in_rules(scheduler: str) -> None:
    """One model of at least COMPILED_LOOP_MIN_TILES tiles over its frames with a built-in scheduler runs in the
    compiled loop unless its placement draws from a generator (random) or its priority is not static
    (pipeline); a subclass that overrides ``assign`` loses the rule; a run one frame smaller takes the Python
    loop, and ``--engine compiled`` the compiled one whatever the size."""
    hw = load_hardware("edge-4")
    options = SimOptions(mode="streaming", scheduler=scheduler, execute=False, accuracy_samples=0)
    program = _program(MODELS_DIR / "resnet_style.onnx", hw, options)
    frames = -(-COMPILED_LOOP_MIN_TILES // len(program.tasks.tiles))  # the fewest frames that reach the threshold
    releases = (0.0,) * frames
    strategy = make_scheduler(scheduler, 0)
    compiles = scheduler not in ("random", "pipeline")
    run = run_engine([Workload(program, strategy, releases)], hw, replace(options, frames=frames))
    assert run.engine == ("compiled" if compiles else "python")
    run = run_engine([Workload(program, make_scheduler(scheduler, 0), releases[1:])], hw,
                     replace(options, frames=frames - 1))
    assert run.engine == "python"
    if compiles:
        run = run_engine([Workload(program, make_scheduler(scheduler, 0), (0.0,))], hw,
                         replace(options, engine="compiled"))
        assert run.engine == "compiled"
    else:
        with pytest.raises(ConfigError, match="--engine compiled: the compiled loop plays one model with a "
                                              "built-in scheduler"):
            run_engine([Workload(program, make_scheduler(scheduler, 0), (0.0,))], hw,
                       replace(options, engine="compiled"))

    class Overridden(type(strategy)):  # type: ignore[misc]
        def assign(self, block: Block, view: EngineView) -> int:
            return super().assign(block, view)

    run = run_engine([Workload(program, Overridden(0), releases)], hw, replace(options, frames=frames))
    assert run.engine == "python"


def test_two_models_and_user_schedulers_take_the_python_loop() -> None:
    hw = load_hardware("edge-4")
    options = SimOptions(mode="streaming", execute=False, accuracy_samples=0)
    program = _program(MODELS_DIR / "resnet_style.onnx", hw, options)
    two = [Workload(program, make_scheduler("depth-first", 0), (0.0,)) for _ in range(2)]
    assert run_engine(two, hw, options).engine == "python"
    assert run_engine([Workload(program, StickyScheduler(), (0.0,))], hw, options).engine == "python"
    assert run_engine([Workload(program, make_scheduler("depth-first", 0), (0.0,))], hw,
                      replace(options, engine="python")).engine == "python"


@pytest.mark.parametrize("scheduler", scheduler_names())
def test_static_priority_ranks_at_once_equal_block_by_block(scheduler: str) -> None:
    """The compiled engine's ranks of a built-in static priority, computed over arrays when it can, are the
    ranks of asking every block."""
    hw = load_hardware("blaize-1600")
    options = SimOptions(mode="streaming", scheduler=scheduler, execute=False, accuracy_samples=0)
    program = _program(MODELS_DIR / "mobilenetv2_style.onnx", hw, options)
    strategy = make_scheduler(scheduler, 0)
    if not has_static_priority(strategy):
        pytest.skip("its priority is asked at readiness, not ranked before the run")
    strategy.prepare(program.tasks, hw, program.cycles)
    by_block = priority_ranks([strategy.priority(b) for b in program.tasks.blocks])
    assert len(set(by_block.tolist())) > 1 or scheduler in ("greedy", "round-robin")
    assert np.array_equal(static_ranks(strategy, program, flat_program(program)), by_block)
