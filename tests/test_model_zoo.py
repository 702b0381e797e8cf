"""The shipped ONNX files: valid, runnable in onnxruntime, and faithful to the torch definitions.

The torch checks are skipped when torch (the ``export`` extra) is missing;
everything else needs only onnx and onnxruntime.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import version_converter

from gspsim.models import BUNDLED_MODELS, bundled_model_path
from gspsim.models.export import BUNDLED_FILES, CANONICAL_OPSET, RECIPES, TEST_FILES, export_recipe
from gspsim.models.zoo import MODELS, example_inputs, get_spec

REPO = Path(__file__).resolve().parents[1]
TEST_MODEL_DIR = REPO / "tests" / "models"
BUNDLED_DIR = REPO / "gspsim" / "models"
RTOL, ATOL = 1e-4, 1e-5


def file_path(stem: str) -> Path:
    """Where the repo keeps the file made by recipe ``stem``."""
    return (BUNDLED_DIR if stem in BUNDLED_FILES else TEST_MODEL_DIR) / f"{stem}.onnx"


def run_ort(model: "str | Path | bytes", feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(model) if isinstance(model, Path) else model,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def assert_close(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def op_counts(model: onnx.ModelProto) -> collections.Counter:
    return collections.Counter(node.op_type for node in model.graph.node)


def default_opset(model: onnx.ModelProto) -> int:
    return next(op.version for op in model.opset_import if op.domain in ("", "ai.onnx"))


@pytest.fixture(scope="module")
def torch_outputs() -> dict[str, list[np.ndarray]]:
    """Torch's outputs for each zoo model used by a recipe, on its seeded example inputs."""
    pytest.importorskip("torch")
    from gspsim.models.export import torch_outputs as run_torch

    return {name: run_torch(name, example_inputs(name)) for name in sorted({r.model for r in RECIPES.values()})}


@pytest.mark.parametrize("stem", list(RECIPES))
def test_file_is_valid_and_runs(stem: str) -> None:
    path = file_path(stem)
    spec = get_spec(RECIPES[stem].model)
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    feeds = example_inputs(spec.name)
    assert [i.name for i in model.graph.input] == list(spec.input_names) == list(feeds)
    for graph_input, x in zip(model.graph.input, feeds.values()):
        assert tuple(d.dim_value for d in graph_input.type.tensor_type.shape.dim) == x.shape
    assert [o.name for o in model.graph.output] == list(spec.output_names)
    assert default_opset(model) == RECIPES[stem].opset
    outs = run_ort(path, feeds)
    for out, declared in zip(outs, model.graph.output):
        assert out.shape == tuple(d.dim_value for d in declared.type.tensor_type.shape.dim)
        assert out.dtype == np.float32 and np.all(np.isfinite(out))
    other = run_ort(path, example_inputs(spec.name, seed=1))[0]
    assert np.max(np.abs(outs[0] - other)) > 1e-3 * np.max(np.abs(outs[0]))  # a live network, not a constant


@pytest.mark.parametrize("stem", list(RECIPES))
def test_file_matches_torch(stem: str, torch_outputs: dict[str, np.ndarray]) -> None:
    name = RECIPES[stem].model
    assert_close(run_ort(file_path(stem), example_inputs(name)), torch_outputs[name])


@pytest.mark.parametrize("stem", list(RECIPES))
def test_reexport_reproduces_torch(stem: str, tmp_path: Path, torch_outputs: dict[str, np.ndarray]) -> None:
    """Regenerating a file from the definitions gives a model that agrees with torch and the shipped file."""
    path = export_recipe(stem, tmp_path)
    name = RECIPES[stem].model
    feeds = example_inputs(name)
    got = run_ort(path, feeds)
    assert_close(got, torch_outputs[name])
    assert_close(got, run_ort(file_path(stem), feeds))
    assert (tmp_path / f"{stem}.onnx.data").exists() == RECIPES[stem].external_data


@pytest.mark.parametrize("stem", ["resnet_style_legacy", "mobilenetv2_style_legacy"])
def test_legacy_files_keep_batchnorm(stem: str) -> None:
    model = onnx.load(str(file_path(stem)))
    counts = op_counts(model)
    assert counts["BatchNormalization"] > 0
    assert counts["BatchNormalization"] == counts["Conv"]  # every conv is followed by its own BN
    assert default_opset(model) < CANONICAL_OPSET


