"""The per-node table as CSV, one row per graph node (like SCALE-Sim's per-layer report).

Columns: name, op, blocks, cores (how many), core_ids (';'-separated),
start_cycle, end_cycle, cycles (end - start: the node's span), busy_cycles
(block cycles summed over cores), macs, dram_bytes, energy_j.  Schema 1 result
documents carry no per-node on-chip byte count, so an ``onchip_bytes`` column is
written only when the nodes of the document have that key.
"""

from __future__ import annotations

import csv
import io
import os
from typing import Any, Mapping

from ..output_files import write_text_atomic
from .document import Doc, check_document, node_span_cycles

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


def node_csv_text(doc: Doc) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=node_columns(doc), lineterminator="\n")
    writer.writeheader()
    writer.writerows(node_rows(doc))
    return buf.getvalue()


def write_node_csv(doc: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the per-node table to ``path`` atomically."""
    write_text_atomic(path, node_csv_text(doc))
