"""Hardware configurations: frozen dataclasses loaded from TOML and validated field by field.

A config describes one chip: its streaming cores, shared on-chip memory, DRAM,
DMA engines, interconnect and an energy table.  Presets live in
``gspsim/hardware/presets/*.toml``; ``load_hardware("blaize-1600")`` or
``load_hardware("my_chip.toml")`` returns a :class:`HardwareConfig`.  Every
number a preset assumes is written in its file with a source or marked as an
assumption.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, get_type_hints

from ..errors import ConfigError
from ..input_files import regular_input
from ..vocab import MODES, PRECISIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class PrecisionTable:
    """One figure per precision of :data:`gspsim.vocab.PRECISIONS` (picklable, immutable); ``table["int8"]``."""

    int8: float
    fp16: float
    bf16: float
    fp32: float

    def __getitem__(self, precision: str) -> float:
        if precision not in PRECISIONS:
            raise KeyError(precision)
        return float(getattr(self, precision))

    def items(self) -> list[tuple[str, float]]:
        """(precision, figure) pairs, narrowest precision first (as presets write them)."""
        return [(f.name, self[f.name]) for f in fields(self)]


@dataclass(frozen=True)
class CoreConfig:
    """The streaming cores: how many, how fast, how many threads each holds, how much they compute."""

    count: int
    clock_hz: float
    thread_slots: int
    #: multiply-accumulates per cycle per core, by precision
    macs_per_cycle: PrecisionTable
    #: elementwise (vector) operations per cycle per core, by precision
    vector_lanes: PrecisionTable
    local_memory_bytes: int


@dataclass(frozen=True)
class SharedMemoryConfig:
    """On-chip SRAM shared by the cores: where the streaming ring buffers live."""

    size_bytes: int
    bandwidth_bytes_per_cycle: float


@dataclass(frozen=True)
class DramConfig:
    """Off-chip memory."""

    bandwidth_bytes_per_s: float
    latency_ns: float


@dataclass(frozen=True)
class DmaConfig:
    """DMA engines that move weights and spills between DRAM and the chip."""

    engines: int


@dataclass(frozen=True)
class InterconnectConfig:
    """The on-chip network between cores and shared memory."""

    bandwidth_bytes_per_cycle: float


@dataclass(frozen=True)
class EnergyConfig:
    """Energy per operation and per byte moved, and static power."""

    #: picojoules per multiply-accumulate, by precision
    mac_pj: PrecisionTable
    #: picojoules per vector (elementwise) operation, by precision
    vector_op_pj: PrecisionTable
    sram_pj_per_byte: float
    dram_pj_per_byte: float
    interconnect_pj_per_byte: float
    static_w: float


#: no zero-skipping at any precision (the default of a chip without a [sparsity] section)
_NO_SKIP = PrecisionTable(int8=0.0, fp16=0.0, bf16=0.0, fp32=0.0)


@dataclass(frozen=True)
class SparsityConfig:
    """What the cores do with zero weights; the default is a dense chip that gains nothing from them.

    ``zero_skip_efficiency[p]`` is the fraction of zero-weight MACs the cores skip at precision ``p``
    (0 = none, 1 = all).  With ``compressed_weights`` a sparse weight is stored as its nonzeros plus
    ``index_bits`` of position per nonzero (when that is smaller than the dense tensor).
    """

    zero_skip_efficiency: PrecisionTable = _NO_SKIP
    compressed_weights: bool = False
    index_bits: int = 0

    @property
    def is_dense(self) -> bool:
        return self == SparsityConfig()


@dataclass(frozen=True)
class HardwareConfig:
    """One chip."""

    name: str
    description: str
    #: "streaming" for a GSP, "layer" for a layer-by-layer accelerator
    default_mode: str
    cores: CoreConfig
    shared_memory: SharedMemoryConfig
    dram: DramConfig
    dma: DmaConfig
    interconnect: InterconnectConfig
    energy: EnergyConfig
    #: optional [sparsity] section; the default skips nothing and stores weights dense
    sparsity: SparsityConfig = SparsityConfig()

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram.bandwidth_bytes_per_s / self.cores.clock_hz

    @property
    def dram_latency_cycles(self) -> int:
        return int(math.ceil(round(self.dram.latency_ns * 1e-9 * self.cores.clock_hz, 6)))

    def peak_ops_per_s(self, precision: str) -> float:
        """Peak operations per second (2 per MAC), the figure vendors quote as TOPS."""
        return 2.0 * self.cores.count * self.cores.macs_per_cycle[precision] * self.cores.clock_hz

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict in the TOML layout (for JSON, ``hw show`` and building variants)."""
        data = dataclasses.asdict(self)
        if self.sparsity.is_dense:
            del data["sparsity"]  # a dense chip reads (and hashes) exactly as before the section existed
        return data


