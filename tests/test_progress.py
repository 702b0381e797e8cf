"""Progress of long work: the engine's progress hook, the terminal display, and silence when piped or --quiet."""

from __future__ import annotations

import io
import re

import numba
import pytest
from rich.console import Console

import gspsim
import gspsim.progress
from gspsim.progress import RunProgress

from helpers import run_cli


def test_the_engine_reports_blocks_done_about_100_times() -> None:
    calls: list[tuple[int, int]] = []
    result = gspsim.simulate(None, execute=False, frames=4, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (result.blocks, result.blocks)
    assert 50 <= len(calls) <= 100
    assert all(total == result.blocks for _, total in calls)
    done = [d for d, _ in calls]
    assert done == sorted(set(done)) and done[0] > 0
    # the hook changes nothing in the result
    assert gspsim.simulate(None, execute=False, frames=4).to_json() == result.to_json()


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120, color_system=None), out


def test_a_long_simulation_shows_a_bar_with_blocks_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gspsim.progress, "BAR_AFTER_S", 0.0)  # every run counts as long here
    console, out = _terminal()
    with RunProgress(console, enabled=True) as shown:
        with shown.stage("simulating at fp32") as hook:
            result = gspsim.simulate(None, execute=False, frames=4, progress=hook)
    text = out.getvalue()
    assert "simulating at fp32" in text and "ETA" in text
    shown_counts = [int(d.replace(",", "")) for d in re.findall(rf"([\d,]+)/{result.blocks:,} blocks", text)]
    assert shown_counts and shown_counts == sorted(shown_counts) and shown_counts[-1] <= result.blocks


def test_a_short_stage_shows_only_its_spinner_line() -> None:
    console, out = _terminal()
    with RunProgress(console, enabled=True) as shown:
        with shown.stage("simulating at fp32") as hook:
            gspsim.simulate(None, execute=False, progress=hook)  # a few ms: under BAR_AFTER_S
    assert "blocks" not in out.getvalue() and "ETA" not in out.getvalue()


def test_numba_compiling_a_kernel_for_the_first_time_is_announced() -> None:
    @numba.njit
    def triple_sum(x):  # a fresh function: Numba compiles it on this first call
        return 3 * x.sum()

    import numpy as np

    console, out = _terminal()
    with RunProgress(console, enabled=True) as shown:
        with shown.stage("simulating at int8"):
            assert triple_sum(np.ones(4)) == 12.0
            shown._progress.refresh()
    assert "compiling kernels on first use (cached afterwards): 1, now triple_sum" in out.getvalue()
    console, out = _terminal()
    with RunProgress(console, enabled=True) as shown:
        with shown.stage("simulating at int8"):
            triple_sum(np.ones(4))  # compiled already: nothing to say
            shown._progress.refresh()
    assert "compiling" not in out.getvalue()


def test_no_progress_output_when_piped_or_quiet(tmp_path) -> None:
    proc = run_cli("run", "--timing-only", "--frames", "2")
    assert proc.returncode == 0 and proc.stderr == ""
    assert not re.search(r"ETA|blocks\b.*\d+/\d+|simulating at|loading model", proc.stdout), proc.stdout
    assert "gspsim" in proc.stdout  # the summary itself is there
    out = tmp_path / "r.json"
    quiet = run_cli("run", "--timing-only", "--quiet", "--json", str(out))
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == "" and out.exists()
