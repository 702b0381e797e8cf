"""Assigning each op its precision, and converting tensors and weights to match.

The rule, per op, first match wins:

1. a per-node override (by node name, then by op type) from ``--precision-map``;
2. quantized ops (int8 role "integer" in the op table: QuantizeLinear,
   DequantizeLinear, QLinear*, *Integer), and any op reading int8/uint8
   activations (e.g. MaxPool or Reshape on int8), run at int8;
3. in an int8 run, ops that stayed float after quantization (softmax, layer
   norm, ...; see gspsim.passes.quantize) run at bf16, the chip's float format
   beside int8 (Blaize ships mixed INT8+BF16 models);
4. otherwise the run's precision.

Float tensors take the precision of the op that writes them (a Cast writes the
type the model asks for, as it declares it): float16 for fp16,
float32 values rounded to bf16 (counted at 2 bytes) for bf16, float32 for
fp32 -- except float64 tensors, which stay float64 at fp32 (a model written
in float64 computes in float64; its ops are costed as fp32, the widest
precision a chip's tables give).  Where an op reads a float tensor of another
float type, a Cast is inserted; graph inputs stay as the model declares them
and graph outputs are cast back to their declared type, so the model's
interface does not change.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Optional

import numpy as np

from ..errors import ConfigError
from ..ir.graph import DataflowGraph, OpNode, TensorInfo
from ..kernels.ops.bf16 import round_to_bf16
from ..optable import Int8Role, spec_of
from ..vocab import FLOAT_PRECISIONS, PRECISIONS
#: precision that float ops take in an int8 run
INT8_FLOAT_FALLBACK = "bf16"


def _float_dtype(precision: str, declared: str = "float32") -> str:
    """The float type a tensor declared ``declared`` has at ``precision`` (float64 stays float64 at fp32)."""
    if precision == "fp16":
        return "float16"
    return "float64" if precision == "fp32" and declared == "float64" else "float32"


def _float_info(info: TensorInfo, precision: str) -> TensorInfo:
    if np.dtype(info.dtype).kind != "f":
        return info
    return replace(info, dtype=_float_dtype(precision, info.dtype), elem_bytes=2 if precision == "bf16" else None)


def _convert_weight(array: np.ndarray, precision: str) -> np.ndarray:
    if array.dtype.kind != "f":
        return array
    if precision == "fp16":
        return array.astype(np.float16)
    if precision == "bf16":
        return round_to_bf16(array.astype(np.float32))
    return array.astype(_float_dtype(precision, array.dtype.name), copy=False)


def _onnx_type(dtype: str) -> int:
    """The ONNX element type (Cast's ``to``) of a numpy dtype name (the kernels' table, without importing onnx)."""
    from ..kernels.ops._layout_common import ONNX_TO_NUMPY

    wanted = np.dtype(dtype)
    return next(code for code, held in ONNX_TO_NUMPY.items() if held == wanted)


def op_precision(op: OpNode, tensors: Mapping[str, TensorInfo], default: str,
                 overrides: Mapping[str, str]) -> str:
    """The precision rule of this module's docstring, for one op."""
    if op.name in overrides:
        return overrides[op.name]
    if op.op_type in overrides:
        return overrides[op.op_type]
    reads_int8 = any(tensors[t].dtype in ("int8", "uint8") for t in op.activation_inputs)
    if spec_of(op.op_type).int8 is Int8Role.INTEGER or reads_int8:
        return "int8"
    if default == "int8":
        return INT8_FLOAT_FALLBACK
    return default


def validate_overrides(overrides: Mapping[str, str], source: str) -> None:
    for key, value in overrides.items():
        if value not in PRECISIONS:
            raise ConfigError(f"{source}: '{key}' = '{value}': precision must be one of {', '.join(PRECISIONS)}")


