"""The Scheduler interface: where a ready block runs and in what order ready blocks start.

The engine calls :meth:`Scheduler.prepare` once with the lowered program, then
:meth:`Scheduler.assign` each time a block becomes ready (its producer blocks
are done and its node's weights are on chip): the scheduler names the core
whose queue the block joins.  Each core starts the queued block with the
smallest :meth:`Scheduler.priority` whenever one of its thread slots is free.
A strategy sees the task graph, the hardware config and a read-only view of
the engine state (:class:`EngineView`); it never changes the simulation
itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Optional, Protocol, Sequence, TypeVar

from ..hardware.config import HardwareConfig
from ..lowering.tasks import Block, TaskGraph


class EngineView(Protocol):
    """What a scheduler may read of the running simulation."""

    @property
    def now(self) -> float: ...

    def queued(self, core: int) -> int:
        """Blocks waiting in ``core``'s queue."""

    def running(self, core: int) -> int:
        """Threads occupying ``core``'s slots."""

    def free_at(self, core: int) -> float:
        """Cycle at which ``core``'s compute unit will have finished the blocks already started on it."""

    def queued_cycles(self, core: int) -> float:
        """Compute cycles of the blocks waiting in ``core``'s queue."""

    def block_core(self, block: int) -> int:
        """Core that block ``block`` (a ``Block.id``) of the same frame and model as the block being
        assigned runs or ran on (-1 if not yet placed): for locality-aware strategies."""


_F = TypeVar("_F", bound=Callable[..., Any])


def static_priority(method: _F) -> _F:
    """Mark a :meth:`Scheduler.priority` that depends only on the block and on what ``prepare`` set.

    The engine then asks for each block's priority once, before the run,
    instead of each time the block joins a queue (a subclass that overrides
    the method loses the mark, so a stateful override is never cached).
    """
    method.static_priority = True  # type: ignore[attr-defined]
    return method


def has_static_priority(scheduler: "Scheduler") -> bool:
    """True when ``scheduler.priority`` is marked with :func:`static_priority`."""
    return bool(getattr(type(scheduler).priority, "static_priority", False))


def assigns_earliest_free(method: _F) -> _F:
    """Mark an ``assign`` that returns exactly ``earliest_free_core(view, self.cores)``
    (``gspsim.scheduling.builtin``): the engine may then do that scan itself, over its own state.

    A subclass that overrides ``assign`` loses the mark.
    """
    method.earliest_free = True  # type: ignore[attr-defined]
    return method


def uses_earliest_free(scheduler: "Scheduler") -> bool:
    """True when ``scheduler.assign`` is marked with :func:`assigns_earliest_free`."""
    return bool(getattr(type(scheduler).assign, "earliest_free", False))


class Scheduler(ABC):
    """Base class of a scheduling strategy."""

    #: the name used on the command line (``--scheduler NAME``)
    name: ClassVar[str] = ""
    #: one line on what it models and its reference
    summary: ClassVar[str] = ""
    #: the execution mode this strategy implies when the user names none (None: the chip's default)
    preferred_mode: ClassVar[Optional[str]] = None

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.tasks: TaskGraph | None = None
        self.hw: HardwareConfig | None = None
        self.block_cycles: Sequence[int] = ()

    def prepare(self, tasks: TaskGraph, hw: HardwareConfig, block_cycles: Sequence[int]) -> None:
        """Called once before the run; ``block_cycles[b]`` is block b's compute time on one core."""
        self.tasks, self.hw, self.block_cycles = tasks, hw, block_cycles

    @abstractmethod
    def priority(self, block: Block) -> Any:
        """Sort key among ready blocks on one core: smaller starts first."""

    @abstractmethod
    def assign(self, block: Block, view: EngineView) -> int:
        """The core (0 .. cores-1) whose queue ``block`` joins."""

    @property
    def cores(self) -> int:
        assert self.hw is not None, "prepare() not called"
        return self.hw.cores.count
