"""A model directory: what ``distill --out DIR`` writes and ``autodistill predict`` reads.

``DIR/model.onnx`` is the whole model, from the user's raw columns to class probabilities
and class names (see :mod:`autodistill.training.export`); ``DIR/model.json`` says what it needs
and what it is: the input schema (columns, kinds, dtypes, training categories), the
class names, the pipeline, the metrics and the versions that made it. ``student.pt``
(the student's weights on the encoded features, for fine-tuning), ``pipeline.json`` and
``metrics.json`` sit beside them.

Scoring needs onnxruntime and pandas only. A table that lacks a column is a
:class:`~autodistill.errors.DataError` naming it. A category training never saw is
encoded as training encoded it (the column's infrequent slot if it has one, else an
all-zero one-hot) and logged as a warning naming the column and how many rows;
``strict=True`` makes it an error instead.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from autodistill.data.input_schema import InputSchema
from autodistill.errors import AutodistillError, DataError

if TYPE_CHECKING:
    from torch import nn

    from autodistill.data.dataset import Dataset

__all__ = ["ARTIFACT", "MANIFEST", "DeployedModel", "check_out_dir", "check_unseen",
           "save_model", "load_model", "read_rows"]

log = logging.getLogger(__name__)

ARTIFACT = "model.onnx"
MANIFEST = "model.json"
FORMAT = "autodistill-model"
FORMAT_VERSION = 1


class ModelDirError(AutodistillError):
    """A directory that holds no usable autodistill model."""


def check_unseen(schema: InputSchema, feeds: dict[str, np.ndarray], where: str,
                 strict: bool = False) -> None:
    """Warn of (or, ``strict``, refuse) categories the model never saw in ``feeds``
    (:meth:`InputSchema.prepare`'s output), naming the column, how many rows and what
    they are encoded as."""
    for column, (rows, examples) in schema.unseen(feeds).items():
        shown = ", ".join(repr(e) for e in examples)
        encoded = ("the column's infrequent category"
                   if schema.unseen_as.get(column) == "infrequent"
                   else "an all-zero one-hot, as in training")
        if strict:
            raise DataError(f"{where}: column '{column}': {rows} row(s) have categories the "
                            f"model never saw ({shown}); drop --strict to encode them as "
                            f"{encoded}")
        log.warning("%s: column '%s': %d row(s) have categories the model never saw (%s); "
                    "encoded as %s", where, column, rows, shown, encoded)


def check_out_dir(out: Path, warn: bool = True) -> None:
    """Refuse, before any training, an ``--out`` a model cannot be written to: a file, a
    directory holding other files than a model, or a place that cannot be created or
    written; a directory holding a model is replaced, with a warning (unless not ``warn``:
    a later check will give it).

    Raises:
        AutodistillError: one line naming ``out`` and what to pass instead.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AutodistillError(f"--out '{out}': a file is there; pass a directory to write "
                               f"the model into (it is created)")
    if out.is_dir() and not (out / MANIFEST).is_file() and any(out.iterdir()):
        raise AutodistillError(f"--out '{out}': the directory holds other files, not a model; "
                               f"pass a new or empty directory")
    if warn and (out / MANIFEST).is_file():
        log.warning("--out '%s' holds a model; it will be replaced by this one", out)
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise AutodistillError(f"--out '{out}': cannot create or write it under '{existing}'; "
                               f"pass a directory you can write to")


def save_model(out: Path, dataset: Dataset, student: nn.Module, *,
               pipeline: dict[str, Any] | None = None, report: dict[str, Any] | None = None,
               student_spec: str | None = None) -> Path:
    """Write the deployable model of ``student`` on ``dataset`` into ``out``; return ``out``.

    The artifact is checked against the in-process student on the raw test rows before
    anything is written (see :func:`autodistill.training.export.check_onnx`).

    Raises:
        ExportError: the model cannot be exported faithfully.
        AutodistillError: ``out`` cannot be created.
    """
    import onnx
    import torch

    from autodistill.training.export import OPSET, build_onnx, check_onnx

    out = Path(out)
    model, schema = build_onnx(dataset, student)
    difference = check_onnx(model, schema, dataset, student)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AutodistillError(f"--out '{out}': cannot create the directory ({exc})") from None
    onnx.save(model, str(out / ARTIFACT))
    torch.save({k: v.detach().cpu() for k, v in student.state_dict().items()},
               out / "student.pt")
    report = report or {}
    doc = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "artifact": ARTIFACT,
        **schema.to_dict(),
        "classes": list(dataset.classes),
        "outputs": {"probabilities": "float [rows, classes], in the order of 'classes'",
                    "label": "string [rows], the most probable class"},
        "dataset": {"name": dataset.name, "spec": dataset.spec,
                    "fingerprint": dataset.fingerprint, "split_seed": dataset.split_seed,
                    "n_features_encoded": dataset.n_features},
        "student": student_spec or report.get("student", {}).get("spec"),
        "pipeline": pipeline if pipeline is not None else report.get("pipeline"),
        "metrics": {k: report[k] for k in ("teacher", "student", "split") if k in report},
        "export_check": {"rows": int(len(dataset.y_test)), "max_abs_difference": difference},
        "versions": _versions(), "opset": OPSET,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / MANIFEST).write_text(json.dumps(doc, indent=2) + "\n")
    if doc["pipeline"] is not None:
        (out / "pipeline.json").write_text(json.dumps(doc["pipeline"], indent=2) + "\n")
    if report:
        (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    return out


def _versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    from autodistill._version import __version__

    versions["autodistill"] = __version__
    for dist in ("torch", "onnx", "onnxruntime", "scikit-learn", "numpy",
                 "pandas"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


class DeployedModel:
    """A model directory, loaded for scoring (onnxruntime; no torch, nothing unpickled).

    Attributes:
        directory: Where it was loaded from.
        doc: ``model.json``.
        schema: The input schema.
        classes: The class names, in the order of the probability columns.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        manifest = self.directory / MANIFEST
        if not manifest.is_file():
            raise ModelDirError(f"'{directory}': no {MANIFEST} here; pass the directory "
                                "that 'autodistill distill --out DIR' wrote")
        try:
            self.doc = json.loads(manifest.read_text())
            if self.doc.get("format") != FORMAT:
                raise ValueError(f"format is {self.doc.get('format')!r}")
            self.schema = InputSchema.from_dict(self.doc)
            self.classes: tuple[str, ...] = tuple(self.doc["classes"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelDirError(f"'{manifest}': not an autodistill model description ({exc}); "
                                "write it again with 'autodistill distill --out DIR'") from None
        import onnxruntime as ort  # a base dependency, imported only to score
        artifact = self.directory / self.doc.get("artifact", ARTIFACT)
        try:
            self._session = ort.InferenceSession(str(artifact),
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelDirError(f"'{artifact}': cannot load the ONNX model ({reason}); write it "
                                "again with 'autodistill distill --out DIR'") from None

    def _run(self, frame: pd.DataFrame, where: str, strict: bool) -> tuple[np.ndarray, np.ndarray]:
        feeds = self.schema.prepare(frame, where, strict=strict)
        check_unseen(self.schema, feeds, where, strict)
        if not len(frame):
            return np.zeros((0, len(self.classes)), np.float32), np.zeros(0, dtype=object)
        probabilities, labels = self._session.run(["probabilities", "label"], feeds)
        lost = ~np.isfinite(probabilities).all(axis=1)
        if lost.any():  # a value that overflows once standardised
            log.warning("%s: %d row(s) give no probabilities (first: row %d): a value too "
                        "large for the model's float32 arithmetic?", where, int(lost.sum()),
                        int(np.flatnonzero(lost)[0]))
        return probabilities, np.asarray(labels, dtype=object)

    def predict_proba(self, frame: pd.DataFrame, *, strict: bool = False,
                      where: str = "data") -> np.ndarray:
        """Class probabilities ``[rows, classes]`` for a table of raw columns (by name)."""
        return self._run(frame, where, strict)[0]

    def predict(self, frame: pd.DataFrame, *, strict: bool = False,
                where: str = "data") -> np.ndarray:
        """The most probable class name of each row."""
        return self._run(frame, where, strict)[1]


def load_model(directory: Path | str) -> DeployedModel:
    """Load a model directory written by ``distill --out`` (or :func:`save_model`)."""
    return DeployedModel(directory)


def read_rows(data: str) -> tuple[pd.DataFrame, str]:
    """Read a CSV, TSV, Excel or Parquet file (or a builtin/synthetic spec) as raw rows;
    return the table and a name for messages. The label column, if present, is kept."""
    from autodistill.data.sources import load_raw, parse_spec
    from autodistill.data.table_files import file_suffix, read_table

    spec = parse_spec(data)
    if spec.kind == "file" and spec.path is not None:
        if file_suffix(spec.path) == ".npz":
            raise DataError(f"{data}: predict reads a .csv, .tsv, .xlsx, .parquet or .arff "
                            f"table with named columns")
        return read_table(spec.path, spec.spec), spec.spec
    frame, labels, _, label_column = load_raw(spec, None)
    return frame.assign(**{label_column: labels}), spec.spec
