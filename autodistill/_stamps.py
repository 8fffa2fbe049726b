"""Cheap fingerprints for cache keys: a file's content hash, and where and when the
source of a module was last changed (without importing the module)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

__all__ = ["file_digest", "module_stamps"]


def file_digest(path: Path, trailer: bytes = b"") -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks, followed by ``trailer``
    (what else the key depends on, such as a data file's target column)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(trailer)
    return digest.hexdigest()


def module_stamps(modules: tuple[str, ...] | list[str]) -> list[list[Any]]:
    """``[name, path, mtime_ns, size]`` of each module's source file (None when unknown).

    Only the parent packages are imported; an edited source file changes its stamp even
    when the version number does not (an editable install).
    """
    out: list[list[Any]] = []
    for module in modules:
        try:
            spec = importlib.util.find_spec(module)
            path = Path(spec.origin) if spec is not None and spec.origin else None
            stat = path.stat() if path is not None else None
        except (ImportError, ValueError, OSError):
            path, stat = None, None
        out.append([module, str(path), stat.st_mtime_ns if stat else None,
                    stat.st_size if stat else None])
    return out
