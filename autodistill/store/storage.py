"""Where studies live: URL resolution, masking and opening the SQL database.

The URL comes from ``--storage`` > ``AUTODISTILL_STORAGE`` > SQLite under the user data
dir. Optuna's tables and autodistill's own tables share that one database, so
``optuna.load_study`` and optuna-dashboard open our studies from the same URL.

autodistill's own tables, and how an older database is migrated, are in
:mod:`autodistill.store.schema`; what a study searched is its typed record
(:mod:`autodistill.store.record`).

Several worker processes on one SQLite file never write it concurrently: they share a
journal file next to it, merged back afterwards (:mod:`autodistill.store.journal`).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from autodistill import _secrets
from autodistill.errors import StorageError
from autodistill.store.db_lock import database_lock
from autodistill.store.schema import SCHEMA_VERSION, current_version, metadata, migrate

__all__ = [
    "resolve_url",
    "mask_url",
    "default_url",
    "get_engine",
    "ensure_schema",
    "delete_study",
    "open_optuna_storage",
    "storage_error",
    "is_sqlite",
    "is_postgres",
]

log = logging.getLogger(__name__)

def default_url() -> str:
    """SQLite file under the user data dir (``AUTODISTILL_HOME`` overrides the dir)."""
    from autodistill.paths import data_dir

    return f"sqlite:///{data_dir() / 'autodistill.db'}"


def resolve_url(storage: str | None = None) -> str:
    """Return the storage URL: ``storage`` > ``AUTODISTILL_STORAGE`` > :func:`default_url`.

    A bare file path (``studies.db``) is taken as a SQLite file. ``postgresql://`` without a
    driver gets ``+psycopg`` when psycopg2 is not installed but psycopg (3) is.

    Raises:
        StorageError: when the value is not a database URL.
    """
    url = storage or os.environ.get("AUTODISTILL_STORAGE") or default_url()
    _secrets.remember(url)
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    url = _secrets.quote_userinfo(url)
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - a malformed port or IPv6 host raises here
    except (ArgumentError, ValueError, TypeError):
        raise StorageError(
            f"--storage '{mask_url(url)}' is not a database URL; use e.g. "
            "sqlite:///studies.db or postgresql://user@host/db"
        ) from None
    if parsed.drivername == "postgresql" and _missing("psycopg2") and not _missing("psycopg"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    return url


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def mask_url(url: str) -> str:
    """``url`` with its password and secret query values replaced by ``***`` (safe to print
    or log); see :func:`autodistill._secrets.mask_url`."""
    return _secrets.mask_url(url)


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def is_postgres(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database."""
    return make_url(url).get_backend_name() == "postgresql"


