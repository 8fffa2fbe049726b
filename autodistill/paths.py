"""Where autodistill keeps its files: the user data dir and the cache dir.

Both come from :mod:`platformdirs`; ``AUTODISTILL_HOME`` overrides them with
``$AUTODISTILL_HOME/data`` and ``$AUTODISTILL_HOME/cache`` (the tests use it to keep every
run in a temporary directory).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["HOME_ENV", "data_dir", "cache_dir", "write_atomically"]

#: Environment variable that relocates both directories.
HOME_ENV = "AUTODISTILL_HOME"
_APP = "autodistill"


def _home() -> Path | None:
    home = os.environ.get(HOME_ENV)
    return Path(home).expanduser() if home else None


def data_dir(create: bool = True) -> Path:
    """Return the user data directory (databases, the loaded knowledge base).

    Args:
        create: Create the directory when it does not exist yet.
    """
    home = _home()
    if home is not None:
        path = home / "data"
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir(_APP))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(create: bool = True) -> Path:
    """Return the cache directory (trained teachers and their outputs).

    Args:
        create: Create the directory when it does not exist yet.
    """
    home = _home()
    if home is not None:
        path = home / "cache"
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir(_APP))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomically(path: Path, write: Callable[[str], Any]) -> None:
    """Write ``path`` through ``write(temporary_path)``, then move it into place, so that a
    concurrent reader sees the whole file or none; the temporary file never stays behind.

    Raises:
        OSError: when the directory cannot be written.
    """
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
