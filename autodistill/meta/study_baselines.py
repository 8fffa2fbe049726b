"""The no-teacher references of a study's trials, for ``studies show`` and ``compare``.

See :mod:`autodistill.meta.past_studies`: a trial's gain is measured against its
no-teacher twin (same training settings, no teacher) and against the task's
``plain_tuned`` study, never against the ``plain`` preset alone.
"""

from __future__ import annotations

from typing import Any

from autodistill.store.access import num, trial_score
from autodistill.study.plain import plain_tuned_best
from autodistill.study.twin import twin_score, twins_of

__all__ = ["against_no_teacher"]


def against_no_teacher(doc: dict[str, Any], study: Any, rdb: Any, name: str, record: Any,
                        sign: float) -> None:
    """Add the no-teacher twin and the plain_tuned study to ``doc`` (see the module
    docstring): ``best.no_teacher_twin``, ``best.gain_over_twin``, ``plain_tuned`` and
    ``gain_over_plain_tuned`` on the best and top trials."""
    metric = record.metric if record is not None else "accuracy"
    found = plain_tuned_best(rdb, name, record)
    doc["plain_tuned"] = None if found is None else {
        "study": found[0], "number": found[1].number, "metric": found[2],
        "valid_score": trial_score(found[1], metric, "valid"),
        "test_score": trial_score(found[1], metric, "test"),
        "test_accuracy": num(found[1].user_attrs.get("test_accuracy")),
        "training": (found[1].user_attrs.get("pipeline") or {}).get("training")}
    reference = doc["plain_tuned"]["valid_score"] if doc["plain_tuned"] else None
    for brief in [doc["best"], *doc.get("top_trials", ())]:
        if brief is None:
            continue
        value = brief["valid_score"]
        brief["gain_over_plain_tuned"] = (round(sign * (value - reference), 6)
                                          if reference is not None and value is not None
                                          else None)
    best = doc["best"]
    if best is not None:
        twin = twins_of(study).get(best["number"])
        if twin is not None:  # its valid and test are accuracies; the scores, the metric's
            twin = {**twin, **{f"{split}_score": twin_score(twin, metric, split)
                               for split in ("valid", "test")}}
        best["no_teacher_twin"] = twin
        best["gain_over_twin"] = (
            round(sign * (best["valid_score"] - twin["valid_score"]), 6)
            if twin and None not in (best["valid_score"], twin["valid_score"]) else None)

