"""The knowledge base: past studies the recommender learns from.

The shipped part lives in ``studies/`` (packaged as ``autodistill.studies``) as two
JSON-lines files, portable and diff-friendly and never unpickled:

* ``kb_tasks.jsonl``: one task per line — data spec, student, shape, teacher accuracy
  and meta-features;
* ``kb_trials.jsonl``: one trial per line — task, pipeline document, validation score,
  test accuracy, seconds, and the index of its pipeline in the shared portfolio (the
  pipelines every task ran, used for leave-one-dataset-out evaluation), or null.

On first use they are loaded into the user's database (tables ``autodistill_kb_*`` of
:mod:`autodistill.store.schema`),
once; a newer shipped version replaces the old rows. Studies the user runs with
``autodistill search`` join them as training rows of the meta-model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from autodistill.meta.model import MetaRow
from autodistill.meta.scores import plain_for_metric, require_evidence, to_score, trial_score
from autodistill.metrics import get_metric
from autodistill.store.db_lock import database_lock
from autodistill.store.record import read_study_record, trial_metrics
from autodistill.store.schema import kb_info, kb_tasks, kb_trials
from autodistill.store.storage import mask_url

__all__ = [
    "TASKS_FILE",
    "TRIALS_FILE",
    "read_shipped",
    "shipped_space",
    "read_evidence",
    "shipped_version",
    "ensure_knowledge_base",
    "load_meta_rows",
    "meta_rows_from_records",
]

log = logging.getLogger(__name__)

TASKS_FILE = "kb_tasks.jsonl"
TRIALS_FILE = "kb_trials.jsonl"

def _shipped_text(name: str) -> str:
    try:
        return resources.files("autodistill.studies").joinpath(name).read_text()
    except FileNotFoundError:
        return ""


def _evidence_files() -> list[tuple[str, str]]:
    """(plugin, text) of every evidence file the installed plugins register; an
    unreadable file is skipped with a warning naming it."""
    from autodistill.registry.access import get_catalog

    files = []
    for evidence in getattr(get_catalog(), "evidence", ()):
        try:
            files.append((evidence.plugin, Path(evidence.path).read_text()))
        except OSError as exc:
            log.warning("plugin '%s': evidence file %s is unreadable and skipped: %s",
                        evidence.plugin, evidence.path, exc)
    return files


def shipped_version(evidence: list[tuple[str, str]] | None = None) -> str:
    """A content hash of the shipped knowledge base and the plugins' evidence ('' parts
    when none is shipped)."""
    digest = hashlib.sha256()
    for name in (TASKS_FILE, TRIALS_FILE):
        digest.update(_shipped_text(name).encode())
    for plugin, text in evidence or ():
        digest.update(plugin.encode() + b"\0" + text.encode())
    return digest.hexdigest()[:16]


def read_evidence(plugin: str, text: str, task_keys: set[str]) -> list[dict[str, Any]]:
    """The trials of one evidence file whose task the knowledge base holds, marked with
    the plugin that shipped them."""
    trials, orphans = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        trial = json.loads(line)
        if trial.get("task") not in task_keys:
            orphans += 1
            continue
        trials.append({**trial, "portfolio": None, "source": plugin})
    if orphans:
        log.warning("plugin '%s': %d evidence rows name tasks this knowledge base lacks "
                    "(rebuilt since?); they are skipped", plugin, orphans)
    return trials


def read_shipped() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The shipped tasks and trials, as parsed JSON lines."""
    tasks = [json.loads(line) for line in _shipped_text(TASKS_FILE).splitlines() if line.strip()]
    trials = [json.loads(line) for line in _shipped_text(TRIALS_FILE).splitlines() if line.strip()]
    return tasks, trials


def shipped_space(text: str | None = None) -> str:
    """The space the shipped knowledge base's studies searched (the recommender samples
    its candidates there): the ``space`` its task records name (suite 2 on), else ``kb``
    (suite 1's records name none). ``text``: a ``kb_tasks.jsonl`` text (default: shipped)."""
    from autodistill.meta.task_suite import KB_SPACE

    text = _shipped_text(TASKS_FILE) if text is None else text
    first = next((line for line in text.splitlines() if line.strip()), None)
    return (json.loads(first).get("space") or KB_SPACE) if first is not None else KB_SPACE


def meta_rows_from_records(tasks: list[dict[str, Any]], trials: list[dict[str, Any]],
                           plain: dict[str, dict[str, Any]] | None = None,
                           metric: str = "accuracy") -> list[MetaRow]:
    """Knowledge-base records (parsed JSON lines) as meta-model rows scored by ``metric``
    (:func:`~autodistill.meta.scores.trial_score`; a trial without it is left out).

    Args:
        tasks: ``kb_tasks.jsonl`` records.
        trials: ``kb_trials.jsonl`` records.
        plain: Task key -> ``kb_plain_tuned.jsonl`` record (default: the shipped ones);
            each row's ``reference`` and ``reference_test`` are its task's plain_tuned
            best's validation and test scores.
        metric: The score of every row (valid, test and reference).
    """
    from autodistill.meta.kb_plain import plain_of, read_plain_tuned

    plain = plain_for_metric(read_plain_tuned() if plain is None else plain, metric)
    by_key = {t["task"]: t for t in tasks}
    references = {key: ((found["best"]["valid"], found["best"].get("test"))
                        if (found := plain_of(plain, key)) else (None, None))
                  for key in by_key}
    return [MetaRow(task=f"kb:{t['task']}", meta_features=by_key[t["task"]]["meta_features"],
                    pipeline=t["pipeline"], valid=valid, test=trial_score(t, metric, "test"),
                    teacher_valid=by_key[t["task"]].get("teacher_valid") or 1.0,
                    portfolio=t.get("portfolio"), reference=references[t["task"]][0],
                    reference_test=references[t["task"]][1])
            for t in trials
            if t["task"] in by_key and (valid := trial_score(t, metric)) is not None]


