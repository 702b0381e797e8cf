"""Lowering: graph nodes become blocks (threads) with block-level dependencies."""

from .receptive_field import needed_rows
from .tasks import Block, BlockInput, NodeTasks, TaskGraph, check_supported, lower_to_tasks, rows_per_block

__all__ = [
    "Block", "BlockInput", "NodeTasks", "TaskGraph", "check_supported", "lower_to_tasks", "needed_rows",
    "rows_per_block",
]
