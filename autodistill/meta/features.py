"""Meta-features: what the recommender knows about a dataset and its teacher.

Cheap by construction (under a second on 20,000 x 50): landmarkers and statistics run on
a fixed-size subsample. Every value is finite for every dataset (one feature, two or
fifty classes, all-categorical): degenerate statistics fall back to 0.

Two teacher features tell a strong teacher from a weak one (issue 11, 20 -> 22 features):
``teacher_margin_over_best_landmark``, the teacher's validation accuracy minus that of
the best landmarker (1-NN, naive Bayes, linear), and ``teacher_logloss_gain_over_linear``,
the linear landmarker's validation log-loss minus the teacher's (a soft margin, steadier
than accuracy on a small validation split). A teacher with nothing to give scores about 0
or below on both.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from autodistill.data.dataset import Dataset
    from autodistill.training.teachers import TeacherOutputs

__all__ = ["META_FEATURES", "compute_meta_features", "student_task_features"]

#: Names, in order, of the meta-features; the meta-model's dataset-side inputs.
META_FEATURES: tuple[str, ...] = (
    "log_rows",
    "log_features",
    "log_classes",
    "log_rows_per_feature",
    "log_rows_per_class",
    "class_entropy",
    "imbalance",
    "categorical_fraction",
    "missing_fraction",
    "mean_abs_skew",
    "mean_abs_correlation",
    "pca_95_fraction",
    "landmark_1nn",
    "landmark_naive_bayes",
    "landmark_linear",
    "teacher_valid_accuracy",
    "teacher_mean_entropy",
    "teacher_ece",
    "teacher_margin_over_linear",
    "log_student_teacher_param_ratio",
    # Strong versus weak teachers (issue 11): what the teacher knows beyond cheap models.
    "teacher_margin_over_best_landmark",
    "teacher_logloss_gain_over_linear",
)

_SUBSAMPLE = 2000
_CLIP = 1e-7  # probability floor of the log-losses below


def _valid_logloss(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log probability of the true class, floored at ``_CLIP``."""
    return float(-np.log(np.clip(proba[np.arange(len(y)), y], _CLIP, 1.0)).mean())


