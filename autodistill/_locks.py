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
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the block."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock; the callers also treat "exists" as success
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
