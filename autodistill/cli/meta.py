"""``autodistill meta``: the knowledge base and the recommender's evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from autodistill.cli.options import JsonOpt, QuietOpt, StorageOpt
from autodistill.cli.progress_view import show_progress

meta_app = typer.Typer(
    name="meta",
    help="The recommender's knowledge base: build it, evaluate the recommender on it.",
    no_args_is_help=True,
)


@meta_app.command(
    "build-kb",
    epilog="Example: autodistill meta build-kb --out studies --work kb-work --workers 2",
)
def build_kb_command(
    out: Annotated[Path, typer.Option("--out", help="Where kb_tasks.jsonl and kb_trials.jsonl go.")]
    = Path("studies"),
    work: Annotated[Path, typer.Option("--work", help="One SQLite file per task; keep it to resume.")]
    = Path("kb-work"),
    trials: Annotated[int, typer.Option("--trials", min=1, help="Trials per task, portfolio included.")]
    = 40,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Tasks run in parallel.")] = 2,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N tasks.")]
    = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the knowledge base's studies (resumable) and export them as JSON lines.

    Every task of the fixed grid runs the shared portfolio (presets included), then TPE
    trials in the 'kb' space, unpruned. Running it again resumes: finished tasks cost
    nothing and interrupted ones run only their owed trials.
    """
    from autodistill.errors import AutodistillError
    from autodistill.kb_build import PORTFOLIO, build_knowledge_base

    if trials < len(PORTFOLIO):
        raise AutodistillError(f"--trials {trials}: use at least the portfolio's "
                               f"{len(PORTFOLIO)} pipelines")

    with show_progress(quiet or as_json):
        summary = build_knowledge_base(out, work, trials=trials, workers=workers, limit=limit)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(f"wrote {summary['tasks']} tasks and {summary['trials']} trials to {out} "
                   f"in {summary['seconds']:.0f} s ({len(summary['failed'])} tasks failed)")


@meta_app.command(
    "evaluate",
    epilog="Example: autodistill meta evaluate --json",
)
def evaluate_command(storage: StorageOpt = None, quiet: QuietOpt = False,
                     as_json: JsonOpt = False) -> None:
    """Leave-one-dataset-out evaluation of the recommender against its baselines.

    For each knowledge-base task, the meta-model is fitted on the other tasks and picks
    one pipeline of the shared portfolio; so do the baselines plain, hinton, the single
    pipeline best on average, and the best pipeline of the nearest task in meta-feature
    space. Reported: win rate of each against each other, mean regret to the task's
    study best (selected on validation, measured on test) and mean gain over plain.
    """
    from autodistill.evaluation import evaluate_recommender, render_evaluation

    with show_progress(quiet or as_json):
        report = evaluate_recommender(storage=storage)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        render_evaluation(report)


def register(app: typer.Typer) -> None:
    """Mount ``meta`` on the application."""
    app.add_typer(meta_app)
