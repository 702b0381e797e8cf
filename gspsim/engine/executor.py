"""Running the real kernels on the real tensors as the simulated blocks complete.

One executor per frame.  A band runs when its last tile has computed: a
banded node's first band allocates the output tensor (and, for kernels with
``prepare``, packs the node's weights once) and every band fills its rows with
the kernel's ``run_rows``; a one-band node without a row axis runs its kernel
whole.  A tensor is dropped as soon as the last
node reading it has finished, so memory follows the live activations.
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from ..errors import ModelError
from ..kernels import PreparedRowsFn
from ..lowering.tasks import Band, NodeTasks, TaskGraph
from ..optable import run_node


class KernelExecutor:
    """The values of one frame's tensors, filled in block by block."""

    def __init__(self, tasks: TaskGraph, inputs: Mapping[str, np.ndarray]) -> None:
        self.tasks = tasks
        self.values: dict[str, np.ndarray] = dict(inputs)
        self._bands_left = [len(n.bands) for n in tasks.nodes]
        self._readers_left: dict[str, int] = {}
        for node in tasks.nodes:
            for t in set(node.op.activation_inputs):
                self._readers_left[t] = self._readers_left.get(t, 0) + 1
        self._keep = set(tasks.graph.outputs)
        #: per node index: ``run_rows`` with the node's weights prepared (kernels with ``prepare``)
        self._prepared: dict[int, PreparedRowsFn] = {}

    def _inputs(self, node: NodeTasks) -> list[Optional[np.ndarray]]:
        op = node.op
        return [None if not t else (op.weights[t] if t in op.weights else self.values[t]) for t in op.inputs]

    def run_band(self, node: NodeTasks, band: Band) -> None:
        """Run one band's kernel; a kernel refusing its inputs names the node (a model the checks let through)."""
        try:
            self._run_band(node, band)
        except NotImplementedError as exc:  # an attribute, mode, type or rank the kernel does not implement
            where = self.tasks.graph.source_path or self.tasks.graph.name
            first = (str(exc).strip().splitlines() or ["not implemented"])[0]
            raise ModelError(f"{where}: node '{node.op.name}' ({node.op.op_type}): not supported: {first}") from None
        except (ValueError, IndexError, TypeError, ZeroDivisionError, OverflowError) as exc:
            where = self.tasks.graph.source_path or self.tasks.graph.name
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"{where}: node '{node.op.name}' ({node.op.op_type}): kernel failed: {first}") from None

    def _run_band(self, node: NodeTasks, band: Band) -> None:
        op = node.op
        if node.row_axis is not None:
            name = op.outputs[0]
            out = self.values.get(name)
            if out is None:
                info = self.tasks.tensors[name]
                # zeros, not empty: a kernel may compute a whole row group and keep only its band, and
                # must not meet NaN garbage in rows not produced yet
                out = self.values[name] = np.zeros(info.shape, dtype=info.dtype)
            inputs = self._inputs(node)
            if node.kernel.prepare is None:
                node.kernel.run_rows(inputs, op.attrs, out, band.rows[0], band.rows[1])
            else:
                rows = self._prepared.get(node.index)
                if rows is None:
                    rows = self._prepared[node.index] = node.kernel.prepare(inputs, op.attrs)
                rows(inputs, out, band.rows[0], band.rows[1])
        else:
            results = run_node(node.kernel, self._inputs(node), op.attrs, op.outputs)
            if len(results) < len(op.outputs) and any(op.outputs[len(results):]):
                missing = next(t for t in op.outputs[len(results):] if t)
                raise NotImplementedError(f"output '{missing}' is not computed by gspsim's {op.op_type} kernel")
            for name, value in zip(op.outputs, results):
                if name:
                    info = self.tasks.tensors[name]
                    value = np.asarray(value)
                    if value.dtype != np.dtype(info.dtype) or value.shape != info.shape:
                        raise ModelError(
                            f"{self.tasks.graph.source_path or self.tasks.graph.name}: kernel {op.op_type} of node '{op.name}' returned {value.dtype}{list(value.shape)} "
                            f"for '{name}', expected {info.dtype}{list(info.shape)}"
                        )
                    self.values[name] = value
        self._bands_left[node.index] -= 1
        if self._bands_left[node.index] == 0:
            for t in set(op.activation_inputs):
                self._readers_left[t] -= 1
                if self._readers_left[t] == 0 and t not in self._keep:
                    self.values.pop(t, None)
            self._prepared.pop(node.index, None)

    def outputs(self) -> dict[str, np.ndarray]:
        return {name: self.values[name] for name in self.tasks.graph.outputs}