# --- validation --------------------------------------------------------------------------
_SECTION_TYPES = {
    "cores": CoreConfig,
    "shared_memory": SharedMemoryConfig,
    "dram": DramConfig,
    "dma": DmaConfig,
    "interconnect": InterconnectConfig,
    "energy": EnergyConfig,
}
#: fields that may be zero (everything else numeric must be > 0)
_MAY_BE_ZERO = {"latency_ns", "static_w", "sram_pj_per_byte", "dram_pj_per_byte", "interconnect_pj_per_byte"}
#: plausible ranges (generous: far beyond any real chip), so that a typo such as ``count = 16000000``
#: or ``bandwidth_bytes_per_s = 1e-300`` is refused here instead of exhausting memory or dividing by
#: zero in the engine.  A positive value must lie in [low, high]; fields not listed use _DEFAULT_RANGE.
_RANGES: Mapping[str, tuple[float, float]] = {
    "count": (1, 4096),
    "thread_slots": (1, 1024),
    "engines": (1, 1024),
    "clock_hz": (1e3, 1e12),
    "local_memory_bytes": (1, 2**40),
    "size_bytes": (1, 2**40),
    "bandwidth_bytes_per_s": (1e3, 1e15),
    "bandwidth_bytes_per_cycle": (1e-3, 1e9),
    "macs_per_cycle": (1e-3, 1e9),
    "vector_lanes": (1e-3, 1e9),
    "latency_ns": (1e-3, 1e9),
    "static_w": (1e-9, 1e6),
}
_DEFAULT_RANGE = (1e-9, 1e9)


