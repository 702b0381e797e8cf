"""What the newest releases of the pinned packages would change: pins and test results.

    python tools/check_upgrades.py [--keep] [-- PYTEST_ARGS...]

Copies the checkout into a temporary folder, creates a venv there, installs
the copy with its test extra at the NEWEST versions pip can resolve
(constraints.txt ignored; the bounds in pyproject.toml still apply), runs the
test suite in the copy, and prints which pins in constraints.txt would move
(old -> new) and which tests pass or fail with the new versions.  Nothing in
the checkout or the current environment changes: updating constraints.txt
stays a decision, taken with the suite green on the new versions.  Not run by
CI (it downloads the newest wheels and runs the whole suite, ten minutes or
more).

Exit code: 0 when every test passes with the newest versions, 1 when some
fail, 2 when the venv or the install could not be made.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"


@dataclass(frozen=True)
class PinChange:
    """One pinned package: the version constraints.txt pins and the newest one pip installed."""

    name: str
    pinned: str
    newest: Optional[str]  # None: not installed with the newest versions


@dataclass(frozen=True)
class SuiteOutcomes:
    """Test ids by outcome, from pytest's JUnit XML."""

    passed: tuple[str, ...]
    failed: tuple[str, ...]
    skipped: tuple[str, ...]


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return name.lower().replace("_", "-").replace(".", "-")


def read_pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a constraints file (comments and blank lines ignored)."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, pinned = line.partition("==")
            if not sep:
                raise ValueError(f"{CONSTRAINTS.name}: '{line}' is not an exact pin (name==version)")
            pins[normalize(name)] = pinned.strip()
    return pins


def pin_changes(pins: Mapping[str, str], installed: Mapping[str, str]) -> list[PinChange]:
    """Every pin whose newest installed version differs (or that was not installed at all)."""
    found = {normalize(k): v for k, v in installed.items()}
    return [PinChange(name, pinned, found.get(name)) for name, pinned in pins.items() if found.get(name) != pinned]


def junit_outcomes(junit_xml: str) -> SuiteOutcomes:
    """Passed, failed (failures and errors) and skipped test ids in a pytest JUnit XML report."""
    passed, failed, skipped = [], [], []
    for case in ET.fromstring(junit_xml).iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(test_id)
        elif case.find("skipped") is not None:
            skipped.append(test_id)
        else:
            passed.append(test_id)
    return SuiteOutcomes(tuple(passed), tuple(failed), tuple(skipped))


def report(changes: Sequence[PinChange], outcomes: SuiteOutcomes) -> str:
    """The short text the tool prints."""
    lines = ["Pins the newest releases would change (constraints.txt -> newest):"]
    lines += [f"  {c.name}: {c.pinned} -> {c.newest or 'not installed'}" for c in changes] or ["  none"]
    lines.append(f"Tests with the newest versions: {len(outcomes.passed)} passed, {len(outcomes.failed)} failed, "
                 f"{len(outcomes.skipped)} skipped")
    lines += [f"  FAILED {t}" for t in outcomes.failed]
    movable = [c for c in changes if c.newest]
    if movable and not outcomes.failed:
        lines.append("All tests pass: to adopt, set in constraints.txt:")
        lines += [f"  {c.name}=={c.newest}" for c in movable]
    return "\n".join(lines)


def copy_checkout(dest: Path) -> Path:
    """A copy of this checkout's files at ``dest``, without git data, caches and build output."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "*.egg-info", "build", "dist", ".hypothesis", ".pytest_cache", ".benchmarks"))
    return dest


def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess:
    print("+", " ".join(argv), flush=True)
    return subprocess.run(list(argv), cwd=cwd, env=dict(env), text=True)


def installed_versions(python: Path, env: Mapping[str, str]) -> dict[str, str]:
    """name -> version of every distribution in the venv."""
    code = "import importlib.metadata as m; [print(d.metadata['Name'], d.version) for d in m.distributions()]"
    out = subprocess.run([str(python), "-c", code], env=dict(env), capture_output=True, text=True, check=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def check_upgrades(workdir: Path, pytest_args: Sequence[str]) -> int:
    """Make the venv in ``workdir``, install the newest versions, run the suite, print the report."""
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_CONSTRAINT", "PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    source = copy_checkout(workdir / "checkout")
    venv = workdir / "venv"
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    if run([sys.executable, "-m", "venv", str(venv)], workdir, env).returncode != 0:
        return 2
    if run([str(python), "-m", "pip", "install", "--upgrade", "pip"], workdir, env).returncode != 0:
        return 2
    if run([str(python), "-m", "pip", "install", "--upgrade", "-e", ".[test]"], source, env).returncode != 0:
        return 2
    changes = pin_changes(read_pins(CONSTRAINTS.read_text()), installed_versions(python, env))
    junit = workdir / "junit.xml"
    env["GSPSIM_CACHE_DIR"] = str(workdir / "gspsim-cache")
    run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *pytest_args], source, env)
    if not junit.exists():
        print("pytest wrote no report: the suite could not start with the newest versions", file=sys.stderr)
        return 2
    outcomes = junit_outcomes(junit.read_text())
    print()
    print(report(changes, outcomes))
    return 1 if outcomes.failed else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary venv and report (prints where)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    args = parser.parse_args(argv)
    if args.keep:
        workdir = Path(tempfile.mkdtemp(prefix="gspsim-upgrades-"))
        print(f"working in {workdir}")
        return check_upgrades(workdir, args.pytest_args)
    with tempfile.TemporaryDirectory(prefix="gspsim-upgrades-") as folder:
        return check_upgrades(Path(folder), args.pytest_args)


if __name__ == "__main__":
    sys.exit(main())
