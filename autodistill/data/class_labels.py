"""The target column to class labels: which rows can be learned from, and their codes.

A row without a label, and a row that is the only one of its class, is left out with one
warning (neither can be learned from and scored); a target that cannot be a class column
(continuous numbers, one class, many single-row classes) is a one-line
:class:`~autodistill.errors.DataError` naming the column.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from autodistill.errors import DataError

__all__ = ["class_labels"]

log = logging.getLogger(__name__)

_MAX_LONE_FRACTION = 0.05  # rows of single-row classes that may be left out of a table
#: More classes than this in a target of whole numbers, and it may be a count or an age.
_MANY_NUMBER_CLASSES = 20


def class_labels(frame: pd.DataFrame, labels: np.ndarray, where: str, column: str,
                 coded: bool = False) -> tuple[pd.DataFrame, np.ndarray, tuple[str, ...],
                                               np.ndarray | None, tuple[str, ...]]:
    """The rows of ``frame`` that can be learned from, their labels as codes, the class
    names the codes index, where the rows stand in the file (None: all of them), and every
    class of the file in the same order when single-row classes were left out (else
    empty), so that a teacher trained on the whole file can be read.

    Args:
        frame: The feature columns, one row per label.
        labels: The target column's values.
        where: The data spec or file, for messages.
        column: The target column's name, for messages.
        coded: The labels are class codes by construction (built-in and generated data):
            many whole numbers are then no sign of a measurement.

    Raises:
        DataError: when the column cannot serve as classes (no label, continuous values, a
            single class, single-row classes holding more than 5% of the rows).
    """
    frame, labels, file_rows = _labelled_rows(frame, labels, where, column)
    kept, file_classes = _without_lone_classes(labels, where, column)
    if kept is not None:
        file_rows = kept if file_rows is None else file_rows[kept]
        frame, labels = frame.iloc[kept].reset_index(drop=True), labels[kept]
    codes, classes = _encode_labels(labels, where, column, coded)
    return frame, codes, classes, file_rows, file_classes


def _labelled_rows(frame: pd.DataFrame, labels: np.ndarray, where: str,
                   column: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """The rows that have a label, and where they stand in the file (None: all of them).

    A row without a label cannot be learned from or scored, so it is left out with one
    warning, as the knowledge base's own tables are loaded.
    """
    missing = pd.isna(pd.Series(labels)).to_numpy()
    if not missing.any():
        return frame, labels, None
    if missing.all():
        raise DataError(f"{where}: target column '{column}' is empty (no row has a label); "
                        f"pass the column of class labels")
    _label_values(labels[~missing], where, column)  # a continuous target: refused, no warning
    count = int(missing.sum())
    log.warning("%s: %d of %d %s no value in target column '%s'; left out (a row without a "
                "label can be neither learned from nor scored)", where, count, len(labels),
                "row has" if count == 1 else "rows have", column)
    kept = np.flatnonzero(~missing)
    return frame.iloc[kept].reset_index(drop=True), labels[kept], kept


def _label_values(labels: np.ndarray, where: str, column: str) -> tuple[np.ndarray, bool]:
    """The labels as the values classes are told apart by (numbers, else text), and whether
    they are numbers; a column of continuous numbers is refused."""
    series = pd.Series(labels)
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(str)
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise DataError(f"{where}: target column '{column}' holds continuous values; "
                            f"autodistill does classification: pass a column of class labels")
        return values, True
    return series.astype(str).to_numpy(), False


def _class_names(uniques: np.ndarray, numeric: bool) -> tuple[str, ...]:
    return tuple(str(int(v)) for v in uniques) if numeric else tuple(str(v) for v in uniques)


def _without_lone_classes(labels: np.ndarray, where: str, column: str
                          ) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """The rows to keep, leaving out with one warning the rows of classes that have a
    single row, and every class name (``(None, ())`` when every row is kept).

    Such a row can be neither learned from and scored at once (a stratified split has no
    room for it), and refusing a table of 8,645 rows for one of them helps nobody, so it is
    dropped, as a row without a label is. When such classes hold more than
    ``_MAX_LONE_FRACTION`` of the rows, or fewer than two classes would be left, the column
    is more likely not a class column (a count, an age) and the table is refused instead.
    """
    values, numeric = _label_values(labels, where, column)
    uniques, codes, counts = np.unique(values, return_inverse=True, return_counts=True)
    lone = counts[codes] == 1
    if not lone.any():
        return None, ()
    names = _class_names(uniques[counts == 1], numeric)
    shown = ", ".join(f"'{c}'" for c in names[:10]) + (", ..." if len(names) > 10 else "")
    shown = (f"class {shown} of target column '{column}' has a single row" if len(names) == 1
             else f"classes {shown} of target column '{column}' have a single row each")
    n_lone = int(lone.sum())
    if n_lone > _MAX_LONE_FRACTION * len(labels):
        raise DataError(f"{where}: {shown} ({n_lone} of {len(labels)} rows), so '{column}' looks "
                        f"like a count or a measurement rather than class labels; pass the "
                        f"column of class labels (each class needs at least 2 rows)")
    if len(uniques) - n_lone < 2:
        raise DataError(f"{where}: {shown} ({n_lone} of {len(labels)} rows); each class needs "
                        f"at least 2 rows: add rows of that class, or pass another column")
    left = "that row is" if n_lone == 1 else f"those {n_lone} rows are"
    log.warning("%s: %s; %s left out (a class needs at least 2 rows to be learned and "
                "scored)", where, shown, left)
    return np.flatnonzero(~lone), _class_names(uniques, numeric)


def _encode_labels(labels: np.ndarray, where: str, column: str,
                   coded: bool = False) -> tuple[np.ndarray, tuple]:
    values, numeric = _label_values(labels, where, column)
    uniques, codes = np.unique(values, return_inverse=True)
    names = _class_names(uniques, numeric)
    if len(names) < 2:
        raise DataError(f"{where}: target column '{column}' has only one class "
                        f"('{names[0]}'); a classifier needs at least two")
    _warn_if_near_duplicates(names, where, column)
    if numeric and not coded and len(uniques) > _MANY_NUMBER_CLASSES:
        log.warning("%s: target column '%s' holds %d whole numbers from %s to %s, each a class; "
                    "if it is a count or a measurement (an age, a price), a classifier learns "
                    "nothing of their order: pass a column of class labels, or bin it",
                    where, column, len(uniques), names[0], names[-1])
    return codes.astype(np.int64), names


def _warn_if_near_duplicates(names: tuple[str, ...], where: str, column: str) -> None:
    """One warning when class names differ only in case or surrounding spaces ('yes',
    'Yes ', 'YES'): most often one class typed several ways, which the model would learn
    as different classes. They are kept apart: which is meant is the user's call."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.strip().casefold(), []).append(name)
    alike = [group for group in groups.values() if len(group) > 1]
    if alike:
        shown = "; ".join(", ".join(repr(n) for n in group) for group in alike[:5])
        log.warning("%s: classes of target column '%s' differ only in case or spaces (%s); "
                    "they are kept as different classes: clean the column if each group is "
                    "one class", where, column, shown)
