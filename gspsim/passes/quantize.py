"""Post-training quantization: an fp32 IR graph becomes a QOperator-form graph that runs natively in int8.

Choices, and why:

* **Activations: uint8, asymmetric, per tensor.**  The zero point places real 0
  exactly on a code (so zero padding is exact), and most activations of a CNN
  follow a ReLU: with uint8 and zero point 0 they use all 256 codes, where a
  symmetric int8 range would waste half of them.  It is also onnxruntime's
  U8S8 format, which its kernels (and ours, which match them bit for bit) run
  without the x86 int8-activation fallbacks.
* **Weights: int8, symmetric (zero point 0, codes -127..127), per output
  channel** (``per_channel=False``: per tensor).  Symmetric weights keep the
  zero-point cross terms out of the MAC array.
* **Bias: int32** at scale ``x_scale * w_scale[c]`` (zero point 0), added to the
  int32 accumulator before requantization, as a MAC array does.
* **Fused activations.**  A Relu, or a Clip whose range contains 0 (ReLU6),
  right after an op that requantizes its output (QLinearConv, QLinearMatMul,
  QLinearAdd, ...) disappears: the producer's output takes the activation's
  calibrated range, and requantization saturates at its bounds, which *is* the
  activation.  A Relu/Clip that cannot be fused runs as an int8 Clip on codes.
* **Conv** becomes QLinearConv.  **Gemm** (constant B) becomes QLinearConv
  with a 1x1 kernel between two Reshapes: the only int8 kernel with an int32
  bias, and exactly onnxruntime's QGemm arithmetic.  **MatMul** becomes
  QLinearMatMul (per-column weight scales for a constant B); a bias ``Add``
  after it becomes a requantizing QLinearAdd with the bias quantized as a uint8
  constant (onnxruntime's QOperator form), because no kernel adds an int32 bias
  to a QLinearMatMul accumulator.
* **Residual Add / Mul** become QLinearAdd / QLinearMul; **pools** run on int8
  (MaxPool as is; AveragePool, GlobalAveragePool and a spatial ReduceMean as
  QLinearAveragePool / QLinearGlobalAveragePool); **Concat** is QLinearConcat;
  layout ops (Reshape, Transpose, Slice, ...) and nearest Resize move codes
  and keep their input's scale.
* **What stays float** (the documented rule): an op runs in int8 only if its
  op-table record gives it an int8 lowering (int8 role "requantize",
  "pass-through" or "activation", :func:`has_int8_lowering`) and its shape
  allows the lowering; pass-through ops (layout ops, MaxPool, nearest Resize)
  and unfused Relu/Clip follow their input (int8 after an int8 producer, float
  otherwise, so no Quantize/Dequantize pair is spent on them).  Everything else
  stays float -- in particular the ops whose role is "float": normalizations,
  softmax and transcendental activations, whose output depends on the whole
  input range or has no int8 kernel.  A float op reads
  through a DequantizeLinear and a quantized consumer reads its result through
  a QuantizeLinear.  ``keep_float`` forces op types or node names to stay float.
* **Interface**: graph inputs enter through a QuantizeLinear and outputs leave
  through a DequantizeLinear, so the model still takes and returns float32.

Calibration runs the fp32 graph (the simulator's own kernels) on the
calibration inputs and picks each activation's range with ``minmax``,
``percentile`` (the ``percentile``-th and ``100 - percentile``-th values of a
histogram) or ``mse`` (the shrink of the min/max range that minimizes the
histogram's quantization mean squared error).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional, Sequence

import numpy as np

from ..errors import InputError
from ..frontend.memory import resolve_limit
from ..input_files import regular_input
from ..inputs import check_inputs, read_npz, synthetic_inputs
from ..ir.evaluate import evaluate
from ..ir.graph import DataflowGraph, OpNode, TensorInfo
from ..optable import Int8Role, spec_of
from ..vocab import CALIBRATORS

MS_DOMAIN = "com.microsoft"
#: activation storage type (see the module docstring for why uint8)
ACTIVATION_DTYPE = np.dtype(np.uint8)
#: symmetric int8 weights use codes -127..127 (-128 unused, so the range is symmetric)
WEIGHT_QMAX = 127
#: histogram bins per tensor for the percentile and MSE calibrators
HIST_BINS = 2048
#: shrink factors of the min/max range the MSE calibrator tries
MSE_SHRINKS = np.linspace(0.25, 1.0, 61)

#: the int8 roles (op table) that have a lowering here: requantizing ops (their output range is
#: free, so a following Relu/Clip can fuse), pass-through ops (they move or select codes, their
#: outputs keep the input's scale) and the activations Relu/Clip (fused into the producer's
#: requantization, or an int8 Clip on codes)
INT8_LOWERING_ROLES: tuple[Int8Role, ...] = (Int8Role.REQUANTIZE, Int8Role.PASS_THROUGH, Int8Role.ACTIVATION)


def has_int8_lowering(op_type: str) -> bool:
    """Whether this pass can lower ``op_type`` to int8 (its shape and attributes permitting)."""
    return spec_of(op_type).int8 in INT8_LOWERING_ROLES


# ============================================================================ calibration inputs
def synthetic_calibration(graph: DataflowGraph, n: int = 8, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """``n`` seeded synthetic input sets (standard normal floats), for when the user gives none."""
    if n < 1:
        raise ValueError(f"need at least one calibration sample, got {n}")
    return [synthetic_inputs(graph, seed + i) for i in range(n)]


def _samples_of(arrays: Mapping[str, np.ndarray], graph: DataflowGraph, where: str) -> list[dict[str, np.ndarray]]:
    """One npz's samples: each array is one input, or a stack of them along a new (or the batch) axis."""
    if len(graph.inputs) == 1 and len(arrays) == 1 and graph.inputs[0] not in arrays:
        arrays = {graph.inputs[0]: next(iter(arrays.values()))}  # an unnamed array (arr_0) for the only input
    counts: dict[str, int] = {}
    for name in graph.inputs:
        if name not in arrays:
            continue
        shape, arr = graph.tensors[name].shape, np.asarray(arrays[name])
        if arr.shape == shape:
            counts[name] = 1
        elif arr.shape[1:] == shape:
            counts[name] = arr.shape[0]
        elif shape and shape[0] == 1 and arr.shape[1:] == shape[1:]:
            counts[name] = arr.shape[0]
        else:
            raise InputError(f"{where}: input '{name}' has shape {list(arr.shape)}; expected {list(shape)} "
                             f"or a stack of them")
    if len(set(counts.values())) > 1:
        raise InputError(f"{where}: inputs hold different numbers of samples ({counts})")
    n = next(iter(counts.values()), 1)
    samples = []
    for i in range(n):
        one = {}
        for name, arr in arrays.items():
            arr = np.asarray(arr)
            shape = graph.tensors[name].shape if name in graph.tensors else arr.shape
            one[name] = arr if counts.get(name, 1) == 1 and arr.shape == shape else arr[i].reshape(shape)
        samples.append(check_inputs(one, graph, where))
    return samples


