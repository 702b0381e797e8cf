"""Convolution kernels against onnxruntime: Conv, ConvTranspose (fp32, fp16), QLinearConv, ConvInteger (int8).

Hypothesis draws shapes and attributes: 1-D and 2-D, dense / grouped /
depthwise (group == channels, with channel multipliers), 1x1 kernels, strides
larger than the kernel, dilations, pads larger than half the kernel, every
auto_pad mode, dims of size 1.  (onnxruntime refuses auto_pad=SAME_* with
dilations > 1, so SAME cases use unit dilations; see also the ConvTranspose
cases.)

Tolerances:

* fp32 (sums are reordered): ``|got - ort| <= 1e-4 * |ort| + 1e-5 * mag``
  element-wise, where ``mag`` is the same op on ``|x|``, ``|w|``, ``|b|``.
* fp16: within one fp16 ulp of onnxruntime's fp16 result (both accumulate in
  float32 and round once; a reordered float32 sum may round the other way)
  plus ``1e-3 * mag``.  Where an onnxruntime build lacks a float16 kernel the
  reference is onnxruntime's float32 result on the same float16-valued inputs,
  rounded to float16, with the same tolerance.
* int8 (QLinearConv, ConvInteger): bit-exact, against two references.
  Full-range codes against the ONNX spec's exact integer arithmetic (the
  accumulator from onnx's ``ReferenceEvaluator``, then the documented float32
  requantization).  The same cases with every int8 operand mapped into
  [-64, 63] against onnxruntime: only there are onnxruntime's own integer sums
  exact on every CPU.  On x86 without VNNI its u8 x s8 kernels add pairs of
  products into a saturated int16 (``vpmaddubsw``: 255*127 + 255*127 > 32767),
  which is why onnxruntime's quantizer offers ``reduce_range`` (7-bit weights);
  see ``exact_int.py`` for the reasoning, the ARM case and the citations
  (microsoft/onnxruntime#16105, #14642, #24220).

Every op with ``run_rows`` is also split at hypothesis-drawn output rows; the
blocks filled through ``run_rows`` must equal ``run`` exactly.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ortref import ort_single_node
from blocks import assert_close, check_blocks
from exact_int import exact_qlinear_conv, int16_safe, reference_run

from gspsim.kernels import get_kernel


seeds = st.integers(0, 2**32 - 1)
cut_lists = st.lists(st.integers(0, 64), max_size=4)
AUTO_PADS = ["NOTSET", "NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]


# --------------------------------------------------------------------------- helpers



def ort_ref(op: str, inputs: list, attrs: dict, **kw: Any) -> np.ndarray:
    """onnxruntime's result; for a float16 node without a float16 kernel, float32 rounded to float16."""
    try:
        return ort_single_node(op, inputs, attrs, **kw)[0]
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
        has_f16 = any(a is not None and np.asarray(a).dtype == np.float16 for a in inputs)
        if not has_f16 or "NOT_IMPLEMENTED" not in str(err):
            raise
    up = [None if a is None else (a.astype(np.float32) if a.dtype == np.float16 else a) for a in inputs]
    return ort_single_node(op, up, attrs, **kw)[0].astype(np.float16)


def magnitude(op: str, inputs: list, attrs: dict) -> np.ndarray:
    """The op applied to absolute values in float32: a bound on the sum of |terms| per output."""
    absin = [None if a is None else np.abs(a.astype(np.float32)) for a in inputs]
    return ort_single_node(op, absin, attrs)[0].astype(np.float64)


def maybe_bytes(attrs: dict, as_bytes: bool) -> dict:
    """The attributes as the engine may pass them: string attributes as bytes."""
    return {k: (v.encode() if as_bytes and isinstance(v, str) else v) for k, v in attrs.items()}


# --------------------------------------------------------------------------- conv cases


