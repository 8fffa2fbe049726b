"""Past studies: list, show, compare, export, delete, and what each component is worth.

Everything here reads the Optuna studies that ``autodistill search`` wrote, through
Optuna's own API on the same database URL (SQLite or PostgreSQL), and returns plain
dicts and lists that the CLI renders and ``--json`` prints. :func:`plot_study` lives in
:mod:`autodistill.meta.study_plots` and is re-exported here.

A trial's pipeline comes from its ``pipeline`` user attribute (what the search trained),
or, when that is missing, from its Optuna params (``kd_loss``, ``kd_loss.hinton.temperature``,
``training.lr``, ...). A study without the ``autodistill`` attribute (a foreign Optuna
study in the same database) is listed with blanks.

Gains are measured against a student without a teacher, never against the ``plain``
preset alone (an under-trained preset makes every tuned pipeline look like distillation):

* ``gain_over_twin`` (best trial): against its *no-teacher twin*, the same training
  settings, seed and split with every component ``none``, trained by the search at its
  end (:mod:`autodistill.study.twin`): what the components themselves add;
* ``gain_over_plain_tuned``: against the best of the task's ``plain_tuned`` study
  (``<study>-plain_tuned`` in the same database, same data, student and split; see
  :mod:`autodistill.study.plain`): what the pipeline adds over a tuned student without a
  teacher. ``studies components`` uses it, falling back to the study's best teacherless
  trial where no plain_tuned study exists.

The *plain* trial (the earliest completed trial whose four components are all ``none``,
usually the preset) is still reported, with ``gain_over_plain``, for reference.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from typing import Any

from autodistill.families import FAMILIES
from autodistill.meta.study_baselines import against_no_teacher
from autodistill.metrics import METRICS
from autodistill.store import storage as store
from autodistill.store.access import (
    completed_trials,
    direction_sign,
    guard,
    iso,
    load_study,
    num,
    open_storage,
    param_importances,
    plain_trial,
    summarize,
    trial_brief,
    trial_components,
    trial_pipeline,
    trial_score,
    trial_value,
)
from autodistill.store.record import read_study_record, trial_metrics
from autodistill.study.plain import plain_tuned_best
from autodistill.study.twin import twin_score, twins_of

__all__ = ["TOP_FRACTION", "list_studies", "study_summary", "show_study", "compare_studies",
           "export_trials", "to_csv", "delete_study", "component_stats", "param_importances",
           "plot_study", "trial_pipeline"]

log = logging.getLogger(__name__)

#: A trial is "top" when it is among the best ``ceil(TOP_FRACTION * n)`` completed trials.
TOP_FRACTION = 0.1
_BASE_COLUMNS = ("number", "state", "metric", "value", "test_accuracy", "macro_f1",
                 *(f"{split}.{m}" for split in ("valid", "test") for m in METRICS),
                 "seconds", "datetime_start", "datetime_complete")
_TAIL_COLUMNS = ("failed_component", "error")


# --------------------------------------------------------------------------- commands


def list_studies(storage: str | None = None) -> list[dict[str, Any]]:
    """One summary per study in the database, sorted by name.

    Each summary holds ``name``, ``dataset``, ``teacher``, ``teacher_accuracy``,
    ``student``, ``space``, ``n_trials``, ``trials`` (count per state), ``best``
    (``number``, ``valid_score``, ``test_accuracy``, or ``None``), ``started`` and
    ``finished`` (ISO times of the first trial start and the last trial end).

    Raises:
        StorageError: when the database cannot be reached.
    """
    url, rdb = open_storage(storage)
    rows = []
    with guard(url):
        for frozen in sorted(rdb.get_all_studies(), key=lambda s: s.study_name):
            study_id = rdb.get_study_id_from_name(frozen.study_name)
            trials = rdb.get_all_trials(study_id, deepcopy=False)
            rows.append(summarize(frozen.study_name, frozen.directions, frozen.user_attrs, trials))
    return rows


def study_summary(name: str, storage: str | None = None) -> dict[str, Any]:
    """The :func:`list_studies` summary of one study.

    Raises:
        StudyNotFoundError: when no study is called ``name`` (the message lists those that are).
        StorageError: when the database cannot be reached.
    """
    url, rdb = open_storage(storage)
    with guard(url):
        study = load_study(url, rdb, name)
        return summarize(name, study.directions, study.user_attrs, study.get_trials(deepcopy=False))


def show_study(name: str, storage: str | None = None, top: int = 5) -> dict[str, Any]:
    """Summary, best pipeline, ``top`` best trials and parameter importances of a study.

    Adds to the summary: ``info`` (the study's ``autodistill`` attribute), ``best`` (with
    its ``pipeline``, ``components`` and ``gain_over_plain``), ``plain`` (the plain
    trial's brief, or ``None``), ``top_trials`` and ``importances`` (``{param: share}``,
    empty with the reason in ``importances_note`` when they cannot be computed).

    Raises:
        StudyNotFoundError: when no study is called ``name``.
        StorageError: when the database cannot be reached.
    """
    url, rdb = open_storage(storage)
    with guard(url):
        study = load_study(url, rdb, name)
        trials = study.get_trials(deepcopy=False)
        doc = summarize(name, study.directions, study.user_attrs, trials)
        sign = direction_sign(study.directions) or 1.0
        completed = completed_trials(trials, direction_sign(study.directions))
        plain = plain_trial(completed)
        importances, note = param_importances(study, completed)
    record = read_study_record(study)
    metric = record.metric if record else "accuracy"
    doc["info"] = record.to_attrs() if record else {}
    doc["best"] = trial_brief(completed[0], plain, sign, metric) if completed else None
    doc["plain"] = trial_brief(plain, metric=metric) if plain is not None else None
    doc["top_trials"] = [trial_brief(t, plain, sign, metric) for t in completed[:max(top, 0)]]
    doc["importances"] = importances
    doc["importances_note"] = note
    with guard(url):
        against_no_teacher(doc, study, rdb, name, record, sign)
    return doc


def compare_studies(names: list[str], storage: str | None = None) -> list[dict[str, Any]]:
    """The summary, best trial and plain trial of each named study, in the order given.

    Raises:
        StudyNotFoundError: at the first name that is not a study.
        StorageError: when the database cannot be reached.
    """
    url, rdb = open_storage(storage)
    docs = []
    with guard(url):
        for name in names:
            study = load_study(url, rdb, name)
            trials = study.get_trials(deepcopy=False)
            doc = summarize(name, study.directions, study.user_attrs, trials)
            completed = completed_trials(trials, direction_sign(study.directions))
            plain = plain_trial(completed)
            sign = direction_sign(study.directions) or 1.0
            record = read_study_record(study)
            metric = record.metric if record else "accuracy"
            doc["best"] = trial_brief(completed[0], plain, sign, metric) if completed else None
            doc["plain"] = trial_brief(plain, metric=metric) if plain is not None else None
            against_no_teacher(doc, study, rdb, name, record, sign)
            docs.append(doc)
    return docs


def _flat_params(trial: Any) -> dict[str, Any]:
    flat = dict(trial.params)
    pipeline = trial_pipeline(trial) or {}
    for family, name in trial_components(pipeline).items():
        flat.setdefault(family, name)
        for key, value in (pipeline[family].get("params") or {}).items():
            flat.setdefault(f"{family}.{name}.{key}", value)
    for key, value in (pipeline.get("training") or {}).items():
        flat.setdefault(f"training.{key}", value)
    return flat


def _column_order(key: str) -> tuple[int, int, str]:
    head = key.split(".", 1)[0]
    families = list(FAMILIES)
    if head in families:
        return (0, families.index(head), "" if key == head else key)
    return (1, 0, key) if head == "training" else (2, 0, key)


def export_trials(name: str, storage: str | None = None) -> list[dict[str, Any]]:
    """One flat row per trial of a study, every row with the same columns in the same order.

    Columns: ``number``, ``state``, ``metric`` (the study's), ``value`` (that metric on
    validation), ``test_accuracy``, ``macro_f1``, ``valid.<metric>`` and ``test.<metric>``
    for every metric (from the trial's ``metrics`` attribute), ``seconds``, ``datetime_start``, ``datetime_complete``, then one per
    family and component parameter (``kd_loss``, ``kd_loss.hinton.temperature``, ...),
    the ``training.*`` settings, any other Optuna param, ``failed_component`` and ``error``.
    A cell a trial lacks is ``None``.

    Raises:
        StudyNotFoundError: when no study is called ``name``.
        StorageError: when the database cannot be reached.
    """
    url, rdb = open_storage(storage)
    with guard(url):
        study = load_study(url, rdb, name)
        trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    record = read_study_record(study)
    metric = record.metric if record else None
    retried = {t.system_attrs.get("failed_trial"): t.number for t in trials}  # by heartbeat
    rows = []
    for trial in trials:
        attrs = trial.user_attrs
        scores = trial_metrics(trial, metric) if trial.state.name == "COMPLETE" else {}
        row = {
            "number": trial.number, "state": trial.state.name, "metric": metric,
            "value": trial_value(trial),
            **{f"{split}.{m}": (scores.get(split) or {}).get(m)
               for split in ("valid", "test") for m in METRICS},
            "test_accuracy": num(attrs.get("test_accuracy")), "macro_f1": num(attrs.get("macro_f1")),
            "seconds": num(attrs.get("seconds")), "datetime_start": iso(trial.datetime_start),
            "datetime_complete": iso(trial.datetime_complete),
            "failed_component": attrs.get("failed_component"), "error": attrs.get("error") or (
                f"its worker stopped beating; retried as trial {retried[trial.number]}"
                if trial.number in retried else None),
        }
        rows.append((row, _flat_params(trial)))
    param_columns = sorted({k for _, flat in rows for k in flat}, key=_column_order)
    columns = [*_BASE_COLUMNS, *param_columns, *_TAIL_COLUMNS]
    return [{c: row[c] if c in row else flat.get(c) for c in columns} for row, flat in rows]


def to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV text of :func:`export_trials` rows (header from the first row; ``None`` is empty)."""
    columns = list(rows[0]) if rows else [*_BASE_COLUMNS, *_TAIL_COLUMNS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                         for k, v in row.items()})
    return buffer.getvalue()


