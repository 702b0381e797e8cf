"""Kernel throughput: gspsim's int8 and fp32 kernels against onnxruntime fp32 on the same shapes.

Usage: ``python benchmarks/bench_kernels.py [--json PATH] [--threads N] [--quick] [--only TEXT]``

Cases are ResNet-18 and MobileNetV2 convolutions at 224x224 (batch 1; 7x7 stem, 3x3,
strided, 1x1 and depthwise layers) and transformer matmuls (BERT-base sizes, 128 tokens).
For each case, in one process, it times

* gspsim int8: QLinearConv / QLinearMatMul (uint8 activations, int8 per-channel weights),
* gspsim fp32: Conv / MatMul, both as the engine runs them: weights packed once
  (``Kernel.prepare``, as onnxruntime prepacks them when it creates a session), then every
  output row per timed call,
* onnxruntime fp32 (and, for reference, onnxruntime int8) on a one-node model with the
  weights as initializers and default graph optimizations,

and prints GOPS (2 x multiply-accumulates per second) and the ratios to onnxruntime
fp32.  After one warm-up call each, the implementations of a case are timed in
interleaved rounds (so a busy machine slows them alike) and the table uses the fastest
round of each (the JSON also has medians).  The first call of each gspsim kernel (Numba
compilation or cache load, plus one run) is reported separately.
gspsim's kernels are single-threaded; onnxruntime and BLAS get ``--threads`` threads
(default 1, for a like-for-like comparison).  The int8 result is also compared with
onnxruntime's int8 result (``exact`` column).  Kernels not registered yet are skipped
with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

# thread counts must be fixed before numpy / onnxruntime load their thread pools
_THREADS = "1"
for _i, _arg in enumerate(sys.argv):
    if _arg == "--threads" and _i + 1 < len(sys.argv):
        _THREADS = sys.argv[_i + 1]
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, _THREADS)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from gspsim.kernels import UnsupportedKernel, get_kernel  # noqa: E402


@dataclass(frozen=True)
class ConvCase:
    name: str
    c_in: int
    c_out: int
    hw: int
    k: int
    stride: int
    group: int = 1

    @property
    def out_hw(self) -> int:
        return (self.hw + 2 * (self.k // 2) - self.k) // self.stride + 1

    @property
    def macs(self) -> int:
        return self.c_out * self.out_hw**2 * (self.c_in // self.group) * self.k * self.k


@dataclass(frozen=True)
class MatMulCase:
    name: str
    m: int
    k: int
    n: int

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n


CONV_CASES = (
    ConvCase("resnet18.conv1 7x7/2 3->64 @224", 3, 64, 224, 7, 2),
    ConvCase("resnet18.layer1 3x3 64->64 @56", 64, 64, 56, 3, 1),
    ConvCase("resnet18.layer2 3x3/2 64->128 @56", 64, 128, 56, 3, 2),
    ConvCase("resnet18.layer2.down 1x1/2 64->128 @56", 64, 128, 56, 1, 2),
    ConvCase("resnet18.layer3 3x3 256->256 @14", 256, 256, 14, 3, 1),
    ConvCase("resnet18.layer4 3x3 512->512 @7", 512, 512, 7, 3, 1),
    ConvCase("mobilenetv2.stem 3x3/2 3->32 @224", 3, 32, 224, 3, 2),
    ConvCase("mobilenetv2.expand 1x1 16->96 @112", 16, 96, 112, 1, 1),
    ConvCase("mobilenetv2.dw 3x3/2 96 @112", 96, 96, 112, 3, 2, group=96),
    ConvCase("mobilenetv2.dw 3x3 144 @56", 144, 144, 56, 3, 1, group=144),
    ConvCase("mobilenetv2.project 1x1 144->24 @56", 144, 24, 56, 1, 1),
    ConvCase("mobilenetv2.head 1x1 320->1280 @7", 320, 1280, 7, 1, 1),
)
MATMUL_CASES = (
    MatMulCase("transformer qkv/out 128x768x768", 128, 768, 768),
    MatMulCase("transformer ffn-up 128x768x3072", 128, 768, 3072),
    MatMulCase("transformer ffn-down 128x3072x768", 128, 3072, 768),
)
QUICK = ("resnet18.layer1 3x3 64->64 @56", "mobilenetv2.dw 3x3 144 @56", "transformer qkv/out 128x768x768")


@dataclass
class Result:
    name: str
    gop: float
    seconds: dict[str, float] = field(default_factory=dict)
    median_seconds: dict[str, float] = field(default_factory=dict)
    first_call_s: dict[str, float] = field(default_factory=dict)
    int8_exact_vs_ort: Optional[bool] = None
    notes: list[str] = field(default_factory=list)

    def gops(self, key: str) -> Optional[float]:
        t = self.seconds.get(key)
        return None if t is None else self.gop / t


def measure(fns: dict[str, Callable[[], Any]], result: Result, min_time: float, max_rounds: int = 200) -> None:
    """Time every callable in interleaved rounds (after one warm-up call each): best and median."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {key: [] for key in fns}
    start = time.perf_counter()
    rounds = 0
    while rounds < 3 or (time.perf_counter() - start < min_time * len(fns) and rounds < max_rounds):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
        rounds += 1
    for key, ts in times.items():
        result.seconds[key] = float(np.min(ts))
        result.median_seconds[key] = float(np.median(ts))


