"""Lowering: nodes -> tiles and bands (the GSP's threads), and the compile-time memory plan."""

from .stacks import MemoryPlan, Placement, Stack, plan_layer_stacks
from .tasks import Band, Block, NodeTasks, TaskGraph, TileRead, check_supported, lower_to_tasks
from .tiling import TileShape, parse_tile

__all__ = [
    "Band", "Block", "MemoryPlan", "NodeTasks", "Placement", "Stack", "TaskGraph", "TileRead", "TileShape",
    "check_supported", "lower_to_tasks", "parse_tile", "plan_layer_stacks",
]
