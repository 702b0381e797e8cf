"""Comparing scheduling strategies on one model and chip, each in its own process."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import replace
from typing import Mapping, Optional, Sequence

from .engine.options import SimOptions
from .errors import ConfigError
from .frontend.memory import resolve_limit
from .processes import check_jobs, worker_pool
from .hardware.config import HardwareConfig
from .results.result import SimResult
from .scheduling import scheduler_class, scheduler_names

#: CSV columns (units in the names; docs/json-result.md defines each figure) and the table's header for each
COMPARE_COLUMNS: tuple[str, ...] = (
    "scheduler", "mode", "latency_cycles", "latency_ms", "makespan_ms", "steady_state_fps", "energy_mj", "dram_mib",
    "mean_active_utilization", "active_efficiency",
)
COMPARE_HEADERS: dict[str, str] = {
    "scheduler": "scheduler", "mode": "mode", "latency_cycles": "latency cycles", "latency_ms": "latency ms",
    "makespan_ms": "makespan ms", "steady_state_fps": "fps", "energy_mj": "energy mJ", "dram_mib": "DRAM MiB",
    "mean_active_utilization": "core utilization", "active_efficiency": "efficiency",
}


def parse_scheduler_list(text: str) -> list[str]:
    """``all`` or a comma-separated list of names (built-in, entry point or module:Class)."""
    names = scheduler_names() if text.strip() == "all" else [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise ConfigError("--schedulers: give 'all' or a comma-separated list of names")
    for name in names:
        scheduler_class(name)  # fail early, with the known names
    return names


def _run_one(args: tuple) -> SimResult:
    from .api import simulate

    model, hw, options, input_shapes, max_memory = args
    result = simulate(model, hw, options, input_shapes=input_shapes, max_memory_bytes=max_memory)
    return replace(result, timeline=None)


def compare_schedulers(
    model: str,
    hw: HardwareConfig,
    names: Sequence[str],
    options: Optional[SimOptions] = None,
    jobs: Optional[int] = None,
    input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
    max_memory_bytes: Optional[int] = None,
) -> list[SimResult]:
    """Simulate ``model`` once per strategy (in parallel processes) and return the results in order."""
    check_jobs(jobs)
    options = options or SimOptions()
    jobs = jobs or min(len(names), os.cpu_count() or 1)
    share = resolve_limit(max_memory_bytes) // max(1, min(jobs, len(names)))  # the processes run side by side
    work = [(model, hw, replace(options, scheduler=name), input_shapes, share) for name in names]
    if jobs <= 1:
        return [_run_one(w) for w in work]
    with worker_pool(jobs) as pool:
        return list(pool.map(_run_one, work))


def compare_rows(results: Sequence[SimResult]) -> list[dict]:
    rows = []
    for r in results:
        rows.append({
            "scheduler": r.scheduler,
            "mode": r.mode,
            "latency_cycles": r.latency_cycles,
            "latency_ms": r.latency_s * 1e3,
            "makespan_ms": r.makespan_s * 1e3,
            "steady_state_fps": r.steady_state_fps,
            "energy_mj": r.energy_j * 1e3,
            "dram_mib": (r.dram_read_bytes + r.dram_write_bytes) / 2**20,
            "mean_active_utilization": sum(r.core_active_utilization) / len(r.core_active_utilization),
            "active_efficiency": r.active_efficiency,
        })
    return rows


def rows_to_csv(rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COMPARE_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()
