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


#: the placement rules an engine may play itself instead of calling ``assign`` (see :func:`assign_rule`)
ASSIGN_RULES = {
    "earliest-free": "earliest_free_core(view, self.cores) (gspsim.scheduling.builtin)",
    "home-unless-sooner": "the block's home core unless the earliest-free core would start it sooner by more "
                          "than its compute cycles (DepthFirstScheduler)",
    "node-index": "block.index % self.cores (LayerScheduler)",
    "arrival-turns": "cores in turn, in the order blocks become ready, from core 0 (RoundRobinScheduler)",
}


def assign_rule(rule: str) -> Callable[[_F], _F]:
    """Mark an ``assign`` that returns exactly what placement rule ``rule`` of :data:`ASSIGN_RULES` returns.

    The engine may then play that rule over its own state instead of calling
    ``assign`` for every block (the compiled engine, :mod:`gspsim.engine.compiled`,
    needs it); ``tests/test_engine_equivalence.py`` holds the engine that calls
    ``assign`` and the one that plays the rule to the same records.  A subclass
    that overrides ``assign`` loses the mark.
    """
    if rule not in ASSIGN_RULES:
        raise ValueError(f"unknown placement rule '{rule}'")

    def mark(method: _F) -> _F:
        method.assign_rule = rule  # type: ignore[attr-defined]
        return method
    return mark


def placement_rule(scheduler: "Scheduler") -> Optional[str]:
    """The rule ``scheduler.assign`` is marked with by :func:`assign_rule`, or None."""
    return getattr(type(scheduler).assign, "assign_rule", None)


#: an ``assign`` that returns exactly ``earliest_free_core(view, self.cores)``
assigns_earliest_free = assign_rule("earliest-free")


def uses_earliest_free(scheduler: "Scheduler") -> bool:
    """True when ``scheduler.assign`` is marked with the "earliest-free" rule."""
    return placement_rule(scheduler) == "earliest-free"


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
