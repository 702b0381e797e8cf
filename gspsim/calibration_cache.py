"""int8 calibration ranges remembered on disk, so that the second ``run --precision int8`` of a model skips calibration.

Calibration (one fp32 run of the model per calibration sample) is most of an
int8 run's time.  Its result, each activation's ``(lo, hi)`` range, depends only
on the graph being calibrated, the calibration inputs, the calibrator and its
percentile, and the code computing it; the key hashes exactly these (the graph's
ops, attributes, tensors and weight bytes, which follow from the model file's
content and the load options; every calibration input's bytes; the gspsim
version), so a changed model, input shape, pruning, calibration file, seed,
sample count or calibrator gives a new key and is never served old ranges.
Entries are small JSON files in ``user_cache_dir()/calibration``, written
atomically; an unreadable entry is recomputed and a cache folder that cannot be
written is skipped.  ``GSPSIM_CALIBRATION_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ._version import __version__
from .cache import user_cache_dir
from .ir.graph import DataflowGraph, OpNode

#: bump when the entry format or the meaning of a range changes
FORMAT = 1


def cache_folder() -> Path:
    """Where the entries live (not created here)."""
    return user_cache_dir() / "calibration"


def cache_enabled() -> bool:
    """False when the user set ``GSPSIM_CALIBRATION_CACHE=0`` (or ``off``/``no``/``false``)."""
    return os.environ.get("GSPSIM_CALIBRATION_CACHE", "1").strip().lower() not in ("0", "off", "no", "false")


def _feed(h: Any, value: Any) -> None:
    """Hash any attribute or weight value by content (arrays by dtype, shape and bytes)."""
    if isinstance(value, np.ndarray):
        h.update(f"nd{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, Mapping):
        h.update(b"{")
        for key in sorted(value, key=str):
            _feed(h, str(key))
            _feed(h, value[key])
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(f"[{len(value)}".encode())
        for item in value:
            _feed(h, item)
        h.update(b"]")
    elif isinstance(value, OpNode):
        _feed_op(h, value)
    else:
        h.update(f"{type(value).__name__}:{value!r};".encode())


def _feed_op(h: Any, op: OpNode) -> None:
    _feed(h, (op.name, op.op_type, op.domain, op.precision, op.inputs, op.outputs))
    _feed(h, dict(op.attrs))
    _feed(h, dict(op.weights))
    _feed(h, [(t.name, t.shape, t.dtype, t.elem_bytes) for t in op.internal])
    _feed(h, list(op.epilogue))


def calibration_key(graph: DataflowGraph, samples: Sequence[Mapping[str, np.ndarray]], calibrator: str,
                    percentile: float) -> str:
    """A hex digest of everything calibration's result depends on."""
    h = hashlib.blake2b(digest_size=20)
    _feed(h, ("gspsim", __version__, FORMAT, calibrator, float(percentile)))
    _feed(h, (graph.inputs, graph.outputs))
    _feed(h, [(t.name, t.shape, t.dtype, t.elem_bytes) for t in graph.tensors.values()])
    for op in graph.ops():
        _feed_op(h, op)
    _feed(h, [dict(sample) for sample in samples])
    return h.hexdigest()


def _read(path: Path) -> Optional[dict[str, tuple[float, float]]]:
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        return {name: (float(lo), float(hi)) for name, (lo, hi) in entry["ranges"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, or damaged: recompute (and overwrite)


def _write(path: Path, ranges: Mapping[str, tuple[float, float]]) -> None:
    """Write atomically (a reader sees the old entry or the new one); a folder we cannot write is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"gspsim": __version__, "ranges": {k: [lo, hi] for k, (lo, hi) in ranges.items()}}, f)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def calibration_ranges(graph: DataflowGraph, samples: Sequence[Mapping[str, np.ndarray]],
                       calibrator: str = "minmax", percentile: float = 99.99) -> dict[str, tuple[float, float]]:
    """:func:`gspsim.passes.quantize.calibrate`'s result, from the cache when an entry for this exact input exists."""
    from .passes import quantize

    if not cache_enabled():
        return quantize.calibrate(graph, samples, calibrator, percentile)
    path = cache_folder() / f"{calibration_key(graph, samples, calibrator, percentile)}.json"
    ranges = _read(path)
    if ranges is None:
        ranges = quantize.calibrate(graph, samples, calibrator, percentile)
        _write(path, ranges)
    return ranges
