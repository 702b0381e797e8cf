"""Control flow made static: If, Scan and Loop inlined or unrolled into the dataflow graph at load time.

gspsim simulates a static dataflow graph, so control flow runs only where it
is decided when the model loads, as a compiler for a dataflow chip would
resolve it:

* **If** whose condition is a constant (after constant folding, or a bound
  input: :mod:`.bind_inputs`) becomes the nodes of the branch it takes.
* **Scan** whose sequence length is static (the scan inputs' shapes) is
  unrolled: one copy of the body per step, each step's slice a ``Gather`` of
  the scan input, the scan outputs stacked with ``Unsqueeze`` + ``Concat``.
* **Loop** with a constant trip count and no early exit (the body passes its
  condition through unchanged, and the loop's condition is absent or a
  constant true) is unrolled the same way.

Anything else stays a control-flow node and is refused in one line
(:func:`unresolved_reason`).  Control flow nested in a branch or body is
copied with it and resolved on a later round (each round inlines what it can,
then constant folding and shape inference run again).  Unrolling
is bounded by :data:`MAX_UNROLLED_NODES` copied nodes per model.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ModelError
from .fold_constants import static_shape
from .validate import node_label

CONTROL_FLOW_OPS = ("If", "Loop", "Scan")
#: the most body nodes unrolling may copy into one model (a guard against a huge trip count)
MAX_UNROLLED_NODES = 200_000


def has_control_flow(model: onnx.ModelProto) -> bool:
    return any(n.op_type in CONTROL_FLOW_OPS and n.domain in ("", "ai.onnx") for n in model.graph.node)


def static_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Every tensor's static shape (initializers, and what shape inference recorded)."""
    shapes: dict[str, tuple[int, ...]] = {}
    g = model.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        shape = static_shape(vi)
        if shape is not None:
            shapes[vi.name] = shape
    for t in g.initializer:
        shapes[t.name] = tuple(int(d) for d in t.dims)
    return shapes


class _Builder:
    """New nodes and initializers replacing one control-flow node; names made unique with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}/{hint}_{self._count}"

    def constant(self, value: np.ndarray, hint: str) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op_type: str, inputs: list[str], outputs: list[str], **attrs: object) -> None:
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=self.name(op_type), **attrs))

    def copy_body(self, body: onnx.GraphProto, renamed: dict[str, str], step: str) -> None:
        """The body's nodes and initializers once, reading ``renamed`` names; every name it defines gets ``step``."""
        for t in body.initializer:
            copy = onnx.TensorProto()
            copy.CopyFrom(t)
            copy.name = renamed[t.name] = f"{self.prefix}/{step}/{t.name}"
            self.initializers.append(copy)
        for n in body.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(n)
            del copy.input[:]
            copy.input.extend(renamed.get(i, i) if i else "" for i in n.input)
            del copy.output[:]
            for o in n.output:
                if o:
                    renamed[o] = f"{self.prefix}/{step}/{o}"
                copy.output.append(renamed[o] if o else "")
            copy.name = f"{self.prefix}/{step}/{n.name or n.op_type}"
            for a in copy.attribute:
                for sub in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                    _rename_outer_references(sub, renamed)
            self.nodes.append(copy)


def _rename_outer_references(graph: onnx.GraphProto, renamed: dict[str, str]) -> None:
    """In a nested graph (in place), the names it reads from the copied scope, renamed as they were copied."""
    own = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    own |= {o for n in graph.node for o in n.output}
    for n in graph.node:
        for i, name in enumerate(n.input):
            if name and name not in own and name in renamed:
                n.input[i] = renamed[name]
        for a in n.attribute:
            for sub in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                _rename_outer_references(sub, {k: v for k, v in renamed.items() if k not in own})
    for o in graph.output:
        if o.name not in own and o.name in renamed:
            o.name = renamed[o.name]


def _attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _inline_if(node: onnx.NodeProto, constants: dict[str, np.ndarray]) -> Optional[_Builder]:
    cond = constants.get(node.input[0]) if node.input and node.input[0] else None
    if cond is None or cond.size != 1:
        return None
    branch = _attr(node, "then_branch" if bool(cond.reshape(-1)[0]) else "else_branch")
    b = _Builder(node.output[0] if node.output else node.name)
    renamed: dict[str, str] = {}
    b.copy_body(branch, renamed, "branch")
    for out, inner in zip(node.output, branch.output):
        if out:
            b.node("Identity", [renamed.get(inner.name, inner.name)], [out])
    return b


