"""Reading an ONNX file safely and bringing it to one canonical, static form.

Steps, in order: parse the protobuf (from bytes, within the memory limit);
read the external data through :mod:`.external_data`, which refuses locations
outside the model's folder or through symlinks (the onnx library itself had
path-traversal CVEs here: CVE-2024-27318, CVE-2024-27319); check every
constant against its declared shape; check versions and structure with
messages naming the node at fault (:mod:`.validate`), then run the ONNX
checker; bring an older default-domain opset up to :data:`CANONICAL_OPSET`;
give every graph input a static shape; and run shape inference.  Nothing here
writes to the user's files.

Versions: gspsim reads every IR version and default-domain opset the installed
onnx package defines (``onnx.IR_VERSION``, ``onnx.defs.onnx_opset_version()``)
and refuses newer ones, naming both versions.  A model at an opset below
:data:`CANONICAL_OPSET` is converted up to it with onnx's version converter
(its adapters only rewrite attributes into inputs and the like, which keeps
what the ops compute).  A model at a newer opset is never converted down: its
ops run at the versions it was written with.  Where a newer op version
computes something else than the one gspsim's kernel implements, the kernel
either implements both (it reads the new attributes and types) or refuses the
node, naming the attribute or type.
"""

from __future__ import annotations

import math
import operator
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import onnx
from onnx import shape_inference, version_converter

from ..errors import ModelError
from ..input_files import regular_input
from .external_data import external_files, load_external_data
from .memory import check_file_size, resolve_limit
from .validate import _is_repeated as is_repeated, check_initializers, check_structure, check_text

#: the opset older models are converted up to (what torch 2.13's exporter emits); newer ones stay as they are
CANONICAL_OPSET = 20
#: the largest dimension an ONNX shape holds (int64)
MAX_DIM = 2**63 - 1
#: the newest ONNX IR version read: the installed onnx package's
MAX_IR_VERSION = int(onnx.IR_VERSION)
#: the newest default-domain opset read: the installed onnx package's
MAX_OPSET = int(onnx.defs.onnx_opset_version())
#: float constants of at least this many elements are shown to the ONNX checker and to shape inference as
#: typed graph inputs without their data: both only read their type and shape, and serializing a 240 MB
#: model's weights for each of them cost seconds and a copy of the weights each (shape-like constants are
#: integers, or small)
WEIGHTLESS_MIN_ELEMENTS = 1024
_FLOAT_TYPES = frozenset({onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16,
                          onnx.TensorProto.DOUBLE})


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return 0


def one_line(exc: BaseException, limit: int = 600) -> str:
    """An exception's whole message on one line (the onnx checker puts the node on a later line)."""
    text = " ".join(str(exc).split())
    if not text:
        return type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_model(path: str | os.PathLike[str], max_memory_bytes: Optional[int] = None) -> onnx.ModelProto:
    """Parse ``path`` with its external data, refusing anything unsafe, unreadable or too large.

    The protobuf is parsed from bytes (onnx never sees the path), external data
    is read by :mod:`.external_data`, and every constant tensor is checked
    against its declared shape.
    """
    return read_model_and_sources(path, max_memory_bytes)[0]


def read_model_and_sources(path: str | os.PathLike[str], max_memory_bytes: Optional[int] = None
                           ) -> tuple[onnx.ModelProto, int, list[Path]]:
    """:func:`read_model`, with the file's size and the external data files it read (for the model cache)."""
    p = regular_input(path, "file", ModelError)
    limit = resolve_limit(max_memory_bytes)
    try:
        size = p.stat().st_size
        check_file_size(str(p), size, limit)
        data = p.read_bytes()
    except OSError as exc:
        raise ModelError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise ModelError(f"{p}: not an ONNX model (the file is empty)")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf raises several types for garbage input
        raise ModelError(f"{p}: not an ONNX model (protobuf parse failed: {one_line(exc, 200)})") from None
    del data
    if not model.HasField("graph") or (len(model.graph.node) == 0 and len(model.graph.output) == 0):
        raise ModelError(f"{p}: not an ONNX model (no graph found)")
    check_text(model, str(p))
    sources = external_files(model, p)
    load_external_data(model, p, limit)
    check_initializers(model, str(p))
    return model, size, sources


