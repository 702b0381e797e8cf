"""Where points run: local worker processes (default) or a Dask distributed cluster.

Both executors offer the same four calls to the sweep loop: ``submit`` a
point, ``wait_any`` for some to finish, turn a finished future into a record
(``outcome``), and ``cancel`` the rest.  The loop keeps only a few points per
worker in flight, so stopping (Ctrl-C, ``--max-points``) cancels little.

A worker process that dies (out of memory, a crash in native code) breaks a
local process pool; the points it held are then rerun one per fresh process,
so the one that kills its process is recorded as failed and the others run
normally.  Dask retries a point whose worker died on another worker and
reports ``KilledWorker`` when it gives up; that becomes the point's error.
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import multiprocessing
import os
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any, Callable, Iterable, Optional, Protocol

from ..errors import GspsimError
from ..frontend.memory import default_max_memory_bytes
from ..processes import check_jobs, worker_pool
from .modelfiles import ModelBlob, read_blob
from .worker import PointTask, failed_record, run_point

PointFn = Callable[[PointTask], dict[str, Any]]
#: how often the Dask executor asks the scheduler how many worker threads there are
WORKER_COUNT_REFRESH_S = 5.0


class WorkerLost(Exception):
    """A point's worker process died with others' points in it: the point must run again, alone."""


class SweepExecutor(Protocol):
    description: str
    #: the memory limit of one point (points share this machine), or None (each worker's own machine)
    memory_per_point: Optional[int]

    @property
    def workers(self) -> int: ...

    def submit(self, task: PointTask, isolated: bool = False) -> Any: ...

    def wait_any(self, futures: set[Any]) -> tuple[set[Any], set[Any]]: ...

    def outcome(self, future: Any, task: PointTask) -> dict[str, Any]: ...

    def cancel(self, futures: Iterable[Any]) -> None: ...

    def close(self) -> None: ...


#: imported once by the fork server, so each worker process starts with gspsim loaded (no import per process)
FORKSERVER_PRELOAD: tuple[str, ...] = ("gspsim.api", "gspsim.sweep.worker")


def _mp_context() -> multiprocessing.context.BaseContext:
    """forkserver where there is one: workers start clean even when the parent runs threads (progress bars)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(FORKSERVER_PRELOAD))  # takes effect if the server is not running yet
    return ctx


class LocalExecutor:
    """A pool of local worker processes, one per core unless ``jobs`` says otherwise."""

    def __init__(self, jobs: Optional[int] = None, point_fn: PointFn = run_point) -> None:
        check_jobs(jobs)
        self._jobs = jobs or os.cpu_count() or 1
        self._fn = point_fn
        self._ctx = _mp_context()
        self._pool = worker_pool(self._jobs, self._ctx)
        #: future -> the pool that runs it, when that pool is a one-point pool
        self._isolated: dict[cf.Future, cf.ProcessPoolExecutor] = {}
        self._shared: dict[cf.Future, cf.ProcessPoolExecutor] = {}
        self.description = f"{self._jobs} local process{'es' if self._jobs > 1 else ''}"
        self.memory_per_point = default_max_memory_bytes() // self._jobs

    @property
    def workers(self) -> int:
        return self._jobs

    def submit(self, task: PointTask, isolated: bool = False) -> cf.Future:
        if isolated:
            pool = worker_pool(1, self._ctx)
            future = pool.submit(self._fn, task)
            self._isolated[future] = pool
            return future
        future = self._pool.submit(self._fn, task)
        self._shared[future] = self._pool
        return future

    def wait_any(self, futures: set[cf.Future]) -> tuple[set[cf.Future], set[cf.Future]]:
        done, pending = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return set(done), set(pending)

    def outcome(self, future: cf.Future, task: PointTask) -> dict[str, Any]:
        isolated = self._isolated.pop(future, None)
        shared = self._shared.pop(future, None)
        if isolated is not None:
            isolated.shutdown(wait=False)
        try:
            return future.result()
        except BrokenProcessPool as exc:
            if isolated is not None:
                return failed_record(task.key, f"worker process died while running this point ({exc})")
            if shared is self._pool:  # the first of its futures to report it: start a fresh pool
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = worker_pool(self._jobs, self._ctx)
            raise WorkerLost(str(exc)) from None

    def cancel(self, futures: Iterable[cf.Future]) -> None:
        for f in futures:
            f.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for pool in self._isolated.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self._isolated.clear()


