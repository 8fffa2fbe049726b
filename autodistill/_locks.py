"""Locks between processes of one machine: a file per key under the cache dir (or the
temporary dir when the cache dir cannot be used: a file where it should be, a read-only
home), held with ``flock``. Used to create a database's tables once
(:mod:`autodistill.store.db_lock`) and to train a teacher once when two commands ask for
it together (:mod:`autodistill.training.teachers`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["file_lock", "lock_path"]


def lock_path(key: str) -> Path:
    """A lock file for ``key``: under the cache dir, else under the temporary dir."""
    name = f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock"
    try:
        from autodistill.paths import cache_dir

        directory = cache_dir() / "locks"
        directory.mkdir(parents=True, exist_ok=True)
        if os.access(directory, os.W_OK):
            return directory / name
    except OSError:
        pass
    user = os.getuid() if hasattr(os, "getuid") else 0
    directory = Path(tempfile.gettempdir()) / f"autodistill-locks-{user}"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


@contextlib.contextmanager
def file_lock(path: Path, blocking: bool = True, shared: bool = False) -> Iterator[bool]:
    """Hold an ``flock`` on ``path`` (created if needed) for the block: exclusive, or
    ``shared``; not ``blocking``, it yields False at once when another process holds it
    (True otherwise; always True where there is no ``fcntl``: Windows, no lock)."""
    try:
        import fcntl
    except ImportError:  # the callers also treat "exists" as success
        yield True
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(handle, flags)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
