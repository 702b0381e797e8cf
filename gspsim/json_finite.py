"""JSON that is JSON: no ``NaN`` or ``Infinity`` (which Python writes by default and strict parsers reject).

A model with NaN or Inf weights or inputs gives non-finite errors and
outputs.  Every JSON document gspsim writes goes through :func:`dumps`: a
non-finite number becomes ``null``, and the document gets a top-level
``"non_finite"`` object mapping the JSON Pointer (RFC 6901) of each such value
to what it was: ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``
(docs/json-result.md).  A document without non-finite numbers is written
exactly as ``json.dumps`` writes it, with no ``non_finite`` key.
"""

from __future__ import annotations

import json
import math
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


def dumps(doc: Any, default: Optional[Callable[[Any], Any]] = None, **kwargs: Any) -> str:
    """``json.dumps(doc, **kwargs)`` with non-finite numbers written as null and listed under ``non_finite``."""
    try:
        return json.dumps(doc, allow_nan=False, default=default, **kwargs)
    except ValueError:  # a NaN or an Infinity somewhere: the rare case, walked in Python
        pass
    found: dict[str, str] = {}
    clean = replace_non_finite(doc, found)
    if isinstance(clean, dict) and found:
        clean[NON_FINITE_KEY] = found
    return json.dumps(clean, allow_nan=False, default=default, **kwargs)


__all__ = ["NON_FINITE_KEY", "dumps", "replace_non_finite"]
