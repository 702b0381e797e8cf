"""The results table: one row per point (every input and every metric), written as CSV and Parquet.

Rows follow the grid's order, whatever order the points finished in, so the
same sweep writes the same table.  The only column that varies between runs
of the same points is ``wall_s`` (the simulation's wall-clock time).
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from ..output_files import write_bytes_atomic, write_text_atomic
from .grid import GENERIC_HW_PREFIX, Point, area_proxy_bytes
from .runner import PlannedPoint, SweepOutcome
from .worker import METRICS

#: (column, type) of the input columns; generic ``hw.*`` axes follow them as floats
INPUT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("point", "int"), ("key", "str"), ("model", "str"), ("model_name", "str"), ("model_sha256", "str"),
    ("hw", "str"), ("cores", "int"), ("local_kib", "float"), ("shared_kib", "float"), ("dram_gbps", "float"),
    ("clock_ghz", "float"), ("threads", "int"), ("scheduler", "str"), ("mode", "str"), ("precision", "str"),
    ("fuse", "bool"), ("frames", "int"), ("tile", "str"), ("buffer_kib", "float"), ("sim_seed", "int"),
    ("execute", "bool"),
    ("check", "bool"), ("area_proxy_bytes", "int"),
)
METRIC_TYPES: Mapping[str, str] = {
    "mode_run": "str", "scheduler_run": "str", "deadlock_spills": "int", "dram_read_bytes": "int",
    "dram_write_bytes": "int", "onchip_bytes": "int", "sram_bytes": "int", "model_macs": "int",
    "model_params": "int", "check_passed": "bool",
}
OUTCOME_COLUMNS: tuple[tuple[str, str], ...] = (("status", "str"), ("error", "str"))
TAIL_COLUMNS: tuple[tuple[str, str], ...] = (("wall_s", "float"), ("pareto", "bool"))


def columns(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Every column of the table with its type, in order (generic ``hw.*`` axes: float, or str if not numbers)."""
    generic = []
    for name in sorted({k for r in rows for k in r if k.startswith(GENERIC_HW_PREFIX)}):
        numeric = all(isinstance(r.get(name), (int, float)) and not isinstance(r.get(name), bool)
                      for r in rows if r.get(name) is not None)
        generic.append((name, "float" if numeric else "str"))
    return [*INPUT_COLUMNS, *generic, *OUTCOME_COLUMNS,
            *((m, METRIC_TYPES.get(m, "float")) for m in METRICS), *TAIL_COLUMNS]


def _inputs_row(p: PlannedPoint) -> dict[str, Any]:
    pt: Point = p.point
    hw = pt.hardware
    v = pt.values
    return {
        "point": pt.index, "key": p.key, "model": pt.model, "model_name": Path(pt.model).stem,
        "model_sha256": p.model_sha256, "hw": v["hw"], "cores": hw.cores.count,
        "local_kib": hw.cores.local_memory_bytes / 1024, "shared_kib": hw.shared_memory.size_bytes / 1024,
        "dram_gbps": hw.dram.bandwidth_bytes_per_s / 1e9, "clock_ghz": hw.cores.clock_hz / 1e9,
        "threads": hw.cores.thread_slots, "scheduler": v["scheduler"] or "default", "mode": v["mode"] or "default",
        "precision": v["precision"], "fuse": v["fuse"], "frames": v["frames"], "tile": v["tile"],
        "buffer_kib": v["buffer_kib"], "sim_seed": v["sim_seed"], "execute": pt.options.execute,
        "check": bool(p.inputs.get("check")), "area_proxy_bytes": area_proxy_bytes(hw),
        **{k: val for k, val in v.items() if k.startswith(GENERIC_HW_PREFIX)},
    }


def result_rows(outcome: SweepOutcome, front_keys: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """One row per finished point of the plan, in grid order."""
    rows = []
    for p in outcome.planned:
        record = outcome.records.get(p.key)
        if record is None:
            continue
        metrics = record.get("metrics") or {}
        rows.append({
            **_inputs_row(p),
            "status": record["status"],
            "error": record.get("error"),
            **{m: metrics.get(m) for m in METRICS},
            "wall_s": record.get("wall_s"),
            "pareto": p.key in front_keys,
        })
    return rows


def _csv_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rows_to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    names = [c for c, _ in columns(rows)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in names])
    return buf.getvalue()


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    write_text_atomic(path, rows_to_csv(rows))
    return Path(path)


def write_parquet(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Optional[Path]:
    """The same table as Parquet with typed columns; None when pyarrow is not installed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    cols = columns(rows)
    arrays = []
    for name, kind in cols:
        values = [row.get(name) for row in rows]
        if kind == "float":
            values = [None if v is None else float(v) for v in values]
        elif kind == "str":
            values = [None if v is None else str(v) for v in values]
        arrays.append(pa.array(values, type=types[kind]))
    table = pa.Table.from_arrays(arrays, schema=pa.schema([(n, types[k]) for n, k in cols]))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_bytes_atomic(path, buf.getvalue())
    return Path(path)