def check_model(model: onnx.ModelProto, path: str) -> None:
    """IR and opset versions, then named structural checks, then the ONNX checker."""
    if model.ir_version > MAX_IR_VERSION:
        raise ModelError(f"{path}: ONNX IR version {model.ir_version} is newer than supported ({MAX_IR_VERSION}, "
                         f"the installed onnx {onnx.__version__}'s)")
    if model.ir_version < 3:
        raise ModelError(f"{path}: ONNX IR version {model.ir_version} is not supported (3 to {MAX_IR_VERSION}); "
                         "is this an ONNX model?")
    version = default_opset(model)
    if version > MAX_OPSET:
        raise ModelError(f"{path}: opset {version} is newer than supported ({MAX_OPSET}, the installed onnx "
                         f"{onnx.__version__}'s); re-export with opset {MAX_OPSET} or lower")
    if version < 0:
        raise ModelError(f"{path}: opset_import gives a negative opset version {version}")
    check_structure(model, path)
    try:
        onnx.checker.check_model(weightless(model))
    except Exception as exc:
        raise ModelError(f"{path}: invalid ONNX model: {one_line(exc)}") from None


def to_canonical_opset(model: onnx.ModelProto, path: str) -> tuple[onnx.ModelProto, str | None]:
    """Convert an older default-domain opset up to :data:`CANONICAL_OPSET`; returns a note when converted.

    A model at a newer opset comes back as it is (see the module docstring).
    """
    version = default_opset(model)
    if version >= CANONICAL_OPSET:
        return model, None
    if version == 0:
        raise ModelError(f"{path}: model imports no default-domain (ai.onnx) opset")
    try:
        converted = version_converter.convert_version(model, CANONICAL_OPSET)
    except Exception as exc:
        raise ModelError(f"{path}: cannot convert opset {version} to opset {CANONICAL_OPSET}: {one_line(exc)}") from None
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
    if any(d > MAX_DIM for d in shape):
        raise ModelError(f"--input-shape '{text}': a dimension is larger than ONNX allows ({MAX_DIM}, 2**63 - 1)")
    return name, shape


def _override_shape(name: str, dims: Sequence[int]) -> list[int]:
    """An ``input_shapes`` entry as positive ints (API callers may pass anything)."""
    try:
        shape = [operator.index(d) for d in dims]
    except TypeError:
        raise ModelError(f"--input-shape for '{name}': dimensions must be integers, got {dims!r}") from None
    if any(d <= 0 for d in shape):
        raise ModelError(f"--input-shape for '{name}': dimensions must be positive, got {shape}")
    if any(d > MAX_DIM for d in shape):
        raise ModelError(f"--input-shape for '{name}': a dimension is larger than ONNX allows ({MAX_DIM}, 2**63 - 1)")
    return shape


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
            shape = _override_shape(vi.name, overrides[vi.name])
            if vi.type.tensor_type.HasField("shape") and len(dims) != len(shape):
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
                if d.dim_value < 0:
                    raise ModelError(f"{path}: input '{vi.name}' dim {axis} is {d.dim_value}; dims must not be negative")
                continue
            label = f" '{d.dim_param}'" if d.dim_param else ""
            raise ModelError(
                f"{path}: input '{vi.name}' has dynamic dimension{label} (dim {axis}); "
                f"give --input-shape {vi.name}=" + "x".join(
                    str(x.dim_value) if x.HasField("dim_value") else "N" for x in dims
                )
            )
    return model


def drop_inferable_value_info(model: onnx.ModelProto) -> onnx.ModelProto:
    """Forget the file's shapes for tensors that ONNX shape inference computes itself.

    A file's ``value_info`` is a claim, not a fact: shape inference trusts it
    when it cannot check it (a Reshape whose shape input is not an integer
    tensor keeps the recorded output shape), and a hand-edited or corrupted
    file then reaches the kernels with shapes that do not fit.  Outputs of
    default-domain ops are re-inferred from the inputs; value_info of other
    domains' ops (which ONNX cannot infer) is kept.  Changes ``model`` in place
    (the frontend's own parse: copying it would copy the weights) and returns it.
    """
    inferable = {o for n in model.graph.node if n.domain in ("", "ai.onnx") for o in n.output}
    kept = [onnx.ValueInfoProto.FromString(vi.SerializeToString())
            for vi in model.graph.value_info if vi.name not in inferable]
    if len(kept) < len(model.graph.value_info):
        del model.graph.value_info[:]
        model.graph.value_info.extend(kept)
    return model


