"""onnx's backend node tests, generated from the installed onnx, run through gspsim against a checked-in list.

Every case (``onnx.backend.test.case``, about 1,900 single-op models with their
inputs and expected outputs) is written to disk as a model file and tensors and
simulated with the kernels executing, in this one process, by
``tools/onnx_conformance.py``; outputs are compared as onnx's backend runner
does (rtol 1e-3, atol 1e-7).  ``tests/onnx_conformance_expected.toml`` lists
the cases gspsim does not pass, each with its reason; a case that starts or
stops passing fails here, so the change shows in review
(``python tools/onnx_conformance.py --update-expected`` regenerates the list).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("onnx_conformance", ROOT / "tools" / "onnx_conformance.py")
conformance = importlib.util.module_from_spec(_spec)
sys.modules["onnx_conformance"] = conformance
_spec.loader.exec_module(conformance)


@pytest.fixture(scope="module")
def cases() -> list:
    return conformance.collect_cases()


@pytest.fixture(scope="module")
def outcomes(cases: list, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("onnx-node-tests")
    return {o.case: o for o in conformance.run_all(cases, folder)}


def test_no_case_ends_in_a_traceback(outcomes: dict) -> None:
    crashes = [f"{o.case}: {o.detail}" for o in outcomes.values() if o.status == "crash"]
    assert not crashes, f"{len(crashes)} case(s) crashed:\n" + "\n".join(crashes)


def test_outcomes_match_the_checked_in_list(outcomes: dict) -> None:
    expected = conformance.read_expected()
    newly_failing = sorted(f"{c}: {o.status}: {o.detail}" for c, o in outcomes.items()
                           if o.status != "pass" and c not in expected)
    newly_passing = sorted(c for c, o in outcomes.items() if o.status == "pass" and c in expected)
    changed = sorted(f"{c}: expected {expected[c][0]}, got {o.status}: {o.detail}" for c, o in outcomes.items()
                     if o.status not in ("pass", "crash") and c in expected and expected[c][0] != o.status)
    unknown = sorted(set(expected) - set(outcomes))
    report = [*(f"new failure: {x}" for x in newly_failing), *(f"new pass (remove it from the list): {x}"
                                                             for x in newly_passing),
              *(f"changed: {x}" for x in changed), *(f"listed but not generated: {x}" for x in unknown)]
    assert not report, "\n".join(report)


def test_every_listed_case_has_a_reason() -> None:
    for case, (status, reason) in conformance.read_expected().items():
        assert status in ("refused", "differs") and reason.strip(), case


def test_training_only_ops_are_expected_refusals(cases: list) -> None:
    """Losses, optimizers, gradients and training-mode normalization are refused as training; their
    ``_expanded`` forms (graphs of inference ops) and a training Dropout of ratio 0 may pass."""
    expected = conformance.read_expected()
    training = [c.name for c in cases if c.training]
    listed = [c for c in training if c in expected]
    assert listed and all(expected[c][0] == "refused" and expected[c][1].startswith("training") for c in listed)
