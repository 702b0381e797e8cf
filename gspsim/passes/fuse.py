"""Fusing elementwise ops into the node that produces their input, as a GSP compiler does.

On the chip, an activation (Relu, ReLU6, SiLU ...), a standalone BatchNormalization or a
residual Add that follows a convolution runs in the convolution's own thread, on the rows
it has just computed: no thread, buffer or traffic of its own.  This pass builds that: it
folds such ops into their producer as the producer's *epilogue* (representation in
:class:`gspsim.ir.graph.OpNode`; the fused kernel in :mod:`gspsim.kernels.fused`).

The rule.  Walking the graph in topological order, a node P whose kernel computes bands of
output rows (``run_rows``: convolutions, matmuls, pools, elementwise ops themselves) grows a
chain.  An op E joins it when

* E is ``fusable`` in the op table (:mod:`gspsim.optable`) and reads the chain's running value (P's output, then the
  last op added), and its kernel has ``run_rows`` on the same output axis as P's (axes
  compared after normalizing by the output rank) with E's output shape equal to P's, so a
  band of P's rows is a band of E's rows;
* every other input of E is a weight, a tensor produced inside the chain (SiLU's
  ``Mul(x, Sigmoid(x))`` reads the main output again), or an activation that has E's full
  extent along the row axis (the same rows, band by band; it may broadcast along the other
  axes): a residual Add's skip input.  An input broadcast along the row axis is refused;
* once the ops are added, every tensor produced inside the chain but its last is read only
  inside the chain and is not a graph output.  A chain may pass through a few ops that do
  not close it yet (SiLU's Sigmoid, whose input the Mul still reads) if a later op closes it.

The first op that extends a chain and closes it wins, and the chain keeps growing from it,
up to :data:`MAX_EPILOGUE_OPS` ops.
Every op keeps its kernel and precision, so outputs are bit-identical to the unfused graph.
Run it after the precision pass (each op's precision is known) and before lowering.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Optional, Sequence

import numpy as np

from ..ir.graph import DataflowGraph, OpNode, TensorInfo
from ..kernels import Kernel, UnsupportedKernel, get_kernel
from ..optable import spec_of
#: ops a chain may hold that do not close it yet (enough for SiLU, HardSwish and erf-GELU patterns)
MAX_OPEN_OPS = 4
#: ops one epilogue holds at most: a thread runs a short tail, not a whole chain of a graph
#: (a chain of 1,200 Relus becomes 37 nodes, and the pass stays linear in the graph's size)
MAX_EPILOGUE_OPS = 32


def _row_kernel(op: OpNode) -> Optional[Kernel]:
    """``op``'s kernel if it computes bands of rows, else None."""
    try:
        kernel = get_kernel(op.op_type, op.precision)
    except UnsupportedKernel:
        return None
    return kernel if kernel.run_rows is not None and kernel.row_axis is not None else None


def _axis(kernel: Kernel, out: TensorInfo) -> Optional[int]:
    """The kernel's row axis normalized against the output rank (None outside the output)."""
    rank = len(out.shape)
    axis = kernel.row_axis + rank if kernel.row_axis < 0 else kernel.row_axis
    return axis if 0 <= axis < rank else None


def _single_output(op: OpNode) -> Optional[str]:
    """The op's only output (omitted optional outputs may follow it), else None."""
    return op.outputs[0] if op.outputs and op.outputs[0] and not any(op.outputs[1:]) else None


