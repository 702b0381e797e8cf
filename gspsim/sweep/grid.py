"""The sweep's design space: axes from a grid TOML and command-line flags, expanded to points.

A grid is a list of axes, each a name and a list of values.  The points are
their cross product, or a seeded random sample of it (drawn by index, so a
sample of a huge product never builds the whole product).  Every point is
validated here, in the parent process, so a typo fails the whole sweep at once
while a point the simulator rejects (say a precision not built yet) fails
alone, later, with its error recorded.

Axis names (also the column names of ``results.csv``):

* ``model`` — ONNX files (folders expand to their ``*.onnx`` files);
* ``hw`` — the base chip, a preset name or a TOML file;
* hardware axes that change the base chip: ``cores``, ``local_kib``,
  ``shared_kib``, ``dram_gbps``, ``clock_ghz``, ``threads``, and any
  ``hw.SECTION.FIELD`` of the hardware TOML (e.g. ``hw.dma.engines``);
* run options: ``scheduler``, ``mode``, ``precision``, ``fuse``, ``frames``,
  ``tile``, ``buffer_kib``, ``sim_seed``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from ..engine.options import SimOptions
from ..errors import ConfigError
from ..hardware.config import HardwareConfig, hardware_from_dict, load_hardware
from ..input_files import regular_input
from ..tomlfile import read_toml
from ..vocab import MODES, PRECISIONS

DEFAULT_HW = "blaize-1600"
#: written in a grid for "let the chip / mode choose" (stored as None)
DEFAULT_WORD = "default"
#: the integer run-option axes are int64 in the results table (and in numpy)
MAX_INT_AXIS = 2**63 - 1


@dataclass(frozen=True)
class HwAxis:
    """A hardware axis: which field of the hardware dict it sets, and the unit its values are in."""

    path: str
    scale: float
    integer: bool
    help: str


HW_AXES: Mapping[str, HwAxis] = {
    "cores": HwAxis("cores.count", 1, True, "streaming cores"),
    "local_kib": HwAxis("cores.local_memory_bytes", 1024, True, "local memory per core, KiB"),
    "shared_kib": HwAxis("shared_memory.size_bytes", 1024, True, "shared on-chip memory (ring buffers), KiB"),
    "dram_gbps": HwAxis("dram.bandwidth_bytes_per_s", 1e9, False, "DRAM bandwidth, GB/s (10^9 bytes/s)"),
    "clock_ghz": HwAxis("cores.clock_hz", 1e9, False, "core clock, GHz"),
    "threads": HwAxis("cores.thread_slots", 1, True, "thread slots per core"),
}
#: run-option axes and their defaults (None: the chip's or the mode's choice)
OPTION_AXES: Mapping[str, Any] = {
    "scheduler": None,
    "mode": None,
    "precision": "fp32",
    "fuse": True,
    "frames": 1,
    "tile": None,
    "buffer_kib": None,
    "sim_seed": 0,
}
#: axis order in points and result columns
CORE_AXES: tuple[str, ...] = ("model", "hw", *HW_AXES, *OPTION_AXES)
#: plural spellings accepted in grid files and ``--axis`` (the CLI's flags are plural)
ALIASES: Mapping[str, str] = {
    "models": "model", "schedulers": "scheduler", "modes": "mode", "precisions": "precision",
    "sim_seeds": "sim_seed", "dram_gb_s": "dram_gbps", "tiles": "tile",
}
GENERIC_HW_PREFIX = "hw."


def canonical_axis(name: str) -> str:
    """The axis name behind a spelling (``--dram-gbps``, ``dram-gbps``, ``precisions`` ...)."""
    key = name.strip().lstrip("-").replace("-", "_")
    if key.startswith(GENERIC_HW_PREFIX):
        return key
    key = ALIASES.get(key, key)
    if key not in CORE_AXES:
        raise ConfigError(
            f"unknown sweep axis '{name}' (known: {', '.join(CORE_AXES)}, or hw.SECTION.FIELD such as hw.dma.engines)"
        )
    return key


# --- the grid as the user wrote it ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridSpec:
    """Axes with their values, plus how to walk them (all points, or a seeded sample)."""

    axes: Mapping[str, tuple[Any, ...]]
    sample: Optional[int] = None
    seed: int = 0
    execute: bool = False
    check: bool = False
    input_shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.axes.values())


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"sweep axis '{name}': '{text}' is not a number") from None


def parse_cli_values(name: str, text: str) -> list[Any]:
    """``4,8,16`` as the values of axis ``name`` (numbers for numeric axes, strings otherwise)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"sweep axis '{name}': give at least one value")
    if name in ("model", "hw", "scheduler", "mode", "precision"):
        return items
    if name == "tile":  # tile sizes hold commas themselves: values are separated by ';'
        return [None if t.strip().lower() in (DEFAULT_WORD, "none") else t.strip() for t in text.split(";") if t.strip()]
    values: list[Any] = []
    for t in items:
        if name == "buffer_kib" and t.lower() in (DEFAULT_WORD, "none"):
            values.append(None)
        elif name == "fuse":
            values.append(_switch(t))
        else:
            v = _number(t, name)
            values.append(int(v) if v.is_integer() else v)
    return values


