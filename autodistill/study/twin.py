"""The no-teacher twin of a study's best trial: what its components add at its settings.

After a search, the best trial (when it uses the teacher) is trained once more with the
same training settings, student, split and seed but every component ``none``: no
teacher. The difference between the two is what the components that use the teacher
gain at exactly those settings, free of the training settings' own effect (a well-chosen
learning rate is not distillation). The twin is kept on the study, in the user attribute
``no_teacher_twins`` (``{"<trial number>": {"valid", "test", "training", "metrics"}}``:
accuracies, and every metric as a trial's ``metrics`` attribute holds them), because
Optuna does not let a finished trial's attributes change.
"""

from __future__ import annotations

import logging
from typing import Any

from autodistill.families import FAMILIES

__all__ = ["TWINS_ATTR", "no_teacher_pipeline", "record_twin_of_best", "twins_of"]

log = logging.getLogger(__name__)

#: The study user attribute that holds the twins.
TWINS_ATTR = "no_teacher_twins"


def no_teacher_pipeline(doc: dict[str, Any]) -> dict[str, Any]:
    """The pipeline document ``doc`` with every component ``none`` (same training)."""
    return {**{family: {"name": "none", "params": {}} for family in FAMILIES},
            "training": dict(doc.get("training") or {})}


def twins_of(study_or_attrs: Any) -> dict[int, dict[str, Any]]:
    """Trial number -> twin of a study (or of its ``user_attrs``)."""
    attrs = getattr(study_or_attrs, "user_attrs", study_or_attrs) or {}
    twins = attrs.get(TWINS_ATTR)
    if not isinstance(twins, dict):
        return {}
    return {int(k): v for k, v in twins.items() if str(k).isdigit() and isinstance(v, dict)}


def twin_score(twin: dict[str, Any], metric: str, split: str) -> float | None:
    """A stored twin's ``metric`` on ``split`` (``valid`` or ``test``): its ``valid`` and
    ``test`` are accuracies, its ``metrics`` hold every metric (twins stored before them:
    accuracy only); None when it lacks that score."""
    stored = (twin.get("metrics") or {}).get(split) or {}
    if metric in stored:
        return float(stored[metric])
    value = twin.get(split) if metric == "accuracy" else None
    return None if value is None else float(value)


def record_twin_of_best(study: Any, dataset: Any, student: str, seed: int,
                        metric: str = "accuracy") -> dict[str, Any] | None:
    """Train and store the no-teacher twin of ``study``'s best trial, unless it has one
    or the best trial uses no teacher; return the twin (None when there is none). The
    twin picks its best epoch by the study's ``metric``, as the trial did."""
    from autodistill.study.queue import best_trial
    from autodistill.training.engine import train_student
    from autodistill.training.pipeline import Pipeline

    best = best_trial(study)
    if best is None:
        return None
    doc = best.user_attrs.get("pipeline")
    if not isinstance(doc, dict):
        return None
    twins = twins_of(study)
    if best.number in twins:
        return twins[best.number]
    twin_doc = no_teacher_pipeline(doc)
    if Pipeline.from_dict(doc).to_dict() == Pipeline.from_dict(twin_doc).to_dict():
        return None  # the best trial is itself teacherless
    result = train_student(Pipeline.from_dict(twin_doc, source="no-teacher twin"), dataset,
                           None, student=student, seed=seed, metric=metric)
    twin = {"valid": round(float(result.valid_accuracy), 6),
            "test": round(float(result.test_accuracy), 6), "training": twin_doc["training"],
            "metrics": {split: {k: round(float(v), 6) for k, v in scores.items()}
                        for split, scores in (("valid", result.valid_metrics),
                                              ("test", result.test_metrics))}}
    stored = {str(k): v for k, v in twins.items()}
    stored[str(best.number)] = twin
    study.set_user_attr(TWINS_ATTR, stored)
    log.info("no-teacher twin of trial %d: validation %.4f (the trial: %.4f)", best.number,
             twin["valid"], best.value)
    return twin