def _engine(url: str):
    """The pooled engine of ``url``, its tables created or migrated (once per process)."""
    from autodistill.store.storage import ensure_schema, get_engine

    ensure_schema(url)
    return get_engine(url)


def ensure_knowledge_base(url: str) -> int:
    """Load the shipped knowledge base into the database at ``url`` unless already there.

    Returns:
        The number of knowledge-base trials in the database.
    """
    engine = _engine(url)
    evidence = _evidence_files()
    version = shipped_version(evidence)
    with engine.connect() as conn:
        current = conn.execute(select(kb_info.c.value).where(kb_info.c.key == "version")).scalar()
    if current != version:
        with database_lock(url, engine):
            _load_shipped(url, engine, version, evidence)
    with engine.connect() as conn:
        return len(conn.execute(select(kb_trials.c.id)).all())


def _load_shipped(url: str, engine: Any, version: str,
                  evidence: list[tuple[str, str]]) -> None:
    """Replace the knowledge-base rows by the shipped ones and the plugins' evidence
    (under the database lock)."""
    with engine.connect() as conn:
        if conn.execute(select(kb_info.c.value).where(kb_info.c.key == "version")
                        ).scalar() == version:
            return  # another command loaded it while this one waited for the lock
    tasks, trials = read_shipped()
    keys = {t["task"] for t in tasks}
    for plugin, text in evidence:
        trials = [*trials, *read_evidence(plugin, text, keys)]
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
                     "portfolio": t.get("portfolio"), "source": t.get("source", "autodistill"),
                     "metrics": json.dumps(t["metrics"], sort_keys=True)
                     if t.get("metrics") else None}
                    for t in trials
                ])
            conn.execute(insert(kb_info), [{"key": "version", "value": version}])
        log.info("loaded the knowledge base (%d tasks, %d trials) into %s",
                 len(tasks), len(trials), mask_url(url))
    except IntegrityError:
        log.info("another process loaded the knowledge base first")


def _kb_rows(url: str, metric: str = "accuracy") -> list[MetaRow]:
    engine = _engine(url)
    with engine.connect() as conn:
        tasks = [{"task": row.task, "teacher_valid": row.teacher_valid,
                  "meta_features": json.loads(row.meta_features)}
                 for row in conn.execute(select(kb_tasks))]
        trials = [{"task": row.task, "pipeline": json.loads(row.pipeline), "valid": row.valid,
                   "test": row.test, "portfolio": row.portfolio,
                   "metrics": json.loads(row.metrics) if row.metrics else None}
                  for row in conn.execute(select(kb_trials))]
    return meta_rows_from_records(tasks, trials, metric=metric)


def _study_rows(url: str, metric: str = "accuracy") -> list[MetaRow]:
    """Completed trials of the user's own studies that recorded meta-features, scored by
    ``metric`` (a trial that lacks it is left out)."""
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
    names = {summary.study_name for summary in summaries}
    for summary in summaries:
        record = read_study_record(summary.user_attrs)
        if record is None or not record.meta_features:
            continue
        meta = record.meta_features
        reference = _plain_reference(storage, summary.study_name, record, names, metric)
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        for trial in study.get_trials(deepcopy=False,
                                      states=(optuna.trial.TrialState.COMPLETE,)):
            pipeline = trial.user_attrs.get("pipeline")
            scores = trial_metrics(trial, record.metric)
            valid = to_score(metric, scores["valid"].get(metric))
            if pipeline is None or valid is None:
                continue
            rows.append(MetaRow(
                task=f"study:{summary.study_name}", meta_features=meta, pipeline=pipeline,
                valid=valid, test=to_score(metric, scores["test"].get(metric)),
                teacher_valid=float(record.teacher_valid_accuracy
                                    or meta.get("teacher_valid_accuracy") or 1.0),
                reference=reference,
            ))
    return rows


def _plain_reference(storage: Any, name: str, record: Any, names: set[str],
                     metric: str = "accuracy") -> float | None:
    """The validation score (by ``metric``) of the best trial of the plain_tuned study that
    goes with study ``name`` (``<name>-plain_tuned``, same data, student and split), or None."""
    from autodistill.study.plain import plain_tuned_best

    found = plain_tuned_best(storage, name, record, names)
    if found is None:
        return None
    # A trial without the metrics attribute predates --metric: its value is accuracy.
    return to_score(metric, trial_metrics(found[1])["valid"].get(metric))


def load_meta_rows(url: str, *, include_studies: bool = True,
                   metric: str = "accuracy") -> list[MetaRow]:
    """Every training row of the meta-model: the knowledge base plus the user's studies,
    scored by ``metric`` (:mod:`autodistill.meta.scores`).

    Raises:
        MetricError: an unknown metric, or no knowledge-base trial holds it.
    """
    ensure_knowledge_base(url)
    rows = _kb_rows(url, get_metric(metric).name)
    require_evidence(rows, metric, f"the knowledge base in {mask_url(url)}")
    if include_studies:
        rows.extend(_study_rows(url, metric))
    return rows
