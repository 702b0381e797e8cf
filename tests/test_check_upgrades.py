"""tools/check_upgrades.py's parts that need no network: the pins, pytest's report, the printed summary.

The tool itself (a venv with the newest releases and a whole-suite run) is run by hand, not by CI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import check_upgrades as cu  # noqa: E402


def test_pins_are_exact_and_changes_are_reported() -> None:
    pins = cu.read_pins(cu.CONSTRAINTS.read_text())
    assert {"onnxruntime", "onnx", "numpy", "numba"} <= set(pins)
    newest = {name.upper(): v for name, v in pins.items() if name != "numba"}  # names compare normalized
    newest["ONNXRUNTIME"] = "99.0.0"
    assert cu.pin_changes(pins, newest) == [cu.PinChange("onnxruntime", pins["onnxruntime"], "99.0.0"),
                                            cu.PinChange("numba", pins["numba"], None)]


def test_outcomes_from_a_real_pytest_report(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "def test_ok():\n    assert True\n"
        "def test_bad():\n    assert 1 == 2\n"
        "@pytest.mark.skip(reason='not here')\ndef test_skipped():\n    pass\n"
        "@pytest.fixture\ndef broken():\n    raise RuntimeError('setup')\n"
        "def test_error(broken):\n    pass\n")
    junit = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                    "--rootdir", str(tmp_path), str(tmp_path / "test_sample.py")],
                   cwd=tmp_path, capture_output=True, text=True, timeout=120)
    outcomes = cu.junit_outcomes(junit.read_text())
    assert outcomes.passed == ("test_sample::test_ok",)
    assert sorted(outcomes.failed) == ["test_sample::test_bad", "test_sample::test_error"]
    assert outcomes.skipped == ("test_sample::test_skipped",)
    text = cu.report([cu.PinChange("numpy", "2.4.6", "2.5.0")], outcomes)
    assert "numpy: 2.4.6 -> 2.5.0" in text
    assert "1 passed, 2 failed, 1 skipped" in text and "FAILED test_sample::test_bad" in text
    assert "to adopt" not in text  # failures: no suggestion to move the pins
    green = cu.report([cu.PinChange("numpy", "2.4.6", "2.5.0")], cu.SuiteOutcomes(("a::b",), (), ()))
    assert "numpy==2.5.0" in green
