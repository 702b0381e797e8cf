"""The result of a simulation: frozen dataclasses and their JSON form (a documented contract).

``SimResult.to_dict()`` gives the JSON document described in docs/json-result.md.
The document holds no timestamps or wall-clock times, so the same model,
inputs, config and seed give byte-identical JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np

from .. import json_finite
from ..accuracy import AccuracyReport

#: the version of the JSON layout; bumped when a key changes meaning or disappears
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class NodeResult:
    """One graph node's share of the run."""

    name: str
    op: str
    precision: str
    blocks: int
    cores: tuple[int, ...]
    start_cycle: float
    end_cycle: float
    busy_cycles: float
    macs: int
    dram_bytes: int
    energy_j: float
    #: row bands, the tile size (output rows, channels, columns) and the stack the node runs in
    bands: int = 1
    tile: tuple[int, int, int] = (1, 1, 1)
    stack: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "op": self.op, "precision": self.precision, "blocks": self.blocks, "cores": list(self.cores),
            "start_cycle": self.start_cycle, "end_cycle": self.end_cycle, "busy_cycles": self.busy_cycles,
            "macs": self.macs, "dram_bytes": self.dram_bytes, "energy_j": self.energy_j,
            "bands": self.bands, "tile": {"rows": self.tile[0], "channels": self.tile[1], "cols": self.tile[2]},
            "stack": self.stack,
        }


