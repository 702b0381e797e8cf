"""Graph inputs: seeded synthetic tensors, or a user's ``.npz`` file checked name by name."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
import zlib
from typing import Mapping

import numpy as np

from .errors import InputError
from .frontend.memory import format_bytes, resolve_limit
from .input_files import regular_input
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
        elif dtype.kind in "OSU":  # ONNX strings
            where = f"{graph.source_path}: " if graph.source_path else ""
            raise InputError(f"{where}graph input '{name}' is a string tensor; gspsim simulates numeric and bool "
                             "tensors only")
        else:
            where = f"{graph.source_path}: " if graph.source_path else ""
            raise InputError(f"{where}input '{name}' has dtype {dtype}, which synthetic inputs do not cover; "
                             "give --inputs")
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


def _archive_members(zf: zipfile.ZipFile, where: str) -> dict[str, str]:
    """Array name -> the one archive member that holds it; an ambiguous archive is refused.

    ``np.load`` reads ``data['x']`` from a member ``x`` when there is one, else from ``x.npy``: an archive
    holding both (or one member twice) could pass a check of one and deliver the other.
    """
    members: dict[str, str] = {}
    for member in zf.namelist():
        name = member[:-4] if member.endswith(".npy") else member
        if name in members:
            other = members[name]
            both = f"both '{other}' and '{member}'" if other != member else f"member '{member}' twice"
            raise InputError(f"{where}: the archive holds {both}; which one is array '{name}' is ambiguous")
        members[name] = member
    return members


def _array_header(zf: zipfile.ZipFile, member: str, what: str, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """A member's shape and dtype from its header; errors name ``what`` (e.g. "input 'x'") in ``where``."""
    try:
        shape, dtype = _member_header(zf, member)
    except Exception as exc:
        raise InputError(f"{where}: {what} is not a readable .npy array ({_one_line(exc)})") from None
    if dtype.hasobject:
        raise InputError(f"{where}: {what} holds Python objects (dtype {dtype}); only numeric arrays are read")
    return shape, dtype


def _read_member(zf: zipfile.ZipFile, member: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The array of ``member``, read from that member (whose header was checked) and nothing else."""
    with zf.open(member) as fh:
        array = np.lib.format.read_array(fh, allow_pickle=False)
    if array.shape != shape or array.dtype != dtype:  # pragma: no cover - the same member's header
        raise ValueError(f"member '{member}' changed while it was read")
    return array


def _nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    n = dtype.itemsize
    for d in shape:
        n *= d
    return n


def read_npz(path: str | os.PathLike[str], what: str, max_bytes: int) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` by name, refusing more than ``max_bytes`` in all before reading any.

    Each array is read from exactly the member whose header was checked; an
    archive with both ``x`` and ``x.npy`` (or a member twice) is refused.
    """
    p = regular_input(path, what, InputError)
    try:
        with zipfile.ZipFile(p) as zf:
            members = _archive_members(zf, str(p))
            headers = {name: _array_header(zf, member, f"array '{name}'", str(p)) for name, member in members.items()}
            total = sum(_nbytes(shape, dtype) for shape, dtype in headers.values())
            if total > max_bytes:
                raise InputError(f"{p}: the arrays need {format_bytes(total)}, more than the memory limit "
                                 f"{format_bytes(max_bytes)} (raise it with --max-memory)")
            return {name: _read_member(zf, members[name], *headers[name]) for name in members}
    except InputError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"{p}: not a readable .npz file ({_one_line(exc)})") from None


def read_input_values(path: str | os.PathLike[str], max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Every array of an ``--inputs`` file by name, before a model is loaded (the values may specialise it).

    At most ``max_bytes`` in all (default: the physical memory); :func:`load_inputs` checks them against the
    model afterwards.
    """
    p = regular_input(path, "inputs file", InputError)
    _refuse_npy(p, "input")
    return read_npz(p, "inputs file", resolve_limit(max_bytes))


def _refuse_npy(p: "os.PathLike[str]", example: str) -> None:
    try:
        with open(p, "rb") as fh:
            head = fh.read(len(NPY_MAGIC))
    except OSError:
        return  # reading the archive names the error
    if head == NPY_MAGIC:
        raise InputError(f"{p}: a .npy file holds one unnamed array; --inputs takes an .npz with one array per "
                         f"input name, e.g. numpy.savez('{Path(p).with_suffix('.npz').name}', {example}=array)")


def load_inputs(path: str | os.PathLike[str], graph: DataflowGraph) -> dict[str, np.ndarray]:
    """Read an ``.npz`` of graph inputs; every name, shape and dtype must match the model.

    Names, shapes and dtypes are checked from the archive's directory and the
    arrays' headers before any array is read, so a file declaring a huge array
    is refused without allocating it.
    """
    p = regular_input(path, "inputs file", InputError)
    _refuse_npy(p, graph.inputs[0] if graph.inputs else "input")
    try:
        with zipfile.ZipFile(p) as zf:
            members = _archive_members(zf, str(p))
            _check_names(members, graph, str(p))
            headers = {}
            for name in graph.inputs:
                headers[name] = _array_header(zf, members[name], f"input '{name}'", str(p))
                _check_array(name, *headers[name], graph, str(p))
            arrays = {name: _read_member(zf, members[name], *headers[name]) for name in graph.inputs}
            for name in graph.bound_inputs:  # inputs the model was specialised to: compared in check_inputs
                if name in members:
                    header = _array_header(zf, members[name], f"input '{name}'", str(p))
                    if _nbytes(*header) <= graph.bound_inputs[name].nbytes:
                        arrays[name] = _read_member(zf, members[name], *header)
                    else:
                        arrays[name] = np.empty(0, header[1])  # larger than the bound value: differs
    except InputError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"{p}: not a readable .npz file ({_one_line(exc)})") from None
    return check_inputs(arrays, graph, str(p))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _check_names(arrays: Mapping[str, object], graph: DataflowGraph, where: str) -> None:
    unknown = sorted(set(arrays) - set(graph.inputs) - set(graph.bound_inputs))
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


def _check_bound(name: str, given: object, bound: np.ndarray, where: str) -> None:
    """An input the model was specialised to (it decides a shape or control flow) must hold the same value."""
    try:
        value = np.asarray(given)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: input '{name}' is not an array ({_one_line(exc)})") from None
    if value.shape != bound.shape or value.dtype != bound.dtype or not np.array_equal(value, bound):
        shown = np.array2string(bound, separator=", ", threshold=16)
        raise InputError(f"{where}: input '{name}' differs from the value {shown} the model was specialised to when "
                         "it was loaded (it decides a shape or control flow); load the model with these inputs")


def check_inputs(arrays: Mapping[str, np.ndarray], graph: DataflowGraph, where: str = "inputs") -> dict[str, np.ndarray]:
    """Inputs by name, each with the model's shape and dtype (as contiguous arrays)."""
    if not isinstance(arrays, Mapping):
        raise InputError(f"{where}: expected a mapping from input name to array, got {type(arrays).__name__}")
    _check_names(arrays, graph, where)
    for name, bound in graph.bound_inputs.items():
        if name in arrays:
            _check_bound(name, arrays[name], bound, where)
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
