"""The op table: one frozen record per op type, read by every stage instead of lists of op names.

``spec_of("Conv")`` says how Conv is costed (``cost``), how its output rows map
to its input rows (``row_map``), what int8 quantization makes of it
(``int8``, ``qlinear``), where its kernels are (``kernel_module``) and more;
``spec.py`` documents each field and ``builtin.py`` holds the records.

Adding an op from outside the package: build an :class:`OpSpec` with its
:class:`Kernel` objects and simulate inside ``with custom_ops(spec):`` (or
publish it under the ``gspsim.ops`` entry-point group); see
docs/architecture.md, "Where to add things".

This package imports nothing from the pipeline's stages (frontend, ir,
passes, lowering, kernels, engine), so all of them can import it.
"""

from .kernel import ANY, Attrs, Inputs, Kernel, PreparedRowsFn, PrepareFn, RowsFn, RunFn, run_node
from .spec import (
    REDUCTION,
    VARIADIC,
    VIEW,
    WINDOW,
    CostKind,
    CostRule,
    Int8Role,
    MacRule,
    OpSpec,
    RowMap,
    macs,
    per_element,
)
from .table import ENTRY_POINT_GROUP, OpTableError, all_specs, custom_ops, find_spec, installed_specs, spec_of

__all__ = [
    "ANY", "ENTRY_POINT_GROUP", "REDUCTION", "VARIADIC", "VIEW", "WINDOW", "Attrs", "CostKind", "CostRule", "Inputs",
    "Int8Role", "Kernel", "MacRule", "OpSpec", "OpTableError", "PrepareFn", "PreparedRowsFn", "RowMap", "RowsFn",
    "RunFn", "all_specs", "custom_ops", "find_spec", "installed_specs", "macs", "per_element", "run_node", "spec_of",
]