@dataclass(frozen=True)
class CheckResult:
    """``--check``: the simulated outputs against onnxruntime's."""

    reference: str
    max_abs_err: float
    max_rel_err: float
    tolerance: float
    passed: bool
    worst_output: str
    per_output: Mapping[str, Mapping[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference, "max_abs_err": self.max_abs_err, "max_rel_err": self.max_rel_err,
            "tolerance": self.tolerance, "passed": self.passed, "worst_output": self.worst_output,
            "per_output": {k: dict(v) for k, v in self.per_output.items()},
        }


@dataclass(frozen=True, eq=False)
class Timeline:
    """When and where every block ran, every DRAM transfer, and ring-buffer occupancy over time."""

    node_names: tuple[str, ...]
    node_ops: tuple[str, ...]
    #: per block (all frames): node index, frame, block index, core, start and end cycle
    block_node: np.ndarray
    block_frame: np.ndarray
    block_index: np.ndarray
    block_model: np.ndarray
    block_core: np.ndarray
    block_start: np.ndarray
    block_end: np.ndarray
    #: DRAM transfers as rows (start cycle, end cycle, bytes)
    dram_transfers: np.ndarray
    #: per ring buffer: rows (cycle, bytes held)
    buffer_levels: Mapping[str, np.ndarray]

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        """The "timeline" object of the JSON document; with ``arrays``, its lists of numbers as 1-D numpy arrays
        (for :func:`gspsim.json_finite.dumps`, which writes them as their lists, without making the lists)."""
        listed = (lambda a: a) if arrays else (lambda a: a.tolist())
        return {
            "nodes": list(self.node_names),
            "ops": list(self.node_ops),
            "blocks": {
                "node": listed(self.block_node), "frame": listed(self.block_frame),
                "index": listed(self.block_index), "model": listed(self.block_model),
                "core": listed(self.block_core),
                "start": listed(self.block_start), "end": listed(self.block_end),
            },
            "dram_transfers": {
                "start": listed(self.dram_transfers[:, 0]), "end": listed(self.dram_transfers[:, 1]),
                "bytes": listed(self.dram_transfers[:, 2].astype(np.int64)),
            },
            "buffer_levels": {
                k: {"cycle": listed(v[:, 0]), "bytes": listed(v[:, 1].astype(np.int64))}
                for k, v in self.buffer_levels.items()
            },
        }


@dataclass(frozen=True)
class SimResult:
    """Everything one simulation measured (see docs/json-result.md for each key)."""

    gspsim_version: str
    model: Mapping[str, Any]
    hardware: Mapping[str, Any]
    precision: str
    #: the pruning applied before the run ("" for none), e.g. "magnitude:0.5"
    prune: str
    #: whether elementwise ops were fused into their producers (SimOptions.fuse)
    fuse: bool
    mode: str
    scheduler: str
    seed: int
    frames: int
    #: single-frame latency: the first frame's arrival to its last block (several models: the longest)
    latency_cycles: float
    latency_s: float
    #: first arrival (cycle 0) to the end of the run
    makespan_cycles: float
    makespan_s: float
    #: cycles during which at least one frame had arrived and was not done (the union of [arrival, done])
    active_cycles: float
    active_s: float
    #: per-frame latency (done - arrived) over every frame of every model; percentiles by nearest rank
    mean_latency_s: float
    p50_latency_s: float
    p95_latency_s: float
    max_latency_s: float
    #: frames per second sustained: min(arrival rate, frames / active_s)
    steady_state_fps: float
    energy_j: float
    #: energy_j / makespan_s
    avg_power_w: float
    energy_breakdown_j: Mapping[str, float]
    dram_read_bytes: int
    dram_write_bytes: int
    dram_bytes_by_kind: Mapping[str, Mapping[str, int]]
    onchip_bytes: int
    sram_bytes: int
    #: per core: busy cycles / active_cycles
    core_active_utilization: tuple[float, ...]
    core_busy_cycles: tuple[float, ...]
    core_stalled_cycles: tuple[float, ...]
    core_idle_cycles: tuple[float, ...]
    dram_active_utilization: float
    interconnect_active_utilization: float
    active_lower_bound_cycles: float
    active_lower_bounds: Mapping[str, float]
    #: active_lower_bound_cycles / active_cycles
    active_efficiency: float
    blocks: int
    deadlock_spills: int
    #: every deadlock spill with its reason (expected to be empty with the compiler's buffer sizing)
    spills: tuple[Mapping[str, Any], ...]
    #: the compiler's memory plan: budgets, the smallest buffer budget with no cut, stacks and cuts
    memory: Mapping[str, Any]
    buffers: tuple[Mapping[str, Any], ...]
    ring_buffer_high_water_bytes: int
    power_series: Mapping[str, Any]
    #: when each frame arrived and when its last block finished (all models, model by model, frame order)
    frame_arrival_cycles: tuple[float, ...]
    frame_end_cycles: tuple[float, ...]
    streams: tuple[Mapping[str, Any], ...]
    nodes: tuple[NodeResult, ...]
    check: Optional[CheckResult] = None
    accuracy: Optional[AccuracyReport] = None
    timeline: Optional[Timeline] = field(default=None, compare=False, repr=False)
    #: simulated graph outputs of the first model's last frame, by output name (not part of the JSON)
    outputs: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return self._document(arrays=False)

    def _document(self, arrays: bool) -> dict[str, Any]:
        """The JSON document; with ``arrays``, the timeline's lists as numpy arrays (:meth:`Timeline.to_dict`)."""
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "gspsim_version": self.gspsim_version,
            "model": dict(self.model),
            "hardware": dict(self.hardware),
            "precision": self.precision,
            "prune": self.prune,
            "fuse": self.fuse,
            "mode": self.mode,
            "scheduler": self.scheduler,
            "seed": self.seed,
            "frames": self.frames,
            "latency_cycles": self.latency_cycles,
            "latency_s": self.latency_s,
            "makespan_cycles": self.makespan_cycles,
            "makespan_s": self.makespan_s,
            "active_cycles": self.active_cycles,
            "active_s": self.active_s,
            "mean_latency_s": self.mean_latency_s,
            "p50_latency_s": self.p50_latency_s,
            "p95_latency_s": self.p95_latency_s,
            "max_latency_s": self.max_latency_s,
            "steady_state_fps": self.steady_state_fps,
            "energy_j": self.energy_j,
            "avg_power_w": self.avg_power_w,
            "energy_breakdown_j": dict(self.energy_breakdown_j),
            "dram_read_bytes": self.dram_read_bytes,
            "dram_write_bytes": self.dram_write_bytes,
            "dram_bytes_by_kind": {k: dict(v) for k, v in self.dram_bytes_by_kind.items()},
            "onchip_bytes": self.onchip_bytes,
            "sram_bytes": self.sram_bytes,
            "core_active_utilization": list(self.core_active_utilization),
            "core_busy_cycles": list(self.core_busy_cycles),
            "core_stalled_cycles": list(self.core_stalled_cycles),
            "core_idle_cycles": list(self.core_idle_cycles),
            "dram_active_utilization": self.dram_active_utilization,
            "interconnect_active_utilization": self.interconnect_active_utilization,
            "active_lower_bound_cycles": self.active_lower_bound_cycles,
            "active_lower_bounds": dict(self.active_lower_bounds),
            "active_efficiency": self.active_efficiency,
            "blocks": self.blocks,
            "deadlock_spills": self.deadlock_spills,
            "spills": [dict(x) for x in self.spills],
            "memory": dict(self.memory),
            "buffers": [dict(b) for b in self.buffers],
            "ring_buffer_high_water_bytes": self.ring_buffer_high_water_bytes,
            "power_series": dict(self.power_series),
            "frame_arrival_cycles": list(self.frame_arrival_cycles),
            "frame_end_cycles": list(self.frame_end_cycles),
            "streams": [dict(s) for s in self.streams],
            "nodes": [n.to_dict() for n in self.nodes],
        }
        if self.check is not None:
            doc["check"] = self.check.to_dict()
        if self.accuracy is not None:
            doc["accuracy"] = self.accuracy.to_dict()
        if self.timeline is not None:
            doc["timeline"] = self.timeline.to_dict(arrays)
        return doc

    def to_json(self) -> str:
        """The JSON document; a NaN or Inf figure is written as null and listed under "non_finite"."""
        return json_finite.dumps(self._document(arrays=True), indent=2, sort_keys=False, default=json_default) + "\n"


def json_default(obj: Any) -> Any:
    """``json.dumps`` default for numpy scalars and arrays."""
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