def same_size(size: int, stride: int, eff_kernel: int, mode: str) -> int:
    """For auto_pad=SAME_*, shrink ``size`` so the SAME padding is not negative.

    When the last stride step reaches past the kernel, onnxruntime pads by a
    negative amount (shifting the windows) where ONNX / TensorFlow pad by 0;
    the kernels follow the latter, so the tests avoid that corner.
    """
    if not mode.startswith("SAME"):
        return size
    last = size - stride * ((size - 1) // stride)  # input positions after the last window start
    return size - max(0, last - eff_kernel)


@st.composite
def conv_cases(draw: st.DrawFn, kind: Optional[str] = None, max_cg: int = 4, wide: bool = False) -> dict:
    """A Conv geometry: shapes of X and W and the node attributes (defaults sometimes left out).

    ``wide``: 2-D with at least 32 output columns (where depthwise runs per channel, not channels-last).
    """
    rank = 2 if wide else draw(st.sampled_from([2, 2, 2, 1]))
    kind = kind or draw(st.sampled_from(["dense", "dense", "grouped", "depthwise"]))
    if kind == "dense":
        group, cg, mg = 1, draw(st.integers(1, max_cg)), draw(st.integers(1, 4))
    elif kind == "grouped":
        group, cg, mg = draw(st.integers(2, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    else:
        group = draw(st.integers(1, 5))
        cg, mg = 1, draw(st.sampled_from([1, 1, 2]))
    kernel = [draw(st.integers(1, 4)) for _ in range(rank)]
    strides = [draw(st.integers(1, 4)) for _ in range(rank)]
    mode = draw(st.sampled_from(AUTO_PADS))
    dil = [1] * rank if mode.startswith("SAME") else [draw(st.integers(1, 3)) for _ in range(rank)]
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dil)]
    pads = [draw(st.integers(0, eff[i % rank] + 1)) for i in range(2 * rank)] if mode == "NOTSET" else [0] * (2 * rank)
    sizes = []
    for i in range(rank):
        need = {"NOTSET": eff[i] - pads[i] - pads[i + rank], "VALID": eff[i]}.get(mode, 1)
        low = max(1, need) + (32 * strides[i] + eff[i] if wide and i == rank - 1 else 0)
        sizes.append(same_size(draw(st.integers(low, low + 8)), strides[i], eff[i], mode))
    n = draw(st.integers(1, 2))
    attrs: dict[str, Any] = {}
    if group != 1 or draw(st.booleans()):
        attrs["group"] = group
    if draw(st.booleans()):
        attrs["kernel_shape"] = kernel
    if strides != [1] * rank or draw(st.booleans()):
        attrs["strides"] = strides
    if dil != [1] * rank or draw(st.booleans()):
        attrs["dilations"] = dil
    if mode != "NOTSET":
        attrs["auto_pad"] = mode
    elif any(pads) or draw(st.booleans()):
        attrs["pads"] = pads
    return {
        "x_shape": (n, cg * group, *sizes),
        "w_shape": (mg * group, cg, *kernel),
        "attrs": attrs,
        "k": cg * int(np.prod(kernel)),
    }


# --------------------------------------------------------------------------- Conv fp32 / fp16


@pytest.mark.parametrize("precision,dtype", [("fp32", np.float32), ("fp16", np.float16)])
@given(case=conv_cases(), seed=seeds, with_bias=st.booleans(), as_bytes=st.booleans(), cuts=cut_lists)
def test_conv_float(precision: str, dtype: type, case: dict, seed: int, with_bias: bool, as_bytes: bool,
                    cuts: list) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case["x_shape"]).astype(dtype)
    w = rng.standard_normal(case["w_shape"]).astype(dtype)
    inputs = [x, w] + ([rng.standard_normal(case["w_shape"][0]).astype(dtype)] if with_bias else [])
    kernel = get_kernel("Conv", precision)
    attrs = maybe_bytes(case["attrs"], as_bytes)
    got = kernel.run(inputs, attrs)[0]
    assert_close(got, ort_ref("Conv", inputs, case["attrs"]), magnitude("Conv", inputs, case["attrs"]))
    check_blocks(kernel, inputs, attrs, cuts)


# --------------------------------------------------------------------------- QLinearConv


@st.composite
def qconv_params(draw: st.DrawFn, case: dict) -> dict:
    """Quantization parameters onnxruntime accepts: uint8 x with int8/uint8 w, or int8 x with int8 w;
    per-tensor or per-output-channel weight scales; per-channel weight zero points all equal."""
    x_dtype = draw(st.sampled_from([np.uint8, np.int8]))
    w_dtype = np.int8 if x_dtype == np.int8 else draw(st.sampled_from([np.int8, np.uint8]))
    m_out = case["w_shape"][0]
    per_channel = draw(st.booleans())
    w_info = np.iinfo(w_dtype)
    w_zp = 0 if draw(st.booleans()) else draw(st.integers(int(w_info.min), int(w_info.max)))
    x_info = np.iinfo(x_dtype)
    return {
        "x_dtype": x_dtype,
        "w_dtype": w_dtype,
        "x_zp": draw(st.integers(int(x_info.min), int(x_info.max))),
        "w_zp": np.full(m_out if per_channel else 1, w_zp, w_dtype),
        "per_channel": per_channel,
        "y_zp": draw(st.integers(int(x_info.min), int(x_info.max))),
        # output scale relative to the typical accumulator: from clamping most outputs to fine steps
        "y_spread": draw(st.sampled_from([0.05, 0.5, 2.0, 20.0])),
        "with_bias": draw(st.booleans()),
        "const_w": draw(st.booleans()),
    }


