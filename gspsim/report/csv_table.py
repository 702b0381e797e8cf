"""The per-node table as CSV, one row per graph node (like SCALE-Sim's per-layer report).

Columns: name, op, blocks, cores (how many), core_ids (';'-separated),
start_cycle, end_cycle, cycles (end - start: the node's span), busy_cycles
(block cycles summed over cores), macs, dram_bytes, energy_j.  Result documents
carry no per-node on-chip byte count, so an ``onchip_bytes`` column is written
only when the nodes of the document have that key.  Several results go into
one table with a first column ``run`` (each result's label).
"""

from __future__ import annotations

import csv
import io
import os
from typing import Any, Mapping, Optional, Sequence

from ..output_files import write_text_atomic
from .document import Doc, check_document, node_span_cycles, result_labels

BASE_COLUMNS: tuple[str, ...] = (
    "name", "op", "blocks", "cores", "core_ids", "start_cycle", "end_cycle", "cycles", "busy_cycles", "macs",
    "dram_bytes",
)
#: per-node keys written when present (not in schema 1)
OPTIONAL_COLUMNS: tuple[str, ...] = ("onchip_bytes",)


def node_columns(doc: Doc) -> list[str]:
    nodes = doc["nodes"]
    optional = [k for k in OPTIONAL_COLUMNS if nodes and all(k in n for n in nodes)]
    return [*BASE_COLUMNS, *optional, "energy_j"]


def _cycles(x: float) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else repr(x)


def node_rows(doc: Doc) -> list[dict[str, Any]]:
    """The table's rows as dicts keyed by :func:`node_columns` (values as written to the CSV)."""
    check_document(doc)
    columns = node_columns(doc)
    rows = []
    for n in doc["nodes"]:
        row: dict[str, Any] = {
            "name": n["name"], "op": n["op"], "blocks": int(n["blocks"]), "cores": len(n["cores"]),
            "core_ids": ";".join(str(int(c)) for c in n["cores"]),
            "start_cycle": _cycles(n["start_cycle"]), "end_cycle": _cycles(n["end_cycle"]),
            "cycles": _cycles(node_span_cycles(n)), "busy_cycles": _cycles(n["busy_cycles"]),
            "macs": int(n["macs"]), "dram_bytes": int(n["dram_bytes"]), "energy_j": repr(float(n["energy_j"])),
        }
        for k in OPTIONAL_COLUMNS:
            if k in columns:
                row[k] = int(n[k])
        rows.append({k: row[k] for k in columns})
    return rows


def node_csv_text(doc: Doc | Sequence[Doc], labels: Optional[Sequence[str]] = None) -> str:
    """The per-node CSV of one result, or of several with a first column ``run`` (each result's label)."""
    if isinstance(doc, Mapping):
        docs, run_labels = [doc], None
    else:
        docs = list(doc)
        run_labels = list(labels) if labels is not None else result_labels(docs)
    buf = io.StringIO()
    columns = [c for c in node_columns(docs[0]) if all(c in node_columns(d) for d in docs)]
    several = len(docs) > 1
    writer = csv.DictWriter(buf, fieldnames=(["run"] if several else []) + columns, lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    for label, d in zip(run_labels or [""], docs):
        for row in node_rows(d):
            writer.writerow({"run": label, **row} if several else row)
    return buf.getvalue()


def write_node_csv(doc: Doc | Sequence[Doc], path: str | os.PathLike[str],
                   labels: Optional[Sequence[str]] = None) -> None:
    """Write the per-node table (of one result, or of several with a ``run`` column) to ``path`` atomically."""
    write_text_atomic(path, node_csv_text(doc, labels))