def storage_error(url: str, exc: BaseException) -> StorageError:
    """A one-line :class:`StorageError` for a database that cannot be used."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, NoSuchModuleError) and "Can't load plugin" in str(exc):
        return StorageError(f"--storage '{mask_url(url)}': unknown database kind "
                            f"'{make_url(url).drivername}'; use sqlite:///FILE or "
                            "postgresql://user@host/db")
    if isinstance(exc, (NoSuchModuleError, ModuleNotFoundError)):
        return StorageError(
            f"cannot open {mask_url(url)}: its database driver is not installed "
            f"({exc}); for PostgreSQL: pip install 'autodistill-kd[postgres]'"
        )
    orig = getattr(exc, "orig", None) or exc
    folder = Path(make_url(url).database or ".").parent if is_sqlite(url) else None
    if folder is not None and not folder.is_dir():
        return StorageError(f"cannot use database {mask_url(url)}: the folder {folder} does "
                            "not exist; create it, or check --storage or AUTODISTILL_STORAGE")
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    reason = lines[0] if lines else type(orig).__name__
    reason = reason.replace(url, mask_url(url))
    return StorageError(
        f"cannot use database {mask_url(url)}: {reason}; check --storage or AUTODISTILL_STORAGE"
    )


# --------------------------------------------------------------------------- engines


_engines: dict[str, Engine] = {}
_ready: set[str] = set()
_lock = threading.Lock()


#: How long a SQLite connection waits for another process's write lock before "database is
#: locked". The longest writer is the first command on an empty file loading the knowledge
#: base (about ten thousand rows, seconds alone); ten commands started at once on a loaded
#: two-core machine waited past 30 s for it. A command that waits is better than one that
#: fails; a real deadlock SQLite reports at once, without waiting.
SQLITE_BUSY_TIMEOUT_S = 300


def get_engine(url: str) -> Engine:
    """A pooled SQLAlchemy engine for ``url``, one per URL and process.

    Raises:
        StorageError: when the driver is missing.
    """
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if is_sqlite(url):
                kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
            try:
                engine = create_engine(url, **kwargs)
            except (SQLAlchemyError, ImportError) as exc:
                raise storage_error(url, exc) from None
            _engines[url] = engine
        return engine


def ensure_schema(url: str) -> None:
    """Create autodistill's tables in ``url`` if needed, or migrate them forward
    (:func:`autodistill.store.schema.migrate`); once per URL and process.

    Raises:
        StorageError: when the database cannot be reached or was written by a newer
            autodistill.
    """
    if url in _ready:
        return
    engine = get_engine(url)
    try:
        if not _schema_current(engine):  # create or migrate under the database's lock
            _refuse_foreign_file(url, engine)
            with database_lock(url, engine), engine.begin() as conn:
                found = migrate(conn)
            if 0 < found < SCHEMA_VERSION:
                log.info("upgraded the autodistill tables of %s from version %d to %d",
                         mask_url(url), found, SCHEMA_VERSION)
    except ValueError as exc:
        raise StorageError(f"{mask_url(url)} holds autodistill tables of {exc}; upgrade "
                           "autodistill") from None
    except SQLAlchemyError as exc:
        raise storage_error(url, exc) from None
    _ready.add(url)


def _schema_current(engine: Engine) -> bool:
    """Whether every table of ours exists at this version (read only: a read-only database
    that holds them is fine). A newer version raises ``ValueError``."""
    from sqlalchemy import inspect

    if not set(metadata.tables) <= set(inspect(engine).get_table_names()):
        return False
    with engine.connect() as conn:
        version = current_version(conn)
    if version is not None and version > SCHEMA_VERSION:
        raise ValueError(f"schema version {version}, newer than this autodistill's "
                         f"{SCHEMA_VERSION}")
    return version == SCHEMA_VERSION


#: Tables Optuna creates in every database it stores studies in.
_OPTUNA_TABLES = {"studies", "version_info", "alembic_version"}


def _refuse_foreign_file(url: str, engine: Engine) -> None:
    """Refuse a SQLite file that holds other tables and neither Optuna's nor ours: another
    program's database, passed by mistake, that would gain some twenty tables. (A
    PostgreSQL database shared with other applications is a common and deliberate
    set-up; there, autodistill's tables sit beside theirs.)"""
    from sqlalchemy import inspect

    if not is_sqlite(url):
        return
    tables = set(inspect(engine).get_table_names())
    if tables and not tables & (_OPTUNA_TABLES | set(metadata.tables)):
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StorageError(f"{mask_url(url)} is another program's database (tables: {shown}) "
                           "and holds no studies; pass --storage a new file, e.g. "
                           "sqlite:///studies.db")


def delete_study(url: str, name: str) -> None:
    """Delete the Optuna study ``name`` (its record goes with it; datasets stay)."""
    import optuna

    ensure_schema(url)
    try:
        optuna.delete_study(study_name=name, storage=open_optuna_storage(url))
    except KeyError:
        pass


# --------------------------------------------------------------------------- optuna storages


def _fast_sqlite_commits(engine: Engine) -> None:
    """Write-ahead log and ``synchronous=NORMAL`` on every connection to a SQLite study.

    Every trial makes a dozen commits (user attributes, per-epoch reports) and with
    SQLite's defaults each waits for fsync, which on a busy disk costs more than training
    a small student; in WAL mode with ``NORMAL`` a commit survives a crash of the process
    (not of the machine) without waiting for the disk.
    """
    from sqlalchemy import event

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened before the listener reconnect with it


def open_optuna_storage(url: str, *, heartbeat_interval: int | None = None,
                        grace_period: int | None = None, max_retry: int | None = 3) -> Any:
    """Optuna's ``RDBStorage`` on ``url``, with heartbeats and retry when an interval is given.

    A trial whose worker stops beating for ``grace_period`` seconds is failed and, up to
    ``max_retry`` times, queued again with the same parameters.

    Raises:
        StorageError: one line, when the database cannot be reached.
    """
    import optuna

    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if is_sqlite(url):
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            kwargs: dict[str, Any] = {}
            if heartbeat_interval:
                kwargs = {
                    "heartbeat_interval": int(heartbeat_interval),
                    "grace_period": int(grace_period) if grace_period else None,
                    "heartbeat_stale_trial_callback":
                        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry),
                }
            _refuse_foreign_file(url, get_engine(url))  # before Optuna creates its tables
            # Optuna creates its tables on first use: under the lock, or two commands race
            with database_lock(url, get_engine(url)):
                rdb = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        if is_sqlite(url):
            _fast_sqlite_commits(rdb.engine)
        return rdb
    except (SQLAlchemyError, ImportError) as exc:
        raise storage_error(url, exc) from None
    except RuntimeError as exc:  # Optuna's: the tables' schema is not this Optuna's
        if "table schema" not in str(exc):
            raise
        raise StorageError(f"{mask_url(url)}: {' '.join(str(exc).split())}") from None
    except Exception as exc:  # optuna wraps some driver errors in its own types
        if isinstance(getattr(exc, "__cause__", None), SQLAlchemyError):
            raise storage_error(url, exc.__cause__) from None
        raise
