"""Every table autodistill owns, and how an older database is brought forward.

Optuna's tables and these share one database (so ``optuna.load_study`` and
optuna-dashboard open the same URL); ours are all prefixed ``autodistill_``:

* ``autodistill_schema_version``: one row, the version of these tables;
* ``autodistill_kb_info``, ``autodistill_kb_tasks``, ``autodistill_kb_trials``: the
  knowledge base (shipped studies and the evidence plugins ship), loaded by
  :mod:`autodistill.meta.knowledge`.

What a study searched (dataset, teacher, student, space, meta-features) is not a table:
it travels with the Optuna study as its typed record (:mod:`autodistill.store.record`),
so that exports, journals and optuna-dashboard keep it.

Migrations run forward, one version at a time, inside one transaction, the way Optuna's
RDB storage upgrades its own tables: :func:`migrate` is called by
:func:`autodistill.store.storage.ensure_schema` on every database it opens, and a
database written by a newer autodistill is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    update,
)

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "metadata", "schema_version", "kb_info", "kb_tasks",
           "kb_trials", "current_version", "migrate"]

#: The version these definitions describe; :data:`MIGRATIONS` reaches it from any older one.
SCHEMA_VERSION = 3

metadata = MetaData()

schema_version = Table(
    "autodistill_schema_version", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated", DateTime, server_default=func.current_timestamp()),
)
kb_info = Table(
    "autodistill_kb_info", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
kb_tasks = Table(
    "autodistill_kb_tasks", metadata,
    Column("task", String(512), primary_key=True),
    Column("data", Text, nullable=False),
    Column("student", String(64), nullable=False),
    Column("name", String(256)),
    Column("n_rows", Integer),
    Column("n_features", Integer),
    Column("n_classes", Integer),
    Column("teacher_valid", Float),
    Column("teacher_test", Float),
    Column("meta_features", Text, nullable=False),
)
kb_trials = Table(
    "autodistill_kb_trials", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task", String(512), ForeignKey("autodistill_kb_tasks.task"), index=True),
    Column("number", Integer),
    Column("pipeline", Text, nullable=False),
    Column("valid", Float, nullable=False),
    Column("test", Float),
    Column("seconds", Float),
    Column("portfolio", Integer, nullable=True),
    # Who shipped the row: "autodistill" for the knowledge base, else the plugin's name.
    Column("source", String(256), nullable=False, server_default="autodistill"),
    # Every metric of the trial, JSON {"valid": {...}, "test": {...}}; NULL when the
    # shipped trial held accuracy only (valid/test).
    Column("metrics", Text, nullable=True),
)


def _v1_to_v2(conn: Connection) -> None:
    """Version 2: the dataset and study rows (written, never read) are dropped: a study's
    record lives on the Optuna study; knowledge-base trials say who shipped them."""
    for name in ("autodistill_studies", "autodistill_datasets"):
        if inspect(conn).has_table(name):
            Table(name, MetaData(), autoload_with=conn).drop(conn)
    if inspect(conn).has_table("autodistill_kb_trials"):
        columns = {c["name"] for c in inspect(conn).get_columns("autodistill_kb_trials")}
        if "source" not in columns:
            conn.exec_driver_sql("ALTER TABLE autodistill_kb_trials ADD COLUMN source "
                                 "VARCHAR(256) NOT NULL DEFAULT 'autodistill'")


def _v2_to_v3(conn: Connection) -> None:
    """Version 3: knowledge-base trials hold every metric (``--metric``)."""
    if inspect(conn).has_table("autodistill_kb_trials"):
        columns = {c["name"] for c in inspect(conn).get_columns("autodistill_kb_trials")}
        if "metrics" not in columns:
            conn.exec_driver_sql("ALTER TABLE autodistill_kb_trials ADD COLUMN metrics TEXT")


#: ``MIGRATIONS[v]`` upgrades a database of version ``v`` to ``v + 1``.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3}


def current_version(conn: Connection) -> int | None:
    """The schema version stored in the database, or None for a database without ours."""
    if not inspect(conn).has_table(schema_version.name):
        return None
    return conn.execute(select(schema_version.c.version).where(schema_version.c.id == 1)).scalar()


def migrate(conn: Connection) -> int:
    """Create missing tables and bring an older schema forward; return the version found
    (0 for a new database). Run inside a transaction.

    Raises:
        ValueError: when the database was written by a newer autodistill.
    """
    found = current_version(conn)
    version = found if found is not None else SCHEMA_VERSION
    if version > SCHEMA_VERSION:
        raise ValueError(f"schema version {version}, newer than this autodistill's "
                         f"{SCHEMA_VERSION}")
    while version < SCHEMA_VERSION:
        MIGRATIONS[version](conn)
        version += 1
    metadata.create_all(conn, checkfirst=True)
    if found is None:
        conn.execute(insert(schema_version).values(id=1, version=SCHEMA_VERSION))
    elif found < SCHEMA_VERSION:
        conn.execute(update(schema_version).where(schema_version.c.id == 1)
                     .values(version=SCHEMA_VERSION))
    return found or 0