def load_calibration(path: str | os.PathLike[str], graph: DataflowGraph,
                     max_memory_bytes: Optional[int] = None) -> list[dict[str, np.ndarray]]:
    """Calibration inputs from an ``.npz`` file or a folder of them (sorted by name).

    Each file maps input names to one sample, or to a stack of samples along a
    leading axis (for a batch-1 input, the stack may replace the batch axis).
    A file with a single unnamed array serves a single-input model.  The
    arrays' headers are checked against ``max_memory_bytes`` (default: the
    machine's memory), all files together, before any array is read.
    """
    budget = resolve_limit(max_memory_bytes)
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.npz"))
        if not files:
            raise InputError(f"{p}: no .npz files in this folder")
    else:
        files = [regular_input(p, "calibration file", InputError)]
    samples: list[dict[str, np.ndarray]] = []
    for f in files:
        arrays = read_npz(f, "calibration file", budget)
        budget -= sum(a.nbytes for a in arrays.values())
        samples.extend(_samples_of(arrays, graph, str(f)))
    return samples


# ============================================================================ calibration
@dataclass(frozen=True)
class QParams:
    """Per-tensor affine quantization: ``real = scale * (code - zero_point)``."""

    scale: np.float32
    zero_point: int
    dtype: np.dtype = ACTIVATION_DTYPE

    def scale_array(self) -> np.ndarray:
        return np.array(self.scale, dtype=np.float32)

    def zp_array(self) -> np.ndarray:
        return np.array(self.zero_point, dtype=self.dtype)

    def code(self, value: float) -> int:
        """The saturated code of a real value."""
        info = np.iinfo(self.dtype)
        return int(np.clip(np.rint(np.float32(value) / self.scale) + self.zero_point, info.min, info.max))


