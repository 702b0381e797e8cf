"""Design-space sweeps: many chips, options and model variants, each point a full simulation.

    from gspsim.sweep import build_grid, plan, run_sweep, LocalExecutor, PointStore
    spec = build_grid(["model.onnx"], overrides={"cores": [4, 8, 16], "dram_gbps": [12.8, 25.6]})
    outcome = run_sweep(plan(spec), PointStore("out/"), LocalExecutor(), spec)

``python -m gspsim sweep --help`` is the command line; docs/sweeps.md a worked example.
Dask (``--dask``) and Parquet need the ``sweep`` extra; both are imported only when used.
"""

from __future__ import annotations

from .executors import DaskExecutor, LocalExecutor
from .grid import GridSpec, Point, area_proxy_bytes, build_grid, expand
from .pareto import front_rows, pareto_indices
from .runner import PlannedPoint, SweepOutcome, plan, run_sweep
from .store import PointStore
from .table import result_rows, write_csv, write_parquet

__all__ = [
    "DaskExecutor", "GridSpec", "LocalExecutor", "PlannedPoint", "Point", "PointStore", "SweepOutcome",
    "area_proxy_bytes", "build_grid", "expand", "front_rows", "pareto_indices", "plan", "result_rows", "run_sweep",
    "write_csv", "write_parquet",
]
