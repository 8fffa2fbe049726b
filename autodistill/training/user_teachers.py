"""The user's own teachers, on the user's own columns.

``sklearn:PATH`` is any classifier with ``predict_proba`` saved with skops (XGBoost,
LightGBM and CatBoost through their scikit-learn API included), loaded with an explicit
list of trusted types, never unpickled; ``onnx:PATH`` is an ONNX classifier scored with
onnxruntime; ``outputs:PATH`` is a ``.csv`` or ``.npy`` file of per-row probabilities or
logits computed elsewhere (a service, a giant model, a panel), one row per data row in
the data file's order. The first two receive the user's raw columns, a DataFrame with
the columns as loaded (strings and missing values included), unless ``?input=encoded``
asks for autodistill's encoding. A spec carries its options after ``?``:
``sklearn:m.skops?trust=mylib.MyClassifier``, ``onnx:m.onnx?input=encoded``.

These teachers label the dataset's rows once; they cannot label augmented rows (which
exist only in the encoded space), so their outputs have no ``module``.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from autodistill._stamps import file_digest
from autodistill.errors import TeacherError
from autodistill.training.teacher_columns import (
    as_logits,
    check_width,
    order_by_name,
    without_left_out_classes,
)
from autodistill.training.teacher_specs import parse_teacher_spec

if TYPE_CHECKING:
    from autodistill.data.dataset import Dataset
    from autodistill.training.teacher_outputs import TeacherOutputs

__all__ = ["KINDS", "DEFAULT_TRUSTED_TYPES", "user_teacher",
           "describe_file", "check_teacher"]

log = logging.getLogger(__name__)

KINDS = ("sklearn", "onnx", "outputs")
#: Types a skops file may hold without ``trust=``: scikit-learn internals that skops does
#: not trust by default but that its own classifiers need. Anything else must be named.
DEFAULT_TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.utils._bunch.Bunch",
    "sklearn.tree._tree.Tree",  # decision trees, random forests, extra trees, boosting
    "collections.OrderedDict",
    "numpy.dtype",
)
SPLITS = ("train", "valid", "test")


def user_teacher(spec: str, dataset: Dataset) -> TeacherOutputs:
    """The outputs of a ``sklearn:``, ``onnx:`` or ``outputs:`` teacher on every split.

    Raises:
        TeacherError: a file of the wrong kind (naming what it is and how to convert it),
            an untrusted type, outputs of the wrong shape or classes.
    """
    from autodistill.training.teacher_outputs import TeacherOutputs

    kind, path, options = parse_teacher_spec(spec)
    if kind == "outputs":
        logits = _from_outputs_file(path, dataset, spec)
    else:
        inputs = _inputs(dataset, options.get("input", "raw"), spec)
        if kind == "sklearn":
            model = _load_skops(path, spec, options.get("trust", ""))
            logits = {s: _sklearn_logits(model, inputs[s], dataset, spec) for s in SPLITS}
        else:
            logits = _onnx_logits(path, inputs, dataset, spec)
    tensors = {s: torch.as_tensor(np.ascontiguousarray(v), dtype=torch.float32)
               for s, v in logits.items()}
    outputs = TeacherOutputs(logits=tensors, hidden=None, accuracy=_accuracy(tensors, dataset,
                             "test"), valid_accuracy=_accuracy(tensors, dataset, "valid"),
                             params=0, spec=spec, seconds=0.0, module=None)
    check_teacher(outputs, dataset)
    return outputs


def check_teacher(outputs: TeacherOutputs, dataset: Dataset) -> None:
    """Warn when the teacher is no better than always answering the largest class on the
    training split: its inputs, rows or class order are then most likely wrong."""
    bad = sum(int((~torch.isfinite(v)).any(dim=1).sum()) for v in outputs.logits.values())
    if bad:
        raise TeacherError(f"teacher '{outputs.spec}' gives NaN or infinite outputs for {bad} "
                           "rows; missing values in its inputs are the likely cause: give it "
                           "inputs it can score, or impute them in the model")
    y = np.asarray(dataset.y_train)
    if not len(y):
        return
    train = _accuracy(outputs.logits, dataset, "train")
    chance = float(np.bincount(y).max() / len(y))
    if train <= chance + 0.02:
        log.warning("teacher '%s' scores %.3f on the training split, no better than always "
                    "answering the largest class (%.3f); likely cause: it gets other inputs "
                    "than it was trained on (see --teacher-input), its rows are not in the data "
                    "file's order, or its classes are in another order", outputs.spec, train,
                    chance)


def _accuracy(logits: dict[str, Any], dataset: Dataset, split: str) -> float:
    y = np.asarray(getattr(dataset, f"y_{split}"))
    if not len(y):
        return 0.0
    return float((np.asarray(logits[split]).argmax(1) == y).mean())


def raw_numeric_inputs(dataset: Dataset, spec: str) -> dict[str, torch.Tensor]:
    """The raw columns as a float matrix per split (NaN for missing), for a TorchScript
    teacher with ``input=raw``; every column must be numeric."""
    if dataset.raw is None:
        raise TeacherError(f"teacher '{spec}': this dataset keeps no raw columns")
    if dataset.raw.categorical:
        raise TeacherError(f"teacher '{spec}': a TorchScript teacher takes a float matrix, and "
                           f"column '{dataset.raw.categorical[0]}' holds strings; use "
                           "--teacher-input encoded, or an sklearn:/onnx: teacher")
    columns = list(dataset.raw.frame.columns)
    return {s: torch.as_tensor(dataset.raw.split(s)[columns].apply(pd.to_numeric, errors="coerce")
                               .to_numpy(dtype=np.float32, copy=True)) for s in SPLITS}


def file_config(spec: str) -> dict[str, Any]:
    """The cache key part of a file teacher: its kind, options and content digest."""
    kind, path, options = parse_teacher_spec(spec)
    return {"kind": kind, "options": options, "sha256": file_digest(path), "version": 1}


def _inputs(dataset: Dataset, mode: str, spec: str) -> dict[str, Any]:
    if mode == "encoded":
        return {s: np.asarray(getattr(dataset, f"X_{s}"), dtype=np.float32) for s in SPLITS}
    if dataset.raw is None:
        raise TeacherError(f"teacher '{spec}': this dataset keeps no raw columns; "
                           "use ?input=encoded")
    return {s: dataset.raw.split(s) for s in SPLITS}


# --------------------------------------------------------------------------- sklearn


def describe_file(path: Path) -> str:
    """What a file that is not what the flag expects most likely is, and how to convert it."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not head:
        return "an empty file"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if "schema.json" in names:
            return "a skops file; pass it as --teacher sklearn:PATH"
        if any(n.endswith("data.pkl") for n in names):
            if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
                return "a TorchScript module; pass it as --teacher PATH.pt"
            return ("a torch.save file (a state dict or a pickled module), which autodistill "
                    "never unpickles; save the model with torch.jit.script(model).save('t.pt') "
                    "and pass --teacher t.pt, or export it with torch.onnx.export")
        return "a zip archive, not a model autodistill reads"
    if head[:1] == b"\x80" or head[:2] == b"x\x9c":
        return ("a pickle (or joblib) file, which autodistill never unpickles; save a "
                "scikit-learn model with skops.io.dump(model, 'model.skops') and pass "
                "--teacher sklearn:model.skops")
    if head[:6] == b"\x93NUMPY":
        return "a NumPy array; pass precomputed outputs as --teacher outputs:PATH"
    return f"not a model file autodistill knows (it starts with {head[:8]!r})"


