"""Scheduling strategies: the :class:`Scheduler` interface, the built-ins, and third-party loading.

A strategy is named on the command line as a built-in name, as
``package.module:Class``, or as the name of an entry point in the group
``gspsim.schedulers`` of an installed package.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Mapping

from ..errors import ConfigError
from .base import EngineView, Scheduler, assigns_earliest_free, static_priority
from .builtin import DepthFirstScheduler, LayerScheduler, RandomScheduler, RoundRobinScheduler
from .list_scheduling import CriticalPathScheduler, GreedyScheduler, HeftScheduler
from .pipeline import PipelineScheduler

BUILTIN_SCHEDULERS: Mapping[str, type[Scheduler]] = {
    cls.name: cls
    for cls in (
        LayerScheduler, RoundRobinScheduler, GreedyScheduler, HeftScheduler, CriticalPathScheduler,
        DepthFirstScheduler, PipelineScheduler, RandomScheduler,
    )
}
ENTRY_POINT_GROUP = "gspsim.schedulers"


def scheduler_names() -> list[str]:
    """Built-in names in the order the docs present them."""
    return list(BUILTIN_SCHEDULERS)


def _from_module_path(spec: str) -> type[Scheduler]:
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--scheduler {spec}: cannot import module '{module_name}' ({exc})") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ConfigError(f"--scheduler {spec}: module '{module_name}' has no '{class_name}'")
    return cls


def _from_entry_points(name: str) -> type[Scheduler] | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    return None


def scheduler_class(name: str) -> type[Scheduler]:
    """The class behind a scheduler name, a ``module:Class`` path or an entry point."""
    if name in BUILTIN_SCHEDULERS:
        return BUILTIN_SCHEDULERS[name]
    cls = _from_module_path(name) if ":" in name else _from_entry_points(name)
    if cls is None:
        raise ConfigError(
            f"unknown scheduler '{name}' (built-in: {', '.join(scheduler_names())}; or package.module:Class)"
        )
    if not (isinstance(cls, type) and issubclass(cls, Scheduler)):
        raise ConfigError(f"--scheduler {name}: {cls!r} is not a gspsim.Scheduler subclass")
    return cls


def make_scheduler(name: str, seed: int = 0) -> Scheduler:
    """A fresh scheduler instance."""
    return scheduler_class(name)(seed=seed)


__all__ = [
    "BUILTIN_SCHEDULERS", "CriticalPathScheduler", "DepthFirstScheduler", "ENTRY_POINT_GROUP", "EngineView",
    "GreedyScheduler", "HeftScheduler", "LayerScheduler", "PipelineScheduler", "RandomScheduler",
    "RoundRobinScheduler", "Scheduler", "assigns_earliest_free", "make_scheduler", "scheduler_class", "scheduler_names",
    "static_priority",
]
