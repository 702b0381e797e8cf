"""Structural checks that name the node or tensor at fault, run before the ONNX checker.

The ONNX checker finds most of these problems too, but its messages say what
rule was broken rather than which node broke it (a missing initializer reads
"Nodes in a graph must be topologically sorted"), so the common cases are
checked here first with messages that name the node, the tensor and what is
wrong: duplicate tensor names, tensors nobody provides (missing initializers,
dangling edges), graph outputs nobody writes, cycles, and initializers whose
data does not match their declared shape.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import onnx
from onnx import helper

from ..errors import ModelError


def node_label(node: onnx.NodeProto, index: int) -> str:
    """How messages name a node: its name (or ``<op>_<index>`` when it has none) and op type."""
    return f"node '{node.name or f'{node.op_type}_{index}'}' ({node.op_type})"


def element_size(data_type: int) -> int | None:
    """Bytes per element of an ONNX tensor type, or None for strings and unknown types."""
    if data_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
        return None
    try:
        return int(np.dtype(helper.tensor_dtype_to_np_dtype(data_type)).itemsize)
    except Exception:  # an unknown enum value, or a type numpy has no dtype for
        return None


def _typed_length(t: onnx.TensorProto) -> tuple[int, int]:
    """(values stored in typed fields, values each element takes) for a tensor without raw_data."""
    per = 2 if t.data_type in (onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128) else 1
    for field in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"):
        n = len(getattr(t, field))
        if n:
            return n, per
    return 0, per


def check_initializer(t: onnx.TensorProto, what: str) -> None:
    """One constant tensor: a known type, non-negative dims, and exactly as much data as its shape needs.

    ``what`` names it in messages, e.g. ``model.onnx: initializer 'w'``.
    """
    if any(d < 0 for d in t.dims):
        raise ModelError(f"{what} has negative dimension(s) {list(t.dims)}")
    count = 1
    for d in t.dims:
        count *= int(d)
    if t.data_location == onnx.TensorProto.EXTERNAL:
        return  # sized when its external data is read (external_data.py)
    if t.data_type == onnx.TensorProto.STRING:
        if len(t.string_data) != count:
            raise ModelError(f"{what} declares {count} string(s) but holds {len(t.string_data)}")
        return
    size = element_size(t.data_type)
    if size is None:
        raise ModelError(f"{what} has unknown element type {t.data_type}")
    if t.HasField("raw_data"):
        expected = _packed_bytes(t.data_type, count, size)
        if len(t.raw_data) != expected:
            raise ModelError(
                f"{what} declares shape {list(t.dims)} ({expected} bytes) but holds {len(t.raw_data)} bytes of data"
            )
        return
    n, per = _typed_length(t)
    if _packed_bytes(t.data_type, 2, 1) == 1:
        return  # 4-bit types: the typed-field packing varies between onnx versions; to_array checks it
    if n != count * per and not (n == 0 and count == 0):
        raise ModelError(f"{what} declares shape {list(t.dims)} ({count} values) but holds {n // per} value(s)")


def _packed_bytes(data_type: int, count: int, itemsize: int) -> int:
    """raw_data length for ``count`` elements; 4-bit types pack two elements per byte."""
    four_bit = {getattr(onnx.TensorProto, n) for n in ("INT4", "UINT4", "FLOAT4E2M1") if hasattr(onnx.TensorProto, n)}
    if data_type in four_bit:
        return (count + 1) // 2
    return count * itemsize


def graph_tensors(graph: onnx.GraphProto, where: str) -> Iterable[tuple[str, onnx.TensorProto]]:
    """(how to name it, tensor) for the initializers and the tensors in node attributes (Constant values)."""
    for t in graph.initializer:
        yield f"{where}: initializer '{t.name}'", t
    for i, node in enumerate(graph.node):
        for attr in node.attribute:
            if attr.HasField("t"):
                yield f"{where}: tensor in attribute '{attr.name}' of {node_label(node, i)}", attr.t
            for k, t in enumerate(attr.tensors):
                yield f"{where}: tensor {k} in attribute '{attr.name}' of {node_label(node, i)}", t


def check_structure(model: onnx.ModelProto, where: str) -> None:
    """Duplicate names, missing tensors, unwritten outputs and cycles, each named."""
    graph = model.graph
    producer: dict[str, str] = {}

    def provide(name: str, what: str) -> None:
        if not name:
            return
        if name in producer:
            raise ModelError(f"{where}: tensor '{name}' is defined twice ({producer[name]} and {what}); "
                             "tensor names must be unique")
        producer[name] = what

    initializer_names: set[str] = set()
    for t in graph.initializer:
        if t.name in initializer_names:
            raise ModelError(f"{where}: initializer '{t.name}' is defined twice; tensor names must be unique")
        initializer_names.add(t.name)
    seen_inputs: set[str] = set()
    for vi in graph.input:
        if vi.name in seen_inputs:
            raise ModelError(f"{where}: graph input '{vi.name}' is declared twice; tensor names must be unique")
        seen_inputs.add(vi.name)
        if not vi.name:
            raise ModelError(f"{where}: a graph input has an empty name")
        provide(vi.name, f"graph input '{vi.name}'")
    for t in graph.initializer:
        if t.name not in seen_inputs:  # an initializer may also be listed as an input (its default value)
            provide(t.name, f"initializer '{t.name}'")
    for i, node in enumerate(graph.node):
        for out in node.output:
            provide(out, f"output of {node_label(node, i)}")

    for i, node in enumerate(graph.node):
        for name in node.input:
            if name and name not in producer:
                raise ModelError(
                    f"{where}: {node_label(node, i)} reads tensor '{name}', which no node, graph input or "
                    "initializer provides (a missing initializer or a dangling edge)"
                )
    seen_outputs: set[str] = set()
    for vi in graph.output:
        if vi.name in seen_outputs:
            raise ModelError(f"{where}: graph output '{vi.name}' is declared twice")
        seen_outputs.add(vi.name)
        if vi.name not in producer:
            raise ModelError(f"{where}: graph output '{vi.name}' is not written by any node, input or initializer")
    _check_acyclic_and_sorted(graph, where)


def _check_acyclic_and_sorted(graph: onnx.GraphProto, where: str) -> None:
    writer: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for out in node.output:
            if out:
                writer[out] = i
    # cycle detection on node indices (iterative DFS, three colours)
    preds: list[list[int]] = [[writer[n] for n in node.input if n in writer] for node in graph.node]
    colour = [0] * len(graph.node)  # 0 new, 1 on the stack, 2 done
    for start in range(len(graph.node)):
        if colour[start]:
            continue
        stack: list[tuple[int, int]] = [(start, 0)]
        path: list[int] = [start]
        colour[start] = 1
        while stack:
            node, k = stack[-1]
            if k < len(preds[node]):
                stack[-1] = (node, k + 1)
                nxt = preds[node][k]
                if colour[nxt] == 1:
                    loop = [*path[path.index(nxt):], nxt][::-1]  # in data-flow order: each feeds the next
                    names = " -> ".join(node_label(graph.node[j], j) for j in loop)
                    raise ModelError(f"{where}: the graph has a cycle: {names}")
                if colour[nxt] == 0:
                    colour[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                colour[node] = 2
                stack.pop()
                path.pop()
    for i, node in enumerate(graph.node):
        for name in node.input:
            j = writer.get(name)
            if j is not None and j >= i:
                raise ModelError(
                    f"{where}: {node_label(node, i)} reads tensor '{name}' before {node_label(graph.node[j], j)} "
                    "writes it; ONNX needs the nodes in topological order"
                )


def _is_repeated(field: Any) -> bool:
    """Across protobuf versions: ``is_repeated`` (upb, 5.x+) or ``label`` (older)."""
    flag = getattr(field, "is_repeated", None)
    return bool(flag) if flag is not None else field.label == field.LABEL_REPEATED


def check_text(message: Any, where: str, path: str = "model") -> None:
    """Every string field of the protobuf is valid UTF-8 text.

    ONNX's schema is proto2, where a string field holding invalid UTF-8 parses
    into ``bytes`` instead of failing; names would then be bytes everywhere
    downstream.  Only set fields are visited (numeric payloads are skipped).
    """
    for field, value in message.ListFields():
        repeated = _is_repeated(field)
        if field.type == field.TYPE_STRING:
            values = value if repeated else [value]
            for k, v in enumerate(values):
                if not isinstance(v, str):
                    index = f"[{k}]" if repeated else ""
                    raise ModelError(f"{where}: {path}.{field.name}{index} is not valid UTF-8 text ({bytes(v)[:40]!r})")
        elif field.type == field.TYPE_MESSAGE:
            if repeated:
                for k, item in enumerate(value):
                    check_text(item, where, f"{path}.{field.name}[{k}]")
            else:
                check_text(value, where, f"{path}.{field.name}")


def check_initializers(model: onnx.ModelProto, where: str) -> None:
    """Every constant tensor of the top-level graph (subgraphs hold ops gspsim refuses anyway)."""
    for what, t in graph_tensors(model.graph, where):
        check_initializer(t, what)


__all__ = [
    "check_initializer", "check_initializers", "check_structure", "check_text", "element_size", "graph_tensors",
    "node_label",
]
