"""``autodistill recommend``: good pipelines for a dataset, in seconds, without a search."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from autodistill.cli.options import (
    DataArg,
    JsonOpt,
    MetricOpt,
    SplitSeedOpt,
    StorageOpt,
    StudentOpt,
    TargetOpt,
    TeacherInputOpt,
    TeacherOpt,
    TrustTypeOpt,
)
from autodistill.families import FAMILIES
from autodistill.training.teacher_specs import teacher_spec

EPILOG = (
    "Example: autodistill recommend builtin:wine --student mlp:8  |  "
    "autodistill recommend churn.csv --target churned --top 3 --json > picks.json"
)


def _describe(spec: dict[str, Any]) -> str:
    name = spec.get("name", "none")
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in sorted(spec.get("params", {}).items()))
    return f"{name}({params})" if params else name


def pipeline_summary(pipeline: dict[str, Any]) -> str:
    """One line per pipeline: the chosen components (``plain`` when none), then training."""
    chosen = [_describe(pipeline[f]) for f in FAMILIES if pipeline[f].get("name", "none") != "none"]
    training = pipeline["training"]
    return (f"{' + '.join(chosen) or 'plain (no teacher)'}; {training['epochs']} epochs, "
            f"lr {training['lr']:.3g}, batch {training['batch_size']}")


def _evidence_text(evidence: list[dict[str, Any]]) -> str:
    lines = []
    for near in evidence[:2]:
        if near["pipeline_valid"] is not None:
            mine = f"this {near['pipeline_valid']:.3f}"
        elif near["same_components_valid"] is not None:
            mine = f"same components {near['same_components_valid']:.3f}"
        else:
            mine = "not run there"
        plain = f"{near['plain_valid']:.3f}" if near["plain_valid"] is not None else "-"
        lines.append(f"{near['task']} (distance {near['distance']:.2f}): {mine}, "
                     f"best {near['best_valid']:.3f}, plain {plain}")
    return "\n".join(lines) or "-"


def _render(doc: dict[str, Any]) -> None:
    from rich.console import Console

    from autodistill.cli.tables import Table

    console = Console()
    data = doc["dataset"]
    teacher = doc["teacher"]
    console.print(
        f"[bold]{data['name']}[/]: {data['n_rows']} rows, {data['n_features']} encoded features, "
        f"{data['n_classes']} classes; teacher {teacher['spec']} (validation accuracy "
        f"{teacher['valid_accuracy']:.3f}); student {doc['student']}"
    )
    metric = doc.get("metric", "accuracy")
    table = Table(title=f"Recommended pipelines: predicted student {metric} on unseen rows",
                  show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("predicted", justify="right")
    table.add_column("gain over plain_tuned", justify="right")
    table.add_column("pipeline", ratio=2)
    table.add_column(f"nearest knowledge-base tasks (validation {metric})", ratio=3)
    for rec in doc["recommendations"]:
        lo, hi = rec["interval"]
        glo, ghi = rec["gain_interval"]
        table.add_row(str(rec["rank"]), f"{rec['predicted_score']:.3f}\n[{lo:.3f}, {hi:.3f}]",
                      f"{rec['predicted_gain_over_plain_tuned']:+.3f}\n[{glo:+.3f}, {ghi:+.3f}]",
                      pipeline_summary(rec["pipeline"]), _evidence_text(rec["evidence"]))
    console.print(table)
    console.print(f"[bold]{doc['verdict']}[/]", highlight=False)
    console.print(f"Learned from {doc['model']['training_trials']} trials on "
                  f"{doc['model']['training_tasks']} tasks ({doc['storage']}). First: a "
                  "preset (plain or hinton) unless a pipeline beats it beyond the interval; "
                  "the rest by predicted score. The pipeline documents that "
                  "`autodistill distill --pipeline` takes: add --json.")


def recommend_command(
    data: DataArg,
    target: TargetOpt = None,
    teacher: TeacherOpt = "auto",
    teacher_input: TeacherInputOpt = None,
    trust_type: TrustTypeOpt = None,
    student: StudentOpt = "mlp:16",
    top: Annotated[int, typer.Option("--top", min=1, help="How many pipelines to return.")] = 5,
    storage: StorageOpt = None,
    split_seed: SplitSeedOpt = 0,
    metric: MetricOpt = "accuracy",
    as_json: JsonOpt = False,
) -> None:
    """Recommend distillation pipelines for DATA from what past studies learned.

    No search runs: a meta-model trained on the shipped knowledge base and on your own
    studies ranks candidate pipelines for this dataset, teacher and student. Each
    recommendation is a pipeline document that `autodistill distill --pipeline`
    accepts unchanged, with a predicted accuracy on unseen rows, its predicted gain over a
    tuned student without a teacher (plain_tuned), intervals and evidence from the
    nearest knowledge-base tasks. When no pipeline that uses the teacher is predicted to
    beat the best one without it beyond their interval, it says so and ranks that plain
    pipeline first.
    --metric ranks by another predicted score, when the knowledge base holds it.
    """
    from autodistill.meta.recommender import recommend

    teacher = teacher_spec(teacher, teacher_input, trust_type)
    doc = recommend(data, target=target, teacher=teacher, student=student, top=top,
                    storage=storage, split_seed=split_seed, metric=metric)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        _render(doc)


def register(app: typer.Typer) -> None:
    """Mount ``recommend`` on the application."""
    app.command("recommend", epilog=EPILOG)(recommend_command)
