"""Build the shipped knowledge base: one study per task, exported as JSON lines.

``autodistill meta build-kb`` runs, for every task of :func:`autodistill.meta.task_suite.kb_tasks`,
an ``autodistill search`` in the ``kb`` space that first runs the shared
:data:`PORTFOLIO` (the presets included; all of it as one population of students trained
at once) and then TPE trials (populations of the same size), without pruning (every
portfolio pipeline needs its final validation and test scores: leave-one-dataset-out
evaluation compares them across tasks). Each task has its own SQLite file in the work
directory, so the build is resumable (run the same command again) and tasks run in
parallel processes without sharing a database. Every task also runs its ``plain_tuned``
study in the same file (:mod:`autodistill.study.plain`: no teacher, training settings
only). The export is deterministic and sorted: ``studies/kb_tasks.jsonl`` and
``studies/kb_trials.jsonl`` (see :mod:`autodistill.meta.knowledge`), and
``studies/kb_plain_tuned.jsonl`` (see :mod:`autodistill.meta.kb_plain`).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from autodistill._processes import die_with_parent
from autodistill._resources import cap_workers
from autodistill.families import FAMILIES
from autodistill.meta.kb_plain import PLAIN_FILE, plain_record
from autodistill.meta.kb_stage import key_slug
from autodistill.meta.knowledge import TASKS_FILE, TRIALS_FILE
from autodistill.meta.task_suite import KB_SPACE, KBTask, kb_space, kb_tasks
from autodistill.progress import report as report_progress
from autodistill.store.record import read_study_record
from autodistill.training.pipeline import PRESETS, Pipeline

__all__ = ["KB_POPULATION", "PORTFOLIO", "RECIPE_PORTFOLIO", "PARTS", "portfolio", "portfolio_params", "task_slug", "trial_lines",
           "study_lines", "build_knowledge_base", "export_knowledge_base"]

log = logging.getLogger(__name__)

#: What a build runs and exports: ``kb``, the distillation studies (kb_tasks.jsonl and
#: kb_trials.jsonl); ``plain_tuned``, the no-teacher baseline studies (kb_plain_tuned.jsonl).
PARTS = ("kb", "plain_tuned")


def _doc(kd: tuple[str, dict] = ("none", {}), mi: tuple[str, dict] = ("none", {}),
         aug: tuple[str, dict] = ("none", {}), cur: tuple[str, dict] = ("none", {}),
         **training: Any) -> dict[str, Any]:
    settings = {"epochs": 60, "lr": 0.01, "batch_size": 128, "weight_decay": 1e-4,
                "patience": 10}
    settings.update(training)
    chosen = dict(zip(FAMILIES, (kd, mi, aug, cur), strict=True))
    return {**{family: {"name": name, "params": params}
               for family, (name, params) in chosen.items()}, "training": settings}


_HINTON = ("hinton", {"temperature": 4.0, "alpha": 0.9})

#: The pipelines every knowledge-base task runs first: the presets, then variants that
#: span the families (KD losses, augmentations, curricula, MI objectives) and the
#: training settings that matter most for small students (learning rate, batch size).
PORTFOLIO: tuple[dict[str, Any], ...] = (
    PRESETS["plain"],
    PRESETS["hinton"],
    _doc(batch_size=64),
    _doc(lr=0.03),
    _doc(("hinton", {"temperature": 2.0, "alpha": 0.5})),
    _doc(("hinton", {"temperature": 8.0, "alpha": 0.9}), batch_size=64),
    _doc(("soft_ce", {"temperature": 4.0, "alpha": 0.9})),
    _doc(("soft_ce", {"temperature": 2.0, "alpha": 0.5}), lr=0.003),
    _doc(("mse_logits", {"alpha": 0.5})),
    _doc(("mse_logits", {"alpha": 0.9}), lr=0.003),
    _doc(("dkd", {"alpha": 1.0, "beta": 8.0, "temperature": 4.0, "ce_weight": 1.0})),
    _doc(("dkd", {"alpha": 1.0, "beta": 2.0, "temperature": 4.0, "ce_weight": 1.0}), lr=0.003),
    _doc(_HINTON, aug=("mixup", {"alpha": 0.2})),
    _doc(_HINTON, aug=("gaussian_noise", {"sigma": 0.1})),
    _doc(_HINTON, aug=("feature_mask", {"p": 0.1})),
    _doc(aug=("mixup", {"alpha": 0.2})),
    _doc(aug=("gaussian_noise", {"sigma": 0.05})),
    _doc(_HINTON, cur=("curriculum", {"pacing": "linear", "a": 0.8, "b": 0.2})),
    _doc(_HINTON, cur=("cyclical", {"start": 0.25, "end": 1.0, "factor": 0.5})),
    _doc(_HINTON, mi=("fitnet", {"weight": 0.1})),
    _doc(("soft_ce", {"temperature": 4.0, "alpha": 0.9}), mi=("fitnet", {"weight": 1.0}),
         lr=0.003),
    _doc(_HINTON, mi=("infonce", {"weight": 0.1, "critic_dim": 32})),
    _doc(("mse_logits", {"alpha": 0.5}), aug=("gaussian_noise", {"sigma": 0.1}),
         cur=("cyclical", {"start": 0.25, "end": 1.0, "factor": 0.5})),
    _doc(("soft_ce", {"temperature": 4.0, "alpha": 0.7}), aug=("mixup", {"alpha": 0.2}),
         lr=0.03, weight_decay=0.0),
    # Pools (pool_factor): rows generated once, labelled once by the teacher, trained on
    # with the real rows; AutoGluon's distill recipe (MUNGE, x5) and a mixup pool.
    _doc(_HINTON, aug=("munge", {"p": 0.5, "s": 1.0, "pool_factor": 5})),
    _doc(("soft_ce", {"temperature": 4.0, "alpha": 0.9}),
         aug=("mixup", {"alpha": 0.2, "pool_factor": 3})),
)


#: The training recipe's defaults, stated (what the presets leave to them).
_RECIPE = {"epochs": "auto", "steps": 4000, "lr": 0.01, "schedule": "constant",
           "batch_size": "auto", "weight_decay": 1e-4, "patience": "auto"}


def _with_recipe(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` trained with the recipe: its components, lr and weight decay kept; a smaller
    batch (at fixed epochs, twice the optimiser steps) becomes twice the steps budget."""
    old = doc.get("training", {})
    training = {**_RECIPE, **{k: old[k] for k in ("lr", "weight_decay") if k in old}}
    if isinstance(old.get("batch_size"), int) and old["batch_size"] < 128:
        training["steps"] = 2 * _RECIPE["steps"]
    return {**{family: doc.get(family, {"name": "none", "params": {}}) for family in FAMILIES},
            "training": training}


