"""Model zoo: bundled ONNX defaults, the torch definitions they come from, and their exporter.

Importing this package needs neither torch nor onnxruntime: :mod:`.zoo` is the
registry, :mod:`.definitions` and :mod:`.export` need the ``export`` extra.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Mapping

__all__ = ["BUNDLED_MODELS", "bundled_model_path"]

#: Zoo names of the models shipped inside the package, and their file names here.
BUNDLED_MODELS: Mapping[str, str] = MappingProxyType({
    "edge-mlp": "edge_mlp.onnx",
    "small-cnn": "small_cnn.onnx",
})


def bundled_model_path(name: str) -> Path:
    """Path of a bundled ONNX model (``edge-mlp`` or ``small-cnn``)."""
    try:
        filename = BUNDLED_MODELS[name]
    except KeyError:
        raise KeyError(f"no bundled model {name!r}; bundled: {', '.join(BUNDLED_MODELS)}") from None
    return Path(__file__).with_name(filename)
