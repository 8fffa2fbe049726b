"""Reading a data file's table as it is: CSV and TSV (compressed or not), Excel, Parquet,
ARFF (:mod:`autodistill.data.arff_files`).

What the file's name says decides the reader (:func:`file_suffix`); a CSV's separator,
missing-value markers, decimal commas and thousands separators are read as a spreadsheet
user means them. Used by :mod:`autodistill.data.sources` (training data) and by ``predict``
(new rows); nothing here knows about targets, splits or encodings.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from autodistill.errors import DataError

__all__ = ["COMPRESSIONS", "CSV_MISSING_MARKERS", "CSV_READER_VERSION", "FILE_KINDS",
           "FILE_SUFFIXES", "WRITTEN_SUFFIXES", "file_suffix", "full_suffix",
           "looks_decimal_comma", "read_table", "text_as_numbers"]

log = logging.getLogger(__name__)

#: The data files read, by the format their name says (:func:`file_suffix`).
FILE_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".xlsx", ".parquet", ".arff", ".npz")
#: The table formats predictions are written in: the files read, but arrays and ARFF.
WRITTEN_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".xlsx", ".parquet")
#: Compressions a ``.csv`` or ``.tsv`` file may carry (``data.csv.gz``), read as pandas
#: reads them; a ``.zip`` holds one file.
COMPRESSIONS: tuple[str, ...] = (".gz", ".bz2", ".xz", ".zip")
#: The files read, as a message says it.
FILE_KINDS = ("a .csv or .tsv file (either may be compressed: .gz, .bz2, .xz, .zip), "
              "an Excel .xlsx, a .parquet, an ARFF .arff or an .npz file")
#: A number written with a decimal comma, optionally with '.' thousands: 1,15 or 1.234,5.
_DECIMAL_COMMA = r"[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?"
#: A number written with ',' thousands (as a spreadsheet in an English locale quotes it
#: into a comma-separated file), or a plain number: 12,345.67, 1,000, 42 or 0.5.
_THOUSANDS_COMMA = r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?|[+-]?\.\d+"
#: The cells a CSV file may hold to say "missing": pandas' defaults but ``None``, which
#: real tables use as a category (R's ``MASS::survey`` has exercise ``Freq``, ``Some``,
#: ``None``) more often than as a marker (Python writes ``None`` as an empty cell). In a
#: column whose other cells are all numbers, ``None`` still reads as missing.
CSV_MISSING_MARKERS = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                       "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan",
                       "null")
#: A currency sign before a number or after it, or a percent sign after it ($1,234.50,
#: -€12, 12.5 %, 1.234,50 €).
_UNIT_PREFIX = r"^([+-]?)\s*[$€£¥]\s*"
_UNIT_SUFFIX = r"\s*[$€£¥%]$"
#: How a CSV file's cells are read; part of what a cached teacher depends on. 2: ``None``
#: is a category (see :data:`CSV_MISSING_MARKERS`); 3: numbers with ',' thousands are
#: numbers (:func:`_thousands_commas`); 4: amounts and percentages are numbers
#: (:func:`_units_as_numbers`); 5: a Parquet category column of numbers stays a category
#: (:func:`_read_parquet`); 6: a separator inside a quoted header name does not decide
#: the file's separator.
CSV_READER_VERSION = 6


def full_suffix(path: Path) -> str:
    """The extension with its compression, as written: ``.csv.gz``, ``.csv``, ``.npz``."""
    if path.suffix.lower() in COMPRESSIONS and len(path.suffixes) >= 2:
        return "".join(path.suffixes[-2:])
    return path.suffix


def file_suffix(path: Path) -> str:
    """The table format a file's name says, lower case, compression aside: ``.csv`` for
    ``data.CSV.gz``; a compressed file that is not a ``.csv`` or ``.tsv`` keeps its whole
    extension (``.parquet.gz``), which no reader takes."""
    full = full_suffix(path).lower()
    if full != path.suffix.lower():
        inner = path.suffixes[-2].lower()
        return inner if inner in (".csv", ".tsv") else full
    return full


def _head(path: Path, size: int = 8192) -> bytes:
    """The first ``size`` bytes of a file's text, decompressed when its name says so."""
    import bz2
    import gzip
    import lzma
    import zipfile

    compression = path.suffix.lower()
    if compression == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise ValueError(f"a .zip must hold exactly one file, it holds {len(names)}")
            with archive.open(names[0]) as handle:
                return handle.read(size)
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(compression, open)
    with opener(path, "rb") as handle:
        return handle.read(size)


