"""Every output of a command in one policy: it never destroys an input, and it goes only to regular files.

Before a command does any work, :func:`check_destinations` checks every file
and folder it will write (``--json``, ``--csv``, ``--report``, ``--trace``,
``--outputs``, ``--save-model``, ``--plots``, ``sweep --out`` ...):

* no output is a file the command reads (the model and its external data,
  ``--inputs``, ``--hw``, ``--calib``, ``--precision-map``, ``--grid``, sweep
  models, plotted results ...), through a symlink or a hard link either, and
  no two outputs are the same file;
* a file destination is a regular file or absent, in an existing folder:
  symlinks, devices, FIFOs and sockets are refused (``--json /dev/null``
  run as root would otherwise replace the system's ``/dev/null``); ``-``
  writes to standard output for the options that allow it;
* an output folder is a folder or can be created, and the files the command
  will write in it pass the same checks.

Every file is then written to a temporary file in the destination folder and
renamed into place only when complete (and flushed to disk), so an
interrupted run leaves either the old file or the new one, never half of one;
the temporary file is removed on any error or interrupt.  The new file gets
the permissions a plain ``open(path, "w")`` would give it (the umask, or the
mode of the file it replaces).  The writer checks the destination again just
before the rename.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import Collection, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from .errors import GspsimError
from .input_files import file_kind

#: the destination that means standard output
STDOUT = "-"
#: files a model reads besides itself are found for these suffixes (external-data sidecars)
_MODEL_SUFFIXES = (".onnx",)

PathLike = Union[str, "os.PathLike[str]"]


def _model_sidecars(model: Path) -> list[Path]:
    """The external-data files an ONNX model names (empty if it cannot be read: nothing more to protect).

    A model larger than the machine's memory is not parsed here: the loader refuses it before any output is written.
    """
    try:
        import onnx

        from .frontend.external_data import external_files
        from .frontend.memory import default_max_memory_bytes

        if model.stat().st_size > default_max_memory_bytes():
            return []
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


class _Input:
    """One file a command reads, and how a message names it; a model's external data is looked up on demand."""

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name = path, name
        self._sidecars: Optional[list[Path]] = None

    def files_near(self, dest: Path) -> list[tuple[Path, str]]:
        """This file, and a model's external data when ``dest`` is in the model's folder (the only place it can be)."""
        found = [(self.path, self.name)]
        if self.path.suffix.lower() in _MODEL_SUFFIXES and _inside(dest, self.path.parent):
            if self._sidecars is None:
                self._sidecars = _model_sidecars(self.path)
            found += [(c, f"the external data of {self.path}") for c in self._sidecars]
        return found


def _protected_files(option: str, path: PathLike) -> list[_Input]:
    """One input: a file, or every file directly in a folder."""
    p = Path(path)
    try:
        if p.is_dir():
            return [_Input(f, f"{option} {p}") for f in sorted(p.iterdir()) if f.is_file()]
        return [_Input(p, f"{option} {p}")] if p.is_file() else []
    except OSError:
        return []


def _input_hit(dest: Path, protected: Sequence[_Input]) -> Optional[tuple[Path, str]]:
    for item in protected:
        for path, name in item.files_near(dest):
            if _same_file(dest, path):
                return path, name
    return None


def destination_problem(path: PathLike) -> Optional[str]:
    """Why ``path`` cannot receive an output file, or None: it is a regular file or absent, in a folder."""
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        return f"cannot be checked ({exc.strerror or exc})"
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            try:
                target = f" (to {os.readlink(p)})"
            except OSError:
                target = ""
            return f"is a symlink{target}; gspsim writes only regular files, not through links"
        if stat.S_ISDIR(st.st_mode):
            return "is a folder; give a file name"
        if not stat.S_ISREG(st.st_mode):
            return f"is {file_kind(st.st_mode)}, not a regular file; gspsim writes only regular files"
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        return f"folder {folder} does not exist"
    return None


