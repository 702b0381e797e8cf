"""Reading a user's TOML file (precision maps, sweep grids) with one-line errors that name it, and writing TOML."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any, Mapping

from .errors import ConfigError
from .input_files import regular_input

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: a precision map or grid file larger than this is not one
MAX_TOML_BYTES = 8 << 20


def read_toml(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """The parsed document; a missing file or bad TOML is a :class:`ConfigError` naming the file."""
    p = regular_input(path, what, ConfigError, MAX_TOML_BYTES)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({' '.join(str(exc).split())})") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the {what} ({exc.strerror or exc})") from None


def _toml_value(value: Any) -> str:
    """One TOML value: strings quoted (JSON escapes are TOML's), floats written back exactly (repr)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value != 0 and not 1e-4 <= abs(value) < 1e6:  # 25600000000.0 -> 2.56e+10: the shortest exact form
            return next(t for t in (f"{value:.{digits}e}" for digits in range(17)) if float(t) == value)
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) else json.dumps(key)


def dumps_toml(data: Mapping[str, Any], _table: str = "") -> str:
    """``data`` (nested dicts of strings, numbers, booleans and lists) as TOML that ``tomllib`` reads back equal."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)]
    text = "\n".join(lines) + ("\n" if lines else "")
    for k, v in data.items():
        if isinstance(v, Mapping):
            name = f"{_table}.{_toml_key(k)}" if _table else _toml_key(k)
            text += f"\n[{name}]\n" + dumps_toml(v, name)
    return text
