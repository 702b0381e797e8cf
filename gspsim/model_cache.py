"""Loaded models remembered on disk by content, so that a model's next run skips onnx entirely.

Loading a model (parsing, opset conversion, shape inference, constant folding,
the IR and the default passes) takes about half a second for ResNet-18, and
importing onnx, which it needs, as long again (docs/performance.md).  Both are
deterministic functions of what they are given, so :func:`load_model_cached`
keeps the loaded IR graph in ``user_cache_dir()/models``:

* the **key** hashes the model file's bytes, the ``--input-shape`` overrides,
  the fingerprint of gspsim's own code (:func:`gspsim.cache.code_fingerprint`)
  and the installed onnx version; a graph specialised to input values (an
  input that decides a shape, docs/onnx-conformance.md) is served only for
  the same values;
* the **entry** also records the sha256 of every external data file the model
  read, and what the memory checks measured (the file's size, the largest
  tensor and all tensors together, before and after folding).  A hit re-hashes those files and applies
  the memory limit of *this* run to the recorded sizes with the frontend's
  own rule, so an edited data file or a lower ``--max-memory`` is never served
  an old graph and refuses exactly as a fresh load would.

Entries are pickles written atomically; an unreadable or mismatched entry is
loaded afresh and rewritten, a cache folder that cannot be written is skipped,
and only the :data:`KEEP` most recently used entries are kept (each is about
the size of the model's weights).  ``GSPSIM_MODEL_CACHE=0`` turns it off.  The
folder is the user's own, like Numba's cache beside it, which pickles too.

Two things keep a hit cheap for a large model (YOLOv3-416's file is 248 MB):

* the tensors' bytes are stored **out of band** (pickle protocol 5) after the
  pickle, each aligned to 64 bytes, and a hit maps the file into memory
  instead of reading it: the arrays it serves are copy-on-write views of the
  mapping (writable as a fresh load's, so Numba compiles no read-only
  variant of a kernel; a write never reaches the file), and a timing-only
  run never reads the weights at all;
* a file's sha256 is **remembered by its stat** (:func:`file_sha256`): device,
  inode, size, modification and change times, as git's index does.  The
  change time cannot be set back by a program, so a rewritten file never
  matches an old record; a file changed less than :data:`RACY_NS` before it
  was hashed is not remembered (a second write within the same clock tick
  could leave its stat as it was).
"""

from __future__ import annotations

import copyreg
import hashlib
import io
import mmap
import os
import pickle
import stat
import struct
import tempfile
import time
from types import MappingProxyType
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from .cache import code_fingerprint, user_cache_dir
from .ir.graph import DataflowGraph

#: bump when the entry format changes
FORMAT = 2
#: entries kept (most recently used first); older ones are deleted when a new one is written
KEEP = 8
#: the first bytes of an entry file; then the pickle's length and the buffers' count, (offset, length) per
#: buffer, the pickle, and the buffers
MAGIC = b"gspsim-model-cache\x00\x02"
#: each out-of-band buffer starts at a multiple of this many bytes (numpy and Numba want aligned arrays)
ALIGN = 64
#: a file modified less than this long before it is hashed is not remembered by its stat (file_sha256)
RACY_NS = 2_000_000_000
#: remembered digests kept (each a 64-byte file)
KEEP_DIGESTS = 1000


@dataclass(frozen=True)
class LoadFacts:
    """What a fresh load measured that a cached load must check again."""

    #: bytes of the model file
    file_bytes: int
    #: per memory check the load made (before and after constant folding): (bytes, description) of the
    #: largest tensor, and all tensors' bytes
    sizes: tuple[tuple[tuple[int, str], int], ...]
    #: (path, sha256) of every external data file the model read
    external: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Entry:
    format: int
    key: str
    facts: LoadFacts
    graph: DataflowGraph


def cache_enabled() -> bool:
    """False when the user set ``GSPSIM_MODEL_CACHE=0`` (or ``off``/``no``/``false``)."""
    return os.environ.get("GSPSIM_MODEL_CACHE", "1").strip().lower() not in ("0", "off", "no", "false")


def cache_folder() -> Path:
    return user_cache_dir() / "models"


