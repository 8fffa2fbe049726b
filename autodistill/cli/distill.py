"""``autodistill distill``: train one student with one pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from autodistill.cli.options import (
    DataArg,
    JsonOpt,
    MetricOpt,
    QuietOpt,
    SeedOpt,
    SplitSeedOpt,
    StudentOpt,
    TargetOpt,
    TeacherInputOpt,
    TeacherOpt,
    TrustTypeOpt,
)
from autodistill.cli.progress_view import show_progress
from autodistill.cli.tables import Table
from autodistill.training.teacher_specs import teacher_spec

EPILOG = (
    "Example: autodistill distill builtin:digits --pipeline hinton --out student/  |  "
    "autodistill distill data.csv --target label --pipeline rec.json --student mlp:32"
)


def distill_command(
    data: DataArg,
    pipeline: Annotated[
        str,
        typer.Option("--pipeline", "-p", help="Preset (plain, hinton), a JSON object or a JSON file."),
    ],
    target: TargetOpt = None,
    teacher: TeacherOpt = "auto",
    teacher_input: TeacherInputOpt = None,
    trust_type: TrustTypeOpt = None,
    student: StudentOpt = "mlp:16",
    seed: SeedOpt = 0,
    split_seed: SplitSeedOpt = 0,
    metric: MetricOpt = "accuracy",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the deployable model here: model.onnx (raw columns to "
                     "class probabilities), model.json, student.pt, pipeline.json, metrics.json; "
                     "score new rows with 'autodistill predict DIR DATA'."),
    ] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train a student on DATA with one distillation pipeline and report test accuracy."""
    teacher = teacher_spec(teacher, teacher_input, trust_type)
    from autodistill.training.distillation import distill
    from autodistill.training.pipeline import load_pipeline

    with show_progress(quiet or as_json):
        report = distill(
            data, load_pipeline(pipeline), target=target, teacher=teacher, student=student,
            seed=seed, split_seed=split_seed, out=out, metric=metric,
        )
    if as_json:
        typer.echo(json.dumps(report))
        return
    console = Console()
    table = Table(title=f"{report['dataset']}: distilled with {pipeline}")
    chosen = report["metric"]
    shown = [] if chosen == "accuracy" else [f"test {chosen}"]
    for column in ("model", *shown, "test accuracy", "macro F1", "params", "seconds"):
        table.add_column(column)
    t, s = report["teacher"], report["student"]
    t_test = t["metrics"]["test"]
    if t_test is not None:  # with --teacher none, no teacher ran
        table.add_row(f"teacher ({t['spec']})", *[f"{t['score']:.4f}" for _ in shown],
                      f"{t['accuracy']:.4f}", f"{t_test['macro_f1']:.4f}", str(t["params"]),
                      f"{report['seconds']['teacher']:.1f}")
    table.add_row(f"student ({s['spec']})", *[f"{s['score']:.4f}" for _ in shown],
                  f"{s['accuracy']:.4f}", f"{s['macro_f1']:.4f}", str(s["params"]),
                  f"{report['seconds']['student']:.1f}")
    console.print(table)
    if s["teacher_agreement"] is not None:
        console.print(f"teacher agreement on test: {s['teacher_agreement']:.4f}")
    if out is not None:
        console.print(f"model written to {out}/ (score new rows: autodistill predict {out} DATA)")


def register(app: typer.Typer) -> None:
    """Add the ``distill`` command to ``app``."""
    app.command("distill", epilog=EPILOG)(distill_command)
