"""Shared ``Annotated`` option aliases, so every command spells an option the same way."""

from __future__ import annotations

from typing import Annotated

import typer

DataArg = Annotated[
    str,
    typer.Argument(
        help="Data spec: builtin:NAME, synthetic:FAMILY?k=v&..., or a .csv/.parquet/.npz path.",
        show_default=False,
    ),
]
TargetOpt = Annotated[
    str | None, typer.Option("--target", help="Label column of a CSV/Parquet file.")
]
TeacherOpt = Annotated[
    str, typer.Option("--teacher", help="'auto' (a wide MLP averaged with gbdt, cached), "
                      "'auto:mlp' (the MLP alone), 'gbdt' (histogram gradient boosting, logits "
                      "only), 'auto+mcmi[:LAMBDA]' or 'auto:mlp+mcmi[:LAMBDA]' (the MLP trained "
                      "as an MCMI teacher, cached apart) or a TorchScript .pt file.")
]
StudentOpt = Annotated[
    str, typer.Option("--student", help="Student architecture, e.g. mlp:16 or mlp:64,32.")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of student training.")]
SplitSeedOpt = Annotated[
    int, typer.Option("--split-seed", help="Seed of the stratified 64/16/20 split.")
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Database URL (overrides AUTODISTILL_STORAGE; default: SQLite in the user data dir).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