#: Suite 2's portfolio: :data:`PORTFOLIO` pipeline by pipeline (same components, same
#: order, so index ``i`` names the same method in both suites), trained with the recipe.
RECIPE_PORTFOLIO: tuple[dict[str, Any], ...] = tuple(_with_recipe(doc) for doc in PORTFOLIO)

#: Trials of a task trained together: the whole portfolio in one population.
KB_POPULATION = len(PORTFOLIO)


def _portfolio_docs(version: int) -> tuple[dict[str, Any], ...]:
    kb_space(version)  # an unknown suite fails here
    return PORTFOLIO if version == 1 else RECIPE_PORTFOLIO


def portfolio(version: int = 1) -> list[Pipeline]:
    """The portfolio of suite ``version`` as validated pipelines: :data:`PORTFOLIO` for
    suite 1, :data:`RECIPE_PORTFOLIO` for suite 2."""
    return [Pipeline.from_dict(doc, source=f"portfolio pipeline {index}")
            for index, doc in enumerate(_portfolio_docs(version))]


def task_slug(task: KBTask) -> str:
    """A short, file- and study-safe name of ``task``: ``kb-<12 hex digits>``."""
    return key_slug(task.key)


def _task_url(work_dir: Path, task: KBTask) -> str:
    return f"sqlite:///{work_dir / (task_slug(task) + '.db')}"


def _run_task(args: tuple[KBTask, str, int, int, int, tuple[str, ...], int],
              ) -> tuple[str, float, str | None]:
    """Run (or resume) one task's studies in this process; return (key, seconds, error)."""
    task, work_dir, trials, plain_trials, seed, parts, population = args
    from autodistill.meta.advisor import KnowledgeAdvisor
    from autodistill.study.plain import run_plain_tuned
    from autodistill.study.run import run_search

    started = time.perf_counter()
    url = _task_url(Path(work_dir), task)
    try:
        if "kb" in parts:
            run_search(task.data, student=task.student, space=KB_SPACE, trials=trials,
                       storage=url, study=task_slug(task), advisor=KnowledgeAdvisor(),
                       enqueue=portfolio(), prune=False, seed=seed, quiet=True,
                       handle_signals=False, population=population)
        if "plain_tuned" in parts:
            run_plain_tuned(task.data, student=task.student, trials=plain_trials, storage=url,
                            study=task_slug(task), seed=seed, quiet=True,
                            handle_signals=False, population=population)
    except Exception as exc:  # noqa: BLE001 - one broken task must not stop the build
        return task.key, time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
    return task.key, time.perf_counter() - started, None


