"""Ragged tables as flat int64 arrays (CSR): row ``i`` is ``values[ptr[i]:ptr[i + 1]]``.

A big model has hundreds of thousands of tiles, each with a short list (its
reads, its writes, a read's producer tiles).  The lowering and the engine's
tables keep those lists as one values array beside an offsets array ``ptr``
(``len(rows) + 1`` long, starting at 0), so that no Python object is built per
tile; these are the operations they share.
"""

from __future__ import annotations

import numpy as np


def offsets(counts: np.ndarray) -> np.ndarray:
    """The offsets of rows of ``counts`` values each: 0, then the running total."""
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr


def row_of(ptr: np.ndarray) -> np.ndarray:
    """The row of every value (``np.repeat`` of the row numbers by the row lengths)."""
    return np.repeat(np.arange(len(ptr) - 1, dtype=np.int64), np.diff(ptr))


def row_sums(values: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """Per row: the sum of its ``values`` (int64; an empty row sums to 0)."""
    done = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=done[1:])
    return done[ptr[1:]] - done[ptr[:-1]]


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``range(starts[i], starts[i] + lengths[i])`` for every ``i``, one after the other, as one array: the
    positions of rows to gather from (or scatter into) a values array."""
    ptr = offsets(lengths)
    # each value's distance from its row's first value, plus the row's start
    return np.arange(int(ptr[-1]), dtype=np.int64) + np.repeat(np.asarray(starts, dtype=np.int64) - ptr[:-1], lengths)