def _hash_bytes(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stat_key(path: str | os.PathLike[str], st: os.stat_result) -> str:
    text = repr((os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of the file's bytes, remembered by its stat while the cache is on (module docstring)."""
    if not cache_enabled():
        return _hash_bytes(path)
    before = os.stat(path)
    folder = cache_folder() / "digests"
    memo = folder / _stat_key(path, before)
    try:
        text = memo.read_text(encoding="ascii")
        if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
            return text
    except (OSError, UnicodeDecodeError):
        pass
    digest = _hash_bytes(path)
    after = os.stat(path)
    settled = time.time_ns() - max(after.st_mtime_ns, after.st_ctime_ns) > RACY_NS
    if settled and _stat_key(path, after) == memo.name:
        _remember(folder, memo, digest)
    return digest


def _remember(folder: Path, memo: Path, digest: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(digest)
            os.replace(tmp, memo)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        records = sorted((p for p in folder.iterdir() if not p.name.startswith(".")),
                         key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in records[KEEP_DIGESTS:]:
            old.unlink(missing_ok=True)
    except OSError:  # a read-only cache folder: the file is hashed again next time
        return


def _onnx_version() -> str:
    try:
        return metadata.version("onnx")
    except metadata.PackageNotFoundError:  # pragma: no cover - onnx is a dependency
        return "?"


def model_key(model_sha256: str, input_shapes: Optional[Mapping[str, Sequence[int]]]) -> str:
    shapes = sorted((str(k), tuple(int(d) for d in v)) for k, v in (input_shapes or {}).items())
    text = repr((FORMAT, model_sha256, shapes, code_fingerprint(), _onnx_version()))
    return hashlib.sha256(text.encode()).hexdigest()


def _proxy(items: dict) -> MappingProxyType:
    return MappingProxyType(items)


def _reduce_proxy(proxy: MappingProxyType) -> tuple:
    return _proxy, (dict(proxy),)


def _dump(entry: _Entry, f: Any) -> None:
    """Write ``entry``: the header, the pickle, then the tensors' bytes (out of band, aligned).

    The IR's read-only mappings go as dicts and come back read-only.
    """
    buffers: list[pickle.PickleBuffer] = []
    stream = io.BytesIO()
    pickler = pickle.Pickler(stream, protocol=5, buffer_callback=buffers.append)
    pickler.dispatch_table = copyreg.dispatch_table.copy()
    pickler.dispatch_table[MappingProxyType] = _reduce_proxy
    pickler.dump(entry)
    raws = [b.raw() for b in buffers]
    head = len(MAGIC) + 16 + 16 * len(raws)
    offset = _aligned(head + stream.tell())
    table = []
    for raw in raws:
        table.append((offset, raw.nbytes))
        offset = _aligned(offset + raw.nbytes)
    f.write(MAGIC + struct.pack("<QQ", stream.tell(), len(raws)))
    f.write(b"".join(struct.pack("<QQ", o, n) for o, n in table))
    f.write(stream.getbuffer())
    position = head + stream.tell()
    for (start, _), raw in zip(table, raws):
        f.write(b"\0" * (start - position))
        f.write(raw)
        position = start + raw.nbytes


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _load(path: Path) -> Any:
    """The pickled entry at ``path``, its tensors copy-on-write views of the file mapped into memory."""
    with open(path, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise ValueError("not an entry of this format")
        view = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY))
    size, count = struct.unpack_from("<QQ", view, len(MAGIC))
    table = struct.unpack_from(f"<{2 * count}Q", view, len(MAGIC) + 16)
    start = len(MAGIC) + 16 + 16 * count
    if start + size > len(view) or any(o + n > len(view) for o, n in zip(table[0::2], table[1::2])):
        raise ValueError("truncated")
    buffers = [view[o:o + n] for o, n in zip(table[0::2], table[1::2])]
    return pickle.loads(view[start:start + size], buffers=buffers)


def _read(path: Path, key: str) -> Optional[_Entry]:
    try:
        entry = _load(path)
    except Exception:  # missing, truncated or from another version: load afresh
        return None
    if not isinstance(entry, _Entry) or entry.format != FORMAT or entry.key != key:
        return None
    return entry


def _write(folder: Path, path: Path, entry: _Entry) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pkl")
        try:
            with os.fdopen(fd, "wb") as f:
                _dump(entry, f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        entries = sorted(folder.glob("*.pkl"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
        # a read-only or full cache folder, or a graph that does not pickle (an attribute value of a
        # registered op, say), costs the next run a fresh load, nothing else
        return


def _still_valid(facts: LoadFacts) -> bool:
    for name, digest in facts.external:
        try:
            if file_sha256(name) != digest:
                return False
        except OSError:
            return False
    return True


def _same_values(bound: Mapping[str, np.ndarray], given: Optional[Mapping[str, Any]]) -> bool:
    """Whether the inputs given hold exactly the values a cached graph was specialised to."""
    if not bound:
        return True
    if given is None:
        return False
    for name, value in bound.items():
        other = given.get(name)
        if not isinstance(other, np.ndarray) or other.dtype != value.dtype or other.shape != value.shape \
                or not np.array_equal(other, value):
            return False
    return True


def load_model_cached(path: str | os.PathLike[str], input_shapes: Optional[Mapping[str, Sequence[int]]],
                      limit: int, load: Callable[[], tuple[DataflowGraph, LoadFacts]],
                      check_limit: Callable[[LoadFacts, str, int], None],
                      input_values: Optional[Mapping[str, Any]] = None) -> DataflowGraph:
    """The graph of ``path``: from the cache when an entry matches, else ``load()`` (then remembered).

    ``check_limit(facts, where, limit)`` raises as a fresh load would for a model over ``limit``.
    A graph specialised to input values (``bound_inputs``: the frontend binds inputs only where the model
    needs them) is served only when ``input_values`` hold the same values; otherwise the model is loaded
    afresh (and the entry replaced), as the values given decide the graph.
    """
    if not cache_enabled():
        return load()[0]
    where = str(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            raise OSError("the loader refuses it")
        digest = file_sha256(path)
    except OSError:  # missing, unreadable, a FIFO, a folder, too large ...: the loader says what is wrong
        return load()[0]
    key = model_key(digest, input_shapes)
    folder = cache_folder()
    entry_path = folder / f"{key}.pkl"
    entry = _read(entry_path, key)
    if entry is not None and _still_valid(entry.facts) and _same_values(entry.graph.bound_inputs, input_values):
        check_limit(entry.facts, where, limit)
        try:
            os.utime(entry_path)  # most recently used
        except OSError:
            pass
        return replace(entry.graph, source_path=where)
    graph, facts = load()
    _write(folder, entry_path, _Entry(FORMAT, key, facts, graph))
    return graph


__all__ = ["KEEP", "LoadFacts", "cache_enabled", "cache_folder", "file_sha256", "load_model_cached", "model_key"]