#: spellings of the ``fuse`` axis's values on the command line
SWITCH_WORDS: Mapping[str, bool] = {"on": True, "true": True, "yes": True, "1": True,
                                    "off": False, "false": False, "no": False, "0": False}


def _switch(text: str) -> bool:
    try:
        return SWITCH_WORDS[text.lower()]
    except KeyError:
        raise ConfigError(f"sweep axis 'fuse': '{text}' is not on or off") from None


def read_grid_file(path: str | os.PathLike[str]) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """A grid TOML's ``[axes]`` (name -> values) and ``[sweep]`` settings; model paths made relative to it."""
    p = Path(path)
    doc = read_toml(p, "grid file")
    extra = sorted(set(doc) - {"axes", "sweep"})
    if extra:
        raise ConfigError(f"{p}: unknown table '{extra[0]}' (a grid file has [sweep] and [axes])")
    raw_axes = doc.get("axes", {})
    settings = dict(doc.get("sweep", {}))
    if not isinstance(raw_axes, Mapping) or not isinstance(settings, Mapping):
        raise ConfigError(f"{p}: [axes] and [sweep] must be tables")
    axes: dict[str, list[Any]] = {}
    for key, value in raw_axes.items():
        if isinstance(value, Mapping):  # [axes.hw] dma.engines = [...] written as a nested table
            for sub, subvalue in _flatten(value, f"{key}."):
                axes[canonical_axis(sub)] = _as_list(subvalue)
            continue
        axes[canonical_axis(key)] = _as_list(value)
    known = {"models", "sample", "seed", "execute", "check", "input_shapes"}
    bad = sorted(set(settings) - known)
    if bad:
        raise ConfigError(f"{p}: [sweep] has unknown key '{bad[0]}' (known: {', '.join(sorted(known))})")
    if "models" in settings:
        if "model" in axes:
            raise ConfigError(f"{p}: give the models once, either [sweep] models or [axes] model")
        axes["model"] = _as_list(settings.pop("models"))
    if "model" in axes:
        axes["model"] = [str(m) if Path(str(m)).is_absolute() else os.path.normpath(p.parent / str(m))
                         for m in axes["model"]]
    if "hw" in axes:
        axes["hw"] = [h if not str(h).endswith(".toml") or Path(h).is_absolute() else os.path.normpath(p.parent / h)
                      for h in axes["hw"]]
    return axes, settings


def _flatten(table: Mapping[str, Any], prefix: str) -> Iterable[tuple[str, Any]]:
    for key, value in table.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def expand_model_paths(items: Sequence[str]) -> list[str]:
    """Files as given; a folder becomes its ``*.onnx`` files, sorted."""
    paths: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(str(f) for f in p.glob("*.onnx"))
            if not found:
                raise ConfigError(f"{p}: folder holds no .onnx file")
            paths += found
        else:
            paths.append(str(regular_input(p, "model file or folder", ConfigError)))
    if len(set(paths)) != len(paths):
        raise ConfigError("a model is given twice: " + ", ".join(sorted({x for x in paths if paths.count(x) > 1})))
    return paths


