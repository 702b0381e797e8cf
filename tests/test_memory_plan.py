"""The compiler's memory plan: stacks, cuts, and the smallest buffer budget that streams a model with no cut."""

from __future__ import annotations

import pytest

import gspsim
from gspsim.api import compile_model, prepare_graph
from gspsim.hardware import load_hardware

from helpers import MOBILENET, RESNET, ROOT, TRANSFORMER

SMALL_CNN = ROOT / "gspsim" / "models" / "small_cnn.onnx"
MODELS = [RESNET, MOBILENET, TRANSFORMER, SMALL_CNN]


def _program(graph, budget=None, precision="fp32", mode="streaming"):
    options = gspsim.SimOptions(precision=precision, buffer_budget=budget, mode=mode, calibration_samples=2)
    return compile_model(prepare_graph(graph, options), load_hardware("blaize-1600"), options)


def _intermediate(result) -> int:
    k = result.dram_bytes_by_kind
    return k["read"]["intermediate"] + k["write"]["intermediate"] + k["read"]["spill"] + k["write"]["spill"]


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_the_minimal_budget_streams_with_no_cut_and_less_cuts(model) -> None:
    graph = gspsim.load_model(model)
    need = _program(graph).plan.min_buffer_budget
    assert need > 0
    at = gspsim.simulate(graph, buffer_budget=need, execute=False)
    assert at.memory["min_buffer_budget_bytes"] == need
    assert at.memory["cuts"] == [] and len(at.memory["stacks"]) == 1
    assert at.deadlock_spills == 0 and _intermediate(at) == 0
    assert at.ring_buffer_high_water_bytes <= need
    below = gspsim.simulate(graph, buffer_budget=int(need * 0.8), execute=False)
    assert below.memory["cuts"] and len(below.memory["stacks"]) > 1
    assert below.deadlock_spills == 0 and _intermediate(below) > 0


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
@pytest.mark.parametrize("budget", [None, 4096, 32768])
def test_stacks_partition_the_program_and_fit_the_budget(model, budget) -> None:
    program = _program(gspsim.load_model(model), budget)
    plan, tasks = program.plan, program.tasks
    stacks = plan.stacks
    assert stacks[0].first == 0 and stacks[-1].last == len(tasks.nodes) - 1
    assert all(a.last + 1 == b.first for a, b in zip(stacks, stacks[1:]))
    for s in stacks:
        assert s.buffer_bytes <= plan.buffer_budget or s.first == s.last
        assert s.buffer_bytes == sum(p.capacity for t, p in plan.tensors.items()
                                     if p.on_chip and t in tasks.producer and plan.stack_of[tasks.producer[t]] == s.index)
    for tensor, p in plan.tensors.items():
        if p.reason.startswith("alias") or tensor not in tasks.producer:
            continue
        stack = plan.stack_of[tasks.producer[tensor]]
        readers = [n.index for n in tasks.nodes if not n.is_view
                   and any(plan.root(t) == tensor for t in n.op.activation_inputs)]
        if p.reason == "cut":
            assert any(plan.stack_of[r] != stack for r in readers) and p.to_dram
        if p.on_chip:
            assert any(plan.stack_of[r] == stack for r in readers) and p.capacity > 0


def test_layer_mode_sends_every_intermediate_through_dram() -> None:
    program = _program(gspsim.load_model(RESNET), mode="layer")
    assert len(program.plan.stacks) == len(program.tasks.nodes)
    assert not any(p.on_chip for p in program.plan.tensors.values())


def test_int8_needs_less_line_buffer_than_fp32() -> None:
    graph = gspsim.load_model(MOBILENET)
    assert _program(graph, precision="int8").plan.min_buffer_budget < _program(graph).plan.min_buffer_budget
