"""Finished points on disk, one JSON file each, named by a hash of everything the point computes from.

``DIR/points/<key>.json`` is written atomically the moment a point finishes,
so a sweep killed at any instant keeps every point it finished and a rerun of
the same sweep (or of a larger one that shares points) skips them.  The key
covers the model's content, the full hardware config, the run options and the
gspsim version, so a changed input can never be served a stale result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from .._version import __version__
from ..engine.options import SimOptions
from ..errors import GspsimError
from ..hardware.config import HardwareConfig
from .. import json_finite
from ..output_files import write_text_atomic
from ..results.result import json_default
from .worker import check_record

#: the layout of a point file; bumped when a key changes meaning (old points are then recomputed).
#: 2: the metrics of result schema 2 (makespan_s, steady_state_fps, active_* instead of fps, efficiency ...)
STORE_FORMAT = 2
POINTS_DIR = "points"


def key_inputs(model_sha256: str, hardware: HardwareConfig, options: SimOptions,
               input_shapes: Mapping[str, tuple[int, ...]], check: bool) -> dict[str, Any]:
    """What a point's result depends on, as plain JSON data."""
    return {
        "format": STORE_FORMAT,
        "gspsim_version": __version__,
        "model_sha256": model_sha256,
        "hardware": hardware.to_dict(),
        "options": dataclasses.asdict(options),
        "input_shapes": {k: list(v) for k, v in sorted(input_shapes.items())},
        "check": bool(check),
    }


def point_key(inputs: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``inputs``."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class PointStore:
    """The ``points/`` folder of a sweep's output directory."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.root = Path(out_dir) / POINTS_DIR
        if self.root.exists() and not self.root.is_dir():
            raise GspsimError(f"{self.root}: exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob(".*.tmp"):  # half-written files of a killed run (never renamed into place)
            stale.unlink(missing_ok=True)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def load(self, key: str) -> Optional[dict[str, Any]]:
        """The stored record, or None when absent or unreadable (it is then recomputed)."""
        p = self.path(key)
        try:
            record = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not check_record(record) or record.get("key") != key or record.get("format") != STORE_FORMAT:
            return None
        return record

    def save(self, record: Mapping[str, Any], inputs: Mapping[str, Any], point: Mapping[str, Any]) -> None:
        """Write one finished point (atomically: a reader sees the whole file or none)."""
        doc = {"format": STORE_FORMAT, **record, "point": dict(point), "inputs": dict(inputs)}
        text = json_finite.dumps(doc, separators=(",", ":"), default=json_default) + "\n"
        write_text_atomic(self.path(record["key"]), text)

    def keys(self) -> Iterator[str]:
        for p in sorted(self.root.glob("*.json")):
            yield p.stem

