"""The knowledge base: past studies the recommender learns from.

The shipped part lives in ``studies/`` (packaged as ``autodistill.studies``) as two
JSON-lines files, portable and diff-friendly and never unpickled:

* ``kb_tasks.jsonl``: one task per line — data spec, student, shape, teacher accuracy
  and meta-features;
* ``kb_trials.jsonl``: one trial per line — task, pipeline document, validation score,
  test accuracy, seconds, and the index of its pipeline in the shared portfolio (the
  pipelines every task ran, used for leave-one-dataset-out evaluation), or null.

On first use they are loaded into the user's database (tables ``autodistill_kb_*``),
once; a newer shipped version replaces the old rows. Studies the user runs with
``autodistill search`` join them as training rows of the meta-model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from importlib import resources
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from autodistill._db_lock import database_lock
from autodistill.metamodel import MetaRow
from autodistill.storage import mask_url

__all__ = [
    "TASKS_FILE",
    "TRIALS_FILE",
    "read_shipped",
    "shipped_version",
    "ensure_knowledge_base",
    "load_meta_rows",
    "meta_rows_from_records",
]

log = logging.getLogger(__name__)

TASKS_FILE = "kb_tasks.jsonl"
TRIALS_FILE = "kb_trials.jsonl"

metadata = MetaData()
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
)


def _shipped_text(name: str) -> str:
    try:
        return resources.files("autodistill.studies").joinpath(name).read_text()
    except FileNotFoundError:
        return ""


def shipped_version() -> str:
    """A content hash of the shipped knowledge base ('' when none is shipped)."""
    digest = hashlib.sha256()
    for name in (TASKS_FILE, TRIALS_FILE):
        digest.update(_shipped_text(name).encode())
    return digest.hexdigest()[:16]


def read_shipped() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The shipped tasks and trials, as parsed JSON lines."""
    tasks = [json.loads(line) for line in _shipped_text(TASKS_FILE).splitlines() if line.strip()]
    trials = [json.loads(line) for line in _shipped_text(TRIALS_FILE).splitlines() if line.strip()]
    return tasks, trials


def meta_rows_from_records(tasks: list[dict[str, Any]],
                           trials: list[dict[str, Any]]) -> list[MetaRow]:
    """Knowledge-base records (parsed JSON lines) as meta-model rows."""
    by_key = {t["task"]: t for t in tasks}
    return [MetaRow(task=f"kb:{t['task']}", meta_features=by_key[t["task"]]["meta_features"],
                    pipeline=t["pipeline"], valid=t["valid"], test=t.get("test"),
                    teacher_valid=by_key[t["task"]].get("teacher_valid") or 1.0,
                    portfolio=t.get("portfolio"))
            for t in trials if t["task"] in by_key]


_ready: set[str] = set()


def _engine(url: str):
    """The pooled engine of ``url`` with the knowledge-base tables created (once)."""
    from autodistill.storage import get_engine, storage_error

    engine = get_engine(url)
    if url not in _ready:
        try:
            from sqlalchemy import inspect

            if not set(metadata.tables) <= set(inspect(engine).get_table_names()):
                with database_lock(url, engine):  # two commands on an empty database race
                    metadata.create_all(engine)
        except SQLAlchemyError as exc:
            raise storage_error(url, exc) from None
        _ready.add(url)
    return engine


def ensure_knowledge_base(url: str) -> int:
    """Load the shipped knowledge base into the database at ``url`` unless already there.

    Returns:
        The number of knowledge-base trials in the database.
    """
    engine = _engine(url)
    version = shipped_version()
    with engine.connect() as conn:
        current = conn.execute(select(kb_info.c.value).where(kb_info.c.key == "version")).scalar()
    if current != version:
        with database_lock(url, engine):
            _load_shipped(url, engine, version)
    with engine.connect() as conn:
        return len(conn.execute(select(kb_trials.c.id)).all())


def _load_shipped(url: str, engine: Any, version: str) -> None:
    """Replace the knowledge-base rows by the shipped ones (under the database lock)."""
    with engine.connect() as conn:
        if conn.execute(select(kb_info.c.value).where(kb_info.c.key == "version")
                        ).scalar() == version:
            return  # another command loaded it while this one waited for the lock
    tasks, trials = read_shipped()
    try:
        with engine.begin() as conn:
            conn.execute(delete(kb_trials))
            conn.execute(delete(kb_tasks))
            conn.execute(delete(kb_info))
            if tasks:
                conn.execute(insert(kb_tasks), [
                    {**{k: t.get(k) for k in ("task", "data", "student", "name", "n_rows",
                                              "n_features", "n_classes", "teacher_valid",
                                              "teacher_test")},
                     "meta_features": json.dumps(t["meta_features"], sort_keys=True)}
                    for t in tasks
                ])
            if trials:
                conn.execute(insert(kb_trials), [
                    {"task": t["task"], "number": t.get("number"),
                     "pipeline": json.dumps(t["pipeline"], sort_keys=True),
                     "valid": t["valid"], "test": t.get("test"), "seconds": t.get("seconds"),
                     "portfolio": t.get("portfolio")}
                    for t in trials
                ])
            conn.execute(insert(kb_info), [{"key": "version", "value": version}])
        log.info("loaded the knowledge base (%d tasks, %d trials) into %s",
                 len(tasks), len(trials), mask_url(url))
    except IntegrityError:
        log.info("another process loaded the knowledge base first")


def _kb_rows(url: str) -> list[MetaRow]:
    engine = _engine(url)
    with engine.connect() as conn:
        tasks = [{"task": row.task, "teacher_valid": row.teacher_valid,
                  "meta_features": json.loads(row.meta_features)}
                 for row in conn.execute(select(kb_tasks))]
        trials = [{"task": row.task, "pipeline": json.loads(row.pipeline), "valid": row.valid,
                   "test": row.test, "portfolio": row.portfolio}
                  for row in conn.execute(select(kb_trials))]
    return meta_rows_from_records(tasks, trials)


def _study_rows(url: str) -> list[MetaRow]:
    """Completed trials of the user's own studies that recorded meta-features."""
    import optuna
    from sqlalchemy import inspect

    rows: list[MetaRow] = []
    try:
        if "studies" not in inspect(_engine(url)).get_table_names():
            return rows  # no Optuna study was ever stored here
        storage = optuna.storages.RDBStorage(url, skip_table_creation=True,
                                             skip_compatibility_check=True)
        summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    except Exception as exc:  # noqa: BLE001 - a foreign or empty database has no studies
        log.debug("no Optuna studies readable at %s: %s", mask_url(url), exc)
        return rows
    for summary in summaries:
        info = summary.user_attrs.get("autodistill") or {}
        meta = info.get("meta_features")
        if not meta:
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        for trial in study.get_trials(deepcopy=False,
                                      states=(optuna.trial.TrialState.COMPLETE,)):
            pipeline = trial.user_attrs.get("pipeline")
            if pipeline is None or trial.value is None:
                continue
            rows.append(MetaRow(
                task=f"study:{summary.study_name}", meta_features=meta, pipeline=pipeline,
                valid=float(trial.value), test=trial.user_attrs.get("test_accuracy"),
                teacher_valid=float(info.get("teacher_valid_accuracy")
                                    or meta.get("teacher_valid_accuracy") or 1.0),
            ))
    return rows


def load_meta_rows(url: str, *, include_studies: bool = True) -> list[MetaRow]:
    """Every training row of the meta-model: the knowledge base plus the user's studies."""
    ensure_knowledge_base(url)
    rows = _kb_rows(url)
    if include_studies:
        rows.extend(_study_rows(url))
    return rows
