"""Reading an ONNX file safely and bringing it to one canonical, static form.

Steps, in order: parse the protobuf; check that external-data locations stay
inside the model's folder and do not pass through symlinks (the onnx library
itself had path-traversal CVEs here: CVE-2024-27318, CVE-2024-27319); load the
external data; run the ONNX checker; convert the default-domain opset to
:data:`CANONICAL_OPSET`; give every graph input a static shape; and run
shape inference.  Nothing here writes to the user's files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import onnx
from onnx import external_data_helper, shape_inference, version_converter

from ..errors import ModelError

#: the opset every model is converted to (what torch 2.13's exporter emits)
CANONICAL_OPSET = 20
#: ONNX IR versions this loader understands
MAX_IR_VERSION = 11


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_external_locations(model: onnx.ModelProto, path: Path) -> None:
    """Refuse external-data paths that leave the model's folder or pass through a symlink."""
    base = path.parent.resolve()
    for tensor in external_data_helper._get_all_tensors(model):  # noqa: SLF001 (public in effect)
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        where = f"{path}: initializer '{tensor.name}' external data location '{location}'"
        if not location or os.path.isabs(location) or location.startswith(("/", "\\")):
            raise ModelError(f"{where} must be a relative path inside the model's folder")
        candidate = base / location
        # walk every component: none may be a symlink, and the result must stay under base
        probe = base
        for part in Path(location).parts:
            if part in ("..", ""):
                raise ModelError(f"{where} points outside the model's folder")
            probe = probe / part
            if probe.is_symlink():
                raise ModelError(f"{where} passes through a symlink ({probe.name}); refusing to follow it")
        resolved = candidate.resolve()
        if base != resolved and base not in resolved.parents:
            raise ModelError(f"{where} points outside the model's folder")
        if not resolved.is_file():
            raise ModelError(f"{where} names a file that does not exist")
        length = int(info.get("length", "-1") or -1)
        offset = int(info.get("offset", "0") or 0)
        size = resolved.stat().st_size
        if offset < 0 or (length >= 0 and offset + length > size):
            raise ModelError(f"{where} asks for bytes {offset}..{offset + length} of a {size}-byte file")


def read_model(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Parse ``path`` with its external data, refusing anything unsafe or unreadable."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no such file")
    if not p.is_file():
        raise ModelError(f"{p}: not a regular file")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf raises several types for garbage input
        raise ModelError(f"{p}: not a readable ONNX model ({_first_line(exc)})") from None
    if not model.HasField("graph") or (len(model.graph.node) == 0 and len(model.graph.output) == 0):
        raise ModelError(f"{p}: not an ONNX model (no graph found)")
    _check_external_locations(model, p)
    try:
        external_data_helper.load_external_data_for_model(model, str(p.parent))
    except Exception as exc:
        raise ModelError(f"{p}: cannot load external data ({_first_line(exc)})") from None
    return model


def check_model(model: onnx.ModelProto, path: str) -> None:
    """The ONNX checker: dangling edges, cycles, duplicate names, bad attributes."""
    if model.ir_version > MAX_IR_VERSION:
        raise ModelError(f"{path}: ONNX IR version {model.ir_version} is newer than supported ({MAX_IR_VERSION})")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelError(f"{path}: invalid ONNX model: {_first_line(exc)}") from None


def to_canonical_opset(model: onnx.ModelProto, path: str) -> tuple[onnx.ModelProto, str | None]:
    """Convert the default-domain opset to :data:`CANONICAL_OPSET`; returns a note when converted."""
    version = default_opset(model)
    if version == CANONICAL_OPSET:
        return model, None
    if version == 0:
        raise ModelError(f"{path}: model imports no default-domain (ai.onnx) opset")
    try:
        converted = version_converter.convert_version(model, CANONICAL_OPSET)
    except Exception as exc:
        newer = " (newer than supported)" if version > CANONICAL_OPSET else ""
        raise ModelError(
            f"{path}: cannot convert opset {version}{newer} to opset {CANONICAL_OPSET}: {_first_line(exc)}"
        ) from None
    return converted, f"converted opset {version} -> {CANONICAL_OPSET}"


def parse_input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``NAME=1x3x224x224`` as (name, shape); used by ``--input-shape``."""
    name, sep, dims = text.partition("=")
    if not sep or not name:
        raise ModelError(f"--input-shape '{text}': expected NAME=DxDxD, e.g. input=1x3x224x224")
    try:
        shape = tuple(int(d) for d in dims.lower().split("x"))
    except ValueError:
        raise ModelError(f"--input-shape '{text}': dimensions must be integers, e.g. 1x3x224x224") from None
    if any(d <= 0 for d in shape):
        raise ModelError(f"--input-shape '{text}': dimensions must be positive")
    return name, shape


def fix_input_shapes(
    model: onnx.ModelProto, path: str, overrides: Mapping[str, Sequence[int]] | None = None
) -> onnx.ModelProto:
    """Give every graph input a static shape, from the file or from ``overrides``."""
    overrides = dict(overrides or {})
    initializer_names = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializer_names]
    unknown = set(overrides) - {i.name for i in inputs}
    if unknown:
        known = ", ".join(i.name for i in inputs)
        raise ModelError(f"{path}: --input-shape names unknown input(s) {sorted(unknown)}; inputs are: {known}")
    model = onnx.ModelProto.FromString(model.SerializeToString()) if overrides else model
    for vi in (i for i in model.graph.input if i.name not in initializer_names):
        if not vi.type.HasField("tensor_type"):
            raise ModelError(f"{path}: input '{vi.name}' is not a tensor")
        dims = vi.type.tensor_type.shape.dim
        if vi.name in overrides:
            shape = list(overrides[vi.name])
            if dims and len(dims) != len(shape):
                raise ModelError(
                    f"{path}: --input-shape for '{vi.name}' has rank {len(shape)}, the model's input has rank {len(dims)}"
                )
            del vi.type.tensor_type.shape.dim[:]
            for d in shape:
                vi.type.tensor_type.shape.dim.add().dim_value = int(d)
            continue
        if not vi.type.tensor_type.HasField("shape"):
            raise ModelError(f"{path}: input '{vi.name}' has no shape; give --input-shape {vi.name}=DxDxD")
        for axis, d in enumerate(dims):
            if d.HasField("dim_value"):
                if d.dim_value <= 0:
                    raise ModelError(f"{path}: input '{vi.name}' dim {axis} is {d.dim_value}; dims must be positive")
                continue
            label = f" '{d.dim_param}'" if d.dim_param else ""
            raise ModelError(
                f"{path}: input '{vi.name}' has dynamic dimension{label} (dim {axis}); "
                f"give --input-shape {vi.name}=" + "x".join(
                    str(x.dim_value) if x.HasField("dim_value") else "N" for x in dims
                )
            )
    return model


def infer_shapes(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    """ONNX shape inference with data propagation (so Shape->Reshape chains resolve)."""
    try:
        return shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as exc:
        raise ModelError(f"{path}: shape inference failed: {_first_line(exc)}") from None
