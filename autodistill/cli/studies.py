"""``autodistill studies``: list, show, compare, export, plot and delete past studies.

Each command calls :mod:`autodistill.meta.past_studies` and renders the result with rich, or
prints it as JSON with ``--json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from autodistill.cli.options import JsonOpt, MetricOpt, StorageOpt
from autodistill.cli.tables import Table
from autodistill.errors import AutodistillError
from autodistill.families import FAMILIES

studies_app = typer.Typer(
    help="List, show, compare, export, plot and delete past studies; see what each component is worth.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Study name (see `autodistill studies list`).",
                                        show_default=False)]
FAMILY_COLUMNS = tuple(FAMILIES)


def _echo_json(doc: Any) -> None:
    typer.echo(json.dumps(doc, default=str))


def _fmt(value: Any, spec: str = ".4f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = format(value, spec)
        return format(0.0, spec) if float(text) == 0 else text  # no "-0.0000"
    return str(value)


def _trial_counts(counts: dict[str, int]) -> str:
    labels = {"COMPLETE": "done", "PRUNED": "pruned", "FAIL": "failed",
              "RUNNING": "running", "WAITING": "waiting"}
    parts = [f"{n} {labels.get(state, state.lower())}" for state, n in counts.items() if n]
    return ", ".join(parts) or "0"


def _component(spec: dict[str, Any] | None) -> str:
    if not spec:
        return "-"
    params = ", ".join(f"{k}={_fmt(v, '.4g')}" for k, v in (spec.get("params") or {}).items())
    return f"{spec.get('name')}({params})" if params else str(spec.get("name"))


def _training(pipeline: dict[str, Any] | None) -> str:
    training = (pipeline or {}).get("training") or {}
    return ", ".join(f"{k}={_fmt(v, '.4g')}" for k, v in training.items()) or "-"


@studies_app.command("list", epilog="Example: autodistill studies list --storage postgresql://me@db/studies")
def list_command(storage: StorageOpt = None, as_json: JsonOpt = False) -> None:
    """List every study in the database: dataset, trials by state, best score, times."""
    from autodistill.meta.past_studies import list_studies

    rows = list_studies(storage)
    if as_json:
        _echo_json(rows)
        return
    table = Table(title="Studies", title_justify="left")
    for column in ("study", "dataset", "student", "metric", "trials", "best valid", "its test",
                   "started", "finished"):
        table.add_column(column, justify="right" if column.startswith(("best", "its")) else "left")
    for row in rows:
        best = row["best"] or {}
        table.add_row(row["name"], row["dataset"] or "-", row["student"] or "-",
                      row["metric"] or "-", _trial_counts(row["trials"]),
                      _fmt(best.get("valid_score")),
                      _fmt(best.get("test_score")), row["started"] or "-",
                      row["finished"] or "-")
    console = Console()
    console.print(table if rows else "No study yet: run `autodistill search DATA` first.")


@studies_app.command("show", epilog="Example: autodistill studies show wine-mlp16 --top 10")
def show_command(
    name: NameArg,
    top: Annotated[int, typer.Option("--top", min=0, help="How many of the best trials to list.")] = 5,
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a study: its best pipeline, its top trials and the parameter importances."""
    from autodistill.meta.past_studies import show_study

    doc = show_study(name, storage, top=top)
    if as_json:
        _echo_json(doc)
        return
    console = Console()
    console.print(f"[bold]Study {doc['name']}[/bold]  dataset {doc['dataset'] or '-'}  "
                  f"student {doc['student'] or '-'}  teacher {doc['teacher'] or '-'} "
                  f"(accuracy {_fmt(doc['teacher_accuracy'])})  space {doc['space'] or '-'}  "
                  f"metric {doc.get('metric') or '-'}")
    console.print(f"Trials: {_trial_counts(doc['trials'])}  started {doc['started'] or '-'}  "
                  f"finished {doc['finished'] or '-'}")
    best = doc["best"]
    if best is None:
        console.print("No completed trial yet.")
        return
    accuracy = ("" if doc.get("metric") in (None, "accuracy")
                else f"  ({doc['metric']}; test accuracy {_fmt(best['test_accuracy'])})")
    console.print(f"Best: trial {best['number']}  validation {_fmt(best['valid_score'])}  "
                  f"test {_fmt(best['test_score'])}{accuracy}")
    console.print(_no_teacher_lines(doc), highlight=False)
    if best["pipeline"]:
        console.print_json(json.dumps(best["pipeline"]))
    table = Table(title=f"Top {len(doc['top_trials'])} trials", title_justify="left")
    for column in ("#", "valid", "test", "vs plain_tuned", *FAMILY_COLUMNS, "seconds"):
        table.add_column(column)
    for trial in doc["top_trials"]:
        pipeline = trial["pipeline"] or {}
        table.add_row(str(trial["number"]), _fmt(trial["valid_score"]),
                      _fmt(trial["test_score"]), _fmt(trial["gain_over_plain_tuned"], "+.4f"),
                      *(_component(pipeline.get(f)) for f in FAMILY_COLUMNS),
                      _fmt(trial["seconds"], ".1f"))
    console.print(table)
    if doc["importances"]:
        imp = Table(title="Parameter importances", title_justify="left")
        imp.add_column("param")
        imp.add_column("importance", justify="right")
        for param, share in doc["importances"].items():
            imp.add_row(param, f"{share:.3f}")
        console.print(imp)
    if doc["importances_note"]:
        console.print(f"Parameter importances: {doc['importances_note']}")


