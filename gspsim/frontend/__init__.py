"""The ONNX frontend: from a file on disk to the dataflow IR.

``import_onnx`` reads the file safely, converts it to the canonical opset,
makes its shapes static, folds constants (re-running shape inference until
nothing more folds) and builds the IR.  It never writes to the user's files.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Mapping, Sequence

from ..ir.graph import DataflowGraph
from .fold_constants import describe_folding, fold_constants
from .loader import (
    CANONICAL_OPSET,
    check_model,
    fix_input_shapes,
    infer_shapes,
    parse_input_shape,
    read_model,
    to_canonical_opset,
)
from .to_ir import model_to_ir

MAX_FOLD_ROUNDS = 8


def import_onnx(
    path: str | os.PathLike[str], input_shapes: Mapping[str, Sequence[int]] | None = None
) -> DataflowGraph:
    """Load ``path`` and return its IR (before the IR passes)."""
    where = str(path)
    model = read_model(path)
    check_model(model, where)
    notes: list[str] = []
    model, converted = to_canonical_opset(model, where)
    if converted:
        notes.append(converted)
    model = fix_input_shapes(model, where, input_shapes)
    model = infer_shapes(model, where)

    total: Counter[str] = Counter()
    for _ in range(MAX_FOLD_ROUNDS):
        model, folded = fold_constants(model)
        if not folded:
            break
        total += folded
        model = infer_shapes(model, where)
    if total:
        notes.append(describe_folding(total))
    return model_to_ir(model, where, notes)


__all__ = ["CANONICAL_OPSET", "import_onnx", "parse_input_shape"]
