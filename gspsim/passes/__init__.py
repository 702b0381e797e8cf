"""Graph-to-graph passes on the IR; each returns a new DataflowGraph."""

from __future__ import annotations

from ..ir.graph import DataflowGraph
from .fold_batchnorm import fold_batchnorm
from .remove_identity import remove_identity

DEFAULT_PASSES = (remove_identity, fold_batchnorm)


def run_default_passes(graph: DataflowGraph) -> DataflowGraph:
    """The passes every model goes through, in order."""
    for p in DEFAULT_PASSES:
        graph = p(graph)
    return graph


__all__ = ["DEFAULT_PASSES", "fold_batchnorm", "remove_identity", "run_default_passes"]
