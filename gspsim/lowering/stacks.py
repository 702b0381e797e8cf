"""Layer stacks and cut points, planned at compile time: what streams on chip and what goes through DRAM.

Streaming mode groups consecutive nodes (in program order) into **stacks**,
the fused layer stacks of Alwani et al. (MICRO 2016), DeFiNES (Mei et al.,
HPCA 2023) and Stream (Symons et al., IEEE TC 2025).  Inside a stack every
tensor streams through a line buffer (:mod:`gspsim.lowering.buffers`);
between stacks the tensor is a planned **cut**: its producer writes it to
DRAM and its consumers read it back, each row once.  The planner extends the
current stack node by node while

* the stack's line buffers fit the buffer budget (:mod:`gspsim.lowering.memory`), and
* the weights the stack keeps on chip while it runs -- those of its ``held``
  nodes -- plus the largest weight slice of its other nodes fit the weight
  memory (a model whose weights all fit keeps them resident, and this never
  cuts);

and cuts where either would overflow.  Where a stack leaves budget unused,
its line buffers get up to :data:`MAX_RUN_AHEAD` bands of run-ahead instead
of one, so producers stall less.  How each node's weights reach its
tiles (``weight_policy``):

* ``held``: a multi-band node whose weights take at most half the weight
  memory loads them once per frame (frames in flight share them) and keeps
  them while its bands go by;
* ``slices``: a one-band node streams its weights just in time, one channel
  group's slice per tile, each slice once per frame -- it never forces a cut;
* ``refetch``: a multi-band node whose weights are too large to hold (only
  when ``--tile`` forces bands on such a node) loads each channel group's
  slice again for every band: the weight re-fetch of tiles that are too
  small (DeFiNES, Mei et al., HPCA 2023).  Graph inputs and outputs always live in DRAM.  Layer mode is the plan
with every node its own stack and every tensor through DRAM.

The plan also answers "how much on-chip memory does this model need?": the
line buffers of each stack, and the smallest budget that streams the whole
model as one stack (``min_buffer_budget``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from ..hardware.config import HardwareConfig
from .buffers import StreamedTensor, alias_roots, streamed_tensors
from .memory import buffer_budget_bytes, weight_capacity_bytes
from .tasks import NodeTasks, TaskGraph

HELD, SLICES, REFETCH, NONE = "held", "slices", "refetch", "none"


def weight_policy(node: NodeTasks, capacity: int) -> str:
    """How one node's weights reach its tiles (module docstring)."""
    if not node.cost.weight_bytes:
        return NONE
    if len(node.bands) == 1:
        return SLICES
    return HELD if node.cost.weight_bytes * 2 <= capacity else REFETCH


@dataclass(frozen=True)
class Placement:
    """Where one produced tensor lives."""

    tensor: str
    #: streamed through a line buffer of ``capacity`` bytes inside its producer's stack
    on_chip: bool
    capacity: int
    #: its producer also writes it to DRAM: a cut (consumers in later stacks), a graph output, or layer mode
    to_dram: bool
    #: "stream", "cut", "graph output", "layer mode", "unused", or "alias of X" for a view's output
    reason: str


@dataclass(frozen=True)
class Stack:
    """Consecutive nodes ``first .. last`` (inclusive) that run as one fused stack."""

    index: int
    first: int
    last: int
    #: bytes of its line buffers (allocated while the stack runs)
    buffer_bytes: int
    #: bytes of weights it keeps on chip while it runs (its multi-band nodes'), and of all its weights
    held_weight_bytes: int
    weight_bytes: int

    @property
    def nodes(self) -> range:
        return range(self.first, self.last + 1)


@dataclass(frozen=True)
class MemoryPlan:
    """The compiler's on-chip memory plan of one model."""

    mode: str
    buffer_budget: int
    weight_capacity: int
    #: the model's weights all fit the weight memory: loaded once, kept for every frame
    resident: bool
    stacks: tuple[Stack, ...]
    #: per node: its stack
    stack_of: tuple[int, ...]
    #: per node: "held", "slices", "refetch" or "none" (module docstring)
    weight_policy: tuple[str, ...]
    #: per produced tensor (aliases included)
    tensors: Mapping[str, Placement]
    #: view output -> the tensor it relabels
    aliases: Mapping[str, str]
    #: line-buffer bytes that stream the whole model as one stack: the smallest budget with no cut for buffers
    min_buffer_budget: int

    @property
    def cuts(self) -> tuple[str, ...]:
        """Tensors that go through DRAM between stacks (planned, not spilled)."""
        return tuple(t for t, p in self.tensors.items() if p.reason == "cut")

    def root(self, tensor: str) -> str:
        return self.aliases.get(tensor, tensor)

    def holds(self, node: int) -> bool:
        """Whether the node keeps its weights on chip while its bands go by."""
        return self.weight_policy[node] == HELD


def _consumers(tasks: TaskGraph, roots: Mapping[str, str]) -> dict[str, list[int]]:
    """Per root tensor: the non-view nodes that read it (directly or through a view)."""
    result: dict[str, list[int]] = {}
    for node in tasks.nodes:
        if node.is_view:
            continue
        for t in dict.fromkeys(node.op.activation_inputs):
            root = roots.get(t, t)
            if root in tasks.producer:
                result.setdefault(root, []).append(node.index)
    return result


