"""gspsim's JSON writer (gspsim/json_finite.py) against the standard library's, which defines the text."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gspsim import json_finite
from gspsim.results.result import json_default

#: floats where the writer's shortcuts change course: whole numbers, zeros of both signs, around 1e16 and
#: 2**53, non-finite values, and any other float
floats = st.one_of(
    st.integers(-2**60, 2**60).map(float),
    st.sampled_from([0.0, -0.0, 1e16, 1e16 - 2, -1e16, 2.0**53, 2.0**53 + 2, 1e-7, 5e-324, math.inf, -math.inf,
                     math.nan, 1e308]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), floats, st.text(max_size=8),
    floats.map(np.float64), st.integers(-2**62, 2**62).map(np.int64), st.floats(width=32).map(np.float32),
)
keys = st.one_of(st.text(max_size=6), st.integers(-1000, 1000), st.booleans(), st.none(),
                 st.floats(allow_nan=False, allow_infinity=False))
#: homogeneous lists too, since the writer joins lists of plain ints or plain floats in one go
number_lists = st.one_of(st.lists(st.integers(), max_size=20), st.lists(floats, max_size=20),
                         st.lists(st.integers(0, 10**6).map(float), max_size=20))
#: long enough for the writer's numpy check of whole floats, and 1-D numpy arrays (written as their lists)
long_lists = st.one_of(st.lists(floats, min_size=64, max_size=80),
                       st.lists(st.integers(-2**60, 2**60).map(float), min_size=64, max_size=80),
                       st.lists(st.sampled_from([0.0, -0.0, 3.0, 1e16, 1e16 - 2]), min_size=64, max_size=80))
arrays = st.one_of(long_lists.map(np.array), number_lists.map(lambda x: np.array(x, dtype=np.float64)),
                   st.lists(st.integers(-2**62, 2**62), max_size=80).map(lambda x: np.array(x, dtype=np.int64)))
documents = st.recursive(
    st.one_of(scalars, number_lists, long_lists, arrays),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.lists(inner, max_size=5).map(tuple),
                            st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)


def _stdlib(doc: Any, indent: int) -> str:
    """What ``json`` writes, or the error type it raises (the writer must raise the same)."""
    try:
        return json.dumps(doc, indent=indent, allow_nan=False, default=json_default)
    except (ValueError, TypeError) as e:
        return type(e).__name__


def _writer(doc: Any, indent: int) -> str:
    try:
        return json_finite.IndentedWriter(indent, json_default).dumps(doc)
    except (ValueError, TypeError) as e:
        return type(e).__name__


@given(documents, st.sampled_from([0, 1, 2, 4]))
def test_the_indented_writer_writes_what_json_dumps_writes(doc: Any, indent: int) -> None:
    assert _writer(doc, indent) == _stdlib(doc, indent)


@given(documents)
def test_dumps_with_indent_equals_json_dumps_of_the_cleaned_document(doc: Any) -> None:
    """Through ``dumps``: non-finite numbers as null and listed, then exactly json's indented text."""
    found: dict[str, str] = {}
    clean = json_finite.replace_non_finite(doc, found)
    if isinstance(clean, dict) and found:
        clean[json_finite.NON_FINITE_KEY] = found
    assert json_finite.dumps(doc, indent=2, default=json_default) == json.dumps(clean, indent=2, default=json_default)


@pytest.mark.parametrize("array", [
    np.arange(0, 3e5, 7, dtype=np.float64),            # cycles: whole floats
    np.arange(0, 3e5, 7, dtype=np.float64) / 3.0,      # fractional cycles
    np.arange(-5, 5, dtype=np.float64) * 1e15,         # whole, negative and beyond 1e16
    np.arange(0, 2**40, 2**30, dtype=np.int64),
    np.concatenate((np.arange(100.0), [-0.0])),         # whole, but -0.0 keeps its sign
    np.arange(0, 2**40, 2**30, dtype=np.uint64),
])
def test_long_number_lists_are_written_as_json_writes_them(array: np.ndarray) -> None:
    doc = {"timeline": {"start": array.tolist(), "nested": [array.tolist(), {"x": array.tolist()}]}}
    assert json_finite.dumps(doc, indent=2) == json.dumps(doc, indent=2)
    # the arrays themselves (a result's timeline), written as their lists without calling default
    with_arrays = {"timeline": {"start": array, "nested": [array, {"x": array[:0]}]}}
    assert json_finite.dumps(with_arrays, indent=2, default=json_default) == json.dumps(
        with_arrays, indent=2, default=json_default)


def test_an_array_with_a_nan_is_written_as_its_list_with_the_nan_as_null() -> None:
    array = np.arange(100.0)
    array[7] = np.nan
    text = json_finite.dumps({"x": array}, indent=2, default=json_default)
    assert json.loads(text) == {"x": [None if i == 7 else float(i) for i in range(100)],
                                json_finite.NON_FINITE_KEY: {"/x/7": "NaN"}}