class _Fuser:
    """The chains of one graph (see the module docstring)."""

    def __init__(self, graph: DataflowGraph) -> None:
        self.graph = graph
        self.tensors = graph.tensors
        self.graph_outputs = set(graph.outputs)
        self.readers: dict[str, set[str]] = {}
        self.order: dict[str, int] = {}
        for op in graph.ops():
            self.order[op.name] = len(self.order)
            for t in op.activation_inputs:
                self.readers.setdefault(t, set()).add(op.name)
        self.absorbed: set[str] = set()

    def chain(self, head: OpNode) -> tuple[OpNode, ...]:
        """The epilogue ``head`` takes (empty when nothing fuses into it)."""
        kernel = _row_kernel(head)
        out = _single_output(head)
        if kernel is None or out is None or spec_of(head.op_type).is_view or head.epilogue:
            return ()
        axis = _axis(kernel, self.tensors[out])
        if axis is None:
            return ()
        return tuple(self._grow(head, out, axis, [], 0) or ())

    def _grow(self, head: OpNode, main_out: str, axis: int, chain: list[OpNode], open_ops: int
              ) -> Optional[list[OpNode]]:
        """The longest closed chain extending ``chain``, found greedily; None if none closes."""
        if len(chain) >= MAX_EPILOGUE_OPS:
            return None
        running = chain[-1].outputs[0] if chain else main_out
        produced = {main_out, *(e.outputs[0] for e in chain)}
        members = {e.name for e in chain}
        for name in sorted(self.readers.get(running, ()), key=self.order.__getitem__):
            e = self.graph.op(name)
            if name in self.absorbed or name in members or not self._joins(e, head, main_out, axis, produced, chain):
                continue
            longer = chain + [e]
            if self._closed(main_out, longer):
                return self._grow(head, main_out, axis, longer, 0) or longer
            if open_ops < MAX_OPEN_OPS:
                found = self._grow(head, main_out, axis, longer, open_ops + 1)
                if found:
                    return found
        return None

    def _joins(self, e: OpNode, head: OpNode, main_out: str, axis: int, produced: set[str],
               chain: Sequence[OpNode]) -> bool:
        """Whether ``e`` may follow ``chain`` in ``head``'s epilogue (the first two rules)."""
        out = _single_output(e)
        kernel = _row_kernel(e)
        if not spec_of(e.op_type).fusable or e.epilogue or out is None or kernel is None:
            return False
        shape = self.tensors[main_out].shape
        info = self.tensors[out]
        if info.shape != shape or _axis(kernel, info) != axis:
            return False
        weights = dict(head.weights)
        for op in chain:
            weights.update(op.weights)
        for t in e.inputs:
            if not t or t in produced:
                continue
            if t in e.weights:
                known = weights.get(t)
                if known is not None and known is not e.weights[t] and not np.array_equal(known, e.weights[t]):
                    return False  # one name, two different arrays (converted to two precisions)
                continue
            x = self.tensors[t].shape
            x_axis = axis - (len(shape) - len(x))
            if x_axis < 0 or x[x_axis] != shape[axis] or np.broadcast_shapes(x, shape) != shape:
                return False
        return True

    def _closed(self, main_out: str, chain: Sequence[OpNode]) -> bool:
        """Every tensor made inside the chain but its last is read only inside it, and is no graph output."""
        members = {e.name for e in chain}
        inside = [main_out, *(e.outputs[0] for e in chain[:-1])]
        return all(t not in self.graph_outputs and self.readers.get(t, set()) <= members for t in inside)

    def fused_node(self, head: OpNode, epilogue: tuple[OpNode, ...]) -> OpNode:
        """``head`` with ``epilogue`` folded in (the representation of :class:`OpNode`)."""
        main_out = head.outputs[0]
        produced = {main_out}
        external: list[str] = []
        weights: dict[str, np.ndarray] = dict(head.weights)
        for e in epilogue:
            external += [t for t in e.inputs if t and t not in produced]
            produced.update(t for t in e.outputs if t)
            weights.update(e.weights)
        internal = [main_out, *(e.outputs[0] for e in epilogue[:-1])]
        return replace(
            head,
            inputs=(*head.inputs, *external),
            outputs=tuple(epilogue[-1].outputs),
            weights=weights,
            epilogue=epilogue,
            internal=tuple(self.tensors[t] for t in internal),
        )


def fuse_elementwise(graph: DataflowGraph) -> DataflowGraph:
    """A new graph with every fusable elementwise op folded into its producer (module docstring)."""
    fuser = _Fuser(graph)
    fused: dict[str, OpNode] = {}
    for op in graph.ops():
        if op.name in fuser.absorbed:
            continue
        epilogue = fuser.chain(op)
        if epilogue:
            fused[op.name] = fuser.fused_node(op, epilogue)
            fuser.absorbed.update(e.name for e in epilogue)
    ops = [fused.get(op.name, op) for op in graph.ops() if op.name not in fuser.absorbed]
    return DataflowGraph.from_ops(graph.name, ops, graph.tensors, graph.inputs, graph.outputs,
                                  (*graph.notes, fusion_note(list(fused.values()))), graph.source_path,
                                  bound_inputs=graph.bound_inputs)


def fusion_note(nodes: Sequence[OpNode]) -> str:
    """What fusion did, for ``inspect`` and the result's notes: "fused 9 Relu, 4 Add into their producers (...)"."""
    counts = Counter(e.op_type for node in nodes for e in node.epilogue)
    if not counts:
        return "fused no elementwise op into its producer"
    ops = ", ".join(f"{n} {t}" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"fused {ops} into their producers ({len(nodes)} fused node{'s' if len(nodes) != 1 else ''})"