def qconv_inputs(case: dict, q: dict, rng: np.random.Generator) -> tuple[list, tuple[int, ...]]:
    """QLinearConv inputs (X, x_scale, x_zp, W, w_scale, w_zp, y_scale, y_zp[, B]) and the initializer slots."""
    xi, wi = np.iinfo(q["x_dtype"]), np.iinfo(q["w_dtype"])
    x = rng.integers(int(xi.min), int(xi.max) + 1, case["x_shape"]).astype(q["x_dtype"])
    w = rng.integers(int(wi.min), int(wi.max) + 1, case["w_shape"]).astype(q["w_dtype"])
    m_out = case["w_shape"][0]
    x_scale = np.float32(rng.uniform(0.002, 0.05))
    w_scale = rng.uniform(0.002, 0.05, m_out if q["per_channel"] else 1).astype(np.float32)
    typical = 128.0 * 64.0 * np.sqrt(case["k"]) * float(x_scale) * float(np.mean(w_scale))
    y_scale = np.float32(typical * q["y_spread"] / 128.0)
    inputs = [x, x_scale, q["x_dtype"](q["x_zp"]), w, w_scale, q["w_zp"], y_scale, q["x_dtype"](q["y_zp"])]
    if q["with_bias"]:
        inputs.append(rng.integers(-(2**16), 2**16, m_out).astype(np.int32))
    init = tuple(range(1, len(inputs))) if q["const_w"] else ()
    return inputs, init


def int16_safe_qconv(inputs: list) -> list:
    """QLinearConv inputs with X, W and the X zero point (the padding value) int16-safe (``exact_int``)."""
    return [int16_safe(a) if i in (0, 2, 3) else a for i, a in enumerate(inputs)]


def check_qlinear_conv(inputs: list, attrs: dict, init: tuple[int, ...], cuts: list) -> None:
    """Bit-exact with the exact integer reference on these codes, with onnxruntime on their int16-safe
    version, and the same through ``run_rows`` blocks."""
    kernel = get_kernel("QLinearConv", "int8")
    got = kernel.run(inputs, attrs)[0]
    want = exact_qlinear_conv(inputs, attrs)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    safe = int16_safe_qconv(inputs)
    np.testing.assert_array_equal(kernel.run(safe, attrs)[0],
                                  ort_single_node("QLinearConv", safe, attrs, as_initializer=init)[0])
    check_blocks(kernel, inputs, attrs, cuts)


@given(data=st.data(), seed=seeds, cuts=cut_lists)
def test_qlinear_conv(data: st.DataObject, seed: int, cuts: list) -> None:
    case = data.draw(conv_cases())
    q = data.draw(qconv_params(case))
    inputs, init = qconv_inputs(case, q, np.random.default_rng(seed))
    check_qlinear_conv(inputs, case["attrs"], init, cuts)


