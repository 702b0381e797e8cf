"""What to call a model in results, tables, reports and plots.

Exporters give every graph the same name (torch.onnx.export: "main_graph",
the older TorchScript exporter: "torch_jit" or "torch-jit-export"), so the
graph name tells models apart only when someone chose it.  Otherwise the file
name does.
"""

from __future__ import annotations

from pathlib import Path

#: graph names exporters give every model (compared case-insensitively); see docs/json-result.md
GENERIC_GRAPH_NAMES: frozenset[str] = frozenset({
    "", "main_graph", "torch_jit", "torch-jit-export", "torch_jit_export", "tf2onnx", "graph", "model",
    "onnx_graph", "main", "g",
})


def model_display_name(graph_name: str, path: str) -> str:
    """The graph's name, or the file's stem when the graph name is an exporter's default (or empty)."""
    name = (graph_name or "").strip()
    if name.lower() not in GENERIC_GRAPH_NAMES:
        return name
    stem = Path(str(path or "")).stem
    return stem or name or "model"
