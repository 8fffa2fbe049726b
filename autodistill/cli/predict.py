"""``autodistill predict``: score raw rows with a model directory that ``distill --out`` wrote."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from autodistill.cli.options import JsonOpt

log = logging.getLogger(__name__)

EPILOG = (
    "Example: autodistill distill data.csv --target y --pipeline hinton --out m/  then  "
    "autodistill predict m/ new.csv --out preds.csv --proba"
)


def predict_command(
    model_dir: Annotated[Path, typer.Argument(help="A directory written by 'distill --out'.",
                                              show_default=False)],
    data: Annotated[str, typer.Argument(help="A .csv, .tsv (maybe compressed), .xlsx, "
                                             ".parquet or .arff file with the model's "
                                             "columns (extra columns are ignored).",
                                        show_default=False)],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write predictions here, in the format its name says: .csv or "
                            ".tsv (maybe .gz, .bz2, .xz or .zip), .xlsx or .parquet; default: "
                            "CSV on stdout.",
    )] = None,
    proba: Annotated[bool, typer.Option(
        "--proba", help="Add one probability column per class (proba_<class>).")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Refuse categories the model never saw, and cells that do not read "
                         "as numbers (or dates), instead of encoding them as training did (the "
                         "infrequent slot or an all-zero one-hot; missing).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Predict the class of every row of DATA with a distilled student, from its raw columns.

    When DATA holds the label column the model was trained on, the accuracy is reported
    on stderr (and in --json), over the rows whose label is not missing.
    """
    import numpy as np
    import pandas as pd

    from autodistill.training.model_dir import load_model, read_rows

    if out is not None:
        _check_out(out)  # before any work, so a bad name costs nothing
    model = load_model(model_dir)
    frame, where = read_rows(data)
    probabilities = model.predict_proba(frame, strict=strict, where=where)
    classes = model.classes
    labels = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)] \
        if len(frame) else np.zeros(0, dtype=object)
    table = pd.DataFrame({"prediction": labels})
    if proba:
        for i, name in enumerate(classes):
            table[f"proba_{name}"] = probabilities[:, i]
    accuracy, unlabelled = _accuracy(frame, model.schema.target, labels, classes, where)
    if out is not None:
        _write(table, out)
    if as_json:
        doc = {"model": str(model_dir), "data": where, "rows": int(len(table)),
               "classes": list(classes), "accuracy": accuracy, "unlabelled_rows": unlabelled,
               "out": str(out) if out is not None else None}
        if out is None:
            doc["predictions"] = table.to_dict(orient="list")
        typer.echo(json.dumps(doc))
        return
    if out is None:
        typer.echo(table.to_csv(index=False), nl=False)
    message = f"scored {len(table)} rows of {where}"
    if accuracy is not None:
        message += f"; accuracy {accuracy:.4f} on column '{model.schema.target}'"
        if unlabelled:
            message += f" ({unlabelled} rows without a label left out)"
    if out is not None:
        message += f"; predictions in {out}"
    typer.echo(message, err=True)


def _check_out(out: Path) -> None:
    """Refuse an ``--out`` whose name says no format predictions are written in (every
    table format data is read from, but ``.npz`` and ``.arff``; a ``.json`` would otherwise
    have held CSV text), or an Excel file without openpyxl."""
    from autodistill.data.table_files import WRITTEN_SUFFIXES, file_suffix
    from autodistill.errors import AutodistillError

    suffix = file_suffix(out)
    if suffix not in WRITTEN_SUFFIXES:
        raise AutodistillError(f"--out {out}: cannot write predictions as '{suffix or out.name}'; "
                               "name a .csv or .tsv (maybe .gz, .bz2, .xz or .zip), .xlsx or "
                               ".parquet file")
    if suffix == ".xlsx":
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            raise AutodistillError(f"--out {out}: writing Excel needs openpyxl; pip install "
                                   "'autodistill-kd[excel]', or name a .csv file") from None


def _write(table, out: Path) -> None:
    """Write the predictions in the format ``out``'s name says (checked by :func:`_check_out`;
    pandas compresses a CSV or TSV by its extension)."""
    from autodistill.data.table_files import file_suffix

    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = file_suffix(out)
    if suffix == ".parquet":
        table.to_parquet(out, index=False)
    elif suffix == ".xlsx":
        table.to_excel(out, index=False)
    else:
        table.to_csv(out, index=False, sep="\t" if suffix == ".tsv" else ",")


def _accuracy(frame, target: str | None, labels, classes, where: str
              ) -> tuple[float | None, int | None]:
    """Accuracy against the label column, when the table has it (labels compared as text),
    over the rows that have a label; and how many rows have none (left out; ``None`` when
    the table has no label column, so there was nothing to leave out). A label the model
    never learned (a class training left out for its single row) counts as a miss, with one
    warning."""
    if target is None or target not in frame.columns:
        return None, None
    if not len(labels):
        return None, 0
    from autodistill.data.input_schema import category_strings

    labelled = frame[target].notna().to_numpy()
    if not labelled.any():
        return None, int(len(labels))
    truth = category_strings(frame[target][labelled])
    unknown = sorted(set(truth) - {str(c) for c in classes})
    if unknown:
        count = int(sum(t in unknown for t in truth))
        log.warning("%s: %d row%s of column '%s' %s a class the model never learned (%s); "
                    "counted as misses", where, count, "" if count == 1 else "s", target,
                    "has" if count == 1 else "have", ", ".join(repr(u) for u in unknown[:5]))
    return float((truth == labels[labelled].astype(str)).mean()), int((~labelled).sum())


def register(app: typer.Typer) -> None:
    """Add the ``predict`` command to ``app``."""
    app.command("predict", epilog=EPILOG)(predict_command)
