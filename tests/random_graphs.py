"""Hypothesis strategies: random CNN-like dataflow graphs (as ONNX files) and random chips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from gspsim.hardware.config import HardwareConfig, hardware_from_dict, load_hardware


@st.composite
def random_cnn(draw: st.DrawFn, max_nodes: int = 10) -> onnx.ModelProto:
    """A random DAG of Conv / Relu / Add / MaxPool / Concat with forks and skip connections."""
    rng_seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(rng_seed)
    channels = draw(st.sampled_from([2, 3, 4]))
    size = draw(st.sampled_from([6, 8, 11, 16]))
    tensors: list[tuple[str, tuple[int, int, int, int]]] = [("x", (1, channels, size, size))]
    nodes, inits = [], []
    n_nodes = draw(st.integers(1, max_nodes))
    for i in range(n_nodes):
        kind = draw(st.sampled_from(["conv", "conv", "relu", "add", "pool", "concat", "dwconv"]))
        src_index = draw(st.integers(0, len(tensors) - 1))
        src, shape = tensors[src_index]
        out = f"t{i}"
        _, c, h, w = shape
        if kind in ("conv", "dwconv"):
            k = draw(st.sampled_from([1, 3]))
            stride = draw(st.sampled_from([1, 1, 2])) if h > 3 else 1
            pad = draw(st.integers(0, k // 2 + 1)) if k > 1 else 0
            group = c if kind == "dwconv" else 1
            m = c if kind == "dwconv" else draw(st.integers(1, 5))
            if (h + 2 * pad - k) < 0:
                continue
            weight = rng.standard_normal((m, c // group, k, k)).astype(np.float32) * 0.5
            bias = rng.standard_normal(m).astype(np.float32) * 0.1
            inits += [numpy_helper.from_array(weight, f"w{i}"), numpy_helper.from_array(bias, f"b{i}")]
            nodes.append(helper.make_node("Conv", [src, f"w{i}", f"b{i}"], [out], name=f"conv{i}", kernel_shape=[k, k],
                                          strides=[stride, stride], pads=[pad] * 4, group=group))
            oh = (h + 2 * pad - k) // stride + 1
            ow = (w + 2 * pad - k) // stride + 1
            tensors.append((out, (1, m, oh, ow)))
        elif kind == "relu":
            nodes.append(helper.make_node("Relu", [src], [out], name=f"relu{i}"))
            tensors.append((out, shape))
        elif kind == "pool":
            if h < 2:
                continue
            nodes.append(helper.make_node("MaxPool", [src], [out], name=f"pool{i}", kernel_shape=[2, 2], strides=[2, 2]))
            tensors.append((out, (1, c, h // 2, w // 2)))
        else:
            partners = [t for t in tensors if t[1][2:] == shape[2:] and (kind == "concat" or t[1] == shape)]
            other = partners[draw(st.integers(0, len(partners) - 1))][0]
            if kind == "add":
                nodes.append(helper.make_node("Add", [src, other], [out], name=f"add{i}"))
                tensors.append((out, shape))
            else:
                oc = c + next(t[1][1] for t in tensors if t[0] == other)
                nodes.append(helper.make_node("Concat", [src, other], [out], name=f"concat{i}", axis=1))
                tensors.append((out, (1, oc, h, w)))
    if not nodes:
        nodes.append(helper.make_node("Relu", ["x"], ["t_final"], name="relu_final"))
        tensors.append(("t_final", tensors[0][1]))
    # every tensor nobody reads becomes a graph output, so the whole DAG is live
    read = {i for n in nodes for i in n.input}
    outputs = [helper.make_tensor_value_info(t, TensorProto.FLOAT, list(s)) for t, s in tensors[1:] if t not in read]
    graph = helper.make_graph(nodes, "random_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(tensors[0][1]))],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    return model


@st.composite
def random_chip(draw: st.DrawFn) -> HardwareConfig:
    """A random but valid chip: few or many cores and slots, tiny to roomy on-chip memory."""
    base: dict[str, Any] = load_hardware("blaize-1600").to_dict()
    base["name"] = "random"
    base["cores"]["count"] = draw(st.integers(1, 6))
    base["cores"]["thread_slots"] = draw(st.integers(1, 4))
    base["cores"]["local_memory_bytes"] = draw(st.sampled_from([256, 1024, 8192, 65536]))
    base["cores"]["macs_per_cycle"] = {k: float(draw(st.integers(1, 64))) for k in base["cores"]["macs_per_cycle"]}
    base["shared_memory"]["size_bytes"] = draw(st.sampled_from([512, 2048, 16384, 262144]))
    base["dram"]["bandwidth_bytes_per_s"] = float(draw(st.sampled_from([1e9, 8e9, 25.6e9])))
    base["dram"]["latency_ns"] = float(draw(st.sampled_from([0.0, 50.0, 100.0])))
    base["interconnect"]["bandwidth_bytes_per_cycle"] = float(draw(st.sampled_from([4.0, 64.0, 512.0])))
    base["dma"]["engines"] = draw(st.integers(1, 4))
    return hardware_from_dict(base, "random chip")


def save(model: onnx.ModelProto, folder: Path, name: str = "random.onnx") -> Path:
    path = folder / name
    onnx.save(model, str(path))
    return path


#: elementwise steps of :func:`random_chain` (Sigmoid+Mul and HardSigmoid+Mul are the SiLU and HardSwish patterns)
CHAIN_STEPS: tuple[str, ...] = (
    "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu", "AddWeight",
    "SubWeight", "MulWeight", "DivWeight", "MaxWeight", "MinWeight", "Residual", "SiLU", "HardSwishPattern",
    "BatchNormalization", "Fork", "Output",
)


@st.composite
def random_chain(draw: st.DrawFn, max_steps: int = 6) -> onnx.ModelProto:
    """A Conv or MatMul followed by random elementwise steps: activations, ops with broadcast weights, residual
    Adds of a second branch, SiLU / HardSwish patterns, standalone BatchNormalization, and steps that must stop
    fusion (a value also read by another op, or also a graph output)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    conv = draw(st.booleans())
    c, m = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 6))
    x_shape = (1, c, h, w) if conv else (1, h, c * 2)
    shape = (1, m, h, w) if conv else (1, h, m)
    inits: list[onnx.TensorProto] = []

    def weight(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def head(name: str, out: str) -> onnx.NodeProto:
        if conv:
            k = draw(st.sampled_from([1, 3]))
            wt = weight(f"{name}.w", rng.standard_normal((m, c, k, k)) * 0.5)
            bias = weight(f"{name}.b", rng.standard_normal(m) * 0.1)
            return helper.make_node("Conv", ["x", wt, bias], [out], name=name, kernel_shape=[k, k], pads=[k // 2] * 4)
        return helper.make_node("MatMul", ["x", weight(f"{name}.w", rng.standard_normal((c * 2, m)) * 0.5)], [out],
                                name=name)

    nodes = [head("main", "t0")]
    outputs = []
    value = "t0"
    channel_shape = (m, 1, 1) if conv else (m,)
    for i in range(draw(st.integers(1, max_steps))):
        step = draw(st.sampled_from(CHAIN_STEPS))
        out = f"t{i + 1}"
        if step in ("Relu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu", "LeakyRelu"):
            attrs = {"alpha": 0.1} if step == "LeakyRelu" else {}
            nodes.append(helper.make_node(step, [value], [out], name=f"s{i}", **attrs))
        elif step == "Clip":
            lo, hi = weight(f"s{i}.lo", np.array(-0.5)), weight(f"s{i}.hi", np.array(0.7))
            nodes.append(helper.make_node("Clip", [value, lo, hi], [out], name=f"s{i}"))
        elif step.endswith("Weight"):
            op = step[: -len("Weight")]
            array = rng.standard_normal(channel_shape if draw(st.booleans()) else shape[1:])
            if op == "Div":
                array = np.abs(array) + 0.5
            nodes.append(helper.make_node(op, [value, weight(f"s{i}.k", array)], [out], name=f"s{i}"))
        elif step == "Residual":
            nodes.append(head(f"branch{i}", f"b{i}"))
            args = [value, f"b{i}"] if draw(st.booleans()) else [f"b{i}", value]
            nodes.append(helper.make_node("Add", args, [out], name=f"s{i}"))
        elif step in ("SiLU", "HardSwishPattern"):
            gate = "Sigmoid" if step == "SiLU" else "HardSigmoid"
            nodes.append(helper.make_node(gate, [value], [f"g{i}"], name=f"s{i}.gate"))
            nodes.append(helper.make_node("Mul", [value, f"g{i}"], [out], name=f"s{i}"))
        elif step == "BatchNormalization" and conv:  # folded into the Conv when it follows it, standalone else
            params = [weight(f"s{i}.{p}", rng.standard_normal(m) * 0.2 + (1.0 if p in ("scale", "var") else 0.0))
                      for p in ("scale", "bias", "mean", "var")]
            nodes.append(helper.make_node("BatchNormalization", [value, *params], [out], name=f"s{i}"))
        elif step == "Fork":  # the value is also read by an op outside the chain
            nodes.append(helper.make_node("Neg", [value], [f"f{i}"], name=f"fork{i}"))
            outputs.append((f"f{i}", shape))
            continue
        elif step == "Output":  # the value is also a graph output
            outputs.append((value, shape))
            continue
        else:
            continue
        value = out
    outputs.append((value, shape))
    graph = helper.make_graph(
        nodes, "random_chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info(t, TensorProto.FLOAT, list(s)) for t, s in dict(outputs).items()], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    return model