def _no_teacher_lines(doc: dict[str, Any]) -> str:
    """What the best trial gains over its no-teacher twin and over plain_tuned."""
    best, tuned = doc["best"], doc["plain_tuned"]
    twin = best.get("no_teacher_twin")
    lines = [
        f"  over its no-teacher twin (same training settings, no teacher): "
        f"{_fmt(best['gain_over_twin'], '+.4f')} (twin: validation {_fmt(twin['valid_score'])}, "
        f"test {_fmt(twin['test_score'])})" if twin else
        "  no no-teacher twin: the best trial uses no teacher, or the study predates twins",
        f"  over plain_tuned ({tuned['study']}, a tuned student without a teacher): "
        f"{_fmt(best['gain_over_plain_tuned'], '+.4f')} (plain_tuned: validation "
        f"{_fmt(tuned['valid_score'])}, test {_fmt(tuned['test_score'])}"
        f"{_tuned_for(tuned, doc)})" if tuned else
        f"  no plain_tuned study: run `autodistill search DATA --space plain --study "
        f"{doc['name']}{_metric_option(doc)}` to measure the gain over a tuned student "
        f"without a teacher",
    ]
    return "\n".join(lines)


def _metric_option(doc: dict[str, Any]) -> str:
    metric = doc.get("metric") or "accuracy"
    return "" if metric == "accuracy" else f" --metric {metric}"


def _tuned_for(tuned: dict[str, Any], doc: dict[str, Any]) -> str:
    """A note when the plain_tuned study was tuned for another metric than this study's."""
    theirs, mine = tuned.get("metric") or "accuracy", doc.get("metric") or "accuracy"
    return "" if theirs == mine else f"; tuned for {theirs}, not {mine}"