@st.composite
def long_sum_cases(draw: st.DrawFn) -> dict:
    """Convs with more than 256 terms per output (the int32 GEMM rather than exact float32 BLAS)."""
    group = draw(st.integers(1, 2))
    kh, kw = draw(st.sampled_from([(1, 1), (3, 3), (2, 5)]))
    cg = draw(st.integers(256 // (kh * kw) + 1, 256 // (kh * kw) + 12))
    mg = draw(st.integers(1, 9))
    stride = draw(st.integers(1, 2))
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    h = draw(st.integers(max(1, kh - pads[0] - pads[2]), 7))
    w = draw(st.integers(max(1, kw - pads[1] - pads[3]), 7))
    return {
        "x_shape": (draw(st.integers(1, 2)), cg * group, h, w),
        "w_shape": (mg * group, cg, kh, kw),
        "attrs": {"group": group, "strides": [stride, stride], "pads": pads},
        "k": cg * kh * kw,
    }


@given(data=st.data(), seed=seeds, cuts=cut_lists)
def test_qlinear_conv_long_sums(data: st.DataObject, seed: int, cuts: list) -> None:
    case = data.draw(long_sum_cases())
    assert case["k"] > 256
    q = data.draw(qconv_params(case))
    inputs, init = qconv_inputs(case, q, np.random.default_rng(seed))
    check_qlinear_conv(inputs, case["attrs"], init, cuts)


def extreme_codes(codes: np.ndarray) -> np.ndarray:
    """Each code moved to the end of the int16-safe range (``exact_int``) on its side: int8 -64 or 63."""
    return np.where(codes < 0, -64, 63).astype(np.int8) if codes.dtype == np.int8 else codes


@pytest.mark.parametrize("x_dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("cin,k,group", [(16, 3, 1), (64, 3, 1), (300, 1, 1), (16, 3, 16)])
def test_qlinear_conv_extremes(x_dtype: type, cin: int, k: int, group: int) -> None:
    """Inputs and weights at the ends of their ranges: the largest sums, saturation at both ends.

    Full 8-bit extremes: bit-exact with the exact integer reference, and within one code of onnx's own
    QLinearConv (which requantizes in float64 rather than float32).  Extremes of the int16-safe range
    (int8 codes -64 and 63): bit-exact with onnxruntime."""
    rng = np.random.default_rng(cin * k + group)
    xi = np.iinfo(x_dtype)
    m_out = 16
    x = rng.choice([xi.min, xi.max], (1, cin, 6, 6)).astype(x_dtype)
    w = rng.choice([-128, 127], (m_out, cin // group, k, k)).astype(np.int8)
    kernel = get_kernel("QLinearConv", "int8")
    attrs = {"pads": [1, 1, 1, 1], "group": group}
    for y_scale in (np.float32(1e-3), np.float32(0.37), np.float32(700.0)):
        inputs = [x, np.float32(1.0), x_dtype(xi.min), w, np.full(m_out, 0.5, np.float32), np.zeros(m_out, np.int8),
                  y_scale, x_dtype(0), rng.integers(-(2**20), 2**20, m_out).astype(np.int32)]
        got = kernel.run(inputs, attrs)[0]
        np.testing.assert_array_equal(got, exact_qlinear_conv(inputs, attrs))
        spec = reference_run("QLinearConv", inputs, attrs)
        assert np.max(np.abs(got.astype(np.int32) - spec.astype(np.int32))) <= 1
        safe = [extreme_codes(a) if i in (0, 3) else int16_safe(a) if i == 2 else a for i, a in enumerate(inputs)]
        np.testing.assert_array_equal(kernel.run(safe, attrs)[0], ort_single_node("QLinearConv", safe, attrs)[0])


@given(data=st.data(), seed=seeds, cuts=cut_lists)
def test_depthwise_wide(data: st.DataObject, seed: int, cuts: list) -> None:
    """Depthwise convs at least 32 output columns wide (the per-channel rather than channels-last loop)."""
    case = data.draw(conv_cases(kind="depthwise", wide=True))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case["x_shape"]).astype(np.float32)
    w = rng.standard_normal(case["w_shape"]).astype(np.float32)
    b = rng.standard_normal(case["w_shape"][0]).astype(np.float32)
    kernel = get_kernel("Conv", "fp32")
    assert kernel.run([x, w, b], case["attrs"])[0].shape[3] >= 32
    assert_close(kernel.run([x, w, b], case["attrs"])[0], ort_ref("Conv", [x, w, b], case["attrs"]),
                 magnitude("Conv", [x, w, b], case["attrs"]))
    check_blocks(kernel, [x, w, b], case["attrs"], cuts)
    inputs, init = qconv_inputs(case, data.draw(qconv_params(case)), rng)
    check_qlinear_conv(inputs, case["attrs"], init, cuts)


# --------------------------------------------------------------------------- ConvInteger


@given(data=st.data(), seed=seeds, cuts=cut_lists)
def test_conv_integer(data: st.DataObject, seed: int, cuts: list) -> None:
    long_sums = data.draw(st.booleans())
    case = data.draw(long_sum_cases() if long_sums else conv_cases())
    x_dtype = data.draw(st.sampled_from([np.uint8, np.int8]))
    w_dtype = data.draw(st.sampled_from([np.uint8, np.int8]))
    rng = np.random.default_rng(seed)
    xi, wi = np.iinfo(x_dtype), np.iinfo(w_dtype)
    inputs: list = [rng.integers(int(xi.min), int(xi.max) + 1, case["x_shape"]).astype(x_dtype),
                    rng.integers(int(wi.min), int(wi.max) + 1, case["w_shape"]).astype(w_dtype)]
    zps = data.draw(st.sampled_from(["none", "x", "both"]))
    if zps != "none":
        inputs.append(x_dtype(data.draw(st.integers(int(xi.min), int(xi.max)))))
    if zps == "both":
        inputs.append(w_dtype(data.draw(st.integers(int(wi.min), int(wi.max)))))
    kernel = get_kernel("ConvInteger", "int8")
    got = kernel.run(inputs, case["attrs"])[0]
    want = reference_run("ConvInteger", inputs, case["attrs"])
    assert got.dtype == want.dtype == np.int32
    np.testing.assert_array_equal(got, want)
    safe = [int16_safe(a) if i < 3 else a for i, a in enumerate(inputs)]  # X, W, and X's zero point (padding)
    np.testing.assert_array_equal(kernel.run(safe, case["attrs"])[0],
                                  ort_single_node("ConvInteger", safe, case["attrs"])[0])
    check_blocks(kernel, inputs, case["attrs"], cuts)


def test_conv_integer_per_channel_zero_points() -> None:
    """ONNX allows a per-output-channel w_zero_point (onnxruntime does not): check against numpy."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (1, 3, 5, 6)).astype(np.uint8)
    w = rng.integers(-128, 128, (4, 3, 3, 2)).astype(np.int8)
    w_zp = np.array([0, -3, 5, 127], np.int8)
    got = get_kernel("ConvInteger", "int8").run([x, w, np.uint8(9), w_zp], {"pads": [1, 0, 1, 1]})[0]
    xp = np.pad(x.astype(np.int64) - 9, ((0, 0), (0, 0), (1, 1), (0, 1)))
    wd = w.astype(np.int64) - w_zp.astype(np.int64)[:, None, None, None]
    want = np.zeros(got.shape, np.int64)
    for i in range(3):
        for j in range(2):
            want += np.einsum("nchw,mc->nmhw", xp[:, :, i:i + got.shape[2], j:j + got.shape[3]], wd[:, :, i, j])
    np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------- ConvTranspose


@st.composite
def conv_transpose_cases(draw: st.DrawFn) -> dict:
    rank = draw(st.sampled_from([2, 2, 1]))
    group = draw(st.integers(1, 3))
    cg, mg = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 4)) for _ in range(rank)]
    strides = [draw(st.integers(1, 3)) for _ in range(rank)]
    mode = draw(st.sampled_from(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "output_shape"]))
    dil = [1] * rank if mode.startswith("SAME") else [draw(st.integers(1, 2)) for _ in range(rank)]
    if mode.startswith("SAME"):
        # ONNX's SAME output (input * stride) needs negative padding when the kernel is shorter than
        # the stride; onnxruntime then returns the unpadded size instead, so leave that case out
        kernel = [max(k, s) for k, s in zip(kernel, strides)]
    sizes = [draw(st.integers(1, 6)) for _ in range(rank)]
    out_pad = [draw(st.integers(0, s - 1)) for s in strides]  # onnxruntime wants < stride (ONNX: or dilation)
    full = [s * (n - 1) + op + (k - 1) * d + 1 for s, n, op, k, d in zip(strides, sizes, out_pad, kernel, dil)]
    attrs: dict[str, Any] = {"group": group, "strides": strides, "dilations": dil}
    if any(out_pad):
        attrs["output_padding"] = out_pad
    if mode == "NOTSET":
        pads = [draw(st.integers(0, 3)) for _ in range(2 * rank)]
        for i in range(rank):  # keep at least one output
            excess = pads[i] + pads[i + rank] - (full[i] - 1)
            if excess > 0:
                pads[i] = max(0, pads[i] - excess)
                pads[i + rank] = min(pads[i + rank], full[i] - 1 - pads[i])
        attrs["pads"] = pads
    elif mode == "output_shape":
        attrs["output_shape"] = [draw(st.integers(1, f)) for f in full]
    else:
        attrs["auto_pad"] = mode
    return {"x_shape": (draw(st.integers(1, 2)), cg * group, *sizes), "w_shape": (cg * group, mg, *kernel),
            "m_out": mg * group, "attrs": attrs}


@pytest.mark.parametrize("precision,dtype", [("fp32", np.float32), ("fp16", np.float16)])
@given(case=conv_transpose_cases(), seed=seeds, with_bias=st.booleans())
def test_conv_transpose(precision: str, dtype: type, case: dict, seed: int, with_bias: bool) -> None:
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(case["x_shape"]).astype(dtype), rng.standard_normal(case["w_shape"]).astype(dtype)]
    if with_bias:
        inputs.append(rng.standard_normal(case["m_out"]).astype(dtype))
    got = get_kernel("ConvTranspose", precision).run(inputs, case["attrs"])[0]
    want = ort_ref("ConvTranspose", inputs, case["attrs"])
    assert_close(got, want, magnitude("ConvTranspose", inputs, case["attrs"]))


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    "op,precision,rows",
    [("Conv", "fp32", True), ("Conv", "fp16", True), ("ConvTranspose", "fp32", False),
     ("ConvTranspose", "fp16", False), ("QLinearConv", "int8", True), ("ConvInteger", "int8", True)],
)
def test_registered(op: str, precision: str, rows: bool) -> None:
    kernel = get_kernel(op, precision)
    assert (kernel.op_type, kernel.precision) == (op, precision)
    assert (kernel.run_rows is not None) == rows
    assert kernel.row_axis == (2 if rows else None)


# --------------------------------------------------------------------------- DeformConv
@st.composite
def deform_conv_case(draw: st.DrawFn) -> tuple[list, dict]:
    """Random DeformConv geometry: groups, offset groups, stride, dilation, padding, bias and mask."""
    group, groups_off = draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2]))
    c = group * groups_off * draw(st.integers(1, 2))
    m = group * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw, dh, dw = (draw(st.integers(1, 2)) for _ in range(4))
    pads = [draw(st.integers(0, 1)) for _ in range(4)]
    h, w = draw(st.integers(3, 6)), draw(st.integers(3, 6))
    oh = (h + pads[0] + pads[2] - ((kh - 1) * dh + 1)) // sh + 1
    ow = (w + pads[1] + pads[3] - ((kw - 1) * dw + 1)) // sw + 1
    rng = np.random.default_rng(draw(seeds))
    n = draw(st.integers(1, 2))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weight = rng.standard_normal((m, c // group, kh, kw)).astype(np.float32)
    # offsets up to two pixels either way: taps fall between pixels and outside the image
    offset = (rng.random((n, groups_off * kh * kw * 2, oh, ow)) * 4 - 2).astype(np.float32)
    bias = rng.standard_normal(m).astype(np.float32) if draw(st.booleans()) else None
    mask = rng.random((n, groups_off * kh * kw, oh, ow)).astype(np.float32) if draw(st.booleans()) else None
    attrs = {"group": group, "offset_group": groups_off, "kernel_shape": [kh, kw], "strides": [sh, sw],
             "dilations": [dh, dw], "pads": pads}
    return [x, weight, offset, bias, mask], attrs


@given(case=deform_conv_case())
def test_deform_conv_matches_onnxruntime(case: tuple) -> None:
    inputs, attrs = case
    inputs = inputs if inputs[4] is not None else inputs[:4] if inputs[3] is not None else inputs[:3]
    got = get_kernel("DeformConv", "fp32").run(inputs, attrs)[0]
    want = ort_single_node("DeformConv", inputs, attrs, opset=22)[0]
    x, w = inputs[0], inputs[1]
    mag = np.full(want.shape, np.abs(x).max() * np.abs(w).sum() / w.shape[0] + 1)  # a bound on the sum's terms
    assert_close(got, want, mag)


def test_deform_conv_with_zero_offsets_is_a_convolution() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 4, 6, 5)).astype(np.float32)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    attrs = {"group": 2, "pads": [1, 1, 1, 1], "strides": [2, 1]}
    conv = get_kernel("Conv", "fp32").run([x, w], attrs)[0]
    offset = np.zeros((1, 18, *conv.shape[2:]), np.float32)
    got = get_kernel("DeformConv", "fp32").run([x, w, offset], attrs)[0]
    np.testing.assert_allclose(got, conv, rtol=1e-5, atol=1e-5)


def test_deform_conv_fp16_rounds_once_and_3d_is_refused() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float16)
    w = rng.standard_normal((2, 2, 2, 2)).astype(np.float16)
    offset = (rng.random((1, 8, 3, 3)) - 0.5).astype(np.float16)
    got = get_kernel("DeformConv", "fp16").run([x, w, offset], {})[0]
    wide = get_kernel("DeformConv", "fp32").run([a.astype(np.float32) for a in (x, w, offset)], {})[0]
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, wide.astype(np.float16))
    with pytest.raises(NotImplementedError, match="rank-5"):
        get_kernel("DeformConv", "fp32").run([np.zeros((1, 1, 2, 2, 2), np.float32)] * 3, {})
