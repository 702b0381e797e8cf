"""Graph inputs: seeded synthetic tensors, or a user's ``.npz`` file checked name by name."""

from __future__ import annotations

import os
import zipfile
import zlib
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


NPY_MAGIC = b"\x93NUMPY"


def _member_header(zf: zipfile.ZipFile, member: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one ``.npy`` inside the archive, from its header alone (no data read)."""
    with zf.open(member) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            shape, _, dtype = np.lib.format._read_array_header(fh, version)  # noqa: SLF001 (format 3.0)
    return tuple(int(d) for d in shape), np.dtype(dtype)


def load_inputs(path: str | os.PathLike[str], graph: DataflowGraph) -> dict[str, np.ndarray]:
    """Read an ``.npz`` of graph inputs; every name, shape and dtype must match the model.

    Names, shapes and dtypes are checked from the archive's directory and the
    arrays' headers before any array is read, so a file declaring a huge array
    is refused without allocating it.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such inputs file")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    try:
        with open(p, "rb") as fh:
            head = fh.read(len(NPY_MAGIC))
        if head == NPY_MAGIC:
            raise InputError(f"{p}: a .npy file holds one unnamed array; --inputs takes an .npz with one array per "
                             f"input name, e.g. numpy.savez('{p.with_suffix('.npz').name}', "
                             f"{graph.inputs[0] if graph.inputs else 'input'}=array)")
        with zipfile.ZipFile(p) as zf:
            members = {m[:-4] if m.endswith(".npy") else m: m for m in zf.namelist()}
            _check_names(members, graph, str(p))
            for name in graph.inputs:
                try:
                    shape, dtype = _member_header(zf, members[name])
                except InputError:
                    raise
                except Exception as exc:
                    raise InputError(f"{p}: input '{name}' is not a readable .npy array ({_one_line(exc)})") from None
                _check_array(name, shape, dtype, graph, str(p))
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in graph.inputs}
    except InputError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"{p}: not a readable .npz file ({_one_line(exc)})") from None
    return check_inputs(arrays, graph, str(p))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _check_names(arrays: Mapping[str, object], graph: DataflowGraph, where: str) -> None:
    unknown = sorted(set(arrays) - set(graph.inputs))
    if unknown:
        raise InputError(f"{where}: unknown input '{unknown[0]}' (the model's inputs: {', '.join(graph.inputs)})")
    missing = [n for n in graph.inputs if n not in arrays]
    if missing:
        raise InputError(f"{where}: missing input '{missing[0]}' (the model's inputs: {', '.join(graph.inputs)})")


def _check_array(name: str, shape: tuple[int, ...], dtype: np.dtype, graph: DataflowGraph, where: str) -> None:
    info = graph.tensors[name]
    if dtype.hasobject:
        raise InputError(f"{where}: input '{name}' holds Python objects (dtype {dtype}); the model expects {info.dtype}")
    if tuple(shape) != tuple(info.shape):
        raise InputError(f"{where}: input '{name}' has shape {list(shape)}, the model expects {list(info.shape)}")
    if dtype != np.dtype(info.dtype):
        raise InputError(f"{where}: input '{name}' has dtype {dtype}, the model expects {info.dtype}")


def check_inputs(arrays: Mapping[str, np.ndarray], graph: DataflowGraph, where: str = "inputs") -> dict[str, np.ndarray]:
    """Inputs by name, each with the model's shape and dtype (as contiguous arrays)."""
    if not isinstance(arrays, Mapping):
        raise InputError(f"{where}: expected a mapping from input name to array, got {type(arrays).__name__}")
    _check_names(arrays, graph, where)
    values = {}
    for name in graph.inputs:
        arr = arrays[name]
        if not isinstance(arr, np.ndarray):
            try:
                arr = np.asarray(arr)
            except (TypeError, ValueError) as exc:
                raise InputError(f"{where}: input '{name}' is not an array ({_one_line(exc)})") from None
        _check_array(name, tuple(arr.shape), arr.dtype, graph, where)
        values[name] = np.require(arr, requirements="C")  # keeps a 0-d scalar 0-d (ascontiguousarray makes it 1-d)
    return values