def _copy_fields(source: Any, target: Any, skip: str) -> None:
    """Every set field of protobuf message ``source`` but ``skip`` into the empty message ``target``."""
    for field, value in source.ListFields():
        if field.name == skip:
            continue
        if is_repeated(field):
            getattr(target, field.name).extend(value)
        elif field.message_type is not None:
            getattr(target, field.name).CopyFrom(value)
        else:
            setattr(target, field.name, value)


def weightless(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with its large float constants turned into typed graph inputs without data (see
    :data:`WEIGHTLESS_MIN_ELEMENTS`); ``model`` itself when it has none.  Nothing is copied but the rest."""
    heavy = [t for t in model.graph.initializer
             if t.data_type in _FLOAT_TYPES and math.prod(t.dims) >= WEIGHTLESS_MIN_ELEMENTS]
    if not heavy:
        return model
    from onnx import helper

    heavy_names = {t.name for t in heavy}
    light = onnx.ModelProto()
    _copy_fields(model, light, skip="graph")
    _copy_fields(model.graph, light.graph, skip="initializer")
    light.graph.initializer.extend(t for t in model.graph.initializer if t.name not in heavy_names)
    listed = {vi.name for vi in model.graph.input}
    light.graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                             for t in heavy if t.name not in listed)
    return light


def _empty_inputs(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    """An empty constant for every graph input whose static shape holds a 0: its only possible value."""
    from onnx import helper, numpy_helper

    known = {t.name for t in model.graph.initializer}
    empties = []
    for vi in model.graph.input:
        t = vi.type.tensor_type
        if vi.name in known or not vi.type.HasField("tensor_type") or not t.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        if 0 in dims and -1 not in dims:
            dtype = helper.tensor_dtype_to_np_dtype(t.elem_type)
            empties.append(numpy_helper.from_array(np.zeros(dims, dtype), vi.name))
    return empties


def infer_shapes_lenient(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shape inference that keeps what it could infer and never fails (the model as it is when it cannot run).

    Used while control flow is inlined: onnx's inference may fail inside a
    branch that inlining removes; :func:`infer_shapes` runs strictly afterwards.
    """
    try:
        return shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception:
        return model


def infer_shapes(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    """ONNX shape inference with data propagation (so Shape->Reshape chains resolve).

    An empty graph input (a 0 in its static shape) has one possible value, so
    inference sees it as that constant (an empty ``axes`` input: reduce every
    axis); it stays an input of the model.

    onnx's data propagation handles shape-like (1-D) values only and fails on an
    elementwise op broadcasting 2-D integer tensors (masks built from Range,
    say), so where it fails inference runs again without it (constant folding
    resolves the shape chains).  Models with ops of other domains (QOperator
    quantized models, registered ops) also get their outputs' shapes
    (:mod:`gspsim.frontend.contrib_shapes`).

    Inference sees the model :func:`weightless`; when that left weights out,
    the shapes it found are written into ``model`` itself (its value_info and
    outputs), which is returned, so the weights are never copied (the empty
    constants of empty inputs are never added to it either).
    """
    from .contrib_shapes import infer_contrib_shapes, uses_contrib_ops

    light = weightless(model)
    empties = _empty_inputs(light)
    if empties:
        light = onnx.ModelProto.FromString(light.SerializeToString())
        light.graph.initializer.extend(empties)
    try:
        if uses_contrib_ops(light):
            inferred = infer_contrib_shapes(light)
        else:
            inferred = shape_inference.infer_shapes(light, check_type=True, strict_mode=True, data_prop=True)
    except Exception as exc:
        try:
            inferred = shape_inference.infer_shapes(light, check_type=True, strict_mode=True, data_prop=False)
        except Exception:
            raise ModelError(f"{path}: shape inference failed: {one_line(exc)}") from None
    if light is not model:  # the weights were left out: copy what inference adds into the model that has them
        del model.graph.value_info[:]
        model.graph.value_info.extend(inferred.graph.value_info)
        del model.graph.output[:]
        model.graph.output.extend(inferred.graph.output)
        return model
    return inferred  # neither weights nor empty inputs left out: inference's own copy
