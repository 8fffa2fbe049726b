"""The engine: every built-in trains end to end, deterministically, teacher computed once."""

from __future__ import annotations

import math

import pytest
import torch

from autodistill.components import KDLoss
from autodistill.errors import ComponentError, PipelineError
from autodistill.registry.manager import get_registry, register_for_test
from autodistill.training.engine import NonFiniteLossError, train_student
from autodistill.training.pipeline import Pipeline

FAST = {"epochs": 8, "patience": 8, "batch_size": 32}


@pytest.fixture(scope="module")
def iris_with_teacher():
    from autodistill.data.dataset import load_dataset
    from autodistill.training.teachers import get_teacher

    dataset = load_dataset("builtin:iris")
    return dataset, get_teacher("auto", dataset)


def _pipeline(**families) -> Pipeline:
    return Pipeline.from_dict({**{f: {"name": n} for f, n in families.items()}, "training": FAST})


def _all_components():
    registry = get_registry()
    return [(family, name) for family in registry.components for name in registry.names(family)
            if name != "none"]


@pytest.mark.parametrize(("family", "name"), _all_components())
def test_every_builtin_component_trains_end_to_end(iris_with_teacher, family, name):
    dataset, teacher = iris_with_teacher
    families = {"kd_loss": "hinton", family: name}
    deep = "deep_student" in get_registry().get(family, name).requires  # layer_map
    result = train_student(_pipeline(**families), dataset, teacher,
                           student="mlp:8,8" if deep else "mlp:8", seed=0)
    assert math.isfinite(result.valid_accuracy)
    assert result.epochs_run >= 1
    assert 0.0 <= result.test_accuracy <= 1.0
    # Better than always predicting one class of three balanced ones.
    assert result.valid_accuracy > 0.4


