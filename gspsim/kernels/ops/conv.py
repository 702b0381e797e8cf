"""Convolution kernels: Conv, ConvTranspose and DeformConv (fp32, fp16), QLinearConv and ConvInteger (int8).

Semantics are ONNX opset 20 (1-D and 2-D; a 1-D op runs as a 2-D one with a
unit W axis).  Numerics:

* fp32: im2col of a band of output rows, then one BLAS GEMM per group
  (``numpy.dot``); depthwise convolutions (one input channel per group) use a
  direct Numba loop.
* fp16: float16 storage in and out.  Inputs (and bias) are widened to
  float32, everything accumulates in float32, and the result is rounded to
  float16 once, at the output.
* int8 (QLinearConv, ConvInteger; int8 or uint8 activations and weights,
  per-tensor or per-output-channel weight zero points and scales): exact
  int32 sums of ``(x - x_zp) * (w - w_zp)``.  Sums of more than
  ``EXACT_F32_K`` = 256 terms per output come from a Numba int32 GEMM; shorter
  ones (1x1 convs on narrow layers, depthwise, small first layers) from Numba
  float32 kernels (tiled im2col + GEMM with the requantization fused, and the
  depthwise loop), which are provably exact there (see ``EXACT_F32_K``).
  QLinearConv then adds the int32 bias and requantizes like onnxruntime's
  MLAS: ``scale = x_scale * w_scale / y_scale`` in float32,
  ``y = clamp(rint(float32(acc + bias) * scale) + y_zp)``, round half to
  even.  Results are bit-exact with ONNX's exact integer arithmetic followed
  by that requantization, on any codes; so with onnxruntime wherever its own
  integer sums are exact (docs/precision.md, "onnxruntime as the int8
  reference").

Every kernel except ConvTranspose has ``run_rows`` over output axis 2 (H, or
L for 1-D): any split of the output rows into blocks gives exactly ``run``.

3-D and higher float convolutions (video and volumetric models) and float64
data run through the numpy taps of ``_window_nd.py`` (float32 sums; float64
for float64 data), with the same geometry.  The int8 kernels are 1-D and 2-D.
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple, Optional

import numpy as np

from ...optable.kernel import Attrs, Inputs, Kernel, PreparedRowsFn, RunFn
from ._conv_geometry import Window2D, as_image, conv_transpose_window, conv_window, transpose_axes, window_axes
from ._window_nd import conv_nd, conv_transpose_nd
from ._conv_jit import col2im_add, depthwise_rows, im2col_kp, qconv_f32_rows, qconv_rows

#: the exact int8 float path works on tiles of whole output rows of about this many pixels...
INT8_TILE_PIXELS = 1024
#: ...whose float32 columns (K x pixels) hold at most this many elements (256 KiB: they stay in cache)
INT8_TILE_COL_ELEMS = 1 << 16
#: fp32 / fp16 GEMMs run on fixed groups of output rows holding at least this many pixels
FLOAT_GROUP_COLS = 48
#: int8 convs with at most this many terms per output (C_g * k_h * k_w) sum in float32:
#: |x - x_zp| and |w - w_zp| are at most 255, so every partial sum of at most 256 products is an
#: integer of magnitude < 256 * 255 * 255 < 2**24 and float32 represents it exactly, whatever
#: order, tiling or fused multiply-add the kernel uses.  Longer sums use the Numba int32 GEMM.
EXACT_F32_K = 256

_NO_SCALE = np.zeros(1, np.float32)


class Requant(NamedTuple):
    """QLinearConv's output stage: int32 bias and float32 scale per output channel, output range."""

    bias: np.ndarray
    scale: np.ndarray
    y_zp: int
    qmin: int
    qmax: int


#: placeholder output stage for the kernels that return plain sums (never read)
_NO_REQUANT = Requant(np.zeros(1, np.int32), _NO_SCALE, 0, 0, 0)

_QRANGE: Mapping[np.dtype, tuple[int, int]] = {
    np.dtype(np.int8): (-128, 127),
    np.dtype(np.uint8): (0, 255),
}


# --------------------------------------------------------------------------- shapes


