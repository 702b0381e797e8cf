"""Attention (opset 23), RotaryEmbedding (opset 23) and Einsum, against onnxruntime.

Property tests draw batch, heads (grouped-query included), sequence lengths,
cache lengths and masks; causal attention's first query sees only the first
key, so its output is the first value row.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ortref import ort_single_node

from gspsim.kernels import get_kernel

seeds = st.integers(0, 2**32 - 1)


@st.composite
def attention_case(draw: st.DrawFn) -> tuple[list, dict, int]:
    rng = np.random.default_rng(draw(seeds))
    kv_heads = draw(st.sampled_from([1, 2]))
    heads = kv_heads * draw(st.sampled_from([1, 2]))
    b, q_len, kv_len, past = draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(
        st.integers(0, 3))
    head, v_head = draw(st.sampled_from([4, 8])), draw(st.sampled_from([4, 6]))
    f = np.float32
    inputs: list = [rng.standard_normal((b, heads, q_len, head)).astype(f),
                    rng.standard_normal((b, kv_heads, kv_len, head)).astype(f),
                    rng.standard_normal((b, kv_heads, kv_len, v_head)).astype(f)]
    mask = draw(st.sampled_from(["none", "bool", "float"]))
    total = kv_len + past
    inputs.append(None if mask == "none" else (rng.random((q_len, total)) < 0.8) if mask == "bool"
                  else rng.standard_normal((q_len, total)).astype(f))
    if past:
        inputs += [rng.standard_normal((b, kv_heads, past, head)).astype(f),
                   rng.standard_normal((b, kv_heads, past, v_head)).astype(f)]
    # causal masking with a cache: onnx (its reference and its test data) aligns the mask bottom-right, as
    # gspsim does; onnxruntime 1.32 aligns it top-left at opset 23, so the two are compared without a cache
    attrs = {"is_causal": 0 if past else draw(st.integers(0, 1))}
    if draw(st.booleans()):
        attrs["scale"] = 0.3
    if draw(st.booleans()):
        attrs["softcap"] = 2.5
    return inputs, attrs, 3 if past else 1


@given(case=attention_case())
def test_attention_matches_onnxruntime(case: tuple) -> None:
    inputs, attrs, n_out = case
    want = ort_single_node("Attention", inputs, attrs, n_outputs=n_out, opset=23)
    got = get_kernel("Attention", "fp32").run(inputs, attrs)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("heads,kv_heads", [(4, 4), (4, 2)])
def test_3d_attention_with_head_counts_matches_onnxruntime(heads: int, kv_heads: int) -> None:
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 5, heads * 8)).astype(np.float32)
    k = rng.standard_normal((2, 7, kv_heads * 8)).astype(np.float32)
    v = rng.standard_normal((2, 7, kv_heads * 6)).astype(np.float32)
    attrs = {"q_num_heads": heads, "kv_num_heads": kv_heads}
    np.testing.assert_allclose(get_kernel("Attention", "fp32").run([q, k, v], attrs)[0],
                               ort_single_node("Attention", [q, k, v], attrs, opset=23)[0], rtol=1e-4, atol=1e-5)


@given(seed=seeds)
def test_causal_attention_with_a_cache_is_aligned_bottom_right(seed: int) -> None:
    """The last query sees every key (past and new): with a cache, the mask is offset by the cache length."""
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((1, 1, 2, 4)).astype(np.float32) for _ in range(3))
    past_k, past_v = (rng.standard_normal((1, 1, 3, 4)).astype(np.float32) for _ in range(2))
    causal = get_kernel("Attention", "fp32").run([q, k, v, None, past_k, past_v], {"is_causal": 1})[0]
    full = get_kernel("Attention", "fp32").run([q, k, v, None, past_k, past_v], {})[0]
    np.testing.assert_allclose(causal[:, :, -1], full[:, :, -1], rtol=1e-6)


@given(seed=seeds)
def test_causal_attention_first_query_sees_the_first_key_only(seed: int) -> None:
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((1, 2, 4, 8)).astype(np.float32) for _ in range(3))
    y = get_kernel("Attention", "fp32").run([q, k, v], {"is_causal": 1})[0]
    np.testing.assert_allclose(y[:, :, 0], v[:, :, 0], rtol=1e-6, atol=1e-6)


@given(seed=seeds, interleaved=st.integers(0, 1), partial=st.booleans(), three_d=st.booleans())
def test_rotary_embedding_matches_onnxruntime(seed: int, interleaved: int, partial: bool, three_d: bool) -> None:
    rng = np.random.default_rng(seed)
    dim = 4 if partial else 8
    x = rng.standard_normal((2, 3, 16) if three_d else (2, 2, 3, 8)).astype(np.float32)
    cos, sin = (rng.standard_normal((10, dim // 2)).astype(np.float32) for _ in range(2))
    positions = rng.integers(0, 10, (2, 3)).astype(np.int64)
    attrs = {"interleaved": interleaved, **({"rotary_embedding_dim": dim} if partial else {}),
             **({"num_heads": 2} if three_d else {})}
    np.testing.assert_allclose(get_kernel("RotaryEmbedding", "fp32").run([x, cos, sin, positions], attrs)[0],
                               ort_single_node("RotaryEmbedding", [x, cos, sin, positions], attrs, opset=23)[0],
                               rtol=1e-5, atol=1e-5)


EQUATIONS = {"bij,bjk->bik": [(2, 3, 4), (2, 4, 5)], "ij->ji": [(3, 4)], "ii->i": [(4, 4)], "i,i": [(5,), (5,)],
             "...ij,...jk": [(2, 3, 4), (2, 4, 2)], "bhqd,bhkd->bhqk": [(1, 2, 3, 4), (1, 2, 5, 4)]}


@given(equation=st.sampled_from(list(EQUATIONS)), seed=seeds)
def test_einsum_matches_onnxruntime(equation: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    operands = [rng.standard_normal(s).astype(np.float32) for s in EQUATIONS[equation]]
    np.testing.assert_allclose(get_kernel("Einsum", "fp32").run(operands, {"equation": equation})[0],
                               ort_single_node("Einsum", operands, {"equation": equation}, opset=12)[0],
                               rtol=1e-5, atol=1e-5)
