"""Where studies live: URL resolution, masking and opening the SQL database.

The URL comes from ``--storage`` > ``AUTODISTILL_STORAGE`` > SQLite under the user data
dir. Optuna's tables and autodistill's own tables share that one database, so
``optuna.load_study`` and optuna-dashboard open our studies from the same URL.

autodistill's own rows (SQLAlchemy 2 models, every table prefixed ``autodistill_``):

* :class:`DatasetRow` (``autodistill_datasets``): one per data fingerprint: spec, name,
  shape, raw-table facts (``info``) and, once the recommender computed them,
  ``meta_features``;
* :class:`StudyRow` (``autodistill_studies``): one per Optuna study that ``search`` ran:
  its dataset fingerprint, teacher, student, space and split seed;
* :class:`SchemaVersion` (``autodistill_schema_version``): the version of these tables.

Read them with :func:`session`::

    with session(url) as s:
        rows = s.scalars(select(StudyRow)).all()

Several worker processes on one SQLite file never write it concurrently: they share a
journal file next to it, merged back afterwards (:mod:`autodistill._journal`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from autodistill.errors import StorageError

__all__ = [
    "resolve_url",
    "mask_url",
    "default_url",
    "SCHEMA_VERSION",
    "Base",
    "SchemaVersion",
    "DatasetRow",
    "StudyRow",
    "get_engine",
    "ensure_schema",
    "session",
    "record_dataset",
    "record_study",
    "get_study_row",
    "delete_study",
    "open_optuna_storage",
    "storage_error",
    "is_sqlite",
    "is_postgres",
]

log = logging.getLogger(__name__)

#: Version of autodistill's own tables; a database written by a newer version is refused.
SCHEMA_VERSION = 1


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
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    try:
        parsed = make_url(url)
    except ArgumentError:
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
    """``url`` with any password replaced by ``***`` (safe to print or log)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url


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
    if isinstance(exc, (NoSuchModuleError, ModuleNotFoundError)):
        return StorageError(
            f"cannot open {mask_url(url)}: its database driver is not installed "
            f"({exc}); for PostgreSQL: pip install 'autodistill[postgres]'"
        )
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    reason = lines[0] if lines else type(orig).__name__
    reason = reason.replace(url, mask_url(url))
    return StorageError(
        f"cannot use database {mask_url(url)}: {reason}; check --storage or AUTODISTILL_STORAGE"
    )


# --------------------------------------------------------------------------- models


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of autodistill's own tables (their own metadata, not Optuna's)."""


class SchemaVersion(Base):
    """The version of autodistill's tables in this database (one row)."""

    __tablename__ = "autodistill_schema_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated: Mapped[datetime] = mapped_column(DateTime, default=_now)


class DatasetRow(Base):
    """A dataset some study ran on, keyed by its content fingerprint."""

    __tablename__ = "autodistill_datasets"

    fingerprint: Mapped[str] = mapped_column(String(128), primary_key=True)
    spec: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(512))
    n_rows: Mapped[int] = mapped_column(Integer)
    n_features: Mapped[int] = mapped_column(Integer)
    n_classes: Mapped[int] = mapped_column(Integer)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Filled by the recommender (``autodistill.metafeatures``); ``None`` until then.
    meta_features: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=_now)


class StudyRow(Base):
    """What an Optuna study of the same name searched: dataset, teacher, student, space."""

    __tablename__ = "autodistill_studies"

    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    dataset_fingerprint: Mapped[str] = mapped_column(
        String(128), ForeignKey("autodistill_datasets.fingerprint"), index=True
    )
    teacher: Mapped[str] = mapped_column(Text)
    student: Mapped[str] = mapped_column(String(256))
    space: Mapped[str] = mapped_column(Text)
    split_seed: Mapped[int] = mapped_column(Integer, default=0)
    teacher_accuracy: Mapped[float | None] = mapped_column(nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=_now)


# --------------------------------------------------------------------------- engines


