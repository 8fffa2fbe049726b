"""The ``search --json`` document of a study (what :func:`~autodistill.study.run.run_search`
returns)."""

from __future__ import annotations

from typing import Any

from autodistill.store import storage as store
from autodistill.store.record import read_study_record, trial_metrics
from autodistill.study.queue import best_trial, trial_counts

__all__ = ["summarize"]


def summarize(study: Any, url: str, *, requested: int | None = None, ran: int = 0,
              interrupted: bool = False, seconds: float | None = None) -> dict[str, Any]:
    """The ``search --json`` document of ``study`` (the storage URL masked):
    ``{"study", "storage", "dataset", "teacher": {"spec", "accuracy"}, "student", "space",
    "metric" (the objective), "trials": {"complete", "pruned", "fail", "running", "waiting",
    "counted", "requested", "total"}, "ran" (counted trials finished meanwhile), "best":
    {"number", "pipeline", "valid_score" (the metric on validation), "test_accuracy",
    "test_score" (the metric on test), "metrics" (every metric, valid and test), "seconds",
    "no_teacher_twin"} | None, "interrupted", "seconds"}``; the best trial is the best in
    the study's direction."""
    trials = study.get_trials(deepcopy=False)
    counts = trial_counts(trials)
    record = read_study_record(study)
    metric = record.metric if record else "accuracy"
    best = None
    top = best_trial(study)
    if top is not None:
        from autodistill.study.twin import twins_of

        scores = trial_metrics(top, metric)
        best = {"number": top.number, "pipeline": top.user_attrs.get("pipeline"),
                "valid_score": top.value, "test_accuracy": top.user_attrs.get("test_accuracy"),
                "test_score": scores["test"].get(metric), "metrics": scores,
                "seconds": top.user_attrs.get("seconds"),
                "no_teacher_twin": twins_of(study).get(top.number)}
    return {
        "study": study.study_name,
        "storage": store.mask_url(url),
        "dataset": record.dataset_name if record else None,
        "teacher": {"spec": record.teacher if record else None,
                    "accuracy": record.teacher_accuracy if record else None},
        "student": record.student if record else None,
        "space": record.space if record else None,
        "metric": metric,
        "trials": {**counts, "requested": requested, "total": len(trials)},
        "ran": ran,
        "best": best,
        "interrupted": interrupted,
        "seconds": round(seconds, 3) if seconds is not None else None,
    }