def _folder_problem(folder: Path) -> Optional[str]:
    """Why ``folder`` cannot hold outputs, or None: it is a folder (maybe through a symlink) or can be made."""
    if folder.exists():
        return None if folder.is_dir() else "exists and is not a folder"
    ancestor = folder.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot be created: {ancestor} is not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot be created: {ancestor} is not writable"
    return None


def check_destinations(
    outputs: Iterable[tuple[str, Optional[PathLike]]],
    inputs: Iterable[tuple[str, Optional[PathLike]]],
    folders: Iterable[tuple[str, Optional[PathLike], Sequence[str]]] = (),
    stdout_ok: Collection[str] = (),
) -> None:
    """Refuse, before any work, an output that cannot be written or would destroy an input of this run.

    ``outputs`` are (option, file) pairs, ``inputs`` (option, file or folder)
    pairs of everything the command reads, ``folders`` (option, folder, names of
    the files written in it).  ``-`` is standard output for the options in
    ``stdout_ok`` (at most one of them).  Unset (None or empty) entries are skipped.
    """
    protected = [item for option, path in inputs if path for item in _protected_files(option, path)]
    planned: list[tuple[str, Path]] = []
    to_stdout: list[str] = []

    def claim(option: str, dest: Path, shown: str, in_folder: bool) -> None:
        hit = _input_hit(dest, protected)
        if hit is not None:
            raise GspsimError(f"{option} {shown}: refusing to write over an input file of this run ({hit[1]})")
        problem = destination_problem(dest)
        if problem is not None and not (in_folder and problem.startswith("folder ")):
            special = problem.startswith("is a") and not problem.startswith("is a folder")
            hint = f" (use {option} - for standard output)" if special and option in stdout_ok and not in_folder else ""
            raise GspsimError(f"{option} {shown}: {problem}{hint}")
        for other, path in planned:
            if _same_file(dest, path):
                raise GspsimError(f"{option} {shown}: {other} writes the same file; give each output its own file")
        planned.append((option, dest))

    for option, dest in outputs:
        if not dest:
            continue
        if str(dest) == STDOUT:
            if option not in stdout_ok:
                raise GspsimError(f"{option} -: standard output is not supported for this output; give a file name")
            to_stdout.append(option)
            if len(to_stdout) > 1:
                raise GspsimError(f"{to_stdout[0]} - and {option} -: only one output can go to standard output")
            continue
        claim(option, Path(dest), str(dest), in_folder=False)
    for option, folder, names in folders:
        if not folder:
            continue
        f = Path(folder)
        problem = _folder_problem(f)
        if problem is not None:
            raise GspsimError(f"{option} {f}: {problem}")
        for name in names:
            claim(option, f / name, str(f / name), in_folder=True)


def refuse_overwriting(dest: PathLike, protected: Iterable[PathLike], what: str) -> None:
    """Refuse to write ``dest`` when it is one of the user's input files (model, its external data, inputs, config).

    Symlinks and hard links to an input file count as that file.  (:func:`check_destinations` checks a whole
    command's outputs; this is the check for one output.)
    """
    d = Path(dest)
    for src in protected:
        hit = _input_hit(d, _protected_files("input", src))
        if hit is not None:
            kind = "an input file" if hit[0] == Path(src) else hit[1]
            raise GspsimError(f"{what} {d}: refusing to write over {kind} ({hit[0]})")


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


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename; errors name the file.

    ``-`` writes to standard output.
    """
    if str(path) == STDOUT:
        _write_stdout(data)
        return
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    problem = destination_problem(p)
    if problem is not None:
        raise GspsimError(f"{p}: {problem}")
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
        problem = destination_problem(p)  # swapped for a link or a device while we wrote?
        if problem is not None:
            raise GspsimError(f"{p}: {problem}")
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


def _write_stdout(data: bytes) -> None:
    out = getattr(sys.stdout, "buffer", None)
    if out is not None:
        sys.stdout.flush()
        out.write(data)
        out.flush()
    else:  # a text-only stream (tests capturing stdout)
        sys.stdout.write(data.decode("utf-8", errors="replace"))
        sys.stdout.flush()


def write_text_atomic(path: PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_npz_atomic(path: PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    write_bytes_atomic(path, buf.getvalue())
