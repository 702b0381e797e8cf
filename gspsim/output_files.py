"""Writing result files atomically, and never over anything the user gave us.

Every file gspsim writes goes to a temporary file in the destination folder
first and is renamed into place only when complete, so an interrupted run
leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from .errors import GspsimError


def refuse_overwriting(dest: str | os.PathLike[str], protected: Iterable[str | os.PathLike[str]], what: str) -> None:
    """Refuse to write ``dest`` when it is one of the user's input files (model, inputs, config)."""
    d = Path(dest)
    for src in protected:
        s = Path(src)
        if not s.exists():
            continue
        if d.resolve() == s.resolve() or (d.exists() and os.path.samefile(d, s)):
            raise GspsimError(f"{what} {d}: refusing to write over an input file ({s})")


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise GspsimError(f"{p}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_npz_atomic(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    write_bytes_atomic(path, buf.getvalue())
