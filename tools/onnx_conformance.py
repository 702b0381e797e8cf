"""onnx's backend node tests through gspsim: generate them, run them, compare like onnx's runner, report.

    python tools/onnx_conformance.py                  # run every case, print the pass rates
    python tools/onnx_conformance.py --ort            # ... and onnxruntime's on the same cases
    python tools/onnx_conformance.py --out DIR        # also write each case: DIR/<case>/model.onnx + test_data_set_0/*.pb
    python tools/onnx_conformance.py --update-expected  # rewrite tests/onnx_conformance_expected.toml

The cases come from the installed onnx package (``onnx.backend.test.case``
builds them in memory).  Each runs through ``gspsim.simulate`` with the
kernels executing, in this one process (compiled kernels are reused), and its
outputs are compared as onnx's backend runner does: the same number of
outputs, each of the expected shape and dtype, within ``np.testing.assert_allclose``
at the case's rtol / atol (1e-3 / 1e-7).  An outcome is ``pass``, ``differs``
(outputs outside tolerance), ``refused`` (a one-line gspsim error: an op,
attribute, type or version gspsim does not run) or ``crash`` (any other
exception: a gspsim bug).  ``tests/test_onnx_conformance.py`` runs the same
and compares the outcomes with the checked-in expected list.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import time
import traceback
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the checkout's gspsim, not another installed copy
EXPECTED = ROOT / "tests" / "onnx_conformance_expected.toml"
#: ops whose node tests exercise training (gradients, optimizers, losses, training-mode normalization)
TRAINING_CASE = re.compile(
    r"^test_(adagrad|adam|momentum|nesterov_momentum|gradient|softmax_cross_entropy|negative_log_likelihood|"
    r"sce_|nllloss|training_dropout|batchnorm_.*training_mode|dropout_.*training)")


@dataclass(frozen=True)
class Case:
    """One node test: its model and one data set of (inputs, expected outputs)."""

    name: str
    model: onnx.ModelProto
    inputs: tuple[Any, ...]
    outputs: tuple[Any, ...]
    rtol: float
    atol: float

    @property
    def training(self) -> bool:
        return bool(TRAINING_CASE.match(self.name))


@dataclass(frozen=True)
class Outcome:
    case: str
    status: str  # pass | differs | refused | crash
    detail: str = ""


def collect_cases(pattern: Optional[str] = None) -> list[Case]:
    """Every node test case of the installed onnx (those matching ``pattern``, a regex, if given)."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = collect_testcases()
    cases = []
    for tc in raw:
        if pattern and not re.search(pattern, tc.name):
            continue
        for inputs, outputs in (tc.data_sets or [])[:1]:
            cases.append(Case(tc.name, tc.model, tuple(inputs), tuple(outputs), tc.rtol, tc.atol))
    return sorted(cases, key=lambda c: c.name)


def _to_array(value: Any) -> Any:
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    return value


