"""The user's raw columns: what a dataset was trained on and how new rows must look.

:class:`RawTable` keeps the raw feature table a :class:`~autodistill.data.dataset.Dataset` was
encoded from (the columns as the user has them, with strings and missing values) and the
rows of each split, so that a user's own teacher can see those columns and an exported
student can be checked on them. :class:`InputSchema` is the part that leaves the tool in
``model.json``: each column's name, kind (numeric or categorical; a numeric column may be
a column of dates, read as days since 1970), original dtype and training categories.
:meth:`InputSchema.prepare` applies the training-time typing rules to a new table, naming
the columns it lacks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autodistill.data.dates import date_numbers
from autodistill.data.table_files import text_as_numbers
from autodistill.errors import DataError

__all__ = ["MISSING_CATEGORY", "InputSchema", "RawTable"]

log = logging.getLogger(__name__)

#: The largest magnitude the model's float32 arithmetic holds.
_FLOAT32_MAX = float(np.finfo(np.float32).max)

#: The category a missing string cell becomes (before one-hot encoding), in training and at
#: prediction time alike.
MISSING_CATEGORY = "<missing>"


@dataclass(frozen=True, eq=False)
class RawTable:
    """The raw feature table of a dataset and the row indices of each split.

    Attributes:
        frame: Every feature column as loaded (no target), original dtypes.
        rows: ``"train"``, ``"valid"``, ``"test"`` -> row positions in ``frame``.
        numeric: Columns encoded as numbers (imputed, standardised).
        categorical: Columns encoded as categories (one-hot).
        dropped: Columns left out because they hold no value at all, or a different text
            on every row (an identifier).
        dates: The numeric columns that hold dates (read as days since 1970), each with
            how its text is read (a :data:`~autodistill.data.dates.DATE_ORDERS` entry).
        target: The label column's name (``None`` for arrays and built-ins without one).
        file_rows: Where each row of ``frame`` stands in the file, when rows without a
            label, or alone in their class, were left out (``None`` when every row is kept).
        file_row_count: The rows in the file, those left out included.
        file_classes: Every class of the file in label order, when classes with a single
            row were left out (empty when none was), to read a teacher trained on them all.
    """

    frame: pd.DataFrame = field(repr=False)
    rows: dict[str, np.ndarray] = field(repr=False)
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    target: str | None = None
    dates: dict[str, str] = field(default_factory=dict)
    file_rows: np.ndarray | None = field(default=None, repr=False)
    file_row_count: int | None = None
    file_classes: tuple[str, ...] = ()

    def split(self, name: str) -> pd.DataFrame:
        """The raw rows of split ``name`` (``train``, ``valid`` or ``test``), in order."""
        return self.frame.iloc[self.rows[name]].reset_index(drop=True)

    def schema(self) -> InputSchema:
        """The input schema of this table (categories are filled in by the exporter)."""
        dtypes = {str(c): str(self.frame[c].dtype) for c in self.frame.columns}
        train = self.frame.iloc[self.rows["train"]]
        constant = [str(c) for c in self.numeric + self.categorical
                    if len(train) and train[c].nunique(dropna=False) == 1]
        return InputSchema(numeric=self.numeric, categorical=self.categorical,
                           dropped=self.dropped, dtypes=dtypes, target=self.target,
                           dates=dict(self.dates),
                           constants={c: str(category_strings(train[c])[0]) for c in constant})


@dataclass(frozen=True)
class InputSchema:
    """What a model needs from a new table: its columns by name and how each is typed."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    dtypes: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    categories: dict[str, list[str]] = field(default_factory=dict)
    #: Per categorical column, what an unseen category becomes: ``"infrequent"`` (the
    #: column's infrequent slot) or ``"zeros"`` (an all-zero one-hot), as in training.
    unseen_as: dict[str, str] = field(default_factory=dict)
    #: The numeric columns that hold dates, fed as days since 1970, each with how its text
    #: is read (:func:`~autodistill.data.dates.date_numbers`).
    dates: dict[str, str] = field(default_factory=dict)
    #: The columns that held one value on every training row, with it (as text): the model
    #: learned nothing from them, so a table may leave them out (filled with that value).
    constants: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns a new table must have (numeric first, as encoded)."""
        return self.numeric + self.categorical

    def to_dict(self) -> dict[str, Any]:
        """The ``inputs`` part of ``model.json``."""
        inputs = []
        for name in self.columns:
            entry: dict[str, Any] = {"name": name, "dtype": self.dtypes.get(name, "")}
            if name in self.numeric:
                entry.update(kind="numeric", onnx_type="double")
                if self.dates.get(name) == "iso":
                    entry.update(parse="iso_date_days")
                elif name in self.dates:
                    entry.update(parse="date_days", date_order=self.dates[name])
            else:
                entry.update(kind="categorical", onnx_type="string",
                             categories=list(self.categories.get(name, [])),
                             unseen_as=self.unseen_as.get(name, "zeros"))
            if name in self.constants:
                entry.update(constant=self.constants[name])
            inputs.append(entry)
        return {"inputs": inputs, "dropped_columns": list(self.dropped), "target": self.target,
                "missing_category": MISSING_CATEGORY}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> InputSchema:
        """Read the ``inputs`` part of ``model.json`` back."""
        inputs = doc["inputs"]
        return cls(numeric=tuple(i["name"] for i in inputs if i["kind"] == "numeric"),
                   categorical=tuple(i["name"] for i in inputs if i["kind"] == "categorical"),
                   dropped=tuple(doc.get("dropped_columns", ())),
                   dtypes={i["name"]: i.get("dtype", "") for i in inputs},
                   target=doc.get("target"),
                   dates={i["name"]: "iso" if i["parse"] == "iso_date_days" else i["date_order"]
                          for i in inputs if i.get("parse") in ("iso_date_days", "date_days")},
                   categories={i["name"]: list(i.get("categories", ()))
                               for i in inputs if i["kind"] == "categorical"},
                constants={i["name"]: i["constant"] for i in inputs if "constant" in i},
                unseen_as={i["name"]: i.get("unseen_as", "zeros")
                           for i in inputs if i["kind"] == "categorical"})

    def prepare(self, frame: pd.DataFrame, where: str, warn: bool = True,
                strict: bool = False) -> dict[str, np.ndarray]:
        """Type a new table's columns the way training did; return one array per column.

        Numeric columns become float64 ``[n, 1]`` (non-numeric cells and infinities become
        missing, NaN, as in training; a date column's dates become days since 1970, read as
        in training);
        categorical columns become strings ``[n, 1]`` with missing cells as
        :data:`MISSING_CATEGORY`. Cells that are not numbers (or dates) are warned of,
        naming the column, unless not ``warn`` (the exporter's own check of the training
        rows, which loading already warned of), or refused when ``strict``.

        Raises:
            DataError: naming the columns the table lacks; with ``strict``, naming a column
                with cells that do not read as numbers (or dates).
        """
        frame = _as_frame(frame, where).copy()
        frame.columns = [str(c) for c in frame.columns]
        for name in [c for c in self.constants if c not in frame.columns]:
            # one value in training: a numeric one is imputed to it, a category is it
            frame[name] = np.nan if name in self.numeric else self.constants[name]
            if warn:
                log.info("%s: column '%s' is absent; training saw one value in it (%s), "
                         "used for every row", where, name, self.constants[name])
        absent = [c for c in self.columns if c not in frame.columns]
        if absent:
            shown = ", ".join(f"'{c}'" for c in absent[:10])
            more = f" ({len(absent)} in all)" if len(absent) > 10 else ""
            raise DataError(f"{where}: missing column{'s' if len(absent) > 1 else ''} "
                            f"{shown}{more}; the model was trained on: "
                            f"{', '.join(self.columns[:20])}"
                            f"{', ...' if len(self.columns) > 20 else ''}"
                            f" ({len(self.columns)} columns)")
        feeds: dict[str, np.ndarray] = {}
        for name in self.numeric:
            series = frame[name]
            if name in self.dates:
                values = date_numbers(series, self.dates[name])
            elif series.dtype.kind == "O":  # text, as a DataFrame from pd.read_csv may hold
                values = text_as_numbers(series)
            else:
                values = pd.to_numeric(series, errors="coerce").astype(np.float64)
            huge = values.abs() > _FLOAT32_MAX  # scored in float32: it would overflow
            if warn and huge.any():
                log.warning("%s: column '%s' has %d cell%s too large to score (e.g. %s); "
                            "treating them as missing", where, name, int(huge.sum()),
                            "" if huge.sum() == 1 else "s", series[huge].iloc[0])
            values = values.mask(huge)
            bad = values.isna() & series.notna() & ~huge
            if bad.any() and (warn or strict):
                self._unreadable(name, series, bad, where, strict)
            array = values.to_numpy(dtype=np.float64, copy=True)
            array[~np.isfinite(array)] = np.nan
            feeds[name] = array.reshape(-1, 1)
        for name in self.categorical:
            feeds[name] = category_strings(frame[name]).reshape(-1, 1)
        return feeds

    def _unreadable(self, name: str, series: pd.Series, bad: pd.Series, where: str,
                    strict: bool) -> None:
        """Warn of (or, ``strict``, refuse) cells of numeric column ``name`` that do not
        read as numbers (dates, for a date column, in the order training read); when no
        cell reads, say so: the file likely holds something else there."""
        count, example = int(bad.sum()), series[bad].iloc[0]
        kind = f"dates as training read them ({self.dates[name]})" if name in self.dates \
            else "numbers"
        if strict:
            raise DataError(f"{where}: column '{name}': {count} cell(s) do not read as {kind} "
                            f"(e.g. '{example}'); drop --strict to treat them as missing")
        if count == int(series.notna().sum()):
            log.warning("%s: no cell of column '%s' reads as %s (e.g. '%s'); all %d are "
                        "treated as missing: check the file (--strict refuses it)", where,
                        name, kind, example, count)
            return
        log.warning("%s: column '%s' has %d %s cell%s (e.g. '%s'); treating them as missing "
                    "(imputed as in training)", where, name, count,
                    "non-date" if name in self.dates else "non-numeric",
                    "" if count == 1 else "s", example)

    def unseen(self, feeds: dict[str, np.ndarray]) -> dict[str, tuple[int, list[str]]]:
        """Per categorical column: rows whose category training never saw, and examples."""
        report = {}
        for name in self.categorical:
            known = set(self.categories.get(name, ()))
            values = feeds[name].reshape(-1)
            mask = np.array([v not in known for v in values], dtype=bool)
            if mask.any():
                report[name] = (int(mask.sum()), sorted(set(values[mask].tolist()))[:3])
        return report


def category_strings(series: pd.Series) -> np.ndarray:
    """A column's cells as the strings its categories are named by (object array).

    Missing cells become :data:`MISSING_CATEGORY`; whole floats print without ``.0``, so a
    column that pandas read as numbers in one file (``3.0``) and as text in another
    (``'3'``) names the same category.
    """
    def text(value: Any) -> str:
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return str(int(value))
        return str(value)

    present = series.notna()
    out = np.full(len(series), MISSING_CATEGORY, dtype=object)
    out[present.to_numpy()] = [text(v) for v in series[present].tolist()]
    return out


def _as_frame(rows: Any, where: str) -> pd.DataFrame:
    """Rows to score as a DataFrame: a DataFrame, a dict (of columns, or one row's values),
    a list of dicts (one per row) or a Series (one row).

    Raises:
        DataError: for anything else, or a column named twice.
    """
    if isinstance(rows, pd.Series):
        rows = rows.to_frame().T
    elif isinstance(rows, dict) and not any(pd.api.types.is_list_like(v) for v in rows.values()):
        rows = pd.DataFrame([rows])
    elif isinstance(rows, dict | list):
        try:
            rows = pd.DataFrame(rows)
        except (ValueError, TypeError) as exc:
            raise DataError(f"{where}: cannot read these rows as a table ({exc}); pass a "
                            "pandas DataFrame with the model's columns") from None
    if not isinstance(rows, pd.DataFrame):
        raise DataError(f"{where}: a {type(rows).__name__} has no column names; pass a pandas "
                        "DataFrame with the model's columns")
    repeated = rows.columns[rows.columns.astype(str).duplicated()]
    if len(repeated):
        raise DataError(f"{where}: column '{repeated[0]}' appears twice; keep one")
    return rows
