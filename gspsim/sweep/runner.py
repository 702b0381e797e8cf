"""The sweep loop: plan the points, reuse the stored ones, run the rest, store each the moment it finishes.

Nothing here knows whether points run in local processes or on a cluster
(see executors.py).  The loop never raises for a failing point; it stops
early only when told to (``max_points``) or interrupted, and in every case
what finished is already on disk.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from .executors import SweepExecutor, WorkerLost
from .grid import GridSpec, Point, expand
from .modelfiles import content_hash
from .store import PointStore, key_inputs, point_key
from .worker import FAILED, PointTask

#: in-flight points per worker: enough to keep workers busy, few enough that stopping cancels little
IN_FLIGHT_PER_WORKER = 2


@dataclass(frozen=True)
class PlannedPoint:
    """A point with its model's content hash and its store key."""

    point: Point
    model_sha256: str
    inputs: Mapping[str, Any]
    key: str


def plan(spec: GridSpec) -> list[PlannedPoint]:
    """Expand the grid and key every point by what it computes from."""
    points = expand(spec)
    hashes = {m: content_hash(m) for m in sorted({p.model for p in points})}
    planned = []
    for p in points:
        inputs = key_inputs(hashes[p.model], p.hardware, p.options, spec.input_shapes, spec.check)
        planned.append(PlannedPoint(point=p, model_sha256=hashes[p.model], inputs=inputs, key=point_key(inputs)))
    return planned


@dataclass
class SweepOutcome:
    """What a run of the sweep did: every finished record by key, and the counts."""

    planned: Sequence[PlannedPoint]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    reused: int = 0
    computed: int = 0
    #: the loop stopped before every point was done (``max_points`` reached, or interrupted)
    stopped: bool = False
    #: Ctrl-C stopped it
    interrupted: bool = False

    @property
    def unique(self) -> int:
        return len({p.key for p in self.planned})

    @property
    def failed(self) -> int:
        return sum(1 for r in self.records.values() if r["status"] == FAILED)

    @property
    def complete(self) -> bool:
        return all(p.key in self.records for p in self.planned)


ProgressFn = Callable[[SweepOutcome, Mapping[str, Any]], None]


def run_sweep(
    planned: Sequence[PlannedPoint],
    store: PointStore,
    executor: SweepExecutor,
    spec: GridSpec,
    *,
    max_points: Optional[int] = None,
    retry_failed: bool = False,
    progress: Optional[ProgressFn] = None,
) -> SweepOutcome:
    """Run every planned point not already stored; ``max_points`` stops after that many new points.

    Points that finish while the loop stops are stored too (nothing computed is
    thrown away), so a stopped run may store a few more than ``max_points``.
    Ctrl-C (KeyboardInterrupt) also stops the loop: it returns what finished,
    with ``interrupted`` set, so the caller can still write its tables.
    """
    outcome = SweepOutcome(planned=planned)
    todo: deque[PlannedPoint] = deque()
    seen: set[str] = set()
    for p in planned:
        if p.key in seen:
            continue
        seen.add(p.key)
        record = store.load(p.key)
        if record is not None and not (retry_failed and record["status"] == FAILED):
            outcome.records[p.key] = record
            outcome.reused += 1
        else:
            todo.append(p)
    alone: deque[PlannedPoint] = deque()  # points whose worker process died with others: rerun one per process
    in_flight: dict[Any, tuple[PlannedPoint, PointTask]] = {}
    shapes = tuple(sorted(spec.input_shapes.items()))

    def task_of(p: PlannedPoint) -> PointTask:
        return PointTask(key=p.key, model=p.point.model, model_sha256=p.model_sha256, hardware=p.point.hardware,
                         options=p.point.options, input_shapes=shapes, check=spec.check,
                         max_memory_bytes=getattr(executor, "memory_per_point", None))

    def finish(future: Any) -> None:
        p, task = in_flight.pop(future)
        try:
            record = executor.outcome(future, task)
        except WorkerLost:
            alone.append(p)
            return
        store.save(record, p.inputs, _point_values(p.point))
        outcome.records[p.key] = record
        outcome.computed += 1
        if progress is not None:
            progress(outcome, record)

    try:
        while todo or alone or in_flight:
            window = max(2, IN_FLIGHT_PER_WORKER * executor.workers)
            while len(in_flight) < window and (alone or todo):
                isolated = bool(alone)
                p = alone.popleft() if isolated else todo.popleft()
                task = task_of(p)
                in_flight[executor.submit(task, isolated=isolated)] = (p, task)
            done, _ = executor.wait_any(set(in_flight))
            for future in done:
                finish(future)
            if max_points is not None and outcome.computed >= max_points:
                for future in [f for f in in_flight if f.done()]:
                    finish(future)
                outcome.stopped = bool(todo or alone or in_flight)
                break
    except KeyboardInterrupt:
        outcome.stopped = outcome.interrupted = True
    finally:
        executor.cancel(list(in_flight))
    return outcome


def _point_values(point: Point) -> dict[str, Any]:
    return {"index": point.index, **point.values}