def ort_session(node: Any, inputs: list, initializers: list, output: Any, threads: int) -> ort.InferenceSession:
    graph = helper.make_graph([node], "bench", inputs, [output], initializers)
    opsets = [helper.make_opsetid("", 20)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 9
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _value_info(name: str, arr: np.ndarray) -> Any:
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype), arr.shape)


def _init(name: str, arr: np.ndarray) -> Any:
    return numpy_helper.from_array(np.asarray(arr), name)


def _kernel_or_none(op: str, precision: str, result: Result) -> Optional[Any]:
    try:
        return get_kernel(op, precision)
    except UnsupportedKernel:
        result.notes.append(f"{op} ({precision}) not registered: skipped")
        return None


def _first_call(
    key: str, kernel: Any, inputs: list, attrs: dict, result: Result
) -> tuple[np.ndarray, Callable[[], Any]]:
    """Run a gspsim kernel once (timing the first call) and return its output and a re-run callable.

    The re-run is what the engine does per frame: a kernel with ``prepare`` packs its weights
    once (as onnxruntime does when it creates a session) and then computes every output row
    with the prepared function; other kernels run whole.
    """
    t0 = time.perf_counter()
    out = kernel.run(inputs, attrs)[0]
    result.first_call_s[key] = time.perf_counter() - t0
    prepare = getattr(kernel, "prepare", None)  # (absent in kernel libraries before it existed)
    if prepare is None:
        return out, lambda: kernel.run(inputs, attrs)
    prepared = prepare(inputs, attrs)
    rows = np.empty_like(out)
    extent = out.shape[kernel.row_axis]
    prepared(inputs, rows, 0, extent)
    if not np.array_equal(rows, out):
        raise AssertionError(f"{result.name}: prepared {kernel.op_type} differs from run")
    return out, lambda: prepared(inputs, rows, 0, extent)


def quant_params(rng: np.random.Generator, c_out: int) -> dict[str, np.ndarray]:
    return {
        "x_scale": np.array(0.02, np.float32),
        "x_zp": np.array(128, np.uint8),
        "w_scale": rng.uniform(0.002, 0.01, c_out).astype(np.float32),
        "w_zp": np.zeros(c_out, np.int8),
        "y_scale": np.array(0.05, np.float32),
        "y_zp": np.array(128, np.uint8),
    }


