"""One lock per database for the moments two commands must not interleave: creating the
tables (Optuna's and autodistill's) and creating a study.

Two commands started together on an empty database otherwise race: on PostgreSQL the
loser of ``CREATE TABLE`` fails with ``duplicate key ... pg_type_typname_nsp_index``, on
SQLite with ``UNIQUE constraint failed: alembic_version``. :func:`database_lock` is a
session-level advisory lock on PostgreSQL (commands may run on several machines) and an
``flock`` on a file named after the database on SQLite; it is re-entrant within a process.
Lock files live under the cache dir, or under the temporary dir when the cache dir cannot
be used (a file where it should be, a read-only home).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autodistill._locks import file_lock, lock_path

__all__ = ["database_lock", "lock_path"]

log = logging.getLogger(__name__)

_held: dict[str, int] = {}
_guard = threading.Lock()
#: Advisory-lock key of table and study creation (any fixed 64-bit number).
_PG_KEY = int.from_bytes(hashlib.sha256(b"autodistill:schema").digest()[:8], "big", signed=True)


@contextlib.contextmanager
def _pg_lock(engine: Any) -> Iterator[None]:
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_KEY})
        conn.commit()
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_KEY})
                conn.commit()


@contextlib.contextmanager
def database_lock(url: str, engine: Any) -> Iterator[None]:
    """Hold the database's creation lock (re-entrant in this process).

    Args:
        url: The database URL.
        engine: A SQLAlchemy engine on ``url`` (used on PostgreSQL).
    """
    backend = engine.url.get_backend_name()
    database = engine.url.database
    key = f"{threading.get_ident()}:{url}"  # re-entrant per thread; threads exclude each other
    with _guard:
        depth = _held.get(key, 0)
        _held[key] = depth + 1
    try:
        if depth:
            yield
        elif backend == "postgresql":
            with _pg_lock(engine):
                yield
        elif backend == "sqlite" and database and database != ":memory:":
            with file_lock(lock_path(f"schema:{Path(database).resolve()}")):
                yield
        else:
            yield
    finally:
        with _guard:
            _held[key] -= 1
