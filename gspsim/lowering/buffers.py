"""Line buffers: how many bands of a tensor its consumers hold at once.

A tensor streamed between nodes lives in a ring of its producer's bands (the
GSP's ring buffers, US 10,311,542).  Its capacity is the compiler's, sized so
that streaming can never deadlock and the producer can run one band ahead:

* a consumer band holds the producer bands its window reads (kernel height
  plus ``(rows per band - 1) x stride`` rows, rounded out to whole producer
  bands);
* for a tensor read by several nodes (a residual fork), a consumer band also
  holds every band between the first one it reads and the last one that must
  have been written before it can run at all, through any path (the other
  branch of the fork): the join keeps exactly the rows it still needs;
* plus one producer band, so the producer writes ahead while its consumers work
  (the planner gives a stack's line buffers more bands of run-ahead where its
  budget has room left: :mod:`gspsim.lowering.stacks`).

A consumer that reads the tensor whole (global pooling, reshape, softmax over
the blocked axis, a one-band node) holds it whole.  Views (Reshape, Flatten,
...) are aliases: their readers read the root tensor, whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .tasks import TaskGraph


@dataclass(frozen=True)
class StreamedTensor:
    """A produced tensor, as line buffers see it."""

    tensor: str
    node: int
    bands: int
    #: bytes of its largest band, and of the whole tensor
    band_bytes: int
    nbytes: int
    #: per consumer node (views excluded, readers through views included): producer bands it holds at once
    held: Mapping[int, int]

    def capacity(self, held_bands: int, run_ahead: int = 1) -> int:
        """Bytes of a line buffer for consumers holding ``held_bands`` bands, plus ``run_ahead`` bands."""
        return min(self.nbytes, (held_bands + run_ahead) * self.band_bytes) if held_bands < self.bands else self.nbytes


def alias_roots(tasks: TaskGraph) -> dict[str, str]:
    """Each view output -> the tensor it relabels (through chains of views)."""
    roots: dict[str, str] = {}
    for node in tasks.nodes:
        if node.is_view and node.op.activation_inputs:
            source = node.op.activation_inputs[0]
            for out in node.op.outputs:
                if out:
                    roots[out] = roots.get(source, source)
    return roots


def streamed_tensors(tasks: TaskGraph) -> dict[str, StreamedTensor]:
    """Every produced tensor that is not an alias, with the bands each consumer node holds at once."""
    roots = alias_roots(tasks)
    nodes, bands = tasks.nodes, tasks.bands
    band_bytes: dict[str, int] = {}
    for node in nodes:
        outs = [o for o in node.op.outputs if o]
        for name in outs:
            if name in roots:
                continue
            if len(outs) == 1:
                band_bytes[name] = max((bands[b].out_bytes for b in node.bands), default=0)
            else:
                band_bytes[name] = tasks.nbytes(name)
    # readers per root: consumer nodes that are not views
    readers: dict[str, set[int]] = {}
    for node in nodes:
        if node.is_view:
            continue
        for t in node.op.activation_inputs:
            root = roots.get(t, t)
            if root in band_bytes:
                readers.setdefault(root, set()).add(node.index)
    forks = {t for t, r in readers.items() if len(r) > 1}
    last_read = {t: -1 for t in forks}
    for node in nodes:
        if node.is_view:
            continue
        for t in node.op.activation_inputs:
            root = roots.get(t, t)
            if root in last_read and node.bands:
                last_read[root] = max(last_read[root], node.bands[-1])
    n_bands = {name: len(nodes[tasks.producer[name]].bands) for name in band_bytes}
    held: dict[str, dict[int, int]] = {name: {} for name in band_bytes}
    reach: list[dict[str, int]] = [{} for _ in bands] if forks else []
    for band in bands:  # topological order
        node = nodes[band.node]
        direct: list[tuple[str, int, int]] = []
        if not node.is_view:
            for tensor, first, last in band.reads:
                root = roots.get(tensor, tensor)
                if root not in held:
                    continue
                if root != tensor:  # read through a view: the whole root
                    first, last = 0, n_bands[root] - 1
                direct.append((root, first, last))
        if forks:
            mine = reach[band.id]
            for d in band.deps:
                for t, idx in reach[d].items():
                    if idx > mine.get(t, -1) and last_read[t] >= band.id:
                        mine[t] = idx
            for t, _, last in direct:
                if t in forks and last > mine.get(t, -1):
                    mine[t] = last
        for t, first, last in direct:
            top = max(last, reach[band.id].get(t, -1)) if forks else last
            span = top - first + 1
            if span > held[t].get(band.node, 0):
                held[t][band.node] = span
    return {
        name: StreamedTensor(name, tasks.producer[name], n_bands[name], band_bytes[name], tasks.nbytes(name),
                             held[name])
        for name in band_bytes
    }
