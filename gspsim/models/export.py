"""Export zoo models to ONNX with torch.onnx, and the recipes for every ONNX file the repo ships.

``python -m gspsim.models.export --out DIR [--names ...]`` writes ONNX files.
Names are recipe names (the file stems in :data:`RECIPES`, e.g.
``resnet_style_legacy``) or zoo names (e.g. ``resnet18-224``, exported with
the default dynamo exporter as ``<name>.onnx``).  Without ``--names`` it
writes the test models (:data:`TEST_FILES`).  Needs the ``export`` extra;
``--check`` also needs onnxruntime.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from .zoo import DEFAULT_SEED, build_model, example_inputs, get_spec

__all__ = [
    "CANONICAL_OPSET",
    "Recipe",
    "RECIPES",
    "BUNDLED_FILES",
    "TEST_FILES",
    "export_model",
    "export_recipe",
    "check_export",
    "torch_outputs",
    "insert_noop_nodes",
    "main",
]

PathLike = Union[str, "os.PathLike[str]"]

#: The opset gspsim computes in; what torch 2.13's dynamo exporter emits by default.
CANONICAL_OPSET = 20

_STACK_TRACE_KEY = "pkg.torch.onnx.stack_trace"


@dataclass(frozen=True)
class Recipe:
    """How one shipped ONNX file is made from a zoo model."""

    model: str
    dynamo: bool = True
    opset: Optional[int] = CANONICAL_OPSET
    #: torch's default (True) writes weights to a ``<file>.onnx.data`` sidecar.
    external_data: bool = False
    #: legacy exporter only; False keeps BatchNormalization nodes unfolded.
    do_constant_folding: bool = True
    #: insert inference-mode Dropout and Identity nodes after the first Relu (see insert_noop_nodes).
    noop_nodes: bool = False


#: Every ONNX file in the repo, by file stem.
RECIPES: Mapping[str, Recipe] = MappingProxyType({
    # bundled defaults, single file, inside the package (gspsim/models/)
    "edge_mlp": Recipe("edge-mlp"),
    "small_cnn": Recipe("small-cnn"),
    # test models (tests/models/), dynamo exporter at the canonical opset
    "resnet_style": Recipe("resnet-style"),
    "mobilenetv2_style": Recipe("mobilenetv2-style"),
    "transformer_encoder": Recipe("transformer-encoder", external_data=True),
    # legacy TorchScript exporter, older opsets, BatchNormalization kept, to exercise opset conversion
    "resnet_style_legacy": Recipe("resnet-style", dynamo=False, opset=13, do_constant_folding=False),
    "mobilenetv2_style_legacy": Recipe("mobilenetv2-style", dynamo=False, opset=11, do_constant_folding=False),
    "edge_mlp_legacy": Recipe("edge-mlp-dropout", dynamo=False, opset=11, do_constant_folding=False,
                              noop_nodes=True),
    # a decoder-only transformer's two steps at opset 23, where torch writes RMSNormalization and Attention
    "decoder_prefill": Recipe("decoder-prefill", opset=23),
    "decoder_decode": Recipe("decoder-decode", opset=23),
})

BUNDLED_FILES: tuple[str, ...] = ("edge_mlp", "small_cnn")
TEST_FILES: tuple[str, ...] = tuple(name for name in RECIPES if name not in BUNDLED_FILES)


def export_model(name: str, path: PathLike, *, dynamo: bool = True, opset: Optional[int] = None,
                 seed: int = DEFAULT_SEED, external_data: bool = False, do_constant_folding: bool = True,
                 **config: Any) -> Path:
    """Export zoo model ``name`` (seeded weights, eval mode) to ``path`` and return the path.

    ``opset=None`` lets torch choose (20 for torch 2.13).  ``config`` overrides
    the registered constructor config.  With ``external_data`` (dynamo only)
    the weights go to ``<path>.data``; otherwise the file is self-contained.
    """
    import torch  # the export extra; imported here so the module loads without it

    spec = get_spec(name)
    model = build_model(name, seed=seed, **config)
    args = tuple(torch.from_numpy(x) for x in example_inputs(name, seed=seed).values())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = {"input_names": list(spec.input_names), "output_names": list(spec.output_names)}
    if dynamo:
        with warnings.catch_warnings():  # torch.export's own deprecation chatter, not ours to fix
            warnings.filterwarnings("ignore", message=".*LeafSpec", category=FutureWarning)
            program = torch.onnx.export(model, args, dynamo=True, opset_version=opset, verbose=False, **names)
        for node in program.model.graph:
            # stack traces hold absolute paths of this checkout: drop them so files are reproducible anywhere
            node.metadata_props.pop(_STACK_TRACE_KEY, None)
        program.save(str(path), external_data=external_data)
    else:
        if external_data:
            raise ValueError("external_data is only supported with the dynamo exporter")
        with warnings.catch_warnings():  # the legacy exporter is chosen on purpose; its deprecation is noise
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, args, str(path), dynamo=False, opset_version=opset,
                              do_constant_folding=do_constant_folding, training=torch.onnx.TrainingMode.EVAL,
                              **names)
    return path


def insert_noop_nodes(path: PathLike) -> None:
    """Insert an inference-mode Dropout and an Identity after the first Relu, rewriting ``path``.

    Current torch exporters drop both in eval mode, but ONNX files from older
    exporters (and other frameworks) still carry them; this makes a test file
    that does, without changing the model's outputs.
    """
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    graph = model.graph
    nodes = list(graph.node)
    index = next(i for i, node in enumerate(nodes) if node.op_type == "Relu")
    relu_out = nodes[index].output[0]
    opset = next(op.version for op in model.opset_import if op.domain in ("", "ai.onnx"))
    # Dropout-10 and older take the ratio as an attribute; from opset 12 it is an optional input.
    ratio = {"ratio": 0.1} if opset < 12 else {}
    dropout = helper.make_node("Dropout", [relu_out], [relu_out + "_dropout"], name="dropout_noop", **ratio)
    identity = helper.make_node("Identity", [relu_out + "_dropout"], [relu_out + "_identity"], name="identity_noop")
    for node in nodes[index + 1:]:
        for j, name in enumerate(node.input):
            if name == relu_out:
                node.input[j] = relu_out + "_identity"
    del graph.node[:]
    graph.node.extend(nodes[: index + 1] + [dropout, identity] + nodes[index + 1:])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_recipe(stem: str, out_dir: PathLike, *, seed: int = DEFAULT_SEED) -> Path:
    """Write the file ``<out_dir>/<stem>.onnx`` (and its .data sidecar, if the recipe has one)."""
    recipe = RECIPES[stem]
    path = Path(out_dir) / f"{stem}.onnx"
    sidecar = path.with_name(path.name + ".data")
    if sidecar.exists():
        sidecar.unlink()  # a stale sidecar would be mistaken for this export's weights
    export_model(recipe.model, path, dynamo=recipe.dynamo, opset=recipe.opset, seed=seed,
                 external_data=recipe.external_data, do_constant_folding=recipe.do_constant_folding)
    if recipe.noop_nodes:
        insert_noop_nodes(path)
    return path


def check_export(name: str, path: PathLike, *, seed: int = DEFAULT_SEED, rtol: float = 1e-4,
                 atol: float = 1e-5) -> float:
    """Check ``path`` with onnx.checker and compare onnxruntime with torch on seeded inputs, every output.

    Returns the largest absolute difference; raises AssertionError on a mismatch.
    """
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(path), full_check=True)
    feeds = example_inputs(name, seed=seed)
    expected = torch_outputs(name, feeds, seed=seed)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, feeds)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)
    return max(float(np.max(np.abs(g - e))) for g, e in zip(got, expected))


def torch_outputs(name: str, feeds: Mapping[str, np.ndarray], *, seed: int = DEFAULT_SEED) -> list[np.ndarray]:
    """Every output of zoo model ``name`` (seeded weights) on ``feeds`` (numpy, by input name), from torch."""
    import torch

    with torch.no_grad():
        out = build_model(name, seed=seed)(*(torch.from_numpy(x) for x in feeds.values()))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: write the named (default: all test) ONNX files into ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m gspsim.models.export", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="directory to write into")
    parser.add_argument("--names", nargs="+", default=list(TEST_FILES),
                        help="recipe names (%s) or zoo model names" % ", ".join(RECIPES))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--check", action="store_true", help="check each file against torch with onnxruntime")
    args = parser.parse_args(argv)
    for name in args.names:
        if name in RECIPES:
            path, model = export_recipe(name, args.out, seed=args.seed), RECIPES[name].model
        else:
            path, model = export_model(name, args.out / f"{name}.onnx", seed=args.seed), name
        line = f"{path} ({path.stat().st_size} bytes)"
        if args.check:
            line += f" max |ort - torch| = {check_export(model, path, seed=args.seed):.3g}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
