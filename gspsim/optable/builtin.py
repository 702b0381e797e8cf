"""The built-in op table: one record per op type gspsim knows (see ``spec.py`` for the fields).

Grouped by family, in the order of ``gspsim/kernels/ops/``.  An op listed here
without a ``kernel_module`` has no kernel: a model using it is refused with
every such node named (``gspsim/lowering/tasks.py``), but the record still
says how the op would be costed and quantized.
"""

from __future__ import annotations

from .spec import (
    REDUCTION,
    VARIADIC,
    VIEW,
    WINDOW,
    Int8Role,
    MacRule,
    OpSpec,
    RowMap,
    macs,
    per_element,
)

MS = "com.microsoft"
I = Int8Role  # noqa: E741  (short alias: the table below reads as a table)
R = RowMap


def _conv() -> tuple[OpSpec, ...]:
    return (
        OpSpec("Conv", kernel_module="conv", cost=macs(MacRule.CONV, 1), row_map=R.WINDOW,
               int8=I.REQUANTIZE, qlinear="QLinearConv", prunable=True),
        OpSpec("ConvTranspose", kernel_module="conv", cost=macs(MacRule.CONV_TRANSPOSE, 1),
               row_map=R.TRANSPOSED_WINDOW, int8=I.FLOAT),
        OpSpec("ConvInteger", kernel_module="conv", cost=macs(MacRule.CONV, 1), row_map=R.WINDOW, int8=I.INTEGER),
        OpSpec("QLinearConv", kernel_module="conv", cost=macs(MacRule.CONV, 3), row_map=R.WINDOW, int8=I.INTEGER),
        OpSpec("CausalConvWithState", kernel_module="conv", cost=macs(MacRule.CONV, 1), int8=I.FLOAT),
        OpSpec("Col2Im", kernel_module="conv", int8=I.FLOAT),
        # its MACs as a convolution's (the bilinear sampling of each tap is not counted)
        OpSpec("DeformConv", kernel_module="conv", cost=macs(MacRule.CONV, 1), int8=I.FLOAT),
    )


def _pool() -> tuple[OpSpec, ...]:
    return (
        OpSpec("MaxPool", kernel_module="pool", cost=WINDOW, row_map=R.WINDOW, int8=I.PASS_THROUGH,
               channelwise=True),
        OpSpec("AveragePool", kernel_module="pool", cost=WINDOW, row_map=R.WINDOW, int8=I.REQUANTIZE,
               qlinear="QLinearAveragePool", channelwise=True),
        OpSpec("QLinearAveragePool", MS, kernel_module="pool", cost=WINDOW, row_map=R.WINDOW, int8=I.INTEGER),
        OpSpec("GlobalAveragePool", kernel_module="pool", cost=REDUCTION, int8=I.REQUANTIZE,
               qlinear="QLinearGlobalAveragePool"),
        OpSpec("QLinearGlobalAveragePool", MS, kernel_module="pool", cost=REDUCTION, int8=I.INTEGER),
        OpSpec("LpPool", kernel_module="pool", cost=WINDOW, row_map=R.WINDOW, int8=I.FLOAT, channelwise=True),
        OpSpec("GlobalMaxPool", kernel_module="pool", cost=REDUCTION, int8=I.PASS_THROUGH),
        OpSpec("GlobalLpPool", kernel_module="pool", cost=REDUCTION, int8=I.FLOAT),
        OpSpec("MaxUnpool", kernel_module="pool", int8=I.PASS_THROUGH),
    )


def _matmul() -> tuple[OpSpec, ...]:
    return (
        # int8: a 1x1 QLinearConv between two Reshapes (onnxruntime's QGemm arithmetic, int32 bias)
        OpSpec("Gemm", kernel_module="matmul", cost=macs(MacRule.GEMM, 1), row_map=R.GEMM_ROWS,
               int8=I.REQUANTIZE, qlinear="QLinearConv", prunable=True),
        OpSpec("MatMul", kernel_module="matmul", cost=macs(MacRule.MATMUL, 1), row_map=R.MATMUL_ROWS,
               int8=I.REQUANTIZE, qlinear="QLinearMatMul", prunable=True),
        OpSpec("MatMulInteger", kernel_module="matmul", cost=macs(MacRule.MATMUL, 1), row_map=R.MATMUL_ROWS,
               int8=I.INTEGER),
        OpSpec("QLinearMatMul", kernel_module="matmul", cost=macs(MacRule.MATMUL, 3), row_map=R.MATMUL_ROWS,
               int8=I.INTEGER),
        OpSpec("Einsum", kernel_module="matmul", cost=macs(MacRule.EINSUM)),
        OpSpec("Det", kernel_module="matmul", cost=per_element(1), int8=I.FLOAT),
    )