def delete_study(name: str, storage: str | None = None) -> dict[str, Any]:
    """Delete a study, its trials and autodistill's row of it (datasets stay).

    Returns:
        ``{"deleted": name, "n_trials": ..., "storage": masked URL}``.

    Raises:
        StudyNotFoundError: when no study is called ``name``.
        StorageError: when the database cannot be reached.
    """
    url, _ = open_storage(storage)
    summary = study_summary(name, storage)
    with guard(url):
        store.delete_study(url, name)
    log.info("deleted study %s from %s", name, store.mask_url(url))
    return {"deleted": name, "n_trials": summary["n_trials"], "storage": store.mask_url(url)}


# --------------------------------------------------------------------------- components


def _top_set(completed: list[Any], sign: float) -> set[int]:
    """Numbers of the best ``ceil(TOP_FRACTION * n)`` trials (at least 1), ties included."""
    k = max(1, math.ceil(TOP_FRACTION * len(completed)))
    threshold = sign * trial_value(completed[k - 1])
    return {t.number for t in completed if sign * trial_value(t) >= threshold}


def _rank_key(row: dict[str, Any]) -> tuple[float, float, int, str]:
    gain = row["mean_gain"]
    return (-gain if gain is not None else math.inf, -row["top_rate"], -row["n_trials"],
            row["component"])