def _group_dims(x_shape: tuple[int, ...], w_shape: tuple[int, ...], attrs: Attrs) -> tuple[int, int, int]:
    """(groups, input channels per group, output channels per group), checked against the shapes."""
    group = int(attrs.get("group", 1))
    c_in = x_shape[1]
    m_out, cg = w_shape[0], w_shape[1]
    if group < 1 or c_in != cg * group or m_out % group != 0:
        raise ValueError(f"bad conv shapes: x {tuple(x_shape)}, w {tuple(w_shape)}, group {group}")
    return group, cg, m_out // group


def _as_output(res: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A (N, M, rows, W) result in the input's rank (1-D ops drop the unit W axis)."""
    return np.ascontiguousarray(res[..., 0]) if x.ndim == 3 else res


def _input_band(x4: np.ndarray, win: Window2D, start: int, stop: int) -> tuple[np.ndarray, int]:
    """The contiguous input rows read by output rows ``[start, stop)`` and the matching top padding."""
    lo, hi = win.input_rows(start, stop)
    return np.ascontiguousarray(x4[:, :, lo:hi]), win.pad_t + lo


def _check_rows(out: np.ndarray, start: int, stop: int) -> np.ndarray:
    out4 = as_image(out)
    if not 0 <= start <= stop <= out4.shape[2]:
        raise ValueError(f"rows [{start}, {stop}) outside output of {out4.shape[2]} rows")
    return out4


# --------------------------------------------------------------------------- float conv


def _float_gemm(
    xs: np.ndarray, wf: np.ndarray, group: int, win: Window2D, pad_t: int, start: int, stop: int, band: int
) -> np.ndarray:
    """float32 grouped conv (no bias, not depthwise) of the input band ``xs`` for output rows ``[start, stop)``.

    ``xs`` (N, C, rows, W) float32 holds the input rows the output rows read,
    ``pad_t`` the top padding relative to them; ``wf`` is (M, C_g, k_h, k_w).
    Each BLAS call covers ``band`` output rows from ``start`` on (the last
    call may be shorter).
    """
    n_count = xs.shape[0]
    m_out, cg = wf.shape[0], wf.shape[1]
    mg = m_out // group
    res = np.zeros((n_count, m_out, stop - start, win.out_w), np.float32)
    if stop <= start or win.out_w <= 0 or n_count == 0:
        return res
    k_count = cg * win.k_h * win.k_w
    wmats = [wf[g * mg:(g + 1) * mg].reshape(mg, k_count) for g in range(group)]
    pointwise = _is_pointwise(win)
    col = None if pointwise else np.empty((k_count, band * win.out_w), np.float32)
    for n in range(n_count):
        for b0 in range(start, stop, band):
            b1 = min(stop, b0 + band)
            pc = (b1 - b0) * win.out_w
            for g in range(group):
                if pointwise:
                    cols = xs[n, g * cg:(g + 1) * cg, b0 - start:b1 - start].reshape(cg, pc)
                else:
                    im2col_kp(xs[n], 0.0, g * cg, cg, b0, b1, win.out_w, win.k_h, win.k_w,
                              win.s_h, win.s_w, win.d_h, win.d_w, pad_t, win.pad_l, col)
                    cols = col[:, :pc]
                # always the same call for the same shapes (run_rows relies on it)
                res[n, g * mg:(g + 1) * mg, b0 - start:b1 - start] = (wmats[g] @ cols).reshape(
                    mg, b1 - b0, win.out_w)
    return res


def _depthwise(
    xs: np.ndarray, off: float, wf: np.ndarray, bias: np.ndarray, requant: Optional[Requant],
    win: Window2D, pad_t: int, start: int, stop: int, out: np.ndarray,
) -> None:
    """Depthwise conv rows of ``xs - off`` into ``out``: float plus ``bias``, or requantized values
    (as int32) with ``requant`` (see ``depthwise_rows``)."""
    m_out = wf.shape[0]
    if out.size == 0:
        return
    q = requant or _NO_REQUANT._replace(bias=bias)
    depthwise_rows(xs, off, np.ascontiguousarray(wf.reshape(m_out, win.k_h, win.k_w)), m_out // xs.shape[1],
                   q.bias, q.scale, q.y_zp, q.qmin, q.qmax, requant is not None,
                   start, stop, win.out_w, win.s_h, win.s_w, win.d_h, win.d_w, pad_t, win.pad_l, out)


class FloatConvPlan(NamedTuple):
    """A float Conv's weights as float32 (M, C_g, k_h, k_w) and its float32 bias (None without one)."""

    w_shape: tuple[int, ...]
    weights: np.ndarray
    bias: Optional[np.ndarray]


def _plan_float_conv(inputs: Inputs, attrs: Attrs) -> FloatConvPlan:
    _, w, b = _conv_inputs(inputs)
    wf = np.ascontiguousarray(as_image(w), dtype=np.float32)
    return FloatConvPlan(w.shape, wf, None if b is None else np.asarray(b, np.float32).reshape(w.shape[0]))


def _float_conv_rows(
    plan: FloatConvPlan, x: np.ndarray, attrs: Attrs, start: int, stop: Optional[int]
) -> np.ndarray:
    """float32 Conv output rows ``[start, stop)`` (``stop=None``: to the end) as (N, M, rows, out_w).

    A float GEMM's rounding may depend on the shape of the BLAS call, so the
    GEMMs always run on the same fixed groups of ``row_group`` output rows
    (counted from row 0) whatever block is asked for: a block that cuts a
    group computes the whole group.  This keeps ``run_rows`` bit-identical to
    ``run``.
    """
    x4, wf = as_image(x), plan.weights
    win = conv_window(x.shape, plan.w_shape, attrs)
    stop = win.out_h if stop is None else stop
    group, cg, _ = _group_dims(x.shape, plan.w_shape, attrs)
    m_out = wf.shape[0]
    if cg == 1:
        bias = np.zeros(m_out, np.float32) if plan.bias is None else plan.bias
        xs, pad_t = _input_band(x4, win, start, stop)
        res = np.empty((x4.shape[0], m_out, stop - start, win.out_w), np.float32)
        _depthwise(xs.astype(np.float32, copy=False), 0.0, wf, bias, None, win, pad_t, start, stop, res)
        return res
    row_group = max(1, -(-FLOAT_GROUP_COLS // max(1, win.out_w)))
    g_start = start // row_group * row_group
    g_stop = min(win.out_h, -(-stop // row_group) * row_group) if stop > start else start
    xs, pad_t = _input_band(x4, win, g_start, g_stop)
    res = _float_gemm(xs.astype(np.float32, copy=False), wf, group, win, pad_t, g_start, g_stop, row_group)
    res = res[:, :, start - g_start:stop - g_start]
    if plan.bias is not None:
        res += plan.bias[None, :, None, None]
    return res


def _is_pointwise(win: Window2D) -> bool:
    """1x1 kernel, unit strides, no padding: the input rows are the GEMM operand as they are."""
    return (win.k_h, win.k_w, win.s_h, win.s_w, win.pad_t, win.pad_l, win.pad_b, win.pad_r) == (
        1, 1, 1, 1, 0, 0, 0, 0)


def _conv_inputs(inputs: Inputs) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    if x is None or w is None:
        raise ValueError("Conv needs X and W")
    return np.asarray(x), np.asarray(w), None if b is None else np.asarray(b)


def _on_image(x: np.ndarray) -> bool:
    """Whether the image loops take ``x`` (1-D or 2-D, float32 or float16); else the N-d taps do."""
    return x.ndim in (3, 4) and x.dtype in (np.float32, np.float16)


def _conv_any_rank(inputs: Inputs, attrs: Attrs, start: int, stop: Optional[int]) -> np.ndarray:
    x, w, b = _conv_inputs(inputs)
    if x.dtype.kind != "f":
        raise NotImplementedError(f"Conv of {x.dtype} data")
    kernel = [int(k) for k in (attrs.get("kernel_shape") or w.shape[2:])]
    axes = window_axes(x.shape, kernel, attrs, ceil_mode=False)
    return conv_nd(x, w, b, axes, int(attrs.get("group", 1)), start, axes[0].out if stop is None else stop)


def _float_conv_kernel(precision: str, dtype: type) -> Kernel:
    """Conv at ``precision`` (float32 arithmetic, ``dtype`` storage), weights converted once per node."""

    def prepare(inputs: Inputs, attrs: Attrs) -> PreparedRowsFn:
        if not _on_image(np.asarray(inputs[0])):
            return lambda block_inputs, out, start, stop: run_rows(block_inputs, attrs, out, start, stop)
        plan = _plan_float_conv(inputs, attrs)

        def rows(block_inputs: Inputs, out: np.ndarray, start: int, stop: int) -> None:
            out4 = _check_rows(out, start, stop)
            out4[:, :, start:stop] = _float_conv_rows(plan, np.asarray(block_inputs[0]), attrs, start, stop)

        return rows

    def run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
        if not _on_image(np.asarray(inputs[0])):
            out[:, :, start:stop] = _conv_any_rank(inputs, attrs, start, stop)
            return
        prepare(inputs, attrs)(inputs, out, start, stop)

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        x = np.asarray(inputs[0])
        if not _on_image(x):
            return (_conv_any_rank(inputs, attrs, 0, None).astype(x.dtype if x.dtype == np.float64 else dtype),)
        return (_as_output(_float_conv_rows(_plan_float_conv(inputs, attrs), x, attrs, 0, None), x).astype(dtype),)

    return Kernel("Conv", precision, run, run_rows, 2, prepare)


# --------------------------------------------------------------------------- ConvTranspose


def _conv_transpose_f32(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], attrs: Attrs) -> np.ndarray:
    """float32 ConvTranspose: per group, W^T @ X (BLAS) then col2im scatter-add (Numba)."""
    x4, w4 = as_image(x).astype(np.float32), as_image(w).astype(np.float32)
    win = conv_transpose_window(x.shape, w.shape, attrs)
    group = int(attrs.get("group", 1))
    n_count, c_in, in_h, in_w = x4.shape
    if w4.shape[0] != c_in or c_in % group != 0:
        raise ValueError(f"bad ConvTranspose shapes: x {x4.shape}, w {w4.shape}, group {group}")
    cg, mg = c_in // group, w4.shape[1]
    out = np.zeros((n_count, mg * group, max(win.out_h, 0), max(win.out_w, 0)), np.float32)
    if out.size:
        for g in range(group):
            wt = np.ascontiguousarray(w4[g * cg:(g + 1) * cg].reshape(cg, -1).T)
            for n in range(n_count):
                cols = wt @ x4[n, g * cg:(g + 1) * cg].reshape(cg, in_h * in_w)
                col2im_add(cols, g * mg, in_w, win.k_h, win.k_w, win.s_h, win.s_w, win.d_h, win.d_w,
                           win.pad_t, win.pad_l, out[n])
    if b is not None:
        out += np.asarray(b, np.float32)[None, :, None, None]
    return out[..., 0] if x.ndim == 3 else out


def _conv_transpose_run(dtype: type) -> RunFn:
    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        x, w, b = _conv_inputs(inputs)
        if x.dtype.kind != "f":
            raise NotImplementedError(f"ConvTranspose of {x.dtype} data")
        if not _on_image(x):
            axes = transpose_axes(x.shape, w.shape, attrs)
            out = conv_transpose_nd(x, w, b, axes, int(attrs.get("group", 1)))
            return (out.astype(x.dtype if x.dtype == np.float64 else dtype),)
        return (_conv_transpose_f32(x, w, b, attrs).astype(dtype),)

    return run


# --------------------------------------------------------------------------- int8 conv


def _scalar_int(value: Optional[np.ndarray]) -> int:
    return 0 if value is None else int(np.asarray(value).reshape(-1)[0])


def _per_channel(value: Optional[np.ndarray], m_out: int, dtype: type) -> np.ndarray:
    """A per-tensor or per-output-channel quantization parameter as an (M,) array."""
    if value is None:
        return np.zeros(m_out, dtype)
    arr = np.asarray(value).reshape(-1)
    if arr.size == m_out:
        return arr.astype(dtype)
    if arr.size != 1:
        raise ValueError(f"quantization parameter of size {arr.size} for {m_out} output channels")
    return np.full(m_out, arr[0], dtype)


class IntConvPlan(NamedTuple):
    """An int8 conv's weights prepared once for its path, so that blocks only run the loops.

    ``path`` is ``"depthwise"`` (``weights`` (M, 1, k_h, k_w) float32 ``w - w_zp``),
    ``"f32"`` (exact float32 sums: (M, K) float32 ``w - w_zp``, K padded to a
    multiple of 4) or ``"i32"`` (the int32 GEMM: (groups, M_g, K) int8, tap-major, with
    ``w_zp`` the int32 zero points in the int8 domain).  ``requant`` has a zero
    bias when ``quantize`` is false (ConvInteger's plain sums).
    """

    w_shape: tuple[int, ...]
    path: str
    weights: np.ndarray
    w_zp: np.ndarray
    requant: Requant
    quantize: bool


def _plan_int_conv(w: np.ndarray, w_zp: np.ndarray, attrs: Attrs, requant: Optional[Requant]) -> IntConvPlan:
    """Pack ``w`` (int8 or uint8, per-channel zero points ``w_zp``) for the path its sums take."""
    if w.dtype not in _QRANGE:
        raise TypeError(f"int8 conv takes int8/uint8 weights, got {w.dtype}")
    w4 = as_image(w)
    group = int(attrs.get("group", 1))
    m_out, cg = w4.shape[0], w4.shape[1]
    if group < 1 or m_out % group != 0:
        raise ValueError(f"bad conv shapes: w {w4.shape}, group {group}")
    mg, taps = m_out // group, w4.shape[2] * w4.shape[3]
    k_count = taps * cg
    q = requant or _NO_REQUANT._replace(bias=np.zeros(m_out, np.int32))  # plain sums add a zero bias
    if k_count <= EXACT_F32_K:
        # float32 sums are exact here: see EXACT_F32_K
        wf = w4.astype(np.float32) - w_zp.astype(np.float32)[:, None, None, None]
        if cg == 1:
            return IntConvPlan(w.shape, "depthwise", wf, w_zp, q, requant is not None)
        wk = np.zeros((m_out, -(-k_count // 4) * 4), np.float32)
        wk[:, :k_count] = wf.reshape(m_out, k_count)
        return IntConvPlan(w.shape, "f32", wk, w_zp, q, requant is not None)
    # the int32 GEMM takes int8 weights: uint8 ones move to int8 with their zero point (w - 128 - (zp - 128))
    w8, wz = (w4, w_zp) if w4.dtype == np.int8 else ((w4 ^ np.uint8(0x80)).view(np.int8), w_zp - 128)
    wk = w8.reshape(group, mg, cg, taps)
    wk = wk.reshape(group, mg, cg) if taps == 1 else np.ascontiguousarray(wk.transpose(0, 1, 3, 2))
    wk = np.ascontiguousarray(wk.reshape(group, mg, k_count))
    return IntConvPlan(w.shape, "i32", wk, wz.astype(np.int32), q, requant is not None)


def _int_conv_rows(
    plan: IntConvPlan, x: np.ndarray, x_zp: int, attrs: Attrs, start: int, stop: Optional[int]
) -> np.ndarray:
    """Output rows ``[start, stop)`` (``stop=None``: to the end) of an int8 conv as (N, M, rows, out_w).

    The plan's ConvInteger form gives the exact int32 ``sum((x - x_zp) * (w - w_zp))``;
    its QLinearConv form, the requantized output in ``x``'s dtype.
    """
    if x.dtype not in _QRANGE:
        raise TypeError(f"int8 conv takes int8/uint8 tensors, got {x.dtype}")
    x4 = as_image(x)
    win = conv_window(x.shape, plan.w_shape, attrs)
    stop = win.out_h if stop is None else stop
    group, _, _ = _group_dims(x.shape, plan.w_shape, attrs)
    n_count, m_out = x4.shape[0], plan.w_shape[0]
    out_dtype = x.dtype if plan.quantize else np.int32
    if stop <= start or win.out_w <= 0 or n_count == 0:
        return np.zeros((n_count, m_out, stop - start, win.out_w), out_dtype)
    xs, pad_t = _input_band(x4, win, start, stop)
    q = plan.requant
    if plan.path == "depthwise":
        res32 = np.empty((n_count, m_out, stop - start, win.out_w), np.int32)
        _depthwise(xs, float(x_zp), plan.weights, q.bias, q if plan.quantize else None, win, pad_t, start, stop,
                   res32)
        return res32.astype(out_dtype, copy=False)
    if plan.path == "f32":
        tile_rows = max(1, min(INT8_TILE_PIXELS, INT8_TILE_COL_ELEMS // plan.weights.shape[1]) // win.out_w)
        res = np.empty((n_count, m_out, stop - start, win.out_w), out_dtype)
        qconv_f32_rows(xs, float(x_zp), plan.weights, group, q.bias, q.scale, q.y_zp, q.qmin, q.qmax, plan.quantize,
                       start, stop, win.out_w, win.k_h, win.k_w, win.s_h, win.s_w, win.d_h, win.d_w, pad_t,
                       win.pad_l, tile_rows, res)
        return res
    add = 128 if x.dtype == np.int8 else 0
    res32 = np.empty((n_count, m_out, stop - start, win.out_w), np.int32)
    qconv_rows(xs.view(np.uint8), add, (x_zp + add) & 0xFF, plan.weights, plan.w_zp, q.bias, q.scale, q.y_zp,
               q.qmin, q.qmax, plan.quantize, start, stop, win.out_w, win.k_h, win.k_w,
               win.s_h, win.s_w, win.d_h, win.d_w, pad_t, win.pad_l, res32)
    return res32.astype(out_dtype, copy=False)


def _qlinear_parts(inputs: Inputs) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, Requant]:
    """QLinearConv inputs X, x_scale, x_zp, W, w_scale, w_zp, y_scale, y_zp, B (optional), unpacked."""
    x, w = np.asarray(inputs[0]), np.asarray(inputs[3])
    m_out = w.shape[0]
    xs = np.float32(np.asarray(inputs[1], np.float32).reshape(-1)[0])
    ys = np.float32(np.asarray(inputs[6], np.float32).reshape(-1)[0])
    ws = _per_channel(np.asarray(inputs[4], np.float32), m_out, np.float32)
    bias_in = inputs[8] if len(inputs) > 8 else None
    qmin, qmax = _QRANGE[x.dtype]
    requant = Requant(
        bias=_per_channel(bias_in, m_out, np.int32),
        scale=((xs * ws) / ys).astype(np.float32),  # float32 throughout, as onnxruntime rounds it
        y_zp=_scalar_int(inputs[7]),
        qmin=qmin,
        qmax=qmax,
    )
    return x, _scalar_int(inputs[2]), w, _per_channel(inputs[5], m_out, np.int32), requant


def _qlinear_plan(inputs: Inputs, attrs: Attrs) -> tuple[IntConvPlan, int]:
    """QLinearConv's packed weights and output stage, and its input zero point."""
    _, x_zp, w, w_zp, requant = _qlinear_parts(inputs)
    return _plan_int_conv(w, w_zp, attrs, requant), x_zp


def _conv_integer_plan(inputs: Inputs, attrs: Attrs) -> tuple[IntConvPlan, int]:
    """ConvInteger (X, W, x_zero_point?, w_zero_point?): packed weights and the input zero point."""
    w = np.asarray(inputs[1])
    x_zp = _scalar_int(inputs[2] if len(inputs) > 2 else None)
    w_zp = _per_channel(inputs[3] if len(inputs) > 3 else None, w.shape[0], np.int32)
    return _plan_int_conv(w, w_zp, attrs, None), x_zp


def _int_conv_kernel(op_type: str, plan_of: Callable[[Inputs, Attrs], tuple[IntConvPlan, int]]) -> Kernel:
    """An int8 conv kernel whose weights are packed by ``plan_of`` once per node (``prepare``)."""

    def prepare(inputs: Inputs, attrs: Attrs) -> PreparedRowsFn:
        plan, x_zp = plan_of(inputs, attrs)

        def rows(block_inputs: Inputs, out: np.ndarray, start: int, stop: int) -> None:
            out4 = _check_rows(out, start, stop)
            out4[:, :, start:stop] = _int_conv_rows(plan, np.asarray(block_inputs[0]), x_zp, attrs, start, stop)

        return rows

    def run_rows(inputs: Inputs, attrs: Attrs, out: np.ndarray, start: int, stop: int) -> None:
        prepare(inputs, attrs)(inputs, out, start, stop)

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        plan, x_zp = plan_of(inputs, attrs)
        x = np.asarray(inputs[0])
        return (_as_output(_int_conv_rows(plan, x, x_zp, attrs, 0, None), x),)

    return Kernel(op_type, "int8", run, run_rows, 2, prepare)


# --------------------------------------------------------------------------- Col2Im


def _col2im(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Col2Im: every column of sliding blocks added back at its block's place in the image (im2col's adjoint)."""
    cols = np.asarray(inputs[0])
    image = [int(v) for v in np.asarray(inputs[1]).reshape(-1)]
    block = [int(v) for v in np.asarray(inputs[2]).reshape(-1)]
    rank = len(image)
    dil = [int(v) for v in attrs.get("dilations") or [1] * rank]
    strides = [int(v) for v in attrs.get("strides") or [1] * rank]
    pads = [int(v) for v in attrs.get("pads") or [0] * (2 * rank)]
    n_count, cb, length = cols.shape
    channels = cb // int(np.prod(block))
    counts = [(image[i] + pads[i] + pads[rank + i] - dil[i] * (block[i] - 1) - 1) // strides[i] + 1
              for i in range(rank)]
    if int(np.prod(counts)) != length:
        raise ValueError(f"Col2Im: {length} blocks do not tile an image of {image} with blocks {block}")
    padded = np.zeros((n_count, channels, *[image[i] + pads[i] + pads[rank + i] for i in range(rank)]),
                      np.float64 if cols.dtype == np.float64 else np.float32)
    grid = cols.reshape(n_count, channels, *block, *counts)
    for tap in np.ndindex(*block):
        where = tuple(slice(t * d, t * d + (c - 1) * s + 1, s) for t, d, c, s in zip(tap, dil, counts, strides))
        padded[(slice(None), slice(None), *where)] += grid[(slice(None), slice(None), *tap)]
    crop = tuple(slice(pads[i], pads[i] + image[i]) for i in range(rank))
    return (padded[(slice(None), slice(None), *crop)].astype(cols.dtype),)


# --------------------------------------------------------------------------- CausalConvWithState


def _causal_conv_with_state(precision: str) -> RunFn:
    """CausalConvWithState: depthwise 1-D conv over the state and the new steps; returns the output and
    the last ``k - 1`` steps as the next state (streaming convolutions of state-space and hybrid models)."""

    def run(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
        x, w = np.asarray(inputs[0]), np.asarray(inputs[1])
        if x.dtype.kind != "f" or x.ndim != 3 or w.ndim != 3:
            raise NotImplementedError(f"CausalConvWithState of {x.dtype} rank-{x.ndim} data")
        bias = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
        state = inputs[3] if len(inputs) > 3 and inputs[3] is not None else None
        activation = attrs.get("activation", "none")
        activation = activation.decode() if isinstance(activation, bytes) else str(activation)
        if activation not in ("none", "silu", "swish"):
            raise ValueError(f"CausalConvWithState: unknown activation {activation!r}")
        k = w.shape[2]
        work = np.float64 if x.dtype == np.float64 else np.float32
        past = np.zeros((x.shape[0], x.shape[1], k - 1), x.dtype) if state is None else np.asarray(state, x.dtype)
        padded = np.concatenate([past, x], axis=2)
        wide = padded.astype(work)
        length = x.shape[2]
        y = sum(wide[:, :, j:j + length] * w[:, 0, j].astype(work)[None, :, None] for j in range(k))
        if bias is not None:
            y = y + np.asarray(bias, work)[None, :, None]
        y = y.astype(x.dtype)
        if activation != "none":
            y32 = y.astype(np.float32)
            y = (y32 / (1 + np.exp(-y32))).astype(x.dtype)
        return y, np.ascontiguousarray(padded[:, :, padded.shape[2] - (k - 1):])

    return run


# --------------------------------------------------------------------------- DeformConv


def _bilinear_taps(
    image: np.ndarray, y: np.ndarray, x: np.ndarray, work: type
) -> np.ndarray:
    """``image`` (C, H, W) sampled at real positions (y, x) of any shape: (C, *y.shape); zero outside.

    Bilinear between the four neighbours, a neighbour outside the image counting as 0 (GridSample with
    zero padding and ``align_corners=1``, as ONNX defines DeformConv).
    """
    c, h, w = image.shape
    flat = image.reshape(c, h * w).astype(work)
    y0, x0 = np.floor(y), np.floor(x)
    out = np.zeros((c, *y.shape), work)
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = y0 + dy, x0 + dx
            weight = (1 - np.abs(y - yy)) * (1 - np.abs(x - xx))
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            index = np.where(inside, yy * w + xx, 0).astype(np.int64)
            out += flat[:, index] * np.where(inside, weight, 0).astype(work)
    return out


def _deform_conv(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """DeformConv (2-D): each kernel tap samples the input at its place plus a learned offset (bilinear,
    zero outside), times the mask; then a grouped convolution of those samples.  Float32 sums (float64
    for float64 data); fp16 data is widened and the output rounded once."""
    x, w, offset = (np.asarray(a) for a in inputs[:3])
    bias = inputs[3] if len(inputs) > 3 and inputs[3] is not None else None
    mask = inputs[4] if len(inputs) > 4 and inputs[4] is not None else None
    if x.ndim != 4 or x.dtype.kind != "f":
        raise NotImplementedError(f"DeformConv of {x.dtype} rank-{x.ndim} data (2-D float only)")
    work = np.float64 if x.dtype == np.float64 else np.float32
    n, c, _, _ = x.shape
    m, c_group, kh, kw = w.shape
    group = int(attrs.get("group", 1))
    groups_off = int(attrs.get("offset_group", 1))
    dh, dw = (int(v) for v in attrs.get("dilations", (1, 1)))
    sh, sw = (int(v) for v in attrs.get("strides", (1, 1)))
    top, left = (int(v) for v in list(attrs.get("pads", (0, 0, 0, 0)))[:2])
    oh, ow = offset.shape[2:]
    if c != c_group * group or m % group or c % groups_off or offset.shape[1] != groups_off * kh * kw * 2:
        raise ValueError(f"DeformConv: shapes X {list(x.shape)}, W {list(w.shape)}, offset {list(offset.shape)} "
                         f"do not fit group={group}, offset_group={groups_off}")
    off = offset.reshape(n, groups_off, kh, kw, 2, oh, ow).astype(work)
    scale = (np.ones((n, groups_off, kh, kw, oh, ow), work) if mask is None
             else np.asarray(mask).reshape(n, groups_off, kh, kw, oh, ow).astype(work))
    # where each tap of each output pixel reads, before its offset: (kh, kw, oh, ow)
    base_y = (-top + sh * np.arange(oh))[None, None, :, None] + (dh * np.arange(kh))[:, None, None, None]
    base_x = (-left + sw * np.arange(ow))[None, None, None, :] + (dw * np.arange(kw))[None, :, None, None]
    per_off = c // groups_off
    cols = np.empty((n, c, kh, kw, oh, ow), work)
    for b in range(n):
        for g in range(groups_off):
            taps = _bilinear_taps(x[b, g * per_off:(g + 1) * per_off], base_y + off[b, g, :, :, 0],
                                  base_x + off[b, g, :, :, 1], work)
            cols[b, g * per_off:(g + 1) * per_off] = taps * scale[b, g][None]
    m_group = m // group
    out = np.empty((n, m, oh * ow), work)
    weights = w.astype(work).reshape(group, m_group, c_group * kh * kw)
    for b in range(n):
        for g in range(group):
            block = cols[b, g * c_group:(g + 1) * c_group].reshape(c_group * kh * kw, oh * ow)
            out[b, g * m_group:(g + 1) * m_group] = weights[g] @ block
    if bias is not None:
        out += np.asarray(bias, work)[None, :, None]
    return (out.reshape(n, m, oh, ow).astype(x.dtype),)


KERNELS: tuple[Kernel, ...] = (
    *(Kernel("DeformConv", p, _deform_conv) for p in ("fp32", "fp16")),
    *(Kernel("CausalConvWithState", p, _causal_conv_with_state(p)) for p in ("fp32", "fp16")),
    *(Kernel("Col2Im", p, _col2im) for p in ("fp32", "fp16")),
    _float_conv_kernel("fp32", np.float32),
    _float_conv_kernel("fp16", np.float16),
    Kernel("ConvTranspose", "fp32", _conv_transpose_run(np.float32)),
    Kernel("ConvTranspose", "fp16", _conv_transpose_run(np.float16)),
    _int_conv_kernel("QLinearConv", _qlinear_plan),
    _int_conv_kernel("ConvInteger", _conv_integer_plan),
)
