"""Refusing models whose declared tensors would not fit in memory, before anything is allocated.

A model file is small but may declare a [100000, 100000, 100] activation; the
kernels would then try to allocate terabytes and the process would die (or the
machine would swap).  The frontend adds up what one frame needs (every weight
plus every activation tensor, an upper bound on what is alive at once) from the
declared and inferred shapes, with Python integers so nothing overflows, and
refuses the model with a message naming the largest tensor when it exceeds the
limit (``--max-memory``; by default the machine's physical memory).
"""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Iterable, Optional

from ..errors import ConfigError, ModelError

if TYPE_CHECKING:  # onnx is imported where a model is read, not by every command that parses --max-memory
    import onnx

#: the largest --max-memory accepted (2**63 - 1 bytes: 8 EiB)
MAX_MEMORY_BYTES = 2**63 - 1
#: used when the physical memory cannot be read
FALLBACK_MAX_MEMORY_BYTES = 16 << 30
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 10**3, "m": 1 << 20, "mib": 1 << 20, "mb": 10**6,
          "g": 1 << 30, "gib": 1 << 30, "gb": 10**9, "t": 1 << 40, "tib": 1 << 40, "tb": 10**12}


def default_max_memory_bytes() -> int:
    """The machine's physical memory (the default ``--max-memory``)."""
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MAX_MEMORY_BYTES
    return int(pages) * int(page) if pages > 0 and page > 0 else FALLBACK_MAX_MEMORY_BYTES


def resolve_limit(max_memory_bytes: Optional[int]) -> int:
    if max_memory_bytes is None:
        return default_max_memory_bytes()
    if isinstance(max_memory_bytes, bool) or not isinstance(max_memory_bytes, int) or max_memory_bytes <= 0:
        raise ConfigError(f"--max-memory must be a positive number of bytes, got {max_memory_bytes!r}")
    return max_memory_bytes


def parse_memory_size(text: str, option: str = "--max-memory") -> int:
    """``8G``, ``512MiB``, ``2GB``, ``1e9`` as bytes (K/M/G/T and KiB... are powers of 1024; KB/MB/GB/TB of 1000)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise ConfigError(f"{option} '{text}': expected a size such as 8G, 512MiB, 2GB or 1000000000")
    scaled = float(m.group(1)) * _UNITS[unit]
    if not math.isfinite(scaled) or scaled > MAX_MEMORY_BYTES:
        raise ConfigError(f"{option} '{text}': more than any machine has (at most {format_bytes(MAX_MEMORY_BYTES)})")
    value = int(scaled)
    if value <= 0:
        raise ConfigError(f"{option} '{text}': must be more than 0 bytes")
    return value


def format_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024 or unit == "EiB":
            return f"{n} B" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _count(dims: Iterable[int]) -> int:
    n = 1
    for d in dims:
        n *= max(int(d), 0)
    return n


def _value_infos(graph: onnx.GraphProto) -> Iterable[onnx.ValueInfoProto]:
    yield from graph.input
    yield from graph.value_info
    yield from graph.output


def tensor_sizes(model: onnx.ModelProto, where: str) -> list[tuple[int, str]]:
    """(bytes, description) of every weight and every statically shaped activation of the top-level graph."""
    from .validate import element_size, node_label

    graph = model.graph
    made_by = {out: node_label(node, i) for i, node in enumerate(graph.node) for out in node.output if out}
    sizes: dict[str, tuple[int, str]] = {}
    for t in graph.initializer:
        itemsize = element_size(t.data_type) or 0
        sizes[t.name] = (_count(t.dims) * itemsize, f"initializer '{t.name}' {list(t.dims)}")
    for vi in _value_infos(graph):
        if vi.name in sizes or not vi.type.HasField("tensor_type"):
            continue
        tt = vi.type.tensor_type
        if not tt.HasField("shape") or any(not d.HasField("dim_value") for d in tt.shape.dim):
            continue
        dims = [int(d.dim_value) for d in tt.shape.dim]
        itemsize = element_size(tt.elem_type) or 0
        origin = f"output of {made_by[vi.name]}" if vi.name in made_by else "graph input"
        sizes[vi.name] = (_count(dims) * itemsize, f"tensor '{vi.name}' ({origin}) {dims}")
    return list(sizes.values())


def check_model_memory(model: onnx.ModelProto, where: str, max_memory_bytes: Optional[int] = None) -> None:
    """Refuse the model when one frame's weights and activations would exceed the memory limit."""
    sizes = tensor_sizes(model, where)
    if sizes:
        check_sizes(max(sizes), sum(n for n, _ in sizes), where, resolve_limit(max_memory_bytes))


def check_file_size(where: str, size: int, limit: int) -> None:
    """Refuse a model file larger than the memory limit before reading it."""
    if size > limit:
        raise ModelError(f"{where}: the file is {format_bytes(size)}, more than the memory limit "
                         f"{format_bytes(limit)} (raise it with --max-memory)")


def check_sizes(largest: tuple[int, str], total: int, where: str, limit: int) -> None:
    """The rule of :func:`check_model_memory` on sizes measured before (a cached model's)."""
    size, what = largest
    if size > limit:
        raise ModelError(f"{where}: {what} needs {format_bytes(size)}, more than the memory limit "
                         f"{format_bytes(limit)}; refusing to allocate it (raise the limit with --max-memory)")
    if total > limit:
        raise ModelError(f"{where}: the model's weights and activations need {format_bytes(total)} "
                         f"(largest: {what}, {format_bytes(size)}), more than the memory limit "
                         f"{format_bytes(limit)} (raise it with --max-memory)")


__all__ = [
    "FALLBACK_MAX_MEMORY_BYTES", "check_file_size", "check_model_memory", "check_sizes", "default_max_memory_bytes",
    "format_bytes", "parse_memory_size", "resolve_limit", "tensor_sizes",
]
