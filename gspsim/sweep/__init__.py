"""Design-space sweeps: many chips, options and model variants, each point a full simulation.

    from gspsim.sweep import build_grid, plan, run_sweep, LocalExecutor, PointStore
    spec = build_grid(["model.onnx"], overrides={"cores": [4, 8, 16], "dram_gbps": [12.8, 25.6]})
    outcome = run_sweep(plan(spec), PointStore("out/"), LocalExecutor(), spec)

``python -m gspsim sweep --help`` is the command line; docs/sweeps.md a worked example.
Dask (``--dask``) and Parquet need the ``sweep`` extra; both are imported only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> its module, imported on first use (the command line imports this package's CLI module for
#: every command; the executors and runner import onnx and the kernels)
_LAZY = {
    "DaskExecutor": ".executors", "LocalExecutor": ".executors", "GridSpec": ".grid", "Point": ".grid",
    "area_proxy_bytes": ".grid", "build_grid": ".grid", "expand": ".grid", "front_rows": ".pareto",
    "pareto_indices": ".pareto", "PlannedPoint": ".runner", "SweepOutcome": ".runner", "plan": ".runner",
    "run_sweep": ".runner", "PointStore": ".store", "result_rows": ".table", "write_csv": ".table",
    "write_parquet": ".table",
}

__all__ = [
    "DaskExecutor", "GridSpec", "LocalExecutor", "PlannedPoint", "Point", "PointStore", "SweepOutcome",
    "area_proxy_bytes", "build_grid", "expand", "front_rows", "pareto_indices", "plan", "result_rows", "run_sweep",
    "write_csv", "write_parquet",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