def _read_excel(path: Path, where: str) -> pd.DataFrame:
    """The first sheet of an ``.xlsx`` workbook, its missing-value cells read as a CSV's
    (a spreadsheet's ``#N/A`` among them); a warning names the sheets left unread."""
    try:
        import openpyxl  # noqa: F401 - pandas reads .xlsx through it
    except ImportError:
        raise DataError(f"{where}: reading an Excel file needs openpyxl; pip install "
                        f"'autodistill-kd[excel]', or save the sheet as CSV") from None
    with pd.ExcelFile(path, engine="openpyxl") as book:
        sheets = [str(name) for name in book.sheet_names]
        if len(sheets) > 1:
            log.warning("%s: reading its first sheet, '%s', of %d (%s); put the sheet you mean "
                        "first, or save it as CSV", where, sheets[0], len(sheets),
                        ", ".join(f"'{name}'" for name in sheets))
        return pd.read_excel(book, sheet_name=sheets[0], keep_default_na=False,
                             na_values=list(CSV_MISSING_MARKERS))


def _read_parquet(path: Path) -> pd.DataFrame:
    """The Parquet file at ``path`` with its categories kept: pandas writes a category column
    of numbers (region codes 1-5) as plain integers and says it was a category only in the
    file's pandas metadata, so such a column would read back as a measurement."""
    import pyarrow.parquet as pq

    frame = pd.read_parquet(path)
    raw = (pq.read_schema(path).metadata or {}).get(b"pandas")
    declared = json.loads(raw).get("columns", []) if raw else []
    for column in declared:
        name = column.get("name")
        if (column.get("pandas_type") == "categorical" and name in frame.columns
                and not isinstance(frame[name].dtype, pd.CategoricalDtype)):
            frame[name] = frame[name].astype("category")
    return frame


def _warn_of_repeated_names(header: bytes, sep: str, columns: list, where: str) -> None:
    """One warning when the header names a column twice: pandas reads the second as
    ``income.1``, which the user never wrote and may not mean to keep."""
    import csv
    from collections import Counter

    try:
        text = header.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = header.decode("latin-1")
    names = next(csv.reader([text.rstrip("\r\n")], delimiter=sep), [])
    if len(names) != len(columns):  # a header cell with a line break: cannot tell
        return
    repeated = [name for name, n in Counter(names).items() if n > 1 and name.strip()]
    if repeated:
        read_as = {name: [str(c) for c, raw in zip(columns, names, strict=True) if raw == name]
                   for name in repeated[:5]}
        shown = "; ".join(f"'{name}' {len(as_read)} times (read as "
                          f"{', '.join(repr(c) for c in as_read)})"
                          for name, as_read in read_as.items())
        log.warning("%s: the header names %s; rename them in the file if they hold different "
                    "things, or drop the copies", where, shown)


