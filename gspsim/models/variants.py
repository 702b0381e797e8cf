"""Model variants for sweeps: a zoo network at other widths and input resolutions, exported to ONNX.

``python -m gspsim.models.variants resnet-style --widths 0.5,1,2 --resolutions 32,64 --out variants/``
writes one self-contained ONNX file per (width, resolution), named
``resnet_style_w0.5_r32.onnx``; a folder of them is what ``gspsim sweep``
takes as model variants.  A width multiplier scales every layer's channels
(hidden units for the MLP, model dimension for the transformer); a resolution
replaces the height and width of an image model's input.  Weights are seeded,
BatchNorm is calibrated at the variant's own resolution.  Needs the ``export``
extra; torch is imported only when a variant is built.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from .zoo import DEFAULT_SEED, get_spec

__all__ = ["WIDTH_RULES", "variant_config", "variant_input_shape", "variant_filename", "export_variant",
           "export_variants", "main"]

PathLike = Union[str, "os.PathLike[str]"]
_STACK_TRACE_KEY = "pkg.torch.onnx.stack_trace"


def _scale_int(value: int, m: float, multiple: int = 1) -> int:
    return max(multiple, int(round(value * m / multiple)) * multiple)


def _scale_seq(values: Sequence[int], m: float) -> tuple[int, ...]:
    return tuple(_scale_int(v, m) for v in values)


def _transformer(config: dict[str, Any], m: float) -> dict[str, Any]:
    heads = int(config["heads"])
    return {**config, "dim": _scale_int(int(config["dim"]), m, heads), "mlp_dim": _scale_int(int(config["mlp_dim"]), m)}


#: per definition class: how a width multiplier changes its constructor config
WIDTH_RULES: Mapping[str, Callable[[dict[str, Any], float], dict[str, Any]]] = {
    "EdgeMLP": lambda c, m: {**c, "hidden": _scale_seq(c["hidden"], m)},
    "SmallCNN": lambda c, m: {**c, "widths": _scale_seq(c["widths"], m)},
    "ResNetStyle": lambda c, m: {**c, "width": _scale_int(int(c["width"]), m)},
    "MobileNetV2Style": lambda c, m: {**c, "width_mult": float(c["width_mult"]) * m},
    "TinyTransformerEncoder": _transformer,
    "YOLOv3": lambda c, m: {**c, "width": _scale_int(int(c["width"]), m, 2)},
}


def _full_config(name: str) -> dict[str, Any]:
    """The registered config with the class's defaults filled in (the width rules read both)."""
    from . import definitions

    spec = get_spec(name)
    cls = getattr(definitions, spec.class_name)
    defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return {**defaults, **dict(spec.config)}


def variant_config(name: str, width: float = 1.0) -> dict[str, Any]:
    """The constructor config of zoo model ``name`` at width multiplier ``width``."""
    if not (math.isfinite(width) and width > 0):
        raise ValueError(f"width multiplier must be > 0, got {width}")
    spec = get_spec(name)
    config = _full_config(name)
    if width == 1.0:
        return config
    rule = WIDTH_RULES.get(spec.class_name)
    if rule is None:
        raise ValueError(f"{name}: no width rule for {spec.class_name} (known: {', '.join(WIDTH_RULES)})")
    return rule(config, width)


def variant_input_shape(name: str, resolution: Optional[int] = None) -> tuple[int, ...]:
    """The registered input shape, with height and width set to ``resolution`` for an image model."""
    shape = tuple(get_spec(name).input_shape)
    if resolution is None:
        return shape
    if len(shape) != 4:
        raise ValueError(f"{name}: resolution applies to image models (N, C, H, W); its input is {shape}")
    if resolution < 1:
        raise ValueError(f"resolution must be >= 1, got {resolution}")
    return (*shape[:2], int(resolution), int(resolution))


def variant_filename(name: str, width: float = 1.0, resolution: Optional[int] = None) -> str:
    res = variant_input_shape(name, resolution)
    suffix = f"_r{res[-1]}" if len(res) == 4 else ""
    return f"{name.replace('-', '_')}_w{width:g}{suffix}.onnx"


def export_variant(name: str, out_dir: PathLike, width: float = 1.0, resolution: Optional[int] = None, *,
                   seed: int = DEFAULT_SEED) -> Path:
    """Build zoo model ``name`` at ``width`` and ``resolution`` (seeded, eval mode) and export it to ONNX."""
    import numpy as np
    import torch

    from . import definitions

    spec = get_spec(name)
    config = variant_config(name, width)
    shape = variant_input_shape(name, resolution)
    model = getattr(definitions, spec.class_name)(**config)
    definitions.init_weights(model, seed)
    model = definitions.calibrate_batchnorm(model, shape, seed)
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal(shape, dtype=np.float32))
    path = Path(out_dir) / variant_filename(name, width, resolution)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch.export's own deprecation chatter
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        program = torch.onnx.export(model, (x,), dynamo=True, verbose=False, input_names=[spec.input_name],
                                    output_names=[spec.output_name])
    for node in program.model.graph:
        node.metadata_props.pop(_STACK_TRACE_KEY, None)  # absolute paths of this checkout: not reproducible
    program.save(str(path), external_data=False)
    return path


def export_variants(name: str, out_dir: PathLike, widths: Sequence[float] = (1.0,),
                    resolutions: Sequence[Optional[int]] = (None,), *, seed: int = DEFAULT_SEED) -> list[Path]:
    """Every (width, resolution) variant of ``name`` into ``out_dir``; returns the files, in that order."""
    return [export_variant(name, out_dir, w, r, seed=seed) for w in widths for r in resolutions]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gspsim.models.variants",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("model", help="zoo name, e.g. resnet-style, mobilenetv2-style, small-cnn, edge-mlp")
    parser.add_argument("--widths", default="1", help="width multipliers, comma-separated (default 1)")
    parser.add_argument("--resolutions", default=None, help="input sizes of an image model, e.g. 32,64,96")
    parser.add_argument("--out", required=True, type=Path, help="folder to write into")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    widths = [float(w) for w in args.widths.split(",")]
    resolutions: list[Optional[int]] = [int(r) for r in args.resolutions.split(",")] if args.resolutions else [None]
    for path in export_variants(args.model, args.out, widths, resolutions, seed=args.seed):
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
