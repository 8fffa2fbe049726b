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
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from autodistill.errors import DataError

__all__ = ["DATE_ORDERS", "MISSING_CATEGORY", "DateReading", "InputSchema", "RawTable",
           "date_numbers", "read_dates"]

log = logging.getLogger(__name__)

#: The category a missing string cell becomes (before one-hot encoding), in training and at
#: prediction time alike.
MISSING_CATEGORY = "<missing>"
#: A date as ISO 8601 writes it (``2021-01-31``), optionally with a time and a zone.
_ISO_DATE = (r"\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?"
             r"(Z|[+-]\d{2}:?\d{2})?")
#: A date written with numbers only, in some order, one separator (``31/01/2021``,
#: ``1/31/21``, ``31.01.2021``, ``2021/01/31``), optionally with a time.
_NUMERIC_DATE = (r"(?P<a>\d{1,4})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})"
                 r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?)?")
#: How a date column's cells are read: ISO 8601, or numbers-only dates day first, month
#: first or year first.
DATE_ORDERS = ("iso", "dmy", "mdy", "ymd")
#: Share of a column's present cells that must be dates (and valid ones) for it to be read
#: as dates.
_DATE_SHARE = 0.9


class DateReading(NamedTuple):
    """How a column of dates is read: its :data:`DATE_ORDERS` entry, whether the order was
    guessed (no cell has a day above 12 to tell day-first from month-first), and the
    column read so (:func:`date_numbers`)."""

    order: str
    guessed: bool
    days: pd.Series


def read_dates(values: pd.Series) -> DateReading | None:
    """How to read ``values`` as dates, or None when it is not a column of dates.

    Dates are pandas datetimes (a Parquet file's) or text of which at least 90% of the
    present cells are dates: ISO 8601 (``2021-01-31``, with a time or zone or not), or
    numbers only (``31/01/2021``, ``1/31/21``, ``31.01.2021``, ``2021/01/31``). Whether a
    numbers-only date is day-first or month-first is read from the cells (a first number
    above 12 is a day; a second one, a month); when no cell tells, ``.`` and ``-`` dates
    are taken as day-first and ``/`` dates as month-first, and the reading says it guessed.
    """
    if values.dtype.kind == "M":
        return DateReading("iso", False, date_numbers(values))
    if values.dtype.kind != "O":
        return None
    text = values.dropna().astype(str).str.strip()
    if not len(text):
        return None
    glance = text.iloc[:100]  # most text columns are categories: 100 cells settle it
    if glance.str.fullmatch(_ISO_DATE).mean() >= 0.5:
        if text.str.fullmatch(_ISO_DATE).mean() < _DATE_SHARE:
            return None
        return DateReading("iso", False, date_numbers(values))
    if glance.str.fullmatch(_NUMERIC_DATE).mean() < 0.5:
        return None
    parts = text.str.extract(f"^{_NUMERIC_DATE}$").dropna(subset=["a"])
    if len(parts) < _DATE_SHARE * len(text) or parts["sep"].nunique() > 1:
        return None
    width_a, width_c = parts["a"].str.len(), parts["c"].str.len()
    guessed = False
    if (width_a == 4).all() and (width_c <= 2).all():
        order = "ymd"
    elif (width_a <= 2).all() and width_c.isin([2, 4]).all():
        day_first = (parts["a"].astype(int) > 12).any()
        month_first = (parts["b"].astype(int) > 12).any()
        if day_first and month_first:
            return None
        if day_first or month_first:
            order = "dmy" if day_first else "mdy"
        else:
            order, guessed = ("mdy" if parts["sep"].iloc[0] == "/" else "dmy"), True
    else:
        return None
    days = date_numbers(values, order)
    # valid dates among the present cells (a missing cell is no date either way)
    return DateReading(order, guessed, days) if days.notna().sum() >= _DATE_SHARE * len(text) \
        else None


def date_numbers(values: pd.Series, order: str = "iso") -> pd.Series:
    """Dates (text read in ``order``, one of :data:`DATE_ORDERS`, or pandas datetimes) as
    days since 1970-01-01 (float64; a cell that is not a valid date is missing). Zones are
    taken to UTC, so one instant is one number; a date without a zone is taken as UTC. A
    two-digit year is 1969-2068, as C's ``strptime`` reads ``%y``."""
    if order == "iso" or values.dtype.kind == "M":
        when = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
        days = (when - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(days=1)
        return days.astype(np.float64)
    parts = values.astype("string").str.strip().str.extract(f"^{_NUMERIC_DATE}$")
    numbers = parts.drop(columns="sep").apply(pd.to_numeric, errors="coerce").astype(np.float64)
    first, second, third = (numbers[k] for k in "abc")
    year, month, day = {"dmy": (third, second, first), "mdy": (third, first, second),
                        "ymd": (first, second, third)}[order]
    year = year.where(year >= 100, year + np.where(year < 69, 2000, 1900))
    clock = numbers[["hour", "minute", "second"]].fillna(0)
    when = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day,
                                        "hour": clock["hour"], "minute": clock["minute"],
                                        "second": clock["second"]}), errors="coerce")
    return ((when - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).astype(np.float64)


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
            how its text is read (a :data:`DATE_ORDERS` entry).
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
        return InputSchema(numeric=self.numeric, categorical=self.categorical,
                           dropped=self.dropped, dtypes=dtypes, target=self.target,
                           dates=dict(self.dates))


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
    #: is read (:func:`date_numbers`).
    dates: dict[str, str] = field(default_factory=dict)

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
                unseen_as={i["name"]: i.get("unseen_as", "zeros")
                           for i in inputs if i["kind"] == "categorical"})

    def prepare(self, frame: pd.DataFrame, where: str) -> dict[str, np.ndarray]:
        """Type a new table's columns the way training did; return one array per column.

        Numeric columns become float64 ``[n, 1]`` (non-numeric cells and infinities become
        missing, NaN, as in training; a date column's dates become days since 1970, read as
        in training);
        categorical columns become strings ``[n, 1]`` with missing cells as
        :data:`MISSING_CATEGORY`.

        Raises:
            DataError: naming the columns the table lacks.
        """
        frame = frame.copy()
        frame.columns = [str(c) for c in frame.columns]
        absent = [c for c in self.columns if c not in frame.columns]
        if absent:
            shown = ", ".join(f"'{c}'" for c in absent[:10])
            more = f" ({len(absent)} in all)" if len(absent) > 10 else ""
            raise DataError(f"{where}: missing column{'s' if len(absent) > 1 else ''} "
                            f"{shown}{more}; the model was trained on: "
                            f"{', '.join(self.columns[:20])}")
        feeds: dict[str, np.ndarray] = {}
        for name in self.numeric:
            series = frame[name]
            if name in self.dates:
                values = date_numbers(series, self.dates[name])
            else:
                values = pd.to_numeric(series, errors="coerce").astype(np.float64)
            garbage = int((values.isna() & series.notna()).sum())
            if garbage:
                log.warning("%s: column '%s' has %d %s cell%s; treating them as "
                            "missing (imputed as in training)", where, name, garbage,
                            "non-date" if name in self.dates else "non-numeric",
                            "" if garbage == 1 else "s")
            array = values.to_numpy(dtype=np.float64, copy=True)
            array[~np.isfinite(array)] = np.nan
            feeds[name] = array.reshape(-1, 1)
        for name in self.categorical:
            feeds[name] = category_strings(frame[name]).reshape(-1, 1)
        return feeds

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
