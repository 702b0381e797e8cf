"""Drop ops that only pass a tensor through at inference: Identity and Dropout (``inference_identity`` in the op table)."""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from ..ir.graph import DataflowGraph, OpNode
from ..optable import spec_of


def _rename(op: OpNode, mapping: Mapping[str, str]) -> OpNode:
    return replace(
        op,
        inputs=tuple(mapping.get(t, t) for t in op.inputs),
        outputs=tuple(mapping.get(t, t) for t in op.outputs),
    )


def remove_identity(graph: DataflowGraph) -> DataflowGraph:
    """A new graph without Identity/Dropout; their readers read the original tensor instead."""
    ops = list(graph.ops())
    removed = 0
    for name in [op.name for op in ops if spec_of(op.op_type).inference_identity]:
        op = next(o for o in ops if o.name == name)
        used = {t for o in ops for t in o.inputs}
        extra_outputs = [o for o in op.outputs[1:] if o]
        if any(o in used or o in graph.outputs for o in extra_outputs):
            continue  # a Dropout whose mask is read: keep it
        src, dst = op.inputs[0], op.outputs[0]
        if dst in graph.outputs:
            # keep the output's name: the producer writes it directly
            if src in graph.inputs or src in graph.outputs or src in op.weights:
                continue
            mapping = {src: dst}
        else:
            mapping = {dst: src}
        ops = [_rename(o, mapping) for o in ops if o.name != name]
        removed += 1
    if not removed:
        return graph
    note = f"dropped {removed} Identity/Dropout node(s)"
    return DataflowGraph.from_ops(
        graph.name, ops, graph.tensors, graph.inputs, graph.outputs, (*graph.notes, note), graph.source_path
    )