def read_table(path: Path, where: str) -> pd.DataFrame:
    """Read the CSV, TSV (compressed or not), Excel, Parquet or ARFF table at ``path`` as it is,
    its column names as text; ``where`` names it in messages.

    Raises:
        DataError: a file that cannot be read as its extension says, empty or without rows.
    """
    suffix = file_suffix(path)
    try:
        if suffix == ".parquet":  # a DataFrame saved with amounts as text reads as a CSV's
            frame = _text_numbers(_read_parquet(path), decimal_comma=False)
        elif suffix == ".xlsx":  # a cell may hold "$1,234.50" as text, not as a number
            frame = _text_numbers(_none_in_numbers(_read_excel(path, where)), decimal_comma=False)
        elif suffix == ".arff":
            from autodistill.data.arff_files import read_arff

            frame = read_arff(path, where)
        else:
            head = _head(path)
            if b"\0" in head:
                raise DataError(f"{where}: not a text CSV file (it holds binary data); "
                                f"pass a comma-separated text file")
            header = head.splitlines()[0] if head.strip() else b""
            # comma unless the header clearly uses semicolons or tabs (European/TSV exports);
            # a quoted name may hold any of them ("weight, kg";"height")
            bare = re.sub(rb'"[^"]*"', b"", header)
            sep = "\t" if suffix == ".tsv" else next(
                (s for s in (",", ";", "\t") if s.encode() in bare), ",")
            markers = {"keep_default_na": False, "na_values": list(CSV_MISSING_MARKERS)}
            try:
                frame = pd.read_csv(path, sep=sep, **markers)
            except UnicodeDecodeError:  # not UTF-8: most such exports are Latin-1
                frame = pd.read_csv(path, sep=sep, encoding="latin-1", **markers)
            # a ';' or tab export usually writes decimal commas too
            frame = _text_numbers(_none_in_numbers(frame), decimal_comma=sep != ",")
            _warn_of_repeated_names(header, sep, list(frame.columns), where)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{where}: the file is empty; it needs a header and rows") from None
    except Exception as exc:  # parsers raise many types; the user needs one line
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{where}: cannot read it as {suffix[1:]} ({reason}); "
                        f"check the file format") from None
    if len(frame) == 0:
        raise DataError(f"{where}: no rows, only a header; pass a table with rows to learn "
                        f"from or to score")
    frame.columns = [str(c) for c in frame.columns]  # a header cell may read as a number
    return frame


def looks_decimal_comma(values: pd.Series) -> bool:
    """Whether most cells read like numbers written with a decimal comma (``1,15``)."""
    return _written_as(values, _DECIMAL_COMMA)


def _written_as(values: pd.Series, pattern: str) -> bool:
    """Whether text cells read as numbers written ``pattern``'s way: at least 90% of them
    match it, and one has a comma (else pandas would have read them as numbers)."""
    if len(values) == 0 or values.dtype.kind != "O":
        return False
    text = values.astype(str).str.strip()
    return bool(text.str.fullmatch(pattern).mean() >= 0.9 and text.str.contains(",").any())


def _none_in_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns of numbers with ``None`` cells as numbers, ``None`` as missing."""
    for col in frame.columns[[d.kind == "O" for d in frame.dtypes]]:
        is_none = frame[col].eq("None")
        if is_none.any() and not is_none.all():
            numbers = pd.to_numeric(frame[col].mask(is_none), errors="coerce")
            if numbers.notna().sum() == frame[col].notna().sum() - is_none.sum():
                frame[col] = numbers.astype(np.float64)
    return frame


def _commas_as_numbers(frame: pd.DataFrame, pattern: str,
                       rewrite: Callable[[pd.Series], pd.Series]) -> pd.DataFrame:
    """Text columns whose cells are numbers written ``pattern``'s way as numbers:
    ``rewrite`` turns a cell into Python's notation; a cell that then is no number is
    missing, as :func:`load_dataset` treats a numeric column's stray cells."""
    for col in frame.columns[[d.kind == "O" for d in frame.dtypes]]:
        if _written_as(frame[col].dropna(), pattern):
            text = rewrite(frame[col].astype("string").str.strip())
            frame[col] = pd.to_numeric(text, errors="coerce").astype(np.float64)
    return frame