@pytest.mark.parametrize("stem", [s for s in RECIPES if (RECIPES[s].opset or CANONICAL_OPSET) < CANONICAL_OPSET])
def test_legacy_files_convert_to_canonical_opset(stem: str) -> None:
    """onnx's version converter lifts the old-opset files to opset 20 without changing their outputs."""
    model = onnx.load(str(file_path(stem)))
    converted = version_converter.convert_version(model, CANONICAL_OPSET)
    onnx.checker.check_model(converted, full_check=True)
    feeds = example_inputs(RECIPES[stem].model)
    assert_close(run_ort(converted.SerializeToString(), feeds), run_ort(file_path(stem), feeds))


def test_edge_mlp_legacy_has_noop_nodes() -> None:
    counts = op_counts(onnx.load(str(file_path("edge_mlp_legacy"))))
    assert counts["Dropout"] == 1 and counts["Identity"] == 1


def test_external_data_sidecar() -> None:
    stems = [s for s in TEST_FILES if RECIPES[s].external_data]
    assert stems, "at least one test model must keep its weights in a .onnx.data sidecar"
    for stem in stems:
        path = file_path(stem)
        assert path.with_name(path.name + ".data").is_file()
        bare = onnx.load(str(path), load_external_data=False)
        assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in bare.graph.initializer)


@pytest.mark.parametrize("name", list(BUNDLED_MODELS))
def test_bundled_models_are_single_files(name: str) -> None:
    path = bundled_model_path(name)
    assert path.is_file() and not path.with_name(path.name + ".data").exists()
    bare = onnx.load(str(path), load_external_data=False)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in bare.graph.initializer)


def test_every_committed_onnx_file_has_a_recipe() -> None:
    shipped = {p.stem for p in TEST_MODEL_DIR.glob("*.onnx")} | {p.stem for p in BUNDLED_DIR.glob("*.onnx")}
    assert shipped == set(RECIPES)


def test_benchmark_configs_have_reference_parameter_counts() -> None:
    """ResNet-18 and MobileNetV2 1.0 match torchvision's published sizes (11,689,512 / 3,504,872 parameters),
    YOLOv3 darknet's yolov3.cfg (61,949,149 with BatchNorm's scales and shifts)."""
    pytest.importorskip("torch")
    from gspsim.models import definitions

    for name, expected in (("resnet18-224", 11_689_512), ("mobilenetv2-224", 3_504_872),
                           ("yolov3-416", 61_949_149)):
        spec = MODELS[name]
        model = getattr(definitions, spec.class_name)(**spec.config)
        assert sum(p.numel() for p in model.parameters()) == expected


def test_narrow_yolov3_has_75_convs_and_matches_onnxruntime(tmp_path: Path) -> None:
    """YOLOv3's graph at 1/8 width and 64x64 (the full one is a 240 MB benchmark file): 75 Conv, two Resize
    (the upsamples), two Concat, three outputs at strides 32, 16, 8, and gspsim's outputs agree with onnxruntime."""
    pytest.importorskip("torch")
    import gspsim
    from gspsim.models.variants import export_variant

    path = export_variant("yolov3-416", tmp_path, width=0.125, resolution=64)
    graph = onnx.load(str(path)).graph
    ops = collections.Counter(node.op_type for node in graph.node)
    assert (ops["Conv"], ops["Resize"], ops["Concat"], ops["LeakyRelu"]) == (75, 2, 2, 72)
    assert [[d.dim_value for d in o.type.tensor_type.shape.dim] for o in graph.output] == [
        [1, 255, 2, 2], [1, 255, 4, 4], [1, 255, 8, 8]]
    result = gspsim.simulate(str(path), check=True)
    assert result.check is not None and result.check.passed, result.check


def test_zoo_and_exporter_import_without_torch() -> None:
    code = ("import sys; sys.modules['torch'] = None; "
            "import gspsim.models, gspsim.models.zoo, gspsim.models.export; "
            "print(len(gspsim.models.zoo.MODELS))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # same gspsim as this run
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
