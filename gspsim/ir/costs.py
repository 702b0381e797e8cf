"""What each op costs, independent of the hardware: MACs, vector operations and bytes.

The engine turns these counts into cycles with the hardware config
(:mod:`gspsim.engine.cost_model`).  The counting rules, written once here:

* **MACs** (multiply-accumulates) for the tensor-core ops: a convolution costs
  ``output elements x (C_in / group) x kernel area``; a transposed convolution
  ``input elements x (C_out / group) x kernel area``; Gemm and MatMul
  ``output elements x K``.
* **Vector ops** for everything else, as *output elements x ops per element*
  (pools use their window size, reductions their input size, Sum one op per
  added input).  Data-movement ops (transpose, concat, slice, ...) cost one
  op per element copied.
* **Views** (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout) only
  relabel a buffer: no time, no traffic.

Which rule an op follows, its ops per element and where its weight sits are
its op-table record's ``cost`` (:mod:`gspsim.optable`).
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

from ..optable import CostKind, MacRule, spec_of
from .graph import OpNode, TensorInfo, stored_nbytes

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
    rule = spec_of(op.op_type).cost
    if rule.kind is not CostKind.MACS:
        return 0
    out = tensors[next(o for o in op.outputs if o)]  # the first output the node writes
    if rule.macs is MacRule.CONV:
        w = _weight_shape(op, rule.weight_input or 1, tensors)
        return out.size * int(np.prod(w[1:]))
    if rule.macs is MacRule.CONV_TRANSPOSE:
        x = tensors[op.inputs[0]] if op.inputs[0] not in op.weights else None
        w = _weight_shape(op, rule.weight_input or 1, tensors)
        x_size = x.size if x is not None else int(op.weights[op.inputs[0]].size)
        return x_size * int(np.prod(w[1:]))
    if rule.macs is MacRule.GEMM:
        a = _weight_shape(op, 0, tensors)
        k = a[0] if op.attrs.get("transA", 0) else a[1]
        return out.size * int(k)
    if rule.macs is MacRule.EINSUM:
        return _einsum_macs(op, tensors)
    if rule.macs is MacRule.ATTENTION:
        return _attention_macs(op, tensors)
    if rule.macs is MacRule.RECURRENT:
        x, w = _weight_shape(op, 0, tensors), _weight_shape(op, 1, tensors)
        steps_and_batch = int(x[0]) * int(x[1])
        hidden = int(_weight_shape(op, 2, tensors)[-1])
        return steps_and_batch * int(w[0]) * int(w[1]) * (int(w[2]) + hidden)
    # MATMUL (MatMul, QLinearMatMul, MatMulInteger): K is A's last dim
    a = _weight_shape(op, 0, tensors)
    return out.size * int(a[-1])


def _einsum_macs(op: OpNode, tensors: Mapping[str, TensorInfo]) -> int:
    """Output elements x the extent of every summed index (the indices of no output)."""
    equation = op.attrs.get("equation", "")
    equation = (equation.decode() if isinstance(equation, bytes) else str(equation)).replace(" ", "")
    terms, arrow, result = equation.partition("->")
    extent: dict[str, int] = {}
    for term, name in zip(terms.split(","), (t for t in op.inputs if t)):
        shape = _weight_shape(op, list(op.inputs).index(name), tensors)
        head, dots, tail = term.partition("...")
        labels = list(head) + ["."] * (len(shape) - len(head) - len(tail) if dots else 0) + list(tail)
        for label, dim in zip(labels, shape):
            if label != ".":
                extent[label] = max(extent.get(label, 1), int(dim))
    if not arrow:  # implicit output: the labels that appear once
        result = "".join(sorted(c for c in extent if terms.count(c) == 1))
    summed = [extent[c] for c in extent if c not in result]
    out = tensors[op.outputs[0]]
    return out.size * int(np.prod(summed, dtype=np.int64)) if summed else out.size


def _attention_macs(op: OpNode, tensors: Mapping[str, TensorInfo]) -> int:
    """Q·Kᵀ and probabilities·V: (query elements + output elements) x key sequence length (past included)."""
    q = _weight_shape(op, 0, tensors)
    k = _weight_shape(op, 1, tensors)
    kv_len = int(k[2] if len(k) == 4 else k[1])
    if len(op.inputs) > 4 and op.inputs[4]:
        kv_len += int(_weight_shape(op, 4, tensors)[2])
    y = tensors[op.outputs[0]]
    return (int(np.prod(q, dtype=np.int64)) + y.size) * kv_len


def count_vector_ops(op: OpNode, tensors: Mapping[str, TensorInfo]) -> int:
    """Vector-unit operations of a non-MAC op (0 for MAC ops and views)."""
    rule = spec_of(op.op_type).cost
    if rule.kind in (CostKind.MACS, CostKind.VIEW):
        return 0
    out_size = sum(tensors[o].size for o in op.outputs if o)
    if rule.kind is CostKind.REDUCTION:
        x = op.activation_inputs[0] if op.activation_inputs else None
        return tensors[x].size if x else out_size
    if rule.kind is CostKind.WINDOW:
        window = op.attrs.get("kernel_shape") or [op.attrs.get("size", 1)]
        return out_size * int(np.prod(window))
    if rule.kind is CostKind.VARIADIC:
        return out_size * max(1, len(op.activation_inputs) - 1)
    return int(round(out_size * rule.ops_per_element))


def mac_weight(op: OpNode) -> "np.ndarray | None":
    """The constant weight a MAC op multiplies by (None when it is computed at run time)."""
    index = spec_of(op.op_type).cost.weight_input
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
        is_view=spec_of(op.op_type).is_view,
        **sparse,
    )