def _in_python_notation(text: pd.Series, *, decimal_comma: bool) -> pd.Series:
    """Numbers written with decimal commas (``1.234,5``) or ',' thousands (``1,234.5``) as
    Python writes them (``1234.5``)."""
    if decimal_comma:
        return text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return text.str.replace(",", "", regex=False)


def _without_signs(text: pd.Series) -> pd.Series:
    """Cells with a currency sign before or after the number, or a percent sign after it,
    without them (``$1,234.50`` -> ``1,234.50``, ``-€12`` -> ``-12``, ``12,5 %`` -> ``12,5``)."""
    return text.str.replace(_UNIT_PREFIX, r"\1", regex=True).str.replace(_UNIT_SUFFIX, "",
                                                                         regex=True)


def _decimal_commas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns holding decimal-comma numbers (``1,15``, ``1.234,5``) as numbers."""
    return _commas_as_numbers(frame, _DECIMAL_COMMA,
                              lambda text: _in_python_notation(text, decimal_comma=True))


def _thousands_commas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns holding numbers with ',' thousands (``"12,345.67"``) as numbers.

    Read as text, each distinct amount would be a category of its own. In a ';' or tab
    file, cells such as ``1,234`` were already read as decimal commas by
    :func:`_decimal_commas`, which runs first.
    """
    return _commas_as_numbers(frame, _THOUSANDS_COMMA,
                              lambda text: _in_python_notation(text, decimal_comma=False))


def _text_numbers(frame: pd.DataFrame, *, decimal_comma: bool) -> pd.DataFrame:
    """Text columns of numbers as a spreadsheet writes them, as numbers: amounts and
    percentages, then (in a ';' or tab file) decimal commas, then ',' thousands."""
    frame = _units_as_numbers(frame, decimal_comma=decimal_comma)
    if decimal_comma:
        frame = _decimal_commas(frame)
    return _thousands_commas(frame)


def text_as_numbers(values: pd.Series) -> pd.Series:
    """A numeric column given as text (a DataFrame read without this module: ``$1,234.50``,
    ``12.5%``, ``12,345``, ``1.234,5``) as float64 numbers, read as :func:`read_table`
    reads a file's; a cell that is then no number is missing. The notation is taken from
    the cells: ',' thousands when 90% of them fit it, else decimal commas when 90% fit."""
    bare = _without_signs(values.astype("string").str.strip())
    present = bare.dropna()
    if len(present) and present.str.fullmatch(_THOUSANDS_COMMA).mean() >= 0.9:
        bare = _in_python_notation(bare, decimal_comma=False)
    elif len(present) and present.str.fullmatch(_DECIMAL_COMMA).mean() >= 0.9:
        bare = _in_python_notation(bare, decimal_comma=True)
    return pd.to_numeric(bare, errors="coerce").astype(np.float64)


def _units_as_numbers(frame: pd.DataFrame, *, decimal_comma: bool) -> pd.DataFrame:
    """Text columns of amounts and percentages (``$1,234.50``, ``12.5%``; with decimal
    commas in a ';' or tab file: ``1.234,50 €``) as the numbers written, signs dropped.

    Read as text, each amount would be a category of its own, or the column an identifier
    left out. A column turns only when at least 90% of its cells are such numbers and one
    carries a sign; a cell that then is no number is missing.
    """
    pattern = _DECIMAL_COMMA if decimal_comma else _THOUSANDS_COMMA
    for col in frame.columns[[d.kind == "O" for d in frame.dtypes]]:
        cells = frame[col].astype("string").str.strip()
        present = cells.dropna()
        if not len(present) or not present.str.contains(r"[$€£¥%]").any():
            continue
        bare = _without_signs(cells)
        if bare.dropna().str.fullmatch(pattern).mean() < 0.9:
            continue
        bare = _in_python_notation(bare, decimal_comma=decimal_comma)
        frame[col] = pd.to_numeric(bare, errors="coerce").astype(np.float64)
    return frame