def build_grid(
    models: Sequence[str] = (),
    grid_file: Optional[str | os.PathLike[str]] = None,
    overrides: Optional[Mapping[str, Sequence[Any]]] = None,
    *,
    sample: Optional[int] = None,
    seed: Optional[int] = None,
    execute: Optional[bool] = None,
    check: Optional[bool] = None,
    input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
) -> GridSpec:
    """Merge a grid file, models given on the command line and per-axis overrides (which win) into a GridSpec."""
    axes: dict[str, list[Any]] = {}
    settings: dict[str, Any] = {}
    if grid_file is not None:
        axes, settings = read_grid_file(grid_file)
    for name, values in (overrides or {}).items():
        axes[canonical_axis(name)] = list(values)
    if models:
        axes["model"] = list(models)
    if not axes.get("model"):
        raise ConfigError("no model: give ONNX files or folders, or 'models' in the grid file's [sweep] table")
    axes["model"] = expand_model_paths([str(m) for m in axes["model"]])
    shapes = dict(settings.get("input_shapes", {}))
    shapes.update(input_shapes or {})
    spec = GridSpec(
        axes=_normalise_axes(axes),
        sample=sample if sample is not None else settings.get("sample"),
        seed=int(seed if seed is not None else settings.get("seed", 0)),
        execute=bool(execute if execute is not None else settings.get("execute", False)),
        check=bool(check if check is not None else settings.get("check", False)),
        input_shapes={str(k): tuple(int(d) for d in v) for k, v in shapes.items()},
    )
    if spec.sample is not None and (isinstance(spec.sample, bool) or not isinstance(spec.sample, int)
                                    or spec.sample < 1):
        raise ConfigError(f"--sample must be a positive integer, got {spec.sample!r}")
    return dataclasses.replace(spec, execute=True) if spec.check else spec  # --check needs the kernels to run


def _normalise_axes(axes: Mapping[str, list[Any]]) -> dict[str, tuple[Any, ...]]:
    """Every core axis present (defaults filled in), values checked, ``default`` words made None."""
    out: dict[str, tuple[Any, ...]] = {}
    for name in CORE_AXES:
        if name in axes:
            values = [None if isinstance(v, str) and v.lower() == DEFAULT_WORD and name in ("scheduler", "mode",
                      "tile", "buffer_kib") else v for v in axes[name]]
        elif name == "hw":
            values = [DEFAULT_HW]
        elif name in HW_AXES:
            values = [None]  # None: the base chip's own figure
        else:
            values = [OPTION_AXES[name]]
        if not values:
            raise ConfigError(f"sweep axis '{name}' has no values")
        for v in values:
            _check_value(name, v)
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"sweep axis '{name}' lists a value twice: {values}")
        out[name] = tuple(values)
    for name in sorted(k for k in axes if k.startswith(GENERIC_HW_PREFIX)):
        for v in axes[name]:
            _check_value(name, v)
        out[name] = tuple(axes[name])
    return out


def _check_value(name: str, value: Any) -> None:
    from ..scheduling import scheduler_class

    if name in ("model", "hw"):
        if not isinstance(value, str):
            raise ConfigError(f"sweep axis '{name}': expected a string, got {value!r}")
    elif name == "scheduler":
        if value is not None:
            scheduler_class(str(value))
    elif name == "mode":
        if value is not None and value not in MODES:
            raise ConfigError(f"sweep axis 'mode': '{value}' is not one of {', '.join(MODES)} or 'default'")
    elif name == "fuse":
        if not isinstance(value, bool):
            raise ConfigError(f"sweep axis 'fuse': expected true or false, got {value!r}")
    elif name == "precision":
        if value not in PRECISIONS:
            raise ConfigError(f"sweep axis 'precision': '{value}' is not one of {', '.join(PRECISIONS)}")
    elif name == "tile":
        if value is not None:
            from ..lowering import parse_tile

            try:
                parse_tile(str(value))
            except ValueError as exc:
                raise ConfigError(f"sweep axis 'tile': '{value}': {exc}") from None
    elif name == "buffer_kib":
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value <= MAX_INT_AXIS):
            raise ConfigError(f"sweep axis 'buffer_kib': expected a number of KiB from 0 to {MAX_INT_AXIS}, "
                              f"got {value!r}")
    elif name in ("frames", "sim_seed"):
        if isinstance(value, bool) or not isinstance(value, int) or not (0 if name == "sim_seed" else 1) <= value \
                <= MAX_INT_AXIS:
            raise ConfigError(f"sweep axis '{name}': expected an integer from {0 if name == 'sim_seed' else 1} to "
                              f"{MAX_INT_AXIS} (2**63 - 1), got {value!r}")
    elif name in HW_AXES or name.startswith(GENERIC_HW_PREFIX):
        if value is None and name in HW_AXES:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"sweep axis '{name}': expected a number, got {value!r}")


