"""Pruning passes: zero or remove weights to see what a slimmer model buys on the chip.

Three forms, all deterministic for a given seed:

* **magnitude** — zero the smallest ``|w|`` of every Conv/Gemm/MatMul weight,
  to an exact target sparsity, over all layers at once (``global``) or per
  layer (``layer``).  Ties are broken by a seeded random order.
* **N:M** — in every run of M consecutive weights along the input-channel
  (K) axis keep the N largest and zero the rest (e.g. 2:4).
* **channels** — remove the lowest-L1-norm output channels of a Conv and the
  matching input channels of the Convs that read them, so shapes really shrink.
  Channel-wise ops in between (Relu, Clip, pools, depthwise convs) shrink too.

Each pass returns a new graph with consistent TensorInfos.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

import numpy as np

from ..errors import ConfigError
from ..ir.graph import DataflowGraph, OpNode, TensorInfo, is_weight
from ..optable import spec_of

SCOPES: tuple[str, ...] = ("global", "layer")


def _prunable_weight(op: OpNode) -> Optional[str]:
    """The name of the weight a pass may prune, or None."""
    if not spec_of(op.op_type).prunable or len(op.inputs) < 2:
        return None
    name = op.inputs[1]
    w = op.weights.get(name)
    if w is None or not np.issubdtype(w.dtype, np.floating) or w.ndim < 2:
        return None
    return name


def _with_weights(graph: DataflowGraph, new: dict[str, np.ndarray], note: str) -> DataflowGraph:
    """The graph with some weights (by name) replaced by same-shaped arrays."""
    ops = []
    for op in graph.ops():
        if any(n in new for n in op.weights):
            op = replace(op, weights={n: new.get(n, w) for n, w in op.weights.items()})
        ops.append(op)
    return DataflowGraph.from_ops(
        graph.name, ops, graph.tensors, graph.inputs, graph.outputs, (*graph.notes, note), graph.source_path,
        bound_inputs=graph.bound_inputs,
    )


def _prunable_weights(graph: DataflowGraph) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for op in graph.ops():
        name = _prunable_weight(op)
        if name is not None:
            found[name] = op.weights[name]
    return found


def _zero_smallest(values: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A mask (True = keep) zeroing exactly the ``k`` smallest-magnitude entries of a flat array."""
    order = np.lexsort((rng.random(values.size), np.abs(values)))
    keep = np.ones(values.size, dtype=bool)
    keep[order[:k]] = False
    return keep


def prune_magnitude(graph: DataflowGraph, sparsity: float, scope: str = "global", seed: int = 0) -> DataflowGraph:
    """Zero the smallest ``|w|`` so that exactly ``round(sparsity * n)`` weights are zero."""
    if not 0.0 <= sparsity <= 1.0:
        raise ConfigError(f"magnitude pruning: sparsity must be in [0, 1], got {sparsity}")
    if scope not in SCOPES:
        raise ConfigError(f"magnitude pruning: scope must be one of {', '.join(SCOPES)}, got '{scope}'")
    weights = _prunable_weights(graph)
    if not weights:
        return graph
    rng = np.random.default_rng(seed)
    new: dict[str, np.ndarray] = {}
    if scope == "layer":
        for name, w in weights.items():
            keep = _zero_smallest(w.ravel(), int(round(sparsity * w.size)), rng)
            new[name] = np.where(keep.reshape(w.shape), w, np.zeros((), w.dtype)).astype(w.dtype)
    else:
        flat = np.concatenate([w.ravel().astype(np.float64) for w in weights.values()])
        keep = _zero_smallest(flat, int(round(sparsity * flat.size)), rng)
        start = 0
        for name, w in weights.items():
            mask = keep[start:start + w.size].reshape(w.shape)
            new[name] = np.where(mask, w, np.zeros((), w.dtype)).astype(w.dtype)
            start += w.size
    return _with_weights(graph, new, f"magnitude-pruned {len(new)} weight(s) to {sparsity:g} sparsity ({scope})")