def _attention() -> tuple[OpSpec, ...]:
    return (
        *(OpSpec(op, kernel_module="recurrent", cost=macs(MacRule.RECURRENT, 1), int8=I.FLOAT)
          for op in ("RNN", "GRU", "LSTM")),
        OpSpec("Attention", kernel_module="attention", cost=macs(MacRule.ATTENTION), int8=I.FLOAT),
        OpSpec("LinearAttention", kernel_module="attention", cost=per_element(8), int8=I.FLOAT),
        OpSpec("RotaryEmbedding", kernel_module="attention", cost=per_element(3), int8=I.FLOAT),
    )


def _elementwise() -> tuple[OpSpec, ...]:
    def ew(op: str, ops: float = 1.0, int8: Int8Role = I.NONE, **flags: object) -> OpSpec:
        flags.setdefault("elementwise", True)
        return OpSpec(op, kernel_module="elementwise", cost=per_element(ops), row_map=R.ROWWISE, int8=int8,
                      **flags)  # type: ignore[arg-type]

    return (
        ew("Add", int8=I.REQUANTIZE, qlinear="QLinearAdd", channelwise=True, fusable=True),
        ew("Sub", int8=I.FLOAT, channelwise=True, fusable=True),
        ew("Mul", int8=I.REQUANTIZE, qlinear="QLinearMul", channelwise=True, fusable=True),
        ew("Div", int8=I.FLOAT, channelwise=True, fusable=True),
        ew("Pow", 4, int8=I.FLOAT, channelwise=True),
        ew("Max", fusable=True),
        ew("Min", fusable=True),
        OpSpec("Sum", kernel_module="elementwise", cost=VARIADIC, row_map=R.ROWWISE, elementwise=True),
        ew("Relu", int8=I.ACTIVATION, channelwise=True, fusable=True),
        ew("Clip", int8=I.ACTIVATION, channelwise=True, fusable=True),
        ew("LeakyRelu", int8=I.REQUANTIZE, qlinear="QLinearLeakyRelu", channelwise=True, fusable=True),
        ew("Sigmoid", 4, int8=I.REQUANTIZE, qlinear="QLinearSigmoid", channelwise=True, fusable=True),
        ew("Tanh", 4, int8=I.FLOAT, channelwise=True, fusable=True),
        ew("Erf", 4, int8=I.FLOAT, channelwise=True, fusable=True),
        ew("Gelu", 6, int8=I.FLOAT, channelwise=True, fusable=True),
        ew("HardSigmoid", 2, int8=I.FLOAT, channelwise=True, fusable=True),
        ew("HardSwish", 3, int8=I.FLOAT, channelwise=True, fusable=True),
        ew("Sqrt", 4, int8=I.FLOAT, channelwise=True),
        ew("Exp", 4, int8=I.FLOAT, channelwise=True),
        ew("Neg", channelwise=True),
        ew("Reciprocal", 4, int8=I.FLOAT),
        ew("Abs", channelwise=True),
        ew("QLinearAdd", 3, int8=I.INTEGER, domain=MS, fusable=True),
        ew("QLinearMul", 3, int8=I.INTEGER, domain=MS, fusable=True),
        ew("QLinearSigmoid", 2, int8=I.INTEGER, domain=MS, fusable=True),
        ew("QLinearLeakyRelu", 2, int8=I.INTEGER, domain=MS, fusable=True),
        ew("Elu", 4, int8=I.FLOAT, channelwise=True),
        ew("Selu", 5, int8=I.FLOAT, channelwise=True),
        ew("Celu", 5, int8=I.FLOAT, channelwise=True),
        ew("Softplus", 4, int8=I.FLOAT, channelwise=True),
        ew("Softsign", 2, int8=I.FLOAT, channelwise=True),
        ew("Mish", 8, int8=I.FLOAT, channelwise=True),
        ew("Swish", 5, int8=I.FLOAT, channelwise=True),
        ew("SwiGLU", 6, int8=I.FLOAT, elementwise=False),  # output's last axis is half the input's
        ew("ThresholdedRelu", channelwise=True),
        ew("PRelu", 2),
        ew("Shrink", 2, channelwise=True),
        ew("Log", 4, int8=I.FLOAT, channelwise=True),
        *(ew(op, 4, int8=I.FLOAT, channelwise=True) for op in (
            "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh")),
        *(ew(op, channelwise=True) for op in ("Sign", "Floor", "Ceil", "Round")),
        ew("Mod", 2),
        OpSpec("Mean", kernel_module="elementwise", cost=VARIADIC, row_map=R.ROWWISE, elementwise=True),
        *(ew(op) for op in ("BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot")),
    )


