"""Data specs to :class:`Dataset`: loading, encoding and the fixed train/valid/test split.

A spec is ``builtin:NAME`` (scikit-learn's bundled iris, wine, breast_cancer, digits),
``synthetic:FAMILY?k=v&...`` (generated, fully determined by its parameters),
``pkg:SOURCE/DATASET`` (a table shipped inside a package: :mod:`autodistill.data.real_tables`)
or a path to a ``.csv``, ``.parquet`` or ``.npz`` file. Rows are split 64/16/20 (stratified, by
``split_seed``) *before* anything is fitted: imputation, scaling and one-hot encoding are
fitted on the training split only. Every problem a user can fix is a one-line
:class:`~autodistill.errors.DataError` naming the file or column.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autodistill._resources import check_fits
from autodistill.data.class_labels import class_labels
from autodistill.data.dates import read_dates
from autodistill.data.input_schema import RawTable, category_strings
from autodistill.data.sources import (
    BUILTINS,
    FILE_SUFFIXES,
    SYNTHETIC_FAMILIES,
    DataSpec,
    load_raw,
    parse_spec,
)
from autodistill.data.table_files import looks_decimal_comma
from autodistill.errors import DataError

__all__ = [
    "Dataset",
    "DataSpec",
    "BUILTINS",
    "SYNTHETIC_FAMILIES",
    "FILE_SUFFIXES",
    "parse_spec",
    "load_dataset",
    "split_indices",
    "SPLIT",
]

log = logging.getLogger(__name__)

SPLIT = (0.64, 0.16, 0.20)  # train, valid, test
_MAX_CATEGORIES = 21  # the 20 most frequent categories of a column, the rest -> "infrequent"
_MAX_UNIQUE_RATIO = 0.99  # a text column with more distinct values per row is an identifier
_UNNAMED = r"(Unnamed: \d+)?"  # how pandas names a column whose header is empty


@dataclass(frozen=True, eq=False)
class Dataset:
    """An encoded classification dataset with its fixed train/valid/test split.

    ``X_*`` are float32 ``[n, d]`` (finite, encoded with transforms fitted on train);
    ``y_*`` are int64 labels ``0..C-1`` indexing ``classes``. ``fingerprint`` identifies the
    raw content, target and generator parameters (not the split seed); ``info`` holds
    raw-table facts (``n_rows``, ``n_raw_features``, ``n_numeric``, ``n_categorical``,
    ``missing_fraction``) for the meta-features.
    """

    name: str
    spec: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    feature_names: tuple[str, ...]
    fingerprint: str
    split_seed: int
    info: dict
    preprocessor: Any = field(default=None, repr=False)  # fitted ColumnTransformer
    raw: RawTable | None = field(default=None, repr=False)  # the user's columns, per split

    @property
    def n_rows(self) -> int:
        """Rows over all three splits."""
        return len(self.y_train) + len(self.y_valid) + len(self.y_test)

    @property
    def n_features(self) -> int:
        """Encoded feature count (the student's input width)."""
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)


# --------------------------------------------------------------------------- split


