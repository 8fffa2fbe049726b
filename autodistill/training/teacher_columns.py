"""A teacher's output columns to the dataset's classes, one column per class in its order.

A user's teacher names its classes (``classes_``, an ONNX ZipMap, a CSV header) or gives
them by position; either way its columns are matched to the dataset's classes, the classes
left out for having a single row (:mod:`autodistill.data.class_labels`) dropped, and a
teacher that predicts other classes is a one-line :class:`~autodistill.errors.TeacherError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from autodistill.errors import TeacherError

if TYPE_CHECKING:
    from autodistill.data.dataset import Dataset

__all__ = ["as_logits", "class_strings", "without_left_out_classes", "order_by_name",
           "check_width"]


def as_logits(values: np.ndarray) -> np.ndarray:
    """Probabilities (rows in [0, 1] summing to 1) become log-probabilities; anything else
    is taken as logits."""
    values = np.asarray(values, dtype=np.float64)
    if values.size and np.all(values >= 0) and np.all(values <= 1) and \
            np.allclose(values.sum(axis=1), 1.0, atol=1e-3):
        return np.log(np.clip(values, 1e-7, 1.0))
    return values


def class_strings(names: list[Any]) -> list[str]:
    """Class names as the dataset writes them (``2.0`` is ``'2'``)."""
    return [str(int(n)) if isinstance(n, float) and float(n).is_integer() else str(n)
            for n in names]


def without_left_out_classes(values: np.ndarray, names: list[Any] | None,
                              dataset: Dataset) -> tuple[np.ndarray, list[Any] | None]:
    """A teacher trained on the whole file also predicts the classes left out for having a
    single row: keep the columns of the dataset's classes (named, or else in the file's
    class order) and drop those, whose probability the teacher's logits no longer count."""
    every = dataset.raw.file_classes if dataset.raw is not None else ()
    if not every or values.ndim != 2 or values.shape[1] != len(every):
        return values, names
    values = as_logits(values)  # the kept probabilities no longer sum to 1: read them first
    if names is None:
        return values[:, [every.index(c) for c in dataset.classes]], None
    given = class_strings(list(names))
    if sorted(given) != sorted(every):
        return values, names
    keep = [given.index(c) for c in dataset.classes]
    return values[:, keep], [names[i] for i in keep]


def order_by_name(values: np.ndarray, names: list[str], dataset: Dataset, spec: str) -> np.ndarray:
    """Columns named by class -> the dataset's class order, or a one-line error naming
    both sets of classes."""
    values, names = without_left_out_classes(values, names, dataset)
    names = class_strings(names)
    if sorted(names) != sorted(dataset.classes):
        raise TeacherError(f"teacher '{spec}' predicts classes {names[:10]} but the data has "
                           f"classes {list(dataset.classes)[:10]}; use a teacher trained on "
                           "this label column")
    return values[:, [names.index(c) for c in dataset.classes]]


def check_width(values: np.ndarray, dataset: Dataset, spec: str, what: str) -> np.ndarray:
    """``values`` with one column per class of the dataset, or a one-line error."""
    values, _ = without_left_out_classes(values, None, dataset)
    if values.ndim != 2 or values.shape[1] != dataset.n_classes:
        width = values.shape[1] if values.ndim == 2 else "1"
        raise TeacherError(f"teacher '{spec}' gives {width} {what} per row but the data has "
                           f"{dataset.n_classes} classes; use a teacher trained on these classes")
    return values
