"""Results of the precision workflow remembered on disk by content: int8 calibration ranges and accuracy reports.

Calibration (one fp32 run of the model per calibration sample) and the accuracy
report (an fp32 and a reduced-precision run per sample) are most of an int8
run's time, and both are deterministic functions of what they are given.  A
calibration entry's key hashes the graph being calibrated (its ops, attributes,
tensors and weight bytes, which follow from the model file's content and the
load and pruning options), every calibration input's bytes, the calibrator and
its percentile and the gspsim version; an accuracy entry's key hashes both
graphs, the precision, the sample count, the seed and the version.  So a
changed model, input shape, pruning, calibration file, seed, sample count,
calibrator, gspsim version or gspsim source file (:func:`gspsim.cache.code_fingerprint`) gives a new key and is never served an old result.
Entries are small JSON files in ``user_cache_dir()/calibration`` and
``/accuracy``, written atomically; an unreadable entry is recomputed and a
cache folder that cannot be written is skipped.  ``GSPSIM_CALIBRATION_CACHE=0``
turns both off (docs/performance.md).
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
from .cache import code_fingerprint, user_cache_dir
from .accuracy import AccuracyReport
from .ir.graph import DataflowGraph, OpNode

#: bump when the entry format or the meaning of a range changes
FORMAT = 1


def cache_folder(kind: str = "calibration") -> Path:
    """Where the entries of one kind (``calibration`` or ``accuracy``) live (not created here)."""
    return user_cache_dir() / kind


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


def _feed_graph(h: Any, graph: DataflowGraph) -> None:
    _feed(h, (graph.inputs, graph.outputs))
    _feed(h, [(t.name, t.shape, t.dtype, t.elem_bytes) for t in graph.tensors.values()])
    for op in graph.ops():
        _feed_op(h, op)


def calibration_key(graph: DataflowGraph, samples: Sequence[Mapping[str, np.ndarray]], calibrator: str,
                    percentile: float) -> str:
    """A hex digest of everything calibration's result depends on."""
    h = hashlib.blake2b(digest_size=20)
    _feed(h, ("calibration", __version__, code_fingerprint(), FORMAT, calibrator, float(percentile)))
    _feed_graph(h, graph)
    _feed(h, [dict(sample) for sample in samples])
    return h.hexdigest()


def accuracy_key(reference: DataflowGraph, graph: DataflowGraph, precision: str, samples: int, seed: int) -> str:
    """A hex digest of everything an accuracy report depends on."""
    h = hashlib.blake2b(digest_size=20)
    _feed(h, ("accuracy", __version__, code_fingerprint(), FORMAT, precision, int(samples), int(seed)))
    _feed_graph(h, reference)
    _feed_graph(h, graph)
    return h.hexdigest()


def _read(path: Path) -> Optional[dict[str, Any]]:
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        return entry if isinstance(entry, dict) else None
    except (OSError, ValueError):
        return None  # absent, or damaged: recompute (and overwrite)


def _write(path: Path, entry: Mapping[str, Any]) -> None:
    """Write atomically (a reader sees the old entry or the new one); a folder we cannot write is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"gspsim": __version__, **entry}, f)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def _ranges_of(entry: Optional[Mapping[str, Any]]) -> Optional[dict[str, tuple[float, float]]]:
    try:
        return {name: (float(lo), float(hi)) for name, (lo, hi) in entry["ranges"].items()}  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None


def _report_of(entry: Optional[Mapping[str, Any]]) -> Optional[AccuracyReport]:
    try:
        return AccuracyReport(**entry["report"])  # type: ignore[index]
    except (KeyError, TypeError):
        return None


def calibration_ranges(graph: DataflowGraph, samples: Sequence[Mapping[str, np.ndarray]],
                       calibrator: str = "minmax", percentile: float = 99.99) -> dict[str, tuple[float, float]]:
    """:func:`gspsim.passes.quantize.calibrate`'s result, from the cache when an entry for this exact input exists."""
    from .passes import quantize

    if not cache_enabled():
        return quantize.calibrate(graph, samples, calibrator, percentile)
    path = cache_folder("calibration") / f"{calibration_key(graph, samples, calibrator, percentile)}.json"
    ranges = _ranges_of(_read(path))
    if ranges is None:
        ranges = quantize.calibrate(graph, samples, calibrator, percentile)
        _write(path, {"ranges": {name: [lo, hi] for name, (lo, hi) in ranges.items()}})
    return ranges


def cached_accuracy_report(reference: DataflowGraph, graph: DataflowGraph, precision: str, samples: int,
                           seed: int) -> AccuracyReport:
    """:func:`gspsim.accuracy.accuracy_report`'s result, from the cache when an entry for this exact input exists."""
    from . import accuracy

    if not cache_enabled():
        return accuracy.accuracy_report(reference, graph, precision, samples, seed)
    path = cache_folder("accuracy") / f"{accuracy_key(reference, graph, precision, samples, seed)}.json"
    report = _report_of(_read(path))
    if report is None:
        report = accuracy.accuracy_report(reference, graph, precision, samples, seed)
        _write(path, {"report": report.to_dict()})
    return report
