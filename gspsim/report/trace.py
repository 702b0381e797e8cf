"""Chrome trace-event JSON of a result, for ui.perfetto.dev and chrome://tracing.

Layout of the trace (timestamps are microseconds of *simulated* time,
cycles / clock_hz * 1e6):

* process 1 "GSP cores": one thread per core ("core 3") with an "X" slice per
  block named ``node (op)``; a core runs several blocks at once (thread slots),
  and viewers need the slices of one thread to nest, so blocks that overlap
  on a core go to extra lanes "core 3 / slot 1", ... listed right under it;
* process 2 "memory": a "DRAM" thread with an "X" slice per transfer, and
  counters "DRAM bandwidth" (bytes/cycle, binned) and "ring <tensor>" (bytes
  held by each on-chip ring buffer);
* process 3 "power": a counter "power" (W) from the result's power series.

Several results (``run --precision fp32,int8 --trace t.json``) go into one
file: run *i* has processes 10 i + 1, 10 i + 2 and 10 i + 3, named after its
label ("int8: GSP cores (...)"), each run starting at time 0.

The format is the JSON object form of the Trace Event Format
(``{"traceEvents": [...], "displayTimeUnit": "ns"}``).
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..output_files import write_text_atomic
from .document import Doc, block_arrays, check_document, cycles_to_us, dram_arrays, has_timeline, result_labels
from .series import assign_lanes, bin_edges, binned_amount

PID_CORES = 1
PID_MEMORY = 2
PID_POWER = 3
#: several runs in one trace: run i's process ids are i * RUN_PID_STRIDE + the ids above
RUN_PID_STRIDE = 10
TID_DRAM = 1
#: thread ids of core lanes: core c, lane k -> (c + 1) * LANE_STRIDE + k
LANE_STRIDE = 100
#: bins of the DRAM bandwidth counter when the result has no power resolution to follow
BANDWIDTH_BINS = 200


def core_tid(core: int, lane: int) -> int:
    """Thread id of lane ``lane`` of core ``core`` (also the track order)."""
    return (int(core) + 1) * LANE_STRIDE + int(lane)


def _meta(kind: str, pid: int, tid: int, **args: Any) -> dict[str, Any]:
    return {"name": kind, "ph": "M", "pid": pid, "tid": tid, "args": args}


def _counter(name: str, ts: float, pid: int, series: dict[str, float]) -> dict[str, Any]:
    return {"name": name, "ph": "C", "ts": ts, "pid": pid, "tid": 0, "args": series}


def _num(x: float) -> float:
    """Round floats so the file stays small and stable (1e-6 us = 1 fs, below any cycle)."""
    return float(round(float(x), 6))


def _core_events(doc: Doc, base: int = 0) -> list[dict[str, Any]]:
    b = block_arrays(doc)
    if len(b["start"]) == 0:
        return []
    names = doc["timeline"]["nodes"]
    ops = doc["timeline"]["ops"]
    lanes = assign_lanes(b["start"], b["end"], b["core"])
    ts = cycles_to_us(doc, b["start"])
    dur = cycles_to_us(doc, np.maximum(b["end"] - b["start"], 0.0))
    events: list[dict[str, Any]] = []
    for core, lane in sorted({(int(c), int(k)) for c, k in zip(b["core"], lanes)}):
        tid = core_tid(core, lane)
        label = f"core {core}" if lane == 0 else f"core {core} / slot {lane}"
        events.append(_meta("thread_name", base + PID_CORES, tid, name=label))
        events.append(_meta("thread_sort_index", base + PID_CORES, tid, sort_index=tid))
    multi = len(doc.get("streams", ())) > 1
    order = np.lexsort((b["core"], b["start"]))
    for i in order:
        node = int(b["node"][i])
        events.append({
            "name": f"{names[node]} ({ops[node]})", "cat": "block", "ph": "X",
            "ts": _num(ts[i]), "dur": _num(dur[i]), "pid": base + PID_CORES, "tid": core_tid(b["core"][i], lanes[i]),
            "args": {"node": names[node], "op": ops[node], "block": int(b["index"][i]), "frame": int(b["frame"][i]),
                     "core": int(b["core"][i]), "start_cycle": float(b["start"][i]), "end_cycle": float(b["end"][i]),
                     **({"model": int(b["model"][i])} if multi else {})},
        })
    return events


def _dram_events(doc: Doc, base: int = 0) -> list[dict[str, Any]]:
    start, end, nbytes = dram_arrays(doc)
    events: list[dict[str, Any]] = []
    if len(start):
        lanes = assign_lanes(start, end, np.zeros(len(start), dtype=np.int64))
        for lane in sorted(set(lanes.tolist())):
            tid = TID_DRAM + lane
            events.append(_meta("thread_name", base + PID_MEMORY, tid, name="DRAM" if lane == 0 else f"DRAM / {lane}"))
            events.append(_meta("thread_sort_index", base + PID_MEMORY, tid, sort_index=tid))
        ts = cycles_to_us(doc, start)
        dur = cycles_to_us(doc, np.maximum(end - start, 0.0))
        for i in np.argsort(start, kind="stable"):
            events.append({
                "name": "DRAM transfer", "cat": "dram", "ph": "X", "ts": _num(ts[i]), "dur": _num(dur[i]),
                "pid": base + PID_MEMORY, "tid": TID_DRAM + int(lanes[i]),
                "args": {"bytes": int(nbytes[i]), "start_cycle": float(start[i]), "end_cycle": float(end[i])},
            })
    makespan = float(doc["makespan_cycles"])
    resolution = doc["power_series"].get("resolution_cycles") or None
    edges = bin_edges(max(makespan, float(end.max()) if len(end) else 0.0), BANDWIDTH_BINS, resolution)
    per_bin = binned_amount(start, end, nbytes, edges) / np.diff(edges)
    for t, v in zip(cycles_to_us(doc, edges[:-1]), per_bin):
        events.append(_counter("DRAM bandwidth", _num(t), base + PID_MEMORY, {"bytes/cycle": _num(v)}))
    events.append(_counter("DRAM bandwidth", _num(cycles_to_us(doc, edges[-1])), base + PID_MEMORY,
                           {"bytes/cycle": 0.0}))
    return events


def _buffer_events(doc: Doc, base: int = 0) -> list[dict[str, Any]]:
    if not has_timeline(doc):
        return []
    events: list[dict[str, Any]] = []
    for name, levels in doc["timeline"]["buffer_levels"].items():
        cycles = np.asarray(levels["cycle"], dtype=np.float64)
        held = np.asarray(levels["bytes"], dtype=np.float64)
        last: dict[float, float] = {}
        for c, v in zip(cycles, held):  # several changes in one cycle: the viewer shows the level after them
            last[_num(cycles_to_us(doc, c))] = float(v)
        if not last or min(last) > 0:
            events.append(_counter(f"ring {name}", 0.0, base + PID_MEMORY, {"bytes": 0.0}))
        events.extend(_counter(f"ring {name}", t, base + PID_MEMORY, {"bytes": v}) for t, v in sorted(last.items()))
    return events


def _power_events(doc: Doc, base: int = 0) -> list[dict[str, Any]]:
    ps = doc["power_series"]
    starts = list(ps.get("start_cycles", []))
    watts = list(ps.get("watts", []))
    events = [_counter("power", _num(cycles_to_us(doc, c)), base + PID_POWER, {"W": _num(w)})
              for c, w in zip(starts, watts)]
    if watts:  # hold the last value to the end of the run
        end = _num(cycles_to_us(doc, doc["makespan_cycles"]))
        events.append(_counter("power", end, base + PID_POWER, {"W": _num(watts[-1])}))
    return events


def _run_events(doc: Doc, base: int = 0, label: str = "") -> list[dict[str, Any]]:
    """The processes of one result, their ids offset by ``base`` and their names prefixed by ``label``."""
    check_document(doc)
    hw = doc["hardware"]
    prefix = f"{label}: " if label else ""
    events: list[dict[str, Any]] = [
        _meta("process_name", base + PID_CORES, 0,
              name=f"{prefix}GSP cores ({hw.get('name', '?')}, {hw.get('cores', '?')} cores)"),
        _meta("process_sort_index", base + PID_CORES, 0, sort_index=base + PID_CORES),
        _meta("process_name", base + PID_MEMORY, 0, name=f"{prefix}memory (DRAM, ring buffers)"),
        _meta("process_sort_index", base + PID_MEMORY, 0, sort_index=base + PID_MEMORY),
        _meta("process_name", base + PID_POWER, 0, name=f"{prefix}power"),
        _meta("process_sort_index", base + PID_POWER, 0, sort_index=base + PID_POWER),
    ]
    events += _core_events(doc, base)
    events += _dram_events(doc, base)
    events += _buffer_events(doc, base)
    events += _power_events(doc, base)
    return events


def _run_data(doc: Doc) -> dict[str, Any]:
    hw = doc["hardware"]
    return {
        "model": str(doc["model"].get("path", "")), "hardware": str(hw.get("name", "")),
        "mode": str(doc["mode"]), "scheduler": str(doc["scheduler"]), "precision": str(doc["precision"]),
        "prune": str(doc.get("prune", "")), "clock_hz": float(hw["clock_hz"]),
        "makespan_cycles": float(doc["makespan_cycles"]),
    }


def trace_events(doc: Doc) -> dict[str, Any]:
    """The result as a Chrome trace-event JSON object (``traceEvents`` + ``displayTimeUnit``)."""
    return {
        "traceEvents": _run_events(doc),
        "displayTimeUnit": "ns",
        "otherData": {
            "generator": f"gspsim {doc.get('gspsim_version', '?')}", **_run_data(doc),
            "time_unit": "microseconds of simulated time (cycles / clock_hz * 1e6)",
        },
    }


def runs_trace_events(docs: Sequence[Doc], labels: Sequence[str]) -> dict[str, Any]:
    """Several results in one trace: each run's processes (cores, memory, power) named after its label.

    Every run starts at time 0, so the runs line up one above the other in the viewer.
    """
    if len(docs) == 1:
        return trace_events(docs[0])
    events: list[dict[str, Any]] = []
    for i, (doc, label) in enumerate(zip(docs, labels)):
        events += _run_events(doc, i * RUN_PID_STRIDE, label)
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "generator": f"gspsim {docs[0].get('gspsim_version', '?')}",
            "runs": [{"label": label, **_run_data(doc)} for doc, label in zip(docs, labels)],
            "time_unit": "microseconds of simulated time (cycles / clock_hz * 1e6), each run from 0",
        },
    }


def write_trace(doc: Doc | Sequence[Doc], path: str | os.PathLike[str],
                labels: Optional[Sequence[str]] = None) -> None:
    """Write the trace of one result, or of several in one file, to ``path`` atomically.

    Open it in ui.perfetto.dev or chrome://tracing.  Several results need their
    ``labels`` (default: :func:`result_labels`).
    """
    if isinstance(doc, Mapping):
        trace = trace_events(doc)
    else:
        docs = list(doc)
        trace = runs_trace_events(docs, list(labels) if labels is not None else result_labels(docs))
    text = json.dumps(trace, separators=(",", ":"), allow_nan=False)
    write_text_atomic(path, text + "\n")
