"""How much on-chip memory does this model need? The memory plan across line-buffer budgets, compiled only.

For each budget the compiler plans stacks and cuts (:mod:`gspsim.lowering.stacks`);
the activation traffic through DRAM follows from the plan alone
(:meth:`gspsim.engine.program.Program.planned_activation_bytes`, which a run
without spills moves exactly), so the sweep needs no simulation and takes
seconds even for 224x224 networks.  ``python -m gspsim memory MODEL`` prints
it; ``--plot`` draws DRAM traffic against the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence

from .engine.options import SimOptions
from .hardware.config import HardwareConfig
from .ir.graph import DataflowGraph


@dataclass(frozen=True)
class BudgetPoint:
    """The memory plan at one line-buffer budget."""

    budget_bytes: int
    stacks: int
    cuts: int
    #: bytes of line buffers the plan allocates at most at once (the largest stack's)
    buffer_bytes: int
    weight_capacity_bytes: int
    #: activation bytes through DRAM per frame: intermediate tensors written and read back
    intermediate_bytes: int
    #: graph inputs read and outputs written per frame (the same at every budget)
    io_bytes: int


def default_budgets(min_budget: int, shared: int) -> list[int]:
    """Budgets to sweep: halvings of the no-cut budget down to 1/16 of it, its 80%, half and all of shared
    memory -- none above shared memory, which holds the line buffers."""
    top = max(1, min_budget)
    budgets = {top, int(top * 0.8), shared // 2, shared}
    b = top
    for _ in range(4):
        b //= 2
        budgets.add(max(1, b))
    return sorted(x for x in budgets if 0 < x <= shared)


def budget_sweep(graph: DataflowGraph, hw: HardwareConfig, options: SimOptions,
                 budgets: Optional[Sequence[int]] = None) -> tuple[int, list[BudgetPoint]]:
    """The no-cut budget and the plan at each budget (default: :func:`default_budgets`)."""
    from .api import compile_model

    first = compile_model(graph, hw, options)
    need = first.plan.min_buffer_budget
    points = []
    for budget in budgets if budgets is not None else default_budgets(need, hw.shared_memory.size_bytes):
        program = compile_model(graph, hw, replace(options, buffer_budget=int(budget)))
        planned = program.planned_activation_bytes()
        plan = program.plan
        points.append(BudgetPoint(
            budget_bytes=plan.buffer_budget, stacks=len(plan.stacks), cuts=len(plan.cuts),
            buffer_bytes=max((s.buffer_bytes for s in plan.stacks), default=0),
            weight_capacity_bytes=plan.weight_capacity,
            intermediate_bytes=planned["intermediate_read"] + planned["intermediate_write"],
            io_bytes=planned["inputs"] + planned["outputs"],
        ))
    return need, points
