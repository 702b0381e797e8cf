"""The fixed vocabularies every stage shares: precisions, execution modes, calibrators.

Each is defined here once, as a ``Literal`` type (for type hints) and the tuple
of its values (for validation and ``--help`` choices), in the order messages
list them.  This module imports nothing from gspsim, so any stage may import it.
"""

from __future__ import annotations

from typing import Literal, get_args

#: the precisions a run or an op can take (bf16: fp32 kernels with bf16 rounding; int8: quantized)
Precision = Literal["fp32", "fp16", "bf16", "int8"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)

#: the float precisions (every precision but int8)
FloatPrecision = Literal["fp32", "fp16", "bf16"]
FLOAT_PRECISIONS: tuple[FloatPrecision, ...] = get_args(FloatPrecision)

#: streaming: the GSP's block-level dataflow through on-chip ring buffers; layer: layer by layer through DRAM
Mode = Literal["streaming", "layer"]
MODES: tuple[Mode, ...] = get_args(Mode)

#: how int8 post-training quantization picks activation ranges (gspsim.passes.quantize)
Calibrator = Literal["minmax", "percentile", "mse"]
CALIBRATORS: tuple[Calibrator, ...] = get_args(Calibrator)

__all__ = [
    "CALIBRATORS", "FLOAT_PRECISIONS", "MODES", "PRECISIONS", "Calibrator", "FloatPrecision", "Mode", "Precision",
]
