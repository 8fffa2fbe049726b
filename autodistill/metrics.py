"""Scores of a classifier from its class probabilities and the true labels.

``accuracy``, ``balanced_accuracy``, ``macro_f1`` and ``log_loss``, vectorised over numpy
arrays or torch tensors, with scikit-learn's definitions (``tests/test_metrics.py`` checks
them against ``sklearn.metrics``): balanced accuracy is the mean recall over the classes
present in the labels; macro F1 averages F1 over the classes present in the labels or the
predictions, 0 where a class has no true or predicted row; log loss is the mean negative
log probability of the true class, with probabilities clipped to ``[eps, 1 - eps]``
(``eps`` the float64 machine epsilon, as scikit-learn does), so a teacherless pipeline's
hard predictions (0/1 probabilities) still get a large but finite score. :data:`METRICS` names them with their direction; :func:`get_metric` turns an
unknown name into a one-line error listing the valid ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from autodistill.errors import AutodistillError

__all__ = ["Metric", "METRICS", "MetricError", "get_metric", "accuracy", "balanced_accuracy",
           "macro_f1", "log_loss", "all_metrics", "majority_share", "majority_warning",
           "MAJORITY_WARNING_SHARE", "warn_majority"]

log = logging.getLogger(__name__)

EPS = float(np.finfo(np.float64).eps)  # scikit-learn's clip for log loss on float64
MAJORITY_WARNING_SHARE = 0.9


class MetricError(AutodistillError):
    """An unknown metric name (``--metric``)."""


def _arrays(proba: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(proba, "detach"):
        proba = proba.detach().cpu().numpy()
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if p.ndim != 2 or p.shape[0] != y.shape[0]:
        raise ValueError(f"probabilities must be [n, C] with one row per label; got "
                         f"{p.shape} and {y.shape[0]} labels")
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"labels must lie in 0..{p.shape[1] - 1}")
    return p, y


def _confusion(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[C, C]`` counts, rows = true class, columns = predicted (argmax) class."""
    n_classes = p.shape[1]
    pred = p.argmax(1)
    return np.bincount(y * n_classes + pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes)


def accuracy(proba: Any, labels: Any) -> float:
    """Share of rows whose most probable class is the true one."""
    p, y = _arrays(proba, labels)
    return float((p.argmax(1) == y).mean()) if y.size else 0.0


def balanced_accuracy(proba: Any, labels: Any) -> float:
    """Mean recall over the classes present in ``labels`` (scikit-learn's definition)."""
    p, y = _arrays(proba, labels)
    cm = _confusion(p, y)
    support = cm.sum(1)
    present = support > 0
    return float((np.diag(cm)[present] / support[present]).mean()) if present.any() else 0.0


def macro_f1(proba: Any, labels: Any) -> float:
    """Unweighted mean F1 over the classes present in labels or predictions."""
    p, y = _arrays(proba, labels)
    cm = _confusion(p, y)
    tp, support, predicted = np.diag(cm), cm.sum(1), cm.sum(0)
    seen = (support + predicted) > 0
    denom = support + predicted
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(len(tp)), where=denom > 0)
    return float(f1[seen].mean()) if seen.any() else 0.0


def log_loss(proba: Any, labels: Any, eps: float = EPS) -> float:
    """Mean negative log probability of the true class, probabilities clipped to
    ``[eps, 1 - eps]``: 0/1 probabilities give a large but finite loss."""
    p, y = _arrays(proba, labels)
    if not y.size:
        return 0.0
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.log(p[np.arange(y.size), y]).mean())


@dataclass(frozen=True)
class Metric:
    """A named score: ``fn(proba, labels) -> float``; ``maximize`` says which way is better."""

    name: str
    fn: Callable[[Any, Any], float]
    maximize: bool

    @property
    def direction(self) -> str:
        """Optuna's word for it: ``"maximize"`` or ``"minimize"``."""
        return "maximize" if self.maximize else "minimize"

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than ``b``."""
        return a > b if self.maximize else a < b


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", accuracy, True),
    "balanced_accuracy": Metric("balanced_accuracy", balanced_accuracy, True),
    "macro_f1": Metric("macro_f1", macro_f1, True),
    "log_loss": Metric("log_loss", log_loss, False),
}


def get_metric(name: str) -> Metric:
    """The metric called ``name``.

    Raises:
        MetricError: an unknown name; the message lists the valid ones.
    """
    key = str(name).strip().lower()
    if key not in METRICS:
        raise MetricError(f"--metric '{name}': unknown metric; choose one of "
                          + ", ".join(METRICS))
    return METRICS[key]


def all_metrics(proba: Any, labels: Any) -> dict[str, float]:
    """Every metric of :data:`METRICS` by name (what each trial stores)."""
    return {name: metric.fn(proba, labels) for name, metric in METRICS.items()}


def majority_share(labels: Any) -> float:
    """Share of the most frequent class in ``labels`` (integer codes)."""
    y = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels,
                   dtype=np.int64).reshape(-1)
    return float(np.bincount(y).max() / y.size) if y.size else 0.0


def majority_warning(labels: Any, where: str = "this table") -> str | None:
    """One line when the majority class exceeds 90% of ``labels``, else ``None``."""
    share = majority_share(labels)
    if share <= MAJORITY_WARNING_SHARE:
        return None
    return (f"{where}: the majority class is {share:.1%} of the rows; accuracy will flatter "
            f"every pipeline; consider --metric balanced_accuracy")


_WARNED: set[str] = set()


def warn_majority(dataset: Any, metric: str) -> str | None:
    """Log :func:`majority_warning` for ``dataset`` (all its rows) when ``metric`` is
    accuracy, the one score a majority class flatters; return the line, or None.

    ``search``, ``distill`` and ``recommend`` call it; a line already logged in this
    process is not logged again (``search --out`` distils its best pipeline after the
    search, on the same table), as Python's own warnings are shown once per place.
    """
    if metric != "accuracy":
        return None
    labels = np.concatenate([np.asarray(dataset.y_train), np.asarray(dataset.y_valid),
                             np.asarray(dataset.y_test)])
    warning = majority_warning(labels, getattr(dataset, "spec", None) or "this table")
    if warning is not None and warning not in _WARNED:
        _WARNED.add(warning)
        log.warning(warning)
    return warning
