"""What each op costs, independent of the hardware: MACs, vector operations and bytes.

The engine turns these counts into cycles with the hardware config
(:mod:`gspsim.engine.cost_model`).  The counting rules, written once here:

* **MACs** (multiply-accumulates) for the tensor-core ops: a convolution costs
  ``output elements x (C_in / group) x kernel area``; a transposed convolution
  ``input elements x (C_out / group) x kernel area``; Gemm and MatMul
  ``output elements x K``.
* **Vector ops** for everything else, as *output elements x ops per element*
  from :data:`VECTOR_OPS_PER_ELEMENT` (pools use their window size, reductions
  their input size).  Data-movement ops (transpose, concat, slice, ...) cost one
  op per element copied.
* **Views** (Reshape, Flatten, Squeeze, Unsqueeze, Identity) only relabel a
  buffer: no time, no traffic.
* **Bytes**: activations read (inputs that are not weights), weights read, and
  outputs written, at the tensors' element sizes.
* **Fused nodes** (:mod:`gspsim.passes.fuse`): the main op's MACs; the main op's
  vector ops plus each epilogue op's, counted as if unfused; the epilogue's
  external inputs read; only the chain's final outputs written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .graph import OpNode, TensorInfo, stored_nbytes

MAC_OPS: frozenset[str] = frozenset(
    {"Conv", "ConvTranspose", "QLinearConv", "ConvInteger", "Gemm", "MatMul", "QLinearMatMul", "MatMulInteger"}
)

VIEW_OPS: frozenset[str] = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})

#: vector operations per output element, for ops that are not MAC ops (default 1)
VECTOR_OPS_PER_ELEMENT: Mapping[str, float] = {
    "Sigmoid": 4, "Tanh": 4, "Erf": 4, "Gelu": 6, "Exp": 4, "Sqrt": 4, "Pow": 4, "Reciprocal": 4,
    "HardSigmoid": 2, "HardSwish": 3, "Softmax": 5, "LayerNormalization": 8, "BatchNormalization": 2,
    "QuantizeLinear": 2, "DequantizeLinear": 2, "QLinearAdd": 3, "QLinearMul": 3,
    "QLinearSigmoid": 2, "QLinearLeakyRelu": 2, "Resize": 4,
}

#: ops whose cost scales with their *input* size (every input element is visited once)
REDUCTION_OPS: frozenset[str] = frozenset(
    {"GlobalAveragePool", "QLinearGlobalAveragePool", "ReduceMean", "ReduceSum", "ReduceMax"}
)
WINDOW_OPS: frozenset[str] = frozenset({"MaxPool", "AveragePool", "QLinearAveragePool", "LRN"})


@dataclass(frozen=True)
class OpCost:
    """Hardware-independent work of one op."""

    macs: int
    vector_ops: int
    activation_read_bytes: int
    weight_bytes: int
    write_bytes: int
    is_view: bool = False
    #: elements, zeros and stored bytes of the MAC weight (the tensor zero-skipping acts on)
    mac_weight_elems: int = 0
    mac_weight_zeros: int = 0
    mac_weight_bytes: int = 0

    @property
    def weight_zero_fraction(self) -> float:
        """Fraction of the MAC weight that is zero: the share of MACs a zero-skipping core can drop."""
        return self.mac_weight_zeros / self.mac_weight_elems if self.mac_weight_elems else 0.0

    @property
    def read_bytes(self) -> int:
        return self.activation_read_bytes + self.weight_bytes


def _weight_shape(op: OpNode, index: int, tensors: Mapping[str, TensorInfo]) -> tuple[int, ...]:
    name = op.inputs[index]
    if name in op.weights:
        return tuple(op.weights[name].shape)
    return tensors[name].shape


def count_macs(op: OpNode, tensors: Mapping[str, TensorInfo]) -> int:
    """Multiply-accumulates of a MAC op (0 for any other op)."""
    if op.op_type not in MAC_OPS:
        return 0
    out = tensors[op.outputs[0]]
    t = op.op_type
    if t in ("Conv", "ConvInteger"):
        w = _weight_shape(op, 1, tensors)
        return out.size * int(np.prod(w[1:]))
    if t == "QLinearConv":
        w = _weight_shape(op, 3, tensors)
        return out.size * int(np.prod(w[1:]))
    if t == "ConvTranspose":
        x = tensors[op.inputs[0]] if op.inputs[0] not in op.weights else None
        w = _weight_shape(op, 1, tensors)
        x_size = x.size if x is not None else int(op.weights[op.inputs[0]].size)
        return x_size * int(np.prod(w[1:]))
    if t == "Gemm":
        a = _weight_shape(op, 0, tensors)
        k = a[0] if op.attrs.get("transA", 0) else a[1]
        return out.size * int(k)
    # MatMul, QLinearMatMul, MatMulInteger: K is A's last dim
    a = _weight_shape(op, 0, tensors)
    return out.size * int(a[-1])


def count_vector_ops(op: OpNode, tensors: Mapping[str, TensorInfo]) -> int:
    """Vector-unit operations of a non-MAC op (0 for MAC ops and views)."""
    t = op.op_type
    if t in MAC_OPS or t in VIEW_OPS:
        return 0
    out_size = sum(tensors[o].size for o in op.outputs if o)
    if t in REDUCTION_OPS:
        x = op.activation_inputs[0] if op.activation_inputs else None
        return tensors[x].size if x else out_size
    if t in WINDOW_OPS:
        window = op.attrs.get("kernel_shape") or [op.attrs.get("size", 1)]
        return out_size * int(np.prod(window))
    if t == "Sum":
        return out_size * max(1, len(op.activation_inputs) - 1)
    return int(round(out_size * VECTOR_OPS_PER_ELEMENT.get(t, 1)))


#: where a MAC op's weight sits among its inputs
MAC_WEIGHT_INPUT: Mapping[str, int] = {
    "Conv": 1, "ConvTranspose": 1, "ConvInteger": 1, "Gemm": 1, "MatMul": 1, "MatMulInteger": 1,
    "QLinearConv": 3, "QLinearMatMul": 3,
}


def mac_weight(op: OpNode) -> "np.ndarray | None":
    """The constant weight a MAC op multiplies by (None when it is computed at run time)."""
    index = MAC_WEIGHT_INPUT.get(op.op_type)
    if index is None or len(op.inputs) <= index:
        return None
    w = op.weights.get(op.inputs[index])
    return w if w is not None and w.ndim >= 2 else None


def op_cost(op: OpNode, tensors: Mapping[str, TensorInfo], count_zeros: bool = True) -> OpCost:
    """Count the work and the bytes of ``op``.

    ``count_zeros=False`` leaves ``mac_weight_zeros`` at 0: counting a large weight's
    zeros is a pass over it (about 12 ms for ResNet-18), wasted on a chip that does not
    skip them.
    """
    w = mac_weight(op)
    sparse: dict[str, int] = {}
    if w is not None:
        sparse = {
            "mac_weight_elems": int(w.size),
            "mac_weight_zeros": int(w.size - np.count_nonzero(w)) if count_zeros else 0,
            "mac_weight_bytes": stored_nbytes(w, op.precision),
        }
    act = sum(tensors[t].nbytes for t in set(op.activation_inputs))
    write = sum(tensors[t].nbytes for t in op.outputs if t)
    # a fused node: the main op's work plus each epilogue op's vector ops, as if unfused; its reads
    # include the epilogue's external inputs, its writes only the chain's outputs (see OpNode)
    main = op.main_op
    return OpCost(
        macs=count_macs(main, tensors),
        vector_ops=count_vector_ops(main, tensors) + sum(count_vector_ops(e, tensors) for e in op.epilogue),
        activation_read_bytes=act,
        weight_bytes=op.weight_bytes,
        write_bytes=write,
        is_view=op.op_type in VIEW_OPS,
        **sparse,
    )