def test_same_seed_same_student(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    pipeline = _pipeline(kd_loss="hinton", augmentation="mixup", curriculum="cyclical")
    first = train_student(pipeline, dataset, teacher, seed=3)
    second = train_student(pipeline, dataset, teacher, seed=3)
    assert first.history == second.history
    for key, value in first.student.state_dict().items():
        assert torch.equal(value, second.student.state_dict()[key])
    other = train_student(pipeline, dataset, teacher, seed=4)
    assert any(not torch.equal(v, other.student.state_dict()[k])
               for k, v in first.student.state_dict().items())


class _CountingModule(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.rows = 0
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        self.rows += x.shape[0]
        return self.inner(x)


def test_teacher_runs_only_on_augmented_rows_in_batches(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    counting = _CountingModule(teacher.module)
    original = teacher.module
    teacher.module = counting
    try:
        train_student(_pipeline(kd_loss="hinton"), dataset, teacher)
        assert counting.calls == 0  # cached logits: no teacher forward pass at all
        train_student(_pipeline(kd_loss="hinton", augmentation="gaussian_noise"), dataset,
                      teacher)
        batches = math.ceil(len(dataset.y_train) / FAST["batch_size"]) * FAST["epochs"]
        assert counting.calls == batches  # one batched call per training batch
        assert counting.rows == len(dataset.y_train) * FAST["epochs"]
    finally:
        teacher.module = original


def test_plain_needs_no_teacher(iris_with_teacher):
    dataset, _ = iris_with_teacher
    result = train_student(_pipeline(kd_loss="none"), dataset, None)
    assert result.teacher_agreement is None
    with pytest.raises(PipelineError, match="uses the teacher"):
        train_student(_pipeline(kd_loss="hinton"), dataset, None)


def test_early_stopping_restores_the_best_epoch(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    pipeline = Pipeline.from_dict({"kd_loss": {"name": "hinton"},
                                   "training": {"epochs": 200, "patience": 3, "lr": 0.05}})
    result = train_student(pipeline, dataset, teacher)
    assert result.epochs_run < 200
    assert result.valid_accuracy == max(result.history)
    assert result.history[result.best_epoch] == max(result.history)


class _Exploding(KDLoss):
    """Raises on purpose."""

    name = "exploding"

    def forward(self, student_logits, teacher_logits, targets):
        raise RuntimeError("boom")


class _NaN(KDLoss):
    """Returns NaN on purpose."""

    name = "nan_loss"

    def forward(self, student_logits, teacher_logits, targets):
        return student_logits.sum() * float("nan")


def test_a_raising_component_is_named(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    remove = register_for_test("kd_loss", _Exploding)
    try:
        with pytest.raises(ComponentError, match="kd_loss 'exploding' failed: RuntimeError: boom"):
            train_student(_pipeline(kd_loss="exploding"), dataset, teacher)
    finally:
        remove()


def test_a_nan_loss_stops_training(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    remove = register_for_test("kd_loss", _NaN)
    try:
        with pytest.raises(NonFiniteLossError):
            train_student(_pipeline(kd_loss="nan_loss"), dataset, teacher)
    finally:
        remove()


def test_mi_objective_needs_hidden_features(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    from dataclasses import replace

    logits_only = replace(teacher, hidden=None)
    with pytest.raises(PipelineError, match="hidden features"):
        train_student(_pipeline(kd_loss="hinton", mi_objective="infonce"), dataset, logits_only)


def test_on_epoch_can_stop_training(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    seen = []

    class Stop(Exception):
        pass

    def on_epoch(epoch, accuracy):
        seen.append((epoch, accuracy))
        if epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        train_student(_pipeline(kd_loss="hinton"), dataset, teacher, on_epoch=on_epoch)
    assert [e for e, _ in seen] == [0, 1, 2]


class _NextLabel(KDLoss):
    """Cross-entropy on the next class: a loss no pipeline names."""

    name = "next_label"
    uses_teacher = False

    def forward(self, student_logits, teacher_logits, targets):
        shifted = (targets + 1) % student_logits.shape[-1]
        return torch.nn.functional.cross_entropy(student_logits, shifted)


class _NeedsTeacher(_NextLabel):
    """Claims to read the teacher."""

    name = "needs_teacher"
    uses_teacher = True


def test_a_member_can_train_with_a_loss_of_its_own(iris_with_teacher):
    from autodistill.training.engine import Member, train_population

    dataset, _ = iris_with_teacher
    plain = Pipeline.from_dict({"training": {"epochs": 60, "patience": 60, "lr": 0.01}})
    own, usual = train_population([Member(plain, 0, kd_loss=_NextLabel()), Member(plain, 0)],
                                  dataset, None)
    x = torch.as_tensor(dataset.X_train)
    y = torch.as_tensor(dataset.y_train)
    with torch.no_grad():
        own_pred, usual_pred = (r.student(x)[0].argmax(1) for r in (own, usual))
    # Early stopping still reads validation accuracy on the true labels, but the member
    # minimised its own loss: its predictions are the next class, the other's the class.
    assert float((own_pred == (y + 1) % 3).float().mean()) > 0.8
    assert float((usual_pred == y).float().mean()) > 0.8
    (refused,) = train_population([Member(plain, 0, kd_loss=_NeedsTeacher())], dataset, None)
    assert isinstance(refused, PipelineError) and "uses the teacher" in str(refused)


def test_a_nan_from_a_members_own_loss_names_that_loss(iris_with_teacher):
    from autodistill.training.engine import Member, train_population

    dataset, teacher = iris_with_teacher
    (outcome,) = train_population([Member(_pipeline(kd_loss="none"), 0, kd_loss=_NaN())],
                                  dataset, teacher)
    assert isinstance(outcome, NonFiniteLossError)
    assert "kd_loss 'nan_loss' returned nan" in str(outcome)


@pytest.mark.parametrize("metric", ["balanced_accuracy", "macro_f1", "log_loss"])
def test_the_metric_picks_the_best_epoch(metric):
    # Same seed, no early stopping: the two runs follow the same weights epoch by epoch
    # and differ only in which epoch they keep, so each wins on its own metric.
    from autodistill.data.dataset import load_dataset
    from autodistill.metrics import get_metric

    dataset = load_dataset("synthetic:classification?n=600&d=8&informative=4&classes=3"
                           "&weights=0.8,0.15&flip_y=0.05&seed=3")
    pipeline = Pipeline.from_dict({"training": {"epochs": 40, "patience": 40, "lr": 0.03,
                                                "batch_size": 64}})
    by_accuracy = train_student(pipeline, dataset, None, seed=1)
    by_metric = train_student(pipeline, dataset, None, seed=1, metric=metric)
    assert by_accuracy.history == by_metric.history
    better = get_metric(metric).better
    mine, theirs = by_metric.valid_metrics[metric], by_accuracy.valid_metrics[metric]
    assert mine == pytest.approx(theirs, abs=1e-6) or better(mine, theirs)
    assert by_accuracy.valid_accuracy >= by_metric.valid_accuracy
    assert by_metric.valid_accuracy == by_metric.history[by_metric.best_epoch]