def activation_qparams(lo: float, hi: float) -> QParams:
    """uint8 parameters covering ``[min(lo, 0), max(hi, 0)]`` (real 0 lands exactly on a code)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise ValueError(f"calibration range [{lo}, {hi}] is not finite")
    if hi - lo <= 1e-30:
        return QParams(np.float32(1.0), 0)
    scale = np.float32((hi - lo) / 255.0)
    zp = int(np.clip(np.rint(-lo / float(scale)), 0, 255))
    return QParams(scale, zp)


def _activation_tensors(graph: DataflowGraph) -> list[str]:
    """Float32 tensors computed at run time (graph inputs and op outputs; not weights)."""
    names = list(graph.inputs) + [t for op in graph.ops() for t in op.outputs if t]
    return [t for t in dict.fromkeys(names) if t in graph.tensors and graph.tensors[t].dtype == "float32"]


def _run_fp32(graph: DataflowGraph, sample: Mapping[str, np.ndarray], keep: set[str]) -> dict[str, np.ndarray]:
    return evaluate(graph, sample, precision="fp32", keep=keep)


def _percentile_range(hist: np.ndarray, lo: float, hi: float, percentile: float) -> tuple[float, float]:
    cdf = np.cumsum(hist, dtype=np.float64)
    cdf /= cdf[-1]
    edges = np.linspace(lo, hi, hist.size + 1)
    top = int(np.searchsorted(cdf, percentile / 100.0))
    bottom = int(np.searchsorted(cdf, 1.0 - percentile / 100.0))
    return float(edges[bottom]), float(edges[min(top + 1, hist.size)])


def _mse_range(hist: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """The shrink of ``[lo, hi]`` whose uint8 quantization of the histogram has the least squared error."""
    edges = np.linspace(lo, hi, hist.size + 1)
    centers = (edges[:-1] + edges[1:]) / 2.0
    los = np.minimum(lo, 0.0) * MSE_SHRINKS[:, None]
    his = np.maximum(hi, 0.0) * MSE_SHRINKS[:, None]
    scale = np.maximum((his - los) / 255.0, 1e-30)
    zp = np.clip(np.rint(-los / scale), 0, 255)
    q = np.clip(np.rint(centers[None, :] / scale) + zp, 0, 255)
    err = ((centers[None, :] - (q - zp) * scale) ** 2 * hist[None, :]).sum(axis=1)
    best = int(np.argmin(err))
    return float(los[best, 0]), float(his[best, 0])


def calibrate(
    graph: DataflowGraph,
    samples: Sequence[Mapping[str, np.ndarray]],
    calibrator: str = "minmax",
    percentile: float = 99.99,
) -> dict[str, tuple[float, float]]:
    """Each float activation's ``(lo, hi)`` range over ``samples``, by the chosen calibrator.

    ``minmax`` needs one fp32 run per sample; ``percentile`` and ``mse`` run
    again to fill a histogram over the min/max range.
    """
    if calibrator not in CALIBRATORS:
        raise ValueError(f"calibrator '{calibrator}': choose one of {', '.join(CALIBRATORS)}")
    if not samples:
        raise ValueError("calibration needs at least one input sample")
    if not 50.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (50, 100], got {percentile}")
    names = _activation_tensors(graph)
    keep = set(names)
    lo = {t: np.inf for t in names}
    hi = {t: -np.inf for t in names}
    for sample in samples:
        values = _run_fp32(graph, sample, keep)
        for t in names:
            v = values[t]
            if v.size:
                lo[t] = min(lo[t], float(np.min(v)))
                hi[t] = max(hi[t], float(np.max(v)))
    ranges = {t: (lo[t], hi[t]) for t in names if np.isfinite(lo[t]) and np.isfinite(hi[t])}
    if calibrator == "minmax":
        return ranges
    spread = {t: r for t, r in ranges.items() if r[1] > r[0]}
    hists = {t: np.zeros(HIST_BINS, np.float64) for t in spread}
    for sample in samples:
        values = _run_fp32(graph, sample, set(spread))
        for t, (a, b) in spread.items():
            hists[t] += np.histogram(values[t], bins=HIST_BINS, range=(a, b))[0]
    for t, (a, b) in spread.items():
        ranges[t] = _percentile_range(hists[t], a, b, percentile) if calibrator == "percentile" \
            else _mse_range(hists[t], a, b)
    return ranges


# ============================================================================ weights
def quantize_weight(w: np.ndarray, axis: Optional[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric int8 codes, scales and (zero) zero points; per ``axis`` channel, or per tensor if None."""
    w = np.asarray(w, dtype=np.float32)
    if axis is None:
        amax = np.array(np.max(np.abs(w)) if w.size else 0.0, dtype=np.float64)
        scale = np.where(amax > 0, amax / WEIGHT_QMAX, 1.0).astype(np.float32)
        q = np.clip(np.rint(w / scale), -WEIGHT_QMAX, WEIGHT_QMAX).astype(np.int8)
        return q, scale.reshape(()), np.zeros((), np.int8)
    axis = axis % w.ndim
    other = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.max(np.abs(w), axis=other).astype(np.float64) if w.size else np.zeros(w.shape[axis])
    scale = np.where(amax > 0, amax / WEIGHT_QMAX, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / scale.reshape(shape)), -WEIGHT_QMAX, WEIGHT_QMAX).astype(np.int8)
    return q, scale, np.zeros(scale.shape, np.int8)


def quantize_bias(b: np.ndarray, x_scale: np.float32, w_scale: np.ndarray) -> np.ndarray:
    """int32 bias at scale ``x_scale * w_scale`` (zero point 0), saturated to the int32 range."""
    bias_scale = (np.float32(x_scale) * np.asarray(w_scale, np.float32)).astype(np.float64)
    safe = np.where(bias_scale > 0, bias_scale, 1.0)
    q = np.where(bias_scale > 0, np.rint(np.asarray(b, np.float64) / safe), 0.0)
    info = np.iinfo(np.int32)
    return np.clip(q, info.min, info.max).astype(np.int32)


# ============================================================================ graph building
class GraphBuilder:
    """Collects ops, tensor facts and constants while a pass rewrites a graph (lives for one call)."""

    def __init__(self, graph: DataflowGraph) -> None:
        self.source = graph
        self.tensors: dict[str, TensorInfo] = dict(graph.tensors)
        self.consts: dict[str, np.ndarray] = {}
        self.ops: list[OpNode] = []
        self._names: set[str] = {op.name for op in graph.ops()}
        for op in graph.ops():
            self.consts.update(op.weights)

    def const(self, name: str, value: np.ndarray) -> str:
        """Register a constant (a weight of whichever op reads it); names must be unique per value."""
        value = np.asarray(value)
        known = self.consts.get(name)
        if known is not None and (known.dtype != value.dtype or known.shape != value.shape
                                  or not np.array_equal(known, value)):
            raise ValueError(f"constant '{name}' registered twice with different values")
        self.consts[name] = value
        self.tensors[name] = TensorInfo(name, tuple(int(d) for d in value.shape), value.dtype.name)
        return name

    def tensor(self, name: str, shape: Sequence[int], dtype: np.dtype | str) -> str:
        self.tensors[name] = TensorInfo(name, tuple(int(d) for d in shape), np.dtype(dtype).name)
        return name

    def unique(self, base: str) -> str:
        name, k = base, 1
        while name in self._names:
            name, k = f"{base}_{k}", k + 1
        self._names.add(name)
        return name

    def emit(self, name: str, op_type: str, inputs: Sequence[str], outputs: Sequence[str],
             attrs: Optional[Mapping[str, object]] = None, domain: str = "", precision: str = "int8") -> OpNode:
        weights = {t: self.consts[t] for t in inputs if t and t in self.consts}
        op = OpNode(name=name, op_type=op_type, inputs=tuple(inputs), outputs=tuple(outputs),
                    attrs=dict(attrs or {}), weights=weights, domain=domain, precision=precision)
        self.ops.append(op)
        return op

    def keep(self, op: OpNode, **changes: object) -> OpNode:
        """Emit an existing op unchanged (or with ``changes``)."""
        new = replace(op, **changes) if changes else op
        self.ops.append(new)
        return new

    def build(self, notes: Iterable[str]) -> DataflowGraph:
        """The new graph; tensor facts are pruned to what its ops and interface use."""
        used = set(self.source.inputs) | set(self.source.outputs)
        for op in self.ops:
            used.update(t for t in (*op.inputs, *op.outputs) if t)
        tensors = {k: v for k, v in self.tensors.items() if k in used}
        g = self.source
        return DataflowGraph.from_ops(g.name, self.ops, tensors, g.inputs, g.outputs, (*g.notes, *notes),
                                      g.source_path, bound_inputs=g.bound_inputs)


