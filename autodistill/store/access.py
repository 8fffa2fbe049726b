"""Reading studies: open the database, load a study, interpret its trials.

Shared by :mod:`autodistill.meta.past_studies` and :mod:`autodistill.meta.study_plots`. A trial's
pipeline comes from its ``pipeline`` user attribute or, failing that, from its Optuna
params; the *plain* trial of a study is its earliest completed trial whose four
components are all ``none``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from autodistill.errors import StudyNotFoundError
from autodistill.families import FAMILIES
from autodistill.store import storage as store
from autodistill.store.record import read_study_record, trial_metrics

__all__ = [
    "STATES", "open_storage", "guard", "load_study", "num", "iso", "direction_sign",
    "trial_value", "completed_trials", "trial_pipeline", "trial_components", "plain_trial",
    "trial_brief", "summarize", "param_importances",
]

#: Optuna trial states, in the order the CLI counts them.
STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")

#: One Optuna storage per URL and process, so that many queries share one engine's pool.
_storages: dict[str, Any] = {}


def open_storage(storage: str | None) -> tuple[str, Any]:
    """The resolved URL and an Optuna ``RDBStorage`` on it (one per URL and process)."""
    url = store.resolve_url(storage)
    rdb = _storages.get(url)
    if rdb is None:
        rdb = store.open_optuna_storage(url)
        _storages[url] = rdb
    return url, rdb


@contextlib.contextmanager
def guard(url: str) -> Iterator[None]:
    """Turn a database failure in the middle of a query into a one-line StorageError."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as exc:
        raise store.storage_error(url, exc) from None
    except optuna.exceptions.StorageInternalError as exc:
        raise store.storage_error(url, exc.__cause__ or exc) from None


def load_study(url: str, rdb: Any, name: str) -> Any:
    """``optuna.load_study`` of ``name``, or StudyNotFoundError listing what exists."""
    import optuna

    try:
        rdb.get_study_id_from_name(name)
    except KeyError:
        names = sorted(s.study_name for s in rdb.get_all_studies())
        shown = ", ".join(names[:30]) + (f" and {len(names) - 30} more" if len(names) > 30 else "")
        raise StudyNotFoundError(
            f"no study '{name}' in {store.mask_url(url)}; "
            + (f"studies there: {shown}" if names else "it holds no study yet")
            + " (see `autodistill studies list`)"
        ) from None
    return optuna.load_study(study_name=name, storage=rdb)


# --------------------------------------------------------------------------- trial helpers


