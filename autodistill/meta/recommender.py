"""``recommend``: rank distillation pipelines for a dataset without searching.

The meta-model (:mod:`autodistill.meta.model`) is fitted on the knowledge base plus the
user's own studies (:func:`autodistill.meta.knowledge.load_meta_rows`) and scores candidate
pipelines: every distinct pipeline the training rows hold plus samples from the
knowledge base's space. Each recommendation carries evidence: the nearest
knowledge-base tasks in meta-feature space and how that pipeline (or pipelines with the
same components) did there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from autodistill.errors import AutodistillError
from autodistill.meta.candidates import (
    candidate_pipelines,
    pipeline_key,
    pipeline_signature,
    proposed_pipelines,
)
from autodistill.meta.features import student_task_features
from autodistill.meta.fitting import fit_meta_model
from autodistill.meta.model import MetaModel, MetaRow, group_by_task
from autodistill.meta.neighbours import FAMILIAR_PERCENTILE, familiarity, nearest_tasks
from autodistill.meta.ranking import Ranking, rank_candidates
from autodistill.meta.scores import from_score
from autodistill.meta.verdict_level import tells_apart
from autodistill.metrics import get_metric, majority_warning
from autodistill.store import storage as store
from autodistill.training.pipeline import Pipeline

__all__ = ["recommend", "recommend_for", "recommend_pipelines", "rank_for_task",
           "task_summary"]

log = logging.getLogger(__name__)

def _evidence(doc: dict[str, Any], near: list[tuple[str, float]],
              tasks: dict[str, list[MetaRow]], keys: dict[int, str],
              metric: str = "accuracy") -> list[dict[str, Any]]:
    """What the nearest tasks say of ``doc``; ``keys``: each row's proposed pipeline key
    (by ``id``), as :func:`candidate_pipelines` proposed it."""
    key, signature = pipeline_key(doc), pipeline_signature(doc)
    evidence = []

    def shown(score: float) -> float:
        return round(from_score(metric, score), 4)

    for task, distance in near:
        rows = tasks[task]
        exact = [r.valid for r in rows if keys[id(r)] == key]
        similar = [r.valid for r in rows if pipeline_signature(r.pipeline) == signature]
        plain = [r.valid for r in rows if r.portfolio == 0]
        evidence.append({
            "task": task.removeprefix("kb:"),
            "distance": round(distance, 3),
            "trials": len(rows),
            "best_valid": shown(max(r.valid for r in rows)),
            "plain_valid": shown(plain[0]) if plain else None,
            "pipeline_valid": shown(max(exact)) if exact else None,
            "same_components_valid": shown(float(np.mean(similar))) if similar else None,
            "same_components_trials": len(similar),
        })
    return evidence


def _diverse(order: list[int], candidates: list[dict[str, Any]], top: int) -> list[int]:
    """The first ``top`` of ``order``, one per combination of components while there are
    enough: five variants of one pipeline make a poor shortlist and a poor warm start."""
    picked: list[int] = []
    signatures: set[tuple[str, ...]] = set()
    for index in order:
        signature = pipeline_signature(candidates[index])
        if signature not in signatures:
            picked.append(index)
            signatures.add(signature)
        if len(picked) == top:
            return picked
    chosen = set(picked) | set([i for i in order if i not in picked][:top - len(picked)])
    return [i for i in order if i in chosen]


def task_summary(dataset: Any, teacher: Any, student: str, *, seed: int = 0) -> dict[str, Any]:
    """What the recommender needs to know of a task: sizes, meta-features, the teacher's
    accuracies and whether it exposes hidden features (see :mod:`autodistill.meta.feature_cache`)."""
    meta = student_task_features(dataset, teacher, student, seed=seed)
    return {
        "dataset": {"name": dataset.name, "n_rows": int(dataset.n_rows),
                    "n_features": int(dataset.n_features), "n_classes": int(dataset.n_classes),
                    "meta_features": {k: round(v, 6) for k, v in meta.items()}},
        "teacher": {"spec": teacher.spec, "valid_accuracy": round(teacher.valid_accuracy, 4),
                    "accuracy": round(teacher.accuracy, 4)},
        "student": student,
        "n_train": len(dataset.y_train),
        "has_hidden": teacher.hidden is not None,
        "labels_new_rows": teacher.module is not None,
    }


def _check_top(top: int) -> None:
    if top < 1:
        raise AutodistillError(f"--top {top}: ask for at least one recommendation")


def recommend_for(dataset: Any, teacher: Any, student: str, *, top: int = 5,
                  storage: str | None = None, seed: int = 0,
                  metric: str = "accuracy", resolve: bool = True) -> dict[str, Any]:
    """The ``recommend --json`` document for a loaded dataset and its teacher's outputs
    (``resolve``: see :func:`rank_for_task`).

    Raises:
        AutodistillError: when the database holds too few studies to learn from.
    """
    _check_top(top)
    return rank_for_task(task_summary(dataset, teacher, student, seed=seed), top=top,
                         storage=storage, seed=seed, metric=metric, resolve=resolve)


def rank_for_task(task: dict[str, Any], *, top: int = 5, storage: str | None = None,
                  seed: int = 0, metric: str = "accuracy", resolve: bool = True
                  ) -> dict[str, Any]:
    """The ``recommend --json`` document for a :func:`task_summary`, ranked by the predicted
    ``metric`` on unseen rows (scores in its units: ``log_loss`` lower is better; gains are on
    the meta-model's scale, :mod:`autodistill.meta.scores`). With ``resolve`` each
    pipeline states the settings a run on this task uses (the recipe's ``"auto"`` ones
    resolved for its training rows); without, it keeps them ``"auto"``, as a search space
    holds them (what ``search --warm-start`` enqueues).

    Raises:
        AutodistillError: when the database holds too few studies to learn from.
        MetricError: an unknown metric, or one the knowledge base does not hold.
    """
    from autodistill.meta.knowledge import load_meta_rows

    _check_top(top)
    url = store.resolve_url(storage)
    meta = task["dataset"]["meta_features"]
    teacher_valid = task["teacher"]["valid_accuracy"]
    rows = load_meta_rows(url, metric=metric)
    try:
        model: MetaModel = fit_meta_model(rows)
    except ValueError:
        raise AutodistillError(
            f"the database {store.mask_url(url)} holds too few studies to learn from "
            f"({len(rows)} trials); reinstall autodistill to restore the shipped knowledge "
            "base, or run `autodistill search` on a few datasets") from None
    proposed = proposed_pipelines(rows)
    candidates = candidate_pipelines(rows, has_hidden=task["has_hidden"],
                                     labels_new_rows=task.get("labels_new_rows", True), seed=seed,
                                     proposed=proposed)
    # Ties (common: equal predictions) go to the pipeline seen on more tasks.
    tasks = group_by_task(rows)
    keys = {row_id: pipeline_key(doc) for row_id, doc in proposed.items()}
    support: dict[str, int] = {}
    for task_rows in tasks.values():
        for key in {keys[id(r)] for r in task_rows}:
            support[key] = support.get(key, 0) + 1
    n_train = task.get("n_train")
    ranking = rank_candidates(model, meta, teacher_valid, candidates, support, n_train,
                              teacher_at_chance=bool(task.get("teacher_at_chance")))
    shown_for = n_train if resolve else None
    reference = {t: r for t, r in tasks.items() if t.startswith("kb:")} or tasks
    near = nearest_tasks(meta, reference)
    recommendations = [
        _recommendation(rank, index, candidates[index], ranking, near, tasks, keys, metric,
                        shown_for)
        for rank, index in enumerate(_diverse(ranking.order, candidates, top), start=1)]
    plain = None if ranking.plain is None else _recommendation(
        0, ranking.plain, candidates[ranking.plain], ranking, near, tasks, keys, metric,
        shown_for)
    return {
        "metric": metric,
        "dataset": task["dataset"],
        "teacher": task["teacher"],
        "student": task["student"],
        "storage": store.mask_url(url),
        "model": {"training_trials": model.n_rows, "training_tasks": model.n_tasks,
                  "candidates": len(candidates),
                  "target": f"gain over plain_tuned (test {_scale(metric)})",
                  "verdict_level": model.verdict_level,
                  "verdict_check": model.verdict_check},
        "distillation_helps": ranking.distillation_helps,
        "teacher_at_chance": ranking.teacher_at_chance,
        "teacher_vs_plain": None if ranking.versus_plain is None else {
            "pipeline": candidates[ranking.versus_plain[0]],
            "gain": round(ranking.versus_plain[1], 4),
            "interval": [round(v, 4) for v in ranking.versus_plain[2:]],
            "verdict_level": ranking.level},
        "plain_tuned_predicted_score": round(
            from_score(metric, model.reference_score(meta, teacher_valid)), 4),
        "plain": None if plain is None else {k: v for k, v in plain.items() if k != "rank"},
        "verdict": _verdict(ranking, metric, model.verdict_check),
        "familiarity": familiarity(meta, reference),
        "recommendations": recommendations,
    }


def _recommendation(rank: int, index: int, doc: dict[str, Any], ranking: Ranking,
                    near: list[tuple[str, float]], tasks: dict[str, list[MetaRow]],
                    keys: dict[int, str], metric: str = "accuracy",
                    n_train: int | None = None) -> dict[str, Any]:
    interval = sorted(round(from_score(metric, float(v)), 4) for v in ranking.intervals[index])
    # The document shown states the settings a run on this data uses (the recipe's
    # "auto" ones resolved for its training rows), so that it reproduces the run.
    shown = doc if n_train is None else Pipeline.from_dict(doc).for_rows(n_train).to_dict()
    return {
        "rank": rank,
        "pipeline": shown,
        "uses_teacher": ranking.uses_teacher[index],
        "predicted_score": round(from_score(metric, float(ranking.scores[index])), 4),
        "interval": interval,
        "predicted_gain_over_plain_tuned": round(float(ranking.gains[index]), 4),
        "gain_interval": [round(float(v), 4) for v in ranking.gain_intervals[index]],
        "evidence": _evidence(doc, near, tasks, keys, metric),
    }


def _scale(metric: str) -> str:
    """The meta-model's scale for ``metric`` (:mod:`autodistill.meta.scores`)."""
    return "exp(-log_loss)" if metric == "log_loss" else metric


def _verdict(ranking: Ranking, metric: str = "accuracy",
             check: dict[str, Any] | None = None) -> str:
    """One line: whether distillation is predicted to help, and by how much (or that the
    teacher is no better than chance); and, when the model's out-of-bag replay (``check``:
    its ``verdict_check``) found that the verdict does not tell tables apart, that too."""
    if ranking.teacher_at_chance:  # the model's verdict, and how far to trust it, did not decide
        return ("distillation is not predicted to help here: the teacher is no better than "
                "chance on validation (by accuracy and by balanced accuracy), so it has nothing "
                "to teach that the labels do not say; train the plain pipeline (ranked first; "
                "`autodistill distill --teacher none` trains no teacher for it), or pass a "
                "teacher that learns this table")
    if ranking.distillation_helps and ranking.versus_plain is not None:
        _, gain, lo, hi = ranking.versus_plain
        said = (f"distillation is predicted to help: the first pipeline gains {gain:+.4f} "
                f"{_scale(metric)} on unseen rows over the plain pipeline "
                f"(its {ranking.level:.0f}th to {100 - ranking.level:.0f}th percentile: "
                f"{lo:+.4f} to {hi:+.4f})")
    elif ranking.distillation_helps and ranking.versus_tuned is not None:
        _, gain, lo, hi = ranking.versus_tuned
        said = (f"distillation is predicted to help: up to {gain:+.4f} "
                f"{_scale(metric)} on unseen rows over a tuned student without a teacher "
                f"(its {ranking.level:.0f}th to {100 - ranking.level:.0f}th percentile: "
                f"{lo:+.4f} to {hi:+.4f})")
    else:
        said = ("distillation is not predicted to help here: no pipeline that uses the "
                f"teacher beats the plain pipeline at the {ranking.level:.0f}th percentile of "
                "its predicted gain; train the plain pipeline (ranked first; `autodistill distill "
                "--teacher none` trains no teacher for it) or tune its settings with "
                "`autodistill search DATA --space plain`")
    if check is None or tells_apart(check) is not False:
        return said
    yes, no = check["helps"], check["does_not_help"]
    return (f"{said}. But replayed on the knowledge base's own tables (out of bag), this "
            f"verdict did not tell them apart: hinton gained "
            f"{yes['hinton_gain_over_plain']:+.4f} over plain where it said yes and "
            f"{no['hinton_gain_over_plain']:+.4f} where it said no")


def recommend_pipelines(dataset: Any, teacher: Any, student: str, *, top: int = 5,
                        storage: str | None = None, metric: str = "accuracy") -> list[Pipeline]:
    """The top ``top`` recommended pipelines (used by ``search --warm-start``)."""
    # unresolved: a search space holds the recipe's "auto" settings, not their values here
    doc = recommend_for(dataset, teacher, student, top=top, storage=storage, metric=metric,
                        resolve=False)
    return [Pipeline.from_dict(r["pipeline"], source=f"recommendation {r['rank']}")
            for r in doc["recommendations"]]


class _Collector(logging.Handler):
    """Keeps the text of every warning it is handed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _collected_warnings() -> Iterator[list[str]]:
    """The warnings the data and training modules log inside the block (they are shown as
    usual too)."""
    collector = _Collector()
    loggers = [logging.getLogger(name) for name in ("autodistill.data", "autodistill.training")]
    for logger in loggers:
        logger.addHandler(collector)
    try:
        yield collector.lines
    finally:
        for logger in loggers:
            logger.removeHandler(collector)


def recommend(data: str, *, target: str | None = None, teacher: str = "auto",
              student: str = "mlp:16", top: int = 5, storage: str | None = None,
              split_seed: int = 0, metric: str = "accuracy") -> dict[str, Any]:
    """Load ``data`` and its teacher, then rank as :func:`recommend_for` by ``metric``;
    adds ``seconds``.

    A task seen before (same data bytes, options, teacher and student) is read from
    :mod:`autodistill.meta.feature_cache` instead: neither the data nor the teacher is loaded.
    With ``metric`` accuracy, a table whose majority class exceeds 90% logs one warning.
    What loading the data and the teacher warned about (a column left out, rows without a
    label, a teacher no better than chance) is kept with the cached task and said again.
    """
    from autodistill.meta import feature_cache

    _check_top(top)
    metric = get_metric(metric).name
    started = time.perf_counter()
    key = feature_cache.task_key(data, target=target, teacher=teacher, student=student,
                                 split_seed=split_seed)
    task = feature_cache.read(key)
    if task is None:
        from autodistill.data.dataset import load_dataset
        from autodistill.training.students import parse_student_spec
        from autodistill.training.teachers import get_teacher, teacher_at_chance

        # a misspelt --student before the data and the teacher (a cached task had a good one)
        parse_student_spec(student)

        with _collected_warnings() as about_data:  # a column left out, unlabelled rows
            dataset = load_dataset(data, target=target, split_seed=split_seed)
        majority = majority_warning(
            np.concatenate([dataset.y_train, dataset.y_valid, dataset.y_test]), dataset.spec)
        if metric == "accuracy" and majority:  # before the teacher's own, as search does
            log.warning(majority)
        with _collected_warnings() as about_teacher:  # a teacher no better than chance
            outputs = get_teacher(teacher, dataset)
            task = task_summary(dataset, outputs, student)
        task.update(majority_warning=majority, data_warnings=about_data,
                    teacher_warnings=about_teacher,
                    teacher_at_chance=teacher_at_chance(outputs, dataset))
        feature_cache.write(key, task)
    else:  # the cache must not hide what the first run warned about, in the same order
        for line in task.get("data_warnings", ()):
            log.warning(line)
        if metric == "accuracy" and task.get("majority_warning"):
            log.warning(task["majority_warning"])
        for line in task.get("teacher_warnings", ()):
            log.warning(line)
    task_seconds = time.perf_counter() - started
    doc = rank_for_task(task, top=top, storage=storage, metric=metric)
    known = doc["familiarity"]
    if known is not None and known["unlike_knowledge_base"]:
        log.warning("%s is unlike the knowledge base's tables: its nearest task is at distance "
                    "%.2f, and %d%% of those tables have one of another dataset within %.2f; "
                    "the predictions and their intervals extrapolate, so measure with "
                    "`autodistill search`", doc["dataset"]["name"], known["nearest_distance"],
                    FAMILIAR_PERCENTILE, known[f"knowledge_base_p{FAMILIAR_PERCENTILE}"])
    doc["seconds"] = {"teacher": round(task_seconds, 3),
                      "total": round(time.perf_counter() - started, 3)}
    return doc