def component_stats(storage: str | None = None, metric: str = "accuracy") -> dict[str, Any]:
    """What each component is worth across the studies in the database that optimised
    ``metric`` (gains in other metrics do not add up; ``n_studies_other_metric`` counts them).

    For each component of each family, over the completed trials that use it:
    ``n_trials``; ``n_top`` and ``top_rate`` (how many are in the top
    :data:`TOP_FRACTION` of their study's completed trials, at least one trial per study,
    ties included); ``n_gain`` and ``mean_gain`` (mean of trial value minus its study's
    *no-teacher reference*: the best of the task's plain_tuned study when the database
    holds one, else the study's best teacherless trial; ``None`` when no study has
    either); ``n_twin`` and ``mean_twin_gain`` (over the studies whose best trial uses the
    component and has a no-teacher twin: best minus twin, the same training settings
    without the teacher); ``n_studies`` (studies where it ran). plain_tuned studies
    themselves (teacher ``none``) are baselines, not counted. Within each family the rows
    are ranked by ``mean_gain`` (highest first, ``None`` last), then ``top_rate``, then
    ``n_trials``, on the rounded numbers that are returned (and printed).

    Returns:
        ``{"top_fraction", "metric", "n_studies", "n_studies_with_plain" (with a no-teacher
        reference), "n_studies_with_plain_tuned", "n_studies_other_metric", "components":
        [rows]}``, rows grouped by
        family in pipeline order, each with ``family``, ``component``, ``rank`` and the
        numbers above.

    Raises:
        StorageError: when the database cannot be reached.
    """
    url, rdb = open_storage(storage)
    stats: dict[tuple[str, str], dict[str, Any]] = {}
    counts = {"n_studies": 0, "n_studies_with_plain": 0, "n_studies_with_plain_tuned": 0,
              "n_studies_other_metric": 0}
    with guard(url):
        studies = rdb.get_all_studies()
        names = {s.study_name for s in studies}
        for frozen in studies:
            _study_stats(rdb, frozen, names, stats, counts, metric)
    families = list(FAMILIES)
    rows = []
    for (family, component), s in stats.items():
        rows.append({
            "family": family, "component": component, "n_trials": s["n_trials"],
            "n_top": s["n_top"], "top_rate": round(s["n_top"] / s["n_trials"], 3),
            "n_gain": s["n_gain"],
            "mean_gain": round(s["gain"] / s["n_gain"], 4) if s["n_gain"] else None,
            "n_twin": s["n_twin"],
            "mean_twin_gain": round(s["twin_gain"] / s["n_twin"], 4) if s["n_twin"] else None,
            "n_studies": len(s["studies"]),
        })
    ranked = []
    for family in [*families, *sorted({r["family"] for r in rows} - set(families))]:
        members = sorted((r for r in rows if r["family"] == family), key=_rank_key)
        ranked.extend({**r, "rank": i} for i, r in enumerate(members, start=1))
    return {"top_fraction": TOP_FRACTION, "metric": metric, **counts, "components": ranked}


