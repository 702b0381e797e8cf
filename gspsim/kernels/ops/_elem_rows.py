"""Row-block helpers shared by the elementwise and normalization kernels.

Convention (the same as the engine's): a kernel's ``row_axis`` is normalized against the
output rank like a numpy axis; if it falls outside the output (a rank-1 output with
``row_axis=-2``, a 2-D BatchNormalization with ``row_axis=2``, a scalar) the output is not
split and ``run_rows`` fills it whole.  Most kernels here use -2: H of NCHW, the sequence
axis of (B, T, C), the rows of a matrix.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ...optable.kernel import Attrs, Inputs, RowsFn, RunFn

#: the registry's row_axis for kernels that split the second-to-last output axis
ROW_AXIS = -2


def row_axis(ndim: int, spec: int = ROW_AXIS) -> Optional[int]:
    """The output axis run_rows splits, or None when the output is filled whole."""
    axis = spec + ndim if spec < 0 else spec
    return axis if 0 <= axis < ndim else None


def row_count(shape: Sequence[int], spec: int = ROW_AXIS) -> int:
    """Number of rows run_rows can fill for an output of this shape (1 if it is not split)."""
    axis = row_axis(len(shape), spec)
    return 1 if axis is None else int(shape[axis])


def take_rows(x: np.ndarray, out_ndim: int, start: int, stop: int, spec: int = ROW_AXIS) -> np.ndarray:
    """The part of ``x`` (numpy-broadcastable to a rank-``out_ndim`` output) feeding rows [start, stop).

    Inputs that broadcast along the row axis (missing or size-1 there) are returned whole.
    """
    axis = row_axis(out_ndim, spec)
    if axis is None:
        return x
    xa = axis - (out_ndim - x.ndim)
    if xa < 0 or x.shape[xa] == 1:
        return x
    index = [slice(None)] * x.ndim
    index[xa] = slice(start, stop)
    return x[tuple(index)]


def out_rows(out: np.ndarray, start: int, stop: int, spec: int = ROW_AXIS) -> np.ndarray:
    """View of rows [start, stop) of ``out`` (all of it when the output is not split)."""
    axis = row_axis(out.ndim, spec)
    if axis is None:
        return out
    index = [slice(None)] * out.ndim
    index[axis] = slice(start, stop)
    return out[tuple(index)]


def broadcast_shape(arrays: Sequence[np.ndarray]) -> tuple[int, ...]:
    """numpy (= ONNX multidirectional) broadcast shape of ``arrays``."""
    return tuple(np.broadcast_shapes(*(a.shape for a in arrays)))


def elementwise_rows(run: RunFn) -> RowsFn:
    """``run_rows`` for an elementwise whole-tensor kernel ``run`` (Cast, Where, Equal, ...): rows [start, stop)
    along axis -2 computed by ``run`` from the same rows of the (broadcast) inputs, so any split equals ``run``."""

    def run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
        part = [None if x is None else take_rows(np.asarray(x), out.ndim, start, stop) for x in inputs]
        np.copyto(out_rows(out, start, stop), run(part, attrs)[0], casting="unsafe")

    return run_rows
