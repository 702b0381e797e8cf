"""Specialising a model to the input values given: small inputs that decide shapes or control flow become constants.

Some models take an ``axes``, a shape, pads, a Range's limits, an If's
condition or a Loop's trip count as a *graph input*.  A static dataflow graph
cannot leave such a shape open, so when the caller gives input values (the
API's ``inputs``, the CLI's ``--inputs``), gspsim does what onnxruntime's
shape inference does at run time: it binds those inputs to the values given,
and the model is specialised to them.  The rule:

* only an input whose value is needed: it feeds (through any ops other than
  ``Shape``/``Size``, which read only shapes) a shape-deciding input of a node
  whose output has no static shape yet (:data:`SHAPE_INPUTS`), or the
  condition or trip count of an If or Loop that is still unresolved;
* only integer and bool inputs of at most :data:`MAX_BOUND_ELEMENTS`
  elements (data inputs stay inputs; a float input is never bound);
* only when a value is given; without one the model is refused in one line
  naming the inputs whose values it needs (:func:`describe_unbound`).

So an input is bound only where the model would otherwise be refused.

A bound input is no longer an input of the IR; the graph records it
(``DataflowGraph.bound_inputs``) and the result's notes name it with its value.
Inputs given later (another frame's, a check run's) must hold the same value,
or they are refused in one line (:func:`gspsim.inputs.check_inputs`): a model
specialised to one value never silently runs with another.
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import InputError
from .control_flow import CONTROL_FLOW_OPS, static_shapes
from .fold_constants import static_shape

#: the most elements a bound input may have (shapes, axes, pads, scalars)
MAX_BOUND_ELEMENTS = 64
_REDUCE = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
#: the inputs whose *values* decide an op's output shape (by position)
SHAPE_INPUTS: Mapping[str, tuple[int, ...]] = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Range": (0, 1, 2), "Pad": (1, 3), "Slice": (1, 2, 3, 4),
    "Squeeze": (1,), "Unsqueeze": (1,), "ConstantOfShape": (0,), "Resize": (2, 3), "Upsample": (1,),
    "TopK": (1,), "Split": (1,), "OneHot": (1,), "CenterCropPad": (1,), "Col2Im": (1, 2), "AffineGrid": (1,),
    "MaxUnpool": (2,), "If": (0,), "Loop": (0, 1), **{op: (1,) for op in _REDUCE},
}
_SHAPE_ONLY = ("Shape", "Size")


def deciding_inputs(model: onnx.ModelProto) -> list[str]:
    """The graph inputs whose values the model needs now (the rule of the module docstring), in graph order."""
    graph = model.graph
    constants = {t.name for t in graph.initializer}
    inputs = {vi.name: vi for vi in graph.input if vi.name not in constants}
    producer = {o: n for n in graph.node for o in n.output if o}
    static = static_shapes(model)
    roots: list[str] = []
    for node in graph.node:
        positions = SHAPE_INPUTS.get(node.op_type, ())
        unresolved = node.op_type in CONTROL_FLOW_OPS or any(o and o not in static for o in node.output)
        if unresolved:
            roots += [node.input[i] for i in positions if i < len(node.input) and node.input[i]]
    found: set[str] = set()
    seen: set[str] = set()
    while roots:
        name = roots.pop()
        if name in seen or name in constants:
            continue
        seen.add(name)
        if name in inputs:
            if _small_integer(inputs[name]):
                found.add(name)
            continue
        node = producer.get(name)
        if node is not None and node.op_type not in _SHAPE_ONLY:
            roots += [i for i in node.input if i]
    return [name for name in inputs if name in found]


def _small_integer(vi: onnx.ValueInfoProto) -> bool:
    """An integer or bool tensor input of at most :data:`MAX_BOUND_ELEMENTS` elements (by its declared shape)."""
    shape = static_shape(vi)
    if shape is None or int(np.prod(shape, dtype=np.int64)) > MAX_BOUND_ELEMENTS:
        return False
    return np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)).kind in "iub"


def inputs_to_bind(model: onnx.ModelProto, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The deciding inputs (:func:`deciding_inputs`) that ``values`` holds, as the inputs' types.

    A value of another dtype or shape than the input's is refused in one line
    (the model cannot load without it).
    """
    declared = {vi.name: vi for vi in model.graph.input}
    found: dict[str, np.ndarray] = {}
    for name in deciding_inputs(model):
        if name not in values:
            continue
        vi = declared[name]
        try:
            array = np.asarray(values[name])
        except (TypeError, ValueError):
            raise InputError(f"inputs: input '{name}' is not an array") from None
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type))
        shape = static_shape(vi)
        if array.dtype != dtype:
            raise InputError(f"inputs: input '{name}' has dtype {array.dtype}, the model expects {dtype}")
        if array.shape != shape:
            raise InputError(f"inputs: input '{name}' has shape {list(array.shape)}, the model expects "
                             f"{list(shape or ())}")
        found[name] = array.copy()
    return found


def describe_unbound(model: onnx.ModelProto, where: str) -> Optional[str]:
    """The one-line refusal of a model that needs input values it was not given, or None."""
    names = deciding_inputs(model)
    if not names:
        return None
    listed = ", ".join(f"'{n}'" for n in names)
    what = f"the value of input {listed} decides" if len(names) == 1 else f"the values of inputs {listed} decide"
    return (f"{where}: {what} a shape or control flow; give {'it' if len(names) == 1 else 'them'} (--inputs, or "
            "the API's inputs) and the model is specialised to the values given")


def bind(model: onnx.ModelProto, values: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """The model with ``values`` as constants in place of those graph inputs."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    kept = [vi for vi in out.graph.input if vi.name not in values]
    del out.graph.input[:]
    out.graph.input.extend(kept)
    out.graph.initializer.extend(numpy_helper.from_array(v, name) for name, v in values.items())
    return out


def describe_bound(values: Mapping[str, np.ndarray]) -> str:
    parts = ", ".join(f"'{name}' = {np.array2string(v, separator=', ', threshold=16)}" for name, v in values.items())
    return f"specialised to the input values given: {parts} (they decide shapes or control flow)"


__all__ = ["MAX_BOUND_ELEMENTS", "SHAPE_INPUTS", "bind", "deciding_inputs", "describe_bound", "describe_unbound",
           "inputs_to_bind"]
