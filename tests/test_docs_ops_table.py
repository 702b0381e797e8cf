"""docs/ops.md is what tools/ops_table.py generates from the op table and the kernels."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("ops_table", ROOT / "tools" / "ops_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checked_in_ops_page_equals_the_generated_one() -> None:
    tool = _tool()
    assert tool.DOC.read_text(encoding="utf-8") == tool.render(), "docs/ops.md is stale: run python tools/ops_table.py"


def test_the_page_lists_every_op_of_the_table_with_its_kernels() -> None:
    from gspsim.kernels import kernel_precisions
    from gspsim.optable import all_specs

    text = _tool().render()
    for spec in all_specs():
        row = next(line for line in text.splitlines() if line.startswith(f"| {spec.op_type} |"))
        assert row.count("✓") == len(kernel_precisions(spec.op_type)), spec.op_type