def _stack(b: _Builder, parts: list[str], axis: int, out: str) -> None:
    """``parts`` (each one step's tensor) stacked along a new ``axis`` into ``out``."""
    axes = b.constant(np.asarray([axis], np.int64), "axis")
    lifted = []
    for p in parts:
        lifted.append(b.name("step"))
        b.node("Unsqueeze", [p, axes], [lifted[-1]])
    b.node("Concat", lifted, [out], axis=axis)


def _unroll_scan(
    node: onnx.NodeProto, shapes: dict[str, tuple[int, ...]], where: str, label: str
) -> Optional[_Builder]:
    body: onnx.GraphProto = _attr(node, "body")
    m = int(_attr(node, "num_scan_inputs"))
    n_state = len(node.input) - m
    scans = list(node.input[n_state:])
    in_axes = list(_attr(node, "scan_input_axes", None) or [0] * m)
    in_dirs = list(_attr(node, "scan_input_directions", None) or [0] * m)
    k = len(body.output) - n_state
    out_axes = list(_attr(node, "scan_output_axes", None) or [0] * k)
    out_dirs = list(_attr(node, "scan_output_directions", None) or [0] * k)
    if any(s not in shapes for s in scans):
        return None  # the sequence length is not known yet
    lengths = set()
    for s, a in zip(scans, in_axes):
        rank = len(shapes[s])
        lengths.add(shapes[s][a + rank if a < 0 else a])
    if len(lengths) != 1:
        raise ModelError(f"{where}: {label}: its scan inputs have different sequence lengths {sorted(lengths)}")
    steps = lengths.pop()
    if steps == 0:
        raise ModelError(f"{where}: {label}: a scan over 0 steps is not unrolled (its outputs would be empty)")
    b = _Builder(node.output[0] if node.output and node.output[0] else node.name or "Scan")
    states = list(node.input[:n_state])
    collected: list[list[str]] = [[] for _ in range(k)]
    for t in range(steps):
        renamed: dict[str, str] = {}
        for vi, s in zip(body.input[:n_state], states):
            renamed[vi.name] = s
        for j, (vi, s, a, d) in enumerate(zip(body.input[n_state:], scans, in_axes, in_dirs)):
            index = b.constant(np.asarray(steps - 1 - t if d else t, np.int64), "index")
            renamed[vi.name] = b.name(f"in{j}_t{t}")
            b.node("Gather", [s, index], [renamed[vi.name]], axis=int(a))
        b.copy_body(body, renamed, f"t{t}")
        states = [renamed.get(o.name, o.name) for o in body.output[:n_state]]
        for j, o in enumerate(body.output[n_state:]):
            collected[j].append(renamed.get(o.name, o.name))
    for out, s in zip(node.output[:n_state], states):
        if out:
            b.node("Identity", [s], [out])
    for j, (out, a, d) in enumerate(zip(node.output[n_state:], out_axes, out_dirs)):
        if not out:
            continue
        # a negative axis counts from the back of the stacked output, as Unsqueeze's and Concat's do
        _stack(b, collected[j][::-1] if d else collected[j], int(a), out)
    return b


def _passes_condition_through(body: onnx.GraphProto) -> bool:
    """The body's condition output is its condition input (directly or through Identity): no early exit."""
    cond_in, cond_out = body.input[1].name, body.output[0].name
    if cond_out == cond_in:
        return True
    producer = next((n for n in body.node if cond_out in n.output), None)
    return producer is not None and producer.op_type == "Identity" and list(producer.input) == [cond_in]


