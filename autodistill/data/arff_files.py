"""Reading an ARFF file (Weka's and OpenML's format) as a table of the columns it declares.

An ARFF file declares each attribute (``@attribute name numeric|real|integer|string|date
|{a,b,c}``) before its ``@data`` rows, which are comma-separated with ``'`` or ``"``
quoting and ``?`` for a missing value. Numeric attributes become numbers, nominal ones
pandas categories (a category even when its values are digits, as declared), the others
text; a date attribute stays text, which the date reader types. Sparse rows
(``{0 1.5, 3 a}``) and relational attributes are refused in one line.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from autodistill.errors import DataError

__all__ = ["read_arff"]

log = logging.getLogger(__name__)

_NUMERIC_TYPES = ("numeric", "real", "integer")
#: ``@attribute NAME TYPE``: the name bare, or quoted with ' or " (spaces allowed inside).
_ATTRIBUTE = re.compile(r"@attribute\s+('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\S+)\s+(.+)$",
                        re.IGNORECASE)


def _text(path: Path, where: str) -> str:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        raise DataError(f"{where}: not a text ARFF file (it holds binary data)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # Weka writes the platform's encoding: most often Latin-1
        return data.decode("latin-1")


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return name


def _attribute_type(name: str, kind: str, number: int, where: str) -> str:
    """An attribute's declared type as a keyword (``nominal`` for ``{a,b}``), or a one-line
    error for what Weka would refuse too: an unknown type, an unclosed ``{``."""
    if kind.startswith("{"):
        if not kind.rstrip().endswith("}"):
            raise DataError(f"{where}: line {number + 1}: the values of nominal attribute "
                            f"'{name}' open with '{{' but do not close with '}}'")
        return "nominal"
    word = kind.split(None, 1)[0].lower()
    if word == "relational":
        raise DataError(f"{where}: attribute '{name}' is relational, which is not read; "
                        f"flatten it into plain columns")
    if word not in (*_NUMERIC_TYPES, "string", "date"):
        raise DataError(f"{where}: line {number + 1}: attribute '{name}' has type "
                        f"'{kind.split(None, 1)[0]}'; ARFF types are numeric, real, integer, "
                        f"string, date or {{value,...}}")
    return word


def _header(lines: list[str], where: str) -> tuple[list[tuple[str, str]], int]:
    """The declared ``(name, type)`` pairs, the type lower case for keywords (``numeric``,
    ``string``, ``date``, ``nominal``), and the index of the first line after ``@data``."""
    attributes: list[tuple[str, str]] = []
    for number, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        keyword = line.split(None, 1)[0].lower()
        if keyword == "@data":
            if not attributes:
                raise DataError(f"{where}: the ARFF file declares no @attribute before @data")
            return attributes, number + 1
        if keyword == "@attribute":
            found = _ATTRIBUTE.match(line)
            if found is None:
                raise DataError(f"{where}: line {number + 1} is not an ARFF attribute: "
                                f"{line[:60]!r}")
            name, kind = _unquote(found.group(1)), found.group(2).strip()
            attributes.append((name, _attribute_type(name, kind, number, where)))
        elif keyword not in ("@relation", "@end"):
            raise DataError(f"{where}: line {number + 1} is neither ARFF header nor comment: "
                            f"{line[:60]!r}; is this an ARFF file?")
    raise DataError(f"{where}: no @data line; an ARFF file declares its attributes, then "
                    f"@data and the rows")


def read_arff(path: Path, where: str) -> pd.DataFrame:
    """The table of the ARFF file at ``path``, one column per declared attribute, numeric
    attributes as numbers, ``?`` as missing; ``where`` names the file in messages.

    Raises:
        DataError: not an ARFF file, sparse rows, a relational attribute, a row whose
            number of values differs from the attributes'.
    """
    lines = _text(path, where).splitlines()
    attributes, start = _header(lines, where)
    rows = [line.strip() for line in lines[start:]
            if line.strip() and not line.lstrip().startswith("%")]
    if rows and rows[0].lstrip().startswith("{"):
        raise DataError(f"{where}: sparse ARFF rows ({{index value, ...}}) are not read; "
                        f"save the data as dense ARFF or CSV")
    # the quote that opens fields ("O'Brien" in double quotes has an apostrophe inside)
    text = "\n".join(rows)
    opens = {q: len(re.findall(rf"(?:^|,)\s*{q}", text, flags=re.M)) for q in "'\""}
    quote = "'" if opens["'"] >= opens['"'] else '"'
    names = [name for name, _ in attributes]
    values = []
    for offset, fields in enumerate(csv.reader(io.StringIO(text), quotechar=quote,
                                               skipinitialspace=True, escapechar="\\")):
        if len(fields) != len(names):
            raise DataError(f"{where}: data row {offset + 1} has {len(fields)} values for "
                            f"{len(names)} attributes; check its quoting and commas")
        # a quoted value keeps its spaces, as Weka reads it ('  yes' is not 'yes')
        values.append([None if cell.strip() == "?" else cell for cell in fields])
    frame = pd.DataFrame(values, columns=names, dtype=object)
    for name, kind in attributes:
        if kind == "nominal":  # declared categories, even of digits: a pandas category
            frame[name] = frame[name].astype("category")
        if kind in _NUMERIC_TYPES:
            numbers = pd.to_numeric(frame[name], errors="coerce").astype(np.float64)
            stray = int(numbers.isna().sum() - frame[name].isna().sum())
            if stray:
                log.warning("%s: numeric attribute '%s' has %d cell%s that %s no number; "
                            "treating them as missing", where, name, stray,
                            "" if stray == 1 else "s", "is" if stray == 1 else "are")
            frame[name] = numbers
    return frame
