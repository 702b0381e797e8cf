"""Graph inputs: seeded synthetic tensors, or a user's ``.npz`` file checked name by name."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import InputError
from .ir.graph import DataflowGraph


def synthetic_inputs(graph: DataflowGraph, seed: int) -> dict[str, np.ndarray]:
    """Standard-normal floats (small non-negative integers for integer inputs), from ``seed``."""
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    for name in graph.inputs:
        info = graph.tensors[name]
        dtype = np.dtype(info.dtype)
        if dtype.kind == "f":
            values[name] = rng.standard_normal(info.shape).astype(dtype)
        elif dtype.kind in "iu":
            values[name] = rng.integers(0, 10, size=info.shape).astype(dtype)
        elif dtype.kind == "b":
            values[name] = rng.integers(0, 2, size=info.shape).astype(bool)
        else:
            raise InputError(f"input '{name}' has dtype {dtype}, which synthetic inputs do not cover; give --inputs")
    return values


def load_inputs(path: str | os.PathLike[str], graph: DataflowGraph) -> dict[str, np.ndarray]:
    """Read an ``.npz`` of graph inputs; every name, shape and dtype must match the model."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such inputs file")
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"{p}: not a readable .npz file ({exc})") from None
    return check_inputs(arrays, graph, str(p))


def check_inputs(arrays: Mapping[str, np.ndarray], graph: DataflowGraph, where: str = "inputs") -> dict[str, np.ndarray]:
    expected = set(graph.inputs)
    unknown = sorted(set(arrays) - expected)
    if unknown:
        raise InputError(f"{where}: unknown input '{unknown[0]}' (the model's inputs: {', '.join(graph.inputs)})")
    missing = [n for n in graph.inputs if n not in arrays]
    if missing:
        raise InputError(f"{where}: missing input '{missing[0]}' (the model's inputs: {', '.join(graph.inputs)})")
    values = {}
    for name in graph.inputs:
        info = graph.tensors[name]
        arr = np.asarray(arrays[name])
        if tuple(arr.shape) != info.shape:
            raise InputError(f"{where}: input '{name}' has shape {list(arr.shape)}, the model expects {list(info.shape)}")
        if arr.dtype != np.dtype(info.dtype):
            raise InputError(f"{where}: input '{name}' has dtype {arr.dtype}, the model expects {info.dtype}")
        values[name] = np.ascontiguousarray(arr)
    return values
