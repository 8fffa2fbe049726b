"""``autodistill meta``: the knowledge base and the recommender's evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from autodistill.cli.options import JsonOpt, MetricOpt, QuietOpt, StorageOpt
from autodistill.cli.progress_view import show_progress

meta_app = typer.Typer(
    name="meta",
    help="The recommender's knowledge base: build it, bench a component for it, evaluate the recommender on it.",
    no_args_is_help=True,
)


@meta_app.command(
    "build-kb",
    epilog="Example: autodistill meta build-kb --out studies --work kb-work --workers 2  |  "
           "only the no-teacher baselines: autodistill meta build-kb --part plain_tuned",
)
def build_kb_command(
    out: Annotated[Path, typer.Option(
        "--out", help="Where kb_tasks.jsonl, kb_trials.jsonl and kb_plain_tuned.jsonl go.")]
    = Path("studies"),
    work: Annotated[Path, typer.Option("--work", help="One SQLite file per task; keep it to resume.")]
    = Path("kb-work"),
    trials: Annotated[int, typer.Option("--trials", min=1, help="Trials per task, portfolio included.")]
    = 40,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Tasks run in parallel.")] = 2,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N tasks.")]
    = None,
    population: Annotated[int | None, typer.Option(
        "--population", help="Trials of a task trained at once (default: the portfolio's 24; "
        "1: one at a time).")] = None,
    plain_trials: Annotated[int, typer.Option(
        "--plain-trials", min=1, help="Trials of each task's plain_tuned study (no teacher).")] = 20,
    part: Annotated[str, typer.Option(
        "--part", help="What to run and export: all, kb (the distillation studies: "
                       "kb_tasks/kb_trials.jsonl) or plain_tuned (kb_plain_tuned.jsonl); "
                       "the other part's files are left as they are.")] = "all",
    suite: Annotated[int, typer.Option(
        "--suite", help="2: the shipped knowledge base (real tables, teachers auto and "
        "gbdt), staged in --stage unit by unit, resumable across sessions, then --promote; "
        "1: the previous one's 62 tasks, exported to --out.")] = 1,
    stage: Annotated[Path, typer.Option(
        "--stage", help="Suite 2: where finished units are staged (commit it).")]
    = Path("studies/kb-next"),
    budget_minutes: Annotated[float | None, typer.Option(
        "--budget-minutes", min=0, help="Suite 2: start no (data, student) group after this "
        "many minutes; running ones finish.")] = None,
    promote: Annotated[bool, typer.Option(
        "--promote", help="Suite 2: check every unit is staged and write the staged build "
        "to --out as the shipped knowledge base (runs nothing).")] = False,
    status: Annotated[bool, typer.Option(
        "--status", help="Suite 2: print what is staged and what is left (runs nothing).")]
    = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the knowledge base's studies (resumable) and export them as JSON lines.

    Every task of the fixed grid runs the shared portfolio (presets included), then TPE
    trials in the 'kb' space, unpruned; and its plain_tuned study: a student without a
    teacher, its training settings searched in the 'plain' space. Running it again
    resumes: finished tasks cost nothing and interrupted ones run only their owed trials.
    --suite 2 stages each finished unit in --stage (see studies/README.md).
    """
    from autodistill.errors import AutodistillError
    from autodistill.meta.kb_build import KB_POPULATION, PARTS, PORTFOLIO, build_knowledge_base

    if suite not in (1, 2):
        raise AutodistillError(f"--suite {suite}: use 2 (the shipped one) or 1 (the previous one)")
    if suite == 1 and (promote or status or budget_minutes is not None):
        raise AutodistillError("--promote, --status and --budget-minutes belong to --suite 2")
    if suite == 2:
        _staged_kb(stage, out, work, trials=trials, plain_trials=plain_trials, workers=workers,
                   limit=limit, population=population, budget_minutes=budget_minutes,
                   promote=promote, status=status, part=part, quiet=quiet, as_json=as_json)
        return
    if part not in ("all", *PARTS):
        raise AutodistillError(f"--part {part!r}: use all, {', '.join(PARTS)}")
    _refuse_to_replace_a_later_suite(out)
    parts = PARTS if part == "all" else (part,)
    if "kb" in parts and trials < len(PORTFOLIO):
        raise AutodistillError(f"--trials {trials}: use at least the portfolio's "
                               f"{len(PORTFOLIO)} pipelines")
    if population is not None and population < 1:
        raise AutodistillError(f"--population {population}: train at least one trial at a "
                               "time (1 trains them one by one)")

    with show_progress(quiet or as_json):
        summary = build_knowledge_base(out, work, trials=trials, workers=workers, limit=limit,
                                       population=population or KB_POPULATION,
                                       plain_trials=plain_trials, parts=parts)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(f"wrote {summary['tasks']} tasks, {summary['trials']} trials and "
                   f"{summary['plain_tuned']} plain_tuned studies to {out} "
                   f"in {summary['seconds']:.0f} s ({len(summary['failed'])} tasks failed)")