@studies_app.command("compare", epilog="Example: autodistill studies compare wine-mlp16 iris-mlp16")
def compare_command(
    names: Annotated[list[str], typer.Argument(help="Two or more study names.", show_default=False)],
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare studies side by side: best pipelines, their scores and what they gain over a
    student without a teacher (their no-teacher twin, and plain_tuned when it was run)."""
    from autodistill.meta.past_studies import compare_studies

    docs = compare_studies(names, storage)
    if as_json:
        _echo_json(docs)
        return
    table = Table(title="Best pipelines", title_justify="left")
    table.add_column("")
    for doc in docs:
        table.add_column(doc["name"])

    def best(key: str, spec: str = ".4f") -> list[str]:
        return [_fmt((d["best"] or {}).get(key), spec) for d in docs]

    rows: list[tuple[str, list[str]]] = [
        ("dataset", [d["dataset"] or "-" for d in docs]),
        ("student", [d["student"] or "-" for d in docs]),
        ("metric", [d.get("metric") or "-" for d in docs]),
        ("teacher accuracy", [_fmt(d["teacher_accuracy"]) for d in docs]),
        ("trials", [_trial_counts(d["trials"]) for d in docs]),
        ("best trial", best("number")),
        ("best validation", best("valid_score")),
        ("best test", best("test_score")),
        ("no-teacher twin validation",
         [_fmt(((d["best"] or {}).get("no_teacher_twin") or {}).get("valid_score"))
          for d in docs]),
        ("gain over the twin", best("gain_over_twin", "+.4f")),
        ("plain_tuned validation", [_fmt((d["plain_tuned"] or {}).get("valid_score")) for d in docs]),
        ("plain_tuned test", [_fmt((d["plain_tuned"] or {}).get("test_score")) for d in docs]),
        ("gain over plain_tuned", best("gain_over_plain_tuned", "+.4f")),
    ]
    for family in FAMILY_COLUMNS:
        rows.append((family, [_component(((d["best"] or {}).get("pipeline") or {}).get(family))
                              for d in docs]))
    rows.append(("training", [_training((d["best"] or {}).get("pipeline")) for d in docs]))
    for label, cells in rows:
        table.add_row(label, *cells)
    Console().print(table)


#: Names whose extension promises a format: an export refuses one that is not its own.
_TABLE_SUFFIXES = ("csv", "json", "tsv", "parquet", "xlsx", "arff", "npz", "jsonl")


@studies_app.command(
    "export",
    epilog="Example: autodistill studies export wine-mlp16 --format csv -o wine.csv  |  "
           "autodistill studies export wine-mlp16 --format json > wine.json",
)
def export_command(
    name: NameArg,
    fmt: Annotated[str | None, typer.Option(
        "--format", help="csv or json (default: json for an -o named .json, else csv).",
        show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write (default: stdout).")] = None,
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export one row per trial, one column per component parameter, to CSV or JSON.

    Without -o the rows go to stdout; --json alone prints them as a JSON list. With -o,
    --json prints {"path", "format", "n_trials"} instead of a sentence.
    """
    from autodistill.meta.past_studies import export_trials, to_csv

    named = output.suffix.lower().lstrip(".") if output is not None else ""
    if fmt is None:  # what the file's name says, else CSV
        fmt = "json" if named == "json" else "csv"
    fmt = fmt.lower()
    if fmt not in ("csv", "json"):
        raise AutodistillError(f"--format {fmt}: unknown export format; use csv or json")
    if named in _TABLE_SUFFIXES and named != fmt:  # a .parquet of CSV text helps no one
        raise AutodistillError(f"-o {output}: its name says '.{named}' but the export is "
                               f"{fmt}; name it .{fmt}, or pass --format to match")
    if as_json and output is None:
        fmt = "json"
    rows = export_trials(name, storage)
    text = json.dumps(rows, default=str) + "\n" if fmt == "json" else to_csv(rows)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise AutodistillError(f"-o {output}: cannot write ({exc.strerror or exc})") from None
    if as_json:
        _echo_json({"path": str(output), "format": fmt, "n_trials": len(rows)})
    else:
        typer.echo(f"Wrote {len(rows)} trials of study {name} to {output} ({fmt}).")


@studies_app.command(
    "plot",
    epilog="Example: autodistill studies plot wine-mlp16 -o wine.png  |  "
           "autodistill studies plot wine-mlp16 -o wine.html",
)
def plot_command(
    name: NameArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="A .png (matplotlib) or .html (plotly) file.",
                                         show_default=False)],
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plot the optimisation history and the parameter importances of a study."""
    from autodistill.meta.past_studies import plot_study

    doc = plot_study(name, str(output), storage)
    if as_json:
        _echo_json(doc)
    else:
        typer.echo(f"Wrote {doc['path']} ({doc['bytes']} bytes).")


@studies_app.command("delete", epilog="Example: autodistill studies delete old-study --yes")
def delete_command(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a study and all its trials (asks first unless --yes)."""
    from autodistill.meta.past_studies import delete_study, study_summary

    summary = study_summary(name, storage)
    if not yes:
        if not sys.stdin or not sys.stdin.isatty():
            raise AutodistillError(
                f"not deleting study '{name}' without confirmation (stdin is not a terminal); "
                "pass --yes")
        typer.confirm(f"Delete study '{name}' and its {summary['n_trials']} trials?", abort=True)
    doc = delete_study(name, storage)
    if as_json:
        _echo_json(doc)
    else:
        typer.echo(f"Deleted study {name} ({doc['n_trials']} trials) from {doc['storage']}.")