def _unroll_loop(node: onnx.NodeProto, constants: dict[str, np.ndarray], where: str, label: str) -> Optional[_Builder]:
    body: onnx.GraphProto = _attr(node, "body")
    trip = node.input[0] if len(node.input) > 0 else ""
    cond = node.input[1] if len(node.input) > 1 else ""
    if not trip:
        raise ModelError(f"{where}: {label}: a Loop without a trip count is not unrolled (gspsim simulates "
                         "a static graph)")
    if trip not in constants or (cond and cond not in constants):
        return None  # not known yet (a bound input or folding may make it known)
    if cond and not bool(constants[cond].reshape(-1)[0]):
        raise ModelError(f"{where}: {label}: its condition is false before the first iteration (0 iterations: "
                         "empty outputs are not simulated)")
    if not _passes_condition_through(body):
        raise ModelError(f"{where}: {label}: the body computes its own exit condition (an early exit); only loops "
                         "that run their whole trip count are unrolled")
    steps = int(constants[trip].reshape(-1)[0])
    if steps <= 0:
        raise ModelError(f"{where}: {label}: trip count {steps}: a loop of no iterations is not unrolled")
    if steps * max(1, len(body.node)) > MAX_UNROLLED_NODES:
        raise ModelError(f"{where}: {label}: trip count {steps} x {len(body.node)} body nodes is more than "
                         f"{MAX_UNROLLED_NODES} nodes unrolled")
    n_state = len(node.input) - 2
    b = _Builder(node.output[0] if node.output and node.output[0] else node.name or "Loop")
    states = list(node.input[2:])
    true = b.constant(np.asarray(True), "cond")
    k = len(body.output) - 1 - n_state
    collected: list[list[str]] = [[] for _ in range(k)]
    iter_type = body.input[0].type.tensor_type.elem_type or onnx.TensorProto.INT64
    for t in range(steps):
        renamed = {body.input[0].name: b.constant(np.asarray(t, helper.tensor_dtype_to_np_dtype(iter_type)), "iter"),
                   body.input[1].name: true}
        for vi, s in zip(body.input[2:], states):
            renamed[vi.name] = s
        b.copy_body(body, renamed, f"t{t}")
        states = [renamed.get(o.name, o.name) for o in body.output[1:1 + n_state]]
        for j, o in enumerate(body.output[1 + n_state:]):
            collected[j].append(renamed.get(o.name, o.name))
    for out, s in zip(node.output[:n_state], states):
        if out:
            b.node("Identity", [s], [out])
    for j, out in enumerate(node.output[n_state:]):
        if out:
            _stack(b, collected[j], 0, out)
    return b


def inline_control_flow(model: onnx.ModelProto, where: str) -> tuple[onnx.ModelProto, int]:
    """One round: every If, Scan and Loop that is decided now replaced by plain nodes; returns (model, how many)."""
    graph = model.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    shapes = static_shapes(model)
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    done = 0
    unrolled = 0
    for index, node in enumerate(graph.node):
        builder = None
        if node.op_type in CONTROL_FLOW_OPS and node.domain in ("", "ai.onnx"):
            label = node_label(node, index)
            if node.op_type == "If":
                builder = _inline_if(node, constants)
            else:
                if node.op_type == "Scan":
                    builder = _unroll_scan(node, shapes, where, label)
                else:
                    builder = _unroll_loop(node, constants, where, label)
        if builder is None:
            nodes.append(node)
            continue
        unrolled += len(builder.nodes)
        if unrolled > MAX_UNROLLED_NODES:
            raise ModelError(f"{where}: {node_label(node, index)}: unrolling needs more than {MAX_UNROLLED_NODES} "
                             "nodes")
        nodes += builder.nodes
        initializers += builder.initializers
        done += 1
    if not done:
        return model, 0
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    out.graph.initializer.extend(initializers)
    return out, done


def unresolved_reason(model: onnx.ModelProto, where: str) -> Optional[str]:
    """The one-line refusal for the first control-flow node left, or None when none is left."""
    from .bind_inputs import MAX_BOUND_ELEMENTS  # it imports this module

    how = (f"(it depends on input values: integer and bool inputs of at most {MAX_BOUND_ELEMENTS} elements are "
           "bound to the values given, --inputs)")
    for index, node in enumerate(model.graph.node):
        if node.op_type not in CONTROL_FLOW_OPS or node.domain not in ("", "ai.onnx"):
            continue
        label = node_label(node, index)
        if node.op_type == "If":
            why = f"its condition is not known when the model loads {how}"
        elif node.op_type == "Scan":
            why = "its sequence length is not static"
        else:
            why = f"its trip count or condition is not known when the model loads {how}"
        return (f"{where}: {label}: control flow is simulated only where it is decided when the model loads: "
                f"{why}")
    return None


__all__ = ["CONTROL_FLOW_OPS", "MAX_UNROLLED_NODES", "has_control_flow", "inline_control_flow", "static_shapes",
           "unresolved_reason"]