def _load_skops(path: Path, spec: str, trust: str) -> Any:
    try:
        import skops.io as sio
    except ImportError:
        raise TeacherError("--teacher sklearn:PATH needs skops: pip install "
                           "'autodistill-kd[teachers]' (or pip install skops)") from None
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception:
        raise TeacherError(f"--teacher '{spec}': not a skops file: it is "
                           f"{describe_file(path)}") from None
    allowed = set(DEFAULT_TRUSTED_TYPES) | {t.strip() for t in trust.split(",") if t.strip()}
    refused = [t for t in untrusted if t not in allowed]
    if refused:
        raise TeacherError(f"--teacher '{spec}': the file holds type '{refused[0]}', which is not "
                           f"trusted{f' (and {len(refused) - 1} more)' if len(refused) > 1 else ''};"
                           f" if you trust the file, pass --trust-type {refused[0]}")
    try:
        model = sio.load(path, trusted=list(untrusted))
    except Exception as exc:
        raise TeacherError(f"--teacher '{spec}': skops cannot load it ({exc})") from None
    if not callable(getattr(model, "predict_proba", None)):
        raise TeacherError(f"--teacher '{spec}': {type(model).__name__} has no predict_proba; "
                           "pass a classifier")
    return model


def _as_fitted(model: Any, x: Any, spec: str) -> Any:
    """The data file's columns as ``model`` was fitted on them: by name, in its order, when
    it knows the names (``feature_names_in_``: a model fitted on a DataFrame may take them
    in another order, or a subset); as plain values when it was fitted without names."""
    if not isinstance(x, pd.DataFrame):
        return x
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return x.to_numpy()
    absent = [str(n) for n in names if n not in x.columns]
    if absent:
        raise TeacherError(f"teacher '{spec}' was fitted on column{'s' if len(absent) > 1 else ''}"
                           f" {', '.join(repr(a) for a in absent[:5])} that the data file lacks "
                           f"(it has {', '.join(map(str, list(x.columns)[:8]))}"
                           f"{', ...' if len(x.columns) > 8 else ''}); pass the table it was "
                           "fitted on")
    return x[list(names)]


