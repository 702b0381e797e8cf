"""Looking ops up, and adding ops from outside the package.

The table is the built-in records (``builtin.py``), plus the records other
packages publish under the ``gspsim.ops`` entry-point group (read once, on
first use), plus those given to :func:`custom_ops` for the duration of a
``with`` block.  None of these mutate anything global: ``custom_ops`` sets a
context variable and restores it on exit, so a registration never leaks out
of its block (or into another thread).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Iterable, Iterator, Mapping, Optional, Union

from ..errors import ConfigError
from ..vocab import PRECISIONS
from .builtin import BUILTIN_SPECS
from .kernel import ANY
from .spec import OpSpec

#: entry-point group under which a package publishes an OpSpec (or an iterable of them)
ENTRY_POINT_GROUP = "gspsim.ops"

_EMPTY: Mapping[str, OpSpec] = MappingProxyType({})
_SCOPED: ContextVar[Mapping[str, OpSpec]] = ContextVar("gspsim_custom_ops", default=_EMPTY)


class OpTableError(ConfigError):
    """A record that cannot join the table (a clash with a known op, kernels for another op, a broken plugin)."""


def _check(spec: OpSpec, known: Mapping[str, OpSpec], source: str) -> None:
    if not isinstance(spec, OpSpec):
        raise OpTableError(f"{source}: expected an OpSpec, got {type(spec).__name__}")
    if spec.op_type in known:
        raise OpTableError(f"{source}: op type '{spec.op_type}' is already in gspsim's op table")
    for kernel in spec.kernels:
        if kernel.op_type != spec.op_type:
            raise OpTableError(f"{source}: a kernel of op '{spec.op_type}' says it computes '{kernel.op_type}'")
        if kernel.precision not in (*PRECISIONS, ANY):
            raise OpTableError(f"{source}: kernel of op '{spec.op_type}' has precision '{kernel.precision}' "
                               f"(one of {', '.join((*PRECISIONS, ANY))})")
    if spec.kernels and spec.kernel_module:
        raise OpTableError(f"{source}: op '{spec.op_type}' gives both kernels and a kernel_module")


def _published() -> Iterator[tuple[OpSpec, str]]:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            value = ep.load()
        except Exception as exc:  # a broken plugin is the user's environment, not a gspsim bug
            raise OpTableError(f"entry point '{ep.name}' ({ep.value}) of group {ENTRY_POINT_GROUP}: "
                               f"cannot load: {type(exc).__name__}: {exc}") from None
        for spec in (value,) if isinstance(value, OpSpec) else tuple(value):
            yield spec, f"entry point '{ep.name}' ({ep.value})"


@lru_cache(maxsize=1)
def installed_specs() -> Mapping[str, OpSpec]:
    """The built-in records and those installed packages publish (read once)."""
    table: dict[str, OpSpec] = {}
    for spec in BUILTIN_SPECS:
        _check(spec, table, "gspsim.optable.builtin")
        table[spec.op_type] = spec
    for spec, source in _published():
        _check(spec, table, source)
        table[spec.op_type] = spec
    return MappingProxyType(table)


def find_spec(op_type: str) -> Optional[OpSpec]:
    """The record of ``op_type``, or None when gspsim knows nothing about it."""
    scoped = _SCOPED.get()
    if scoped:
        found = scoped.get(op_type)
        if found is not None:
            return found
    return installed_specs().get(op_type)


def spec_of(op_type: str) -> OpSpec:
    """The record of ``op_type``; an unknown op gets the defaults (1 op per element, whole-tensor rows, float)."""
    found = find_spec(op_type)
    return found if found is not None else OpSpec(op_type)


def all_specs() -> tuple[OpSpec, ...]:
    """Every record in the current table, sorted by op type."""
    merged = {**installed_specs(), **_SCOPED.get()}
    return tuple(merged[k] for k in sorted(merged))


@contextmanager
def custom_ops(specs: Union[OpSpec, Iterable[OpSpec]]) -> Iterator[None]:
    """Within the ``with`` block, ``specs`` are in the op table (like onnx's ``ReferenceEvaluator(new_ops=...)``).

    Each record names a new op type (a clash with a known op is refused) and
    carries its kernels; ``gspsim.simulate`` and ``gspsim.load_model`` called
    inside the block then load, cost, lower and execute the op like a built-in
    one.  For the command line or worker processes, publish the records under
    the ``gspsim.ops`` entry-point group instead.
    """
    new = (specs,) if isinstance(specs, OpSpec) else tuple(specs)
    current = {**_SCOPED.get()}
    known = {**installed_specs(), **current}
    for spec in new:
        _check(spec, known, "custom_ops")
        known[spec.op_type] = current[spec.op_type] = spec
    token = _SCOPED.set(MappingProxyType(current))
    try:
        yield
    finally:
        _SCOPED.reset(token)


__all__ = ["ENTRY_POINT_GROUP", "OpTableError", "all_specs", "custom_ops", "find_spec", "installed_specs", "spec_of"]
