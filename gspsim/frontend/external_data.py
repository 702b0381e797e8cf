"""Reading a model's external-data files without following anyone out of the model's folder.

An ONNX tensor may keep its bytes in another file, named by a ``location``
relative to the model.  A hostile model can point that location anywhere
(``../../home/you/.ssh/id_rsa``, an absolute path, or a symlink planted next to
the model); the onnx library itself had path-traversal CVEs here
(CVE-2024-27318, CVE-2024-27319).  So gspsim does not use onnx's loader: it
refuses absolute locations, locations that lead out of the folder once
normalized (``sub/../x.data`` is ``x.data``; ``../x`` is refused) and symlinks
anywhere below the model's folder, opens the file with ``O_NOFOLLOW``, checks that it is a regular
file and that offset and length fit in it and match the tensor's declared
shape, and only then reads, within a memory budget.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterator

import onnx

from ..errors import ModelError
from .validate import element_size

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: a FIFO or device named as external data must not block the open
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def all_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every TensorProto of the graph: initializers and attribute tensors, in subgraphs too."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from all_tensors(attr.g)
            for g in attr.graphs:
                yield from all_tensors(g)


def _entries(tensor: onnx.TensorProto) -> dict[str, str]:
    return {e.key: e.value for e in tensor.external_data}


def _int_entry(info: dict[str, str], key: str, where: str) -> int | None:
    text = info.get(key, "")
    if text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise ModelError(f"{where}: '{key}' must be an integer, got {text!r}") from None
    if value < 0:
        raise ModelError(f"{where}: '{key}' must be >= 0, got {value}")
    return value


def safe_location(base: Path, location: str, where: str) -> Path:
    """The file ``location`` names under ``base`` (resolved), refusing anything that could leave it."""
    if not location:
        raise ModelError(f"{where} is empty")
    if "\0" in location:
        raise ModelError(f"{where} contains a NUL byte")
    posix, windows = PurePosixPath(location), PureWindowsPath(location)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or location.startswith(("/", "\\")):
        raise ModelError(f"{where} must be a relative path inside the model's folder")
    # normalized as text (sub/../x.data is x.data) and only then looked up, so a '..' never walks out of a
    # symlinked folder: the file read is the normalized path, below the model's folder
    normal = posixpath.normpath(location.replace("\\", "/"))
    parts = [p for p in normal.split("/") if p not in ("", ".")]
    if not parts or parts[0] == "..":
        raise ModelError(f"{where} points outside the model's folder")
    probe = base
    for part in parts:
        probe = probe / part
        if probe.is_symlink():
            raise ModelError(f"{where} passes through a symlink ({probe.name}); refusing to follow it")
    resolved = probe.resolve()
    if base != resolved and base not in resolved.parents:
        raise ModelError(f"{where} points outside the model's folder")
    return probe


def external_tensors(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    return [t for t in all_tensors(model.graph) if t.data_location == onnx.TensorProto.EXTERNAL]


def external_files(model: onnx.ModelProto, model_path: Path) -> list[Path]:
    """The external-data files a model names, where they are safe to name (for write protection)."""
    base = model_path.parent.resolve()
    found: dict[str, Path] = {}
    for t in external_tensors(model):
        location = _entries(t).get("location", "")
        try:
            found.setdefault(location, safe_location(base, location, "location"))
        except ModelError:
            continue
    return sorted(found.values())


def load_external_data(model: onnx.ModelProto, model_path: Path, budget_bytes: int) -> int:
    """Read every external tensor's bytes into the model, safely; returns the bytes read.

    ``budget_bytes`` bounds the total: a model asking for more is refused before
    anything is read.
    """
    tensors = external_tensors(model)
    if not tensors:
        return 0
    base = model_path.parent.resolve()
    plans: list[tuple[onnx.TensorProto, Path, int, int]] = []
    total = 0
    for t in tensors:
        info = _entries(t)
        location = info.get("location", "")
        where = f"{model_path}: tensor '{t.name}' external data location {location!r}"
        file = safe_location(base, location, where)
        offset = _int_entry(info, "offset", where) or 0
        length = _int_entry(info, "length", where)
        if any(d < 0 for d in t.dims):
            raise ModelError(f"{model_path}: tensor '{t.name}' has negative dimension(s) {list(t.dims)}")
        size = element_size(t.data_type)
        if size is None:
            raise ModelError(f"{model_path}: tensor '{t.name}' has element type {t.data_type}, "
                             "which cannot be stored as external data")
        count = 1
        for d in t.dims:
            count *= int(d)
        expected = count * size
        if length is not None and length != expected:
            raise ModelError(f"{where}: length {length} does not match the declared shape {list(t.dims)} "
                             f"({expected} bytes)")
        total += expected
        if total > budget_bytes:
            raise ModelError(f"{model_path}: external data needs more than {budget_bytes} bytes (the memory limit) "
                             f"by tensor '{t.name}'; raise the limit with --max-memory")
        plans.append((t, file, offset, expected))
    for t, file, offset, expected in plans:
        where = f"{model_path}: tensor '{t.name}' external data '{file.name}'"
        t.raw_data = _read_span(file, offset, expected, where)
        del t.external_data[:]
        t.data_location = onnx.TensorProto.DEFAULT
    return total


def _read_span(file: Path, offset: int, length: int, where: str) -> bytes:
    """Bytes [offset, offset+length) of a regular file, opened without following a symlink."""
    try:
        if not stat.S_ISREG(os.lstat(file).st_mode):
            raise ModelError(f"{where}: not a regular file")
        fd = os.open(file, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _BINARY)
    except FileNotFoundError:
        raise ModelError(f"{where}: no such file") from None
    except OSError as exc:  # ELOOP: a symlink swapped in after the check; EACCES ...
        raise ModelError(f"{where}: cannot open ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ModelError(f"{where}: not a regular file")
        if offset + length > st.st_size:
            raise ModelError(f"{where}: asks for bytes {offset}..{offset + length} of a {st.st_size}-byte file")
        chunks: list[bytes] = []
        got = 0
        os.lseek(fd, offset, os.SEEK_SET)
        while got < length:
            chunk = os.read(fd, min(length - got, 1 << 26))
            if not chunk:
                raise ModelError(f"{where}: file ended after {offset + got} bytes")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ModelError(f"{where}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)


__all__ = ["all_tensors", "external_files", "external_tensors", "load_external_data", "safe_location"]
