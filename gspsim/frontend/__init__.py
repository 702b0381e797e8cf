"""The ONNX frontend: from a file on disk to the dataflow IR.

``import_onnx`` reads the file safely, converts it to the canonical opset,
makes its shapes static, specialises it to the input values given where an
input decides a shape (:mod:`.bind_inputs`), inlines control flow decided at
load time (:mod:`.control_flow`), folds constants (re-running shape inference
until nothing more folds) and builds the IR.  It never writes to the user's files,
and it refuses, before allocating them, models whose declared tensors exceed
the memory limit (``max_memory_bytes``, the CLI's ``--max-memory``).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from types import MappingProxyType
from typing import Mapping, Optional, Sequence

import numpy as np
import onnx

from ..errors import ModelError
from ..ir.graph import DataflowGraph
from .bind_inputs import bind, describe_bound, describe_unbound, inputs_to_bind
from .control_flow import has_control_flow, inline_control_flow, unresolved_reason
from .fold_constants import describe_folding, fold_constants
from .loader import (
    CANONICAL_OPSET,
    check_model,
    drop_inferable_value_info,
    fix_input_shapes,
    infer_shapes,
    infer_shapes_lenient,
    parse_input_shape,
    read_model,
    to_canonical_opset,
)
from .memory import check_model_memory, default_max_memory_bytes, parse_memory_size, resolve_limit
from .to_ir import model_to_ir

MAX_FOLD_ROUNDS = 8
#: rounds of inlining control flow (each resolves one more level of nesting or of dependence)
MAX_CONTROL_FLOW_ROUNDS = 16


def import_onnx(
    path: str | os.PathLike[str],
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    max_memory_bytes: Optional[int] = None,
    input_values: Mapping[str, np.ndarray] | None = None,
) -> DataflowGraph:
    """Load ``path`` and return its IR (before the IR passes).

    ``max_memory_bytes`` bounds what one frame's weights and activations may
    need (default: the machine's physical memory); a model declaring more is
    refused with a :class:`~gspsim.errors.ModelError` before anything is allocated.
    ``input_values`` (the run's inputs, when given) specialise the model where
    an input decides a shape or control flow (:mod:`.bind_inputs`).
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
    bound: dict[str, np.ndarray] = {}
    total: Counter[str] = Counter()
    inlined = 0
    while True:
        model, rounds = _resolve_control_flow(model, where, total)
        inlined += rounds
        if not has_control_flow(model):
            model = infer_shapes(model, where)
            check_model_memory(model, where, limit)
            model = _fold(model, where, total)
        wanted = inputs_to_bind(model, input_values) if input_values else {}
        if not wanted:
            break
        bound.update(wanted)
        model = drop_inferable_value_info(bind(model, wanted))
    refusal = describe_unbound(model, where) or unresolved_reason(model, where)
    if refusal:
        raise ModelError(refusal)
    if bound:
        notes.append(describe_bound(bound))
    if inlined:
        notes.append(f"inlined or unrolled {inlined} control-flow node(s) (If, Loop, Scan)")
    if total:
        notes.append(describe_folding(total))
    graph = model_to_ir(model, where, notes, limit)
    return replace(graph, bound_inputs=MappingProxyType(bound)) if bound else graph


def _fold(model: onnx.ModelProto, where: str, total: Counter[str]) -> onnx.ModelProto:
    """Constant folding, with shape inference again after each round, until nothing more folds."""
    for _ in range(MAX_FOLD_ROUNDS):
        model, folded = fold_constants(model, where)
        if not folded:
            break
        total += folded
        # infer again from scratch: a shape the last round left partly symbolic may now be known,
        # and a stale value_info entry would contradict it
        model = infer_shapes(drop_inferable_value_info(model), where)
    return model


def _resolve_control_flow(model: onnx.ModelProto, where: str, total: Counter[str]) -> tuple[onnx.ModelProto, int]:
    """Rounds of (lenient shape inference, constant folding, inlining) while control flow is left and resolves.

    Shape inference is lenient here: onnx's may fail inside a branch or body
    that inlining then removes; the model is inferred strictly afterwards.
    After the last inlining, rounds go on while something folds (inlined
    branches often compute shapes from constants).
    """
    done = 0
    for _ in range(MAX_CONTROL_FLOW_ROUNDS):
        if not has_control_flow(model) and not done:
            break
        model = infer_shapes_lenient(drop_inferable_value_info(model))
        model, folded = fold_constants(model, where)
        total += folded
        model, inlined = inline_control_flow(model, where)
        done += inlined
        if not inlined and not folded:
            break
    return model, done


__all__ = ["CANONICAL_OPSET", "default_max_memory_bytes", "import_onnx", "parse_input_shape", "parse_memory_size"]
