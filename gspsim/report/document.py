"""Reading a result document (the JSON of ``SimResult.to_dict()``) for the report writers.

Every writer in :mod:`gspsim.report` takes the plain dict, so it works the same
on a live result (``result.to_dict()``) and on a ``--json`` file read back.
This module loads and checks such a file and holds the few accessors the
writers share, so that a missing key fails with one line naming it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..errors import GspsimError
from ..results.names import model_display_name

Doc = Mapping[str, Any]

#: keys every result document has (see gspsim/results/result.py)
REQUIRED_KEYS: tuple[str, ...] = (
    "schema_version", "model", "hardware", "mode", "scheduler", "precision", "latency_cycles", "latency_s",
    "makespan_cycles", "energy_j", "nodes", "power_series",
)
#: schema versions these writers understand (2 renamed the time figures, see docs/json-result.md)
KNOWN_SCHEMAS: tuple[int, ...] = (2,)


def load_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every result in a ``--json`` file: one document, or the list ``run`` writes for several precisions or prunings.

    Anything wrong with the file is a one-line :class:`GspsimError` naming it.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GspsimError(f"{p}: no such result file") from None
    except IsADirectoryError:
        raise GspsimError(f"{p}: is a folder, not a result JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GspsimError(f"{p}: cannot read result file ({exc.__class__.__name__}: {exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GspsimError(f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    docs = doc if isinstance(doc, list) else [doc]
    if not docs:
        raise GspsimError(f"{p}: an empty list, not a gspsim result")
    for i, d in enumerate(docs):
        check_document(d, f"{p}[{i}]" if isinstance(doc, list) else str(p))
    return docs


def load_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The one result in a ``--json`` file (a file with several is an error: use :func:`load_results`)."""
    docs = load_results(path)
    if len(docs) > 1:
        raise GspsimError(f"{path}: holds {len(docs)} results (one per precision or pruning level); "
                          "read them with load_results")
    return docs[0]


def check_document(doc: Any, where: str = "result") -> None:
    """Refuse anything that is not a gspsim result document, naming the first missing key."""
    if not isinstance(doc, dict):
        raise GspsimError(f"{where}: not a gspsim result (expected a JSON object, got {type(doc).__name__})")
    if "schema_version" in doc and "gspsim_version" in doc and doc["schema_version"] not in KNOWN_SCHEMAS:
        raise GspsimError(
            f"{where}: result schema_version {doc['schema_version']!r} is not one this gspsim reads "
            f"({', '.join(map(str, KNOWN_SCHEMAS))}); write it again with this version's 'gspsim run --json'"
        )
    missing = [k for k in REQUIRED_KEYS if k not in doc]
    if missing:
        raise GspsimError(
            f"{where}: not a gspsim result JSON (missing key{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(k) for k in missing)}; write one with 'python -m gspsim run MODEL --json FILE')"
        )
    if doc["schema_version"] not in KNOWN_SCHEMAS:
        raise GspsimError(
            f"{where}: result schema_version {doc['schema_version']!r} is not one this gspsim reads "
            f"({', '.join(map(str, KNOWN_SCHEMAS))})"
        )


def clock_hz(doc: Doc) -> float:
    return float(doc["hardware"]["clock_hz"])


def cycles_to_us(doc: Doc, cycles: Any) -> Any:
    """Simulated cycles -> microseconds of simulated time (works on scalars and arrays)."""
    return np.asarray(cycles, dtype=np.float64) * (1e6 / clock_hz(doc))


def has_timeline(doc: Doc) -> bool:
    return isinstance(doc.get("timeline"), Mapping)


def block_arrays(doc: Doc) -> dict[str, np.ndarray]:
    """The timeline's per-block columns as numpy arrays (empty when the document has no timeline).

    ``model`` (which model of a multi-model run a block belongs to) is zeros when absent.
    """
    names = ("node", "frame", "index", "model", "core", "start", "end")
    if not has_timeline(doc):
        return {k: np.zeros(0, dtype=np.float64 if k in ("start", "end") else np.int64) for k in names}
    b = doc["timeline"]["blocks"]
    n = len(b["start"])
    columns = {k: b[k] if k in b else np.zeros(n) for k in names}
    return {k: np.asarray(v, dtype=np.float64 if k in ("start", "end") else np.int64).reshape(-1)
            for k, v in columns.items()}


def dram_arrays(doc: Doc) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DRAM transfers as (start, end, bytes) arrays."""
    if not has_timeline(doc):
        z = np.zeros(0, dtype=np.float64)
        return z, z, z
    t = doc["timeline"]["dram_transfers"]
    return (np.asarray(t["start"], dtype=np.float64), np.asarray(t["end"], dtype=np.float64),
            np.asarray(t["bytes"], dtype=np.float64))


def node_span_cycles(node: Mapping[str, Any]) -> float:
    """Wall-clock cycles from a node's first block start to its last block end."""
    return max(0.0, float(node["end_cycle"]) - float(node["start_cycle"]))


def model_name(doc: Doc) -> str:
    """The model's display name (the file name when its graph name is an exporter's default)."""
    m = doc.get("model", {})
    return model_display_name(str(m.get("name", "")), str(m.get("path", "")))


def title(doc: Doc) -> str:
    """'model on chip (mode, scheduler, precision)' for figure titles."""
    return (f"{model_name(doc)} on {doc['hardware'].get('name', '?')} "
            f"({doc['mode']}, {doc['scheduler']}, {doc['precision']})")


#: fields that tell results apart, in the order labels name them
LABEL_FIELDS: tuple[str, ...] = ("model", "hardware", "mode", "scheduler", "prune", "precision", "frames")


def _field(doc: Doc, key: str) -> str:
    if key == "model":
        return model_name(doc)
    if key == "hardware":
        return str(doc["hardware"].get("name", "?"))
    if key == "frames":
        n = int(doc.get("frames", 1))
        return f"{n} frame" if n == 1 else f"{n} frames"
    if key == "prune":
        return str(doc.get("prune") or "unpruned")
    return str(doc.get(key, "?"))


def result_labels(docs: Sequence[Doc], names: Optional[Sequence[str]] = None) -> list[str]:
    """A short label per result, made of the fields that differ between them (scheduler, mode, precision...).

    When those fields do not tell the results apart (say a sweep of ring depths),
    ``names`` (e.g. the file names) are used instead when given, else numbers.
    """
    varying = [k for k in LABEL_FIELDS if len({_field(d, k) for d in docs}) > 1]
    labels = [" / ".join(_field(d, k) for k in varying) for d in docs] if varying else []
    if varying and len(set(labels)) == len(labels):
        return labels
    if names is not None and len(set(names)) == len(names) == len(docs):
        return [str(n) for n in names]
    if not varying:
        return [f"#{i + 1}" for i in range(len(docs))] if len(docs) > 1 else [_field(d, "mode") for d in docs]
    return [f"#{i + 1} {lab}" for i, lab in enumerate(labels)]


def file_slug(label: str) -> str:
    """A label as a piece of a file name ("magnitude:0.5 / int8" -> "magnitude-0.5_int8")."""
    text = re.sub(r"\s*/\s*", "_", label.strip())
    text = re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-_.")
    return text or "run"
