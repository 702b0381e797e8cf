"""Recurrent ops (RNN, GRU, LSTM), GridSample and the smaller added ops, against onnxruntime.

Property tests draw directions, sequence lengths, layouts and sizes; GridSample
draws modes, paddings and grids reaching outside the input.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from ortref import ort_single_node

from gspsim.kernels import get_kernel

seeds = st.integers(0, 2**32 - 1)
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


@given(kind=st.sampled_from(list(GATES)), direction=st.sampled_from(["forward", "reverse", "bidirectional"]),
       seed=seeds, seq=st.integers(1, 5), batch=st.integers(1, 3), layout=st.integers(0, 1),
       linear_before_reset=st.integers(0, 1))
def test_recurrent_ops_match_onnxruntime(kind: str, direction: str, seed: int, seq: int, batch: int, layout: int,
                                         linear_before_reset: int) -> None:
    """Time-first against onnxruntime; batch-first (which onnxruntime does not run) against time-first."""
    rng = np.random.default_rng(seed)
    dirs, gates, size, hidden = (2 if direction == "bidirectional" else 1), GATES[kind], 3, 4
    f = np.float32
    x = rng.standard_normal((seq, batch, size)).astype(f)
    w = (rng.standard_normal((dirs, gates * hidden, size)) * 0.5).astype(f)
    r = (rng.standard_normal((dirs, gates * hidden, hidden)) * 0.5).astype(f)
    b = (rng.standard_normal((dirs, 2 * gates * hidden)) * 0.1).astype(f)
    lens = rng.integers(1, seq + 1, batch).astype(np.int32)
    h0 = rng.standard_normal((dirs, batch, hidden)).astype(f)
    attrs = {"hidden_size": hidden, "direction": direction}
    if kind == "GRU":
        attrs["linear_before_reset"] = linear_before_reset
    inputs = [x, w, r, b, lens, h0]
    outputs = 3 if kind == "LSTM" else 2
    want = ort_single_node(kind, inputs, attrs, n_outputs=outputs, opset=22)
    got = get_kernel(kind, "fp32").run(inputs, attrs)
    for g, w_ in zip(got, want):
        assert g.shape == w_.shape
        np.testing.assert_allclose(g, w_, rtol=1e-5, atol=1e-5)
    if layout:
        batch_first = [np.swapaxes(x, 0, 1), w, r, b, lens, np.swapaxes(h0, 0, 1)]
        got_bf = get_kernel(kind, "fp32").run(batch_first, {**attrs, "layout": 1})
        np.testing.assert_allclose(got_bf[0], np.transpose(got[0], (2, 0, 1, 3)), rtol=1e-6, atol=1e-6)
        for g_bf, g in zip(got_bf[1:], got[1:]):
            np.testing.assert_allclose(g_bf, np.swapaxes(g, 0, 1), rtol=1e-6, atol=1e-6)


@given(seed=seeds, mode=st.sampled_from(["linear", "nearest", "cubic"]),
       padding=st.sampled_from(["zeros", "border", "reflection"]), align=st.integers(0, 1), volumetric=st.booleans())
def test_grid_sample_matches_onnxruntime(seed: int, mode: str, padding: str, align: int, volumetric: bool) -> None:
    if volumetric and mode == "cubic":
        mode = "linear"  # onnxruntime has no volumetric bicubic
    rng = np.random.default_rng(seed)
    spatial = (3, 4, 5) if volumetric else (4, 5)
    x = rng.standard_normal((2, 3, *spatial)).astype(np.float32)
    grid = (rng.random((2, *((2, 3, 2) if volumetric else (3, 4)), len(spatial))) * 2.6 - 1.3).astype(np.float32)
    attrs = {"mode": mode, "padding_mode": padding, "align_corners": align}
    np.testing.assert_allclose(get_kernel("GridSample", "fp32").run([x, grid], attrs)[0],
                               ort_single_node("GridSample", [x, grid], attrs, opset=22)[0], rtol=1e-4, atol=1e-4)


@given(seed=seeds, axis=st.integers(-2, 1))
def test_one_hot_matches_onnxruntime(seed: int, axis: int) -> None:
    rng = np.random.default_rng(seed)
    indices = rng.integers(-5, 7, (3, 4)).astype(np.int64)
    inputs = [indices, np.array([5], np.int64), np.array([-1.0, 2.0], np.float32)]
    np.testing.assert_array_equal(get_kernel("OneHot", "fp32").run(inputs, {"axis": axis})[0],
                                  ort_single_node("OneHot", inputs, {"axis": axis}, opset=11)[0])


@given(seed=seeds, center=st.integers(0, 1), limit=st.integers(1, 4))
def test_non_max_suppression_matches_onnxruntime(seed: int, center: int, limit: int) -> None:
    rng = np.random.default_rng(seed)
    boxes = rng.random((1, 6, 4)).astype(np.float32)
    scores = rng.random((1, 2, 6)).astype(np.float32)
    inputs = [boxes, scores, np.array([limit], np.int64), np.array([0.3], np.float32), np.array([0.2], np.float32)]
    np.testing.assert_array_equal(
        get_kernel("NonMaxSuppression", "fp32").run(inputs, {"center_point_box": center})[0],
        ort_single_node("NonMaxSuppression", inputs, {"center_point_box": center}, opset=11)[0])
