"""The ONNX frontend: from a file on disk to the dataflow IR.

``import_onnx`` reads the file safely, converts it to the canonical opset,
makes its shapes static, folds constants (re-running shape inference until
nothing more folds) and builds the IR.  It never writes to the user's files,
and it refuses, before allocating them, models whose declared tensors exceed
the memory limit (``max_memory_bytes``, the CLI's ``--max-memory``).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Mapping, Optional, Sequence

from ..ir.graph import DataflowGraph
from .fold_constants import describe_folding, fold_constants
from .loader import (
    CANONICAL_OPSET,
    check_model,
    drop_inferable_value_info,
    fix_input_shapes,
    infer_shapes,
    parse_input_shape,
    read_model,
    to_canonical_opset,
)
from .memory import check_model_memory, default_max_memory_bytes, parse_memory_size, resolve_limit
from .to_ir import model_to_ir

MAX_FOLD_ROUNDS = 8


def import_onnx(
    path: str | os.PathLike[str],
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    max_memory_bytes: Optional[int] = None,
) -> DataflowGraph:
    """Load ``path`` and return its IR (before the IR passes).

    ``max_memory_bytes`` bounds what one frame's weights and activations may
    need (default: the machine's physical memory); a model declaring more is
    refused with a :class:`~gspsim.errors.ModelError` before anything is allocated.
    """
    where = str(path)
    limit = resolve_limit(max_memory_bytes)
    model = read_model(path, limit)
    check_model(model, where)
    notes: list[str] = []
    model, converted = to_canonical_opset(model, where)
    if converted:
        notes.append(converted)
    model = drop_inferable_value_info(fix_input_shapes(model, where, input_shapes))
    model = infer_shapes(model, where)
    check_model_memory(model, where, limit)

    total: Counter[str] = Counter()
    for _ in range(MAX_FOLD_ROUNDS):
        model, folded = fold_constants(model, where)
        if not folded:
            break
        total += folded
        # infer again from scratch: a shape the last round left partly symbolic may now be known,
        # and a stale value_info entry would contradict it
        model = infer_shapes(drop_inferable_value_info(model), where)
    if total:
        notes.append(describe_folding(total))
    return model_to_ir(model, where, notes, limit)


__all__ = ["CANONICAL_OPSET", "default_max_memory_bytes", "import_onnx", "parse_input_shape", "parse_memory_size"]
