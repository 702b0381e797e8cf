"""Reference runs: single-node ONNX models built with onnx.helper, executed by onnxruntime.

Every kernel test compares gspsim's kernel with what onnxruntime computes for
the same node, so the tests need a real onnxruntime (never mocked).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

CANONICAL_OPSET = 20


def single_node_model(
    op_type: str,
    inputs: Sequence[Optional[np.ndarray]],
    attrs: Mapping[str, Any],
    n_outputs: int = 1,
    *,
    domain: str = "",
    opset: int = CANONICAL_OPSET,
    as_initializer: Sequence[int] = (),
) -> onnx.ModelProto:
    """A one-node model; inputs listed in ``as_initializer`` (by position) become initializers."""
    in_names: list[str] = []
    graph_inputs = []
    initializers = []
    for i, arr in enumerate(inputs):
        if arr is None:
            in_names.append("")
            continue
        name = f"in{i}"
        in_names.append(name)
        if i in as_initializer:
            initializers.append(numpy_helper.from_array(np.asarray(arr), name))
        else:
            elem = helper.np_dtype_to_tensor_dtype(np.asarray(arr).dtype)
            graph_inputs.append(helper.make_tensor_value_info(name, elem, np.asarray(arr).shape))
    out_names = [f"out{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, in_names, out_names, domain=domain, **dict(attrs))
    outputs = [onnx.ValueInfoProto(name=n) for n in out_names]
    graph = helper.make_graph([node], f"single_{op_type}", graph_inputs, outputs, initializers)
    opsets = [helper.make_opsetid("", opset)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 9
    return model


def run_ort(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Run ``model`` in onnxruntime on the CPU with graph optimizations off (exact op semantics)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, dict(feeds))


def ort_single_node(
    op_type: str,
    inputs: Sequence[Optional[np.ndarray]],
    attrs: Mapping[str, Any],
    n_outputs: int = 1,
    *,
    domain: str = "",
    opset: int = CANONICAL_OPSET,
    as_initializer: Sequence[int] = (),
) -> list[np.ndarray]:
    """What onnxruntime computes for one node on these inputs."""
    model = single_node_model(
        op_type, inputs, attrs, n_outputs, domain=domain, opset=opset, as_initializer=as_initializer
    )
    feeds = {
        f"in{i}": np.asarray(a)
        for i, a in enumerate(inputs)
        if a is not None and i not in as_initializer
    }
    return run_ort(model, feeds)