def _refuse_to_replace_a_later_suite(out: Path) -> None:
    """Suite 1 writes its files into ``out``; refuse when they would replace a suite-2
    knowledge base there (the shipped ``studies/`` is one), which a default run would do."""
    from autodistill.errors import AutodistillError
    from autodistill.meta.knowledge import shipped_space
    from autodistill.meta.task_suite import KB_SPACE

    tasks = out / "kb_tasks.jsonl"
    try:
        later = shipped_space(tasks.read_text()) != KB_SPACE  # suite 1's records name none
    except (OSError, ValueError):
        return
    if later:
        raise AutodistillError(
            f"--out {out}: {tasks} holds a suite-2 knowledge base (the shipped one), which "
            "suite 1 would replace; give suite 1 another --out, or build suite 2 with "
            "--suite 2")


def _staged_kb(stage: Path, out: Path, work: Path, *, trials: int, plain_trials: int,
               workers: int, limit: int | None, population: int | None,
               budget_minutes: float | None, promote: bool, status: bool, part: str,
               quiet: bool, as_json: bool) -> None:
    """``build-kb --suite 2``: a bounded session of the staged build, its status, or its
    promotion to the shipped files."""
    from autodistill.errors import AutodistillError
    from autodistill.meta.kb_build import KB_POPULATION, PORTFOLIO
    from autodistill.meta.kb_stage import promote_staged, stage_status
    from autodistill.meta.kb_staged_build import BuildPlan, build_staged

    if part != "all":
        raise AutodistillError("--part belongs to --suite 1: suite 2 runs each group's "
                               "plain_tuned study first, then its teachers")
    if population is not None and population < 1:
        raise AutodistillError(f"--population {population}: train at least one trial at a "
                               "time (1 trains them one by one)")
    if trials < len(PORTFOLIO):
        raise AutodistillError(f"--trials {trials}: use at least the portfolio's "
                               f"{len(PORTFOLIO)} pipelines")
    if promote:
        summary = promote_staged(stage, out)
        text = (f"promoted {summary['tasks']} tasks ({summary['real_tables']} real and "
                f"{summary['synthetic_tables']} synthetic tables), {summary['trials']} trials, "
                f"{summary['plain_tuned']} plain_tuned studies to {out}; "
                f"{summary['skipped']} units skipped (see kb_skipped.jsonl)")
    elif status:
        summary = stage_status(stage)
        text = (f"{stage}: tasks {summary['tasks']}, plain_tuned {summary['plain_tuned']}; "
                f"{summary['real_tables']} real and {summary['synthetic_tables']} synthetic "
                f"tables have a finished task")
    else:
        plan = BuildPlan(trials=trials, plain_trials=plain_trials,
                         population=population or KB_POPULATION)
        with show_progress(quiet or as_json):
            summary = build_staged(stage, work, plan=plan, workers=workers, limit=limit,
                                   budget_minutes=budget_minutes)
        text = (f"staged {summary['done']} units and skipped {summary['skipped']} in {stage} "
                f"in {summary['seconds']:.0f} s ({len(summary['failed'])} failed); "
                f"{summary['groups_left']} groups left")
    typer.echo(json.dumps(summary, indent=2) if as_json else text)