def _proto(value: Any, vi: onnx.ValueInfoProto) -> bytes:
    if vi.type.HasField("sequence_type"):
        return numpy_helper.from_list(value, vi.name).SerializeToString()
    if vi.type.HasField("optional_type"):
        return numpy_helper.from_optional(value, vi.name).SerializeToString()
    if isinstance(value, onnx.TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(np.asarray(value), vi.name).SerializeToString()


def write_case(case: Case, folder: Path) -> Path:
    """onnx's on-disk layout: ``folder/model.onnx`` and ``folder/test_data_set_0/{input,output}_<i>.pb``."""
    data = folder / "test_data_set_0"
    data.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(case.model.SerializeToString())
    inputs = [vi for vi in case.model.graph.input if vi.name not in {t.name for t in case.model.graph.initializer}]
    for i, (value, vi) in enumerate(zip(case.inputs, inputs)):
        (data / f"input_{i}.pb").write_bytes(_proto(value, vi))
    for i, (value, vi) in enumerate(zip(case.outputs, case.model.graph.output)):
        (data / f"output_{i}.pb").write_bytes(_proto(value, vi))
    return folder / "model.onnx"


def compare(expected: Sequence[Any], actual: Sequence[Any], rtol: float, atol: float) -> Optional[str]:
    """onnx's ``assert_similar_outputs``: None when they agree, else the first difference on one line."""
    if len(expected) != len(actual):
        return f"{len(actual)} outputs, expected {len(expected)}"
    for i, (ref, out) in enumerate(zip(expected, actual)):
        if isinstance(ref, (list, tuple)) or isinstance(out, (list, tuple)):
            if not isinstance(ref, (list, tuple)) or not isinstance(out, (list, tuple)):
                return f"output {i}: a sequence against a tensor"
            inner = compare(ref, out, rtol, atol)
            if inner is not None:
                return f"output {i}: {inner}"
            continue
        if ref is None or out is None:
            if ref is not out:
                return f"output {i}: an empty optional against a value"
            continue
        ref, out = np.asarray(_to_array(ref)), np.asarray(out)
        if ref.shape != out.shape:
            return f"output {i}: shape {list(out.shape)}, expected {list(ref.shape)}"
        if ref.dtype == object:
            if not np.array_equal(ref, out):
                return f"output {i}: strings differ"
            continue
        if ref.dtype != out.dtype:
            return f"output {i}: dtype {out.dtype}, expected {ref.dtype}"
        try:
            np.testing.assert_allclose(out, ref, rtol=rtol, atol=atol)
        except AssertionError as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            return f"output {i}: " + "; ".join(lines[1:4])[:300]
        except TypeError as exc:
            return f"output {i}: cannot compare ({exc})"
    return None


def run_gspsim(case: Case, folder: Path) -> Outcome:
    """Write ``case`` under ``folder`` and simulate it with gspsim's kernels executing."""
    import gspsim
    from gspsim.errors import GspsimError

    path = write_case(case, folder / case.name)
    names = [vi.name for vi in case.model.graph.input if vi.name not in {t.name for t in case.model.graph.initializer}]
    try:
        inputs = {n: _to_array(v) for n, v in zip(names, case.inputs)}
        sink = io.StringIO()
        with warnings.catch_warnings(), redirect_stdout(sink), redirect_stderr(sink):
            warnings.simplefilter("ignore")
            result = gspsim.simulate(str(path), inputs=inputs, accuracy_samples=0)
        actual = [result.outputs[vi.name] for vi in case.model.graph.output]
    except GspsimError as exc:
        return Outcome(case.name, "refused", str(exc).replace(str(path), "model.onnx"))
    except Exception as exc:  # a gspsim bug: keep where it happened
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return Outcome(case.name, "crash", f"{type(exc).__name__}: {str(exc)[:200]} "
                                           f"({Path(tb.filename).name}:{tb.lineno})")
    diff = compare(case.outputs, actual, case.rtol, case.atol)
    return Outcome(case.name, "pass" if diff is None else "differs", diff or "")


def run_onnxruntime(case: Case) -> Outcome:
    """The same case through onnxruntime (CPU), compared the same way."""
    import onnxruntime as ort

    ort.set_default_logger_severity(4)
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(case.model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        feeds = {i.name: _to_array(v) for i, v in zip(session.get_inputs(), case.inputs)}
        actual = session.run(None, feeds)
    except Exception as exc:  # onnxruntime refuses or fails the case
        return Outcome(case.name, "refused", " ".join(str(exc).split())[:200])
    diff = compare(case.outputs, actual, case.rtol, case.atol)
    return Outcome(case.name, "pass" if diff is None else "differs", diff or "")


#: (pattern of a case name or of gspsim's message, the reason written in the expected list), first match wins
REASONS: tuple[tuple[str, str], ...] = (
    (r"^case:test_(adagrad|adam|momentum|nesterov|gradient)", "training: an optimizer or gradient op"),
    (r"^case:test_(softmax_cross_entropy|sce_|negative_log_likelihood|nllloss)", "training: a loss"),
    (r"^case:.*training", "training: training-mode BatchNormalization / Dropout"),
    (r"^case:test_ai_onnx_ml", "ai.onnx.ml domain (classical ML operators)"),
    (r"string|String|Regex|dtype object", "string tensors: gspsim simulates numeric tensors"),
    (r"is not a tensor", "sequence, map or optional values: gspsim simulates tensors"),
    (r"Sequence|Optional", "sequence or optional values: gspsim simulates tensors"),
    (r"\((If|Loop|Scan)\)|op_type:(If|Loop|Scan)", "control flow (If, Loop, Scan): not decided when the model loads"),
    (r"no static shape", "an output shape that depends on the input values (no static shape)"),
    (r"unsupported op", "an op without a kernel"),
    (r"not supported:", "an attribute, mode or type the kernel does not implement"),
    (r"shape inference failed", "onnx's shape inference refuses the model"),
    (r"newer than supported", "a version newer than the installed onnx defines"),
)


def reason(outcome: Outcome) -> str:
    """Why gspsim does not pass a case, for the expected list: a category, then gspsim's own message."""
    detail = " ".join(outcome.detail.split())
    for pattern, text in REASONS:
        target = "case:" + outcome.case if pattern.startswith("^case:") else detail
        if re.search(pattern, target):
            return f"{text} -- {detail}"[:240] if detail else text
    return detail[:240] or outcome.status


def read_expected(path: Path = EXPECTED) -> dict[str, tuple[str, str]]:
    """``{case: (status, reason)}`` of the checked-in list."""
    import tomllib

    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return {case: (status, text) for status in ("refused", "differs") for case, text in data.get(status, {}).items()}


def write_expected(outcomes: Sequence[Outcome], path: Path = EXPECTED) -> None:
    """The expected list: every case gspsim does not pass, by outcome, each with its reason."""
    lines = [
        "# onnx's backend node tests (onnx " + onnx.__version__ + ") that gspsim does not pass, each with its reason.",
        "# tests/test_onnx_conformance.py fails when a case listed here passes or one not listed does not, so a",
        "# change in conformance shows in review. Regenerate: python tools/onnx_conformance.py --update-expected",
    ]
    for status in ("refused", "differs"):
        lines += ["", f"[{status}]"]
        for o in sorted((o for o in outcomes if o.status == status), key=lambda o: o.case):
            text = reason(o).replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{o.case} = "{text}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_all(cases: Sequence[Case], folder: Path, progress: bool = False) -> Iterator[Outcome]:
    for i, case in enumerate(cases):
        if progress:
            print(f"\r{i + 1}/{len(cases)} {case.name[:60]:60s}", end="", file=sys.stderr, flush=True)
        yield run_gspsim(case, folder)
    if progress:
        print(file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write every case here (default: a temporary folder)")
    parser.add_argument("--only", metavar="REGEX", help="only cases whose name matches")
    parser.add_argument("--ort", action="store_true", help="also run onnxruntime on every case")
    parser.add_argument("--show", default="crash,differs", help="outcomes to list (default crash,differs)")
    parser.add_argument("--update-expected", action="store_true",
                        help=f"rewrite {EXPECTED.relative_to(ROOT)} from this run (every case must have run)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    cases = collect_cases(args.only)
    print(f"{len(cases)} cases from onnx {onnx.__version__} ({time.perf_counter() - start:.1f} s)")
    with tempfile.TemporaryDirectory(prefix="gspsim-conformance-") as tmp:
        folder = args.out or Path(tmp)
        start = time.perf_counter()
        outcomes = list(run_all(cases, folder, progress=sys.stderr.isatty()))
        took = time.perf_counter() - start
    show = set(args.show.split(","))
    for o in outcomes:
        if o.status in show:
            print(f"{o.status:8s} {o.case}: {o.detail}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("pass", "differs", "refused", "crash")}
    print(f"gspsim: {counts} in {took:.1f} s")
    if args.update_expected:
        if args.only or counts["crash"]:
            parser.error("--update-expected needs a full run without crashes")
        write_expected(outcomes)
        print(f"wrote {EXPECTED.relative_to(ROOT)}")
    if args.ort:
        ort_outcomes = {o.case: o for o in (run_onnxruntime(c) for c in cases)}
        by_case = {o.case: o for o in outcomes}
        training = {c.name for c in cases if c.training}
        ort_pass = [n for n, o in ort_outcomes.items() if o.status == "pass"]
        both = [n for n in ort_pass if n not in training and by_case[n].status == "pass"]
        eligible = [n for n in ort_pass if n not in training]
        print(f"onnxruntime passes {len(ort_pass)} of {len(cases)}; of the {len(eligible)} non-training ones, "
              f"gspsim passes {len(both)} ({100 * len(both) / max(1, len(eligible)):.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
