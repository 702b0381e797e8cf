"""Every ```bash, ```sh and ```python block of README.md and docs/*.md runs, so the docs cannot rot.

The blocks of one file run in order in one sandbox folder that looks like a
checkout: a copy of docs/, links to the repository's tests/ and benchmarks/,
``PYTHONPATH`` set to this checkout (so ``python -m gspsim`` and ``import
gspsim`` use it), and ``model.onnx``, ``cam_a.onnx``, ``cam_b.onnx`` standing for the reader's
own models (copies of the bundled small CNN, so every command runs in
seconds).  A python block whose first line is ``# NAME.py`` is saved under
that name, for the blocks after it to use.

A block right after an HTML comment ``<!-- snippet: skip (reason) -->`` is
not run; each skip must say why (installing packages, multi-minute
benchmarks, regenerating committed figures).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"bash": "bash", "sh": "bash", "python": "python"}
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
SKIP = re.compile(r"<!--\s*snippet:\s*skip\s*(?:\((?P<reason>[^)]*)\))?\s*-->\s*$")
#: what a block may take (the slowest, the README's commands, take about a minute on a loaded CI machine)
BLOCK_TIMEOUT_S = 600


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int
    lang: str
    body: str
    skip: str | None  # the reason, when marked skip

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def snippets(path: Path) -> list[Snippet]:
    """The fenced bash/sh/python blocks of a markdown file, with their skip markers."""
    text = path.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        lang = m.group("lang").lower()
        if lang not in RUNNABLE:
            continue
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = SKIP.search(before)
        found.append(Snippet(path, text[:m.start()].count("\n") + 1, lang, m.group("body"),
                             (marker.group("reason") or "").strip() if marker else None))
    return found


ALL = [s for doc in DOCS for s in snippets(doc)]


def test_every_skip_says_why_and_marks_a_block() -> None:
    assert ALL, "no snippets found"
    for s in ALL:
        assert s.skip is None or len(s.skip) >= 10, f"{s.where}: a skipped snippet needs its reason"
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        markers = len(re.findall(r"<!--\s*snippet:", text))
        assert markers == sum(1 for s in snippets(doc) if s.skip is not None), \
            f"{doc.name}: a snippet marker that is not right before a bash/sh/python block"


def test_docs_cite_nothing_outside_the_repository() -> None:
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            resolved = (doc.parent / target).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{doc.name}: broken link {target}"
        assert "../shared" not in text, f"{doc.name} cites a file outside the repository"


def _sandbox(tmp: Path) -> tuple[Path, dict[str, str]]:
    """A folder laid out like a checkout, and the environment the snippets run in."""
    shutil.copytree(ROOT / "docs", tmp / "docs")
    for name in ("tests", "benchmarks"):
        (tmp / name).symlink_to(ROOT / name, target_is_directory=True)
    small_cnn = ROOT / "gspsim" / "models" / "small_cnn.onnx"
    for name in ("model.onnx", "cam_a.onnx", "cam_b.onnx"):
        shutil.copy(small_cnn, tmp / name)
    bin_dir = tmp / ".bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)  # `python` in a snippet is this interpreter
    # gspsim from this checkout, by its real path: Numba keys its kernel cache by the source file's path, so a
    # link to the package would make every sandbox compile every kernel again
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"}
    return tmp, env


def _run(s: Snippet, folder: Path, env: dict[str, str], index: int) -> str | None:
    """Run one block in ``folder``; what went wrong, or None."""
    if s.lang == "python":
        first = s.body.splitlines()[0] if s.body.strip() else ""
        named = re.fullmatch(r"#\s*([\w.-]+\.py)\s*", first)
        script = folder / (named.group(1) if named else f"snippet_{index}.py")
        script.write_text(s.body, encoding="utf-8")
        argv = [sys.executable, script.name]
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-c", s.body]
    try:
        proc = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"{s.where} ({s.lang}) ran over {BLOCK_TIMEOUT_S} s\n--- block\n{s.body}"
    if proc.returncode != 0 or "Traceback" in proc.stderr:
        return (f"{s.where} ({s.lang}) exited {proc.returncode}\n--- block\n{s.body}"
                f"--- stdout (end)\n{proc.stdout[-3000:]}\n--- stderr (end)\n{proc.stderr[-3000:]}")
    return None


def _run_document(doc: Path, tmp: Path) -> str | None:
    """Run a document's blocks in order in its own sandbox; the first failure, or None."""
    folder, env = _sandbox(tmp)
    for i, s in enumerate(snippets(doc)):
        if s.skip is None:
            problem = _run(s, folder, env, i)
            if problem:
                return problem
    return None


RUN_DOCS = [d for d in DOCS if any(s.skip is None for s in snippets(d))]


@pytest.fixture(scope="module")
def doc_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, str | None]:
    """Every document's snippets, two documents at a time (most of the time is interpreter start-up and
    kernel-cache loading, which two cores overlap well)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {d: pool.submit(_run_document, d, tmp_path_factory.mktemp(d.stem)) for d in RUN_DOCS}
        return {d: f.result() for d, f in futures.items()}


@pytest.mark.parametrize("doc", RUN_DOCS, ids=lambda d: d.name)
def test_the_snippets_of_a_document_run(doc: Path, doc_runs: dict[Path, str | None]) -> None:
    assert doc_runs[doc] is None, doc_runs[doc]
