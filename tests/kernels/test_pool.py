"""Pooling kernels against onnxruntime: MaxPool (fp32, fp16, int8), AveragePool and GlobalAveragePool
(fp32, fp16), com.microsoft QLinearAveragePool and QLinearGlobalAveragePool (int8).

Hypothesis draws 1-D and 2-D pools with kernels from 1 to 4, strides up to 4
(larger than the kernel), dilations, pads (onnxruntime requires pads smaller
than the kernel), ceil_mode, count_include_pad, every auto_pad mode, dims of
size 1.  Left out, where onnxruntime departs from ONNX (see
``gspsim/kernels/ops/_conv_geometry.py``): auto_pad=SAME_* with dilations, VALID with
ceil_mode, and SAME where the needed padding would be negative.

Tolerances: MaxPool, QLinearAveragePool and QLinearGlobalAveragePool are
bit-exact (fp16 MaxPool too).  AveragePool / GlobalAveragePool fp32 within
``1e-4 * |ort| + 1e-5 * mag`` (``mag`` the op on ``|x|``); fp16 within one
fp16 ulp of onnxruntime's fp16 result plus ``1e-3 * mag`` (where onnxruntime
lacks a float16 kernel: its float32 result on the same values, rounded to
float16).

Every op with ``run_rows`` is also split at hypothesis-drawn output rows; the
blocks filled through ``run_rows`` must equal ``run`` exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ortref import ort_single_node
from blocks import assert_close, check_blocks

from gspsim.kernels import get_kernel


seeds = st.integers(0, 2**32 - 1)
cut_lists = st.lists(st.integers(0, 64), max_size=4)
MS = "com.microsoft"


# --------------------------------------------------------------------------- helpers



def ort_ref(op: str, inputs: list, attrs: dict, **kw: Any) -> np.ndarray:
    """onnxruntime's result; for a float16 node without a float16 kernel, float32 rounded to float16."""
    try:
        return ort_single_node(op, inputs, attrs, **kw)[0]
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
        if inputs[0].dtype != np.float16 or "NOT_IMPLEMENTED" not in str(err):
            raise
    return ort_single_node(op, [inputs[0].astype(np.float32)], attrs, **kw)[0].astype(np.float16)


