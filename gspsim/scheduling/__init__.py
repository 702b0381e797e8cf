"""Scheduling strategies: the :class:`Scheduler` interface and the built-in strategies."""

from __future__ import annotations

from typing import Mapping

from ..errors import ConfigError
from .base import EngineView, Scheduler
from .builtin import DepthFirstScheduler, LayerScheduler

BUILTIN_SCHEDULERS: Mapping[str, type[Scheduler]] = {
    cls.name: cls for cls in (LayerScheduler, DepthFirstScheduler)
}


def scheduler_names() -> list[str]:
    return sorted(BUILTIN_SCHEDULERS)


def make_scheduler(name: str, seed: int = 0) -> Scheduler:
    """A fresh scheduler by built-in name."""
    cls = BUILTIN_SCHEDULERS.get(name)
    if cls is None:
        raise ConfigError(f"unknown scheduler '{name}' (known: {', '.join(scheduler_names())})")
    return cls(seed=seed)


__all__ = ["BUILTIN_SCHEDULERS", "DepthFirstScheduler", "EngineView", "LayerScheduler", "Scheduler",
           "make_scheduler", "scheduler_names"]
