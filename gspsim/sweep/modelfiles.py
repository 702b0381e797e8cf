"""A model's identity by content, and its files as bytes for workers that do not share our disk.

A point is stored under a hash of what it computes from, so the model enters
that hash by its bytes (the ``.onnx`` file and every external-data file it
names), never by its path: moving or renaming a file keeps its results, and
re-exporting it with new weights invalidates them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import onnx

from ..errors import ModelError
from ..frontend.external_data import external_tensors, safe_location

#: where a worker without the model on its disk writes the model's files, one folder per content hash
WORKER_MODEL_DIR = "gspsim-sweep-models"


def model_files(path: str | os.PathLike[str]) -> dict[str, Path]:
    """The model's files by their path relative to its folder: the ``.onnx`` itself and its external data."""
    p = Path(path)
    try:
        proto = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError ... for a file that is not ONNX
        raise ModelError(f"{p}: cannot read as ONNX ({type(exc).__name__}: {exc})") from None
    files = {p.name: p}
    base = p.parent.resolve()
    for tensor in external_tensors(proto):
        rel = next((e.value for e in tensor.external_data if e.key == "location"), "")
        if rel in files:
            continue
        # the frontend's own check: relative, inside the folder, no symlink on the way
        target = safe_location(base, rel, f"{p}: external data location '{rel}'")
        if not target.is_file():
            raise ModelError(f"{p}: external data '{rel}' is not a file inside the model's folder")
        files[rel] = target
    return files


def content_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 over the bytes of the model's files and the external-data names (not the model's own name)."""
    digest = hashlib.sha256()
    own = Path(path).name
    for rel, file in sorted(model_files(path).items(), key=lambda kv: (kv[0] != own, kv[0])):
        digest.update((b"" if rel == own else rel.encode("utf-8")) + b"\0")
        h = hashlib.sha256()
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        digest.update(h.digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelBlob:
    """A model's files as bytes (sent once to each remote worker) and their content hash."""

    name: str
    sha256: str
    files: Mapping[str, bytes]


def read_blob(path: str | os.PathLike[str], sha256: str) -> ModelBlob:
    files = {rel: file.read_bytes() for rel, file in model_files(path).items()}
    return ModelBlob(name=Path(path).name, sha256=sha256, files=files)


def materialize(blob: ModelBlob) -> Path:
    """Write the blob's files under the temp folder (once per content hash); return the ``.onnx`` path."""
    folder = Path(tempfile.gettempdir()) / WORKER_MODEL_DIR / blob.sha256
    target = folder / blob.name
    if target.is_file():
        return target
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{blob.sha256[:12]}.", dir=folder.parent))
    for rel, data in blob.files.items():
        dest = staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    try:
        os.rename(staging, folder)  # atomic: another worker sees all the files or none
    except OSError:  # another worker process won the race; its copy has the same bytes
        for f in sorted(staging.rglob("*"), reverse=True):
            f.rmdir() if f.is_dir() else f.unlink()
        staging.rmdir()
    return target
