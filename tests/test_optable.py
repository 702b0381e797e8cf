"""The op table: one record per op, read by every stage; and an op registered from outside the package.

The custom-op test is the example docs/architecture.md points to: a Silu op
in its own domain, with an fp32 kernel that computes bands of rows, simulated
inside ``custom_ops(...)`` and compared with numpy.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import gspsim
from gspsim.errors import UnsupportedOpsError
from gspsim.kernels import get_kernel, kernel_precisions, kernel_table
from gspsim.kernels.ops import module_kernels
from gspsim.optable import (
    Kernel,
    OpSpec,
    OpTableError,
    RowMap,
    all_specs,
    custom_ops,
    find_spec,
    per_element,
    spec_of,
)

PACKAGE = Path(gspsim.__file__).parent
KERNEL_MODULES = sorted(p.stem for p in (PACKAGE / "kernels" / "ops").glob("*.py")
                        if not p.stem.startswith("_") and p.stem != "bf16")


def _imports(path: Path) -> set[str]:
    """Relative module names a file imports (``..vocab`` -> ``vocab``), resolved against gspsim/."""
    found = set()
    package = path.parent.relative_to(PACKAGE.parent).parts  # ("gspsim", "optable")
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            found.add(".".join((*base, *(node.module.split(".") if node.module else ()))))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gspsim"))
    return found


def test_the_op_table_imports_no_stage_of_the_pipeline() -> None:
    for path in (PACKAGE / "optable").glob("*.py"):
        for name in _imports(path):
            assert name.startswith(("gspsim.optable", "gspsim.vocab", "gspsim.errors")), (path.name, name)


def test_kernel_modules_and_the_registry_do_not_import_each_other() -> None:
    for path in (PACKAGE / "kernels" / "ops").glob("*.py"):
        assert not any("registry" in name for name in _imports(path)), path.name


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_every_kernel_belongs_to_the_record_that_names_its_module(module: str) -> None:
    ops = {k.op_type for k in module_kernels(module)}
    assert ops, module
    for op in ops:
        assert spec_of(op).kernel_module == module, op


def test_every_record_with_a_kernel_module_has_a_kernel() -> None:
    table = kernel_table()
    for spec in all_specs():
        if spec.kernel_module:
            assert any(op == spec.op_type for op, _ in table), spec.op_type
            assert kernel_precisions(spec.op_type), spec.op_type


def test_records_are_consistent() -> None:
    for spec in all_specs():
        if spec.qlinear:
            assert spec.int8.value == "requantize", spec.op_type
            assert find_spec(spec.qlinear) is not None, spec.qlinear
        if spec.prunable:
            assert spec.does_macs and spec.cost.weight_input == 1, spec.op_type
        if spec.is_view:
            assert spec.row_map is RowMap.WHOLE, spec.op_type


def test_an_unknown_op_gets_the_default_record() -> None:
    spec = spec_of("NoSuchOp")
    assert find_spec("NoSuchOp") is None
    assert (spec.op_type, spec.cost, spec.row_map, spec.is_view) == ("NoSuchOp", per_element(1), RowMap.WHOLE, False)


# ------------------------------------------------------------------------ registering an op from outside
def _silu(x: np.ndarray) -> np.ndarray:
    return (x / (np.float32(1.0) + np.exp(-x))).astype(np.float32)


def _silu_run(inputs, attrs):  # type: ignore[no-untyped-def]
    return (_silu(np.asarray(inputs[0], np.float32)),)


def _silu_rows(inputs, attrs, out, start, stop):  # type: ignore[no-untyped-def]
    out[:, :, start:stop] = _silu(np.asarray(inputs[0], np.float32)[:, :, start:stop])


SWISH = OpSpec(
    "Silu", domain="com.example",
    kernels=(Kernel("Silu", "fp32", _silu_run, _silu_rows, row_axis=2),),
    cost=per_element(5), row_map=RowMap.ROWWISE, elementwise=True, channelwise=True,
)


def _silu_model(path: Path) -> Path:
    """input [1, 4, 8, 8] -> Conv 3x3 -> Silu (com.example) -> Relu -> output."""
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 4, 3, 3], rng.standard_normal((4, 4, 3, 3)).astype(np.float32).ravel())
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Silu", ["c"], ["s"], name="silu", domain="com.example"),
        helper.make_node("Relu", ["s"], ["output"], name="relu"),
    ]
    graph = helper.make_graph(nodes, "silu", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, 8, 8])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20), helper.make_opsetid("com.example", 1)],
                              ir_version=10)
    onnx.save(model, path)
    return path


def test_a_custom_op_registered_from_a_test_module_runs_end_to_end(tmp_path: Path) -> None:
    path = _silu_model(tmp_path / "silu.onnx")
    x = np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)
    with pytest.raises(UnsupportedOpsError, match="node 'silu' \\(Silu, domain 'com.example'\\)"):
        gspsim.simulate(path, inputs={"input": x})
    with custom_ops(SWISH):
        assert get_kernel("Silu", "fp32").op_type == "Silu"
        result = gspsim.simulate(path, inputs={"input": x}, tile="rows=2", accuracy_samples=0)
    assert find_spec("Silu") is None  # the registration ends with the block
    w = onnx.numpy_helper.to_array(onnx.load(path).graph.initializer[0])
    conv = np.zeros((1, 4, 8, 8), np.float64)
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    for dy in range(3):
        for dx in range(3):
            conv += np.einsum("oc,nchw->nohw", w[:, :, dy, dx], padded[:, :, dy:dy + 8, dx:dx + 8])
    expected = np.maximum(conv / (1 + np.exp(-conv)), 0)
    np.testing.assert_allclose(result.outputs["output"], expected, rtol=1e-4, atol=1e-5)
    silu = next(n for n in result.nodes if n.name == "silu")
    assert silu.bands == 4  # 8 rows in bands of 2: the kernel's run_rows and the ROWWISE row map were used


def test_an_op_of_another_domain_never_runs_as_the_built_in_one_of_its_name(tmp_path: Path) -> None:
    path = _silu_model(tmp_path / "relu.onnx")
    model = onnx.load(path)
    model.graph.node[1].op_type = "Relu"  # com.example Relu: not ONNX's
    onnx.save(model, path)
    with pytest.raises(UnsupportedOpsError, match="node 'silu' \\(Relu, domain 'com.example'\\)"):
        gspsim.load_model(path)


def test_a_custom_op_may_not_replace_a_known_one() -> None:
    with pytest.raises(OpTableError, match="'Relu' is already"):
        with custom_ops(OpSpec("Relu", kernels=(Kernel("Relu", "fp32", _silu_run),))):
            pass
    with pytest.raises(OpTableError, match="says it computes 'Relu'"):
        with custom_ops(OpSpec("Silu2", kernels=(Kernel("Relu", "fp32", _silu_run),))):
            pass