def _study_stats(rdb: Any, frozen: Any, names: set[str], stats: dict[tuple[str, str], Any],
                 counts: dict[str, int], metric: str) -> None:
    """Add one study's trials to :func:`component_stats`' running sums, if it optimised
    ``metric`` (else count it as of another metric)."""
    from autodistill.study.job import NO_TEACHER

    sign = direction_sign(frozen.directions)
    record = read_study_record(frozen.user_attrs)
    if record is not None and record.teacher == NO_TEACHER:
        return
    if record is not None and record.metric != metric:  # gains in two metrics do not add up
        counts["n_studies_other_metric"] += 1
        return
    if sign is None:
        return
    study_id = rdb.get_study_id_from_name(frozen.study_name)
    completed = completed_trials(rdb.get_all_trials(study_id, deepcopy=False), sign)
    used = [(t, trial_components(trial_pipeline(t))) for t in completed]
    used = [(t, c) for t, c in used if c]
    if not used:
        return
    counts["n_studies"] += 1
    top = _top_set(completed, sign)
    scored = record.metric if record is not None else "accuracy"  # an old study: accuracy
    found = plain_tuned_best(rdb, frozen.study_name, record, names)
    if found is not None:
        reference = trial_score(found[1], scored, "valid")
        counts["n_studies_with_plain_tuned"] += 1
    else:
        teacherless = [t for t, c in used if len(c) == len(FAMILIES)
                       and all(name == "none" for name in c.values())]
        reference = trial_value(teacherless[0]) if teacherless else None  # best first
    counts["n_studies_with_plain"] += reference is not None
    twin = twins_of(frozen.user_attrs).get(completed[0].number)
    twin_valid = twin_score(twin, scored, "valid") if twin is not None else None
    for trial, components in used:
        value = trial_value(trial)
        for family, component in components.items():
            row = stats.setdefault((family, component), {
                "n_trials": 0, "n_top": 0, "studies": set(), "n_gain": 0, "gain": 0.0,
                "n_twin": 0, "twin_gain": 0.0})
            row["n_trials"] += 1
            row["n_top"] += trial.number in top
            row["studies"].add(frozen.study_name)
            if reference is not None:
                row["n_gain"] += 1
                row["gain"] += sign * (value - reference)
            if twin_valid is not None and trial is completed[0] and component != "none":
                row["n_twin"] += 1
                row["twin_gain"] += sign * (value - twin_valid)


def plot_study(name: str, path: str, storage: str | None = None) -> dict[str, Any]:
    """Write the optimisation history and parameter importances of a study to PNG or HTML.

    See :func:`autodistill.meta.study_plots.plot_study`.
    """
    from autodistill.meta.study_plots import plot_study as _plot

    return _plot(name, path, storage)
