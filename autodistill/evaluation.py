"""Leave-one-dataset-out evaluation of the recommender (``autodistill meta evaluate``).

For each knowledge-base task in turn, everything learned from its dataset is hidden
(the task and any task on the same data with another student): the meta-model is
fitted on the other datasets' tasks and picks one pipeline of the shared portfolio
(the pipelines every task ran, so each pick has a measured outcome). The baselines pick
too: ``plain``, ``hinton``, ``single_best`` (the portfolio pipeline with the best mean
validation score relative to each task's best, over the other tasks: a one-item
portfolio) and ``nearest_task`` (the best portfolio pipeline, on validation, of the
nearest task of another dataset in meta-feature space). Every pick is measured on the held-out task's
test split, against the study's best trial (selected on validation, measured on test).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autodistill import progress
from autodistill import storage as store
from autodistill.metamodel import MetaRow, fit_meta_model, group_by_task
from autodistill.recommend import nearest_tasks

__all__ = ["METHODS", "evaluate_recommender", "evaluate_rows", "render_evaluation"]

#: The methods compared, recommender first.
METHODS = ("recommender", "plain", "hinton", "single_best", "nearest_task")


def _portfolio(rows: Sequence[MetaRow]) -> dict[int, MetaRow]:
    out: dict[int, MetaRow] = {}
    for row in rows:
        if row.portfolio is not None and row.test is not None:
            out.setdefault(int(row.portfolio), row)
    return out


def _dataset_of(task: str) -> str:
    """The data spec of a task key (``kb:data|student``)."""
    return task.removeprefix("kb:").rsplit("|", 1)[0]


def _best_of(portfolio: dict[int, MetaRow]) -> int:
    return max(sorted(portfolio), key=lambda i: portfolio[i].valid)


def evaluate_rows(rows: Sequence[MetaRow], *, n_trees: int = 100) -> dict[str, Any]:
    """Run the leave-one-dataset-out evaluation on ``rows`` (knowledge-base trials).

    Only tasks that hold every portfolio pipeline of the other tasks are held out.

    Returns:
        ``{"tasks", "methods": {name: {"mean_regret", "mean_gain_over_plain",
        "mean_test_accuracy", "win_rate": {other: rate}}}, "per_task": [...]}``; a win
        counts 1, a tie 0.5.
    """
    tasks = group_by_task(rows)
    portfolios = {task: _portfolio(task_rows) for task, task_rows in tasks.items()}
    indices = sorted(set().union(*(set(p) for p in portfolios.values()))) if portfolios else []
    complete = [t for t in sorted(tasks) if indices and set(portfolios[t]) == set(indices)]
    if len(complete) < 3 or 0 not in indices or 1 not in indices:
        raise ValueError("the evaluation needs at least three tasks that ran the whole "
                         "portfolio, plain (0) and hinton (1) included")
    per_task = []
    for done, held_out in enumerate(complete, start=1):
        # Leave the whole *dataset* out: a task run with another student width on the same
        # data would otherwise leak what this task measured.
        dataset = _dataset_of(held_out)
        train = [r for r in rows if _dataset_of(r.task) != dataset]
        # The other datasets' tasks that ran the whole portfolio: what the baselines see.
        others = [t for t in complete if _dataset_of(t) != dataset]
        mine = portfolios[held_out]
        meta = tasks[held_out][0].meta_features
        teacher_valid = tasks[held_out][0].teacher_valid

        model = fit_meta_model(train, n_trees=n_trees, keep=False)
        scores, _ = model.predict(meta, teacher_valid, [mine[i].pipeline for i in indices])
        recommender = indices[int(np.argmax(np.round(scores, 6)))]

        relative = {i: [] for i in indices}
        for task in others:
            best = max(r.valid for r in tasks[task]) or 1.0
            for i in indices:
                relative[i].append(portfolios[task][i].valid / best)
        single_best = max(indices, key=lambda i: (float(np.mean(relative[i])), -i))
        near_task = nearest_tasks(meta, {t: tasks[t] for t in others}, k=1)[0][0]
        nearest = _best_of(portfolios[near_task])

        best_trial = max(tasks[held_out], key=lambda r: r.valid)  # first max: Optuna's best
        picks = {"recommender": recommender, "plain": 0, "hinton": 1,
                 "single_best": single_best, "nearest_task": nearest}
        best_test = float(best_trial.test if best_trial.test is not None else np.nan)
        per_task.append({
            "task": held_out.removeprefix("kb:"),
            "study_best_test": best_test,
            "nearest_task": near_task.removeprefix("kb:"),
            "picks": dict(picks),
            "test": {m: float(mine[i].test) for m, i in picks.items()},
        })
        progress.report("evaluate", done, len(complete), "task", held_out.removeprefix("kb:"))
    methods: dict[str, Any] = {}
    for method in METHODS:
        tests = np.asarray([t["test"][method] for t in per_task])
        best = np.asarray([t["study_best_test"] for t in per_task])
        plain = np.asarray([t["test"]["plain"] for t in per_task])
        win_rate = {}
        for other in METHODS:
            if other == method:
                continue
            theirs = np.asarray([t["test"][other] for t in per_task])
            win_rate[other] = round(float(np.mean((tests > theirs) + 0.5 * (tests == theirs))), 4)
        methods[method] = {
            "mean_regret": round(float(np.nanmean(best - tests)), 5),
            "mean_gain_over_plain": round(float(np.mean(tests - plain)), 5),
            "mean_test_accuracy": round(float(np.mean(tests)), 5),
            "win_rate": win_rate,
        }
    return {"tasks": len(per_task), "portfolio_size": len(indices), "methods": methods,
            "per_task": per_task}


def evaluate_recommender(storage: str | None = None, *, n_trees: int = 100) -> dict[str, Any]:
    """:func:`evaluate_rows` on the knowledge base in the database at ``storage``."""
    from autodistill.errors import AutodistillError
    from autodistill.knowledge import load_meta_rows

    url = store.resolve_url(storage)
    rows = load_meta_rows(url, include_studies=False)
    try:
        report = evaluate_rows(rows, n_trees=n_trees)
    except ValueError as exc:
        raise AutodistillError(f"{store.mask_url(url)}: {exc}; reinstall autodistill to "
                               "restore the shipped knowledge base") from None
    report["storage"] = store.mask_url(url)
    return report


def render_evaluation(report: dict[str, Any]) -> None:
    """Print the report as two rich tables: summary, then pairwise win rates."""
    from rich.console import Console

    from autodistill.cli.tables import Table

    console = Console()
    summary = Table(title=f"Leave-one-dataset-out over {report['tasks']} knowledge-base tasks "
                          f"({report['portfolio_size']} portfolio pipelines each)")
    for column in ("method", "mean regret to study best", "mean gain over plain",
                   "mean test accuracy"):
        summary.add_column(column, justify="left" if column == "method" else "right")
    for method, row in report["methods"].items():
        summary.add_row(method, f"{row['mean_regret']:.4f}", f"{row['mean_gain_over_plain']:+.4f}",
                        f"{row['mean_test_accuracy']:.4f}")
    console.print(summary)
    wins = Table(title="Win rate of the row against the column (ties count half)")
    wins.add_column("")
    for method in report["methods"]:
        wins.add_column(method, justify="right")
    for method, row in report["methods"].items():
        wins.add_row(method, *("-" if other == method else f"{row['win_rate'][other]:.2f}"
                               for other in report["methods"]))
    console.print(wins)