@meta_app.command(
    "evaluate",
    epilog="Example: autodistill meta evaluate --json",
)
def evaluate_command(storage: StorageOpt = None, metric: MetricOpt = "accuracy",
                     staged: Annotated[Path | None, typer.Option(
                         "--staged", help="Evaluate what a `build-kb --suite 2` has staged in "
                         "this folder so far (e.g. studies/kb-next) instead of the shipped "
                         "knowledge base; a preview, nothing is promoted.",
                         show_default=False)] = None,
                     quiet: QuietOpt = False, as_json: JsonOpt = False) -> None:
    """Leave-one-dataset-out evaluation of the recommender against its baselines.

    For each knowledge-base task, the meta-model is fitted on the other datasets' tasks
    and picks one pipeline of the shared portfolio as recommend does; so do the baselines
    plain, hinton, the single pipeline best on average, and the best pipeline of the
    nearest task in meta-feature space; plain_tuned is the task's own search of a student
    without a teacher. Reported: win rate of each against each other, mean regret to the
    task's study best (selected on validation, measured on test), mean gains over plain
    and plain_tuned, and what the best distillation trial gains over plain_tuned.
    With --metric, picks and figures follow that metric (the knowledge base must hold it).
    """
    from autodistill.errors import AutodistillError
    from autodistill.meta.evaluation import evaluate_recommender

    if staged is not None and not staged.is_dir():
        what = "a file, not a folder" if staged.exists() else "no such folder"
        raise AutodistillError(f"--staged {staged}: {what}; pass the --stage folder of "
                               "`autodistill meta build-kb --suite 2` (default studies/kb-next)")
    with show_progress(quiet or as_json):
        report = evaluate_recommender(storage=storage, metric=metric, staged=staged)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        render_evaluation(report)


@meta_app.command(
    "bench-component",
    epilog="Example: autodistill meta bench-component cosine_logits --out evidence.jsonl",
)
def bench_component_command(
    name: Annotated[str, typer.Argument(help="The component to bench (see `autodistill plugins`).",
                                        show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="The evidence file (JSON lines) to write.")]
    = Path("evidence.jsonl"),
    work: Annotated[Path, typer.Option("--work", help="One SQLite file per task; keep it to resume.")]
    = Path("bench-work"),
    tasks: Annotated[int, typer.Option("--tasks", min=1, max=8,
                                       help="How many of the bench tasks to run.")] = 6,
    trials: Annotated[int, typer.Option("--trials", min=1, help="Trials per task.")] = 8,
    as_json: JsonOpt = False,
) -> None:
    """Bench one component on the knowledge base's tasks and write its evidence.

    Ship the file with your plugin and register it with the register_evidence hook: once
    installed, the component is one of the recommender's candidates, with this evidence.
    """
    from autodistill.meta.component_bench import bench_component

    def progress(key: str, seconds: float) -> None:
        if not as_json:
            typer.echo(f"{seconds:7.1f}s  {key}", err=True)

    summary = bench_component(name, out, work, tasks=tasks, trials=trials, progress=progress)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(f"wrote {summary['trials']} trials of {summary['family']} '{name}' on "
                   f"{summary['tasks']} tasks to {out} in {summary['seconds']:.0f} s")