def _number(
    value: Any, where: str, kind: type, allow_zero: bool, bounds: tuple[float, float] = (0.0, math.inf)
) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        expected = "an integer" if kind is int else "a number"
        raise ConfigError(f"{where} must be {expected}, got {type(value).__name__} {value!r}")
    if kind is int and not (isinstance(value, int) or float(value).is_integer()):
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if not math.isfinite(float(value)):
        raise ConfigError(f"{where} must be finite, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{where} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    low, high = bounds
    if value != 0 and not low <= value <= high:
        raise ConfigError(f"{where} must be between {low:g} and {high:g}{' (or 0)' if allow_zero else ''}, got {value!r}")
    return int(value) if kind is int else float(value)


class IgnoredFieldWarning(UserWarning):
    """A hardware config names a field gspsim no longer models (the CLI prints it as one line)."""


#: fields older configs may hold that gspsim dropped, and why (warned about, then ignored)
_RETIRED: Mapping[tuple[str, str], str] = {
    ("DramConfig", "channels"): "DRAM channels are interleaved, so they act as one pipe of the total bandwidth "
                                "(bandwidth_bytes_per_s); the field never changed a result and was removed",
}


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table, got {type(data).__name__}")
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    retired = [k for k in data if (cls.__name__, k) in _RETIRED]
    for key in retired:
        warnings.warn(f"{where}: field '{key}' is ignored: {_RETIRED[(cls.__name__, key)]}", IgnoredFieldWarning,
                      stacklevel=2)
    data = {k: v for k, v in data.items() if k not in retired}
    extra = sorted(set(data) - set(names))
    if extra:
        raise ConfigError(f"{where}: unknown field '{extra[0]}' (known: {', '.join(names)})")
    values: dict[str, Any] = {}
    for name in names:
        here = f"{where} field '{name}'"
        if name not in data:
            raise ConfigError(f"{where}: missing field '{name}'")
        value, hint = data[name], hints[name]
        if hint is PrecisionTable:
            values[name] = _precision_table(value, here, allow_zero=name in ("vector_op_pj", "mac_pj"),
                                            bounds=_RANGES.get(name, _DEFAULT_RANGE))
        elif hint in (int, float):
            values[name] = _number(value, here, hint, allow_zero=name in _MAY_BE_ZERO,
                                   bounds=_RANGES.get(name, _DEFAULT_RANGE))
        elif hint is str:
            if not isinstance(value, str):
                raise ConfigError(f"{here} must be a string, got {type(value).__name__} {value!r}")
            values[name] = value
        elif dataclasses.is_dataclass(hint) and hint is not PrecisionTable:
            values[name] = _build(hint, value, f"{where} [{name}]")
        else:  # pragma: no cover - a new field type needs a rule here
            raise TypeError(f"no validation rule for {cls.__name__}.{name}: {hint}")
    return cls(**values)


def _precision_table(value: Any, where: str, allow_zero: bool, bounds: tuple[float, float]) -> PrecisionTable:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table with keys {', '.join(PRECISIONS)}")
    extra = sorted(set(value) - set(PRECISIONS))
    if extra:
        raise ConfigError(f"{where}: unknown precision '{extra[0]}' (known: {', '.join(PRECISIONS)})")
    missing = [k for k in PRECISIONS if k not in value]
    if missing:
        raise ConfigError(f"{where}: missing precision '{missing[0]}'")
    return PrecisionTable(**{k: float(_number(value[k], f"{where} key '{k}'", float, allow_zero, bounds))
                             for k in PRECISIONS})


def _sparsity(data: Any, where: str) -> SparsityConfig:
    """The optional [sparsity] section; every field has a dense default."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table, got {type(data).__name__}")
    names = [f.name for f in fields(SparsityConfig)]
    extra = sorted(set(data) - set(names))
    if extra:
        raise ConfigError(f"{where}: unknown field '{extra[0]}' (known: {', '.join(names)})")
    skip = _NO_SKIP
    if "zero_skip_efficiency" in data:
        skip = _precision_table(data["zero_skip_efficiency"], f"{where} field 'zero_skip_efficiency'",
                                allow_zero=True, bounds=(0.0, 1.0))
    compressed = data.get("compressed_weights", False)
    if not isinstance(compressed, bool):
        raise ConfigError(f"{where} field 'compressed_weights' must be true or false, got {compressed!r}")
    bits = int(_number(data.get("index_bits", 0), f"{where} field 'index_bits'", int, True, (1, 64)))
    return SparsityConfig(zero_skip_efficiency=skip, compressed_weights=compressed, index_bits=bits)


def hardware_from_dict(data: Mapping[str, Any], source: str) -> HardwareConfig:
    """Validate a parsed TOML document; errors name the file and the field."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a TOML table at top level")
    top = {"name", "description", "default_mode", "sparsity", *_SECTION_TYPES}
    extra = sorted(set(data) - top)
    if extra:
        raise ConfigError(f"{source}: unknown field '{extra[0]}' (known: {', '.join(sorted(top))})")
    for key in ("name", "description", "default_mode", *_SECTION_TYPES):
        if key not in data:
            raise ConfigError(f"{source}: missing field '{key}'")
    for key in ("name", "description", "default_mode"):
        if not isinstance(data[key], str):
            raise ConfigError(f"{source}: field '{key}' must be a string, got {type(data[key]).__name__}")
    if data["default_mode"] not in MODES:
        raise ConfigError(f"{source}: field 'default_mode' must be {' or '.join(map(repr, MODES))}, got {data['default_mode']!r}")
    sections = {k: _build(cls, data[k], f"{source} [{k}]") for k, cls in _SECTION_TYPES.items()}
    if "sparsity" in data:
        sections["sparsity"] = _sparsity(data["sparsity"], f"{source} [sparsity]")
    return HardwareConfig(name=data["name"], description=data["description"], default_mode=data["default_mode"], **sections)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


#: a hardware config file larger than this is not a hardware config
MAX_CONFIG_BYTES = 1 << 20


def load_hardware(name_or_path: str | os.PathLike[str]) -> HardwareConfig:
    """A preset by name, or a TOML file by path (a bare name that is no preset but an existing file is a path)."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix != ".toml" and os.sep not in text and "/" not in text:
        if text in preset_names():
            path = PRESET_DIR / f"{text}.toml"
        elif not path.is_file():  # a bare file name that exists is a config file after all
            raise ConfigError(f"unknown hardware preset '{text}' (known: {', '.join(preset_names())}; "
                              "or give a .toml file)")
    regular_input(path, "hardware config file", ConfigError, MAX_CONFIG_BYTES)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({' '.join(str(exc).split())})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return hardware_from_dict(data, str(path))