# --- points ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One simulation of the sweep: the axis values as written, and what they make."""

    index: int
    values: Mapping[str, Any]
    hardware: HardwareConfig
    options: SimOptions

    @property
    def model(self) -> str:
        return str(self.values["model"])

    @property
    def area_proxy_bytes(self) -> int:
        return area_proxy_bytes(self.hardware)


def area_proxy_bytes(hw: HardwareConfig) -> int:
    """On-chip memory as a stand-in for silicon area: cores x local memory + shared memory, in bytes."""
    return int(hw.cores.count * hw.cores.local_memory_bytes + hw.shared_memory.size_bytes)


def point_indices(spec: GridSpec) -> list[int]:
    """Which points of the cross product to run: all, or ``sample`` of them drawn with ``seed``, in grid order."""
    total = spec.size
    if spec.sample is None or spec.sample >= total:
        return list(range(total))
    return sorted(random.Random(spec.seed).sample(range(total), spec.sample))


def _decode(index: int, axes: Mapping[str, tuple[Any, ...]]) -> dict[str, Any]:
    """Mixed-radix: the ``index``-th point of the cross product, last axis fastest."""
    values: dict[str, Any] = {}
    for name in reversed(list(axes)):
        choices = axes[name]
        index, digit = divmod(index, len(choices))
        values[name] = choices[digit]
    return {name: values[name] for name in axes}


def make_hardware(base: HardwareConfig, values: Mapping[str, Any]) -> HardwareConfig:
    """The base chip with this point's hardware axes applied, validated like a TOML file."""
    data = base.to_dict()
    changed = []
    for name, value in values.items():
        if name in HW_AXES and value is not None:
            ax = HW_AXES[name]
            if ax.integer and ax.scale == 1 and not float(value).is_integer():
                raise ConfigError(f"sweep axis '{name}': expected a whole number, got {value!r}")
            number = float(value) * ax.scale
            _set(data, ax.path, int(round(number)) if ax.integer else number, name)
            changed.append(f"{name}={value}")
        elif name.startswith(GENERIC_HW_PREFIX):
            _set(data, name[len(GENERIC_HW_PREFIX):], value, name)
            changed.append(f"{name}={value}")
    if not changed:
        return base
    return hardware_from_dict(data, f"hardware '{base.name}' with {', '.join(changed)}")


def _set(data: dict[str, Any], dotted: str, value: Any, axis: str) -> None:
    keys = dotted.split(".")
    node: Any = data
    for key in keys[:-1]:
        if not isinstance(node, dict) or key not in node:
            raise ConfigError(f"sweep axis '{axis}': the hardware config has no field '{dotted}'")
        node = node[key]
    if not isinstance(node, dict) or keys[-1] not in node:
        raise ConfigError(f"sweep axis '{axis}': the hardware config has no field '{dotted}'")
    node[keys[-1]] = value


def expand(spec: GridSpec) -> list[Point]:
    """The points to run, each with its hardware built and validated and its options set."""
    bases: dict[str, HardwareConfig] = {}

    def base_of(name: str) -> HardwareConfig:
        if name not in bases:
            bases[name] = load_hardware(name)
        return bases[name]

    built: dict[tuple, HardwareConfig] = {}
    points = []
    for index in point_indices(spec):
        values = _decode(index, spec.axes)
        hw_key = tuple((k, repr(v)) for k, v in values.items() if k == "hw" or k in HW_AXES
                       or k.startswith(GENERIC_HW_PREFIX))
        if hw_key not in built:
            built[hw_key] = make_hardware(base_of(values["hw"]), values)
        options = SimOptions(
            mode=values["mode"], scheduler=values["scheduler"], precision=values["precision"],
            seed=int(values["sim_seed"]), frames=int(values["frames"]), execute=spec.execute,
            tile=values["tile"],
            buffer_budget=None if values["buffer_kib"] is None else int(values["buffer_kib"] * 1024),
            fuse=values["fuse"],
        )
        points.append(Point(index=index, values=values, hardware=built[hw_key], options=options))
    return points


def varying_axes(spec: GridSpec) -> list[str]:
    """Axes with more than one value: what tells the points apart."""
    return [name for name, values in spec.axes.items() if len(values) > 1]


__all__ = [
    "CORE_AXES", "DEFAULT_HW", "GridSpec", "HW_AXES", "OPTION_AXES", "Point", "area_proxy_bytes", "build_grid",
    "canonical_axis", "expand", "expand_model_paths", "make_hardware", "parse_cli_values", "point_indices",
    "read_grid_file", "varying_axes",
]
