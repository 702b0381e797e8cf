"""Golden results: stored JSON results of a few models x modes x precisions, compared figure by figure.

A change that moves any figure fails here; when the change is intended, regenerate with
``python tools/golden.py --update`` and review ``git diff tests/golden`` in the same commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import golden  # noqa: E402  (tools/golden.py: the cases and the comparison, shared with its --update)


@pytest.mark.parametrize("name", list(golden.CASES))
def test_result_matches_the_stored_one(name: str) -> None:
    stored = json.loads((golden.GOLDEN / f"{name}.json").read_text())
    diffs = list(golden.differences(stored, golden.document(name)))
    assert not diffs, f"{len(diffs)} figure(s) moved (python tools/golden.py --check):\n" + "\n".join(diffs[:30])


def test_the_comparison_notices_a_moved_figure() -> None:
    want = {"latency_cycles": 100.0, "nodes": [{"energy_j": 1e-9}], "cuts": ["a"]}
    assert not list(golden.differences(want, json.loads(json.dumps(want))))
    assert list(golden.differences(want, {**want, "latency_cycles": 100.001}))
    assert list(golden.differences(want, {**want, "nodes": [{"energy_j": 1.01e-9}]}))
    assert list(golden.differences(want, {**want, "cuts": []}))
