"""Hardware configurations and presets."""

from .config import (
    CoreConfig,
    DmaConfig,
    DramConfig,
    EnergyConfig,
    HardwareConfig,
    InterconnectConfig,
    PrecisionTable,
    SharedMemoryConfig,
    hardware_from_dict,
    load_hardware,
    preset_names,
)

__all__ = [
    "CoreConfig", "DmaConfig", "DramConfig", "EnergyConfig", "HardwareConfig",
    "InterconnectConfig", "PrecisionTable", "SharedMemoryConfig", "hardware_from_dict", "load_hardware", "preset_names",
]
