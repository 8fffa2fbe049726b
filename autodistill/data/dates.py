"""Columns of dates as text: whether a column holds dates, in which order, and as numbers.

A column of dates is fed to the model as days since 1970-01-01, so that "after March"
is one threshold and not one category per day. :func:`read_dates` decides from the cells
alone (no label) whether a text column is dates and how its cells are written; the
order it finds is stored with the model (``model.json``), and :func:`date_numbers` reads
new rows in that same order.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = ["DATE_ORDERS", "DateReading", "read_dates", "date_numbers"]

#: A time after a date, optionally with seconds (and a fraction, ignored).
_CLOCK = r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?)?"
#: A date as ISO 8601 writes it (``2021-01-31``), optionally with a time and a zone.
_ISO_DATE = (r"\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?"
             r"(Z|[+-]\d{2}:?\d{2})?")
#: A date written with numbers only, in some order, one separator (``31/01/2021``,
#: ``1/31/21``, ``31.01.2021``, ``2021/01/31``), optionally with a time.
_NUMERIC_DATE = r"(?P<a>\d{1,4})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})" + _CLOCK
_MONTH = r"(?P<month>[A-Za-z]{3,9})\.?"
_ORDINAL = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
#: English month names, day first (``31 Jan 2021``, ``31-Jan-21``, ``Mon, 31 January 2021``)
#: or month first (``Jan 31, 2021``, ``January 31 2021``), optionally with a time.
_NAMED_DATES = {
    "d_month_y": rf"(?:[A-Za-z]{{3,9}},? )?{_ORDINAL}[ -]{_MONTH},?[ -](?P<year>\d{{2}}|\d{{4}})"
                 + _CLOCK,
    "month_d_y": rf"(?:[A-Za-z]{{3,9}},? )?{_MONTH}[ -]{_ORDINAL},?[ -](?P<year>\d{{4}})" + _CLOCK,
}
_MONTHS = {name: number for number, month in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"), start=1) for name in (month, month[:3])}
_MONTHS["sept"] = 9
#: How a date column's cells are read: ISO 8601; numbers-only dates day first, month first
#: or year first; or dates with an English month name, day first or month first.
DATE_ORDERS = ("iso", "dmy", "mdy", "ymd", *_NAMED_DATES)
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
    present cells are valid dates: ISO 8601 (``2021-01-31``, with a time or zone or not),
    numbers only (``31/01/2021``, ``1/31/21``, ``31.01.2021``, ``2021/01/31``), or with an
    English month name (``31 Jan 2021``, ``Jan 31, 2021``). Whether a numbers-only date is
    day-first or month-first is read from the cells (a first number above 12 is a day; a
    second one, a month); when no cell tells, ``.`` and ``-`` dates are taken as day-first
    and ``/`` dates as month-first, and the reading says it guessed.
    """
    if values.dtype.kind == "M":
        return DateReading("iso", False, date_numbers(values))
    if values.dtype.kind != "O":
        return None
    text = values.dropna().astype(str).str.strip()
    if not len(text):
        return None
    glance = text.iloc[:100]  # most text columns are categories: 100 cells settle it
    guessed = False
    if glance.str.fullmatch(_ISO_DATE).mean() >= 0.5:
        order = "iso"
    elif glance.str.fullmatch(_NUMERIC_DATE).mean() >= 0.5:
        order, guessed = _numbers_order(text)
    else:
        order = next((name for name, pattern in _NAMED_DATES.items()
                      if glance.str.fullmatch(pattern).mean() >= 0.5), None)
    if order is None:
        return None
    days = date_numbers(values, order)
    # valid dates among the present cells (a missing cell is no date either way)
    return DateReading(order, guessed, days) if days.notna().sum() >= _DATE_SHARE * len(text) \
        else None


def _numbers_order(text: pd.Series) -> tuple[str | None, bool]:
    """The order of a column of numbers-only dates, and whether it was guessed (None: the
    cells mix separators or orders, so they are not one column of dates)."""
    parts = text.str.extract(f"^{_NUMERIC_DATE}$").dropna(subset=["a"])
    if len(parts) < _DATE_SHARE * len(text) or parts["sep"].nunique() > 1:
        return None, False
    width_a, width_c = parts["a"].str.len(), parts["c"].str.len()
    if (width_a == 4).all() and (width_c <= 2).all():
        return "ymd", False
    if not ((width_a <= 2).all() and width_c.isin([2, 4]).all()):
        return None, False
    day_first = (parts["a"].astype(int) > 12).any()
    month_first = (parts["b"].astype(int) > 12).any()
    if day_first and month_first:
        return None, False
    if day_first or month_first:
        return ("dmy" if day_first else "mdy"), False
    return ("mdy" if parts["sep"].iloc[0] == "/" else "dmy"), True


def date_numbers(values: pd.Series, order: str = "iso") -> pd.Series:
    """Dates (text read in ``order``, one of :data:`DATE_ORDERS`, or pandas datetimes) as
    days since 1970-01-01 (float64; a cell that is not a valid date is missing). Zones are
    taken to UTC, so one instant is one number; a date without a zone is taken as UTC. A
    two-digit year is 1969-2068, as C's ``strptime`` reads ``%y``."""
    if order == "iso" or values.dtype.kind == "M":
        when = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
        days = (when - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(days=1)
        return days.astype(np.float64)
    text = values.astype("string").str.strip()
    if order in _NAMED_DATES:
        parts = text.str.extract(f"^{_NAMED_DATES[order]}$")
        month = parts["month"].str.lower().map(_MONTHS).astype(np.float64)
        numbers = parts.drop(columns="month").apply(pd.to_numeric, errors="coerce")
        year, day = numbers["year"].astype(np.float64), numbers["day"].astype(np.float64)
    else:
        parts = text.str.extract(f"^{_NUMERIC_DATE}$")
        numbers = parts.drop(columns="sep").apply(pd.to_numeric, errors="coerce")
        first, second, third = (numbers[k].astype(np.float64) for k in "abc")
        year, month, day = {"dmy": (third, second, first), "mdy": (third, first, second),
                            "ymd": (first, second, third)}[order]
    year = year.where(year >= 100, year + np.where(year < 69, 2000, 1900))
    clock = numbers[["hour", "minute", "second"]].astype(np.float64).fillna(0)
    when = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day,
                                        "hour": clock["hour"], "minute": clock["minute"],
                                        "second": clock["second"]}), errors="coerce")
    days = ((when - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).astype(np.float64)
    # an ISO date (2021-01-31) reads one way in any order: new rows a model scores may be
    # written so though its training file wrote 31/01/2021
    iso = days.isna() & text.str.fullmatch(_ISO_DATE).fillna(False).astype(bool)
    if iso.any():
        days[iso] = date_numbers(text[iso].astype(object), "iso").to_numpy()
    return days
