"""The README's two install commands work in either order in one venv, from any folder (issue 19).

The failure this guards against: ``pip install ".[check]"`` and a run from
outside the clone made Numba write its cache into ``site-packages/gspsim/``;
the later ``pip install -e ".[test]"`` removed the files it had installed but
not that cache, and the leftover folder, a namespace package found on
``sys.path`` before the editable finder, shadowed the editable install.

The test copies the repository, makes a fresh venv, and in it runs the
README's commands (read from README.md) in the order regular, editable,
regular, so both orders happen in the same venv: regular then editable, and
editable then regular.  After each one it runs the README's
``python -m gspsim run --check`` (the bundled default model) from an unrelated
folder and asserts exit 0, that ``import gspsim`` resolves to that install
(the venv's site-packages, or the copied source tree), that the previous
install left nothing of gspsim behind, and at the end that Numba wrote its
cache only under ``GSPSIM_CACHE_DIR`` (a temp folder, so the user's cache is
never touched): no ``.nbi``/``.nbc`` file in the venv or the source tree.

Why the venv borrows the dependencies, and why that does not weaken the proof:
installing numpy, numba, onnx and onnxruntime into an empty venv would take
minutes and hundreds of MB of downloads.  So the venv's site-packages holds one
``.pth`` line, ``site.addsitedir(<folder>)``, where the folder holds symlinks to
everything in the test runner's own site-packages *except gspsim's files*
(its package, dist-info, editable finder and ``.pth``).  The dependencies are
then already satisfied (pip installs gspsim alone, into the venv; it never
removes a package outside the venv), while gspsim exists only as the venv's
installs of the copied source: the test checks, before installing, that
``import gspsim`` fails in the venv.  Everything that decides whether one
gspsim install can shadow another (site-packages contents, ``.pth`` files,
editable finders, where Numba writes) lives in the venv and the copy.  When
the runner's setuptools satisfies ``[build-system] requires``, pip builds
with it (``--no-build-isolation``) instead of downloading setuptools for
every install (otherwise it fetches setuptools from the package index, as the
README's commands do); the wheel and the editable install are the same.

Mutation check: with gspsim's ``NUMBA_CACHE_DIR`` setting removed
(``gspsim/cache.py``), this test fails after the editable install with
``gspsim.__file__`` None, the stale namespace package of the issue.
"""

from __future__ import annotations

import os
import shlex
import site
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Mapping

import pytest
from packaging.requirements import Requirement

from gspsim.tomlfile import read_toml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from check_upgrades import copy_checkout  # noqa: E402
#: generous bounds that catch a hang (a cold run compiles every kernel the default model needs)
INSTALL_TIMEOUT_S = 600
RUN_TIMEOUT_S = 600


def readme_install_command(extra: str) -> list[str]:
    """The README's ``pip install ... ".[extra]"`` command, as words up to ``&&`` (run as ``python -m pip ...``)."""
    for line in (ROOT / "README.md").read_text().splitlines():
        if not line.startswith("pip install "):
            continue
        words = shlex.split(line)
        if words[:2] == ["pip", "install"] and any(w.endswith(f".[{extra}]") for w in words):
            return words[:words.index("&&")] if "&&" in words else words
    raise AssertionError(f'README.md has no "pip install ... .[{extra}]" command')


def is_gspsim_entry(path: Path) -> bool:
    """A site-packages entry of an installed gspsim: the package, its metadata, its editable hooks."""
    name = path.name.lower()
    if name == "gspsim" or name.startswith(("gspsim-", "gspsim.", "__editable__.gspsim", "__editable___gspsim")):
        return True
    if name.endswith(".pth"):  # e.g. a legacy easy-install.pth pointing at a clone
        text = path.read_text(errors="replace")
        return "gspsim" in text or any((Path(line.strip()) / "gspsim" / "__init__.py").is_file()
                                       for line in text.splitlines() if line.strip() and not line.startswith("import"))
    return False


def dependency_overlay(folder: Path) -> Path:
    """``folder`` filled with symlinks to the runner's site-packages entries, gspsim's left out."""
    folder.mkdir()
    for packages in [Path(p) for p in site.getsitepackages()]:
        for entry in sorted(packages.iterdir()) if packages.is_dir() else []:
            if not is_gspsim_entry(entry) and not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return folder


def builds_without_isolation() -> bool:
    """Whether the runner's own build backend satisfies pyproject.toml's ``[build-system] requires``."""
    requires = read_toml(ROOT / "pyproject.toml", "pyproject.toml")["build-system"]["requires"]
    for text in requires:
        req = Requirement(text)
        try:
            if version(req.name) not in req.specifier:
                return False
        except PackageNotFoundError:
            return False
    return True


def run(argv: list[str], cwd: Path, env: Mapping[str, str], timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout)


def numba_cache_files(folder: Path) -> list[Path]:
    """Numba's cache files (index and data) under ``folder``."""
    return sorted(p for pattern in ("*.nbi", "*.nbc") for p in folder.rglob(pattern))


@pytest.mark.slow
def test_readme_installs_work_in_either_order(tmp_path: Path) -> None:
    source = copy_checkout(tmp_path / "clone")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    venv_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                    capture_output=True, text=True, check=True).stdout.strip())
    overlay = dependency_overlay(tmp_path / "runner-dependencies")
    (venv_site / "runner_dependencies.pth").write_text(f"import site; site.addsitedir({str(overlay)!r})\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cache = tmp_path / "gspsim-cache"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "NUMBA_CACHE_DIR", "VIRTUAL_ENV", "PIP_CONSTRAINT")}
    env.update(GSPSIM_CACHE_DIR=str(cache), PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    where = [str(python), "-c", "import gspsim; print(gspsim.__file__)"]

    probe = run(where, elsewhere, env, 120)
    assert probe.returncode != 0 and "No module named 'gspsim'" in probe.stderr, probe.stdout + probe.stderr

    no_isolation = ["--no-build-isolation"] if builds_without_isolation() else []
    regular, editable = readme_install_command("check"), readme_install_command("test")
    assert "-e" in editable and "-e" not in regular
    steps = [(regular, venv_site / "gspsim"), (editable, source / "gspsim"), (regular, venv_site / "gspsim")]
    for command, package in steps:
        install = run([str(python), "-m", *command, *no_isolation], source, env, INSTALL_TIMEOUT_S)
        assert install.returncode == 0, f"{shlex.join(command)} failed:\n{install.stdout[-3000:]}{install.stderr[-3000:]}"
        located = run(where, elsewhere, env, 120)
        assert located.returncode == 0, located.stderr
        assert Path(located.stdout.strip()) == package / "__init__.py", (shlex.join(command), located.stdout)
        if package == source / "gspsim":  # the regular install left nothing that could shadow this one
            assert not (venv_site / "gspsim").exists(), sorted(map(str, (venv_site / "gspsim").rglob("*")))
        else:
            assert not list(venv_site.glob("__editable__*gspsim*"))
        sim = run([str(python), "-m", "gspsim", "run", "--check"], elsewhere, env, RUN_TIMEOUT_S)
        assert sim.returncode == 0, f"after {shlex.join(command)}:\n{sim.stdout[-3000:]}{sim.stderr[-3000:]}"
        assert "passed" in sim.stdout

    assert numba_cache_files(cache / "numba"), "Numba cached nothing under GSPSIM_CACHE_DIR"
    assert numba_cache_files(venv) == [] and numba_cache_files(source) == []
