"""Layout-only kernels, registered once under the shared "any" precision.

These ops move, select or generate data without arithmetic, so one
dtype-generic numpy implementation serves fp32, fp16 and int8 graphs and the
frontend's constant folding of int64 shape subgraphs.  The code lives in
three private modules by kind:

* ``_layout_shape``: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand,
  Tile, Shape, Size, Constant, ConstantOfShape, Range, Identity, Dropout, Cast, CastLike;
* ``_layout_index``: Slice, Gather, Split, Concat, Pad;
* ``_layout_logic``: Where, the comparisons, Not, And, Or, Xor, IsNaN, IsInf;
* ``_layout_select``: GatherElements, GatherND, ScatterElements, ScatterND,
  TensorScatter, TopK, NonZero, Compress, Trilu, CumSum, CumProd,
  ReverseSequence, EyeLike, DepthToSpace, SpaceToDepth, CenterCropPad, BitCast,
  OneHot, NonMaxSuppression.

Streaming: Slice, Concat and Pad have ``run_rows`` over ``row_axis = 2``
(H of NCHW).  ``out`` may be the whole output tensor or a buffer of exactly
``stop - start`` rows; either way any split of the rows gives ``run``'s
result.  Cast, Where, Equal, Less, Greater, Not and And are elementwise:
their ``run_rows`` follow the elementwise kernels' convention (``row_axis =
-2``, ``out`` the whole output; see ``_elem_rows``), so they stream in the same
chains.  The other layout ops are cheap or reorder whole tensors and have no
``run_rows`` (one whole-tensor tile).  Outputs are C-contiguous and may alias
inputs (views): callers must not write into them.
"""

from __future__ import annotations

from ...optable.kernel import ANY, Kernel
from . import _layout_index as idx
from . import _layout_logic as logic
from . import _layout_select as sel
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
    Kernel("CastLike", ANY, shp.cast_like),
    *(Kernel(op, ANY, shp.window(op)) for op in ("HannWindow", "HammingWindow", "BlackmanWindow")),
    Kernel("Constant", ANY, shp.constant),
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
    Kernel("Or", ANY, logic.logical_or),
    Kernel("Xor", ANY, logic.logical_xor),
    Kernel("LessOrEqual", ANY, logic.less_or_equal),
    Kernel("GreaterOrEqual", ANY, logic.greater_or_equal),
    Kernel("IsNaN", ANY, logic.is_nan),
    Kernel("IsInf", ANY, logic.is_inf),
    Kernel("GatherElements", ANY, sel.gather_elements),
    Kernel("GatherND", ANY, sel.gather_nd),
    Kernel("ScatterElements", ANY, sel.scatter_elements),
    Kernel("ScatterND", ANY, sel.scatter_nd),
    Kernel("TensorScatter", ANY, sel.tensor_scatter),
    Kernel("TopK", ANY, sel.top_k),
    Kernel("NonZero", ANY, sel.non_zero),
    Kernel("Compress", ANY, sel.compress),
    Kernel("Trilu", ANY, sel.trilu),
    Kernel("CumSum", ANY, sel.cum_sum),
    Kernel("CumProd", ANY, sel.cum_prod),
    Kernel("ReverseSequence", ANY, sel.reverse_sequence),
    Kernel("EyeLike", ANY, sel.eye_like),
    Kernel("DepthToSpace", ANY, sel.depth_to_space),
    Kernel("SpaceToDepth", ANY, sel.space_to_depth),
    Kernel("CenterCropPad", ANY, sel.center_crop_pad),
    Kernel("BitCast", ANY, sel.bit_cast),
    Kernel("OneHot", ANY, sel.one_hot),
    Kernel("NonMaxSuppression", ANY, sel.non_max_suppression),
)