def gemm_as_conv(
    b: GraphBuilder,
    name: str,
    a_q: str,
    a_shape: Sequence[int],
    a_params: tuple[str, str],
    w_q: np.ndarray,
    w_params: tuple[np.ndarray, np.ndarray],
    bias_q: Optional[np.ndarray],
    y_params: tuple[str, str],
    y_q: str,
    y_dtype: np.dtype,
) -> None:
    """``Y = requant(A @ W^T + bias)`` as Reshape -> 1x1 QLinearConv -> Reshape (onnxruntime's QGemm arithmetic).

    ``w_q`` is (M, K) int8/uint8 with per-row or per-tensor parameters; ``a_q`` is
    the (N, K) quantized input.  QLinearConv is the one int8 kernel that adds an
    int32 bias to the accumulator before requantizing.
    """
    n, k = int(a_shape[0]), int(a_shape[1])
    m = int(w_q.shape[0])
    a4 = b.tensor(f"{name}.in_nchw", (n, k, 1, 1), b.tensors[a_q].dtype)
    shape_in = b.const(f"{name}.shape_in", np.array([n, k, 1, 1], np.int64))
    b.emit(b.unique(f"{name}.to_nchw"), "Reshape", [a_q, shape_in], [a4])
    w_name = b.const(f"{name}.weight_q", w_q.reshape(m, k, 1, 1))
    ws = b.const(f"{name}.weight_scale", w_params[0])
    wz = b.const(f"{name}.weight_zero_point", w_params[1])
    inputs = [a4, a_params[0], a_params[1], w_name, ws, wz, y_params[0], y_params[1]]
    if bias_q is not None:
        inputs.append(b.const(f"{name}.bias_q", bias_q.astype(np.int32)))
    y4 = b.tensor(f"{name}.out_nchw", (n, m, 1, 1), y_dtype)
    b.emit(name, "QLinearConv", inputs, [y4], {"kernel_shape": [1, 1]})
    shape_out = b.const(f"{name}.shape_out", np.array([n, m], np.int64))
    b.emit(b.unique(f"{name}.from_nchw"), "Reshape", [y4, shape_out], [y_q])
    b.tensor(y_q, (n, m), y_dtype)


# ============================================================================ which ops go int8
def _attr_str(attrs: Mapping[str, object], key: str, default: str) -> str:
    value = attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def _without(attrs: Mapping[str, object], key: str) -> dict[str, object]:
    """Attributes minus one (QLinearAveragePool has no ``dilations``; they are checked to be 1)."""
    return {k: v for k, v in attrs.items() if k != key}


def _spatial_mean(op: OpNode, graph: DataflowGraph) -> bool:
    """A ReduceMean over H and W of a 4-D tensor: a global average pool."""
    x = graph.tensors[op.inputs[0]]
    if len(x.shape) != 4:
        return False
    if len(op.inputs) > 1 and op.inputs[1]:
        if op.inputs[1] not in op.weights:
            return False
        axes = [int(a) for a in np.asarray(op.weights[op.inputs[1]]).reshape(-1)]
    else:
        axes = [int(a) for a in op.attrs.get("axes", [])]
    return sorted(a % 4 for a in axes) == [2, 3]


def _clip_bounds(op: OpNode) -> tuple[float, float]:
    """A Clip's (min, max), +-inf where absent; NaN when a bound is not a constant."""
    bounds = []
    for i, default in ((1, -np.inf), (2, np.inf)):
        name = op.inputs[i] if len(op.inputs) > i else ""
        if not name:
            bounds.append(default)
        elif name in op.weights:
            bounds.append(float(np.asarray(op.weights[name]).reshape(-1)[0]))
        else:
            bounds.append(float("nan"))
    return bounds[0], bounds[1]


def _lowerable(op: OpNode, graph: DataflowGraph) -> bool:
    """Whether ``op``'s inputs and attributes allow its int8 lowering."""
    acts = op.activation_inputs
    if not acts or any(graph.tensors[t].dtype != "float32" for t in acts[:1]):
        return False
    t = op.op_type
    if t == "Conv":
        w = op.weights.get(op.inputs[1])
        bias_ok = len(op.inputs) < 3 or not op.inputs[2] or op.inputs[2] in op.weights
        return w is not None and w.ndim in (3, 4) and bias_ok and len(acts) == 1
    if t == "Gemm":
        b = op.weights.get(op.inputs[1])
        c_name = op.inputs[2] if len(op.inputs) > 2 else ""
        if b is None or b.ndim != 2 or int(op.attrs.get("transA", 0)) or len(graph.tensors[acts[0]].shape) != 2:
            return False
        m = b.shape[0] if int(op.attrs.get("transB", 0)) else b.shape[1]
        return not c_name or (c_name in op.weights and op.weights[c_name].size in (1, m))
    if t == "MatMul":
        b = op.weights.get(op.inputs[1])
        ranks_ok = len(graph.tensors[op.inputs[0]].shape) >= 2
        return ranks_ok and (b is None and len(graph.tensors[op.inputs[1]].shape) >= 2 or b is not None and b.ndim == 2)
    if t in ("Add", "Mul"):
        return all(graph.tensors[x].dtype == "float32" for x in op.inputs[:2])
    if t == "AveragePool":
        return all(int(d) == 1 for d in op.attrs.get("dilations", []) or [])
    if t == "GlobalAveragePool":
        return len(graph.tensors[acts[0]].shape) == 4
    if t == "ReduceMean":
        return _spatial_mean(op, graph)
    if t == "Concat":
        return all(x not in op.weights for x in op.inputs if x)
    if t == "MaxPool":
        return len([o for o in op.outputs if o]) == 1
    if t == "Resize":
        return _attr_str(op.attrs, "mode", "nearest") == "nearest"
    if t == "Pad":
        return _attr_str(op.attrs, "mode", "constant") != "constant" or len(op.inputs) < 3 or not op.inputs[2] \
            or op.inputs[2] in op.weights
    if t == "Clip":
        return not any(np.isnan(v) for v in _clip_bounds(op))
    return has_int8_lowering(t)


