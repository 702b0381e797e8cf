"""Reading a user's TOML file (precision maps, sweep grids) with one-line errors that name it."""

from __future__ import annotations

import os
import sys
from typing import Any

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