def _k_axis(op: OpNode, w: np.ndarray) -> Optional[int]:
    """The input-channel / reduction axis of a prunable weight (None for depthwise convs)."""
    if op.op_type == "Conv":
        return 1 if w.shape[1] > 1 else None
    if op.op_type == "Gemm":
        return 1 if op.attrs.get("transB", 0) else 0
    return w.ndim - 2  # MatMul: B is (..., K, N)


def prune_n_m(graph: DataflowGraph, n: int = 2, m: int = 4) -> DataflowGraph:
    """Keep the ``n`` largest of every ``m`` consecutive weights along K; a ragged tail group stays dense."""
    if not (1 <= n <= m):
        raise ConfigError(f"N:M pruning: need 1 <= N <= M, got {n}:{m}")
    new: dict[str, np.ndarray] = {}
    for op in graph.ops():
        name = _prunable_weight(op)
        if name is None or name in new:
            continue
        w = op.weights[name]
        axis = _k_axis(op, w)
        if axis is None:
            continue
        moved = np.moveaxis(w, axis, -1)
        k = moved.shape[-1]
        full = (k // m) * m
        if full == 0:
            continue
        groups = moved[..., :full].reshape(*moved.shape[:-1], k // m, m)
        # rank within each group by |w| (stable: earlier index wins ties), zero the m - n smallest
        order = np.argsort(-np.abs(groups), axis=-1, kind="stable")
        ranks = np.argsort(order, axis=-1, kind="stable")
        pruned = np.where(ranks < n, groups, np.zeros((), w.dtype))
        out = moved.copy()
        out[..., :full] = pruned.reshape(*moved.shape[:-1], full)
        new[name] = np.ascontiguousarray(np.moveaxis(out, -1, axis)).astype(w.dtype)
    if not new:
        return graph
    return _with_weights(graph, new, f"{n}:{m}-pruned {len(new)} weight(s)")


# -- channel pruning ------------------------------------------------------------
def _is_full_conv(op: OpNode) -> bool:
    """A Conv with constant weights and group 1 (the ones whose output channels can go)."""
    return (op.op_type == "Conv" and len(op.inputs) >= 2 and op.inputs[1] in op.weights
            and int(op.attrs.get("group", 1)) == 1 and op.inputs[0] not in op.weights
            and all(not t or t in op.weights for t in op.inputs[2:]))


def _is_depthwise(op: OpNode, channels: int) -> bool:
    if op.op_type != "Conv" or len(op.inputs) < 2 or op.inputs[1] not in op.weights:
        return False
    w = op.weights[op.inputs[1]]
    return (int(op.attrs.get("group", 1)) == channels and w.shape[0] == channels and w.shape[1] == 1
            and all(not t or t in op.weights for t in op.inputs[2:]))


def _passes_channels(op: OpNode, tensor: str) -> bool:
    """Whether ``op`` maps channel c of ``tensor`` to channel c of its only output and nothing else.

    True for a channelwise op (op table) reading ``tensor`` as its first input, with
    every other input a constant scalar (Clip bounds, the scalar of ``x * 2``).
    """
    if len([o for o in op.outputs if o]) != 1 or op.activation_inputs != (tensor,):
        return False
    return spec_of(op.op_type).channelwise and op.inputs[0] == tensor \
        and all(not t or op.weights[t].size == 1 for t in op.inputs[1:])


@dataclass
class _Plan:
    """What channel pruning does: kept channel indices per op role and per tensor."""

    out_keep: dict[str, np.ndarray]
    in_keep: dict[str, np.ndarray]
    dw_keep: dict[str, np.ndarray]
    tensor_channels: dict[str, int]


def _follow(graph: DataflowGraph, consumers: dict[str, list[OpNode]], conv: OpNode,
            channels: int) -> Optional[tuple[list[str], list[str], list[str]]]:
    """From a Conv's output: (tensors, depthwise ops, consumer convs), or None if some reader needs all channels."""
    tensors, depthwise, ends = [], [], []
    frontier = [conv.outputs[0]]
    while frontier:
        t = frontier.pop()
        if t in graph.outputs or graph.tensors[t].shape[1:2] != (channels,):
            return None
        tensors.append(t)
        readers = consumers.get(t, [])
        if not readers:
            return None
        for op in readers:
            if _is_full_conv(op) and op.inputs[0] == t:
                ends.append(op.name)
            elif _is_depthwise(op, channels) and op.inputs[0] == t:
                depthwise.append(op.name)
                frontier.append(op.outputs[0])
            elif _passes_channels(op, t):
                frontier.append(op.outputs[0])
            else:
                return None
    return tensors, depthwise, ends


def _plan_channels(graph: DataflowGraph, fraction: float) -> _Plan:
    plan = _Plan({}, {}, {}, {})
    consumers: dict[str, list[OpNode]] = {}
    for op in graph.ops():
        for t in dict.fromkeys(op.activation_inputs):
            consumers.setdefault(t, []).append(op)
    for conv in graph.ops():
        if not _is_full_conv(conv) or len([o for o in conv.outputs if o]) != 1:
            continue
        w = conv.weights[conv.inputs[1]]
        channels = int(w.shape[0])
        drop = min(int(round(fraction * channels)), channels - 1)
        if drop <= 0:
            continue
        chain = _follow(graph, consumers, conv, channels)
        if chain is None:
            continue
        tensors, depthwise, ends = chain
        norms = np.abs(w.astype(np.float64)).reshape(channels, -1).sum(axis=1)
        order = np.argsort(norms, kind="stable")  # lowest norm first; earlier channel wins ties
        keep = np.sort(order[drop:])
        plan.out_keep[conv.name] = keep
        plan.dw_keep.update({d: keep for d in depthwise})
        plan.in_keep.update({e: keep for e in ends})
        plan.tensor_channels.update({t: len(keep) for t in tensors})
    return plan


def _take(op: OpNode, index: int, keep: np.ndarray, axis: int, weights: dict[str, np.ndarray],
          inputs: list[str], tensors: dict[str, TensorInfo]) -> None:
    """Slice input ``index`` (a weight) of ``op`` along ``axis``, under a fresh name."""
    if index >= len(inputs) or not inputs[index]:
        return
    old = inputs[index]
    w = np.take(weights.pop(old), keep, axis=axis)
    name = f"{old}.pruned" if not old.endswith(".pruned") else old
    weights[name] = np.ascontiguousarray(w)
    inputs[index] = name
    tensors[name] = TensorInfo(name, tuple(w.shape), w.dtype.name)


def prune_channels(graph: DataflowGraph, fraction: float) -> DataflowGraph:
    """Remove ``fraction`` of each prunable Conv's output channels (lowest L1 norm first)."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"channel pruning: fraction must be in [0, 1), got {fraction}")
    plan = _plan_channels(graph, fraction)
    if not plan.out_keep:
        return graph
    tensors = dict(graph.tensors)
    ops = []
    for op in graph.ops():
        if op.name not in plan.out_keep and op.name not in plan.in_keep and op.name not in plan.dw_keep:
            ops.append(op)
            continue
        weights, inputs, attrs = dict(op.weights), list(op.inputs), dict(op.attrs)
        if op.name in plan.out_keep:
            keep = plan.out_keep[op.name]
            _take(op, 1, keep, 0, weights, inputs, tensors)
            _take(op, 2, keep, 0, weights, inputs, tensors)
        if op.name in plan.in_keep:
            _take(op, 1, plan.in_keep[op.name], 1, weights, inputs, tensors)
        if op.name in plan.dw_keep:
            keep = plan.dw_keep[op.name]
            _take(op, 1, keep, 0, weights, inputs, tensors)
            _take(op, 2, keep, 0, weights, inputs, tensors)
            attrs["group"] = len(keep)
        ops.append(replace(op, inputs=tuple(inputs), weights=weights, attrs=attrs))
    for t, c in plan.tensor_channels.items():
        info = tensors[t]
        tensors[t] = replace(info, shape=(info.shape[0], c, *info.shape[2:]))
    note = f"channel-pruned {len(plan.out_keep)} Conv(s) by {fraction:g}"
    return DataflowGraph.from_ops(
        graph.name, ops, tensors, graph.inputs, graph.outputs, (*graph.notes, note), graph.source_path,
        bound_inputs=graph.bound_inputs,
    )


# -- specs ------------------------------------------------------------------------
PRUNE_KINDS: tuple[str, ...] = ("magnitude", "nm", "channels")


@dataclass(frozen=True)
class PruneSpec:
    """One pruning recipe, as written on the command line (``magnitude:0.5``, ``nm:2:4``, ``channels:0.25``)."""

    kind: str
    amount: float = 0.0
    n: int = 2
    m: int = 4
    scope: str = "global"

    @property
    def label(self) -> str:
        if self.kind == "nm":
            return f"nm:{self.n}:{self.m}"
        suffix = ":layer" if self.kind == "magnitude" and self.scope == "layer" else ""
        return f"{self.kind}:{self.amount:g}{suffix}"

    def apply(self, graph: DataflowGraph, seed: int = 0) -> DataflowGraph:
        if self.kind == "magnitude":
            return prune_magnitude(graph, self.amount, self.scope, seed)
        if self.kind == "nm":
            return prune_n_m(graph, self.n, self.m)
        return prune_channels(graph, self.amount)


def _number(text: str, spec: str, cast: Callable[[str], float]) -> float:
    try:
        return cast(text)
    except ValueError:
        raise ConfigError(f"--prune '{spec}': '{text}' is not a number") from None


def parse_prune_spec(spec: str) -> PruneSpec:
    """``magnitude:0.5[:layer]`` | ``nm:2:4`` | ``channels:0.25`` -> a checked :class:`PruneSpec`."""
    parts = [p.strip() for p in spec.strip().split(":")]
    kind = parts[0].lower()
    if kind == "magnitude" and len(parts) in (2, 3):
        scope = parts[2] if len(parts) == 3 else "global"
        amount = float(_number(parts[1], spec, float))
        if scope not in SCOPES or not 0.0 <= amount <= 1.0:
            raise ConfigError(f"--prune '{spec}': need magnitude:SPARSITY[:global|layer] with SPARSITY in [0, 1]")
        return PruneSpec("magnitude", amount, scope=scope)
    if kind == "nm" and len(parts) == 3:
        n, m = int(_number(parts[1], spec, int)), int(_number(parts[2], spec, int))
        if not 1 <= n <= m:
            raise ConfigError(f"--prune '{spec}': need nm:N:M with 1 <= N <= M")
        return PruneSpec("nm", n=n, m=m)
    if kind == "channels" and len(parts) == 2:
        amount = float(_number(parts[1], spec, float))
        if not 0.0 <= amount < 1.0:
            raise ConfigError(f"--prune '{spec}': need channels:FRACTION with FRACTION in [0, 1)")
        return PruneSpec("channels", amount)
    raise ConfigError(f"--prune '{spec}': use magnitude:SPARSITY, nm:N:M or channels:FRACTION")


def parse_prune_specs(text: str) -> list[PruneSpec]:
    """A comma list; a bare number repeats the previous kind (``magnitude:0.3,0.5,0.7``)."""
    specs: list[PruneSpec] = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        if specs and ":" not in item and specs[-1].kind != "nm":
            prev = specs[-1]
            item = f"{prev.kind}:{item}" + (f":{prev.scope}" if prev.kind == "magnitude" else "")
        specs.append(parse_prune_spec(item))
    if not specs:
        raise ConfigError("--prune: give at least one spec, e.g. magnitude:0.5")
    return specs


def weight_sparsity(graph: DataflowGraph) -> float:
    """Fraction of zeros over the prunable (Conv/Gemm/MatMul) weights."""
    weights = _prunable_weights(graph)
    total = sum(w.size for w in weights.values())
    return sum(int(np.count_nonzero(w == 0)) for w in weights.values()) / total if total else 0.0


def nonzero_params(graph: DataflowGraph) -> int:
    """Weight elements that are not zero (each constant tensor once): what pruning leaves of ``num_params``."""
    seen: dict[str, int] = {}
    for op in graph.ops():
        for name, w in op.weights.items():
            if is_weight(w):
                seen[name] = int(np.count_nonzero(w))
    return sum(seen.values())