def _tune_local_worker() -> None:
    """The collector of a worker of the sweep's own LocalCluster, tuned as the command's process is."""
    from ..command_process import GC_THRESHOLDS, tuning_enabled

    if tuning_enabled():
        gc.set_threshold(*GC_THRESHOLDS)


def _run_with_blob(task: PointTask, blob: ModelBlob, point_fn: PointFn) -> dict[str, Any]:
    """On a Dask worker: the model arrives as bytes (the worker may not share our disk)."""
    return point_fn(replace(task, model=blob))


class DaskExecutor:
    """Points as tasks on a Dask distributed cluster: an existing one by address, or a LocalCluster.

    Each model's files are sent to the cluster once (``scatter``) and written
    to each worker's temp folder, so the workers need gspsim installed but not
    our files.
    """

    def __init__(self, client: Any, owned: Iterable[Any] = (), point_fn: PointFn = run_point,
                 description: str = "Dask cluster") -> None:
        self.client = client
        self._owned = list(owned)
        self._fn = point_fn
        self._blobs: dict[str, Any] = {}
        self._workers: Optional[tuple[int, float]] = None
        self.description = description
        self.memory_per_point: Optional[int] = None

    @classmethod
    def connect(cls, address: str, jobs: Optional[int] = None, point_fn: PointFn = run_point) -> "DaskExecutor":
        """``address`` of a running scheduler (``tcp://host:8786``), or ``local`` for a LocalCluster here."""
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise GspsimError("--dask needs Dask distributed: pip install 'gspsim[sweep]'") from None
        check_jobs(jobs)
        if address == "local":
            n = jobs or os.cpu_count() or 1
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
            client.run(_tune_local_worker)  # its workers are this command's processes (not a user's cluster's)
            return cls(client, owned=[client, cluster], point_fn=point_fn,
                       description=f"Dask LocalCluster, {n} worker process{'es' if n > 1 else ''}")
        try:
            client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise GspsimError(f"--dask {address}: cannot reach the scheduler ({exc})") from None
        return cls(client, owned=[client], point_fn=point_fn, description=f"Dask cluster at {address}")

    @property
    def workers(self) -> int:
        """Worker threads in the cluster, asked again every few seconds (clusters grow and shrink)."""
        now = time.monotonic()
        if self._workers is None or now - self._workers[1] > WORKER_COUNT_REFRESH_S:
            self._workers = (max(1, sum(self.client.nthreads().values())), now)
        return self._workers[0]

    def _blob(self, task: PointTask) -> Any:
        if task.model_sha256 not in self._blobs:
            blob = read_blob(str(task.model), task.model_sha256)
            self._blobs[task.model_sha256] = self.client.scatter(blob, hash=False)
        return self._blobs[task.model_sha256]

    def submit(self, task: PointTask, isolated: bool = False) -> Any:
        return self.client.submit(_run_with_blob, task, self._blob(task), self._fn, pure=False,
                                  key=f"gspsim-point-{task.key[:16]}-{os.urandom(4).hex()}")

    def wait_any(self, futures: set[Any]) -> tuple[set[Any], set[Any]]:
        from distributed import wait

        done, pending = wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done), set(pending)

    def outcome(self, future: Any, task: PointTask) -> dict[str, Any]:
        try:
            return future.result()
        except Exception as exc:  # KilledWorker, a lost connection: the point fails, the sweep goes on
            return failed_record(task.key, f"{type(exc).__name__}: {exc}")

    def cancel(self, futures: Iterable[Any]) -> None:
        futures = list(futures)
        if futures:
            self.client.cancel(futures)

    def close(self) -> None:
        for blob in self._blobs.values():
            blob.release()
        self._blobs.clear()
        for thing in self._owned:
            thing.close()
