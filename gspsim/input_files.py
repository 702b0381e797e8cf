"""Opening a file the user named for reading: only regular files, and a message that says what it is otherwise.

A FIFO (named pipe) would block the read forever, a device would stream
without end, a folder cannot be parsed: each is refused in one line that says
what the path is ("is a FIFO (named pipe)"), not "no such file".  A symlink to
a regular file is read like the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional, Type

from .errors import GspsimError

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symlink"),
    (stat.S_ISREG, "a regular file"),
)


def file_kind(mode: int) -> str:
    """What a ``st_mode`` describes, with its article: "a FIFO (named pipe)", "a character device" ..."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"  # pragma: no cover - every POSIX type is listed


def regular_input(path: str | os.PathLike[str], what: str, error: Type[GspsimError] = GspsimError,
                  max_bytes: Optional[int] = None) -> Path:
    """``path`` if it is a readable regular file (through symlinks), else ``error`` naming what it is.

    ``max_bytes`` refuses larger files before anything is read.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except OSError as exc:
        raise error(f"{p}: cannot read the {what} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{p}: the {what} is {file_kind(st.st_mode)}, not a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(f"{p}: {st.st_size:,} bytes is too large for a {what} (at most {max_bytes:,})")
    return p


__all__ = ["file_kind", "regular_input"]
