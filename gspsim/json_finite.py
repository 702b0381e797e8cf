"""JSON that is JSON: no ``NaN`` or ``Infinity`` (which Python writes by default and strict parsers reject).

A model with NaN or Inf weights or inputs gives non-finite errors and
outputs.  Every JSON document gspsim writes goes through :func:`dumps`: a
non-finite number becomes ``null``, and the document gets a top-level
``"non_finite"`` object mapping the JSON Pointer (RFC 6901) of each such value
to what it was: ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``
(docs/json-result.md).  A document without non-finite numbers is written
exactly as ``json.dumps`` writes it, with no ``non_finite`` key.

Indented JSON (what ``gspsim run --json`` writes) is written by
:class:`IndentedWriter`, which gives ``json.dumps``'s text several times
faster: the standard library writes indented JSON in pure Python one value
at a time (its C encoder serves only compact JSON), and a result carries
per-tile lists of hundreds of thousands of numbers, which the writer formats
in one pass per list.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring_ascii
from typing import Any, Callable, Optional

import numpy as np

#: the top-level key that lists the non-finite values replaced by null
NON_FINITE_KEY = "non_finite"


def _pointer_token(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _spelled(value: float) -> str:
    return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"


def replace_non_finite(value: Any, found: dict[str, str], pointer: str = "") -> Any:
    """``value`` with every non-finite float (Python or numpy, in dicts, lists, tuples, arrays) as None.

    ``found`` receives JSON Pointer -> "NaN" | "Infinity" | "-Infinity" for each one.
    """
    if isinstance(value, (float, np.floating)):
        if math.isfinite(value):
            return value
        found[pointer] = _spelled(float(value))
        return None
    if isinstance(value, dict):
        return {k: replace_non_finite(v, found, f"{pointer}/{_pointer_token(k)}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [replace_non_finite(v, found, f"{pointer}/{i}") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return replace_non_finite(value.tolist(), found, pointer)
    return value


class IndentedWriter:
    """``json.dumps(doc, indent=indent, allow_nan=False, default=default)``: the same text, faster.

    A list of plain ints, or of finite plain floats, is written with one
    ``%`` of the whole list (what ``json`` writes for each).  Given a
    ``default``, a 1-D numpy array of numbers is written the same way, as its
    ``tolist()``, without calling ``default`` (every default gspsim passes,
    e.g. :func:`gspsim.results.result.json_default`, gives that list).
    Everything else is written value by value, as ``json``'s own Python encoder does.
    No check for circular references (a document gspsim writes has none).
    """

    def __init__(self, indent: int, default: Optional[Callable[[Any], Any]] = None) -> None:
        self.indent = " " * indent
        self.default = default
        self.parts: list[str] = []

    def dumps(self, doc: Any) -> str:
        self.parts = []
        self._value(doc, 0)
        return "".join(self.parts)

    def _value(self, value: Any, level: int) -> None:
        if isinstance(value, str):
            self.parts.append(encode_basestring_ascii(value))
        elif value is None:
            self.parts.append("null")
        elif value is True:
            self.parts.append("true")
        elif value is False:
            self.parts.append("false")
        elif isinstance(value, int):
            self.parts.append(int.__repr__(value))
        elif isinstance(value, float):
            self.parts.append(_float_text(value))
        elif isinstance(value, (list, tuple)):
            self._list(value, level)
        elif isinstance(value, dict):
            self._dict(value, level)
        elif self.default is None:
            raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")
        elif isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iuf":
            self._array(value, level)
        else:
            self._value(self.default(value), level)

    def _list(self, items: list | tuple, level: int) -> None:
        if not items:
            self.parts.append("[]")
            return
        inner = "\n" + self.indent * (level + 1)
        close = "\n" + self.indent * level + "]"
        numbers = _number_list_text(items, "," + inner)
        if numbers is not None:
            self.parts.append("[" + inner + numbers + close)
            return
        self.parts.append("[")
        for i, item in enumerate(items):
            self.parts.append("," + inner if i else inner)
            self._value(item, level + 1)
        self.parts.append(close)

    def _array(self, values: np.ndarray, level: int) -> None:
        """A 1-D array of numbers, written as its ``tolist()`` (a non-finite float raises, as ``json``'s would)."""
        if not len(values):
            self.parts.append("[]")
            return
        inner = "\n" + self.indent * (level + 1)
        numbers = _array_text(values, "," + inner)
        if numbers is None:
            raise ValueError("Out of range float values are not JSON compliant")
        self.parts.append("[" + inner + numbers + "\n" + self.indent * level + "]")

    def _dict(self, items: dict, level: int) -> None:
        if not items:
            self.parts.append("{}")
            return
        inner = "\n" + self.indent * (level + 1)
        parts = self.parts
        parts.append("{")
        separator = inner
        for key, value in items.items():
            head = separator + encode_basestring_ascii(key if type(key) is str else _key_text(key)) + ": "
            kind = type(value)  # the common scalars written here, the rest by _value
            if kind is str:
                parts.append(head + encode_basestring_ascii(value))
            elif kind is int:
                parts.append(head + int.__repr__(value))
            elif kind is float:
                parts.append(head + _float_text(value))
            else:
                parts.append(head)
                self._value(value, level + 1)
            separator = "," + inner
        parts.append("\n" + self.indent * level + "}")


def _number_list_text(items: list | tuple, separator: str) -> Optional[str]:
    """The items' JSON texts joined by ``separator`` if they are all plain ints or all finite plain floats, else None.

    Each step is one C-level pass over the list, and the texts are those
    ``json`` writes (``%d`` is an int's ``repr``, ``%r`` a float's), made by
    one ``%`` of the whole list: for ints twice as fast as joining each one's ``repr``.
    """
    kinds = set(map(type, items))
    if kinds == {int}:
        return _joined("%d", items, separator)
    if kinds == {float}:
        if len(items) < _FEW:
            return _joined("%r", items, separator) if all(map(math.isfinite, items)) else None
        return _float_array_text(np.array(items, dtype=np.float64), items, separator)
    return None


def _array_text(values: np.ndarray, separator: str) -> Optional[str]:
    """A 1-D numpy array of ints or floats as :func:`_number_list_text` writes its ``tolist()``."""
    if values.dtype.kind in "iu":
        return _joined("%d", values.tolist(), separator)
    if len(values) < _FEW:
        return _number_list_text(values.tolist(), separator)
    return _float_array_text(values.astype(np.float64, copy=False), None, separator)


#: a float list shorter than this is written without numpy's whole-number check (which costs more than it saves)
_FEW = 64


def _float_array_text(values: np.ndarray, items: Optional[list | tuple], separator: str) -> Optional[str]:
    """The JSON texts of finite floats (``items``: the same as Python floats, if at hand), or None if one is not."""
    if not np.isfinite(values).all():
        return None
    if _whole_and_short(values):  # cycles, mostly: an int's digits and ".0", as ``repr`` writes them
        return _joined("%d.0", values.astype(np.int64).tolist(), separator)
    return _joined("%r", values.tolist() if items is None else items, separator)


def _joined(spec: str, items: list | tuple, separator: str) -> str:
    return ((spec + separator) * (len(items) - 1) + spec) % tuple(items)


def _whole_and_short(values: np.ndarray) -> bool:
    """Whether every float's ``repr`` is its integer's digits and ".0": whole, below 1e16 in magnitude (where
    ``repr`` turns to an exponent), and no -0.0 (which would lose its sign)."""
    return bool(np.all((np.trunc(values) == values) & (np.abs(values) < 1e16))
                and not np.any((values == 0.0) & np.signbit(values)))


def _float_text(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
    return float.__repr__(value)


def _key_text(key: Any) -> str:
    """A dict key as ``json`` writes it: strings as they are, numbers, booleans and None as their JSON text."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float_text(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _encoder(default: Optional[Callable[[Any], Any]], kwargs: dict[str, Any]) -> Callable[[Any], str]:
    """``json.dumps`` with these arguments (and ``allow_nan=False``); indented JSON by :class:`IndentedWriter`."""
    indent = kwargs.get("indent")
    if isinstance(indent, int) and not isinstance(indent, bool) and set(kwargs) <= {"indent", "sort_keys"} \
            and not kwargs.get("sort_keys"):
        return IndentedWriter(indent, default).dumps
    return lambda doc: json.dumps(doc, allow_nan=False, default=default, **kwargs)


def dumps(doc: Any, default: Optional[Callable[[Any], Any]] = None, **kwargs: Any) -> str:
    """``json.dumps(doc, **kwargs)`` with non-finite numbers written as null and listed under ``non_finite``."""
    encode = _encoder(default, kwargs)
    try:
        return encode(doc)
    except ValueError:  # a NaN or an Infinity somewhere: the rare case, walked in Python
        pass
    found: dict[str, str] = {}
    clean = replace_non_finite(doc, found)
    if isinstance(clean, dict) and found:
        clean[NON_FINITE_KEY] = found
    return encode(clean)


__all__ = ["NON_FINITE_KEY", "IndentedWriter", "dumps", "replace_non_finite"]