def _normalization() -> tuple[OpSpec, ...]:
    return (
        OpSpec("BatchNormalization", kernel_module="normalization", cost=per_element(2), row_map=R.ROWWISE,
               elementwise=True, fusable=True, int8=I.FLOAT),
        OpSpec("LayerNormalization", kernel_module="normalization", cost=per_element(8), int8=I.FLOAT),
        OpSpec("Softmax", kernel_module="normalization", cost=per_element(5), int8=I.FLOAT),
        OpSpec("LRN", kernel_module="normalization", cost=WINDOW, row_map=R.ROWWISE, int8=I.FLOAT),
        # int8: QLinearGlobalAveragePool, for a mean over H and W of an NCHW tensor only
        OpSpec("ReduceMean", kernel_module="normalization", cost=REDUCTION, int8=I.REQUANTIZE,
               qlinear="QLinearGlobalAveragePool"),
        OpSpec("ReduceSum", kernel_module="normalization", cost=REDUCTION, int8=I.FLOAT),
        OpSpec("ReduceMax", kernel_module="normalization", cost=REDUCTION, int8=I.FLOAT),
        OpSpec("ReduceMin", kernel_module="normalization", cost=REDUCTION, int8=I.FLOAT),
        *(OpSpec(op, kernel_module="normalization", cost=REDUCTION, int8=I.FLOAT) for op in (
            "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")),
        OpSpec("ArgMax", kernel_module="normalization", cost=REDUCTION),
        OpSpec("ArgMin", kernel_module="normalization", cost=REDUCTION),
        OpSpec("LogSoftmax", kernel_module="normalization", cost=per_element(5), int8=I.FLOAT),
        OpSpec("Hardmax", kernel_module="normalization", cost=per_element(2), int8=I.FLOAT),
        OpSpec("LpNormalization", kernel_module="normalization", cost=per_element(3), int8=I.FLOAT),
        OpSpec("RMSNormalization", kernel_module="normalization", cost=per_element(5), int8=I.FLOAT),
        OpSpec("InstanceNormalization", kernel_module="normalization", cost=per_element(8), int8=I.FLOAT),
        OpSpec("GroupNormalization", kernel_module="normalization", cost=per_element(8), int8=I.FLOAT),
    )


def _quantize() -> tuple[OpSpec, ...]:
    return (
        OpSpec("QuantizeLinear", kernel_module="quantize", cost=per_element(2), row_map=R.ROWWISE,
               elementwise=True, fusable=True, int8=I.INTEGER, foldable=False),
        OpSpec("DequantizeLinear", kernel_module="quantize", cost=per_element(2), row_map=R.ROWWISE,
               elementwise=True, fusable=True, int8=I.INTEGER, foldable=False),
        OpSpec("DynamicQuantizeLinear", kernel_module="quantize", int8=I.INTEGER),
        OpSpec("QLinearConcat", MS, kernel_module="quantize", row_map=R.CONCAT, int8=I.INTEGER),
        # no kernels: gspsim.passes.qdq rewrites them (DequantizeLinear -> Softmax -> QuantizeLinear; a 1x1
        # QLinearConv between Reshapes, or MatMulInteger -> DequantizeLinear for a float output)
        OpSpec("QLinearSoftmax", MS, int8=I.INTEGER),
        OpSpec("QGemm", MS, int8=I.INTEGER),
    )