@studies_app.command("components", epilog="Example: autodistill studies components --json")
def components_command(storage: StorageOpt = None, metric: MetricOpt = "accuracy",
                       as_json: JsonOpt = False) -> None:
    """What works: each component's top-10% rate and gain over no teacher, across all studies.

    The gain is measured against a student without a teacher: the task's plain_tuned study
    (or the study's best teacherless trial), and, for best trials, their no-teacher twin
    (the same training settings). Within each family, components are ranked by mean gain
    (highest first; none last), then by top-10% rate, then by trial count. Only the studies
    that optimised --metric count: gains in different metrics do not add up.
    """
    from autodistill.families import FAMILIES
    from autodistill.meta.past_studies import component_stats
    from autodistill.metrics import get_metric

    doc = component_stats(storage, get_metric(metric).name)
    if as_json:
        _echo_json(doc)
        return
    console = Console()
    if not doc["components"]:
        console.print("No completed trial in any study yet: run `autodistill search DATA` first."
                      if not doc["n_studies_other_metric"] else
                      f"No study optimised {doc['metric']}; pass the --metric of yours.")
        return
    if doc["n_studies_other_metric"]:
        console.print(f"Studies that optimised {doc['metric']}; {doc['n_studies_other_metric']} "
                      f"that optimised another metric are left out (see --metric).")
    pct = f"{doc['top_fraction']:.0%}"
    for family in dict.fromkeys(r["family"] for r in doc["components"]):
        table = Table(title=FAMILIES.get(family, family), title_justify="left")
        for column in ("rank", "component", "mean gain over no teacher", "n_gain",
                       "mean gain over twin", "n_twin", f"top-{pct} rate", "n_top / n_trials",
                       "n_studies"):
            table.add_column(column, justify="left" if column == "component" else "right")
        for row in (r for r in doc["components"] if r["family"] == family):
            table.add_row(str(row["rank"]), row["component"], _fmt(row["mean_gain"], "+.4f"),
                          str(row["n_gain"]), _fmt(row["mean_twin_gain"], "+.4f"),
                          str(row["n_twin"]), f"{row['top_rate']:.3f}",
                          f"{row['n_top']} / {row['n_trials']}", str(row["n_studies"]))
        console.print(table)
    console.print(
        f"{doc['n_studies']} studies; the gain is over the task's plain_tuned study for "
        f"{doc['n_studies_with_plain_tuned']}, over the study's best teacherless trial for "
        f"{doc['n_studies_with_plain'] - doc['n_studies_with_plain_tuned']}. Ranked within each "
        f"family by mean gain over no teacher, then top-{pct} rate, then trial count.")


def register(app: typer.Typer) -> None:
    """Mount the ``studies`` command group on ``app``."""
    app.add_typer(studies_app, name="studies")
