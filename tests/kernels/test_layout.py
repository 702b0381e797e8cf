"""Layout kernels against onnxruntime: every dtype the frontend folds, odd axes and indices.

Each test builds the same node for onnxruntime (tests/ortref.py) and for the
gspsim kernel and requires identical dtype, shape and values.  The row-block
tests check that any split of the output rows through ``run_rows`` rebuilds
exactly what ``run`` computes.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from ortref import ort_single_node, single_node_model
from blocks import check_blocks as check_rows

from gspsim.kernels.registry import ANY, get_kernel

DTYPES = [np.float32, np.float16, np.int8, np.uint8, np.int32, np.int64, np.bool_]

dtypes = st.sampled_from(DTYPES)
seeds = st.integers(0, 2**32 - 1)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


def make_array(shape: Sequence[int], dtype: Any, seed: int) -> np.ndarray:
    """Deterministic test data of any dtype (small integers, fractional floats)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.kind == "f":
        return (rng.standard_normal(shape) * 10).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape, endpoint=True).astype(dtype)


def ours(op_type: str, inputs: Sequence[Optional[np.ndarray]], attrs: dict) -> tuple[np.ndarray, ...]:
    """Run gspsim's kernel (layout kernels live under the shared precision)."""
    kernel = get_kernel(op_type, "fp32")
    assert kernel.precision == ANY
    return kernel.run(list(inputs), dict(attrs))


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    """Same dtype, shape and values (NaNs compare equal)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_array_equal(got, want)


def check(op_type: str, inputs: Sequence[Optional[np.ndarray]], attrs: dict, n_outputs: int = 1) -> None:
    """gspsim's outputs equal onnxruntime's for one node."""
    want = ort_single_node(op_type, list(inputs), attrs, n_outputs=n_outputs)
    got = ours(op_type, inputs, attrs)
    assert len(got) >= n_outputs
    for g, w in zip(got, want):
        assert_same(g, w)


def check_blocks(
    op_type: str, inputs: Sequence[Optional[np.ndarray]], attrs: dict, cuts: Sequence[int]
) -> None:
    """Row blocks written into the whole output, and into block-sized buffers, rebuild ``run``."""
    check_rows(get_kernel(op_type, "fp32"), list(inputs), dict(attrs), cuts, block_buffers=True)


# ----------------------------------------------------------------------------- Concat / Split
@given(shape=shapes, dtype=dtypes, seed=seeds, data=st.data())
def test_concat(shape: tuple, dtype: Any, seed: int, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=4), label="sizes")
    arrays = []
    for i, n in enumerate(sizes):
        s = list(shape)
        s[axis] = n
        arrays.append(make_array(s, dtype, seed + i))
    check("Concat", arrays, {"axis": axis})


@given(shape=shapes, dtype=dtypes, seed=seeds, data=st.data())
def test_split(shape: tuple, dtype: Any, seed: int, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    dim = shape[axis]
    x = make_array(shape, dtype, seed)
    if data.draw(st.booleans(), label="explicit split"):
        cuts = sorted(data.draw(st.lists(st.integers(0, dim), max_size=3), label="cuts"))
        sizes = np.diff([0, *cuts, dim]).astype(np.int64)
        check("Split", [x, sizes], {"axis": axis}, n_outputs=len(sizes))
    else:
        n = data.draw(st.integers(1, dim), label="num_outputs")
        chunk = -(-dim // n)
        if chunk * (n - 1) >= dim and n > 1:
            return  # not a valid uneven split
        check("Split", [x], {"axis": axis, "num_outputs": n}, n_outputs=n)


# ----------------------------------------------------------------------------- Slice
index_values = st.one_of(
    st.integers(-6, 6), st.sampled_from([2**63 - 1, -(2**63), 2**31 - 1, 2**31, -(2**31), 100, -100])
)


@given(shape=shapes, dtype=dtypes, seed=seeds, data=st.data())
def test_slice(shape: tuple, dtype: Any, seed: int, data: st.DataObject) -> None:
    rank = len(shape)
    axes = data.draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True), label="axes")
    negate = data.draw(st.lists(st.booleans(), min_size=len(axes), max_size=len(axes)), label="negate")
    axes = [a - rank if n else a for a, n in zip(axes, negate)]
    starts = data.draw(st.lists(index_values, min_size=len(axes), max_size=len(axes)), label="starts")
    ends = data.draw(st.lists(index_values, min_size=len(axes), max_size=len(axes)), label="ends")
    steps = data.draw(
        st.lists(st.integers(-3, 3).filter(bool), min_size=len(axes), max_size=len(axes)), label="steps"
    )
    x = make_array(shape, dtype, seed)
    i64 = lambda v: np.array(v, dtype=np.int64)  # noqa: E731
    form = data.draw(st.sampled_from(["full", "no_steps", "no_axes"]), label="form")
    if form == "full":
        inputs = [x, i64(starts), i64(ends), i64(axes), i64(steps)]
    elif form == "no_steps":
        inputs = [x, i64(starts), i64(ends), i64(axes)]
    else:
        n = min(len(starts), rank)
        inputs = [x, i64(starts[:n]), i64(ends[:n])]
    check("Slice", inputs, {})


@given(seed=seeds, data=st.data())
def test_slice_rows_blocks(seed: int, data: st.DataObject) -> None:
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=4, max_size=4), label="shape"))
    x = make_array(shape, np.float32, seed)
    distinct_axes = st.lists(st.integers(-4, 3), min_size=1, max_size=4, unique_by=lambda a: a % 4)
    axes = data.draw(distinct_axes, label="axes")
    starts = data.draw(st.lists(index_values, min_size=len(axes), max_size=len(axes)), label="starts")
    ends = data.draw(st.lists(index_values, min_size=len(axes), max_size=len(axes)), label="ends")
    steps = data.draw(st.lists(st.integers(-2, 2).filter(bool), min_size=len(axes), max_size=len(axes)))
    inputs = [x, *(np.array(v, dtype=np.int64) for v in (starts, ends, axes, steps))]
    check("Slice", inputs, {})
    check_blocks("Slice", inputs, {}, data.draw(st.lists(st.integers(0, 16), max_size=4), label="cuts"))


@given(seed=seeds, data=st.data())
def test_concat_rows_blocks(seed: int, data: st.DataObject) -> None:
    shape = list(data.draw(st.lists(st.integers(1, 4), min_size=4, max_size=4), label="shape"))
    axis = data.draw(st.sampled_from([1, 2, 3, -1, -2, -3]), label="axis")
    sizes = data.draw(st.lists(st.integers(0, 4), min_size=1, max_size=3), label="sizes")
    arrays = []
    for i, n in enumerate(sizes):
        s = list(shape)
        s[axis] = n
        arrays.append(make_array(s, np.int8, seed + i))
    if sum(a.shape[2] for a in arrays) == 0 or sum(a.shape[axis] for a in arrays) == 0:
        return
    check("Concat", arrays, {"axis": axis})
    check_blocks("Concat", arrays, {"axis": axis}, data.draw(st.lists(st.integers(0, 16), max_size=4)))


# ----------------------------------------------------------------------------- Pad
def reference_pad(inputs: list, attrs: dict) -> np.ndarray:
    """ONNX's reference implementation, for the reflect pads onnxruntime rejects.

    The reference cannot crop, so negative pads are applied as a slice first
    (onnxruntime's order: crop, then pad).
    """
    x, pads = inputs[0], [int(p) for p in inputs[1]]
    axes = [int(a) % x.ndim for a in inputs[3]] if len(inputs) > 3 else list(range(x.ndim))
    crop = [slice(None)] * x.ndim
    for i, a in enumerate(axes):
        begin, end = pads[i], pads[i + len(axes)]
        crop[a] = slice(max(-begin, 0), x.shape[a] - max(-end, 0))
    positive = np.array([max(p, 0) for p in pads], dtype=np.int64)
    cropped = np.ascontiguousarray(x[tuple(crop)])
    ref_inputs = [cropped, positive, *inputs[2:]]
    model = single_node_model("Pad", ref_inputs, attrs)
    feeds = {f"in{i}": a for i, a in enumerate(ref_inputs) if a is not None}
    return ReferenceEvaluator(model).run(None, feeds)[0]


@given(shape=shapes, dtype=dtypes, seed=seeds, data=st.data())
def test_pad(shape: tuple, dtype: Any, seed: int, data: st.DataObject) -> None:
    rank = len(shape)
    mode = data.draw(st.sampled_from(["constant", "reflect", "edge", "wrap"]), label="mode")
    use_axes = data.draw(st.booleans(), label="axes input")
    axes = (
        data.draw(
            st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank, unique_by=lambda a: a % rank)
        )
        if use_axes
        else list(range(rank))
    )
    pads = []
    for _ in range(2):
        for a in axes:
            dim = shape[a]
            pads.append(data.draw(st.integers(-(dim - 1), 5), label="pad"))
    # Pads cropping an axis to nothing cannot be reflected/edged/wrapped: keep >= 1 element.
    for i, a in enumerate(axes):
        begin, end = pads[i], pads[i + len(axes)]
        if shape[a] + min(begin, 0) + min(end, 0) < 1:
            pads[i + len(axes)] = 0
            pads[i] = max(begin, 0)
    x = make_array(shape, dtype, seed)
    inputs: list = [x, np.array(pads, dtype=np.int64)]
    if mode == "constant" and data.draw(st.booleans(), label="constant_value"):
        inputs.append(make_array((), dtype, seed + 1))
    elif use_axes:
        inputs.append(None)
    if use_axes:
        inputs.append(np.array(axes, dtype=np.int64))
    attrs = {"mode": mode}
    got = ours("Pad", inputs, attrs)[0]
    try:
        want = ort_single_node("Pad", inputs, attrs)[0]
    except Exception as exc:  # onnxruntime rejects reflect pads >= the (cropped) dim
        assert mode == "reflect" and "Pad reflect" in str(exc)
        want = reference_pad(inputs, attrs)
    assert_same(got, want)


@given(seed=seeds, data=st.data())
def test_pad_rows_blocks(seed: int, data: st.DataObject) -> None:
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=4, max_size=4), label="shape"))
    mode = data.draw(st.sampled_from(["constant", "reflect", "edge", "wrap"]), label="mode")
    pads = [data.draw(st.integers(0, 3)) for _ in range(8)]
    pads[2] = data.draw(st.integers(-(shape[2] - 1), 6), label="pad top")
    pads[6] = data.draw(st.integers(-(shape[2] - 1) - min(pads[2], 0), 6), label="pad bottom")
    x = make_array(shape, np.float16, seed)
    inputs = [x, np.array(pads, dtype=np.int64), np.array(2.5, dtype=np.float16)]
    if mode != "constant":
        inputs = inputs[:2]
    cuts = data.draw(st.lists(st.integers(0, 20), max_size=4), label="cuts")
    check_blocks("Pad", inputs, {"mode": mode}, cuts)


# ----------------------------------------------------------------------------- shape ops
@given(shape=shapes, dtype=dtypes, seed=seeds, data=st.data())
def test_reshape(shape: tuple, dtype: Any, seed: int, data: st.DataObject) -> None:
    x = make_array(shape, dtype, seed)
    target = list(data.draw(st.permutations(list(shape)), label="perm"))
    if len(target) > 1 and data.draw(st.booleans(), label="merge"):
        target = [target[0] * target[1], *target[2:]]
    spec = []
    for i, d in enumerate(target):
        choice = data.draw(st.sampled_from(["dim", "zero", "infer"]), label="spec")
        if choice == "zero" and i < len(shape) and shape[i] == d:
            spec.append(0)
        elif choice == "infer" and -1 not in spec:
            spec.append(-1)
        else:
            spec.append(d)
    check("Reshape", [x, np.array(spec, dtype=np.int64)], {})


def test_reshape_allowzero() -> None:
    x = np.zeros((0, 3), dtype=np.float32)
    check("Reshape", [x, np.array([3, 0], dtype=np.int64)], {"allowzero": 1})
    check("Reshape", [x, np.array([0, 3], dtype=np.int64)], {})


@given(shape=shapes, dtype=dtypes, seed=seeds, data=st.data())
def test_flatten_transpose(shape: tuple, dtype: Any, seed: int, data: st.DataObject) -> None:
    x = make_array(shape, dtype, seed)
    check("Flatten", [x], {"axis": data.draw(st.integers(-len(shape), len(shape)), label="axis")})
    check("Flatten", [x], {})
    perm = data.draw(st.permutations(list(range(len(shape)))), label="perm")
    check("Transpose", [x], {"perm": list(perm)})
    check("Transpose", [x], {})


@given(shape=shapes, dtype=dtypes, seed=seeds, data=st.data())
def test_squeeze_unsqueeze(shape: tuple, dtype: Any, seed: int, data: st.DataObject) -> None:
    x = make_array(shape, dtype, seed)
    rank = len(shape)
    out_rank = rank + data.draw(st.integers(1, 3), label="added")
    positions = data.draw(
        st.lists(st.integers(-out_rank, out_rank - 1), min_size=out_rank - rank, max_size=out_rank - rank,
                 unique_by=lambda a: a % out_rank),
        label="positions",
    )
    check("Unsqueeze", [x, np.array(positions, dtype=np.int64)], {})
    y = ours("Unsqueeze", [x, np.array(positions, dtype=np.int64)], {})[0]
    ones = [i for i, d in enumerate(y.shape) if d == 1]
    chosen = data.draw(st.lists(st.sampled_from(ones), min_size=1, unique=True), label="squeeze")
    negative = data.draw(st.booleans(), label="negative")
    axes = [a - y.ndim if negative else a for a in chosen]
    check("Squeeze", [y, np.array(axes, dtype=np.int64)], {})
    check("Squeeze", [y], {})
    check("Squeeze", [y, np.zeros(0, dtype=np.int64)], {})


@given(shape=shapes, dtype=dtypes, seed=seeds, data=st.data())
def test_gather(shape: tuple, dtype: Any, seed: int, data: st.DataObject) -> None:
    x = make_array(shape, dtype, seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    dim = shape[axis]
    idx_shape = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2), label="idx shape"))
    count = int(np.prod(idx_shape))
    values = data.draw(st.lists(st.integers(-dim, dim - 1), min_size=count, max_size=count), label="indices")
    idx_dtype = data.draw(st.sampled_from([np.int64, np.int32]), label="idx dtype")
    indices = np.array(values, dtype=idx_dtype).reshape(idx_shape)
    check("Gather", [x, indices], {"axis": axis})


@given(shape=shapes, dtype=dtypes, seed=seeds, data=st.data())
def test_expand_tile(shape: tuple, dtype: Any, seed: int, data: st.DataObject) -> None:
    x = make_array(shape, dtype, seed)
    extra = data.draw(st.lists(st.integers(1, 3), max_size=2), label="extra dims")
    target = [*extra]
    for d in shape:
        target.append(data.draw(st.sampled_from([1, d] if d != 1 else [1, 2, 3]), label="target dim"))
    check("Expand", [x, np.array(target, dtype=np.int64)], {})
    repeats = data.draw(st.lists(st.integers(0, 3), min_size=len(shape), max_size=len(shape)))
    check("Tile", [x, np.array(repeats, dtype=np.int64)], {})


@given(shape=shapes, dtype=dtypes, seed=seeds, data=st.data())
def test_shape_size(shape: tuple, dtype: Any, seed: int, data: st.DataObject) -> None:
    x = make_array(shape, dtype, seed)
    check("Shape", [x], {})
    start = data.draw(st.integers(-6, 6), label="start")
    end = data.draw(st.integers(-6, 6), label="end")
    check("Shape", [x], {"start": start, "end": end})
    check("Shape", [x], {"start": start})
    check("Size", [x], {})


# ----------------------------------------------------------------------------- Cast
CAST_TARGETS = [np.float32, np.float16, np.int8, np.uint8, np.int32, np.int64, np.bool_, np.float64]


@given(shape=shapes, src=dtypes, dst=st.sampled_from(CAST_TARGETS), seed=seeds)
def test_cast(shape: tuple, src: Any, dst: Any, seed: int) -> None:
    x = make_array(shape, src, seed)
    src_kind, dst_kind = np.dtype(src).kind, np.dtype(dst).kind
    if src_kind == "f" and dst_kind in "iu":
        x = np.abs(x) if dst_kind == "u" else x  # float -> int is only defined in range
        x = np.clip(x, -100, 100).astype(src)
    if src_kind == "f" and dst == np.float16:
        x = (x * np.float32(2000.0)).astype(src) if src != np.float16 else x  # exercise fp16 overflow
    attrs = {"to": helper.np_dtype_to_tensor_dtype(np.dtype(dst))}
    check("Cast", [x], attrs)


@given(shape=shapes, src=dtypes, dst=st.sampled_from(CAST_TARGETS), seed=seeds,
       cuts=st.lists(st.integers(0, 8), max_size=4), precision=st.sampled_from(["fp32", "bf16"]))
def test_cast_rows(shape: tuple, src: Any, dst: Any, seed: int, cuts: list, precision: str) -> None:
    """Cast streams: any split into row bands (axis -2, as the elementwise kernels) equals the whole Cast,
    also for the bf16 Cast, which rounds each band."""
    x = make_array(shape, src, seed)
    if np.dtype(src).kind == "f" and np.dtype(dst).kind in "iu":
        x = np.clip(np.abs(x), 0, 100).astype(src)  # float -> int is only defined in range
    kernel = get_kernel("Cast", precision)
    assert kernel.run_rows is not None and kernel.row_axis == -2
    check_rows(kernel, [x], {"to": helper.np_dtype_to_tensor_dtype(np.dtype(dst))}, cuts)


def test_cast_refuses_unrepresentable_types() -> None:
    with pytest.raises(NotImplementedError, match="bfloat16"):
        ours("Cast", [np.ones(2, np.float32)], {"to": 16})


# ----------------------------------------------------------------------------- generators
@given(shape=st.lists(st.integers(0, 4), max_size=3), dtype=dtypes, seed=seeds)
def test_constant_of_shape(shape: list, dtype: Any, seed: int) -> None:
    value = make_array((1,), dtype, seed)
    tensor = numpy_helper.from_array(value, "value")
    shape_arr = np.array(shape, dtype=np.int64)
    want = ort_single_node("ConstantOfShape", [shape_arr], {"value": tensor})[0]
    assert_same(ours("ConstantOfShape", [shape_arr], {"value": tensor})[0], want)
    assert_same(ours("ConstantOfShape", [shape_arr], {"value": value})[0], want)
    default = ort_single_node("ConstantOfShape", [shape_arr], {})[0]
    assert_same(ours("ConstantOfShape", [shape_arr], {})[0], default)


@given(shape=st.lists(st.integers(0, 4), max_size=3), dtype=dtypes, seed=seeds)
def test_constant(shape: list, dtype: Any, seed: int) -> None:
    """Constant's value tensor, and its list forms (value_floats / value_ints), as onnxruntime gives them."""
    value = make_array(tuple(shape), dtype, seed)
    tensor = numpy_helper.from_array(value, "value")
    assert_same(ours("Constant", [], {"value": tensor})[0], ort_single_node("Constant", [], {"value": tensor})[0])
    floats = [float(v) for v in value.astype(np.float32).reshape(-1)] or [0.5]
    assert_same(ours("Constant", [], {"value_floats": floats})[0],
                ort_single_node("Constant", [], {"value_floats": floats})[0])
    ints = [int(v) for v in np.arange(len(shape) + 1) * (seed % 7 - 3)]  # helper needs a non-empty list
    assert_same(ours("Constant", [], {"value_int": 7})[0], ort_single_node("Constant", [], {"value_int": 7})[0])
    assert_same(ours("Constant", [], {"value_ints": ints})[0], ort_single_node("Constant", [], {"value_ints": ints})[0])


def test_constant_refuses_a_string_value() -> None:
    with pytest.raises(ValueError, match="no supported value attribute \\(value_string\\)"):
        ours("Constant", [], {"value_string": "x"})


@given(
    dtype=st.sampled_from([np.float32, np.int32, np.int64]),
    start=st.integers(-20, 20),
    limit=st.integers(-20, 20),
    delta=st.sampled_from([1, 2, 3, -1, -2, 0.3, -0.7, 0.1]),
)
def test_range(dtype: Any, start: int, limit: int, delta: float) -> None:
    if np.dtype(dtype).kind == "i" and delta != int(delta):
        delta = 2
    if np.dtype(dtype).kind == "f":
        start, limit = start / 3, limit / 7
    args = [np.array(v, dtype=dtype) for v in (start, limit, delta)]
    check("Range", args, {})


@given(shape=shapes, dtype=dtypes, seed=seeds)
def test_identity_dropout(shape: tuple, dtype: Any, seed: int) -> None:
    x = make_array(shape, dtype, seed)
    check("Identity", [x], {})
    if np.dtype(dtype).kind == "f":  # onnxruntime's Dropout is float-only
        check("Dropout", [x], {}, n_outputs=2)
        check("Dropout", [x, np.array(0.3, dtype=x.dtype), np.array(False)], {}, n_outputs=2)
    else:  # the frontend may still fold it on other types: identity with an all-true mask
        y, mask = ours("Dropout", [x], {})
        assert_same(y, x)
        assert mask.dtype == np.bool_ and mask.shape == x.shape and mask.all()


def test_dropout_training_refused() -> None:
    with pytest.raises(NotImplementedError):
        ours("Dropout", [np.ones(3, np.float32), np.array(0.5, np.float32), np.array(True)], {})


# ----------------------------------------------------------------------------- logic
def broadcast_partner(shape: tuple, data: st.DataObject) -> tuple:
    """A shape that broadcasts against ``shape`` (some dims 1, maybe fewer dims)."""
    drop = data.draw(st.integers(0, len(shape) - 1), label="drop leading")
    return tuple(d if data.draw(st.booleans(), label="keep") else 1 for d in shape[drop:])


@given(shape=shapes, dtype=dtypes, seed=seeds, data=st.data())
def test_compare_where(shape: tuple, dtype: Any, seed: int, data: st.DataObject) -> None:
    a = make_array(shape, dtype, seed)
    b_shape = broadcast_partner(shape, data)
    b = make_array(b_shape, dtype, seed + 1)
    if data.draw(st.booleans(), label="share values"):
        b = a.copy()  # every element equal: Equal true, Less/Greater false
    check("Equal", [a, b], {})
    cond = make_array(broadcast_partner(shape, data), np.bool_, seed + 2)
    if dtype == np.bool_:  # onnxruntime has no bool Less/Greater (ONNX neither) nor bool Where
        got = ours("Where", [cond, a, b], {})[0]
        want = ort_single_node("Where", [cond, a.astype(np.uint8), b.astype(np.uint8)], {})[0]
        want = want.astype(np.bool_)
        assert_same(got, want)
        check("Not", [a], {})
        check("And", [a, b], {})
        return
    check("Less", [a, b], {})
    check("Greater", [a, b], {})
    check("Where", [cond, a, b], {})


@given(shape=shapes, dtype=dtypes, seed=seeds, data=st.data(), cuts=st.lists(st.integers(0, 8), max_size=4))
def test_compare_where_rows(shape: tuple, dtype: Any, seed: int, data: st.DataObject, cuts: list) -> None:
    """The logic ops stream: any split into row bands equals the whole op, inputs broadcasting included."""
    a = make_array(shape, dtype, seed)
    b = make_array(broadcast_partner(shape, data), dtype, seed + 1)
    cond = make_array(broadcast_partner(shape, data), np.bool_, seed + 2)
    cases = [("Equal", [a, b]), ("Less", [a, b]), ("Greater", [a, b]), ("Where", [cond, a, b]),
             ("Where", [a.astype(np.bool_), b, a]), ("Not", [cond]), ("And", [cond, a.astype(np.bool_)])]
    for op, inputs in cases:
        kernel = get_kernel(op, "fp32")
        assert kernel.run_rows is not None and kernel.row_axis == -2
        check_rows(kernel, inputs, {}, cuts)


def test_registered_once_under_any() -> None:
    ops = [
        "Concat", "Split", "Slice", "Pad", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
        "Gather", "Expand", "Tile", "Shape", "Size", "Cast", "ConstantOfShape", "Range", "Identity",
        "Dropout", "Where", "Equal", "Less", "Greater", "Not", "And",
    ]
    for op in ops:
        for precision in ("fp32", "fp16", "int8"):
            kernel = get_kernel(op, precision)
            assert kernel.precision == ANY and kernel.op_type == op
    for op in ("Slice", "Concat", "Pad"):
        assert get_kernel(op, "fp32").row_axis == 2
