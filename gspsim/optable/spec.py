"""One frozen record per op type: everything gspsim's stages need to know about an op.

The stages ask the record instead of keeping their own lists of op names:

* **kernels** (the kernel library): ``kernel_module`` names the module of
  ``gspsim/kernels/ops/`` that holds a built-in op's kernels; a registered op
  carries its own ``kernels``.  Which precisions have a kernel is the kernel
  registry's answer (:func:`gspsim.kernels.kernel_precisions`).
* **cost** (``gspsim/ir/costs.py``): a :class:`CostRule`: multiply-accumulates
  by a :class:`MacRule`, vector operations per output element, a reduction
  (one op per input element), a window (output elements x window size), a
  variadic fold (output elements x (inputs - 1)), or a view (free: a buffer
  relabelled).
* **tile maps** (``gspsim/lowering/maps.py``): how a band of output rows maps
  to the rows of the input it reads (:class:`RowMap`); ``elementwise`` (each
  output element reads the same position of each broadcast input, so a tile's
  channels and columns read the same channels and columns).
* **int8** (``gspsim/passes/quantize.py``, ``qdq.py``, ``precision.py``): the
  op's :class:`Int8Role` and, for ops quantization rewrites, the QLinear op
  they become (``qlinear``).
* flags read by single passes: ``fusable`` (may join its producer's epilogue: ``gspsim/passes/fuse.py``),
  ``channelwise`` (channel c in, channel c out: channel
  pruning passes through it), ``prunable`` (pruning zeroes its weight, input
  1), ``inference_identity`` (Identity, inference Dropout: removed),
  ``rearranges`` (output holds exactly the input's elements: the frontend
  checks sizes), ``foldable`` (constant folding may evaluate it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from .kernel import Kernel


class CostKind(str, Enum):
    """What an op's work is counted in (see ``gspsim/ir/costs.py`` for the formulas)."""

    MACS = "macs"
    PER_ELEMENT = "per element"
    REDUCTION = "reduction"
    WINDOW = "window"
    VARIADIC = "variadic"
    VIEW = "view"


class MacRule(str, Enum):
    """How a MAC op's multiply-accumulates follow from its shapes."""

    #: output elements x (C_in / group) x kernel area (the weight's dims after the first)
    CONV = "conv"
    #: input elements x (C_out / group) x kernel area
    CONV_TRANSPOSE = "conv transpose"
    #: output elements x K (A's inner dim, transA respected)
    GEMM = "gemm"
    #: output elements x K (A's last dim)
    MATMUL = "matmul"
    #: the product of every distinct index's extent (an einsum equation)
    EINSUM = "einsum"
    #: Q·Kᵀ and weights·V: batch x heads x (query x key x (head size + value head size))
    ATTENTION = "attention"
    #: per time step, batch and direction: gates x hidden x (input + hidden) (W·x and R·h)
    RECURRENT = "recurrent"


@dataclass(frozen=True)
class CostRule:
    """An op's hardware-independent work rule."""

    kind: CostKind
    #: vector operations per output element (PER_ELEMENT)
    ops_per_element: float = 1.0
    #: how MACs are counted (MACS)
    macs: Optional[MacRule] = None
    #: the input holding the weight a MAC op multiplies by (zero skipping, pruning, packing)
    weight_input: Optional[int] = None

    def describe(self) -> str:
        """The rule in a few words, for the docs' op table."""
        if self.kind is CostKind.MACS:
            return f"MACs ({self.macs.value if self.macs else '?'})"
        if self.kind is CostKind.PER_ELEMENT:
            n = self.ops_per_element
            return f"{int(n) if float(n).is_integer() else n} op/element"
        return {CostKind.REDUCTION: "1 op/input element", CostKind.WINDOW: "window size/element",
                CostKind.VARIADIC: "(inputs - 1) op/element", CostKind.VIEW: "free (view)"}[self.kind]


