"""TfIdfVectorizer against onnxruntime: random token ids, pools, n-gram lengths, skips and modes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ortref import ort_single_node

from gspsim.kernels import get_kernel


@st.composite
def tfidf_case(draw: st.DrawFn) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    vocab = draw(st.integers(2, 6))
    unigrams = sorted(set(rng.integers(0, vocab, draw(st.integers(1, 4))).tolist()))
    bigrams = sorted({tuple(p) for p in rng.integers(0, vocab, (draw(st.integers(1, 4)), 2)).tolist()})
    pool = unigrams + [t for pair in bigrams for t in pair]
    count = len(unigrams) + len(bigrams)
    columns = rng.permutation(count).tolist()  # columns need not follow the pool's order
    low = draw(st.integers(1, 2))
    attrs = {"mode": draw(st.sampled_from(["TF", "IDF", "TFIDF"])), "min_gram_length": low,
             "max_gram_length": draw(st.integers(low, 2)), "max_skip_count": draw(st.integers(0, 3)),
             "ngram_counts": [0, len(unigrams)], "ngram_indexes": columns, "pool_int64s": pool}
    if draw(st.booleans()):
        attrs["weights"] = rng.random(count).astype(np.float32).round(3).tolist()
    shape = draw(st.sampled_from([(9,), (2, 7), (3, 5)]))
    dtype = draw(st.sampled_from([np.int32, np.int64]))
    return rng.integers(0, vocab, shape).astype(dtype), attrs


@given(case=tfidf_case())
def test_tfidf_vectorizer_matches_onnxruntime(case: tuple) -> None:
    x, attrs = case
    got = get_kernel("TfIdfVectorizer", "fp32").run([x], attrs)[0]
    want = ort_single_node("TfIdfVectorizer", [x], attrs, opset=9)[0]
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


def test_tfidf_vectorizer_refuses_string_tokens() -> None:
    with pytest.raises(NotImplementedError, match="pool_strings"):
        get_kernel("TfIdfVectorizer", "fp32").run([np.zeros(3, np.int64)], {"pool_strings": ["a"],
                                                                            "ngram_counts": [0],
                                                                            "ngram_indexes": [0]})
