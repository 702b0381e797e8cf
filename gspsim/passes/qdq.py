"""Quantized models as they come: QDQ patterns fused into QLinear ops, QOperator leftovers made runnable.

``onnxruntime.quantization.quantize_static(..., quant_format=QuantFormat.QDQ)``
writes float ops wrapped in DequantizeLinear (inputs, and int8 weights stored as
initializers) and QuantizeLinear (output).  :func:`fuse_qdq` turns each
``DQ -> op -> Q`` unit into the QLinear op that computes it in integers, as
onnxruntime's own graph optimizer does with its default session options:

* Conv -> QLinearConv (the int32 bias initializer is used as is), MatMul ->
  QLinearMatMul, Gemm -> a 1x1 QLinearConv between Reshapes (exactly
  onnxruntime's QGemm arithmetic, int32 bias included), Add / Mul ->
  QLinearAdd / QLinearMul, AveragePool, GlobalAveragePool, Sigmoid, LeakyRelu ->
  their QLinear forms, Concat -> QLinearConcat;
* ops that only move or select values (Reshape, Transpose, MaxPool, nearest
  Resize, ...) and Relu/Clip, between a DQ and a Q with the *same* scale and
  zero point, run directly on the codes (``Q(op(DQ(x))) == op(x)`` there);
* everything else (ReduceMean, Softmax, LayerNormalization, ...) stays float
  between its DQ and Q, as in onnxruntime.

Unlike onnxruntime on x86, units with int8 (not uint8) activations are fused
too: the simulated chip computes int8 x int8 natively, while onnxruntime runs
those Convs in float between DQ and Q; the results differ by at most one code
where a value sits on a rounding boundary.

QOperator models (``QuantFormat.QOperator``) already hold QLinear ops; the two
without a kernel here are rewritten: com.microsoft QGemm becomes the 1x1
QLinearConv form above, QLinearSoftmax a float Softmax between DQ and Q.
The frontend gives com.microsoft ops the output shapes ONNX shape inference
does not know (:mod:`gspsim.frontend.contrib_shapes`), so ``gspsim.load_model``
loads either kind of file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence

import numpy as np

from ..ir.graph import DataflowGraph, OpNode
from ..optable import Int8Role, spec_of
from .quantize import MS_DOMAIN, GraphBuilder, gemm_as_conv, node_precisions, quantize_bias



def _on_codes(op_type: str) -> bool:
    """Ops that only move or select values (int8 role pass-through) and Relu/Clip (role activation):
    DQ -> op -> Q with one scale is the op on codes.  Split is left out: its outputs each have their
    own Q, and a fusion here rewrites one."""
    return spec_of(op_type).int8 in (Int8Role.PASS_THROUGH, Int8Role.ACTIVATION) and op_type != "Split"


def _unary(op_type: str) -> bool:
    """Requantizing ops whose QLinear form (op table) takes (X, x_scale, x_zp, y_scale, y_zp): every one
    without a fusion of its own.  ReduceMean stays float, as in onnxruntime: its QLinear form
    (QLinearGlobalAveragePool) holds only for a mean over H and W."""
    return spec_of(op_type).int8 is Int8Role.REQUANTIZE and op_type != "ReduceMean"


@dataclass(frozen=True)
class _Dq:
    """A DequantizeLinear feeding the op being fused: its codes (tensor or constant) and parameters."""

    codes: str
    scale: str
    zero_point: str
    axis: int
    node: OpNode

    def per_tensor(self, b: GraphBuilder) -> bool:
        return b.consts[self.scale].size == 1

    def const_codes(self, b: GraphBuilder) -> Optional[np.ndarray]:
        return b.consts.get(self.codes)


class _Fuser:
    """One fuse_qdq call: finds DQ -> op -> Q units and emits their integer forms."""

    def __init__(self, graph: DataflowGraph) -> None:
        self.g = graph
        self.b = GraphBuilder(graph)
        self.producer: dict[str, OpNode] = {}
        self.consumers: dict[str, list[OpNode]] = {}
        for op in graph.ops():
            for t in op.outputs:
                if t:
                    self.producer[t] = op
            for t in dict.fromkeys(op.activation_inputs):
                self.consumers.setdefault(t, []).append(op)
        self.absorbed: set[str] = set()  # QuantizeLinear nodes whose output a fused op now writes
        self.fused: Counter[str] = Counter()

    # -- matching ------------------------------------------------------------------------
    def dq(self, op: OpNode, t: str) -> Optional[_Dq]:
        """The DequantizeLinear that writes input ``t`` of ``op``, with constant parameters."""
        p = self.producer.get(t)
        if p is None or p.op_type != "DequantizeLinear" or len(p.inputs) < 2:
            return None
        scale, zp = p.inputs[1], p.inputs[2] if len(p.inputs) > 2 else ""
        if scale not in self.b.consts or (zp and zp not in self.b.consts):
            return None
        if not zp:  # a missing zero point is 0 of the codes' type
            codes_dtype = self.b.tensors[p.inputs[0]].dtype
            zp = self.b.const(f"{p.name}.zero_point", np.zeros(self.b.consts[scale].shape, codes_dtype))
        return _Dq(p.inputs[0], scale, zp, int(p.attrs.get("axis", 1)), p)

    def q_after(self, op: OpNode) -> Optional[OpNode]:
        """The single per-tensor QuantizeLinear that alone reads ``op``'s single output."""
        outs = [t for t in op.outputs if t]
        if len(outs) != 1 or outs[0] in self.g.outputs:
            return None
        readers = self.consumers.get(outs[0], [])
        if len(readers) != 1 or readers[0].op_type != "QuantizeLinear":
            return None
        q = readers[0]
        if len(q.inputs) < 3 or q.inputs[1] not in self.b.consts or q.inputs[2] not in self.b.consts:
            return None
        if self.b.consts[q.inputs[1]].size != 1 or int(q.attrs.get("block_size", 0)):
            return None
        return q

    def act_dqs(self, op: OpNode, names: Sequence[str]) -> Optional[list[_Dq]]:
        """Per-tensor DQs of activations (codes computed at run time) for every name, else None."""
        found = [self.dq(op, t) for t in names]
        if any(d is None or not d.per_tensor(self.b) or d.const_codes(self.b) is not None for d in found):
            return None
        return found  # type: ignore[return-value]

    # -- fusions -------------------------------------------------------------------------
    def conv(self, op: OpNode, q: OpNode) -> bool:
        x = self.act_dqs(op, op.inputs[:1])
        w = self.dq(op, op.inputs[1])
        if x is None or w is None or w.const_codes(self.b) is None or (not w.per_tensor(self.b) and w.axis != 0):
            return False
        usable, bias = self.bias(op, 2, x[0], w)
        if not usable:
            return False
        ins = [x[0].codes, x[0].scale, x[0].zero_point, w.codes, w.scale, w.zero_point, q.inputs[1], q.inputs[2]]
        if bias is not None:
            ins.append(bias)
        self.b.emit(op.name, "QLinearConv", ins, [q.outputs[0]], op.attrs)
        return True

    def bias(self, op: OpNode, index: int, x: _Dq, w: _Dq) -> tuple[bool, Optional[str]]:
        """(usable, int32 bias input): a DQ'd int32 initializer as is, a float constant quantized, or none."""
        name = op.inputs[index] if len(op.inputs) > index else ""
        if not name:
            return True, None
        d = self.dq(op, name)
        codes = None if d is None else d.const_codes(self.b)
        if codes is not None and codes.dtype == np.int32:
            return True, d.codes  # type: ignore[union-attr]
        if name in op.weights:
            value = quantize_bias(op.weights[name], self.b.consts[x.scale].reshape(()), self.b.consts[w.scale])
            return True, self.b.const(f"{op.name}.bias_q", value)
        return False, None

    def matmul(self, op: OpNode, q: OpNode) -> bool:
        a = self.act_dqs(op, op.inputs[:1])
        b = self.dq(op, op.inputs[1])
        if a is None or b is None:
            return False
        codes = b.const_codes(self.b)
        if not b.per_tensor(self.b) and (codes is None or codes.ndim != 2 or b.axis % 2 != 1):
            return False
        ins = [a[0].codes, a[0].scale, a[0].zero_point, b.codes, b.scale, b.zero_point, q.inputs[1], q.inputs[2]]
        self.b.emit(op.name, "QLinearMatMul", ins, [q.outputs[0]])
        return True

    def gemm(self, op: OpNode, q: OpNode) -> bool:
        a = self.act_dqs(op, op.inputs[:1])
        w = self.dq(op, op.inputs[1])
        if a is None or w is None or w.const_codes(self.b) is None or int(op.attrs.get("transA", 0)):
            return False
        has_c = len(op.inputs) > 2 and bool(op.inputs[2])
        if has_c and float(op.attrs.get("beta", 1.0)) != 1.0:
            return False
        trans_b = int(op.attrs.get("transB", 0))
        codes = w.const_codes(self.b)
        if not w.per_tensor(self.b) and w.axis % 2 != (0 if trans_b else 1):
            return False
        m = codes.shape[0] if trans_b else codes.shape[1]
        usable, bias = self.bias(op, 2, a[0], w)
        if not usable or (bias is not None and self.b.consts[bias].size not in (1, m)):
            return False
        bias_q = None if bias is None else np.broadcast_to(self.b.consts[bias].reshape(-1), (m,)).astype(np.int32)
        self.emit_qgemm(op.name, a[0].codes, (a[0].scale, a[0].zero_point), float(op.attrs.get("alpha", 1.0)),
                        codes if trans_b else codes.T, (w.scale, w.zero_point), bias_q,
                        (q.inputs[1], q.inputs[2]), q.outputs[0])
        return True

    def emit_qgemm(self, name: str, a_q: str, a_params: tuple[str, str], alpha: float, w_q: np.ndarray,
                   w_params: tuple[str, str], bias_q: Optional[np.ndarray], y_params: tuple[str, str],
                   y_q: str) -> None:
        """QGemm arithmetic: scale ``(alpha * a_scale * w_scale) / y_scale``; alpha is folded into a_scale."""
        a_scale = a_params[0]
        if alpha != 1.0:
            folded = (np.float32(alpha) * self.b.consts[a_scale].astype(np.float32)).astype(np.float32)
            a_scale = self.b.const(f"{name}.alpha_a_scale", folded)
        w_scale = np.asarray(self.b.consts[w_params[0]], np.float32).reshape(-1)
        w_zp = np.asarray(self.b.consts[w_params[1]]).reshape(-1)
        gemm_as_conv(self.b, name, a_q, self.b.tensors[a_q].shape, (a_scale, a_params[1]),
                     np.ascontiguousarray(w_q), (w_scale, w_zp), bias_q, y_params, y_q,
                     np.dtype(self.b.tensors[y_q].dtype))

    def binary(self, op: OpNode, q: OpNode) -> bool:
        found = [self.dq(op, t) for t in op.inputs[:2]]
        if any(d is None or not d.per_tensor(self.b) for d in found):
            return False
        kind = spec_of(op.op_type).qlinear  # QLinearAdd / QLinearMul
        self.b.emit(op.name, kind, [*_triples(found), q.inputs[1], q.inputs[2]], [q.outputs[0]], domain=MS_DOMAIN)
        return True

    def unary(self, op: OpNode, q: OpNode) -> bool:
        x = self.act_dqs(op, op.inputs[:1])
        if x is None or (op.op_type == "AveragePool" and any(int(d) != 1 for d in op.attrs.get("dilations", []))):
            return False
        attrs = {k: v for k, v in op.attrs.items() if k != "dilations"}  # checked to be 1 above
        if op.op_type in ("AveragePool", "GlobalAveragePool"):
            attrs["channels_last"] = 0
        ins = [x[0].codes, x[0].scale, x[0].zero_point, q.inputs[1], q.inputs[2]]
        self.b.emit(op.name, spec_of(op.op_type).qlinear, ins, [q.outputs[0]], attrs, domain=MS_DOMAIN)
        return True

    def concat(self, op: OpNode, q: OpNode) -> bool:
        found = [self.dq(op, t) for t in op.inputs if t]
        if any(d is None or not d.per_tensor(self.b) for d in found):
            return False
        ins = [q.inputs[1], q.inputs[2], *_triples(found)]
        self.b.emit(op.name, "QLinearConcat", ins, [q.outputs[0]], {"axis": int(op.attrs.get("axis", 0))},
                    domain=MS_DOMAIN)
        return True

    def same_params(self, d: _Dq, q: OpNode) -> bool:
        """Whether the DQ before and the Q after an op use one scale and zero point (and code type)."""
        zq, zd = self.b.consts[q.inputs[2]], self.b.consts[d.zero_point]
        sq, sd = self.b.consts[q.inputs[1]], self.b.consts[d.scale]
        return zq.dtype == zd.dtype and int(zq.reshape(-1)[0]) == int(zd.reshape(-1)[0]) \
            and np.float32(sq.reshape(-1)[0]) == np.float32(sd.reshape(-1)[0])

    def code_of(self, value: float, d: _Dq) -> np.ndarray:
        zp = self.b.consts[d.zero_point]
        info = np.iinfo(zp.dtype)
        scale = np.float32(self.b.consts[d.scale].reshape(-1)[0])
        code = np.clip(np.rint(np.float32(value) / scale) + int(zp.reshape(-1)[0]), info.min, info.max)
        return np.array(code, zp.dtype)

    def on_codes(self, op: OpNode, q: OpNode) -> bool:
        """Pass-through ops and Relu/Clip between a DQ and a Q of the same parameters."""
        x = self.act_dqs(op, op.inputs[:1])
        if x is None or not self.same_params(x[0], q):
            return False
        if op.op_type == "Resize" and (op.attrs.get("mode", b"nearest") not in (b"nearest", "nearest")):
            return False
        ins = [x[0].codes, *op.inputs[1:]]
        if op.op_type == "Pad" and op.attrs.get("mode", b"constant") in (b"constant", "constant"):
            value = 0.0
            if len(op.inputs) > 2 and op.inputs[2]:
                if op.inputs[2] not in op.weights:
                    return False
                value = float(op.weights[op.inputs[2]].reshape(-1)[0])
            ins = (ins + [""] * 3)[:max(3, len(ins))]
            ins[2] = self.b.const(f"{op.name}.pad_value_q", self.code_of(value, x[0]))
        if spec_of(op.op_type).int8 is Int8Role.ACTIVATION:  # Relu, Clip
            bounds = [0.0, None] if op.op_type == "Relu" else [None, None]
            for i in (1, 2):
                if op.op_type == "Clip" and len(op.inputs) > i and op.inputs[i]:
                    if op.inputs[i] not in op.weights:
                        return False
                    bounds[i - 1] = float(op.weights[op.inputs[i]].reshape(-1)[0])
            ins = [x[0].codes]
            for i, v in enumerate(bounds):
                ins.append("" if v is None else self.b.const(f"{op.name}.{'min' if i == 0 else 'max'}_q",
                                                             self.code_of(v, x[0])))
            while ins and not ins[-1]:
                ins.pop()
            self.b.emit(op.name, "Clip", ins, [q.outputs[0]])
            return True
        self.b.emit(op.name, op.op_type, ins, [q.outputs[0]], op.attrs, op.domain)
        return True

    # -- QOperator ops without a kernel ----------------------------------------------------
    def qgemm(self, op: OpNode) -> None:
        """com.microsoft QGemm: A, a_scale, a_zp, B, b_scale, b_zp, C (int32), y_scale, y_zp."""
        ins = list(op.inputs) + [""] * (9 - len(op.inputs))
        if int(op.attrs.get("transA", 0)) or ins[3] not in self.b.consts:
            raise NotImplementedError(f"QGemm '{op.name}': transA or a non-constant B is not supported")
        codes = self.b.consts[ins[3]]
        w_q = codes if int(op.attrs.get("transB", 0)) else codes.T
        m = w_q.shape[0]
        bias_q = None
        if ins[6]:
            bias_q = np.broadcast_to(self.b.consts[ins[6]].reshape(-1), (m,)).astype(np.int32)
        alpha = float(op.attrs.get("alpha", 1.0))
        if ins[7]:
            self.emit_qgemm(op.name, ins[0], (ins[1], ins[2]), alpha, w_q, (ins[4], ins[5]), bias_q,
                            (ins[7], ins[8]), op.outputs[0])
            return
        # float output: float(acc + C) * (alpha * a_scale * b_scale), as int32 sums dequantized
        y = op.outputs[0]
        acc = self.b.tensor(f"{y}.acc", self.b.tensors[y].shape, np.int32)
        self.b.emit(op.name, "MatMulInteger", [ins[0], self.b.const(f"{op.name}.b_t", np.ascontiguousarray(w_q.T)),
                                               ins[2], ins[5]], [acc])
        scale = (np.float32(alpha) * self.b.consts[ins[1]].astype(np.float32).reshape(()) *
                 np.broadcast_to(self.b.consts[ins[4]].astype(np.float32).reshape(-1), (m,))).astype(np.float32)
        s = self.b.const(f"{op.name}.acc_scale", scale)
        if bias_q is None:
            self.b.emit(self.b.unique(f"{op.name}.dequantize"), "DequantizeLinear", [acc, s], [y], {"axis": 1})
            return
        no_bias = self.b.tensor(f"{y}.no_bias", self.b.tensors[y].shape, np.float32)
        self.b.emit(self.b.unique(f"{op.name}.dequantize"), "DequantizeLinear", [acc, s], [no_bias], {"axis": 1})
        bias = self.b.const(f"{op.name}.bias_f", (bias_q.astype(np.float32) * scale).astype(np.float32))
        self.b.emit(self.b.unique(f"{op.name}.bias"), "Add", [no_bias, bias], [y], precision="fp32")

    def qlinear_softmax(self, op: OpNode) -> None:
        """com.microsoft QLinearSoftmax as DequantizeLinear -> Softmax -> QuantizeLinear."""
        x, xs, xz, ys, yz = (list(op.inputs) + [""] * 5)[:5]
        axis = int(op.attrs.get("axis", -1))
        rank = len(self.b.tensors[x].shape)
        if int(op.attrs.get("opset", 13)) < 13 and axis % rank != rank - 1:
            raise NotImplementedError(f"QLinearSoftmax '{op.name}': opset < 13 softmax on a middle axis")
        y = op.outputs[0]
        xf = self.b.tensor(f"{x}.float", self.b.tensors[x].shape, np.float32)
        yf = self.b.tensor(f"{y}.float", self.b.tensors[y].shape, np.float32)
        self.b.emit(self.b.unique(f"{op.name}.dequantize"), "DequantizeLinear", [x, xs, xz], [xf])
        self.b.emit(op.name, "Softmax", [xf], [yf], {"axis": axis}, precision="fp32")
        self.b.emit(self.b.unique(f"{op.name}.quantize"), "QuantizeLinear", [yf, ys, yz], [y])

    # -- driver ------------------------------------------------------------------------------
    def run(self) -> DataflowGraph:
        fusions: dict[str, Callable[[OpNode, OpNode], bool]] = {
            "Conv": self.conv, "MatMul": self.matmul, "Gemm": self.gemm, "Add": self.binary, "Mul": self.binary,
            "Concat": self.concat,
        }
        rewrites: dict[str, Callable[[OpNode], None]] = {"QGemm": self.qgemm, "QLinearSoftmax": self.qlinear_softmax}
        for op in self.g.ops():
            if op.name in self.absorbed:
                continue
            if op.op_type in rewrites and op.domain == MS_DOMAIN:
                rewrites[op.op_type](op)
                self.fused[op.op_type] += 1
                continue
            fusion = self.on_codes if _on_codes(op.op_type) else fusions.get(
                op.op_type, self.unary if _unary(op.op_type) else None)
            q = self.q_after(op) if fusion is not None and op.domain == "" else None
            if q is not None and fusion(op, q):
                self.absorbed.add(q.name)
                self.fused[op.op_type] += 1
                continue
            self.b.keep(op)
        self.b.ops = _drop_dead_qdq(self.b.ops, set(self.g.outputs))
        note = ", ".join(f"{k} x{v}" for k, v in sorted(self.fused.items()))
        return self.b.build([f"QDQ fused into integer ops: {note}"] if note else [])


