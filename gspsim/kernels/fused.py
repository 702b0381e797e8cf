"""The kernel of a fused node: the main op's kernel, then each epilogue op's, on the same rows.

A fused node (:mod:`gspsim.passes.fuse`, representation in :class:`gspsim.ir.graph.OpNode`)
runs in one thread what the unfused graph runs as a chain of nodes.  Every step calls
exactly the kernel the unfused node would run, at that op's own precision, on the same
values, so the outputs are bit-identical (bf16 rounding after every op included):

* ``run`` runs the main kernel's ``run``, then each epilogue kernel's ``run``;
* ``run_rows`` / ``prepare`` fill rows ``[start, stop)`` along the main kernel's row axis:
  the main kernel writes those rows of its output into a scratch array, then each epilogue
  kernel computes the same rows of its output from them (the fusion pass only fuses ops
  whose row axis and output shape are the main op's, so a band of the main op's rows is a
  band of every epilogue op's rows).

Tensors produced inside the node live in full-size scratch arrays that ``prepare``
allocates once per node and frame (the engine's executor calls it at the node's first
block); ``prepare`` also reuses the main kernel's own ``prepare`` (packed weights).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

import numpy as np

from ..optable.kernel import Attrs, Inputs, Kernel, PreparedRowsFn
from .registry import get_kernel

if TYPE_CHECKING:
    from ..ir.graph import OpNode

#: where one input of an epilogue op comes from: None (omitted), an index into the fused
#: node's inputs, or the name of a tensor produced inside the node
Source = Union[None, int, str]


def _plan(op: "OpNode") -> tuple[tuple[Source, ...], ...]:
    """Per epilogue op, the source of each of its inputs."""
    produced = set(op.internal_tensors[:1])
    position = op.main_input_count
    plan = []
    for e in op.epilogue:
        sources: list[Source] = []
        for t in e.inputs:
            if not t:
                sources.append(None)
            elif t in produced:
                sources.append(t)
            else:
                sources.append(position)
                position += 1
        produced.update(t for t in e.outputs if t)
        plan.append(tuple(sources))
    return tuple(plan)


def fused_kernel(op: "OpNode") -> Kernel:
    """The composite kernel of fused node ``op`` (see the module docstring)."""
    if not op.epilogue:
        raise ValueError(f"node '{op.name}' is not fused")
    main = op.main_op
    main_kernel = get_kernel(main.op_type, main.precision)
    steps = tuple((e, get_kernel(e.op_type, e.precision)) for e in op.epilogue)
    plan = _plan(op)
    n_main = op.main_input_count
    main_out = main.outputs[0]
    final = op.outputs[0]
    internal = op.internal

    def gather(sources: tuple[Source, ...], inputs: Inputs, values: dict[str, np.ndarray]) -> list:
        return [None if s is None else inputs[s] if isinstance(s, int) else values[s] for s in sources]

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        values = {main_out: main_kernel.run(list(inputs[:n_main]), attrs)[0]}
        for (e, kernel), sources in zip(steps, plan):
            results = kernel.run(gather(sources, inputs, values), e.attrs)
            values.update((t, np.asarray(v)) for t, v in zip(e.outputs, results) if t)
        return tuple(values[t] for t in op.outputs)

    if main_kernel.run_rows is None or main_kernel.row_axis is None:
        return Kernel(op.op_type, op.precision, run)
    if any(k.run_rows is None for _, k in steps):
        return Kernel(op.op_type, op.precision, run)

    def prepare(inputs: Inputs, attrs: Attrs) -> PreparedRowsFn:
        main_inputs = list(inputs[:n_main])
        if main_kernel.prepare is not None:
            main_rows = main_kernel.prepare(main_inputs, attrs)
        else:
            main_rows = None
        # zeros, not empty, as the executor allocates outputs: a kernel may read rows not produced yet
        scratch = {info.name: np.zeros(info.shape, dtype=info.dtype) for info in internal}

        def rows(inputs: Inputs, out: np.ndarray, start: int, stop: int) -> None:
            head = list(inputs[:n_main])
            if main_rows is not None:
                main_rows(head, scratch[main_out], start, stop)
            else:
                main_kernel.run_rows(head, attrs, scratch[main_out], start, stop)
            for (e, kernel), sources in zip(steps, plan):
                target = out if e.outputs[0] == final else scratch[e.outputs[0]]
                kernel.run_rows(gather(sources, inputs, scratch), e.attrs, target, start, stop)

        return rows

    def run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
        prepare(inputs, attrs)(inputs, out, start, stop)

    return Kernel(op.op_type, op.precision, run, run_rows, main_kernel.row_axis, prepare)