def plan_quantization(
    graph: DataflowGraph, keep_float: Iterable[str] = ()
) -> tuple[dict[str, str], dict[str, str]]:
    """``({node: "int8" | "float"}, {fused activation node: producer node})`` for a float graph.

    The rule is the module docstring's: requantizing ops go int8 when they can be
    lowered; pass-through ops and activations follow their input; ops whose
    int8 role is "float", anything without a lowering, and ``keep_float`` (op
    types or node names) stay float.  A Relu/Clip fuses into an int8 requantizing producer that
    nothing else reads.
    """
    forced = set(keep_float)
    decision: dict[str, str] = {}
    quantized: set[str] = set()
    for op in graph.ops():
        go = False
        role = spec_of(op.op_type).int8
        if op.name not in forced and op.op_type not in forced and role is not Int8Role.FLOAT \
                and _lowerable(op, graph):
            if role is Int8Role.REQUANTIZE:
                go = True
            else:  # pass-through and activations follow their data input
                go = op.inputs[0] in quantized
        decision[op.name] = "int8" if go else "float"
        if go:
            quantized.update(t for t in op.outputs if t)
    fused: dict[str, str] = {}
    outputs = set(graph.outputs)
    for op in graph.ops():
        if spec_of(op.op_type).int8 is not Int8Role.ACTIVATION or decision[op.name] != "int8":
            continue
        lo, hi = _clip_bounds(op) if op.op_type == "Clip" else (0.0, np.inf)
        producer = graph.producer_of(op.inputs[0])
        if producer is None or not lo <= 0.0 <= hi or op.inputs[0] in outputs:
            continue
        p = graph.op(producer)
        if decision[producer] == "int8" and spec_of(p.op_type).int8 is Int8Role.REQUANTIZE and graph.consumers_of(op.inputs[0]) == [op.name] \
                and producer not in fused.values():
            fused[op.name] = producer
    return decision, fused


