"""Where gspsim keeps files it can rebuild: the user's cache directory, never the installed package.

``GSPSIM_CACHE_DIR`` overrides the location; otherwise it is
``$XDG_CACHE_HOME/gspsim`` or ``~/.cache/gspsim``.  Numba's compiled kernels go
to its ``numba/`` folder (unless the user set ``NUMBA_CACHE_DIR``): Numba's
default, a ``__pycache__`` beside each kernel's source, would write into
site-packages, and a stale copy there can shadow a later editable install.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from pathlib import Path


def user_cache_dir() -> Path:
    """The folder for gspsim's caches (not created here)."""
    explicit = os.environ.get("GSPSIM_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gspsim"


def configure_numba_cache() -> None:
    """Point Numba's on-disk cache at :func:`user_cache_dir` unless the user chose a place.

    Called when gspsim is imported, before any kernel is compiled; if Numba
    was imported earlier, its config is updated too (it reads the variable
    when a cached function is first compiled).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    folder = str(user_cache_dir() / "numba")
    os.environ["NUMBA_CACHE_DIR"] = folder
    config = sys.modules.get("numba.core.config")
    if config is not None:
        config.CACHE_DIR = folder


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of gspsim's own source files (path, size, modification time), for the keys of cached results.

    The version alone would serve a stale entry to a developer who edits the
    code of an editable install; stat-ing the package's files costs about a millisecond.
    """
    package = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(package)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()