def _sklearn_logits(model: Any, x: Any, dataset: Dataset, spec: str) -> np.ndarray:
    raw, x = isinstance(x, pd.DataFrame), _as_fitted(model, x, spec)
    try:
        proba = np.asarray(model.predict_proba(x), dtype=np.float64)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if raw:
            given = (f"the data file's columns {list(x.columns)[:8]}"
                     if isinstance(x, pd.DataFrame) else "the data file's columns")
            hint = "pass --teacher-input encoded if it takes autodistill's encoding"
        else:
            given = f"autodistill's {np.shape(x)[1]} encoded features"
            hint = "drop --teacher-input encoded if it takes the data file's columns"
        raise TeacherError(f"teacher '{spec}' failed on {given} ({reason}); {hint}") from None
    classes = getattr(model, "classes_", None)
    if classes is not None and proba.ndim == 2 and len(classes) == proba.shape[1] and \
            proba.shape[1] != dataset.n_classes:
        proba, classes = without_left_out_classes(proba, list(classes), dataset)
    proba = check_width(proba, dataset, spec, "probabilities")
    if classes is not None and len(classes) == proba.shape[1]:
        proba = order_by_name(proba, list(classes), dataset, spec)
    return as_logits(proba)


# --------------------------------------------------------------------------- onnx


def _onnx_logits(path: Path, inputs: dict[str, Any], dataset: Dataset,
                 spec: str) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception:
        raise TeacherError(f"--teacher '{spec}': not an ONNX model: it is "
                           f"{describe_file(path)}") from None
    return {s: _onnx_run(session, inputs[s], dataset, spec) for s in SPLITS}


def _onnx_feeds(session: Any, x: Any, spec: str) -> dict[str, np.ndarray]:
    """One input per raw column (by name), or one matrix input for all columns."""
    declared = session.get_inputs()
    if not isinstance(x, pd.DataFrame):
        return {declared[0].name: np.asarray(x, dtype=np.float32)}
    if len(declared) == 1 and declared[0].name not in x.columns:
        matrix = x.apply(pd.to_numeric, errors="coerce").to_numpy()
        dtype = np.float64 if "double" in declared[0].type else np.float32
        return {declared[0].name: matrix.astype(dtype)}
    absent = [i.name for i in declared if i.name not in x.columns]
    if absent:
        raise TeacherError(f"teacher '{spec}' wants input '{absent[0]}', which is not a column of "
                           f"the data; name its inputs after the columns")
    feeds = {}
    for item in declared:
        column = x[item.name]
        if "string" in item.type:
            from autodistill.data.input_schema import category_strings

            feeds[item.name] = category_strings(column).reshape(-1, 1)
        else:
            dtype = {"tensor(double)": np.float64, "tensor(int64)": np.int64}.get(
                item.type, np.float32)
            feeds[item.name] = pd.to_numeric(column, errors="coerce").to_numpy().astype(
                dtype).reshape(-1, 1)
    return feeds