# ============================================================================ the rewrite
class _Quantizer:
    """One quantize_graph call: walks the float graph in order and emits its int8 form."""

    def __init__(self, graph: DataflowGraph, params: Mapping[str, QParams], decision: Mapping[str, str],
                 fused: Mapping[str, str], per_channel: bool) -> None:
        self.g = graph
        self.b = GraphBuilder(graph)
        self.params = params
        self.decision = decision
        self.fused = set(fused)
        self.fused_out = {producer: graph.op(act).outputs[0] for act, producer in fused.items()}
        self.per_channel = per_channel
        self.qname: dict[str, str] = {}
        self.qparams: dict[str, QParams] = {}
        self.floats: set[str] = set(graph.inputs)

    # -- tensors in both domains -------------------------------------------------------
    def param_names(self, qt: str) -> tuple[str, str]:
        p = self.qparams[qt]
        return self.b.const(f"{qt}.scale", p.scale_array()), self.b.const(f"{qt}.zero_point", p.zp_array())

    def produce_q(self, t: str, params: QParams) -> str:
        """Declare the quantized form of float tensor ``t`` (written by the op being emitted)."""
        qt = f"{t}.q"
        info = self.g.tensors[t]
        self.b.tensor(qt, info.shape, params.dtype)
        self.qname[t] = qt
        self.qparams[qt] = params
        return qt

    def calibrated(self, t: str) -> QParams:
        if t not in self.params:
            raise InputError(f"int8 calibration: tensor '{t}' has no finite range over the calibration inputs "
                             "(its values are NaN or Inf: check the model's weights and the --calib data)")
        return self.params[t]

    def need_q(self, t: str) -> str:
        """The quantized form of ``t``, quantizing the float tensor on first use."""
        if t in self.qname:
            return self.qname[t]
        qt = self.produce_q(t, self.calibrated(t))
        s, z = self.param_names(qt)
        self.b.emit(self.b.unique(f"{t}.quantize"), "QuantizeLinear", [t, s, z], [qt])
        return qt

    def need_f(self, t: str) -> str:
        """The float form of ``t``, dequantizing on first use (under ``t``'s own name)."""
        if t in self.floats or t not in self.qname:
            return t
        qt = self.qname[t]
        s, z = self.param_names(qt)
        self.b.emit(self.b.unique(f"{t}.dequantize"), "DequantizeLinear", [qt, s, z], [t])
        self.floats.add(t)
        return t

    def quantized_const(self, name: str, value: np.ndarray) -> tuple[str, str, str]:
        """A float constant as uint8 codes with its own per-tensor parameters."""
        v = np.asarray(value, np.float32)
        p = activation_qparams(float(v.min()) if v.size else 0.0, float(v.max()) if v.size else 0.0)
        codes = np.clip(np.rint(v / p.scale) + p.zero_point, 0, 255).astype(np.uint8)
        qt = self.b.const(f"{name}.q", codes)
        return (qt, self.b.const(f"{qt}.scale", p.scale_array()), self.b.const(f"{qt}.zero_point", p.zp_array()))

    def operand(self, op: OpNode, t: str) -> tuple[str, str, str]:
        """(codes, scale, zero point) of an input: a quantized activation or a quantized constant."""
        if t in op.weights:
            return self.quantized_const(f"{op.name}.{t}", op.weights[t])
        qt = self.need_q(t)
        s, z = self.param_names(qt)
        return qt, s, z

    def out(self, op: OpNode) -> tuple[str, QParams]:
        """The float tensor this requantizing op writes (a fused activation's output) and its parameters."""
        t = self.fused_out.get(op.name, op.outputs[0])
        return t, self.calibrated(t)

    def exits(self, op: OpNode) -> bool:
        """A Conv/Gemm/MatMul writing a graph output directly: it leaves int8 from its int32 accumulator."""
        return op.name not in self.fused_out and op.outputs[0] in self.g.outputs

    def int32_exit(self, op: OpNode, acc_op: str, ins: list[str], acc_shape: Sequence[int], attrs: Mapping,
                   scale: np.ndarray, bias: Optional[np.ndarray]) -> None:
        """``acc_op`` (ConvInteger / MatMulInteger) -> DequantizeLinear of the int32 sums -> float bias Add.

        The outputs are not squeezed into 8 bits (no saturation at a calibrated
        range), as an accelerator hands its last layer's accumulators to the host.
        """
        t = op.outputs[0]
        acc = self.b.tensor(f"{t}.acc", acc_shape, np.int32)
        self.b.emit(op.name, acc_op, ins, [acc], attrs)
        axis = 1 if acc_op == "ConvInteger" else len(acc_shape) - 1
        deq = self.b.tensor(f"{t}.no_bias", acc_shape, np.float32) if bias is not None else t
        s = self.b.const(f"{op.name}.acc_scale", np.asarray(scale, np.float32))
        self.b.emit(self.b.unique(f"{op.name}.dequantize"), "DequantizeLinear", [acc, s], [deq], {"axis": axis})
        if bias is not None:
            shape = [1] * len(acc_shape)
            shape[axis] = -1
            bname = self.b.const(f"{op.name}.bias_f", np.asarray(bias, np.float32).reshape(shape))
            self.b.emit(self.b.unique(f"{op.name}.bias"), "Add", [deq, bname], [t], precision="fp32")
        self.floats.add(t)

    # -- lowerings --------------------------------------------------------------------------
    def conv(self, op: OpNode) -> None:
        x_q = self.need_q(op.inputs[0])
        xs, xz = self.param_names(x_q)
        w = op.weights[op.inputs[1]]
        w_q, w_s, w_z = quantize_weight(w, 0 if self.per_channel else None)
        if self.exits(op):
            bias = op.weights[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] else None
            scale = self.qparams[x_q].scale * np.broadcast_to(w_s, (w.shape[0],))
            ins = [x_q, self.b.const(f"{op.name}.weight_q", w_q), xz]
            self.int32_exit(op, "ConvInteger", ins, self.g.tensors[op.outputs[0]].shape, op.attrs, scale, bias)
            return
        t, p = self.out(op)
        y_q = self.produce_q(t, p)
        ys, yz = self.param_names(y_q)
        ins = [x_q, xs, xz, self.b.const(f"{op.name}.weight_q", w_q), self.b.const(f"{op.name}.weight_scale", w_s),
               self.b.const(f"{op.name}.weight_zero_point", w_z), ys, yz]
        if len(op.inputs) > 2 and op.inputs[2]:
            bias = quantize_bias(op.weights[op.inputs[2]], self.qparams[x_q].scale, w_s)
            ins.append(self.b.const(f"{op.name}.bias_q", np.broadcast_to(bias, (w.shape[0],)).copy()))
        self.b.emit(op.name, "QLinearConv", ins, [y_q], op.attrs)

    def gemm(self, op: OpNode) -> None:
        a_q = self.need_q(op.inputs[0])
        a_params = self.param_names(a_q)
        bmat = op.weights[op.inputs[1]].astype(np.float32)
        w = (bmat if int(op.attrs.get("transB", 0)) else bmat.T) * np.float32(op.attrs.get("alpha", 1.0))
        w_q, w_s, w_z = quantize_weight(w, 0 if self.per_channel else None)
        bias_q, c = None, None
        if len(op.inputs) > 2 and op.inputs[2]:
            c = op.weights[op.inputs[2]].astype(np.float32).reshape(-1) * np.float32(op.attrs.get("beta", 1.0))
            c = np.broadcast_to(c, (w.shape[0],))
            bias_q = quantize_bias(c, self.qparams[a_q].scale, w_s)
        if self.exits(op):
            scale = self.qparams[a_q].scale * np.broadcast_to(w_s, (w.shape[0],))
            ins = [a_q, self.b.const(f"{op.name}.weight_q_t", np.ascontiguousarray(w_q.T)), a_params[1]]
            self.int32_exit(op, "MatMulInteger", ins, self.g.tensors[op.outputs[0]].shape, {}, scale, c)
            return
        t, p = self.out(op)
        y_q = self.produce_q(t, p)
        gemm_as_conv(self.b, op.name, a_q, self.g.tensors[op.inputs[0]].shape, a_params, w_q, (w_s, w_z), bias_q,
                     self.param_names(y_q), y_q, p.dtype)

    def matmul(self, op: OpNode) -> None:
        a_q = self.need_q(op.inputs[0])
        ins = [a_q, *self.param_names(a_q)]
        if op.inputs[1] in op.weights:
            w_q, w_s, w_z = quantize_weight(op.weights[op.inputs[1]], 1 if self.per_channel else None)
            if self.exits(op):
                scale = self.qparams[a_q].scale * np.broadcast_to(w_s, (w_q.shape[1],))
                ins = [a_q, self.b.const(f"{op.name}.weight_q", w_q), ins[2]]
                self.int32_exit(op, "MatMulInteger", ins, self.g.tensors[op.outputs[0]].shape, {}, scale, None)
                return
            ins += [self.b.const(f"{op.name}.weight_q", w_q), self.b.const(f"{op.name}.weight_scale", w_s),
                    self.b.const(f"{op.name}.weight_zero_point", w_z)]
        else:
            b_q = self.need_q(op.inputs[1])
            ins += [b_q, *self.param_names(b_q)]
        t, p = self.out(op)
        y_q = self.produce_q(t, p)
        self.b.emit(op.name, "QLinearMatMul", [*ins, *self.param_names(y_q)], [y_q])

    def binary(self, op: OpNode) -> None:
        a = self.operand(op, op.inputs[0])
        c = self.operand(op, op.inputs[1])
        t, p = self.out(op)
        y_q = self.produce_q(t, p)
        kind = spec_of(op.op_type).qlinear  # QLinearAdd / QLinearMul
        self.b.emit(op.name, kind, [*a, *c, *self.param_names(y_q)], [y_q], domain=MS_DOMAIN)

    def unary(self, op: OpNode) -> None:
        """AveragePool, GlobalAveragePool, spatial ReduceMean, Sigmoid, LeakyRelu: X, xs, xz, ys, yz."""
        x_q = self.need_q(op.inputs[0])
        t, p = self.out(op)
        kind = spec_of(op.op_type).qlinear
        attrs = {
            "AveragePool": {**_without(op.attrs, "dilations"), "channels_last": 0},
            "GlobalAveragePool": {"channels_last": 0},
            "ReduceMean": {"channels_last": 0},
            "Sigmoid": {},
            "LeakyRelu": {"alpha": float(op.attrs.get("alpha", 0.01))},
        }[op.op_type]
        squeeze = op.op_type == "ReduceMean" and not int(op.attrs.get("keepdims", 1))
        if squeeze:
            n, ch = self.g.tensors[op.inputs[0]].shape[:2]
            pooled = self.b.tensor(f"{t}.pooled.q", (n, ch, 1, 1), p.dtype)
            self.qparams[pooled] = p
            y_q = self.produce_q(t, p)
            self.b.emit(op.name, kind, [x_q, *self.param_names(x_q), *self.param_names(pooled)], [pooled],
                        attrs, domain=MS_DOMAIN)
            shape = self.b.const(f"{op.name}.shape", np.array(self.g.tensors[t].shape, np.int64))
            self.b.emit(self.b.unique(f"{op.name}.squeeze"), "Reshape", [pooled, shape], [y_q])
            return
        y_q = self.produce_q(t, p)
        self.b.emit(op.name, kind, [x_q, *self.param_names(x_q), *self.param_names(y_q)], [y_q], attrs,
                    domain=MS_DOMAIN)

    def concat(self, op: OpNode) -> None:
        """A plain Concat when every input already has the same scale, else QLinearConcat."""
        parts = [self.need_q(x) for x in op.inputs if x]
        same = len({(float(self.qparams[q].scale), self.qparams[q].zero_point) for q in parts}) == 1
        if same and op.name not in self.fused_out:
            y_q = self.produce_q(op.outputs[0], self.qparams[parts[0]])
            self.b.emit(op.name, "Concat", parts, [y_q], op.attrs)
            return
        t, p = self.out(op)
        y_q = self.produce_q(t, p)
        ins = [*self.param_names(y_q)]
        for q in parts:
            ins += [q, *self.param_names(q)]
        self.b.emit(op.name, "QLinearConcat", ins, [y_q], {"axis": int(op.attrs.get("axis", 0))}, domain=MS_DOMAIN)

    def pass_through(self, op: OpNode) -> None:
        """Layout ops, MaxPool, nearest Resize and Pad: the same op on codes; outputs keep the input's scale."""
        x_q = self.need_q(op.inputs[0])
        p = self.qparams[x_q]
        ins = [x_q, *op.inputs[1:]]
        if op.op_type == "Pad" and _attr_str(op.attrs, "mode", "constant") == "constant":
            value = float(op.weights[op.inputs[2]].reshape(-1)[0]) if len(op.inputs) > 2 and op.inputs[2] else 0.0
            while len(ins) < 3:
                ins.append("")
            ins[2] = self.b.const(f"{op.name}.pad_value_q", np.array(p.code(value), p.dtype))
        outs = [self.produce_q(t, p) if t else "" for t in op.outputs]
        self.b.emit(op.name, op.op_type, ins, outs, op.attrs, op.domain)

    def activation(self, op: OpNode) -> None:
        """An unfused Relu/Clip: a Clip on codes at the input's scale."""
        x_q = self.need_q(op.inputs[0])
        p = self.qparams[x_q]
        lo, hi = _clip_bounds(op) if op.op_type == "Clip" else (0.0, np.inf)
        low = p.code(lo) if np.isfinite(lo) else int(np.iinfo(p.dtype).min)
        ins = [x_q, self.b.const(f"{op.name}.min_q", np.array(low, p.dtype))]
        if np.isfinite(hi):
            ins.append(self.b.const(f"{op.name}.max_q", np.array(p.code(hi), p.dtype)))
        y_q = self.produce_q(op.outputs[0], p)
        self.b.emit(op.name, "Clip", ins, [y_q])

    def float_op(self, op: OpNode) -> None:
        ins = [t if (not t or t in op.weights) else self.need_f(t) for t in op.inputs]
        self.b.keep(op, inputs=tuple(ins))
        self.floats.update(t for t in op.outputs if t)

    # -- driver ------------------------------------------------------------------------------
    def run(self) -> DataflowGraph:
        lowerings: dict[str, Callable[[OpNode], None]] = {
            "Conv": self.conv, "Gemm": self.gemm, "MatMul": self.matmul, "Add": self.binary, "Mul": self.binary,
            "AveragePool": self.unary, "GlobalAveragePool": self.unary, "ReduceMean": self.unary,
            "Sigmoid": self.unary, "LeakyRelu": self.unary, "Concat": self.concat, "Relu": self.activation,
            "Clip": self.activation,
        }
        for op in self.g.ops():
            if op.name in self.fused:
                continue
            if self.decision[op.name] == "int8":
                pass_through = spec_of(op.op_type).int8 is Int8Role.PASS_THROUGH
                (self.pass_through if pass_through else lowerings[op.op_type])(op)
            else:
                self.float_op(op)
        for t in self.g.outputs:
            self.need_f(t)
        return self.b.build([])


