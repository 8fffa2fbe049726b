"""The typed record of a study: what it searched, kept on the Optuna study itself.

One writer (:func:`write_study_record`, called by search) and one reader
(:func:`read_study_record`, used by every module that looks at a study) for the
``autodistill`` user attribute, so that the record travels wherever Optuna copies a study
(journal merges, exports, optuna-dashboard). Older forms are read forward: format 1 was
the untyped dict of the first releases (the same keys, no ``format``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

__all__ = ["RECORD_FORMAT", "METRICS_ATTR", "StudyRecord", "read_study_record",
           "write_study_record", "record_from_attrs", "trial_metrics"]

#: The user attribute that holds the record.
RECORD_ATTR = "autodistill"
#: Bumped when the record's fields change meaning; older formats are read forward.
RECORD_FORMAT = 2
#: The trial user attribute with every metric: ``{"valid": {name: score}, "test": {...}}``.
METRICS_ATTR = "metrics"


@dataclass(frozen=True)
class StudyRecord:
    """What one study searched. Two runs may share a study only when ``fingerprint``,
    ``teacher``, ``student`` and ``split_seed`` agree (:meth:`conflict`)."""

    dataset: str
    dataset_name: str
    fingerprint: str
    teacher: str
    student: str
    split_seed: int
    space: str
    n_rows: int
    n_features: int
    n_classes: int
    #: The teacher's test accuracy; None for a study run without a teacher (``none``).
    teacher_accuracy: float | None
    teacher_valid_accuracy: float | None = None
    #: The task's meta-features with its student (what makes the study a training row of
    #: the meta-model); None when the search was run without an advisor.
    meta_features: dict[str, float] | None = None
    #: The metric the study optimised on validation (``--metric``); studies recorded
    #: before it existed optimised accuracy.
    metric: str = "accuracy"
    #: The label column (``--target``); None for data without one and for older records.
    target: str | None = None
    #: Whether the teacher is no better than chance on validation (by accuracy and
    #: balanced accuracy); None without a teacher and for older records.
    teacher_at_chance: bool | None = None
    #: A digest of the space file's text (:attr:`autodistill.study.space.Space.file_digest`);
    #: None for a shipped space and for older records.
    space_digest: str | None = None
    format: int = field(default=RECORD_FORMAT)

    #: The fields that decide whether another run may continue this study.
    IDENTITY = ("fingerprint", "student", "teacher", "split_seed")

    def conflict(self, other: StudyRecord) -> str | None:
        """The first identity field on which ``other`` differs, or None."""
        for key in self.IDENTITY:
            if getattr(self, key) != getattr(other, key):
                return key
        return None

    def with_meta_features(self, features: dict[str, float],
                           teacher_valid_accuracy: float | None) -> StudyRecord:
        """This record with the task's meta-features filled in."""
        return replace(self, meta_features=features,
                       teacher_valid_accuracy=teacher_valid_accuracy)

    def to_attrs(self) -> dict[str, Any]:
        """The JSON-friendly dict stored as the study's ``autodistill`` attribute."""
        doc = asdict(self)
        return {k: v for k, v in doc.items() if v is not None}


def record_from_attrs(value: Any) -> StudyRecord | None:
    """A record from a stored ``autodistill`` attribute (any format), or None when the
    value is missing or not one of ours."""
    if not isinstance(value, dict):
        return None
    known = {f.name for f in fields(StudyRecord)}
    doc = {k: v for k, v in value.items() if k in known}
    doc["format"] = RECORD_FORMAT  # format 1 had the same keys; read forward as is
    doc.setdefault("teacher_accuracy", None)  # a teacherless study stores none
    try:
        return StudyRecord(**doc)
    except TypeError:
        return None


def read_study_record(study_or_attrs: Any) -> StudyRecord | None:
    """The record of an Optuna study (or of its ``user_attrs`` dict), or None for a study
    that autodistill did not run."""
    attrs = getattr(study_or_attrs, "user_attrs", study_or_attrs)
    return record_from_attrs((attrs or {}).get(RECORD_ATTR))


def write_study_record(study: Any, record: StudyRecord) -> None:
    """Store ``record`` on the Optuna study."""
    study.set_user_attr(RECORD_ATTR, record.to_attrs())


def trial_metrics(trial: Any, study_metric: str | None = "accuracy",
                  ) -> dict[str, dict[str, float]]:
    """A finished trial's scores as ``{"valid": {name: score}, "test": {...}}``.

    Trials store every metric in the ``metrics`` user attribute; an older trial stored
    only its objective (the study's ``study_metric`` on validation, its value) and
    ``test_accuracy``, so that is all it yields (``study_metric`` None: a study autodistill
    did not run, whose value means nothing known). A metric a trial lacks is absent.
    """
    attrs = getattr(trial, "user_attrs", None) or {}
    stored = attrs.get(METRICS_ATTR)
    scores: dict[str, dict[str, float]] = {"valid": {}, "test": {}}
    if isinstance(stored, dict):
        for split in scores:
            part = stored.get(split)
            if isinstance(part, dict):
                scores[split] = {k: float(v) for k, v in part.items() if v is not None}
    value = getattr(trial, "value", None)
    if value is not None and study_metric is not None:
        scores["valid"].setdefault(study_metric, float(value))
    if attrs.get("test_accuracy") is not None:
        scores["test"].setdefault("accuracy", float(attrs["test_accuracy"]))
    return scores
