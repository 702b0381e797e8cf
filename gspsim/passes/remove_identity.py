"""Drop ops that only pass a tensor through at inference: Identity and Dropout (``inference_identity`` in the op table).

Each removal renames one tensor (the pass-through's output becomes its input,
or, when the output is a graph output, the input takes the output's name).
The renames are kept in a union-find forest and applied once at the end, so
the pass is linear in graph size (rebuilding every op per removal made a
10,000-node Identity chain take minutes).
"""

from __future__ import annotations

from dataclasses import replace

from ..ir.graph import DataflowGraph, OpNode
from ..optable import spec_of


class _Renames:
    """Tensor renames applied in order, answered in near-constant time (union-find with path halving)."""

    def __init__(self) -> None:
        self._to: dict[str, str] = {}

    def current(self, name: str) -> str:
        """The name ``name`` has after every rename so far."""
        to = self._to
        while name in to:
            nxt = to[name]
            if nxt in to:
                to[name] = to[nxt]
            name = nxt
        return name

    def rename(self, old: str, new: str) -> None:
        """Every tensor currently called ``old`` is called ``new`` from now on (both are current names)."""
        if old != new:
            self._to[old] = new

    def apply(self, op: OpNode) -> OpNode:
        inputs = tuple(self.current(t) if t else t for t in op.inputs)
        outputs = tuple(self.current(t) if t else t for t in op.outputs)
        if inputs == op.inputs and outputs == op.outputs:
            return op
        return replace(op, inputs=inputs, outputs=outputs)


def remove_identity(graph: DataflowGraph) -> DataflowGraph:
    """A new graph without Identity/Dropout; their readers read the original tensor instead."""
    ops = list(graph.ops())
    # A pass-through's extra outputs (a Dropout's mask) keep their file names until it is visited: only ops after
    # it in topological order can read them, and none of those has been removed yet.
    read = {t for op in ops for t in op.inputs if t}
    renames = _Renames()
    removed: set[str] = set()
    for op in ops:
        if not spec_of(op.op_type).inference_identity or not op.inputs or not op.outputs:
            continue
        extra_outputs = [o for o in op.outputs[1:] if o]
        if any(o in read or o in graph.outputs for o in extra_outputs):
            continue  # a Dropout whose mask is read: keep it
        src, dst = renames.current(op.inputs[0]), renames.current(op.outputs[0])
        if dst in graph.outputs:
            # keep the output's name: the producer writes it directly
            if src in graph.inputs or src in graph.outputs or src in op.weights:
                continue
            renames.rename(src, dst)
        else:
            renames.rename(dst, src)
        removed.add(op.name)
    if not removed:
        return graph
    kept = [renames.apply(op) for op in ops if op.name not in removed]
    note = f"dropped {len(removed)} Identity/Dropout node(s)"
    return DataflowGraph.from_ops(
        graph.name, kept, graph.tensors, graph.inputs, graph.outputs, (*graph.notes, note), graph.source_path,
        bound_inputs=graph.bound_inputs,
    )