def build_knowledge_base(out_dir: Path, work_dir: Path, *, trials: int = 40, workers: int = 2,
                         limit: int | None = None, seed: int = 0, plain_trials: int = 20,
                         parts: Sequence[str] = PARTS, population: int = KB_POPULATION,
                         progress: Callable[[str, float, str | None], None] | None = None,
                         ) -> dict[str, Any]:
    """Run every task's study (resuming finished work), then export the knowledge base.

    Args:
        out_dir: Where ``kb_tasks.jsonl``, ``kb_trials.jsonl`` and ``kb_plain_tuned.jsonl``
            are written (only the files of ``parts``).
        work_dir: One SQLite file per task (keep it to resume an interrupted build).
        trials: Trials per task, the portfolio included (at least its size).
        workers: Tasks run in parallel, one process each.
        population: Trials of a task trained together (default: the whole portfolio at
            once, then the TPE trials in populations of that size).
        limit: Only the first ``limit`` tasks (for a quick trial build).
        seed: Seed of student training and of TPE.
        plain_trials: Trials of each task's plain_tuned study.
        parts: Which of :data:`PARTS` to run and export (the others' files are left as
            they are).
        progress: Called as ``progress(task_key, seconds, error)`` when a task ends.

    Returns:
        ``{"tasks", "trials", "failed": {task: error}, "seconds"}``.
    """
    if trials < len(PORTFOLIO):
        raise ValueError(f"trials must be at least the portfolio's {len(PORTFOLIO)} pipelines")
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ValueError(f"parts must be among {', '.join(PARTS)}, got {list(parts)}")
    parts = tuple(parts)
    tasks = kb_tasks()[:limit] if limit else kb_tasks()
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    jobs = [(task, str(work_dir), trials, plain_trials, seed, parts, population)
            for task in tasks]
    failed: dict[str, str] = {}
    workers = cap_workers(workers, len(jobs))
    if workers <= 1:
        results = map(_run_task, jobs)
        pool = None
    else:
        # spawn: fresh interpreters, no forked torch thread pools
        pool = multiprocessing.get_context("spawn").Pool(
            workers, maxtasksperchild=4, initializer=die_with_parent, initargs=(os.getpid(),))
        results = pool.imap_unordered(_run_task, jobs)
    try:
        for done, (key, seconds, error) in enumerate(results, start=1):
            if error:
                failed[key] = error
                log.warning("task %s failed: %s", key, error)
            report_progress("build-kb", done, len(jobs), "task", key, seconds=round(seconds, 1),
                            status="FAILED" if error else "done")
            if progress is not None:
                progress(key, seconds, error)
    except BaseException:
        if pool is not None:
            pool.terminate()  # an error or Ctrl-C: the tasks' processes go with it
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    exported = export_knowledge_base(out_dir, work_dir, tasks, parts=parts)
    return {**exported, "failed": failed, "seconds": round(time.perf_counter() - started, 1)}


def _round(value: Any) -> Any:
    return round(float(value), 6) if value is not None else None


def export_knowledge_base(out_dir: Path, work_dir: Path, tasks: Sequence[KBTask] | None = None,
                          *, parts: Sequence[str] = PARTS) -> dict[str, int]:
    """Write the tasks' studies from ``work_dir`` as sorted JSON lines into ``out_dir``.

    A trial is marked ``portfolio: i`` when it ran ``PORTFOLIO[i]``; tasks without a
    finished study are left out. Only the files of ``parts`` are written.

    Returns:
        ``{"tasks": n, "trials": n, "plain_tuned": n}`` written (0 for a part not written).
    """
    tasks = sorted(tasks if tasks is not None else kb_tasks(), key=lambda t: t.key)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {"tasks": 0, "trials": 0, "plain_tuned": 0}
    if "kb" in parts:
        task_lines, trial_lines = _kb_lines(work_dir, tasks)
        _write_lines(out_dir / TASKS_FILE, task_lines)
        _write_lines(out_dir / TRIALS_FILE, trial_lines)
        counts.update(tasks=len(task_lines), trials=len(trial_lines))
    if "plain_tuned" in parts:
        plain_lines = _plain_lines(work_dir, tasks)
        _write_lines(out_dir / PLAIN_FILE, plain_lines)
        counts["plain_tuned"] = len(plain_lines)
    return counts


def _write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))