def num(value: Any) -> float | None:
    """A finite float, or ``None`` (JSON has no NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def iso(moment: datetime | None) -> str | None:
    """``moment`` as ISO 8601 to the second, or ``None``."""
    return moment.isoformat(timespec="seconds") if moment else None


def direction_sign(directions: Any) -> float | None:
    """+1 when larger is better, -1 when smaller is, ``None`` for multi-objective studies."""
    if len(directions) != 1:
        return None
    return 1.0 if directions[0].name == "MAXIMIZE" else -1.0


def trial_value(trial: Any) -> float | None:
    """The finite objective value of a single-objective trial, else ``None``."""
    values = trial.values
    return num(values[0]) if values is not None and len(values) == 1 else None


def completed_trials(trials: list[Any], sign: float | None) -> list[Any]:
    """Completed trials with a finite value, best first (ties: lower number first)."""
    if sign is None:
        return []
    done = [t for t in trials if t.state.name == "COMPLETE" and trial_value(t) is not None]
    return sorted(done, key=lambda t: (-sign * trial_value(t), t.number))


def trial_pipeline(trial: Any) -> dict[str, Any] | None:
    """The pipeline dict of ``trial``: its ``pipeline`` user attr, else rebuilt from params.

    Returns:
        ``{"kd_loss": {"name", "params"}, ..., "training": {...}}`` with the families that
        can be identified, or ``None`` when none can (a foreign study's trial).
    """
    pipeline = trial.user_attrs.get("pipeline")
    if isinstance(pipeline, dict) and any(isinstance(pipeline.get(f), dict) for f in FAMILIES):
        return pipeline
    params = trial.params
    rebuilt: dict[str, Any] = {}
    for family in FAMILIES:
        name = params.get(family)
        if name is None:
            continue
        prefix = f"{family}.{name}."
        rebuilt[family] = {"name": str(name), "params": {
            k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}}
    if not rebuilt:
        return None
    training = {k[len("training."):]: v for k, v in params.items() if k.startswith("training.")}
    if training:
        rebuilt["training"] = training
    return rebuilt


def trial_components(pipeline: dict[str, Any] | None) -> dict[str, str]:
    """``{family: component name}`` of the families the pipeline names."""
    if not pipeline:
        return {}
    return {f: str(pipeline[f]["name"]) for f in FAMILIES
            if isinstance(pipeline.get(f), dict) and "name" in pipeline[f]}


def plain_trial(completed: list[Any]) -> Any | None:
    """The earliest completed trial whose four components are all ``none``, or ``None``."""
    plain = [t for t in completed
             if (c := trial_components(trial_pipeline(t))) and len(c) == len(FAMILIES)
             and all(name == "none" for name in c.values())]
    return min(plain, key=lambda t: t.number) if plain else None


def trial_score(trial: Any, metric: str, split: str) -> float | None:
    """``trial``'s ``metric`` on ``split`` (``valid`` or ``test``), from the metrics it
    stored; a trial of a study before they were stored (whose metric was accuracy) gives
    its value and its test accuracy; None when it holds no such score."""
    scores = trial_metrics(trial, None)[split]
    if metric in scores:
        return num(scores[metric])
    return trial_value(trial) if metric == "accuracy" and split == "valid" else None


def trial_brief(trial: Any, plain: Any | None = None, sign: float = 1.0,
                metric: str = "accuracy") -> dict[str, Any]:
    """Number, scores, seconds, components, pipeline and gain over ``plain`` of a trial:
    ``valid_score`` is its objective (the study's ``metric`` on validation),
    ``test_score`` the same metric on test, ``test_accuracy`` its accuracy there."""
    value = trial_value(trial)
    brief = {
        "number": trial.number,
        "valid_score": value,
        "test_score": trial_score(trial, metric, "test"),
        "test_accuracy": num(trial.user_attrs.get("test_accuracy")),
        "macro_f1": num(trial.user_attrs.get("macro_f1")),
        "metrics": trial.user_attrs.get("metrics"),
        "seconds": num(trial.user_attrs.get("seconds")),
        "components": trial_components(trial_pipeline(trial)),
        "pipeline": trial_pipeline(trial),
    }
    if plain is not None and value is not None:
        brief["gain_over_plain"] = round(sign * (value - trial_value(plain)), 6)
    else:
        brief["gain_over_plain"] = None
    return brief


def summarize(name: str, directions: Any, user_attrs: dict[str, Any],
             trials: list[Any]) -> dict[str, Any]:
    """The ``studies list`` row of a study (see :func:`autodistill.meta.past_studies.list_studies`)."""
    record = read_study_record(user_attrs)
    sign = direction_sign(directions)
    completed = completed_trials(trials, sign)
    counts = {state: 0 for state in STATES}
    for trial in trials:
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    best = completed[0] if completed else None
    metric = record.metric if record else "accuracy"
    return {
        "name": name,
        "dataset": (record.dataset_name or record.dataset) if record else None,
        "n_rows": record.n_rows if record else None,
        "n_classes": record.n_classes if record else None,
        "teacher": record.teacher if record else None,
        "teacher_accuracy": num(record.teacher_accuracy) if record else None,
        "student": record.student if record else None,
        "space": record.space if record else None,
        "metric": record.metric if record else None,
        "autodistill": record is not None,
        "direction": "/".join(d.name.lower() for d in directions),
        "n_trials": len(trials),
        "trials": counts,
        "best": None if best is None else {
            "number": best.number, "valid_score": trial_value(best),
            "test_score": trial_score(best, metric, "test"),
            "test_accuracy": num(best.user_attrs.get("test_accuracy"))},
        "started": iso(min(starts)) if starts else None,
        "finished": iso(max(ends)) if ends else None,
    }


def param_importances(study: Any, completed: list[Any]) -> tuple[dict[str, float], str | None]:
    """Optuna's parameter importances over the params that vary, or ``({}, reason)``.

    Needs a single-objective study with at least two completed trials and a param whose
    value differs between them; Optuna's warnings (too few trials) become the note.
    """
    import optuna

    if len(study.directions) != 1:
        return {}, "parameter importances need a single-objective study"
    if len(completed) < 2:
        return {}, f"parameter importances need at least 2 completed trials ({len(completed)} so far)"
    seen: dict[str, set[str]] = {}
    for trial in completed:
        for key, value in trial.params.items():
            seen.setdefault(key, set()).add(repr(value))
    varying = sorted(k for k, values in seen.items() if len(values) > 1)
    if not varying:
        return {}, "no parameter varies across the completed trials"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            scores = optuna.importance.get_param_importances(study, params=varying)
        except (ValueError, RuntimeError) as exc:
            return {}, f"parameter importances unavailable: {exc}"
    messages = sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)
                       and not issubclass(w.category, optuna.exceptions.ExperimentalWarning)})
    note = "; ".join(messages) or None
    return {k: round(float(v), 6) for k, v in scores.items()}, note


