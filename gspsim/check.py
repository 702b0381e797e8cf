"""``--check``: compare the simulator's outputs with onnxruntime on the same model and inputs.

The error measure is per output: ``max_abs_err`` and ``max_rel_err`` =
``max_abs_err / max(|reference|)`` (relative to the output's magnitude, so a
near-zero element does not blow it up).  The tolerance is per precision
(:data:`TOLERANCE`).

The reference session asks onnxruntime for exact integer sums
(:data:`EXACT_INT8_SESSION_OPTION`): by default, on x86 CPUs without VNNI, its
uint8 x int8 kernels add pairs of products into a saturated int16, so a
quantized model with full 8-bit weights would "fail" the check there while
gspsim is exact (docs/precision.md, "onnxruntime as the int8 reference").
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .errors import GspsimError
from .results.result import CheckResult

#: the documented relative tolerance of --check, by precision (int8: a float model quantized by gspsim,
#: compared with onnxruntime running the float model)
TOLERANCE: Mapping[str, float] = {"fp32": 1e-4, "fp16": 2e-2, "bf16": 5e-2, "int8": 2.5e-1}
#: a model that comes quantized, compared with onnxruntime running the same quantized model (about 2 LSB)
QUANTIZED_MODEL_TOLERANCE = 2e-2
#: onnxruntime's session option for exact uint8 x int8 sums on x86 without VNNI (its int8 weights are
#: re-biased to uint8 and multiplied by the exact uint8 x uint8 kernels; no effect elsewhere)
EXACT_INT8_SESSION_OPTION = ("session.x64quantprecision", "1")


def _session(ort: Any, model_path: str) -> Any:
    """A CPU session with exact int8 sums; without the option if onnxruntime cannot build the model
    with it (its weight re-biasing leaves, e.g., a uint8 com.microsoft QGemm it has no kernel for)."""

    def build(exact_int8: bool) -> Any:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if exact_int8:
            options.add_session_config_entry(*EXACT_INT8_SESSION_OPTION)
        return ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])

    try:
        return build(exact_int8=True)
    except Exception:  # noqa: BLE001 - onnxruntime raises its own exception types; retried without the option
        return build(exact_int8=False)


def run_onnxruntime(model_path: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """onnxruntime's outputs for ``model_path`` (read by onnxruntime itself, not by gspsim)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise GspsimError("--check needs onnxruntime: pip install 'gspsim[test]' (or pip install onnxruntime)") from None
    try:
        session = _session(ort, model_path)
        names = [o.name for o in session.get_outputs()]
        feeds = {i.name: inputs[i.name] for i in session.get_inputs() if i.name in inputs}
        return dict(zip(names, session.run(names, feeds)))
    except Exception as exc:  # onnxruntime raises its own exception types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GspsimError(f"--check: onnxruntime cannot run {model_path}: {first}") from None


def _same_non_finite(sim: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Where both are NaN, or both the same infinity."""
    return (np.isnan(sim) & np.isnan(ref)) | (np.isinf(sim) & (sim == ref))


def compare_outputs(
    simulated: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    precision: str,
    quantized_model: bool = False,
) -> CheckResult:
    """Per-output errors against onnxruntime; the verdict against the precision's tolerance.

    A NaN or infinity where onnxruntime has the same counts as equal (the model computes it: NaN or Inf
    weights or inputs); one where onnxruntime differs fails the check.  ``per_output`` records, besides the
    errors over the finite values, ``non_finite`` (matching NaN/Inf values) and ``non_finite_mismatches``.
    """
    tol = QUANTIZED_MODEL_TOLERANCE if quantized_model else TOLERANCE[precision]
    per_output: dict[str, dict[str, float]] = {}
    worst, worst_rel, worst_abs, worst_bad = "", 0.0, 0.0, 0
    for name, ref in reference.items():
        sim = simulated[name].astype(np.float64)
        ref64 = np.asarray(ref, dtype=np.float64)
        if sim.shape != ref64.shape:
            raise GspsimError(f"--check: output '{name}' has shape {list(sim.shape)}, onnxruntime gives {list(ref64.shape)}", exit_code=1)
        finite = np.isfinite(sim) & np.isfinite(ref64)
        same = _same_non_finite(sim, ref64)
        bad = int(sim.size - np.count_nonzero(finite | same))
        abs_err = float(np.max(np.abs(sim[finite] - ref64[finite]))) if finite.any() else 0.0
        ref_finite = ref64[np.isfinite(ref64)]
        scale = float(np.max(np.abs(ref_finite))) if ref_finite.size else 0.0
        rel_err = abs_err / scale if scale > 0 else abs_err
        per_output[name] = {"max_abs_err": abs_err, "max_rel_err": rel_err,
                            "non_finite": int(np.count_nonzero(same)), "non_finite_mismatches": bad}
        if (bad, rel_err) >= (worst_bad, worst_rel):
            worst, worst_rel, worst_bad = name, rel_err, bad
        worst_abs = max(worst_abs, abs_err)
    return CheckResult(
        reference="onnxruntime",
        max_abs_err=worst_abs,
        max_rel_err=worst_rel,
        tolerance=tol,
        passed=bool(worst_rel <= tol and worst_bad == 0),
        worst_output=worst,
        per_output=per_output,
    )


def non_finite_note(check: CheckResult) -> str:
    """What --check says about NaN/Inf outputs ("" when there are none)."""
    parts = []
    for name, errors in check.per_output.items():
        same, bad = int(errors.get("non_finite", 0)), int(errors.get("non_finite_mismatches", 0))
        if bad:
            parts.append(f"output '{name}' has {bad} value(s) where one side is NaN/Inf and the other differs")
        elif same:
            parts.append(f"output '{name}' holds {same} NaN/Inf value(s), the same as onnxruntime's "
                         "(compared as equal)")
    return "; ".join(parts)
