"""Worker processes that die with the process that started them.

``compare`` and local sweeps run points in a ``ProcessPoolExecutor``.  When
the main process is killed outright (``kill -9``, the OOM killer), Python's
pool workers wait forever for work that never comes, a forkserver stays for
as long as any of its children does, and the multiprocessing resource tracker
stays for as long as either does; all of them hold the main process's
standard output open, so a script reading it never sees the end.

Each worker therefore watches the main process from the moment it starts
(:func:`exit_with`, the pool's initializer): a thread waits on a pidfd of the
main process (Linux 5.3+; elsewhere it polls every half second) and ends the
worker when the main process is gone.  On Linux a worker whose parent is the
main process also asks the kernel for SIGKILL at its parent's death
(``PR_SET_PDEATHSIG``), which needs no thread at all.  When the workers are
gone the forkserver sees its last client leave and exits, and then the
resource tracker does.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import ctypes.util
import multiprocessing.context
import os
import select
import signal
import sys
import threading
import time
from typing import Optional

from .errors import ConfigError

#: the most worker processes one command starts (more only thrash a machine and its memory)
MAX_JOBS = max(256, os.cpu_count() or 1)
#: how often a worker without pidfd support checks that the main process is alive
POLL_S = 0.5
#: a worker's exit status when it ends because the main process is gone
ORPHAN_EXIT_CODE = 70
_PR_SET_PDEATHSIG = 1


def check_jobs(jobs: Optional[int], option: str = "--jobs") -> None:
    """``--jobs`` is None (one per core) or between 1 and :data:`MAX_JOBS`."""
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        raise ConfigError(f"{option} must be between 1 and {MAX_JOBS}, got {jobs}")


def _wait_then_exit(pid: int) -> None:
    """Block until process ``pid`` has exited, then end this process at once."""
    try:
        fd = os.pidfd_open(pid)  # type: ignore[attr-defined]  # Linux 5.3+, Python 3.9+
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])  # readable once the process has exited
    else:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:  # alive, another user's (cannot be ours, but do not exit on it)
                pass
            time.sleep(POLL_S)
    os._exit(ORPHAN_EXIT_CODE)


def _die_with_parent() -> None:
    """Linux: SIGKILL when the parent process dies (no-op elsewhere, or if libc cannot be loaded)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return


def exit_with(pid: int) -> None:
    """End this process as soon as process ``pid`` (the one that started the pool) has gone."""
    if pid == os.getpid():
        return
    if os.getppid() == pid:
        _die_with_parent()
        if os.getppid() != pid:  # the parent died before the request took effect
            os._exit(ORPHAN_EXIT_CODE)
    threading.Thread(target=_wait_then_exit, args=(pid,), daemon=True, name="gspsim-exit-with-main").start()


def start_worker(pid: int) -> None:
    """A pool worker's initializer: it ends with process ``pid`` (:func:`exit_with`), and its collector is tuned as
    a command's own process is (gspsim.command_process: the worker is gspsim's, whoever started the pool)."""
    from .command_process import tune_for_one_command

    if pid != os.getpid():
        tune_for_one_command()
    exit_with(pid)


def worker_pool(jobs: int, context: Optional[multiprocessing.context.BaseContext] = None) -> cf.ProcessPoolExecutor:
    """A process pool whose workers end when this process does, even when it is killed outright."""
    return cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=start_worker,
                                  initargs=(os.getpid(),))


__all__ = ["MAX_JOBS", "check_jobs", "exit_with", "start_worker", "worker_pool"]
