"""``autodistill search``: an Optuna study over the distillation pipelines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from autodistill.cli.options import (
    DataArg,
    JsonOpt,
    MetricOpt,
    QuietOpt,
    SeedOpt,
    SplitSeedOpt,
    StorageOpt,
    StudentOpt,
    TargetOpt,
    TeacherInputOpt,
    TeacherOpt,
    TrustTypeOpt,
)
from autodistill.cli.progress_view import show_progress
from autodistill.training.teacher_specs import teacher_spec

EPILOG = (
    "Example: autodistill search builtin:wine --space fast --trials 20  |  "
    "autodistill search data.csv --target label --workers 2 --storage "
    "postgresql://user@db/studies --study churn  (run the same command on other machines "
    "to add workers; run it again to resume)"
)


def search_command(
    data: DataArg,
    target: TargetOpt = None,
    teacher: TeacherOpt = "auto",
    teacher_input: TeacherInputOpt = None,
    trust_type: TrustTypeOpt = None,
    student: StudentOpt = "mlp:16",
    space: Annotated[
        str, typer.Option("--space", help="Search space: a shipped name (default, fast, kb2: the "
                          "knowledge base's, kb: the previous knowledge base's, or plain: a "
                          "student without a teacher, training settings only, the study named "
                          "<study>-plain_tuned) or a YAML file.")
    ] = "default",
    trials: Annotated[
        int, typer.Option("--trials", min=1, help="Trials the study should hold in total.")
    ] = 50,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Start no new trial after SEC seconds.")
    ] = None,
    storage: StorageOpt = None,
    study: Annotated[
        str | None, typer.Option("--study", help="Study name (default: <data>-<student>, e.g. wine-mlp16).")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes on this machine.")
    ] = 1,
    population: Annotated[
        int | None, typer.Option(
            "--population", help="Trials each worker trains at once, in one batched pass "
            "(default 8 on the CPU, 32 with CUDA; 1: one at a time).")
    ] = None,
    warm_start: Annotated[
        int, typer.Option("--warm-start", min=0, help="Enqueue the recommender's top K pipelines first.")
    ] = 0,
    seed: SeedOpt = 0,
    split_seed: SplitSeedOpt = 0,
    metric: MetricOpt = "accuracy",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Retrain the best trial's pipeline (same seed) and write its "
                                   "deployable model here, as 'distill --out' does."),
    ] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Search the distillation pipeline that gives the student the best validation score.

    The presets plain and hinton run first; every trial (pipeline, validation score, test
    accuracy) is stored in the database, which optuna-dashboard can open too.
    """
    teacher = teacher_spec(teacher, teacher_input, trust_type)
    from autodistill.meta.advisor import KnowledgeAdvisor
    from autodistill.study.run import run_search

    _check_out_first(out)
    with show_progress(quiet or as_json):
        summary = run_search(
            data, target=target, teacher=teacher, student=student, space=space, trials=trials,
            timeout=timeout, storage=storage, study=study, workers=workers,
            population=population, warm_start=warm_start, advisor=KnowledgeAdvisor(), seed=seed,
            split_seed=split_seed, progress=_TrialCounter(), quiet=True, metric=metric,
        )
    if out is not None and summary["best"] is not None and not summary["interrupted"]:
        summary["export"] = _export_or_say(summary, data, target=target, teacher=teacher,
                                           student=student, seed=seed, split_seed=split_seed,
                                           out=out, metric=metric)
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        _render(summary)
        if summary.get("export"):
            typer.echo(f"best trial {summary['best']['number']} retrained and written to {out}/ "
                       f"(test accuracy {summary['export']['test_accuracy']:.4f}); score new "
                       f"rows with: autodistill predict {out} DATA")
    if summary["interrupted"]:
        typer.echo(f"Interrupted: {summary['trials']['counted']} of "
                   f"{summary['trials']['requested']} trials are stored in study "
                   f"'{summary['study']}'; run the same command again to resume.", err=True)
        sys.exit(130)  # not typer.Exit: main would add its own "Interrupted."


def _export_or_say(summary: dict[str, Any], data: str, **kwargs: Any) -> dict[str, Any]:
    """:func:`export_best`; Ctrl-C during it says the study is stored, the model not."""
    try:
        return export_best(summary, data, **kwargs)
    except KeyboardInterrupt:
        typer.echo(f"Interrupted while retraining the best trial for --out: study "
                   f"'{summary['study']}' is stored; run the same command again to write "
                   f"{kwargs['out']}.", err=True)
        sys.exit(130)


def _check_out_first(out: Path | None) -> None:
    """Refuse an --out no model can be written to before the search, not after it."""
    if out is not None:
        from autodistill.training.model_dir import check_out_dir

        check_out_dir(out, warn=False)


def export_best(summary: dict[str, Any], data: str, *, target: str | None, teacher: str,
                student: str, seed: int, split_seed: int, out: Path,
                metric: str = "accuracy") -> dict[str, Any]:
    """Retrain the best trial's pipeline with the search's seed and write its model directory;
    return ``{"out", "trial", "test_accuracy", "test_score"}`` (``metric`` on test)."""
    from autodistill.training.distillation import distill
    from autodistill.training.pipeline import Pipeline

    best = summary["best"]
    pipeline = Pipeline.from_dict(best["pipeline"], source=f"trial {best['number']}")
    report = distill(data, pipeline, target=target, teacher=teacher, student=student,
                     seed=seed, split_seed=split_seed, out=out, metric=metric)
    return {"out": str(out), "trial": best["number"],
            "test_accuracy": report["student"]["accuracy"],
            "test_score": report["student"]["score"]}


class _TrialCounter:
    """``run_search``'s progress hook -> one progress report per finished trial; its first
    call (before any trial runs) gives the trials a resumed study held, reported by none."""

    def __init__(self) -> None:
        self.done: int | None = None

    def __call__(self, done: int, total: int, best: float | None) -> None:
        from autodistill.progress import report

        if self.done is None:
            self.done = done
            return
        while self.done < done:
            self.done += 1
            report("search", self.done, total, "trial", best=best)


def _render(summary: dict[str, Any]) -> None:
    from rich.console import Console

    from autodistill.cli.tables import Table

    console = Console()
    counts = summary["trials"]
    table = Table(title=f"study {summary['study']} ({summary['storage']})", show_header=False)
    table.add_column("")
    table.add_column("")
    table.add_row("dataset / student", f"{summary['dataset']} / {summary['student']}")
    table.add_row("teacher test accuracy", _fmt(summary["teacher"]["accuracy"]))
    metric = summary.get("metric") or "accuracy"
    states = ", ".join(f"{counts[k]} {k}" for k in ("complete", "pruned", "fail", "running", "waiting")
                       if counts.get(k))
    done_before = (" (the study already held --trials; raise it to run more)"
                   if summary["ran"] == 0 and counts["counted"] >= (counts["requested"] or 0)
                   else "")
    table.add_row("trials", f"{counts['counted']} of {counts['requested']} ({states}); "
                            f"{summary['ran']} run now{done_before}")
    best = summary["best"]
    if best is not None:
        table.add_row("best trial", str(best["number"]))
        table.add_row(f"validation {metric}", _fmt(best["valid_score"]))
        if metric != "accuracy":
            table.add_row(f"test {metric}", _fmt(best.get("test_score")))
        table.add_row("test accuracy", _fmt(best["test_accuracy"]))
    console.print(table)
    if best is not None:
        console.print("best pipeline:")
        console.print_json(json.dumps(best["pipeline"]))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    """Add the ``search`` command to ``app``."""
    app.command("search", epilog=EPILOG)(search_command)
