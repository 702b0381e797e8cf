"""Layout-only kernels, registered once under the shared "any" precision.

These ops move, select or generate data without arithmetic, so one
dtype-generic numpy implementation serves fp32, fp16 and int8 graphs and the
frontend's constant folding of int64 shape subgraphs.  The code lives in
three private modules by kind:

* ``_layout_shape``: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand,
  Tile, Shape, Size, ConstantOfShape, Range, Identity, Dropout, Cast;
* ``_layout_index``: Slice, Gather, Split, Concat, Pad;
* ``_layout_logic``: Where, Equal, Less, Greater, Not, And.

Streaming: Slice, Concat and Pad have ``run_rows`` over ``row_axis = 2``
(H of NCHW).  ``out`` may be the whole output tensor or a buffer of exactly
``stop - start`` rows; either way any split of the rows gives ``run``'s
result.  Cast and the logic ops are elementwise: their ``run_rows`` follow the
elementwise kernels' convention (``row_axis = -2``, ``out`` the whole output;
see ``_elem_rows``), so they stream in the same chains.  The other layout ops
are cheap or reorder whole tensors and have no ``run_rows``.  Outputs are C-contiguous and may alias inputs (views): callers
must not write into them.
"""

from __future__ import annotations

from ..registry import ANY, Kernel
from . import _layout_index as idx
from . import _layout_logic as logic
from . import _layout_shape as shp
from ._elem_rows import ROW_AXIS as ELEMENTWISE_ROW_AXIS
from ._elem_rows import elementwise_rows

ROW_AXIS = idx.ROW_AXIS

KERNELS: tuple[Kernel, ...] = (
    Kernel("Concat", ANY, idx.concat, idx.concat_rows, ROW_AXIS),
    Kernel("Split", ANY, idx.split),
    Kernel("Slice", ANY, idx.slice_op, idx.slice_rows, ROW_AXIS),
    Kernel("Pad", ANY, idx.pad, idx.pad_rows, ROW_AXIS),
    Kernel("Gather", ANY, idx.gather),
    Kernel("Reshape", ANY, shp.reshape),
    Kernel("Flatten", ANY, shp.flatten),
    Kernel("Transpose", ANY, shp.transpose),
    Kernel("Squeeze", ANY, shp.squeeze),
    Kernel("Unsqueeze", ANY, shp.unsqueeze),
    Kernel("Expand", ANY, shp.expand),
    Kernel("Tile", ANY, shp.tile),
    Kernel("Shape", ANY, shp.shape_op),
    Kernel("Size", ANY, shp.size_op),
    Kernel("Cast", ANY, shp.cast, elementwise_rows(shp.cast), ELEMENTWISE_ROW_AXIS),
    Kernel("ConstantOfShape", ANY, shp.constant_of_shape),
    Kernel("Range", ANY, shp.range_op),
    Kernel("Identity", ANY, shp.identity),
    Kernel("Dropout", ANY, shp.dropout),
    Kernel("Where", ANY, logic.where, elementwise_rows(logic.where), ELEMENTWISE_ROW_AXIS),
    Kernel("Equal", ANY, logic.equal, elementwise_rows(logic.equal), ELEMENTWISE_ROW_AXIS),
    Kernel("Less", ANY, logic.less, elementwise_rows(logic.less), ELEMENTWISE_ROW_AXIS),
    Kernel("Greater", ANY, logic.greater, elementwise_rows(logic.greater), ELEMENTWISE_ROW_AXIS),
    Kernel("Not", ANY, logic.logical_not, elementwise_rows(logic.logical_not), ELEMENTWISE_ROW_AXIS),
    Kernel("And", ANY, logic.logical_and, elementwise_rows(logic.logical_and), ELEMENTWISE_ROW_AXIS),
)
