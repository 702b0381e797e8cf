"""Window geometry of convolutions and pools: ONNX attributes to output sizes and paddings.

One place decides, for Conv / ConvTranspose / QLinearConv / ConvInteger and the
pools, how ``kernel_shape``, ``strides``, ``dilations``, ``pads``, ``auto_pad``
and ``ceil_mode`` (with their ONNX opset-20 defaults) map to an output size and
explicit begin/end paddings, so every kernel agrees on them.

The image kernels work on 2-D images: a 1-D op (N, C, L) is viewed as (N, C, L, 1),
so that output axis 2 stays the row axis that ``run_rows`` splits.  3-D and
higher data run through ``_window_nd.py`` with the same geometry
(:func:`window_axes`, :func:`transpose_axes`).

Where onnxruntime deviates from the ONNX text, the ONNX text wins and the
difference is written here:

* ``auto_pad=SAME_*`` with dilations > 1: ONNX pads for the dilated kernel;
  onnxruntime's Conv refuses the node and its pools pad for the undilated one.
* ``auto_pad=SAME_*`` where the stride exceeds the kernel so much that the
  needed padding ``(ceil(in / s) - 1) * s + kernel - in`` is negative: the
  padding is 0 here (as in TensorFlow, where SAME comes from); onnxruntime
  keeps the negative value and shifts the windows.
* pools with ``auto_pad=VALID`` and ``ceil_mode=1``: ONNX gives
  ``ceil((in - dilated_kernel + 1) / stride)`` whatever ``ceil_mode`` says;
  onnxruntime applies ``ceil_mode`` there too.
* ConvTranspose with ``auto_pad=SAME_*`` whose stride exceeds the dilated
  kernel plus output_padding: ONNX's output ``input * stride`` needs negative
  total padding (the extra positions get only the bias); onnxruntime clamps
  the padding at 0 and returns the smaller unpadded size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np

AUTO_PADS: tuple[str, ...] = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


@dataclass(frozen=True)
class Window2D:
    """A sliding window over an H x W image: sizes, kernel, strides, dilations, paddings."""

    in_h: int
    in_w: int
    out_h: int
    out_w: int
    k_h: int
    k_w: int
    s_h: int
    s_w: int
    d_h: int
    d_w: int
    pad_t: int
    pad_l: int
    pad_b: int
    pad_r: int

    def input_rows(self, start: int, stop: int) -> tuple[int, int]:
        """Input rows ``[lo, hi)`` (clipped to the image) read by output rows ``[start, stop)``."""
        if stop <= start:
            return 0, 0
        lo = start * self.s_h - self.pad_t
        hi = (stop - 1) * self.s_h - self.pad_t + (self.k_h - 1) * self.d_h + 1
        lo, hi = max(lo, 0), min(hi, self.in_h)
        return (lo, hi) if hi > lo else (0, 0)


def as_image(x: np.ndarray) -> np.ndarray:
    """View an (N, C, L) or (N, C, H, W) array as (N, C, H, W); 1-D becomes (N, C, L, 1)."""
    if x.ndim == 4:
        return x
    if x.ndim == 3:
        return x[..., None]
    raise NotImplementedError(f"only 1-D and 2-D spatial data are supported, got rank {x.ndim}")


def decode_str(value: Any) -> str:
    """An ONNX string attribute as ``str`` (the engine may pass bytes)."""
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


def int_list(attrs: Mapping[str, Any], name: str, n: int, default: int) -> list[int]:
    """An ``ints`` attribute of length ``n`` (missing or empty: ``default`` repeated)."""
    value = attrs.get(name)
    if value is None or len(value) == 0:
        return [default] * n
    out = [int(v) for v in value]
    if len(out) != n:
        raise ValueError(f"attribute {name} has {len(out)} values, expected {n}")
    return out


def _auto_pad(attrs: Mapping[str, Any]) -> str:
    mode = decode_str(attrs.get("auto_pad", "NOTSET")) or "NOTSET"
    if mode not in AUTO_PADS:
        raise ValueError(f"unknown auto_pad {mode!r}")
    return mode


def _same_pads(in_size: int, k: int, s: int, d: int, lower: bool) -> tuple[int, int, int]:
    """(out, pad_begin, pad_end) for SAME_UPPER / SAME_LOWER: output = ceil(in / stride)."""
    out = -(-in_size // s)
    total = max(0, (out - 1) * s + (k - 1) * d + 1 - in_size)
    small = total // 2
    return (out, total - small, small) if lower else (out, small, total - small)


def _pool_out(in_size: int, k: int, s: int, d: int, pb: int, pe: int, ceil_mode: bool) -> int:
    """Pool output size; in ceil mode a last window starting in the end padding is dropped."""
    span = in_size + pb + pe - (k - 1) * d - 1
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= in_size + pb:
        out -= 1
    return out


@dataclass(frozen=True)
class AxisWindow:
    """One spatial axis of a sliding window: sizes, kernel, stride, dilation and paddings."""

    size: int
    out: int
    k: int
    s: int
    d: int
    pad_begin: int
    pad_end: int


def window_axes(
    x_shape: Sequence[int],
    kernel: Sequence[int],
    attrs: Mapping[str, Any],
    ceil_mode: bool,
) -> list[AxisWindow]:
    """The window along every spatial axis (any number of them) of a conv or pool."""
    rank = len(x_shape) - 2
    if rank < 1:
        raise ValueError(f"a window op needs (N, C, spatial...) input, got rank {len(x_shape)}")
    if len(kernel) != rank:
        raise ValueError(f"kernel has {len(kernel)} dims for {rank}-D data")
    strides = int_list(attrs, "strides", rank, 1)
    dilations = int_list(attrs, "dilations", rank, 1)
    pads = int_list(attrs, "pads", 2 * rank, 0)
    if any(v < 1 for v in (*strides, *dilations, *kernel)) or any(p < 0 for p in pads):
        raise ValueError(f"kernel_shape {list(kernel)}, strides {strides} and dilations {dilations} must be >= 1 "
                         f"and pads {pads} >= 0")
    mode = _auto_pad(attrs)
    axes = []
    for i in range(rank):
        n, k, s, d = int(x_shape[2 + i]), int(kernel[i]), strides[i], dilations[i]
        if mode in ("SAME_UPPER", "SAME_LOWER"):
            out, pb, pe = _same_pads(n, k, s, d, mode == "SAME_LOWER")
        elif mode == "VALID":
            out, pb, pe = _pool_out(n, k, s, d, 0, 0, False), 0, 0
        else:
            pb, pe = pads[i], pads[i + rank]
            out = _pool_out(n, k, s, d, pb, pe, ceil_mode)
        axes.append(AxisWindow(n, max(out, 0), k, s, d, pb, pe))
    return axes


def _window(
    x_shape: Sequence[int],
    kernel: Sequence[int],
    attrs: Mapping[str, Any],
    ceil_mode: bool,
) -> Window2D:
    rank = len(x_shape) - 2
    if rank not in (1, 2):
        raise NotImplementedError(f"only 1-D and 2-D spatial data are supported, got {rank}-D")
    axes = window_axes(x_shape, kernel, attrs, ceil_mode)
    if rank == 1:
        axes.append(AxisWindow(1, 1, 1, 1, 1, 0, 0))
    a, b = axes
    return Window2D(
        in_h=a.size, in_w=b.size, out_h=a.out, out_w=b.out, k_h=a.k, k_w=b.k, s_h=a.s, s_w=b.s, d_h=a.d, d_w=b.d,
        pad_t=a.pad_begin, pad_l=b.pad_begin, pad_b=a.pad_end, pad_r=b.pad_end,
    )


def conv_window(x_shape: Sequence[int], w_shape: Sequence[int], attrs: Mapping[str, Any]) -> Window2D:
    """Geometry of Conv / QLinearConv / ConvInteger for input ``x_shape`` and weights ``w_shape``."""
    kernel = attrs.get("kernel_shape") or list(w_shape[2:])
    return _window(x_shape, [int(k) for k in kernel], attrs, ceil_mode=False)


def pool_window(x_shape: Sequence[int], attrs: Mapping[str, Any]) -> Window2D:
    """Geometry of MaxPool / AveragePool / QLinearAveragePool (``ceil_mode`` honoured)."""
    kernel = attrs.get("kernel_shape")
    if not kernel:
        raise ValueError("pool needs kernel_shape")
    return _window(x_shape, [int(k) for k in kernel], attrs, ceil_mode=bool(int(attrs.get("ceil_mode", 0))))


@dataclass(frozen=True)
class TransposeWindow:
    """ConvTranspose geometry per spatial axis (2-D, 1-D extended with a unit W axis)."""

    in_h: int
    in_w: int
    out_h: int
    out_w: int
    k_h: int
    k_w: int
    s_h: int
    s_w: int
    d_h: int
    d_w: int
    pad_t: int
    pad_l: int


def transpose_axes(x_shape: Sequence[int], w_shape: Sequence[int], attrs: Mapping[str, Any]) -> list[AxisWindow]:
    """ConvTranspose per spatial axis (any number): output size (``out``) and begin padding (``pad_begin``).

    ONNX: ``output_shape``, else ``auto_pad`` SAME (input x stride) or VALID, else the
    explicit ``pads``, with ``output_padding`` added at the end.
    """
    rank = len(x_shape) - 2
    if rank < 1:
        raise ValueError(f"ConvTranspose needs (N, C, spatial...) input, got rank {len(x_shape)}")
    kernel = [int(k) for k in (attrs.get("kernel_shape") or list(w_shape[2:]))]
    strides = int_list(attrs, "strides", rank, 1)
    dilations = int_list(attrs, "dilations", rank, 1)
    out_pad = int_list(attrs, "output_padding", rank, 0)
    pads = int_list(attrs, "pads", 2 * rank, 0)
    if len(kernel) != rank or any(v < 1 for v in (*strides, *dilations, *kernel)):
        raise ValueError(f"kernel_shape {kernel}, strides {strides}, dilations {dilations} do not fit {rank}-D data")
    mode = _auto_pad(attrs)
    out_shape: Optional[list[int]] = None
    if attrs.get("output_shape"):
        out_shape = [int(v) for v in attrs["output_shape"]][-rank:]
    axes = []
    for i in range(rank):
        n, k, s, d, op = int(x_shape[2 + i]), kernel[i], strides[i], dilations[i], out_pad[i]
        full = s * (n - 1) + op + (k - 1) * d + 1
        target: Optional[int] = None
        if out_shape is not None:
            target = out_shape[i]
        elif mode in ("SAME_UPPER", "SAME_LOWER"):
            target = n * s
        if target is not None:
            total = full - target
            pb = total // 2 if mode == "SAME_UPPER" else total - total // 2
            out = target
        elif mode == "VALID":
            out, pb = full, 0
        else:
            out, pb = full - pads[i] - pads[i + rank], pads[i]
        axes.append(AxisWindow(n, out, k, s, d, pb, 0))
    return axes


def conv_transpose_window(
    x_shape: Sequence[int], w_shape: Sequence[int], attrs: Mapping[str, Any]
) -> TransposeWindow:
    """ConvTranspose output size and begin paddings of 1-D and 2-D data (see :func:`transpose_axes`)."""
    rank = len(x_shape) - 2
    if rank not in (1, 2):
        raise NotImplementedError(f"only 1-D and 2-D spatial data are supported, got {rank}-D")
    axes = transpose_axes(x_shape, w_shape, attrs)
    if rank == 1:
        axes.append(AxisWindow(1, 1, 1, 1, 1, 0, 0))
    a, b = axes
    return TransposeWindow(
        in_h=a.size, in_w=b.size, out_h=a.out, out_w=b.out, k_h=a.k, k_w=b.k,
        s_h=a.s, s_w=b.s, d_h=a.d, d_w=b.d, pad_t=a.pad_begin, pad_l=b.pad_begin,
    )