def _load(work_dir: Path, task: KBTask, name: str) -> Any:
    """The Optuna study ``name`` of ``task``'s file in ``work_dir``, or None."""
    import optuna

    path = work_dir / f"{task_slug(task)}.db"
    if not path.exists():
        return None
    try:
        return optuna.load_study(study_name=name, storage=f"sqlite:///{path}")
    except KeyError:
        return None


def _plain_lines(work_dir: Path, tasks: Sequence[KBTask]) -> list[dict[str, Any]]:
    from autodistill.study.plain import plain_study_name

    lines = []
    for task in tasks:
        study = _load(work_dir, task, plain_study_name(task_slug(task)))
        line = plain_record(task.key, study) if study is not None else None
        if line is not None:
            lines.append(line)
    return lines


def _kb_lines(work_dir: Path, tasks: Sequence[KBTask],
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    task_lines, trial_lines = [], []
    params = portfolio_params()
    for task in tasks:
        study = _load(work_dir, task, task_slug(task))
        lines = study_lines(task, study, params) if study is not None else None
        if lines is not None:
            task_lines.append(lines[0])
            trial_lines.extend(lines[1:])
    return task_lines, trial_lines


def portfolio_params(version: int = 1) -> list[dict[str, Any]]:
    """The portfolio of suite ``version`` as its space's fixed parameters (how a trial
    that ran a portfolio pipeline is recognised)."""
    from autodistill.study.space_files import load_space

    space = load_space(kb_space(version))
    return [space.params_for(p) for p in portfolio(version)]


def _rounded_metrics(metrics: Any) -> dict[str, Any] | None:
    """A trial's ``metrics`` user attribute (``{"valid": {...}, "test": {...}}``), rounded;
    None when the trial has none (studies run before it was recorded)."""
    if not isinstance(metrics, dict):
        return None
    return {split: ({name: _round(value) for name, value in sorted(values.items())}
                    if isinstance(values, dict) else values)
            for split, values in sorted(metrics.items())}


def study_lines(task: KBTask, study: Any, params: list[dict[str, Any]],
                ) -> list[dict[str, Any]] | None:
    """The exported lines of one task's distillation ``study``: its task record, then its
    completed trials by number; None when it has no completed trial or no meta-features.

    A trial is marked ``portfolio: i`` when it ran ``PORTFOLIO[i]`` (``params`` is
    :func:`portfolio_params`); it carries its ``metrics`` when it recorded them. A task of
    a teacher-keyed suite also names its ``teacher``.
    """
    import optuna

    record = read_study_record(study)
    complete = [t for t in study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    if not complete or record is None or record.meta_features is None:
        return None
    task_line = {
        "task": task.key, "data": task.data, "student": task.student,
        "name": record.dataset_name, "n_rows": record.n_rows,
        "n_features": record.n_features, "n_classes": record.n_classes,
        "teacher_valid": _round(record.teacher_valid_accuracy),
        "teacher_test": _round(record.teacher_accuracy),
        "meta_features": {k: _round(v) for k, v in sorted(record.meta_features.items())},
    }
    if task.teacher is not None:
        # a teacher-keyed suite (2 on) also names its space: the recommender samples it
        from autodistill.training.teachers import teacher_versions

        task_line.update(teacher=task.teacher, space=record.space,
                         teacher_versions=teacher_versions(task.teacher_spec))
        if record.teacher_at_chance is not None:  # meta evaluate ranks as recommend does
            task_line["teacher_at_chance"] = record.teacher_at_chance
    return [task_line, *trial_lines(task, complete, params)]


def trial_lines(task: KBTask, complete: list[Any], params: list[dict[str, Any]],
                ) -> list[dict[str, Any]]:
    """The knowledge base's trial lines of ``complete`` (finished Optuna trials of
    ``task``), by number; a trial that ran ``params[i]`` is marked ``portfolio: i``."""
    lines = []
    for trial in sorted(complete, key=lambda t: t.number):
        fixed = trial.system_attrs.get("fixed_params")
        index = next((i for i, fixed_params in enumerate(params) if fixed == fixed_params),
                     None)
        line = {
            "task": task.key, "number": trial.number, "portfolio": index,
            "valid": _round(trial.value), "test": _round(trial.user_attrs.get("test_accuracy")),
            "seconds": round(float(trial.user_attrs.get("seconds") or 0.0), 3),
            "pipeline": trial.user_attrs["pipeline"],
        }
        metrics = _rounded_metrics(trial.user_attrs.get("metrics"))
        if metrics is not None:
            line["metrics"] = metrics
        lines.append(line)
    return lines