def _apportion(counts: np.ndarray, total: int, cap: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``counts`` (largest remainder), <= cap."""
    quota = counts * total / max(counts.sum(), 1)
    taken = np.minimum(np.floor(quota), cap).astype(np.int64)
    order = np.lexsort((rng.random(len(counts)), -(quota - np.floor(quota))))
    left = total - int(taken.sum())
    while left > 0 and np.any(taken < cap):
        for i in order:
            if left and taken[i] < cap[i]:
                taken[i] += 1
                left -= 1
    return taken


def split_indices(y: np.ndarray, split_seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified 64/16/20 train/valid/test row indices, fully determined by ``split_seed``.

    Every class keeps at least one training row, so classes with 2-4 rows still work (they
    just cannot appear in all three splits).
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(split_seed), 20260501]))
    n_classes = int(y.max()) + 1
    counts = np.bincount(y, minlength=n_classes)
    n_test = int(round(SPLIT[2] * len(y)))
    n_valid = int(round(SPLIT[1] * len(y)))
    test_c = _apportion(counts, n_test, counts - 1, rng)
    valid_c = _apportion(counts - test_c, n_valid, counts - test_c - 1, rng)
    parts: tuple[list, list, list] = ([], [], [])
    for c in range(n_classes):
        rows = rng.permutation(np.flatnonzero(y == c))
        parts[2].append(rows[:test_c[c]])
        parts[1].append(rows[test_c[c]:test_c[c] + valid_c[c]])
        parts[0].append(rows[test_c[c] + valid_c[c]:])
    train, valid, test = (rng.permutation(np.concatenate(p)) for p in parts)
    return train, valid, test


# --------------------------------------------------------------------------- features


def _prepare_columns(frame: pd.DataFrame, where: str
                     ) -> tuple[pd.DataFrame, list, list, int, dict[str, str]]:
    """Type each column (numeric, categorical or left out) from its own cells alone: no
    label is looked at and nothing is fitted (the encoders are fitted later, on training
    rows only).

    Vectorised over the numeric columns (a table may have 100,000 of them); only the
    columns that are not numeric already are looked at one by one
    (:func:`_text_column_kind`). A text column of dates becomes a number (days since 1970,
    :func:`~autodistill.data.dates.date_numbers`); the last item returned maps those
    columns to how their text is read.
    """
    frame = frame.loc[:, frame.notna().any(axis=0).to_numpy()]  # all-missing columns carry nothing
    if frame.shape[1] == 0:
        raise DataError(f"{where}: no usable feature column (every column besides the target "
                        f"is empty); add feature columns")
    kinds = frame.dtypes
    is_numeric = np.array([k.kind in "iufc" for k in kinds], dtype=bool)
    columns = list(frame.columns)
    converted: dict[Any, pd.Series] = {}
    coerced, dates, identifiers = 0, {}, _row_index_columns(frame, is_numeric, where)
    for index in np.flatnonzero(~is_numeric):
        col = columns[index]
        kind, values = _text_column_kind(frame.iloc[:, index], col, where)
        if kind == "identifier":
            identifiers.add(col)
        elif kind != "categorical":
            converted[col], is_numeric[index] = values, True
            if kind == "numeric":
                coerced += 1
            else:
                dates[col] = kind
    if identifiers:
        keep = np.array([c not in identifiers for c in columns], dtype=bool)
        if not keep.any():
            raise DataError(f"{where}: no usable feature column (every column besides the "
                            f"target is empty or holds a different text on every row); add "
                            f"feature columns")
        frame, is_numeric = frame.loc[:, keep], is_numeric[keep]
        columns = [c for c in columns if c not in identifiers]
    numeric = [columns[i] for i in np.flatnonzero(is_numeric)]
    categorical = [columns[i] for i in np.flatnonzero(~is_numeric)]
    parts = []
    if numeric:
        values = frame.iloc[:, np.flatnonzero(is_numeric)]
        if converted:
            values = values.copy()
            values[list(converted)] = pd.DataFrame(converted, index=frame.index)
        array = values.to_numpy(dtype=np.float64, copy=True)
        array[~np.isfinite(array)] = np.nan  # inf -> missing, imputed like NaN
        parts.append(pd.DataFrame(array, columns=numeric, index=frame.index))
    if categorical:
        parts.append(pd.DataFrame({col: category_strings(frame[col]) for col in categorical},
                                  index=frame.index))
    out = pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]
    return out[columns], numeric, categorical, coerced, dates


def _row_index_columns(frame: pd.DataFrame, is_numeric: np.ndarray, where: str) -> set:
    """Columns without a header that count the rows (``Unnamed: 0`` holding 0, 1, 2, ... or
    1, 2, 3, ...): the row index R's ``write.csv`` and pandas' ``to_csv`` write by default.
    As a feature it says only where a row stands in the file; left out with a warning. (Rows
    left out for their label leave gaps, so the test is "increasing, from 0 or 1".)"""
    found = set()
    unnamed = np.asarray(frame.columns.astype(str).str.fullmatch(_UNNAMED), dtype=bool)
    for index in np.flatnonzero(is_numeric & unnamed):  # vectorised: a table may be wide
        col = frame.columns[index]
        values = frame.iloc[:, index].to_numpy(dtype=np.float64)
        if len(values) > 1 and values[0] in (0.0, 1.0) and np.all(np.diff(values) >= 1) \
                and np.all(values == np.round(values)):
            found.add(col)
            log.warning("%s: column '%s' has no header and counts the rows (%g, %g, ...), "
                        "like the row index R or pandas writes; left out", where, col,
                        values[0], values[1])
    return found


def _text_column_kind(series: pd.Series, col: Any, where: str) -> tuple[str, pd.Series | None]:
    """How a column that pandas did not read as numbers is typed, and its values when they
    become numbers: ``("numeric", numbers)`` (at least 90% numbers, the rest missing),
    ``(DATE_ORDER, days)`` for dates, ``("identifier", None)`` (left out) or
    ``("categorical", None)``. A declared category (an ARFF nominal attribute, a pandas
    category) stays one even when its values are digits."""
    present = series.notna()
    if pd.api.types.is_bool_dtype(series):
        return "categorical", None
    if not isinstance(series.dtype, pd.CategoricalDtype):
        reading = read_dates(series)
        if reading is not None:
            if reading.guessed:
                log.warning("%s: column '%s' holds dates (e.g. '%s') but no day above 12 tells "
                            "whether the day or the month comes first; read %s first",
                            where, col, series.dropna().iloc[0],
                            "the day" if reading.order == "dmy" else "the month")
            return reading.order, reading.days
        parsed = pd.to_numeric(series, errors="coerce")
        if present.sum() and parsed[present].notna().mean() >= 0.9:
            # a numeric column with a few garbage cells: keep it numeric, garbage -> missing
            garbage = series[present & parsed.isna()]
            if len(garbage):
                log.warning("%s: column '%s' has %d non-numeric cell%s (e.g. '%s'); treating "
                            "them as missing", where, col, len(garbage),
                            "" if len(garbage) == 1 else "s", garbage.iloc[0])
            return "numeric", parsed
        if looks_decimal_comma(series[present]):
            log.warning("%s: column '%s' looks numeric with a decimal comma (e.g. '%s') but is "
                        "read as categories; save the file with '.' decimals or ';' "
                        "separators", where, col, series[present].iloc[0])
    if _is_identifier(series):
        log.warning("%s: column '%s' has a different value on nearly every row (e.g. "
                    "'%s'), like an id or a name; left out, since no value recurs for "
                    "the model to learn from (a column of dates is kept, as a number)",
                    where, col, series[present].iloc[0])
        return "identifier", None
    return "categorical", None


def _is_identifier(series: pd.Series) -> bool:
    """Whether a text column has a different value on nearly every row (an id, a name, a
    free text).

    As categories such values cannot carry over: a value seen once lands in one split
    only, so validation, test and new rows meet it as unseen. Left out as AutoGluon's
    ``DropUniqueFeatureGenerator`` leaves them out (more than 99% of the rows distinct).
    """
    return len(series) > 1 and series.nunique(dropna=True) > _MAX_UNIQUE_RATIO * len(series)


def _make_preprocessor(numeric: list, categorical: list) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = []
    if numeric:
        parts.append(("num", make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
            numeric))
    if categorical:
        parts.append(("cat", OneHotEncoder(handle_unknown="infrequent_if_exist",
                                           max_categories=_MAX_CATEGORIES,
                                           sparse_output=False, dtype=np.float32), categorical))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0,
                             verbose_feature_names_out=False)


def load_dataset(spec: str, target: str | None = None, split_seed: int = 0) -> Dataset:
    """Load, split and encode a dataset.

    Args:
        spec: ``builtin:NAME``, ``synthetic:FAMILY?k=v&...`` or a ``.csv``/``.parquet``/
            ``.npz`` path.
        target: The label column (required for CSV and Parquet; overrides the catalogued
            target of a ``pkg:`` table; ignored otherwise).
        split_seed: Seed of the stratified 64/16/20 split.

    Raises:
        DataError: for any problem with the spec, the file, a column or the labels.
    """
    if not isinstance(split_seed, int) or not 0 <= split_seed < 2**32:
        raise DataError(f"--split-seed {split_seed}: use a whole number from 0 to {2**32 - 1}")
    ds = parse_spec(spec)
    frame, labels, fingerprint, label_column = load_raw(ds, target)
    where = ds.where
    file_row_count = len(labels)
    frame, y, classes, file_rows, file_classes = class_labels(
        frame, labels, where, label_column, coded=ds.kind in ("builtin", "synthetic"))
    raw_frame = frame
    frame, numeric, categorical, coerced, dates = _prepare_columns(frame, where)
    # The table's facts leave out identifier columns, which the model never sees: a table
    # with a customer id describes itself as the same table without it (an empty column
    # still counts, as it always has in the knowledge base's meta-features).
    described = raw_frame.loc[:, [c in frame.columns or raw_frame[c].isna().all()
                                  for c in raw_frame.columns]]
    n_raw = described.shape[1]
    missing_fraction = float(described.isna().to_numpy().mean()) if described.size else 0.0
    # encoded width: a numeric column stays one, a categorical one becomes at most 21
    width = len(numeric) + sum(min(int(frame[c].nunique()), _MAX_CATEGORIES)
                               for c in categorical)
    check_fits(4.0 * 3 * len(y) * width, f"{where} ({len(y)} rows x {width} encoded columns)",
               "use fewer rows or columns", DataError)
    train, valid, test = split_indices(y, split_seed)
    # positions, not names: ColumnTransformer looks each name up in a list (quadratic)
    is_num = set(numeric)
    preprocessor = _make_preprocessor(
        [i for i, c in enumerate(frame.columns) if c in is_num],
        [i for i, c in enumerate(frame.columns) if c not in is_num])
    try:
        X_train = preprocessor.fit_transform(frame.iloc[train])
        X_valid, X_test = (preprocessor.transform(frame.iloc[rows]) for rows in (valid, test))
    except (ValueError, TypeError) as exc:
        raise DataError(f"{where}: cannot encode the feature columns ({exc})") from None
    arrays = [np.ascontiguousarray(x, dtype=np.float32) for x in (X_train, X_valid, X_test)]
    if arrays[0].shape[1] == 0:
        raise DataError(f"{where}: no usable feature column; add feature columns")
    if not all(np.isfinite(x).all() for x in arrays):
        raise DataError(f"{where}: values too large to encode as float32; rescale the features")
    try:
        names = tuple(str(n) for n in preprocessor.get_feature_names_out())
    except Exception:  # non-unique short names: fall back to positions
        names = tuple(f"f{i}" for i in range(arrays[0].shape[1]))
    info = {"n_rows": int(len(y)), "n_raw_features": int(n_raw), "n_numeric": len(numeric),
            "n_categorical": len(categorical), "missing_fraction": missing_fraction,
            "n_coerced_numeric": coerced}
    return Dataset(name=ds.name, spec=ds.spec, X_train=arrays[0], y_train=y[train],
                   X_valid=arrays[1], y_valid=y[valid], X_test=arrays[2], y_test=y[test],
                   classes=classes, feature_names=names, fingerprint=fingerprint,
                   split_seed=int(split_seed), info=info, preprocessor=preprocessor,
                   raw=RawTable(raw_frame, {"train": train, "valid": valid, "test": test},
                                numeric=tuple(numeric), categorical=tuple(categorical),
                                dropped=tuple(c for c in raw_frame.columns
                                              if c not in frame.columns),
                                target=label_column, dates=dates, file_rows=file_rows,
                                file_classes=file_classes,
                                file_row_count=file_row_count))