def macs(rule: MacRule, weight_input: Optional[int] = None) -> CostRule:
    return CostRule(CostKind.MACS, macs=rule, weight_input=weight_input)


def per_element(ops: float = 1.0) -> CostRule:
    return CostRule(CostKind.PER_ELEMENT, ops_per_element=ops)


REDUCTION = CostRule(CostKind.REDUCTION)
WINDOW = CostRule(CostKind.WINDOW)
VARIADIC = CostRule(CostKind.VARIADIC)
VIEW = CostRule(CostKind.VIEW)


class RowMap(str, Enum):
    """Which input rows a band of output rows reads (``gspsim/lowering/maps.py``)."""

    #: convolution and pool windows along H: stride, dilation, kernel size, padding
    WINDOW = "window"
    #: a transposed convolution: the window map inverted
    TRANSPOSED_WINDOW = "transposed window"
    #: rows scaled by the resize ratio (plus one row of margin each side)
    RESIZE = "resize"
    #: elementwise: row r reads row r of each (broadcast) input
    ROWWISE = "rowwise"
    #: rowwise, except a band along the concatenation axis reads every input whole
    CONCAT = "concat"
    #: A's rows one to one (input 0, second-to-last axis); B whole
    MATMUL_ROWS = "matmul rows"
    #: A's rows one to one (input 0, axis 0, no transA); B and C whole
    GEMM_ROWS = "gemm rows"
    #: every block reads its inputs whole
    WHOLE = "whole tensor"


class Int8Role(str, Enum):
    """What int8 quantization does with an op (``gspsim/passes/quantize.py`` and ``qdq.py``)."""

    #: a quantized op itself (QuantizeLinear, QLinear*, *Integer): always runs at int8
    INTEGER = "integer"
    #: becomes its QLinear form (``OpSpec.qlinear``), which requantizes its output
    REQUANTIZE = "requantize"
    #: moves or selects codes without arithmetic: runs on int8 codes, output keeps the input's scale
    PASS_THROUGH = "pass-through"
    #: Relu/Clip: fused into the producer's requantization, or a Clip on codes
    ACTIVATION = "activation"
    #: stays float by rule: its result depends on the whole input range or on exponentials and roots
    FLOAT = "float"
    #: no int8 lowering: stays float
    NONE = "none"


@dataclass(frozen=True)
class OpSpec:
    """Everything the pipeline knows about one op type (see the module docstring)."""

    op_type: str
    domain: str = ""
    #: module of ``gspsim/kernels/ops/`` holding the built-in kernels (None: ``kernels`` or no kernel)
    kernel_module: Optional[str] = None
    #: the op's own kernels (a registered op); built-in ops leave it empty
    kernels: tuple[Kernel, ...] = field(default=(), compare=False)
    cost: CostRule = field(default_factory=per_element)
    row_map: RowMap = RowMap.WHOLE
    int8: Int8Role = Int8Role.NONE
    #: the QLinear op quantization turns it into (REQUANTIZE ops)
    qlinear: Optional[str] = None
    #: each output element reads the same (broadcast) position of each input: channels and columns map one to one
    elementwise: bool = False
    #: may run in its producer's epilogue (``gspsim/passes/fuse.py``; needs a ``run_rows`` kernel)
    fusable: bool = False
    channelwise: bool = False
    prunable: bool = False
    inference_identity: bool = False
    rearranges: bool = False
    foldable: bool = True

    @property
    def is_view(self) -> bool:
        """Only relabels a buffer: no time, no traffic, never split into blocks."""
        return self.cost.kind is CostKind.VIEW

    @property
    def does_macs(self) -> bool:
        return self.cost.kind is CostKind.MACS


__all__ = [
    "REDUCTION", "VARIADIC", "VIEW", "WINDOW", "CostKind", "CostRule", "Int8Role", "MacRule", "OpSpec", "RowMap",
    "macs", "per_element",
]
