"""Progress of long work on the terminal: a line per stage, a bar of blocks simulated, a note while kernels compile.

* each stage ("loading model", "simulating int8") is a spinner line;
* a simulation that has run for :data:`BAR_AFTER_S` seconds shows a bar of
  blocks done out of all blocks, with the elapsed time and an ETA (the engine
  reports its progress through the ``progress`` hook of
  :func:`gspsim.api.simulate`, about 100 times per run);
* while Numba compiles a kernel it has not compiled before, a line says so
  ("compiling kernels on first use (cached afterwards): 3, now gemm_f32").
  Cold caches are detected by listening for Numba's ``numba:compile`` event,
  which Numba fires only when a kernel is not in its on-disk cache (loading a
  cached kernel fires nothing), so a warm run pays nothing for the check.

Everything is transient (the lines vanish when the work is done) and nothing
is shown when stdout is not a terminal or with ``--quiet``.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from numba.core import event as numba_event
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

#: a simulation shows its bar once it has run this long (shorter runs only show their spinner line)
BAR_AFTER_S = 1.0

ProgressHook = Callable[[int, int], None]


class _OnlyWithTotal(ProgressColumn):
    """A column shown for tasks with a total (the bar), blank for spinner-only stage lines."""

    def __init__(self, column: ProgressColumn) -> None:
        super().__init__()
        self.column = column

    def render(self, task: Task) -> Any:
        return self.column.render(task) if task.total is not None else Text("")


class RunProgress:
    """The progress display of one command (a context manager; does nothing when not ``enabled``)."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = Progress(
            SpinnerColumn("dots"),
            TextColumn("{task.description}"),
            _OnlyWithTotal(BarColumn(bar_width=32)),
            _OnlyWithTotal(TextColumn("{task.completed:,.0f}/{task.total:,.0f} blocks")),
            _OnlyWithTotal(TimeElapsedColumn()),
            _OnlyWithTotal(TextColumn("ETA")),
            _OnlyWithTotal(TimeRemainingColumn()),
            console=console,
            transient=True,
            redirect_stdout=False,  # gspsim prints nothing while a stage runs; leave sys.stdout alone
            redirect_stderr=False,
            disable=not enabled,
        )

    def __enter__(self) -> "RunProgress":
        if self.enabled:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._progress.stop()

    @contextmanager
    def stage(self, description: str) -> Iterator[Optional[ProgressHook]]:
        """A spinner line while the block runs; yields the engine's progress hook for it (None when disabled).

        The hook turns the line into a bar of blocks done once the stage has
        run :data:`BAR_AFTER_S` seconds.  Numba compiling kernels meanwhile
        adds a note below it.
        """
        if not self.enabled:
            yield None
            return
        progress = self._progress
        task = progress.add_task(description, total=None)
        started = time.perf_counter()
        bar = [False]  # whether the line shows its bar yet

        def hook(done: int, total: int) -> None:
            if not bar[0] and (done >= total or time.perf_counter() - started < BAR_AFTER_S):
                return
            if not bar[0]:  # the ETA counts from here: the bar's own speed, not the loading before it
                bar[0] = True
                progress.reset(task, total=total, completed=done)
            progress.update(task, completed=done)

        try:
            with _compile_notice(progress):
                yield hook
        finally:
            progress.remove_task(task)


@contextmanager
def _compile_notice(progress: Progress) -> Iterator[None]:
    """A line "compiling Numba kernels ..." while Numba compiles kernels that are not in its cache."""
    listener = _CompileListener(progress)
    with numba_event.install_listener("numba:compile", listener):
        try:
            yield
        finally:
            listener.close()


class _CompileListener(numba_event.Listener):
    """Counts Numba compilations (a kernel and the functions it compiles with it once) on one progress line."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: Optional[TaskID] = None
        self.depth = 0
        self.count = 0

    def on_start(self, event: Any) -> None:
        if self.depth == 0:
            self.count += 1
            if self.task is None:
                self.task = self.progress.add_task("", total=None)
            name = getattr((event.data or {}).get("dispatcher"), "__name__", "a kernel")
            self.progress.update(self.task, description=f"compiling kernels on first use (cached afterwards): "
                                                        f"{self.count}, now {name}")
        self.depth += 1

    def on_end(self, event: Any) -> None:
        self.depth -= 1

    def close(self) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