def _summary(graph: DataflowGraph, decision: Mapping[str, str], fused: Mapping[str, str],
             calibrator: str, n: int, per_channel: bool) -> list[str]:
    by_type: dict[str, dict[str, list[str]]] = {"int8": {}, "float": {}}
    for op in graph.ops():
        by_type[decision[op.name]].setdefault(op.op_type, []).append(op.name)
    fmt = lambda d: ", ".join(f"{k} x{len(v)}" for k, v in sorted(d.items())) or "none"  # noqa: E731
    floats = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(by_type["float"].items())) or "none"
    return [
        f"int8 PTQ ({calibrator} calibration on {n} sample(s); uint8 activations per tensor, int8 weights "
        f"{'per channel' if per_channel else 'per tensor'}, int32 bias): int8 {fmt(by_type['int8'])}",
        f"int8 PTQ: {len(fused)} Relu/Clip fused into their producer's requantization",
        "int8 PTQ: a Conv/Gemm/MatMul writing a graph output leaves int8 from its int32 accumulators "
        "(ConvInteger/MatMulInteger -> DequantizeLinear -> float bias Add '<node>.bias')",
        f"int8 PTQ: kept float: {floats}",
    ]


def _check_finite_weights(graph: DataflowGraph) -> None:
    """int8 scales come from the weights' ranges: a NaN or Inf weight has none."""
    for op in graph.ops():
        for name, w in op.weights.items():
            if w.dtype.kind == "f" and w.size and not np.all(np.isfinite(w)):
                where = f"{graph.source_path}: " if graph.source_path else ""
                raise InputError(f"{where}initializer '{name}' of node '{op.name}' ({op.op_type}) holds NaN or Inf; "
                                 "int8 quantization needs finite weights")