def _triples(found: Sequence[Optional[_Dq]]) -> list[str]:
    """(codes, scale, zero point) of each DQ, flattened: the QLinear ops' input order."""
    return [v for d in found if d is not None for v in (d.codes, d.scale, d.zero_point)]


def _drop_dead_qdq(ops: list[OpNode], outputs: set[str]) -> list[OpNode]:
    """Remove DequantizeLinear / QuantizeLinear nodes whose results nothing reads any more."""
    while True:
        read = {t for op in ops for t in op.inputs if t} | outputs
        keep = [op for op in ops if op.op_type not in ("DequantizeLinear", "QuantizeLinear")
                or any(t in read for t in op.outputs if t)]
        if len(keep) == len(ops):
            return ops
        ops = keep


def _with_precisions(graph: DataflowGraph) -> DataflowGraph:
    """Tag every op int8 or float (keeping a float op's own precision) so it runs as it is."""
    precisions = node_precisions(graph)
    ops = [op if precisions[op.name] == "float" or op.precision == "int8" else replace(op, precision="int8")
           for op in graph.ops()]
    return DataflowGraph.from_ops(graph.name, ops, graph.tensors, graph.inputs, graph.outputs, graph.notes,
                                  graph.source_path, bound_inputs=graph.bound_inputs)


def fuse_qdq(graph: DataflowGraph) -> DataflowGraph:
    """QDQ units fused into QLinear ops, and QGemm / QLinearSoftmax rewritten (see the module docstring).

    Every op of the result is tagged with the precision it runs at ("int8" for
    quantized ops and ops on int8/uint8 codes); a graph with nothing to fuse
    comes back with only that tagging.
    """
    return _with_precisions(_Fuser(graph).run())


__all__ = ["fuse_qdq"]
