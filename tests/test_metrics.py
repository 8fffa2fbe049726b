"""autodistill.metrics against sklearn.metrics, the registry and the majority warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from autodistill import metrics
from autodistill.errors import AutodistillError


def _case(seed: int, n: int, classes: int, skew: float = 0.0):
    rng = np.random.default_rng(seed)
    weights = np.exp(-skew * np.arange(classes))
    y = rng.choice(classes, size=n, p=weights / weights.sum())
    logits = rng.normal(size=(n, classes)) + 1.5 * np.eye(classes)[y]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return proba, y


@pytest.mark.parametrize("seed, n, classes, skew", [
    (0, 200, 2, 0.0), (1, 57, 3, 1.0), (2, 500, 10, 0.3), (3, 30, 5, 2.5), (4, 1, 2, 0.0),
])
def test_metrics_match_scikit_learn(seed, n, classes, skew):
    proba, y = _case(seed, n, classes, skew)
    pred = proba.argmax(1)
    labels = list(range(classes))
    with warnings.catch_warnings():  # scikit-learn warns about classes absent from y
        warnings.simplefilter("ignore")
        expected = {
            "accuracy": skm.accuracy_score(y, pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
            "macro_f1": skm.f1_score(y, pred, average="macro", zero_division=0),
            "log_loss": skm.log_loss(y, proba, labels=labels),
        }
    got = metrics.all_metrics(proba, y)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # torch tensors (float32 probabilities) give the same scores
    tensors = metrics.all_metrics(torch.as_tensor(proba, dtype=torch.float32), torch.as_tensor(y))
    assert tensors == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_log_loss_works_with_hard_and_clipped_probabilities():
    y = np.array([0, 1, 1, 0])
    hard = np.eye(2)[[0, 1, 0, 0]]  # a teacherless pipeline's 0/1 predictions, one wrong
    value = metrics.log_loss(hard, y)
    assert np.isfinite(value) and value > 5
    assert value == pytest.approx(skm.log_loss(y, hard, labels=[0, 1]))
    clipped = np.clip(hard, 1e-7, 1 - 1e-7)
    assert metrics.log_loss(clipped, y) == pytest.approx(skm.log_loss(y, clipped))


def test_registry_directions_and_unknown_names():
    assert set(metrics.METRICS) == {"accuracy", "balanced_accuracy", "macro_f1", "log_loss"}
    assert metrics.get_metric("log_loss").direction == "minimize"
    assert metrics.get_metric("Balanced_Accuracy").maximize
    assert metrics.get_metric("log_loss").better(0.1, 0.2)
    assert metrics.get_metric("accuracy").better(0.9, 0.8)
    with pytest.raises(metrics.MetricError) as info:
        metrics.get_metric("auc")
    message = str(info.value)
    assert isinstance(info.value, AutodistillError) and "\n" not in message
    assert "'auc'" in message and "accuracy, balanced_accuracy, macro_f1, log_loss" in message


def test_macro_f1_counts_a_class_only_predicted():
    y = np.array([0, 0, 1, 1])
    proba = np.eye(3)[[0, 2, 1, 1]]  # class 2 predicted once, never true
    assert metrics.macro_f1(proba, y) == pytest.approx(
        skm.f1_score(y, proba.argmax(1), average="macro", zero_division=0))


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError, match="one row per label"):
        metrics.accuracy(np.ones((3, 2)) / 2, [0, 1])
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        metrics.accuracy(np.ones((2, 2)) / 2, [0, 2])


def test_majority_warning_only_above_ninety_percent():
    assert metrics.majority_warning(np.array([0] * 90 + [1] * 10)) is None
    line = metrics.majority_warning(np.array([0] * 91 + [1] * 9), where="data.csv")
    assert line == ("data.csv: the majority class is 91.0% of the rows; accuracy will flatter "
                    "every pipeline; consider --metric balanced_accuracy")
    assert metrics.majority_share(torch.tensor([1, 1, 1, 0])) == 0.75


def test_a_dominant_class_warns_once_and_only_for_accuracy(tmp_path, caplog):
    from autodistill.data.dataset import load_dataset

    path = tmp_path / "rare.csv"
    rows = ["x,label"] + [f"{i},common" for i in range(95)] + [f"{i},rare" for i in range(5)]
    path.write_text("\n".join(rows) + "\n")
    dataset = load_dataset(str(path), target="label")  # loading alone says nothing
    assert metrics.warn_majority(dataset, "balanced_accuracy") is None
    metrics.warn_majority(dataset, "accuracy")
    lines = [r.getMessage() for r in caplog.records if "majority class" in r.getMessage()]
    assert lines == [f"{path}: the majority class is 95.0% of the rows; accuracy will flatter "
                     f"every pipeline; consider --metric balanced_accuracy"]