def _onnx_run(session: Any, x: Any, dataset: Dataset, spec: str) -> np.ndarray:
    try:
        results = session.run(None, _onnx_feeds(session, x, spec))
    except TeacherError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TeacherError(f"teacher '{spec}' failed on the data ({reason}); check its inputs "
                           "(or pass --teacher-input encoded)") from None
    for value in results:
        if isinstance(value, list) and value and isinstance(value[0], dict):  # skl2onnx ZipMap
            names = list(value[0])
            table = np.array([[row[n] for n in names] for row in value], dtype=np.float64)
            return as_logits(order_by_name(table, names, dataset, spec))
    for value in results:
        array = np.asarray(value)
        if array.ndim == 2 and array.dtype.kind == "f":
            return as_logits(check_width(array, dataset, spec, "outputs"))
    raise TeacherError(f"teacher '{spec}' returns no [rows, classes] float output; return "
                       "probabilities or logits")


# --------------------------------------------------------------------------- outputs file


def _from_outputs_file(path: Path, dataset: Dataset, spec: str) -> dict[str, np.ndarray]:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except Exception:
            raise TeacherError(f"--teacher '{spec}': not a .npy array: it is "
                               f"{describe_file(path)}") from None
        names = None
    elif suffix == ".csv":
        try:
            frame = pd.read_csv(path)
        except Exception as exc:
            raise TeacherError(f"--teacher '{spec}': cannot read the CSV ({exc})") from None
        names = [str(c) for c in frame.columns]
        values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(values).any():
            raise TeacherError(f"--teacher '{spec}': the CSV has empty or non-numeric cells; "
                               "it needs one number per class and row")
    else:
        raise TeacherError(f"--teacher '{spec}': outputs must be a .csv or .npy file")
    values = np.asarray(values, dtype=np.float64)
    values = values.reshape(-1, 1) if values.ndim == 1 else values
    raw = dataset.raw
    rows_left_out = raw is not None and raw.file_rows is not None
    if rows_left_out and values.shape[0] == raw.file_row_count:
        values = values[raw.file_rows]  # one row per file row: keep the rows learned from
    n_rows = dataset.n_rows
    if values.shape[0] != n_rows:
        whole = (f" ({raw.file_row_count} in the file, with the rows left out for lacking a "
                 f"label or being alone in their class)" if rows_left_out else "")
        raise TeacherError(f"--teacher '{spec}': {values.shape[0]} rows of outputs but the data "
                           f"has {n_rows} rows{whole}; give one row per data row, in the "
                           f"file's order")
    values, names = without_left_out_classes(values, names, dataset)
    if values.shape[1] != dataset.n_classes:
        raise TeacherError(f"--teacher '{spec}': {values.shape[1]} columns of outputs but the "
                           f"data has {dataset.n_classes} classes ({', '.join(dataset.classes)})")
    if names is not None and sorted(names) == sorted(dataset.classes):
        values = order_by_name(values, names, dataset, spec)
    logits = as_logits(values)
    if dataset.raw is None:
        raise TeacherError(f"--teacher '{spec}': this dataset keeps no row order")
    return {s: logits[dataset.raw.rows[s]] for s in SPLITS}


def hint_raw_input(module: Any, outputs: TeacherOutputs, dataset: Dataset, spec: str) -> None:
    """Warn when a TorchScript teacher fed the encoding does much better on the raw numeric
    columns: it was most likely trained on those (pass ``--teacher-input raw``)."""
    if dataset.raw is None or dataset.raw.categorical or not len(dataset.y_train):
        return
    from autodistill.training.teacher_outputs import _forward

    try:
        x = raw_numeric_inputs(dataset, spec)["train"]
        raw_logits, _ = _forward(module, torch.nan_to_num(x), where=spec)
    except Exception:  # it does not take the raw width: nothing to hint
        return
    y = np.asarray(dataset.y_train)
    raw = float((raw_logits.argmax(1).numpy() == y).mean())
    encoded = _accuracy(outputs.logits, dataset, "train")
    if raw > encoded + 0.1:
        log.warning("teacher '%s' scores %.3f on the training split with autodistill's encoding "
                    "but %.3f on the raw columns; it was most likely trained on the raw columns: "
                    "pass --teacher-input raw", spec, encoded, raw)
