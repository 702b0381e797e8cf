"""A sweep worker's cache of lowered models, keyed on exactly the hardware and option values lowering reads.

Lowering (pruning, precision, fusion, tiling, the memory plan and the engine's
tables: :func:`gspsim.api.lower_model`) costs a ResNet-18 point more than its
simulation, yet a sweep over clocks, DRAM bandwidths or energy figures lowers
the same model to the same program at every point.  This cache lowers a model
once per distinct *lowering input* and hands the same (immutable) result to
every point that gives the same input.

What is a lowering input is not written down by hand (a list that the
lowering code would outgrow): the first lowering of a model runs on
*recording* copies of the point's :class:`HardwareConfig` and
:class:`SimOptions`, which log every field value the lowering reads (nested
sections and properties such as ``dram_bytes_per_cycle`` included).  A later
point reuses that result when each logged field has the same value in its own
config: lowering is deterministic, so it would read the same fields and
compute the same program.  A point that differs in a logged field is lowered
again (and its own reads logged).  If a lowered program kept a recording
copy and read it after lowering, the read raises (:class:`EscapedRead`)
instead of returning the first point's values, so sharing can never give a
point another point's figures silently.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from ..engine.options import SimOptions
from ..hardware.config import HardwareConfig

if TYPE_CHECKING:  # pragma: no cover - typing only (gspsim.api is imported when a point runs)
    from ..api import Lowered
    from ..ir.graph import DataflowGraph

__all__ = ["EscapedRead", "ReadLog", "recording", "LoweringCache"]

#: a field read: its path from the config's root (("cores", "count")), and the canonical JSON of its value
Read = tuple[tuple[str, ...], str]


class EscapedRead(RuntimeError):
    """A lowered program read its hardware or options after lowering: the sweep cannot share it."""


@dataclass
class ReadLog:
    """The leaf values read through one recording copy, while ``open``."""

    reads: dict[tuple[str, ...], str] = field(default_factory=dict)
    open: bool = True


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


@functools.lru_cache(maxsize=None)
def _recording_class(cls: type) -> type:
    """A subclass of the frozen dataclass ``cls`` whose attribute reads are logged (isinstance still holds)."""

    def __getattribute__(self: Any, name: str) -> Any:
        get = object.__getattribute__
        if name.startswith("__") or name in ("_gspsim_log", "_gspsim_path"):
            return get(self, name)
        try:
            log: ReadLog = get(self, "_gspsim_log")
        except AttributeError:  # a dataclasses.replace() of a recording copy: its origin's fields were all read
            return get(self, name)
        path = get(self, "_gspsim_path") + (name,)
        if not log.open:
            raise EscapedRead(f"{'.'.join(path)} was read after lowering: a lowered program kept its "
                              f"{cls.__name__}; the sweep's lowering cache cannot share it")
        value = get(self, name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return recording(value, log, path)
        if callable(value):  # a method: what it reads is logged when it reads it
            return value
        if path not in log.reads:
            log.reads[path] = _canonical(value)
        return value

    def __eq__(self: Any, other: Any) -> Any:
        """Equal to the plain config of the same values (``is_dense`` compares with a default section)."""
        if not isinstance(other, cls):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in dataclasses.fields(cls))

    return type(f"Recording{cls.__name__}", (cls,), {"__getattribute__": __getattribute__, "__eq__": __eq__,
                                                      "__hash__": cls.__hash__})


def recording(config: Any, log: ReadLog, path: tuple[str, ...] = ()) -> Any:
    """A copy of the frozen dataclass ``config`` that logs into ``log`` every field value read through it."""
    copy = object.__new__(_recording_class(type(config)))
    for f in dataclasses.fields(config):
        object.__setattr__(copy, f.name, getattr(config, f.name))
    object.__setattr__(copy, "_gspsim_log", log)
    object.__setattr__(copy, "_gspsim_path", path)
    return copy


def _value_at(config: Any, path: tuple[str, ...]) -> str:
    value = config
    for name in path:
        value = getattr(value, name)
    return _canonical(value)


@dataclass(frozen=True)
class _Entry:
    hw_reads: tuple[Read, ...]
    option_reads: tuple[Read, ...]
    lowered: "Lowered"


@dataclass
class LoweringCache:
    """Lowered models of one worker process, by source graph and recorded lowering inputs (module docstring).

    ``lower`` has the signature of :func:`gspsim.api.lower_model` and is passed
    to ``simulate(lower=...)``.  ``source`` graphs are matched by identity (the
    worker loads each model once); ``max_entries`` bounds memory, least recently used out first.
    """

    max_entries: int = 4
    hits: int = 0
    misses: int = 0
    _entries: list[tuple["DataflowGraph", int, _Entry]] = field(default_factory=list)

    def lower(self, source: "DataflowGraph", hw: HardwareConfig, options: SimOptions, limit: int) -> "Lowered":
        from ..api import lower_model

        for index, (entry_source, entry_limit, entry) in enumerate(self._entries):
            if entry_source is source and entry_limit == limit and self._matches(entry, hw, options):
                self.hits += 1
                self._entries.append(self._entries.pop(index))  # most recently used last
                return entry.lowered
        self.misses += 1
        hw_log, option_log = ReadLog(), ReadLog()
        try:
            lowered = lower_model(source, recording(hw, hw_log), recording(options, option_log), limit)
        finally:
            hw_log.open = option_log.open = False
        entry = _Entry(tuple(hw_log.reads.items()), tuple(option_log.reads.items()), lowered)
        self._entries.append((source, limit, entry))
        del self._entries[:-self.max_entries]
        return lowered

    @staticmethod
    def _matches(entry: _Entry, hw: HardwareConfig, options: SimOptions) -> bool:
        return (all(_value_at(hw, path) == value for path, value in entry.hw_reads)
                and all(_value_at(options, path) == value for path, value in entry.option_reads))

    def lowering_inputs(self, source: Optional["DataflowGraph"] = None) -> list[tuple[tuple[Read, ...], ...]]:
        """The recorded reads of each cached entry (of ``source`` only, if given): what its sharing depends on."""
        return [(e.hw_reads, e.option_reads) for s, _, e in self._entries if source is None or s is source]
