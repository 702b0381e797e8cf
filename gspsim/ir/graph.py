"""The dataflow IR: a networkx DiGraph whose nodes are ops and whose edges are tensors.

Nodes are keyed by op name and carry an :class:`OpNode` under the ``"op"``
attribute.  An edge ``u -> v`` carries ``"tensors"``: the tuple of
:class:`TensorInfo` that ``u`` produces and ``v`` consumes.  Graph inputs and
outputs are tensor names; constants (weights) sit on the op that reads them.
The graph is built once from a list of ops (:meth:`DataflowGraph.from_ops`) and
treated as immutable: passes return a new graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping, Optional

import networkx as nx
import numpy as np


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's static facts: name, shape and element type.

    ``elem_bytes`` overrides the storage size of an element where the numpy
    dtype is only a stand-in: bf16 tensors are held as float32 values rounded
    to bf16, but cost 2 bytes each on the simulated chip.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    elem_bytes: Optional[int] = None

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def itemsize(self) -> int:
        return self.elem_bytes if self.elem_bytes is not None else np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize


def is_weight(array: np.ndarray) -> bool:
    """Whether a constant input is a weight rather than a shape/axes/index parameter (int64)."""
    return array.dtype != np.int64


def stored_nbytes(array: np.ndarray, precision: str) -> int:
    """Bytes a weight takes on the chip: bf16 weights are float32 arrays holding bf16 values (2 bytes each)."""
    if precision == "bf16" and array.dtype == np.float32:
        return int(array.size) * 2
    return int(array.nbytes)


@dataclass(frozen=True, eq=False)
class OpNode:
    """One op: its type, attributes, tensor names and the constant tensors (weights) it reads.

    A *fused* node (made by :mod:`gspsim.passes.fuse`) is a main op followed by an
    ``epilogue`` of elementwise ops that run in the same thread, on the same rows.  It
    keeps the main op's name, op_type, attrs and precision; its ``inputs`` are the main
    op's inputs followed by the epilogue ops' external inputs (every input of an epilogue
    op, in epilogue order, that is neither omitted nor produced inside the node; repeats
    are listed again); its ``outputs`` are the chain's final outputs; its ``weights`` hold
    the main op's weights and every epilogue op's, so ``inputs`` are looked up as for
    any node.  Each epilogue op is the original OpNode, unchanged.  ``internal`` gives the
    shape and type of each tensor produced inside the node (the main op's output first),
    which the fused kernel keeps as scratch and never writes out.
    """

    name: str
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    weights: Mapping[str, np.ndarray] = field(default_factory=dict)
    domain: str = ""
    #: the precision this op runs at: fp32, fp16, bf16 or int8 (set by gspsim.passes.precision)
    precision: str = "fp32"
    #: elementwise ops fused after this one, in execution order (empty for an ordinary node)
    epilogue: tuple["OpNode", ...] = ()
    #: tensors produced inside a fused node, in chain order, the main op's output first
    internal: tuple[TensorInfo, ...] = ()

    @property
    def weight_bytes(self) -> int:
        """Bytes of real weights (int64 constants are shapes and axes, not weights), epilogue included."""
        return int(sum(stored_nbytes(w, self.precision) for w in self.weights.values() if is_weight(w)))

    @property
    def activation_inputs(self) -> tuple[str, ...]:
        """Inputs produced at run time (not weights, not omitted optionals), the epilogue's external ones included."""
        return tuple(t for t in self.inputs if t and t not in self.weights)

    # -- fused nodes (computed once per node: lowering asks per block) ------------------
    @property
    def internal_tensors(self) -> tuple[str, ...]:
        """Names of the tensors produced inside a fused node other than its outputs (empty if not fused)."""
        return tuple(info.name for info in self.internal)

    @cached_property
    def epilogue_sources(self) -> tuple[tuple[int, int], ...]:
        """Per epilogue external input, in ``inputs`` order: (epilogue index, that op's input index)."""
        produced = set(self.internal_tensors[:1])
        sources = []
        for k, op in enumerate(self.epilogue):
            sources += [(k, j) for j, t in enumerate(op.inputs) if t and t not in produced]
            produced.update(t for t in op.outputs if t)
        return tuple(sources)

    @property
    def main_input_count(self) -> int:
        """How many of ``inputs`` belong to the main op (the rest are the epilogue's external inputs)."""
        return len(self.inputs) - len(self.epilogue_sources)

    def input_reader(self, index: int) -> tuple["OpNode", int]:
        """The op (the main op or an epilogue op) that reads ``inputs[index]``, and at which of its inputs."""
        n = self.main_input_count
        if index < n:
            return self.main_op, index
        k, j = self.epilogue_sources[index - n]
        return self.epilogue[k], j

    @cached_property
    def main_op(self) -> "OpNode":
        """The main op alone, as it was before fusion (the node itself if it is not fused)."""
        if not self.epilogue:
            return self
        inputs = self.inputs[: self.main_input_count]
        return replace(self, inputs=inputs, outputs=self.internal_tensors[:1], epilogue=(), internal=(),
                       weights={t: w for t, w in self.weights.items() if t in inputs})

    def unfused(self) -> tuple["OpNode", ...]:
        """The ops this node stands for, in execution order: the main op, then its epilogue."""
        return (self.main_op, *self.epilogue)


@dataclass(frozen=True, eq=False)
class DataflowGraph:
    """A model as a static dataflow graph, with the facts the frontend recorded about it."""

    name: str
    graph: nx.DiGraph
    tensors: Mapping[str, TensorInfo]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    #: what the frontend and passes did (folded, fused, dropped ...), for ``inspect``
    notes: tuple[str, ...] = ()
    source_path: str = ""
    #: graph inputs whose given values the model was specialised to when it was loaded (they decide shapes or
    #: control flow: ``gspsim/frontend/bind_inputs.py``); no longer inputs, every later input must agree
    bound_inputs: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_ops(
        cls,
        name: str,
        ops: Iterable[OpNode],
        tensors: Mapping[str, TensorInfo],
        inputs: Iterable[str],
        outputs: Iterable[str],
        notes: Iterable[str] = (),
        source_path: str = "",
        bound_inputs: Mapping[str, np.ndarray] | None = None,
    ) -> "DataflowGraph":
        """Build the DiGraph from ops: an edge for every tensor one op produces and another reads."""
        g = nx.DiGraph()
        producer: dict[str, str] = {}
        ops = list(ops)
        for op in ops:
            g.add_node(op.name, op=op)
            for t in op.outputs:
                if t:
                    producer[t] = op.name
        for op in ops:
            for t in op.activation_inputs:
                src = producer.get(t)
                if src is None:
                    continue  # a graph input
                if g.has_edge(src, op.name):
                    known = g.edges[src, op.name]["tensors"]
                    if all(k.name != t for k in known):
                        g.edges[src, op.name]["tensors"] = known + (tensors[t],)
                else:
                    g.add_edge(src, op.name, tensors=(tensors[t],))
        return cls(
            name=name,
            graph=g,
            tensors=MappingProxyType(dict(tensors)),
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            notes=tuple(notes),
            source_path=source_path,
            bound_inputs=MappingProxyType(dict(bound_inputs or {})),
        )

    # -- queries ---------------------------------------------------------------
    # The graph is immutable, so its topological order and tensor indexes are computed once, on first use:
    # passes ask for producers and consumers per node, and a linear scan each time is quadratic in graph size.
    @cached_property
    def _order(self) -> tuple[str, ...]:
        order = {n: i for i, n in enumerate(self.graph.nodes)}
        return tuple(nx.lexicographical_topological_sort(self.graph, key=order.__getitem__))

    @cached_property
    def _producers(self) -> Mapping[str, str]:
        producers: dict[str, str] = {}
        for n in self.graph.nodes:
            for t in self.graph.nodes[n]["op"].outputs:
                producers.setdefault(t, n)
        return MappingProxyType(producers)

    @cached_property
    def _consumers(self) -> Mapping[str, tuple[str, ...]]:
        consumers: dict[str, list[str]] = {}
        for n in self._order:
            for t in dict.fromkeys(self.graph.nodes[n]["op"].activation_inputs):
                consumers.setdefault(t, []).append(n)
        return MappingProxyType({t: tuple(names) for t, names in consumers.items()})

    def op(self, name: str) -> OpNode:
        return self.graph.nodes[name]["op"]

    def ops(self) -> Iterator[OpNode]:
        """Ops in a deterministic topological order (ties broken by insertion order)."""
        nodes = self.graph.nodes
        for n in self._order:
            yield nodes[n]["op"]

    def producer_of(self, tensor: str) -> str | None:
        """The op that writes ``tensor``, or None for a graph input."""
        return self._producers.get(tensor)

    def consumers_of(self, tensor: str) -> list[str]:
        """The ops that read ``tensor`` at run time, in topological order."""
        return list(self._consumers.get(tensor, ()))

    @property
    def num_params(self) -> int:
        """Number of weight elements (each constant tensor counted once)."""
        seen: dict[str, int] = {}
        for _, data in self.graph.nodes(data=True):
            for name, w in data["op"].weights.items():
                if is_weight(w):
                    seen[name] = int(w.size)
        return sum(seen.values())

    @property
    def weight_bytes(self) -> int:
        seen: dict[str, int] = {}
        for _, data in self.graph.nodes(data=True):
            op = data["op"]
            for name, w in op.weights.items():
                if is_weight(w):
                    seen[name] = stored_nbytes(w, op.precision)
        return sum(seen.values())

    def __len__(self) -> int:
        return self.graph.number_of_nodes()