def _layout() -> tuple[OpSpec, ...]:
    def lay(op: str, **fields: object) -> OpSpec:
        return OpSpec(op, kernel_module="layout", **fields)  # type: ignore[arg-type]

    return (
        lay("Reshape", cost=VIEW, int8=I.PASS_THROUGH, rearranges=True),
        lay("Flatten", cost=VIEW, int8=I.PASS_THROUGH, rearranges=True),
        lay("Squeeze", cost=VIEW, int8=I.PASS_THROUGH, rearranges=True),
        lay("Unsqueeze", cost=VIEW, int8=I.PASS_THROUGH, rearranges=True),
        lay("Identity", cost=VIEW, int8=I.PASS_THROUGH, rearranges=True, inference_identity=True, channelwise=True),
        lay("Dropout", cost=VIEW, int8=I.PASS_THROUGH, inference_identity=True),
        lay("Transpose", int8=I.PASS_THROUGH, rearranges=True),
        lay("Slice", int8=I.PASS_THROUGH),
        lay("Split", int8=I.PASS_THROUGH),
        lay("Expand", int8=I.PASS_THROUGH),
        lay("Tile", int8=I.PASS_THROUGH),
        lay("Gather", int8=I.PASS_THROUGH),
        lay("Pad", int8=I.PASS_THROUGH),
        lay("Concat", row_map=R.CONCAT, int8=I.REQUANTIZE, qlinear="QLinearConcat"),
        lay("Cast", row_map=R.ROWWISE, elementwise=True, fusable=True),
        lay("CastLike", row_map=R.ROWWISE, elementwise=True),
        *(lay(op, row_map=R.ROWWISE, elementwise=True) for op in (
            "Where", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Not", "IsNaN",
            "IsInf")),
        lay("Shape"),
        lay("Size"),
        *(lay(op, int8=I.PASS_THROUGH) for op in (
            "GatherElements", "GatherND", "Compress", "ReverseSequence", "DepthToSpace", "SpaceToDepth",
            "CenterCropPad")),
        *(lay(op) for op in ("ScatterElements", "ScatterND", "TensorScatter", "TopK", "NonZero", "Trilu",
                             "EyeLike", "BitCast")),
        lay("OneHot"),
        *(lay(op) for op in ("HannWindow", "HammingWindow", "BlackmanWindow")),
        lay("NonMaxSuppression"),
        lay("CumSum", cost=per_element(1)),
        lay("CumProd", cost=per_element(1)),
        lay("Range"),
        lay("ConstantOfShape"),
        lay("Constant"),  # folded into weights, except where it writes a graph output
    )


def _resize() -> tuple[OpSpec, ...]:
    return (OpSpec("Resize", kernel_module="resize", cost=per_element(4), row_map=R.RESIZE, int8=I.PASS_THROUGH),)


def _sampling() -> tuple[OpSpec, ...]:
    return (
        OpSpec("GridSample", kernel_module="sampling", cost=per_element(8), int8=I.FLOAT),
        OpSpec("AffineGrid", kernel_module="sampling", cost=per_element(6), int8=I.FLOAT),
    )


def _text() -> tuple[OpSpec, ...]:
    # one op per input token (each n-gram length and skip revisits it; not counted)
    return (OpSpec("TfIdfVectorizer", kernel_module="text", cost=REDUCTION),)


def _random() -> tuple[OpSpec, ...]:
    """Random ops: never folded into constants (each run draws anew); no kernel."""
    return tuple(OpSpec(op, foldable=False) for op in (
        "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"))


BUILTIN_SPECS: tuple[OpSpec, ...] = (
    *_conv(), *_pool(), *_matmul(), *_attention(), *_elementwise(), *_normalization(), *_quantize(), *_layout(),
    *_resize(), *_sampling(), *_text(),
    *_random(),
)

__all__ = ["BUILTIN_SPECS"]