def render_evaluation(report: dict[str, Any]) -> None:
    """Print the report as two rich tables: summary, then pairwise win rates."""
    from rich.console import Console

    from autodistill.cli.tables import Table
    from autodistill.meta.teacher_margin import describe_hinton_by_margin
    from autodistill.meta.verdict_level import describe_verdict_check

    console = Console()
    held_out = "real-table " if report.get("held_out") == "real tables" else ""
    summary = Table(title=f"Leave-one-dataset-out over {report['tasks']} {held_out}"
                          f"knowledge-base tasks (up to {report['portfolio_size']} portfolio "
                          "pipelines each)")
    metric = report.get("metric", "accuracy")
    for column in ("method", "mean regret to study best", "mean gain over plain",
                   "mean gain over plain_tuned", "median gain over plain_tuned",
                   f"mean test {metric.replace('_', ' ')}"):
        summary.add_column(column, justify="left" if column == "method" else "right")
    for method, row in report["methods"].items():
        tuned, median = row.get("mean_gain_over_plain_tuned"), row.get("median_gain_over_plain_tuned")
        summary.add_row(method, f"{row['mean_regret']:.4f}", f"{row['mean_gain_over_plain']:+.4f}",
                        "-" if tuned is None else f"{tuned:+.4f}",
                        "-" if median is None else f"{median:+.4f}",
                        f"{row['mean_test_score']:.4f}")
    console.print(summary)
    levels = report.get("verdict_levels") or {}
    console.print(f"The recommender predicts that distillation helps on "
                  f"{report['distillation_helps']:.0%} of the held-out tasks"
                  + ("" if not levels else "; verdict level chosen out of bag (percentile: "
                     "tasks): " + ", ".join(f"{k}: {v}" for k, v in levels.items()))
                  + ".")
    line = describe_verdict_check(report.get("verdict_check", {}))
    if line:
        console.print(line)
    at_least = report["methods"]["recommender"].get("at_least_as_good", {})
    if at_least:
        console.print("The recommender's top-1 is at least as good as " + ", ".join(
            f"{other} on {share:.1%}" for other, share in at_least.items()) + " of the tasks.")
    for teacher, methods in report.get("by_teacher", {}).items():
        mine, tuned = methods["recommender"], methods.get("plain_tuned")
        console.print(
            f"Teacher {teacher}: recommender mean test {metric.replace('_', ' ')} "
            f"{mine['mean_test_score']:.4f}"
            + ("" if tuned is None else
               f", plain_tuned {tuned['mean_test_score']:.4f}, win rate against it "
               f"{mine['win_rate']['plain_tuned']:.2f}"))
    if "staged" in report:
        console.print(f"Staged build in {report['storage']}: {report['staged']['tasks_done']} "
                      f"of {report['staged']['tasks_total']} tasks done (a preview).")
    margin_line = describe_hinton_by_margin(report.get("hinton_by_teacher_margin", {}))
    if margin_line:
        console.print(margin_line)
    for teacher, lead in report.get("teacher_vs_plain_tuned", {}).items():
        console.print(f"Teacher {teacher} against plain_tuned on validation: ahead on "
                      f"{lead['ahead_on_valid']} of {lead['tasks']} tasks, by 2 points or more "
                      f"on {lead['ahead_by_0.02_on_valid']}; mean lead {lead['mean_valid_lead']:+.4f} "
                      f"(test {lead['mean_test_lead']:+.4f})")
    versus = report.get("distillation_vs_plain_tuned")
    if versus:
        for heading, parts in (
                ("Best distillation trial vs plain_tuned on test", versus),
                ("The same with as many distillation trials as plain_tuned ran (expected best)",
                 versus.get("equal_budget", {}))):
            for label, part in parts.items():
                if (label == "all" or label.startswith("teacher_")) and part["tasks"]:
                    console.print(
                        f"{heading}, {'all tasks' if label == 'all' else label.replace('_', ' ')}"
                        f": ahead on {part['gain']} of {part['tasks']}, behind on {part['loss']}, "
                        f"mean {part['mean_test_gain']:+.4f}, "
                        f"median {part['median_test_gain']:+.4f}")
    wins = Table(title="Win rate of the row against the column (ties count half)")
    wins.add_column("")
    for method in report["methods"]:
        wins.add_column(method, justify="right")
    for method, row in report["methods"].items():
        wins.add_row(method, *("-" if other == method else f"{row['win_rate'][other]:.2f}"
                               for other in report["methods"]))
    console.print(wins)


def register(app: typer.Typer) -> None:
    """Mount ``meta`` on the application."""
    app.add_typer(meta_app)
