"""Reading a result document (the JSON of ``SimResult.to_dict()``) for the report writers.

Every writer in :mod:`gspsim.report` takes the plain dict, so it works the same
on a live result (``result.to_dict()``) and on a ``--json`` file read back.
This module loads and checks such a file and holds the few accessors the
writers share, so that a missing key fails with one line naming it.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..errors import GspsimError
from ..input_files import regular_input
from ..results.names import model_display_name
from ..terminal import printable

Doc = Mapping[str, Any]

#: keys every result document has (see gspsim/results/result.py)
REQUIRED_KEYS: tuple[str, ...] = (
    "schema_version", "model", "hardware", "mode", "scheduler", "precision", "latency_cycles", "latency_s",
    "makespan_cycles", "energy_j", "nodes", "power_series",
)
#: schema versions these writers understand (2 renamed the time figures, see docs/json-result.md)
KNOWN_SCHEMAS: tuple[int, ...] = (2,)
#: no figure of a real result comes near this (cycles of a year at 10 GHz are 3e17); larger ones are corrupt
MAX_MAGNITUDE = 1e30
#: a chip with more cores is not one gspsim simulates (the plots draw a lane per core)
MAX_CORES = 1 << 16


#: a result file larger than this is not read (a long run's timeline is tens of MB; this is far above)
MAX_RESULT_BYTES = 4 << 30


def load_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every result in a ``--json`` file: one document, or the list ``run`` writes for several precisions or prunings.

    Anything wrong with the file is a one-line :class:`GspsimError` naming it.
    """
    p = regular_input(path, "result file", max_bytes=MAX_RESULT_BYTES)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GspsimError(f"{p}: cannot read result file ({exc.__class__.__name__}: {exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GspsimError(f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise GspsimError(f"{p}: not a gspsim result (JSON nested too deeply to read)") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise GspsimError(f"{p}: not valid JSON ({' '.join(str(exc).split())[:200]})") from None
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
    """Refuse anything that is not a well-formed gspsim result document, naming the first key at fault.

    Every field the report writers read is checked here (type, range, lengths of the timeline's columns and
    the indices into them), so that a document that passes cannot crash a writer.
    """
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
    if type(doc["schema_version"]) is not int or doc["schema_version"] not in KNOWN_SCHEMAS:
        raise GspsimError(
            f"{where}: result schema_version {doc['schema_version']!r} is not one this gspsim reads "
            f"({', '.join(map(str, KNOWN_SCHEMAS))})"
        )
    _Checker(where).document(doc)


class _Checker:
    """The field-by-field check of a result document; each failure names the key path (e.g. nodes[3].macs)."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, why: str) -> None:
        raise GspsimError(f"{self.where}: not a well-formed gspsim result: '{path}' {why}")

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, got {_type(value)}")
        return value

    def array(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, f"must be an array, got {_type(value)}")
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            self.fail(path, f"must be a string, got {_type(value)}")
        return value

    def number(self, value: Any, path: str, minimum: Optional[float] = None, positive: bool = False,
               integer: bool = False, nullable: bool = False) -> Optional[float]:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            self.fail(path, f"must be {'an integer' if integer else 'a number'}, got {_type(value)}")
        if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
            self.fail(path, f"must be a finite number of at most {MAX_MAGNITUDE:g}, got {value!r}")
        if positive and not value > 0:
            self.fail(path, f"must be > 0, got {value!r}")
        if minimum is not None and value < minimum:
            self.fail(path, f"must be >= {minimum:g}, got {value!r}")
        return value

    def numbers(self, value: Any, path: str, **limits: Any) -> list[float]:
        items = self.array(value, path)
        for i, v in enumerate(items):
            self.number(v, f"{path}[{i}]", **limits)
        return items

    def optional(self, doc: Mapping[str, Any], key: str, check: Any, path: str = "", **limits: Any) -> None:
        if key in doc:
            check(doc[key], f"{path}{key}", **limits)

    def document(self, doc: Mapping[str, Any]) -> None:
        for key in ("mode", "scheduler", "precision"):
            self.text(doc[key], key)
        self.optional(doc, "gspsim_version", self.text)
        self.optional(doc, "prune", self.text)
        model = self.mapping(doc["model"], "model")
        for key in ("path", "name"):
            self.optional(model, key, self.text, "model.")
        for key in ("nodes", "params", "macs", "weight_bytes"):
            self.optional(model, key, self.number, "model.", minimum=0, integer=True)
        hw = self.mapping(doc["hardware"], "hardware")
        self.optional(hw, "name", self.text, "hardware.")
        self.number(hw.get("clock_hz"), "hardware.clock_hz", positive=True)
        self.number(hw.get("cores"), "hardware.cores", minimum=1, integer=True)
        if hw["cores"] > MAX_CORES:
            self.fail("hardware.cores", f"must be at most {MAX_CORES}, got {hw['cores']}")
        for key in ("dram_bandwidth_bytes_per_s", "peak_tops", "macs_per_cycle_per_core"):
            self.optional(hw, key, self.number, "hardware.", minimum=0)
        for key in ("latency_cycles", "latency_s", "energy_j"):
            self.number(doc[key], key, minimum=0)
        for key in ("makespan_cycles", "makespan_s", "active_cycles", "active_s", "steady_state_fps", "avg_power_w",
                    "active_lower_bound_cycles", "active_efficiency", "dram_active_utilization",
                    "interconnect_active_utilization", "mean_latency_s", "p50_latency_s", "p95_latency_s",
                    "max_latency_s"):
            self.optional(doc, key, self.number, minimum=0)
        for key in ("frames",):
            self.optional(doc, key, self.number, minimum=1, integer=True)
        for key in ("seed", "blocks", "deadlock_spills", "dram_read_bytes", "dram_write_bytes", "onchip_bytes",
                    "sram_bytes", "ring_buffer_high_water_bytes"):
            self.optional(doc, key, self.number, minimum=0, integer=True)
        for key in ("core_active_utilization", "core_busy_cycles", "core_stalled_cycles", "core_idle_cycles",
                    "frame_arrival_cycles", "frame_end_cycles"):
            self.optional(doc, key, self.numbers)
        for key in ("energy_breakdown_j", "active_lower_bounds"):
            if key in doc:
                for k, v in self.mapping(doc[key], key).items():
                    self.number(v, f"{key}.{k}")
        if "dram_bytes_by_kind" in doc:
            for direction, kinds in self.mapping(doc["dram_bytes_by_kind"], "dram_bytes_by_kind").items():
                for k, v in self.mapping(kinds, f"dram_bytes_by_kind.{direction}").items():
                    self.number(v, f"dram_bytes_by_kind.{direction}.{k}", minimum=0)
        for i, node in enumerate(self.array(doc["nodes"], "nodes")):
            self.node(node, f"nodes[{i}]")
        self.power(self.mapping(doc["power_series"], "power_series"))
        for i, b in enumerate(self.array(doc.get("buffers", []), "buffers")):
            b = self.mapping(b, f"buffers[{i}]")
            self.optional(b, "tensor", self.text, f"buffers[{i}].")
            for key in ("capacity_bytes", "high_water_bytes"):
                self.optional(b, key, self.number, f"buffers[{i}].", minimum=0)
        for i, st in enumerate(self.array(doc.get("streams", []), "streams")):
            st = self.mapping(st, f"streams[{i}]")
            self.optional(st, "path", self.text, f"streams[{i}].")
            for key in ("frames", "deadline_misses"):
                self.optional(st, key, self.number, f"streams[{i}].", minimum=0, integer=True)
            for key in ("fps_in", "deadline_s"):
                self.optional(st, key, self.number, f"streams[{i}].", minimum=0, nullable=True)
            for key in ("latency_s", "mean_latency_s", "p50_latency_s", "p95_latency_s", "max_latency_s", "active_s",
                        "steady_state_fps"):
                self.optional(st, key, self.number, f"streams[{i}].", minimum=0)
        if doc.get("check") is not None:
            self.check(self.mapping(doc["check"], "check"))
        if doc.get("timeline") is not None:
            self.timeline(self.mapping(doc["timeline"], "timeline"), int(hw["cores"]))

    def node(self, node: Any, path: str) -> None:
        node = self.mapping(node, path)
        for key in ("name", "op"):
            self.text(node.get(key), f"{path}.{key}")
        self.optional(node, "precision", self.text, f"{path}.")
        for key in ("start_cycle", "end_cycle", "busy_cycles", "energy_j"):
            self.number(node.get(key), f"{path}.{key}", minimum=0)
        for key in ("blocks", "macs", "dram_bytes"):
            self.number(node.get(key), f"{path}.{key}", minimum=0, integer=True)
        self.numbers(node.get("cores"), f"{path}.cores", minimum=0, integer=True)

    def power(self, ps: Mapping[str, Any]) -> None:
        self.optional(ps, "resolution_cycles", self.number, "power_series.", minimum=0)
        starts = self.numbers(ps.get("start_cycles", []), "power_series.start_cycles", minimum=0)
        watts = self.numbers(ps.get("watts", []), "power_series.watts")
        if len(starts) != len(watts):
            self.fail("power_series", f"has {len(starts)} start_cycles but {len(watts)} watts")

    def check(self, c: Mapping[str, Any]) -> None:
        if not isinstance(c.get("passed"), bool):
            self.fail("check.passed", f"must be true or false, got {_type(c.get('passed'))}")
        self.optional(c, "reference", self.text, "check.")
        self.optional(c, "worst_output", self.text, "check.")
        for key in ("max_abs_err", "max_rel_err", "tolerance"):
            self.optional(c, key, self.number, "check.", nullable=True)  # null: a NaN/Inf (see "non_finite")

    def timeline(self, t: Mapping[str, Any], cores: int) -> None:
        names = [self.text(n, f"timeline.nodes[{i}]") for i, n in enumerate(self.array(t.get("nodes"), "timeline.nodes"))]
        ops = [self.text(n, f"timeline.ops[{i}]") for i, n in enumerate(self.array(t.get("ops"), "timeline.ops"))]
        if len(ops) != len(names):
            self.fail("timeline.ops", f"has {len(ops)} entries for {len(names)} nodes")
        blocks = self.mapping(t.get("blocks"), "timeline.blocks")
        length = None
        for key in ("node", "frame", "index", "model", "core", "start", "end"):
            if key == "model" and key not in blocks:
                continue
            integer = key not in ("start", "end")
            column = self.numbers(blocks.get(key), f"timeline.blocks.{key}", minimum=0, integer=integer)
            if length is not None and len(column) != length:
                self.fail(f"timeline.blocks.{key}", f"has {len(column)} entries, the other columns {length}")
            length = len(column)
        if any(n >= len(names) for n in blocks["node"]):
            self.fail("timeline.blocks.node", f"refers to a node beyond the {len(names)} in timeline.nodes")
        if any(c >= cores for c in blocks["core"]):
            self.fail("timeline.blocks.core", f"refers to a core beyond hardware.cores ({cores})")
        transfers = self.mapping(t.get("dram_transfers"), "timeline.dram_transfers")
        columns = [self.numbers(transfers.get(k), f"timeline.dram_transfers.{k}", minimum=0)
                   for k in ("start", "end", "bytes")]
        if len({len(c) for c in columns}) > 1:
            self.fail("timeline.dram_transfers", "columns start, end and bytes differ in length")
        for name, levels in self.mapping(t.get("buffer_levels", {}), "timeline.buffer_levels").items():
            levels = self.mapping(levels, f"timeline.buffer_levels.{name}")
            cycle = self.numbers(levels.get("cycle"), f"timeline.buffer_levels.{name}.cycle", minimum=0)
            held = self.numbers(levels.get("bytes"), f"timeline.buffer_levels.{name}.bytes", minimum=0)
            if len(cycle) != len(held):
                self.fail(f"timeline.buffer_levels.{name}", "columns cycle and bytes differ in length")


def _type(value: Any) -> str:
    return "null" if value is None else {bool: "boolean", int: "integer", float: "number", str: "string",
                                         list: "array", dict: "object"}.get(type(value), type(value).__name__)


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
    """'model on chip (mode, scheduler, precision)' for figure titles (control characters shown escaped)."""
    return printable(f"{model_name(doc)} on {doc['hardware'].get('name', '?')} "
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
    labels = _labels(docs, names)
    return [printable(label) for label in labels]


def _labels(docs: Sequence[Doc], names: Optional[Sequence[str]]) -> list[str]:
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
