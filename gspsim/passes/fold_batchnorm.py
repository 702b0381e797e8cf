"""Fold inference-mode BatchNormalization into the Conv that feeds it.

``BN(conv(x)) = conv'(x)`` with ``W' = W * s`` and ``b' = (b - mean) * s + beta``
where ``s = gamma / sqrt(var + eps)`` per output channel.  A BN is folded only
when its input comes from a Conv with constant weights that nothing else reads;
any other BN stays and runs its own kernel.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ir.graph import DataflowGraph, OpNode, TensorInfo


def _foldable_conv(graph: DataflowGraph, bn: OpNode) -> OpNode | None:
    if len(bn.inputs) < 5 or not all(t in bn.weights for t in bn.inputs[1:5]):
        return None
    if bn.attrs.get("training_mode", 0) or len([o for o in bn.outputs if o]) != 1:
        return None
    producer = graph.producer_of(bn.inputs[0])
    if producer is None:
        return None
    conv = graph.op(producer)
    if conv.op_type != "Conv" or conv.inputs[1] not in conv.weights:
        return None
    if len(conv.inputs) > 2 and conv.inputs[2] and conv.inputs[2] not in conv.weights:
        return None
    if graph.graph.out_degree(producer) != 1 or bn.inputs[0] in graph.outputs:
        return None
    if len(graph.consumers_of(bn.inputs[0])) != 1:
        return None
    return conv


def fold_batchnorm(graph: DataflowGraph) -> DataflowGraph:
    """A new graph with every foldable Conv -> BatchNormalization pair merged into one Conv."""
    replaced: dict[str, OpNode] = {}
    dropped: set[str] = set()
    tensors = dict(graph.tensors)
    for bn in graph.ops():
        if bn.op_type != "BatchNormalization":
            continue
        conv = _foldable_conv(graph, bn)
        if conv is None:
            continue
        gamma, beta, mean, var = (bn.weights[t].astype(np.float64) for t in bn.inputs[1:5])
        eps = float(bn.attrs.get("epsilon", 1e-5))
        scale = gamma / np.sqrt(var + eps)
        w = conv.weights[conv.inputs[1]]
        has_bias = len(conv.inputs) > 2 and bool(conv.inputs[2])
        b = conv.weights[conv.inputs[2]].astype(np.float64) if has_bias else np.zeros(w.shape[0])
        new_w = (w.astype(np.float64) * scale.reshape(-1, *([1] * (w.ndim - 1)))).astype(w.dtype)
        new_b = ((b - mean) * scale + beta).astype(w.dtype)
        w_name, b_name = f"{conv.name}.weight_bnfolded", f"{conv.name}.bias_bnfolded"
        tensors[w_name] = TensorInfo(w_name, tuple(new_w.shape), new_w.dtype.name)
        tensors[b_name] = TensorInfo(b_name, tuple(new_b.shape), new_b.dtype.name)
        replaced[conv.name] = replace(
            conv,
            inputs=(conv.inputs[0], w_name, b_name),
            outputs=(bn.outputs[0],),
            weights={w_name: new_w, b_name: new_b},
        )
        dropped.add(bn.name)
    if not replaced:
        return graph
    ops = [replaced.get(op.name, op) for op in graph.ops() if op.name not in dropped]
    note = f"folded {len(dropped)} BatchNormalization node(s) into Conv"
    return DataflowGraph.from_ops(
        graph.name, ops, tensors, graph.inputs, graph.outputs, (*graph.notes, note), graph.source_path,
        bound_inputs=graph.bound_inputs,
    )
