"""The model zoo registry: short names to (class, config, input shape), importable without torch.

Benchmarks, the CLI and tests look models up here by name.  Only
:func:`build_model` needs torch (the ``export`` extra); it imports
:mod:`gspsim.models.definitions` when called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from torch import nn

__all__ = ["ModelSpec", "MODELS", "DEFAULT_SEED", "get_spec", "build_model", "example_input"]

#: Seed for weights and example inputs unless a caller chooses another.
DEFAULT_SEED = 0


@dataclass(frozen=True)
class ModelSpec:
    """How to build one zoo model: class name in definitions.py, constructor config, input shape."""

    name: str
    class_name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, ...] = ()
    input_name: str = "input"
    output_name: str = "output"

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))  # registry stays read-only


_SMALL_MOBILENET_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 2), (6, 96, 1, 1))

MODELS: Mapping[str, ModelSpec] = MappingProxyType({
    spec.name: spec
    for spec in (
        ModelSpec("edge-mlp", "EdgeMLP", {}, (1, 10)),
        ModelSpec("edge-mlp-dropout", "EdgeMLP", {"dropout": 0.1}, (1, 10)),
        ModelSpec("small-cnn", "SmallCNN", {}, (1, 3, 32, 32)),
        ModelSpec("resnet-style", "ResNetStyle",
                  {"width": 8, "blocks_per_stage": (1, 1, 1, 1), "num_classes": 10}, (1, 3, 64, 64)),
        ModelSpec("mobilenetv2-style", "MobileNetV2Style",
                  {"width_mult": 0.35, "settings": _SMALL_MOBILENET_SETTINGS, "last_channel": 256,
                   "num_classes": 10}, (1, 3, 64, 64)),
        ModelSpec("transformer-encoder", "TinyTransformerEncoder",
                  {"seq_len": 32, "in_features": 64, "dim": 64, "heads": 2, "layers": 2, "mlp_dim": 128,
                   "num_classes": 10}, (1, 32, 64)),
        ModelSpec("resnet18-224", "ResNetStyle",
                  {"width": 64, "blocks_per_stage": (2, 2, 2, 2), "num_classes": 1000}, (1, 3, 224, 224)),
        ModelSpec("mobilenetv2-224", "MobileNetV2Style",
                  {"width_mult": 1.0, "num_classes": 1000}, (1, 3, 224, 224)),
    )
})


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; a KeyError lists the known names."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


def build_model(name: str, *, seed: int = DEFAULT_SEED, **overrides: Any) -> "nn.Module":
    """The torch model for ``name`` in eval mode, seeded weights, calibrated BatchNorm (needs torch).

    ``overrides`` replace entries of the registered constructor config; BatchNorm
    is calibrated on random batches of the registered input shape.
    """
    from . import definitions  # torch is imported only here

    spec = get_spec(name)
    config = {**spec.config, **overrides}
    model = getattr(definitions, spec.class_name)(**config)
    definitions.init_weights(model, seed)
    return definitions.calibrate_batchnorm(model, spec.input_shape, seed)


def example_input(name: str, *, seed: int = DEFAULT_SEED) -> np.ndarray:
    """A seeded standard-normal float32 input of the model's registered shape."""
    shape = get_spec(name).input_shape
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
