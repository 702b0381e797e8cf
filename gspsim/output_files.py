"""Writing result files atomically, and never over anything the user gave us.

Every file gspsim writes goes to a temporary file in the destination folder
first and is renamed into place only when complete (and flushed to disk), so
an interrupted run leaves either the old file or the new one, never half of
one; the temporary file is removed on any error or interrupt.  The new file
gets the permissions a plain ``open(path, "w")`` would give it (the umask, or
the mode of the file it replaces), and a destination that is a symlink is
replaced, not written through.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
import stat
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from .errors import GspsimError

#: files a model reads besides itself are found for these suffixes (external-data sidecars)
_MODEL_SUFFIXES = (".onnx",)


def _model_sidecars(model: Path) -> list[Path]:
    """The external-data files an ONNX model names (empty if it cannot be read: nothing more to protect)."""
    try:
        import onnx

        from .frontend.external_data import external_files

        proto = onnx.load(str(model), load_external_data=False)
        return external_files(proto, model)
    except Exception:  # not ONNX, unreadable: the model path itself is still protected
        return []


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` (after resolving symlinks) lies somewhere under ``folder``."""
    try:
        target, base = path.resolve(), folder.resolve()
    except OSError:
        return True  # cannot tell: check
    return base == target or base in target.parents


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwriting(dest: str | os.PathLike[str], protected: Iterable[str | os.PathLike[str]], what: str) -> None:
    """Refuse to write ``dest`` when it is one of the user's input files (model, its external data, inputs, config).

    Symlinks and hard links to an input file count as that file.
    """
    d = Path(dest)
    for src in protected:
        s = Path(src)
        if not s.exists():
            continue
        candidates = [s]
        if s.suffix.lower() in _MODEL_SUFFIXES and s.is_file() and _inside(d, s.parent):
            candidates += _model_sidecars(s)  # gspsim reads external data only from inside the model's folder
        for c in candidates:
            if _same_file(d, c):
                kind = "an input file" if c == s else f"the external data of {s}"
                raise GspsimError(f"{what} {d}: refusing to write over {kind} ({c})")


def _open_temp(folder: Path, name: str, mode: int) -> tuple[int, Path]:
    """A new, exclusively created temporary file next to the destination (permissions follow the umask)."""
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode), tmp
        except FileExistsError:
            continue
    raise GspsimError(f"{folder / name}: cannot create a temporary file next to it")  # pragma: no cover


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename; errors name the file."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise GspsimError(f"{p}: folder {folder} does not exist")
    if p.is_dir():
        raise GspsimError(f"{p}: is a folder; give a file name")
    mode = 0o666
    try:
        if p.exists() and not p.is_symlink():
            mode = stat.S_IMODE(p.stat().st_mode)
    except OSError:
        pass
    tmp: Path | None = None
    try:
        fd, tmp = _open_temp(folder, p.name, mode)
        with os.fdopen(fd, "wb") as fh:
            if mode != 0o666 and hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)  # keep the replaced file's permissions exactly
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
        tmp = None
        _fsync_folder(folder)
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "") or str(exc)
        raise GspsimError(f"{p}: cannot write ({reason})") from None
    finally:
        if tmp is not None:
            try:
                tmp.unlink()
            except OSError:
                pass


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_npz_atomic(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    write_bytes_atomic(path, buf.getvalue())
