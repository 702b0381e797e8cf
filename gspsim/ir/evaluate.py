"""Evaluating an IR graph directly, node by node with whole-tensor kernels (no timing).

Used where a pass needs the values a graph computes (calibrating quantization,
the accuracy report) without simulating the chip.  It runs the same kernels
the engine runs.
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from ..kernels import Kernel, UnsupportedKernel, fused_kernel, get_kernel
from ..optable import run_node
from .graph import DataflowGraph, OpNode


def _kernel(op: OpNode, preferred: Optional[str]) -> Kernel:
    if op.epilogue:
        return fused_kernel(op)  # each fused op at its own precision
    if preferred is not None:
        try:
            return get_kernel(op.op_type, preferred)
        except UnsupportedKernel:
            pass
    return get_kernel(op.op_type, op.precision)


def evaluate(
    graph: DataflowGraph,
    inputs: Mapping[str, np.ndarray],
    precision: Optional[str] = None,
    keep: Optional[set[str]] = None,
) -> dict[str, np.ndarray]:
    """Every tensor in ``keep`` (default: all) plus the graph outputs, computed from ``inputs``.

    Each op runs at its own precision (``OpNode.precision``); ``precision`` names
    one to prefer wherever a kernel exists at it.
    """
    values: dict[str, np.ndarray] = dict(inputs)
    wanted = set(graph.outputs) | (set(keep) if keep is not None else set(graph.tensors))
    readers: dict[str, int] = {}
    ops = list(graph.ops())
    for op in ops:
        for t in set(op.activation_inputs):
            readers[t] = readers.get(t, 0) + 1
    for op in ops:
        kernel = _kernel(op, precision)
        args = [None if not t else (op.weights[t] if t in op.weights else values[t]) for t in op.inputs]
        for name, value in zip(op.outputs, run_node(kernel, args, op.attrs, op.outputs)):
            if name:
                values[name] = np.asarray(value)
        for t in set(op.activation_inputs):
            readers[t] -= 1
            if readers[t] == 0 and t not in wanted:
                values.pop(t, None)
    return {k: v for k, v in values.items() if k in wanted}