def _capacity(info: StreamedTensor, readers: list[int], first: int, last: int, run_ahead: int = 1) -> int:
    held = max((info.held.get(c, 0) for c in readers if first <= c <= last), default=0)
    return info.capacity(held, run_ahead) if held else 0


#: most bands of run-ahead a line buffer gets from budget a stack leaves unused
MAX_RUN_AHEAD = 3


def plan_layer_stacks(tasks: TaskGraph, hw: HardwareConfig, mode: str,
                      buffer_budget: Optional[int] = None) -> MemoryPlan:
    """Group nodes into stacks and place every tensor (module docstring)."""
    budget = buffer_budget_bytes(hw, buffer_budget)
    capacity = weight_capacity_bytes(hw, buffer_budget)
    nodes = tasks.nodes
    roots = alias_roots(tasks)
    infos = streamed_tensors(tasks)
    readers = _consumers(tasks, roots)
    total_weights = sum(n.cost.weight_bytes for n in nodes)
    resident = total_weights <= capacity
    policy = tuple(weight_policy(n, capacity) for n in nodes)
    holds = tuple(p == HELD for p in policy)
    weight_bytes = tasks.tiles.weight_bytes
    slice_bytes = [int(weight_bytes[n.blocks.start:n.blocks.stop].max(initial=0)) if not holds[n.index] else 0
                   for n in nodes]
    inputs_of = [[roots.get(t, t) for t in dict.fromkeys(n.op.activation_inputs) if roots.get(t, t) in infos]
                 for n in nodes]

    # -- the stacks --------------------------------------------------------------------------------------
    bounds: list[tuple[int, int]] = []
    if mode == "layer":
        bounds = [(n.index, n.index) for n in nodes]
    elif nodes:
        first = 0
        caps: dict[str, int] = {}
        held_w = largest_slice = 0
        for n in range(len(nodes)):
            grown = dict(caps)
            for t in inputs_of[n]:
                if tasks.producer[t] >= first:
                    grown[t] = _capacity(infos[t], readers.get(t, []), first, n)
            new_buffers = sum(grown.values())
            new_held = held_w + (nodes[n].cost.weight_bytes if holds[n] else 0)
            new_slice = max(largest_slice, slice_bytes[n])
            fits = new_buffers <= budget and (resident or new_held + new_slice <= capacity)
            if n == first or fits:
                caps, held_w, largest_slice = grown, new_held, new_slice
                continue
            bounds.append((first, n - 1))
            first = n
            caps = {}
            held_w = nodes[n].cost.weight_bytes if holds[n] else 0
            largest_slice = slice_bytes[n]
        bounds.append((first, len(nodes) - 1))
    stack_of = [0] * len(nodes)
    for s, (a, b) in enumerate(bounds):
        for n in range(a, b + 1):
            stack_of[n] = s

    # -- run-ahead: budget a stack leaves unused lets every one of its line buffers run further ahead ----------
    run_ahead = [1] * len(bounds)
    if mode != "layer":
        streamed = [[name for name, info in infos.items() if stack_of[info.node] == s and
                     any(stack_of[c] == s for c in readers.get(name, []))] for s in range(len(bounds))]
        for s, names in enumerate(streamed):
            while run_ahead[s] < MAX_RUN_AHEAD:
                more = sum(_capacity(infos[t], readers[t], *bounds[s], run_ahead[s] + 1) for t in names)
                if more > budget:
                    break
                run_ahead[s] += 1

    # -- placements ---------------------------------------------------------------------------------------
    graph_outputs = {roots.get(o, o) for o in tasks.graph.outputs}
    placements: dict[str, Placement] = {}
    stack_buffers = [0] * len(bounds)
    for name, info in infos.items():
        s = stack_of[info.node]
        mine = [c for c in readers.get(name, []) if stack_of[c] == s]
        later = [c for c in readers.get(name, []) if stack_of[c] != s]
        on_chip = mode != "layer" and bool(mine)
        cap = _capacity(info, mine, *bounds[s], run_ahead[s]) if on_chip else 0
        stack_buffers[s] += cap
        is_output = name in graph_outputs
        to_dram = is_output or bool(later) or (mode == "layer" and bool(readers.get(name)))
        if mode == "layer":
            reason = "layer mode" if readers.get(name) else ("graph output" if is_output else "unused")
        elif later:
            reason = "cut"
        elif on_chip:
            reason = "stream"
        else:
            reason = "graph output" if is_output else "unused"
        placements[name] = Placement(name, on_chip, cap, to_dram, reason)
    for alias, root in roots.items():
        p = placements.get(root)
        if p is not None:
            placements[alias] = Placement(alias, p.on_chip, 0, False, f"alias of {root}")
    stacks = tuple(
        Stack(index=s, first=a, last=b, buffer_bytes=stack_buffers[s],
              held_weight_bytes=sum(nodes[n].cost.weight_bytes for n in range(a, b + 1) if holds[n]),
              weight_bytes=sum(nodes[n].cost.weight_bytes for n in range(a, b + 1)))
        for s, (a, b) in enumerate(bounds)
    )
    whole = sum(_capacity(info, readers.get(name, []), 0, len(nodes) - 1) for name, info in infos.items())
    return MemoryPlan(
        mode=mode, buffer_budget=budget, weight_capacity=capacity, resident=resident, stacks=stacks,
        stack_of=tuple(stack_of), weight_policy=policy, tensors=placements, aliases=roots,
        min_buffer_budget=whole,
    )
