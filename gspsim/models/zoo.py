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

__all__ = ["ModelSpec", "MODELS", "DEFAULT_SEED", "get_spec", "build_model", "example_input", "example_inputs"]

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
    #: the first input's element type: float32 features, or int64 token ids (drawn from [0, 10))
    input_dtype: str = "float32"
    #: float32 inputs after the first, as (name, shape): a decoder step's KV cache
    extra_inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()
    #: outputs after the first: a decoder's present KV cache
    extra_outputs: tuple[str, ...] = ()

    @property
    def input_names(self) -> tuple[str, ...]:
        return (self.input_name, *(name for name, _ in self.extra_inputs))

    @property
    def output_names(self) -> tuple[str, ...]:
        return (self.output_name, *self.extra_outputs)

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))  # registry stays read-only


_SMALL_MOBILENET_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 2), (6, 96, 1, 1))
#: the decoder test models: vocabulary 256, width 64, 4 query heads sharing 2 KV heads of 16, 2 layers
_DECODER = {"vocab": 256, "dim": 64, "heads": 4, "kv_heads": 2, "layers": 2, "mlp_dim": 128, "max_len": 64}
_PROMPT = 16
_CACHE = tuple(f"present_{kv}_{layer}" for layer in range(2) for kv in ("key", "value"))

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
        ModelSpec("decoder-prefill", "DecoderPrefill", _DECODER, (1, _PROMPT), input_name="tokens",
                  output_name="logits", input_dtype="int64", extra_outputs=_CACHE),
        ModelSpec("decoder-decode", "DecoderStep", _DECODER, (1, 1), input_name="token", output_name="logits",
                  input_dtype="int64", extra_outputs=_CACHE,
                  extra_inputs=tuple((name.replace("present", "past"), (1, 2, _PROMPT, 16)) for name in _CACHE)),
        ModelSpec("resnet18-224", "ResNetStyle",
                  {"width": 64, "blocks_per_stage": (2, 2, 2, 2), "num_classes": 1000}, (1, 3, 224, 224)),
        ModelSpec("mobilenetv2-224", "MobileNetV2Style",
                  {"width_mult": 1.0, "num_classes": 1000}, (1, 3, 224, 224)),
        # a benchmark model (~240 MB as ONNX, never bundled): the three raw head maps, strides 32, 16, 8
        ModelSpec("yolov3-416", "YOLOv3", {"num_classes": 80}, (1, 3, 416, 416), output_name="output_13",
                  extra_outputs=("output_26", "output_52")),
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
    """A seeded first input of the model's registered shape: standard-normal float32, or token ids in [0, 10)."""
    return next(iter(example_inputs(name, seed=seed).values()))


def example_inputs(name: str, *, seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """Every input of the model, by name, from one seeded generator (first input first, as above)."""
    spec = get_spec(name)
    rng = np.random.default_rng(seed)
    if spec.input_dtype == "int64":
        first = rng.integers(0, 10, size=spec.input_shape).astype(np.int64)
    else:
        first = rng.standard_normal(spec.input_shape, dtype=np.float32)
    values = {spec.input_name: first}
    for extra, shape in spec.extra_inputs:
        values[extra] = rng.standard_normal(shape, dtype=np.float32)
    return values
