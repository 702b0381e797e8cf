"""What runs on a worker: one point's simulation, turned into a plain record that never raises.

Any error of the point becomes ``status = "failed"`` with its message, so a
bad point costs one row, not the sweep.  The record is a JSON-ready dict,
small enough to send back from a remote Dask worker.
"""

from __future__ import annotations

import functools
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any, Mapping, Optional, Union

from ..engine.options import SimOptions
from ..errors import GspsimError
from ..hardware.config import HardwareConfig
from .modelfiles import ModelBlob, materialize
from .programs import LoweringCache

OK = "ok"
FAILED = "failed"

#: the metrics of a point, in column order (units in the names; see docs/sweeps.md)
METRICS: tuple[str, ...] = (
    "mode_run", "scheduler_run", "latency_s", "latency_cycles", "makespan_s", "p95_latency_s", "steady_state_fps",
    "energy_j", "avg_power_w", "dram_read_bytes", "dram_write_bytes", "onchip_bytes", "sram_bytes",
    "mean_active_utilization", "active_efficiency", "active_lower_bound_cycles", "deadlock_spills", "model_macs",
    "model_params", "check_passed", "check_max_rel_err",
)


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs for one point (picklable; the model as a path or, for remote workers, bytes)."""

    key: str
    model: Union[str, ModelBlob]
    model_sha256: str
    hardware: HardwareConfig
    options: SimOptions
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    check: bool = False
    #: this point's share of the machine's memory (points run side by side); None: the worker's physical memory
    max_memory_bytes: Optional[int] = None


@functools.lru_cache(maxsize=8)
def _graph(path: str, sha256: str, input_shapes: tuple[tuple[str, tuple[int, ...]], ...],
           max_memory_bytes: Optional[int] = None) -> Any:
    """Load each model once per worker process (the IR is immutable; ``sha256`` keys it by content)."""
    from ..api import load_model

    return load_model(path, dict(input_shapes) or None, max_memory_bytes)


@functools.lru_cache(maxsize=1)
def lowering_cache() -> LoweringCache:
    """This worker process's lowered models, shared by its points (see gspsim.sweep.programs)."""
    return LoweringCache()


def metrics_of(result: Any) -> dict[str, Any]:
    """The sweep's columns from a SimResult."""
    util = result.core_active_utilization
    return {
        "mode_run": result.mode,
        "scheduler_run": result.scheduler,
        "latency_s": float(result.latency_s),
        "latency_cycles": float(result.latency_cycles),
        "makespan_s": float(result.makespan_s),
        "p95_latency_s": float(result.p95_latency_s),
        "steady_state_fps": float(result.steady_state_fps),
        "energy_j": float(result.energy_j),
        "avg_power_w": float(result.avg_power_w),
        "dram_read_bytes": int(result.dram_read_bytes),
        "dram_write_bytes": int(result.dram_write_bytes),
        "onchip_bytes": int(result.onchip_bytes),
        "sram_bytes": int(result.sram_bytes),
        "mean_active_utilization": float(sum(util) / len(util)) if util else 0.0,
        "active_efficiency": float(result.active_efficiency),
        "active_lower_bound_cycles": float(result.active_lower_bound_cycles),
        "deadlock_spills": int(result.deadlock_spills),
        "model_macs": int(result.model["macs"]),
        "model_params": int(result.model["params"]),
        "check_passed": None if result.check is None else bool(result.check.passed),
        "check_max_rel_err": None if result.check is None else float(result.check.max_rel_err),
    }


def run_point(task: PointTask) -> dict[str, Any]:
    """Simulate one point; never raises for a problem of the point itself.

    The record's ``timings_s`` splits the point's wall time: ``load`` (the model,
    once per worker), ``lowering`` (once per distinct lowering input per worker;
    ``lowering_shared`` says whether this point reused one), ``simulation`` (inputs,
    the engine and the result) and ``record`` (the metrics and the result document).
    """
    from ..api import simulate

    start = time.perf_counter()
    record: dict[str, Any] = {"key": task.key, "status": OK, "error": None, "metrics": None, "result": None}
    timings = {"load": 0.0, "lowering": 0.0, "simulation": 0.0, "record": 0.0}
    cache = lowering_cache()
    hits = cache.hits

    def lower(*args: Any) -> Any:
        begin = time.perf_counter()
        try:
            return cache.lower(*args)
        finally:
            timings["lowering"] += time.perf_counter() - begin

    try:
        path = str(materialize(task.model)) if isinstance(task.model, ModelBlob) else task.model
        graph = _graph(path, task.model_sha256, task.input_shapes, task.max_memory_bytes)
        loaded = time.perf_counter()
        timings["load"] = loaded - start
        result = simulate(graph, task.hardware, task.options, check=task.check, max_memory_bytes=task.max_memory_bytes,
                          lower=lower)
        simulated = time.perf_counter()
        timings["simulation"] = simulated - loaded - timings["lowering"]
        record["metrics"] = metrics_of(result)
        doc = replace(result, timeline=None).to_dict()
        doc["model"]["path"] = path
        record["result"] = doc
        timings["record"] = time.perf_counter() - simulated
    except GspsimError as exc:
        record.update(status=FAILED, error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug in gspsim: keep the traceback in the point file
        record.update(status=FAILED, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    record["wall_s"] = time.perf_counter() - start
    record["timings_s"] = timings
    record["lowering_shared"] = cache.hits > hits
    return record


def failed_record(key: str, error: str) -> dict[str, Any]:
    """A point that could not run at all (its worker died, the cluster gave up on it)."""
    return {"key": key, "status": FAILED, "error": error, "metrics": None, "result": None, "wall_s": None}


def check_record(record: Optional[Mapping[str, Any]]) -> bool:
    """Whether a stored record has the shape this version writes (else it is recomputed)."""
    return (isinstance(record, Mapping) and record.get("status") in (OK, FAILED) and isinstance(record.get("key"), str)
            and (record.get("status") == FAILED or isinstance(record.get("metrics"), Mapping)))
