"""A synthetic 1,000-node graph compiles and simulates within bounded memory and time.

The graph is a long residual chain of 250 blocks, each Conv 1x1 -> Relu ->
MatMul -> Add (the Add also reads the block output from three blocks back, so
the graph is a DAG with long-lived tensors, not only a chain), on [1, 8, 8, 8]
tensors.  It runs in a fresh process so that the peak resident memory
(``ru_maxrss``) measures this run alone; the outputs are compared with
onnxruntime so the run is a real one.

Measured on the development machine (2 cores used): load 0.1 s, streaming
simulation with kernels 1.8 s, layer mode 1.3 s, peak RSS 266 MiB (122 MiB of
it is the interpreter with numpy, numba, onnx and onnxruntime imported).  The
bounds below are several times that, to hold on a slow CI machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from helpers import ROOT

BLOCKS = 250
CHANNELS = 8
SIDE = 8
#: generous bounds (several times the measured figures in the module docstring)
MAX_LOAD_S = 20.0
MAX_SIMULATE_S = 60.0
MAX_PEAK_RSS_MIB = 1024
MAX_RSS_GROWTH_MIB = 600


def build_model(blocks: int = BLOCKS, c: int = CHANNELS, side: int = SIDE) -> onnx.ModelProto:
    """``4 * blocks`` nodes: Conv 1x1, Relu, MatMul, and an Add with a skip from three blocks back."""
    rng = np.random.default_rng(0)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    history = ["x"]
    for b in range(blocks):
        prev = history[-1]
        inits.append(numpy_helper.from_array(
            (rng.standard_normal((c, c, 1, 1)) / np.sqrt(c)).astype(np.float32), f"conv_w{b}"))
        inits.append(numpy_helper.from_array(
            (rng.standard_normal((side, side)) / np.sqrt(side)).astype(np.float32), f"mm_w{b}"))
        nodes.append(helper.make_node("Conv", [prev, f"conv_w{b}"], [f"c{b}"], name=f"conv{b}"))
        nodes.append(helper.make_node("Relu", [f"c{b}"], [f"r{b}"], name=f"relu{b}"))
        nodes.append(helper.make_node("MatMul", [f"r{b}", f"mm_w{b}"], [f"m{b}"], name=f"matmul{b}"))
        skip = history[-3] if len(history) >= 3 else history[0]
        nodes.append(helper.make_node("Add", [f"m{b}", skip], [f"a{b}"], name=f"add{b}"))
        history.append(f"a{b}")
    shape = [1, c, side, side]
    graph = helper.make_graph(nodes, "large_graph", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(history[-1], TensorProto.FLOAT, shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    return model


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` carries over from the parent through fork and exec (the
    kernel keeps the old address space's high-water mark at exec), so a process started by a pytest that has
    grown to 1.2 GiB reports at least 1.2 GiB, whatever it does (a CI run failed on exactly that).
    """
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    kib = 1024 if sys.platform != "darwin" else 1024 * 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib


def measure(path: str) -> dict[str, float]:
    """Run in a fresh process: load, simulate (streaming with --check, then layer mode), report time and RSS."""
    import time

    import gspsim

    base = peak_rss_mib()
    t0 = time.perf_counter()
    graph = gspsim.load_model(path)
    t1 = time.perf_counter()
    streaming = gspsim.simulate(graph, "blaize-1600", mode="streaming", check=True)
    t2 = time.perf_counter()
    layer = gspsim.simulate(graph, "blaize-1600", mode="layer")
    t3 = time.perf_counter()
    peak = peak_rss_mib()
    return {
        "nodes": len(graph), "blocks": streaming.blocks, "load_s": t1 - t0, "streaming_s": t2 - t1,
        "layer_s": t3 - t2, "base_rss_mib": base, "peak_rss_mib": peak,
        "check_passed": bool(streaming.check.passed), "max_rel_err": streaming.check.max_rel_err,
        "streaming_cycles": streaming.latency_cycles, "layer_cycles": layer.latency_cycles,
    }


def in_fresh_process(expression: str) -> Any:
    """The value of a Python expression evaluated in a fresh interpreter (tests/ importable), sent back as JSON."""
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"print(json.dumps({expression}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_thousand_node_graph_runs_in_bounded_memory_and_time(tmp_path: Path) -> None:
    path = tmp_path / "large.onnx"
    onnx.save(build_model(), str(path))
    figures = in_fresh_process(f"__import__('test_large_graph').measure({str(path)!r})")
    print("large graph:", figures)
    assert figures["nodes"] == 4 * BLOCKS
    assert figures["check_passed"] and figures["max_rel_err"] <= 1e-4
    assert figures["streaming_cycles"] > 0 and figures["layer_cycles"] > 0
    assert figures["load_s"] < MAX_LOAD_S
    assert figures["streaming_s"] < MAX_SIMULATE_S and figures["layer_s"] < MAX_SIMULATE_S
    assert figures["peak_rss_mib"] < MAX_PEAK_RSS_MIB
    assert figures["peak_rss_mib"] - figures["base_rss_mib"] < MAX_RSS_GROWTH_MIB


#: CPU-time ratio of the 10,000-node chain to the 1,000-node one: about 10 when every pass is linear, about 100
#: when one is quadratic (remove_identity rebuilt every op per removal: minutes at 10,000 nodes)
MAX_SCALING_RATIO = 30.0
MAX_CHAIN_CPU_S = 90.0


def test_long_chains_load_run_and_inspect_in_linear_time(tmp_path: Path) -> None:
    """Chains of 1,000 and 10,000 nodes (Relu and Identity alternating; Identity alone) in one fresh process."""
    from helpers import chain_model

    models = {
        "warm-up": chain_model(10, tmp_path / "warm.onnx", ("Relu", "Identity")),
        "mixed-1000": chain_model(1000, tmp_path / "mixed-1000.onnx", ("Relu", "Identity")),
        "mixed-10000": chain_model(10000, tmp_path / "mixed-10000.onnx", ("Relu", "Identity")),
        "identity-10000": chain_model(10000, tmp_path / "identity-10000.onnx"),
    }
    paths = {k: str(v) for k, v in models.items()}
    figures = in_fresh_process(f"{{k: __import__('helpers').chain_phases(v) for k, v in {paths!r}.items()}}")
    print("chains:", figures)
    total = {k: f["load_s"] + f["run_s"] + f["inspect_s"] for k, f in figures.items()}
    assert figures["mixed-10000"]["nodes_after_passes"] == 5000 and figures["identity-10000"]["nodes_after_passes"] == 1
    assert total["mixed-10000"] / total["mixed-1000"] < MAX_SCALING_RATIO, total
    assert total["mixed-10000"] < MAX_CHAIN_CPU_S and total["identity-10000"] < MAX_CHAIN_CPU_S, total
