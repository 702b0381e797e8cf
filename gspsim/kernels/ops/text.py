"""Text-feature kernels: TfIdfVectorizer on integer token ids (one shared kernel for every precision).

TfIdfVectorizer counts, per row of token ids, the n-grams of its pool
(``pool_int64s``; ``ngram_counts[k]`` is where the (k+1)-grams start) of
lengths ``min_gram_length`` to ``max_gram_length``, each n-gram made of every
``skip + 1``-th token for skip 0 to ``max_skip_count`` (a 1-gram once per
position, whatever the skip).  ``ngram_indexes`` gives each pool n-gram's
output column; ``mode`` TF writes the counts, IDF the n-gram's ``weights``
entry where its count is non-zero, TFIDF counts times ``weights``.  The output is float32 whatever the
run's precision, as ONNX defines it.  String tokens (``pool_strings``) are
refused: gspsim simulates numeric tensors.
"""

from __future__ import annotations

import numpy as np

from ...optable.kernel import ANY, Attrs, Inputs, Kernel


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pool(attrs: Attrs) -> dict[tuple[int, ...], int]:
    """Each pool n-gram (a tuple of token ids) -> its output column."""
    if "pool_strings" in attrs:
        raise NotImplementedError("TfIdfVectorizer with pool_strings (string tokens)")
    pool = [int(v) for v in attrs.get("pool_int64s", ())]
    starts = [int(v) for v in attrs.get("ngram_counts", ())]
    columns = [int(v) for v in attrs.get("ngram_indexes", ())]
    grams: dict[tuple[int, ...], int] = {}
    ordinal = 0
    for k, start in enumerate(starts):
        n = k + 1
        end = starts[k + 1] if k + 1 < len(starts) else len(pool)
        for at in range(start, end, n):
            if ordinal >= len(columns):
                raise ValueError("TfIdfVectorizer: fewer ngram_indexes than n-grams in the pool")
            grams[tuple(pool[at:at + n])] = columns[ordinal]
            ordinal += 1
    return grams


def tfidf_vectorizer(inputs: Inputs, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """The n-gram counts (or weights) of each row of token ids."""
    x = np.asarray(inputs[0])
    if x.dtype.kind not in "iu" or x.ndim not in (1, 2):
        raise NotImplementedError(f"TfIdfVectorizer of {x.dtype} rank-{x.ndim} data (integer ids, 1-D or 2-D)")
    mode = _text(attrs.get("mode", "TF"))
    if mode not in ("TF", "IDF", "TFIDF"):
        raise ValueError(f"TfIdfVectorizer: unknown mode {mode!r}")
    grams = _pool(attrs)
    width = max([int(v) for v in attrs.get("ngram_indexes", ())], default=-1) + 1
    low, high = int(attrs.get("min_gram_length", 1)), int(attrs.get("max_gram_length", 1))
    max_skip = int(attrs.get("max_skip_count", 0))
    rows = x.reshape(-1, x.shape[-1]) if x.ndim == 2 else x.reshape(1, -1)
    out = np.zeros((rows.shape[0], width), np.float32)
    for r, row in enumerate(rows.tolist()):
        for n in range(max(low, 1), high + 1):
            for skip in range(0, 1 if n == 1 else max_skip + 1):
                step = skip + 1
                for i in range(len(row) - (n - 1) * step):
                    column = grams.get(tuple(row[i:i + (n - 1) * step + 1:step]))
                    if column is not None:
                        out[r, column] += 1
    if mode != "TF":
        columns = [int(v) for v in attrs.get("ngram_indexes", ())]
        weights = np.ones(width, np.float32)  # the i-th pool n-gram's weight goes to its column
        if "weights" in attrs:
            weights[columns] = np.asarray(attrs["weights"], np.float32)
        out = ((out > 0) if mode == "IDF" else out) * weights[None, :]
    out = out.astype(np.float32)
    return (out.reshape(width) if x.ndim == 1 else out,)


KERNELS: tuple[Kernel, ...] = (Kernel("TfIdfVectorizer", ANY, tfidf_vectorizer),)
