"""The dataflow IR (ops as nodes, tensors as edges) and the per-op cost facts."""

from .costs import OpCost, op_cost
from .graph import DataflowGraph, OpNode, TensorInfo

__all__ = ["DataflowGraph", "OpCost", "OpNode", "TensorInfo", "op_cost"]
