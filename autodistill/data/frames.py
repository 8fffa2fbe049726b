"""What a notebook hands the Python API as data, turned into a data spec.

A data spec or path is used as it is; a pandas DataFrame with ``target="column"``, or
arrays ``X`` with ``target=y``, are stored once as a Parquet file in the cache (keyed by
content), so that search workers in other processes, and the teacher cache, see the same
table. A DataFrame's columns are stored so that they read back as the same table written
to CSV would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from decimal import Decimal
from os import PathLike

import numpy as np
import pandas as pd

from autodistill.errors import DataError

__all__ = ["Data", "Target", "data_spec"]

log = logging.getLogger(__name__)

Data = str | PathLike | pd.DataFrame | np.ndarray
Target = str | Sequence | np.ndarray | pd.Series | None


def data_spec(data: Data, target: Target = None, *, name: str | None = None
              ) -> tuple[str, str | None]:
    """``(spec, target column)`` for a spec or path, a DataFrame, or arrays ``X``/``y``.

    Raises:
        DataError: a target that does not fit the data (a column name for arrays, a
            length that differs from the rows), or a table Parquet cannot hold.
    """
    if isinstance(data, str | PathLike):
        if target is not None and not isinstance(target, str):
            raise DataError("with a data spec or path, target= is the label column's name")
        return str(data), target
    if isinstance(data, pd.DataFrame):
        frame = _mixed_as_text(data.copy())
        frame.columns = [str(c) for c in frame.columns]
    else:
        array = np.asarray(data)
        if array.ndim != 2:
            raise DataError(f"X must be a 2-D array or a DataFrame, got shape {array.shape}")
        frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
    if target is None:
        raise DataError("pass target= (the label column's name, or the labels themselves)")
    if np.ndim(target) == 0 and not isinstance(target, str):  # a column named by a number
        if not isinstance(data, pd.DataFrame) or target not in data.columns:
            raise DataError(f"target={target!r} is neither a column's name nor the labels; "
                            f"columns: {', '.join(list(frame.columns)[:20])}")
        target = str(target)
    if isinstance(data, pd.DataFrame) and isinstance(target, pd.Series):
        target = _aligned(target, data.index)
    if isinstance(target, str):
        if not isinstance(data, pd.DataFrame):
            raise DataError("with arrays, target= must be the labels (one per row), not a name")
        if target not in frame.columns:
            raise DataError(f"target '{target}' is not a column; columns: "
                            f"{', '.join(list(frame.columns)[:20])}")
        column = target
    else:
        labels = np.asarray(target).reshape(-1)
        if len(labels) != len(frame):
            raise DataError(f"target has {len(labels)} labels but the data has {len(frame)} rows")
        column = str(getattr(target, "name", None) or "target")
        while column in frame.columns:
            column += "_"
        frame[column] = labels
    return _store_frame(frame, name), column


_CELLS = (str, bytes, int, float, bool, np.generic, dt.date, dt.time, dt.timedelta, Decimal)


def _aligned(labels: pd.Series, index: pd.Index) -> pd.Series:
    """``labels`` in the order of ``index`` when both hold the same labels in another order
    (``y.sort_values()``, a shuffled copy): pandas users expect a Series to align by its
    index. Otherwise they are taken in order, as scikit-learn takes them (an ``X`` whose
    index was reset, or labels of their own)."""
    if (len(labels) == len(index) and not labels.index.equals(index)
            and labels.index.is_unique and index.is_unique
            and set(labels.index) == set(index)):
        log.info("target= is a Series whose index holds the data's rows in another order: "
                 "aligned by index")
        return labels.reindex(index)
    return labels


def _mixed_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each column that mixes text and numbers (a column of codes with a
    few ``"unknown"``, ``[12, "a"]``) as text, its missing cells kept: what a CSV of it
    reads as, and what Parquet can store (a column has one type there).

    Raises:
        DataError: a column holding lists, dicts or other objects, which no table cell is.
    """
    for col in frame.columns:
        values = frame[col]
        if values.dtype != object:
            continue
        present = values[values.notna()]
        odd = present[~present.map(lambda v: isinstance(v, _CELLS))]
        if len(odd):
            shown = repr(odd.iloc[0])[:40]
            raise DataError(f"column '{col}' holds {type(odd.iloc[0]).__name__} values (e.g. "
                            f"{shown}); give each column numbers, text or dates")
        if present.map(lambda v: isinstance(v, str)).nunique() > 1:
            frame[col] = values.where(values.isna(), values.astype(str))
    return frame


def _store_frame(frame: pd.DataFrame, name: str | None) -> str:
    from autodistill.paths import cache_dir, write_atomically

    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    key = digest.hexdigest()[:16]
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in (name or "frame"))
    path = cache_dir() / "frames" / key / f"{stem}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_atomically(path, lambda p: frame.to_parquet(p, index=False))
        except (ValueError, TypeError) as exc:  # pyarrow is a base dependency
            # pyarrow's message is a tuple of its parts ("Expected bytes ...", "Conversion
            # failed for column c ..."): the last one names the column
            parts = [str(a) for a in exc.args] or [type(exc).__name__]
            reason = parts[-1].splitlines()[0] if parts[-1] else type(exc).__name__
            raise DataError(f"cannot store the DataFrame ({reason}); give each column numbers, "
                            "text or dates, not lists or objects") from None
    return str(path)