_engines: dict[str, Engine] = {}
_ready: set[str] = set()
_lock = threading.Lock()


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
                kwargs["connect_args"] = {"timeout": 30}
            try:
                engine = create_engine(url, **kwargs)
            except (SQLAlchemyError, ImportError) as exc:
                raise storage_error(url, exc) from None
            _engines[url] = engine
        return engine


def ensure_schema(url: str) -> None:
    """Create autodistill's tables in ``url`` if needed and check their version.

    Raises:
        StorageError: when the database cannot be reached or was written by a newer
            autodistill.
    """
    if url in _ready:
        return
    engine = get_engine(url)
    try:
        Base.metadata.create_all(engine, checkfirst=True)
        with Session(engine) as s, s.begin():
            row = s.get(SchemaVersion, 1)
            if row is None:
                s.add(SchemaVersion(id=1, version=SCHEMA_VERSION))
            elif row.version > SCHEMA_VERSION:
                raise StorageError(
                    f"{mask_url(url)} holds autodistill tables of schema version {row.version}, "
                    f"newer than this autodistill's {SCHEMA_VERSION}; upgrade autodistill"
                )
    except SQLAlchemyError as exc:
        raise storage_error(url, exc) from None
    _ready.add(url)


@contextlib.contextmanager
def session(url: str) -> Iterator[Session]:
    """A SQLAlchemy session on ``url`` (tables created on first use), committed on success.

    Raises:
        StorageError: when the database cannot be used.
    """
    ensure_schema(url)
    try:
        with Session(get_engine(url), expire_on_commit=False) as s, s.begin():
            yield s
    except SQLAlchemyError as exc:
        raise storage_error(url, exc) from None


def record_dataset(url: str, dataset: Any) -> DatasetRow:
    """Insert the dataset's row (shape and ``dataset.info``) unless its fingerprint exists."""
    with session(url) as s:
        row = s.get(DatasetRow, dataset.fingerprint)
        if row is None:
            row = DatasetRow(
                fingerprint=dataset.fingerprint, spec=dataset.spec, name=dataset.name,
                n_rows=int(dataset.n_rows), n_features=int(dataset.n_features),
                n_classes=int(dataset.n_classes), info=_jsonable(dataset.info),
            )
            s.add(row)
        return row


def record_study(url: str, name: str, *, dataset_fingerprint: str, teacher: str, student: str,
                 space: str, split_seed: int, teacher_accuracy: float | None = None) -> StudyRow:
    """Insert the study's row, or return the existing one unchanged."""
    with session(url) as s:
        row = s.get(StudyRow, name)
        if row is None:
            row = StudyRow(
                name=name, dataset_fingerprint=dataset_fingerprint, teacher=teacher,
                student=student, space=space, split_seed=split_seed,
                teacher_accuracy=teacher_accuracy,
            )
            s.add(row)
        return row


def get_study_row(url: str, name: str) -> StudyRow | None:
    """The :class:`StudyRow` named ``name``, or ``None``."""
    with session(url) as s:
        return s.get(StudyRow, name)


def delete_study(url: str, name: str) -> None:
    """Delete the Optuna study ``name`` and autodistill's row of it (datasets stay)."""
    import optuna

    with session(url) as s:
        row = s.get(StudyRow, name)
        if row is not None:
            s.delete(row)
    try:
        optuna.delete_study(study_name=name, storage=open_optuna_storage(url))
    except KeyError:
        pass


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=lambda o: getattr(o, "item", lambda: str(o))()))


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
        engine_kwargs["connect_args"] = {"timeout": 30}
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
            rdb = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        if is_sqlite(url):
            _fast_sqlite_commits(rdb.engine)
        return rdb
    except (SQLAlchemyError, ImportError) as exc:
        raise storage_error(url, exc) from None
    except Exception as exc:  # optuna wraps some driver errors in its own types
        if isinstance(getattr(exc, "__cause__", None), SQLAlchemyError):
            raise storage_error(url, exc.__cause__) from None
        raise