def same_size(size: int, stride: int, kernel: int, mode: str) -> int:
    """For auto_pad=SAME_*, shrink ``size`` so the SAME padding is not negative (see the module doc)."""
    if not mode.startswith("SAME"):
        return size
    last = size - stride * ((size - 1) // stride)
    return size - max(0, last - kernel)


@st.composite
def pool_cases(draw: st.DrawFn, dilations: bool = True) -> dict:
    """A pool geometry: the input shape and the node attributes (defaults sometimes left out)."""
    rank = draw(st.sampled_from([2, 2, 2, 1]))
    kernel = [draw(st.integers(1, 4)) for _ in range(rank)]
    strides = [draw(st.integers(1, 4)) for _ in range(rank)]
    mode = draw(st.sampled_from(["NOTSET", "NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    ceil_mode = 0 if mode == "VALID" else draw(st.integers(0, 1))
    dil = [draw(st.integers(1, 3)) for _ in range(rank)] if dilations and mode in ("NOTSET", "VALID") else [1] * rank
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dil)]
    pads = [draw(st.integers(0, kernel[i % rank] - 1)) for i in range(2 * rank)] if mode == "NOTSET" else [0] * (2 * rank)
    sizes = []
    for i in range(rank):
        need = {"NOTSET": eff[i] - pads[i] - pads[i + rank], "VALID": eff[i]}.get(mode, 1)
        sizes.append(same_size(draw(st.integers(max(1, need), max(1, need) + 8)), strides[i], eff[i], mode))
    attrs: dict[str, Any] = {"kernel_shape": kernel}
    if strides != [1] * rank or draw(st.booleans()):
        attrs["strides"] = strides
    if dil != [1] * rank:
        attrs["dilations"] = dil
    if ceil_mode or draw(st.booleans()):
        attrs["ceil_mode"] = ceil_mode
    if mode != "NOTSET":
        attrs["auto_pad"] = draw(st.sampled_from([mode, mode.encode()]))
    elif any(pads) or draw(st.booleans()):
        attrs["pads"] = pads
    return {"x_shape": (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *sizes), "attrs": attrs}


def ort_attrs(attrs: dict) -> dict:
    """The node attributes for onnx.helper (strings as str)."""
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}


# --------------------------------------------------------------------------- MaxPool


@pytest.mark.parametrize(
    "precision,dtype",
    [("fp32", np.float32), ("fp16", np.float16), ("int8", np.int8), ("int8", np.uint8)],
)
@given(case=pool_cases(), seed=seeds, cuts=cut_lists)
def test_max_pool(precision: str, dtype: type, case: dict, seed: int, cuts: list) -> None:
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = rng.integers(int(info.min), int(info.max) + 1, case["x_shape"]).astype(dtype)
    else:
        x = (rng.standard_normal(case["x_shape"]) * 10).astype(dtype)
    kernel = get_kernel("MaxPool", precision)
    got = kernel.run([x], case["attrs"])[0]
    want = ort_ref("MaxPool", [x], ort_attrs(case["attrs"]))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    check_blocks(kernel, [x], case["attrs"], cuts)


# --------------------------------------------------------------------------- AveragePool


@pytest.mark.parametrize("precision,dtype", [("fp32", np.float32), ("fp16", np.float16)])
@given(case=pool_cases(), seed=seeds, include_pad=st.sampled_from([None, 0, 1]), cuts=cut_lists)
def test_average_pool(precision: str, dtype: type, case: dict, seed: int, include_pad: Any, cuts: list) -> None:
    x = np.random.default_rng(seed).standard_normal(case["x_shape"]).astype(dtype)
    attrs = dict(case["attrs"])
    if include_pad is not None:
        attrs["count_include_pad"] = include_pad
    kernel = get_kernel("AveragePool", precision)
    got = kernel.run([x], attrs)[0]
    mag = ort_single_node("AveragePool", [np.abs(x).astype(np.float32)], ort_attrs(attrs))[0].astype(np.float64)
    assert_close(got, ort_ref("AveragePool", [x], ort_attrs(attrs)), mag)
    check_blocks(kernel, [x], attrs, cuts)


@pytest.mark.parametrize("precision,dtype", [("fp32", np.float32), ("fp16", np.float16)])
@given(shape=st.lists(st.integers(1, 9), min_size=3, max_size=5), seed=seeds, cuts=cut_lists)
def test_global_average_pool(precision: str, dtype: type, shape: list, seed: int, cuts: list) -> None:
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    kernel = get_kernel("GlobalAveragePool", precision)
    got = kernel.run([x], {})[0]
    mag = ort_single_node("GlobalAveragePool", [np.abs(x).astype(np.float32)], {})[0].astype(np.float64)
    assert_close(got, ort_ref("GlobalAveragePool", [x], {}), mag)
    if x.ndim <= 4:
        check_blocks(kernel, [x], {}, cuts)


# --------------------------------------------------------------------------- QLinear pools


@st.composite
def qparams(draw: st.DrawFn, dtype: type) -> dict:
    info = np.iinfo(dtype)
    return {
        "x_scale": np.float32(draw(st.floats(0.005, 0.2))),
        "x_zp": dtype(draw(st.integers(int(info.min), int(info.max)))),
        "y_scale": np.float32(draw(st.floats(0.005, 0.2))),
        "y_zp": dtype(draw(st.integers(int(info.min), int(info.max)))),
    }


def q_inputs(x: np.ndarray, q: dict) -> list:
    """QLinear pool inputs (onnxruntime's type inference needs the optional zero points present)."""
    return [x, q["x_scale"], q["x_zp"], q["y_scale"], q["y_zp"]]


@given(data=st.data(), seed=seeds, cuts=cut_lists)
def test_qlinear_average_pool(data: st.DataObject, seed: int, cuts: list) -> None:
    dtype = data.draw(st.sampled_from([np.uint8, np.int8]))
    if data.draw(st.booleans()):
        case = data.draw(pool_cases(dilations=False))
    else:  # the kernel covers the whole unpadded image: onnxruntime's global-pool path
        spatial = data.draw(st.lists(st.integers(1, 7), min_size=1, max_size=2))
        case = {"x_shape": (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), *spatial),
                "attrs": {"kernel_shape": spatial}}
    attrs = dict(case["attrs"])
    include_pad = data.draw(st.sampled_from([None, 0, 1]))
    if include_pad is not None:
        attrs["count_include_pad"] = include_pad
    info = np.iinfo(dtype)
    x = np.random.default_rng(seed).integers(int(info.min), int(info.max) + 1, case["x_shape"]).astype(dtype)
    inputs = q_inputs(x, data.draw(qparams(dtype)))
    kernel = get_kernel("QLinearAveragePool", "int8")
    got = kernel.run(inputs, attrs)[0]
    want = ort_single_node("QLinearAveragePool", inputs, ort_attrs(attrs), domain=MS)[0]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    check_blocks(kernel, inputs, attrs, cuts)
    if x.ndim == 4 and data.draw(st.booleans()):
        nhwc = [np.ascontiguousarray(x.transpose(0, 2, 3, 1)), *inputs[1:]]
        cl_attrs = {**attrs, "channels_last": 1}
        got_cl = kernel.run(nhwc, cl_attrs)[0]
        np.testing.assert_array_equal(got_cl, ort_single_node("QLinearAveragePool", nhwc, ort_attrs(cl_attrs),
                                                              domain=MS)[0])


@given(data=st.data(), shape=st.lists(st.integers(1, 12), min_size=3, max_size=4), seed=seeds, cuts=cut_lists)
def test_qlinear_global_average_pool(data: st.DataObject, shape: list, seed: int, cuts: list) -> None:
    dtype = data.draw(st.sampled_from([np.uint8, np.int8]))
    info = np.iinfo(dtype)
    x = np.random.default_rng(seed).integers(int(info.min), int(info.max) + 1, shape).astype(dtype)
    inputs = q_inputs(x, data.draw(qparams(dtype)))
    channels_last = data.draw(st.integers(0, 1))
    attrs = {"channels_last": channels_last} if channels_last or data.draw(st.booleans()) else {}
    kernel = get_kernel("QLinearGlobalAveragePool", "int8")
    got = kernel.run(inputs, attrs)[0]
    want = ort_single_node("QLinearGlobalAveragePool", inputs, attrs, domain=MS)[0]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    if not channels_last:
        check_blocks(kernel, inputs, attrs, cuts)


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    "op,precision",
    [("MaxPool", "fp32"), ("MaxPool", "fp16"), ("MaxPool", "int8"), ("AveragePool", "fp32"),
     ("AveragePool", "fp16"), ("GlobalAveragePool", "fp32"), ("GlobalAveragePool", "fp16"),
     ("QLinearAveragePool", "int8"), ("QLinearGlobalAveragePool", "int8")],
)
def test_registered(op: str, precision: str) -> None:
    kernel = get_kernel(op, precision)
    assert (kernel.op_type, kernel.precision, kernel.row_axis) == (op, precision, 2)
    assert kernel.run_rows is not None
