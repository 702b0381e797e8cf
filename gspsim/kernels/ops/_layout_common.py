"""Small shared pieces of the layout, quantize and resize kernels.

Attribute decoding, axis normalisation, ONNX element-type numbers and the
row-block destination used by every ``run_rows`` in these modules.  Kept
separate so that the kernel modules stay one job each.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np

#: ONNX ``TensorProto.DataType`` numbers that numpy can hold exactly.
#: (bfloat16, float8, int4, string and complex types are deliberately absent.)
ONNX_TO_NUMPY: Mapping[int, np.dtype] = {
    1: np.dtype(np.float32),
    2: np.dtype(np.uint8),
    3: np.dtype(np.int8),
    4: np.dtype(np.uint16),
    5: np.dtype(np.int16),
    6: np.dtype(np.int32),
    7: np.dtype(np.int64),
    9: np.dtype(np.bool_),
    10: np.dtype(np.float16),
    11: np.dtype(np.float64),
    12: np.dtype(np.uint32),
    13: np.dtype(np.uint64),
}

#: Names of the ONNX element types numpy cannot represent, for clear refusals.
ONNX_UNSUPPORTED_NAMES: Mapping[int, str] = {
    8: "string",
    14: "complex64",
    15: "complex128",
    16: "bfloat16",
    17: "float8e4m3fn",
    18: "float8e4m3fnuz",
    19: "float8e5m2",
    20: "float8e5m2fnuz",
    21: "uint4",
    22: "int4",
    23: "float4e2m1",
}


def onnx_dtype(elem_type: int) -> np.dtype:
    """The numpy dtype of ONNX element type ``elem_type``; raises for types numpy lacks."""
    try:
        return ONNX_TO_NUMPY[int(elem_type)]
    except KeyError:
        name = ONNX_UNSUPPORTED_NAMES.get(int(elem_type), f"#{elem_type}")
        raise NotImplementedError(f"ONNX element type {name} is not supported by gspsim kernels") from None


def contiguous(arr: np.ndarray) -> np.ndarray:
    """``arr`` as a C-contiguous array without copying when it already is one.

    Unlike ``np.ascontiguousarray`` this keeps 0-d arrays 0-d (ONNX scalars).
    """
    return np.require(arr, requirements="C")


def attr_str(attrs: Mapping[str, Any], name: str, default: str) -> str:
    """A string attribute (the frontend may hand over bytes)."""
    value = attrs.get(name, default)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8")
    return str(value)


def attr_int(attrs: Mapping[str, Any], name: str, default: int) -> int:
    """An integer attribute with its ONNX default."""
    return int(attrs.get(name, default))


def attr_ints(attrs: Mapping[str, Any], name: str) -> Optional[list[int]]:
    """A list-of-ints attribute, or ``None`` when absent."""
    value = attrs.get(name)
    if value is None:
        return None
    return [int(v) for v in np.asarray(value).reshape(-1)]


def int_list(arr: Optional[np.ndarray]) -> Optional[list[int]]:
    """A 1-D integer input tensor as Python ints (``None`` stays ``None``)."""
    if arr is None:
        return None
    return [int(v) for v in np.asarray(arr).reshape(-1)]


def optional_input(inputs: Sequence[Optional[np.ndarray]], index: int) -> Optional[np.ndarray]:
    """Input ``index`` if the node has it and it is not omitted (empty name / ``None``)."""
    if index < len(inputs):
        return inputs[index]
    return None


def normalize_axis(axis: int, rank: int) -> int:
    """ONNX negative axis -> non-negative, with the range check every op needs."""
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def rows_dest(out: np.ndarray, axis: int, start: int, stop: int, full_rows: int) -> np.ndarray:
    """The view of ``out`` that receives output rows ``[start, stop)`` along ``axis``.

    ``out`` may be the whole output tensor (rows land at ``[start, stop)``) or
    a block buffer holding exactly ``stop - start`` rows (rows land at
    ``[0, stop - start)``); the two cannot be confused, because they only have
    the same extent when the block is the whole tensor.
    """
    if not 0 <= start <= stop <= full_rows:
        raise ValueError(f"row range [{start}, {stop}) outside [0, {full_rows})")
    if out.ndim <= axis:
        raise ValueError(f"run_rows splits axis {axis}; output has rank {out.ndim}")
    extent = out.shape[axis]
    index: list[slice] = [slice(None)] * out.ndim
    if extent == full_rows:
        index[axis] = slice(start, stop)
    elif extent == stop - start:
        index[axis] = slice(0, stop - start)
    else:
        raise ValueError(
            f"out has {extent} rows on axis {axis}; expected {full_rows} (whole) or {stop - start} (block)"
        )
    return out[tuple(index)]


def take_rows(arr: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    """``arr[..., start:stop, ...]`` along ``axis`` as a view."""
    index: list[slice] = [slice(None)] * arr.ndim
    index[axis] = slice(start, stop)
    return arr[tuple(index)]


def check_row_rank(rank: int, axis: int, op_type: str) -> None:
    """``run_rows`` of these kernels needs the row axis to exist (rank >= 3 for axis 2)."""
    if rank <= axis:
        raise ValueError(f"{op_type}.run_rows splits axis {axis}; the output has rank {rank}")
