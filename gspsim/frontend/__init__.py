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
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from .memory import check_file_size, check_sizes, default_max_memory_bytes, parse_memory_size, resolve_limit

if TYPE_CHECKING:
    import numpy as np
    import onnx

    from ..ir.graph import DataflowGraph
    from ..model_cache import LoadFacts

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
    return import_onnx_with_facts(path, input_shapes, max_memory_bytes, input_values)[0]


def import_onnx_with_facts(
    path: str | os.PathLike[str],
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    max_memory_bytes: Optional[int] = None,
    input_values: Mapping[str, np.ndarray] | None = None,
) -> tuple[DataflowGraph, LoadFacts]:
    """:func:`import_onnx`, with what its checks measured (for :mod:`gspsim.model_cache`)."""
    # onnx is imported here, by the commands that read a model, not by every command
    from dataclasses import replace
    from types import MappingProxyType

    from ..errors import ModelError
    from ..model_cache import LoadFacts, file_sha256
    from .bind_inputs import bind, describe_bound, describe_unbound, inputs_to_bind
    from .control_flow import has_control_flow, unresolved_reason
    from .fold_constants import describe_folding
    from .loader import (
        check_model, drop_inferable_value_info, fix_input_shapes, infer_shapes, read_model_and_sources,
        to_canonical_opset,
    )
    from .to_ir import model_to_ir

    where = str(path)
    limit = resolve_limit(max_memory_bytes)
    model, file_bytes, sources = read_model_and_sources(path, limit)
    check_model(model, where)
    notes: list[str] = []
    model, converted = to_canonical_opset(model, where)
    if converted:
        notes.append(converted)
    model = drop_inferable_value_info(fix_input_shapes(model, where, input_shapes))
    bound: dict[str, np.ndarray] = {}
    checked: list[tuple[tuple[int, str], int]] = []
    total: Counter[str] = Counter()
    inlined = 0
    while True:
        model, rounds = _resolve_control_flow(model, where, total)
        inlined += rounds
        if not has_control_flow(model):
            model = infer_shapes(model, where)
            checked.append(_measure(model, where))
            check_sizes(*checked[-1], where, limit)
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
    checked.append(_measure(model, where))  # what model_to_ir checks again, after folding
    graph = model_to_ir(model, where, notes, limit)
    if bound:
        graph = replace(graph, bound_inputs=MappingProxyType(bound))
    facts = LoadFacts(file_bytes=file_bytes, sizes=tuple(checked),
                      external=tuple((str(f), file_sha256(f)) for f in sources))
    return graph, facts


def _fold(model: onnx.ModelProto, where: str, total: Counter[str]) -> onnx.ModelProto:
    """Constant folding, with shape inference again after each round, until nothing more folds."""
    from .fold_constants import fold_constants
    from .loader import drop_inferable_value_info, infer_shapes

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
    from .control_flow import has_control_flow, inline_control_flow
    from .fold_constants import fold_constants
    from .loader import drop_inferable_value_info, infer_shapes_lenient

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


def _measure(model: Any, where: str) -> tuple[tuple[int, str], int]:
    """(largest tensor, all tensors' bytes) as the memory check sees them."""
    from .memory import tensor_sizes

    sizes = tensor_sizes(model, where)
    return (max(sizes), sum(n for n, _ in sizes)) if sizes else ((0, ""), 0)


def check_cached_limits(facts: LoadFacts, where: str, limit: int) -> None:
    """The memory refusals of a fresh load, on the sizes a cached load recorded."""
    check_file_size(where, facts.file_bytes, limit)
    for largest, total in facts.sizes:
        check_sizes(largest, total, where, limit)


def __getattr__(name: str) -> Any:
    """The loader's names, imported (with onnx) when first used."""
    if name in ("CANONICAL_OPSET", "parse_input_shape"):
        from . import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CANONICAL_OPSET", "check_cached_limits", "default_max_memory_bytes", "import_onnx", "import_onnx_with_facts",
    "parse_input_shape", "parse_memory_size",
]