def _finite(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else 0.0


def _subsample(x: np.ndarray, y: np.ndarray, size: int, rng: np.random.Generator):
    if len(y) <= size:
        return x, y
    rows = rng.choice(len(y), size=size, replace=False)
    return x[rows], y[rows]


def _landmarkers(dataset: Dataset, rng: np.random.Generator) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier

    x_train, y_train = _subsample(dataset.X_train, dataset.y_train, _SUBSAMPLE, rng)
    x_valid, y_valid = _subsample(dataset.X_valid, dataset.y_valid, _SUBSAMPLE // 2, rng)
    scores = {}
    models = {
        "landmark_1nn": KNeighborsClassifier(n_neighbors=1),
        "landmark_naive_bayes": GaussianNB(),
        "landmark_linear": LogisticRegression(max_iter=200),
    }
    for name, model in models.items():
        try:
            model.fit(x_train, y_train)
            scores[name] = float((model.predict(x_valid) == y_valid).mean())
        except ValueError:
            scores[name] = 0.0
    scores["_linear_valid_logloss"] = _linear_logloss(models["landmark_linear"], dataset)
    return scores


def _linear_logloss(model, dataset: Dataset) -> float:
    """The linear landmarker's log-loss on the whole validation split (NaN if unfitted)."""
    y = np.asarray(dataset.y_valid)
    if not hasattr(model, "classes_") or not len(y):
        return math.nan
    proba = np.zeros((len(y), dataset.n_classes))
    proba[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(dataset.X_valid)
    return _valid_logloss(proba, y)


def _teacher_features(teacher: TeacherOutputs, y_valid: np.ndarray, n_classes: int,
                      student_params: int | None) -> dict[str, float]:
    import torch

    probs = torch.softmax(teacher.logits["valid"].float(), dim=1).cpu().numpy()
    confidence = probs.max(1)
    correct = probs.argmax(1) == y_valid
    entropy = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(1)
    bins = np.minimum((confidence * 10).astype(int), 9)
    ece = sum(
        abs(correct[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).mean()
        for b in range(10) if (bins == b).any()
    )
    ratio = (student_params or 0) / teacher.params if teacher.params else 1.0
    return {
        "_teacher_valid_logloss": _valid_logloss(probs, y_valid),
        "teacher_valid_accuracy": float(correct.mean()),
        "teacher_mean_entropy": float(entropy.mean() / max(math.log(n_classes), 1e-12)),
        "teacher_ece": float(ece),
        "log_student_teacher_param_ratio": math.log10(max(ratio, 1e-6)),
    }


def compute_meta_features(dataset: Dataset, teacher: TeacherOutputs | None = None,
                          student_params: int | None = None, seed: int = 0) -> dict[str, float]:
    """Return the meta-features of ``dataset`` (and of ``teacher`` when given), by name.

    Args:
        dataset: The dataset; only its training and validation splits are read.
        teacher: The teacher's precomputed outputs; teacher features are 0 without it.
        student_params: Parameter count of the student, for the size ratio.
        seed: Seed of the subsample.
    """
    rng = np.random.default_rng(seed)
    x, y = dataset.X_train, dataset.y_train
    n_rows, n_features, n_classes = dataset.n_rows, dataset.n_features, dataset.n_classes
    counts = np.bincount(y, minlength=n_classes).astype(float)
    shares = counts[counts > 0] / counts.sum()
    info = dataset.info or {}
    xs, _ = _subsample(x, y, _SUBSAMPLE, rng)
    std = xs.std(0)
    varying = xs[:, std > 1e-12]
    if varying.shape[1] > 0:
        centred = (varying - varying.mean(0)) / varying.std(0)
        skew = np.abs((centred ** 3).mean(0)).mean()
        if varying.shape[1] > 1:
            corr = np.corrcoef(varying[:, :50], rowvar=False)
            off = np.abs(corr[~np.eye(corr.shape[0], dtype=bool)])
            mean_corr = off.mean() if off.size else 0.0
        else:
            mean_corr = 0.0
        eig = np.clip(np.linalg.svd(centred[:, :100], compute_uv=False) ** 2, 0, None)
        explained = np.cumsum(eig) / max(eig.sum(), 1e-12)
        pca_95 = (np.searchsorted(explained, 0.95) + 1) / max(len(eig), 1)
    else:
        skew, mean_corr, pca_95 = 0.0, 0.0, 0.0
    features = {
        "log_rows": math.log10(n_rows),
        "log_features": math.log10(max(n_features, 1)),
        "log_classes": math.log10(n_classes),
        "log_rows_per_feature": math.log10(n_rows / max(n_features, 1)),
        "log_rows_per_class": math.log10(n_rows / n_classes),
        "class_entropy": float(-(shares * np.log(shares)).sum() / math.log(n_classes))
        if n_classes > 1 else 0.0,
        "imbalance": float(counts.min() / counts.max()) if counts.max() > 0 else 0.0,
        "categorical_fraction": info.get("n_categorical", 0) / max(info.get("n_raw_features", 1), 1),
        "missing_fraction": float(info.get("missing_fraction", 0.0)),
        "mean_abs_skew": float(skew),
        "mean_abs_correlation": float(mean_corr),
        "pca_95_fraction": float(pca_95),
    }
    features.update(_landmarkers(dataset, rng))
    if teacher is not None:
        features.update(_teacher_features(teacher, np.asarray(dataset.y_valid), n_classes,
                                          student_params))
        features["teacher_margin_over_linear"] = (
            features["teacher_valid_accuracy"] - features["landmark_linear"]
        )
        features["teacher_margin_over_best_landmark"] = features["teacher_valid_accuracy"] - max(
            features[name] for name in ("landmark_1nn", "landmark_naive_bayes", "landmark_linear"))
        features["teacher_logloss_gain_over_linear"] = (
            features["_linear_valid_logloss"] - features["_teacher_valid_logloss"])
    return {name: _finite(features.get(name, 0.0)) for name in META_FEATURES}


def student_task_features(dataset: Dataset, teacher: TeacherOutputs, student: str,
                          seed: int = 0) -> dict[str, float]:
    """:func:`compute_meta_features` for distilling ``teacher`` into a ``student`` spec
    (``mlp:16``): the student's parameter count comes from its family (counted without
    building it when the family can)."""
    from autodistill.training.students import student_params as count

    return compute_meta_features(dataset, teacher, count(student, dataset.n_features,
                                                         dataset.n_classes), seed=seed)
