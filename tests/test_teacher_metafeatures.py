"""Teacher meta-features tell a teacher with something to give from one without."""

from __future__ import annotations

import torch

from autodistill.meta.features import META_FEATURES, compute_meta_features
from autodistill.training.teachers import TeacherOutputs


def _teacher(dataset, logits_for) -> TeacherOutputs:
    logits = {s: logits_for(getattr(dataset, f"y_{s}")) for s in ("train", "valid", "test")}
    return TeacherOutputs(logits=logits, hidden=None, accuracy=0.0, valid_accuracy=0.0,
                          params=1000, spec="fake", seconds=0.0, module=None)


def test_strong_teacher_scores_above_a_weak_one(iris):
    strong = _teacher(iris, lambda y: 4.0 * torch.eye(iris.n_classes)[torch.as_tensor(y)])
    weak = _teacher(iris, lambda y: torch.zeros(len(y), iris.n_classes))
    high = compute_meta_features(iris, strong, student_params=100)
    low = compute_meta_features(iris, weak, student_params=100)
    assert len(META_FEATURES) == 22 and list(high) == list(META_FEATURES)
    for name in ("teacher_margin_over_best_landmark", "teacher_logloss_gain_over_linear"):
        assert high[name] > 0 > low[name], name
    assert high["teacher_margin_over_best_landmark"] <= high["teacher_margin_over_linear"]
    none = compute_meta_features(iris)
    assert none["teacher_margin_over_best_landmark"] == none["teacher_logloss_gain_over_linear"] == 0