def quantize_graph(
    graph: DataflowGraph,
    calibration_inputs: Sequence[Mapping[str, np.ndarray]],
    calibrator: str = "minmax",
    per_channel: bool = True,
    percentile: float = 99.99,
    keep_float: Iterable[str] = (),
    ranges: Optional[Mapping[str, tuple[float, float]]] = None,
) -> DataflowGraph:
    """Post-training quantization of a float graph (see the module docstring for every choice).

    ``keep_float`` names op types or nodes that must stay float.  ``ranges``
    are :func:`calibrate`'s result for these inputs when the caller has them
    (gspsim.content_cache), else they are computed here.  The new
    graph's notes say what was quantized and what stayed float;
    :func:`node_precisions` gives it per node.
    """
    keep_float = set(keep_float)
    _check_finite_weights(graph)
    decision, fused = plan_quantization(graph, keep_float)
    if ranges is None:
        ranges = calibrate(graph, calibration_inputs, calibrator, percentile)
    params = {t: activation_qparams(lo, hi) for t, (lo, hi) in ranges.items()}
    new = _Quantizer(graph, params, decision, fused, per_channel).run()
    notes = _summary(graph, decision, fused, calibrator, len(calibration_inputs), per_channel)
    return replace(new, notes=(*new.notes, *notes))


# ============================================================================ reporting
def node_precisions(graph: DataflowGraph) -> dict[str, str]:
    """``{node: "int8" | "float"}`` for any graph: int8 where the op is quantized or reads int8/uint8 codes.

    Works on gspsim's PTQ output, a fused QDQ model and a QOperator model alike;
    the same rule as ``gspsim.passes.precision``.
    """
    result = {}
    for op in graph.ops():
        reads_int = any(graph.tensors[t].dtype in ("int8", "uint8") for t in op.activation_inputs
                        if t in graph.tensors)
        quant_op = spec_of(op.op_type).int8 is Int8Role.INTEGER
        result[op.name] = "int8" if quant_op or reads_int else "float"
    return result


def float_nodes(graph: DataflowGraph) -> dict[str, str]:
    """``{node: op type}`` of the compute ops that run in float in a quantized graph."""
    precisions = node_precisions(graph)
    return {op.name: op.op_type for op in graph.ops() if precisions[op.name] == "float"}


__all__ = [
    "ACTIVATION_DTYPE", "INT8_LOWERING_ROLES", "QParams", "has_int8_lowering",
    "activation_qparams", "calibrate", "float_nodes", "load_calibration", "node_precisions", "plan_quantization",
    "quantize_bias", "quantize_graph", "quantize_weight", "synthetic_calibration",
]