def bench_conv(case: ConvCase, threads: int, min_time: float) -> Result:
    rng = np.random.default_rng(0)
    result = Result(case.name, 2 * case.macs / 1e9)
    pad = case.k // 2
    attrs = {"kernel_shape": [case.k, case.k], "strides": [case.stride] * 2, "pads": [pad] * 4, "group": case.group}
    x = rng.standard_normal((1, case.c_in, case.hw, case.hw)).astype(np.float32)
    w = (rng.standard_normal((case.c_out, case.c_in // case.group, case.k, case.k)) * 0.1).astype(np.float32)
    b = rng.standard_normal(case.c_out).astype(np.float32)
    xq = rng.integers(0, 256, x.shape).astype(np.uint8)
    wq = rng.integers(-127, 128, w.shape).astype(np.int8)
    bq = rng.integers(-5000, 5000, case.c_out).astype(np.int32)
    q = quant_params(rng, case.c_out)
    q_inputs = [xq, q["x_scale"], q["x_zp"], wq, q["w_scale"], q["w_zp"], q["y_scale"], q["y_zp"], bq]

    fns: dict[str, Callable[[], Any]] = {}
    ours_int8 = None
    kernel = _kernel_or_none("QLinearConv", "int8", result)
    if kernel is not None:
        ours_int8, fns["gspsim_int8"] = _first_call("gspsim_int8", kernel, q_inputs, attrs, result)
    kernel = _kernel_or_none("Conv", "fp32", result)
    if kernel is not None:
        fns["gspsim_fp32"] = _first_call("gspsim_fp32", kernel, [x, w, b], attrs, result)[1]

    out_shape = (1, case.c_out, case.out_hw, case.out_hw)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
    sess32 = ort_session(node, [_value_info("x", x)], [_init("w", w), _init("b", b)],
                         helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape), threads)  # fmt: skip
    fns["ort_fp32"] = lambda: sess32.run(None, {"x": x})

    names = ["x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp", "b"]
    node = helper.make_node("QLinearConv", names, ["y"], **attrs)
    inits = [_init(n, v) for n, v in zip(names[1:], q_inputs[1:])]
    sess8 = ort_session(node, [_value_info("x", xq)], inits,
                        helper.make_tensor_value_info("y", TensorProto.UINT8, out_shape), threads)  # fmt: skip
    fns["ort_int8"] = lambda: sess8.run(None, {"x": xq})
    measure(fns, result, min_time)
    if ours_int8 is not None:
        result.int8_exact_vs_ort = bool(np.array_equal(ours_int8, sess8.run(None, {"x": xq})[0]))
    return result


def bench_matmul(case: MatMulCase, threads: int, min_time: float) -> Result:
    rng = np.random.default_rng(0)
    result = Result(case.name, 2 * case.macs / 1e9)
    a = rng.standard_normal((case.m, case.k)).astype(np.float32)
    b = (rng.standard_normal((case.k, case.n)) * 0.05).astype(np.float32)
    aq = rng.integers(0, 256, a.shape).astype(np.uint8)
    bq = rng.integers(-127, 128, b.shape).astype(np.int8)
    q = quant_params(rng, case.n)
    q_inputs = [aq, q["x_scale"], q["x_zp"], bq, q["w_scale"], q["w_zp"], np.array(2.0, np.float32), q["y_zp"]]

    fns: dict[str, Callable[[], Any]] = {}
    ours_int8 = None
    kernel = _kernel_or_none("QLinearMatMul", "int8", result)
    if kernel is not None:
        ours_int8, fns["gspsim_int8"] = _first_call("gspsim_int8", kernel, q_inputs, {}, result)
    kernel = _kernel_or_none("MatMul", "fp32", result)
    if kernel is not None:
        fns["gspsim_fp32"] = _first_call("gspsim_fp32", kernel, [a, b], {}, result)[1]

    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    sess32 = ort_session(node, [_value_info("a", a)], [_init("b", b)],
                         helper.make_tensor_value_info("y", TensorProto.FLOAT, (case.m, case.n)), threads)  # fmt: skip
    fns["ort_fp32"] = lambda: sess32.run(None, {"a": a})

    names = ["a", "a_scale", "a_zp", "b", "b_scale", "b_zp", "y_scale", "y_zp"]
    node = helper.make_node("QLinearMatMul", names, ["y"])
    inits = [_init(n, v) for n, v in zip(names[1:], q_inputs[1:])]
    sess8 = ort_session(node, [_value_info("a", aq)], inits,
                        helper.make_tensor_value_info("y", TensorProto.UINT8, (case.m, case.n)), threads)  # fmt: skip
    fns["ort_int8"] = lambda: sess8.run(None, {"a": aq})
    measure(fns, result, min_time)
    if ours_int8 is not None:
        result.int8_exact_vs_ort = bool(np.array_equal(ours_int8, sess8.run(None, {"a": aq})[0]))
    return result


def _fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: list[Result]) -> None:
    head = (
        f"{'case':42s} {'GOP':>6s} {'int8':>7s} {'fp32':>7s} {'ORT32':>7s} {'ORT8':>7s}"
        f" {'int8/ORT32':>10s} {'fp32/ORT32':>10s} {'exact':>5s} {'1st int8 s':>10s} {'1st fp32 s':>10s}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        g8, g32, o32, o8 = (r.gops(k) for k in ("gspsim_int8", "gspsim_fp32", "ort_fp32", "ort_int8"))
        ratio8 = None if g8 is None or o32 is None else g8 / o32
        ratio32 = None if g32 is None or o32 is None else g32 / o32
        exact = "-" if r.int8_exact_vs_ort is None else ("yes" if r.int8_exact_vs_ort else "NO")
        print(
            f"{r.name:42s} {r.gop:6.2f} {_fmt(g8, '7.1f')} {_fmt(g32, '7.1f')} {_fmt(o32, '7.1f')} {_fmt(o8, '7.1f')}"
            f" {_fmt(ratio8, '10.2f')} {_fmt(ratio32, '10.2f')} {exact:>5s}"
            f" {_fmt(r.first_call_s.get('gspsim_int8'), '10.3f')} {_fmt(r.first_call_s.get('gspsim_fp32'), '10.3f')}"
        )
        for note in r.notes:
            print(f"    note: {note}")
    ratios = [
        r.gops("gspsim_int8") / r.gops("ort_fp32") for r in results if r.gops("gspsim_int8") and r.gops("ort_fp32")
    ]
    if ratios:
        geo = float(np.exp(np.mean(np.log(ratios))))
        print(
            f"\nint8 / onnxruntime fp32 throughput: geometric mean {geo:.2f}, "
            f"min {min(ratios):.2f} over {len(ratios)} cases"
        )
    print("GOPS = 2 x MACs / seconds of the fastest interleaved round; gspsim kernels single-threaded.")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    parser.add_argument("--threads", type=int, default=int(_THREADS), help="onnxruntime / BLAS threads (default 1)")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds of repeats per measurement")
    parser.add_argument("--quick", action="store_true", help="three representative cases only")
    parser.add_argument("--only", metavar="TEXT", action="append", default=[],
                        help="only the cases whose name contains TEXT (repeatable)")
    args = parser.parse_args(argv)

    results: list[Result] = []
    for case in CONV_CASES + MATMUL_CASES:
        if args.quick and case.name not in QUICK:
            continue
        if args.only and not any(text in case.name for text in args.only):
            continue
        bench = bench_conv if isinstance(case, ConvCase) else bench_matmul
        results.append(bench(case, args.threads, args.min_time))  # type: ignore[arg-type]
        print(f"  measured {case.name}", file=sys.stderr, flush=True)
    print_table(results)
    if args.json:
        payload = {
            "threads": args.threads,
            "cpu_count": os.cpu_count(),
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
            "results": [
                {**asdict(r), "gops": {k: r.gops(k) for k in r.seconds}} for r in results
            ],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