def assign_precision(
    graph: DataflowGraph, default: str, overrides: Optional[Mapping[str, str]] = None
) -> DataflowGraph:
    """A new graph whose ops carry their precision and whose float tensors and weights match it."""
    overrides = dict(overrides or {})
    if default not in PRECISIONS:
        raise ConfigError(f"--precision '{default}': choose one of {', '.join(PRECISIONS)}")
    known = {op.name for op in graph.ops()} | {op.op_type for op in graph.ops()}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"--precision-map: '{unknown[0]}' is neither a node name nor an op type of the model")
    tensors = dict(graph.tensors)
    ops: list[OpNode] = []
    casts: dict[tuple[str, str], str] = {}
    counts: dict[str, int] = {}
    for op in graph.ops():
        p = op_precision(op, graph.tensors, default, overrides)
        counts[p] = counts.get(p, 0) + 1
        float_p = p if p in FLOAT_PRECISIONS else "fp32"
        inputs = list(op.inputs)
        for i, name in enumerate(op.inputs):
            if not name or name in op.weights:
                continue
            info = tensors[name]
            want = _float_dtype(float_p, info.dtype)
            # a bf16 op reading a true float32 tensor (not bf16-valued) casts it to bf16 first, as fp16 does
            to_bf16 = float_p == "bf16" and info.dtype == "float32" and info.elem_bytes != 2
            if np.dtype(info.dtype).kind == "f" and (info.dtype != want or to_bf16) and p != "int8":
                key = (name, "bfloat16" if to_bf16 else want)
                if key not in casts:
                    cast_name = f"{name}.to_{key[1]}"
                    tensors[cast_name] = replace(info, name=cast_name, dtype=want,
                                                 elem_bytes=2 if float_p == "bf16" else None)
                    ops.append(OpNode(f"cast_{name}_to_{key[1]}", "Cast", (name,), (cast_name,),
                                      {"to": _onnx_type(want)}, {}, "", float_p))
                    casts[key] = cast_name
                inputs[i] = casts[key]
        weights = {k: _convert_weight(v, float_p) if p != "int8" else v for k, v in op.weights.items()}
        for k, v in weights.items():
            base = tensors.get(k, TensorInfo(k, tuple(v.shape), v.dtype.name))
            bf16 = float_p == "bf16" and v.dtype.kind == "f" and p != "int8"
            tensors[k] = replace(base, dtype=v.dtype.name, elem_bytes=2 if bf16 else None)
        # int8 ops (and a DequantizeLinear's float output) keep the model's types, and so does a Cast:
        # it writes the type the model asks for (its readers get a Cast to their precision if needed)
        if p != "int8" and op.op_type != "Cast":
            for name in op.outputs:
                if name:
                    tensors[name] = _float_info(tensors[name], float_p)
        ops.append(replace(op, inputs=tuple(inputs), weights=weights, precision=p))
    # graph outputs keep their declared type: cast back where a precision changed it
    renamed: dict[str, str] = {}
    for out in graph.outputs:
        declared = graph.tensors[out]
        now = tensors[out]
        if now.dtype == declared.dtype and now.elem_bytes == declared.elem_bytes:
            continue
        inner = f"{out}.{now.dtype}"
        renamed[out] = inner
        tensors[inner] = replace(now, name=inner)
        tensors[out] = declared
    if renamed:
        ops = [replace(o, outputs=tuple(renamed.get(t, t) for t in o.outputs),
                       inputs=tuple(renamed.get(t, t) for t in o.inputs)) for o in ops]
        for out, inner in renamed.items():
            ops.append(OpNode(f"cast_{out}_to_output", "Cast", (inner,), (out,),
                              {"to": _onnx_type(graph.tensors[out].dtype)}, {}, "", "fp32"))
    summary = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
    note = f"precision: {summary}" + (f"; {len(casts) + len(renamed)} cast(s) inserted" if casts or renamed else "")
    return DataflowGraph.from_ops(graph.name, ops, tensors, graph.inputs, graph.outputs,
                                  (*graph.notes, note), graph.source_path, bound_inputs=graph.bound_inputs)


def precision_report(graph: DataflowGraph) -> dict[str, str]:
    """Node name -> the precision it runs at."""
    return {op.name: op.precision for op in graph.ops()}
