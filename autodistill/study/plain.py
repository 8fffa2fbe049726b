"""``plain_tuned``: the honest baseline of every distillation figure.

A student trained without a teacher, the best (by validation) of ``trials`` trials over
its training settings alone (lr, batch size, epochs, weight decay) in the ``plain`` space
(``search_spaces/plain.yaml``: every family held at ``none``, the knowledge base's training
ranges). No teacher is trained. The study is an ordinary search study named
``<study>-plain_tuned``, so the ``studies`` commands, the recommender and a resumed run
find it like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from autodistill.study.job import NO_TEACHER
from autodistill.study.options import PLAIN_SUFFIX
from autodistill.study.queue import best_trial
from autodistill.study.run import run_search

__all__ = ["PLAIN_SPACE", "PLAIN_TRIALS", "plain_study_name", "run_plain_tuned",
           "plain_tuned_best"]

#: The shipped space of a plain_tuned study.
PLAIN_SPACE = "plain"
#: Trials of a plain_tuned study unless told otherwise.
PLAIN_TRIALS = 20


def plain_study_name(study: str) -> str:
    """The name of the plain_tuned study that goes with ``study``."""
    return study if study.endswith(PLAIN_SUFFIX) else f"{study}{PLAIN_SUFFIX}"


def run_plain_tuned(data: str, *, target: str | None = None, student: str = "mlp:16",
                    trials: int = PLAIN_TRIALS, storage: str | None = None,
                    study: str | None = None, workers: int = 1, seed: int = 0,
                    split_seed: int = 0,
                    progress: Callable[[int, int, float | None], None] | None = None,
                    quiet: bool = False, handle_signals: bool = True,
                    population: int | None = None) -> dict[str, Any]:
    """Run (or resume) the plain_tuned study of a task; return the ``search --json`` summary.

    Every trial runs to its end (no pruning), so that each trial's validation and test
    scores are final, like those of the knowledge base's studies. The preset ``plain``
    is its first trial.

    Args:
        data: Data spec.
        target: Label column of a CSV, TSV or Parquet file.
        student: Student spec.
        trials: Trials in total (resuming runs only the owed ones).
        storage: Database URL.
        study: Study name; ``-plain_tuned`` is appended unless it ends so (default:
            ``<dataset>-<student>-plain_tuned``).
        workers: Processes on this machine.
        seed: Seed of student training and of the sampler.
        split_seed: Seed of the train/valid/test split.
        progress: Called as ``progress(done, total, best)``.
        quiet: Silence Optuna's per-trial log lines.
        handle_signals: Turn SIGINT/SIGTERM into a clean stop.
        population: Trials trained together (see :func:`~autodistill.study.run.run_search`).
    """
    return run_search(data, target=target, teacher=NO_TEACHER, student=student,
                      space=PLAIN_SPACE, trials=trials, storage=storage,
                      study=plain_study_name(study) if study else None, workers=workers,
                      prune=False, seed=seed, split_seed=split_seed, progress=progress,
                      quiet=quiet, handle_signals=handle_signals, population=population)


def plain_tuned_best(storage: Any, study: str, record: Any = None,
                     names: set[str] | None = None) -> tuple[str, Any, str] | None:
    """The plain_tuned study that goes with ``study``, its best trial and the metric it
    optimised, or None.

    Args:
        storage: An Optuna storage (or URL) holding both studies.
        study: The distillation study's name.
        record: Its :class:`~autodistill.store.record.StudyRecord`; when given, the
            plain_tuned study must have searched the same data, student and split.
        names: The study names ``storage`` holds, when the caller has them already.

    Returns:
        ``(plain_tuned study name, best completed trial, its metric)`` (accuracy for a
        study recorded before metrics).
    """
    import optuna

    from autodistill.store.record import read_study_record

    name = plain_study_name(study)
    if name == study:
        return None
    if names is None:
        names = {s.study_name for s in optuna.get_all_study_summaries(storage,
                                                                     include_best_trial=False)}
    if name not in names:
        return None
    plain = optuna.load_study(study_name=name, storage=storage)
    theirs = read_study_record(plain)
    if record is not None and (theirs is None or theirs.conflict(replace(
            record, teacher=theirs.teacher)) is not None):
        return None
    best = best_trial(plain)
    metric = theirs.metric if theirs is not None else "accuracy"
    return (name, best, metric) if best is not None else None
