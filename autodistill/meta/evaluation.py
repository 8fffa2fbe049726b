"""Leave-one-dataset-out evaluation of the recommender (``autodistill meta evaluate``).

For each knowledge-base task in turn, everything learned from its dataset is hidden
(the task and any task on the same data with another student): the meta-model is
fitted on the other datasets' tasks and picks one pipeline of the shared portfolio
(the pipelines every task ran, so each pick has a measured outcome) exactly as
``recommend`` does (:func:`~autodistill.meta.ranking.rank_candidates`). The baselines:
``plain_tuned`` (the task's own 20-trial search over a teacherless student's training
settings, ``kb_plain_tuned.jsonl``; not a pick, the measured result), ``plain``,
``hinton``, ``single_best`` (the portfolio pipeline with the best mean score relative to
each task's best, over the other tasks: a one-item portfolio) and ``nearest_task`` (the
best portfolio pipeline of the nearest task of another dataset in meta-feature space).
The learned baselines see what the meta-model sees: the other datasets' test scores
(:func:`~autodistill.meta.model.task_outcomes`). Every pick is measured on the held-out
task's test split, against the study's best trial (selected on validation, measured on
test).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from autodistill import progress
from autodistill.meta.fitting import fit_meta_model
from autodistill.meta.kb_plain import plain_of
from autodistill.meta.model import (
    MetaRow,
    dataset_of,
    group_by_task,
    is_teacherless,
    portfolio_positions,
)
from autodistill.meta.neighbours import nearest_tasks
from autodistill.meta.ranking import rank_candidates
from autodistill.meta.scores import from_score, plain_for_metric, require_evidence
from autodistill.meta.teacher_margin import hinton_by_teacher_margin
from autodistill.meta.verdict_level import verdict_check
from autodistill.metrics import get_metric
from autodistill.store import storage as store

__all__ = ["METHODS", "distillation_vs_plain_tuned", "evaluate_recommender", "evaluate_rows",
           "teacher_vs_plain_tuned"]

#: The methods compared, recommender first (``plain_tuned`` only when the tasks have one).
METHODS = ("recommender", "plain_tuned", "plain", "hinton", "single_best", "nearest_task")


def _portfolio(rows: Sequence[MetaRow]) -> dict[int, MetaRow]:
    """A task's portfolio trials by portfolio index (:func:`portfolio_positions`)."""
    return {index: rows[position] for index, position in portfolio_positions(rows).items()}


def _shown(metric: str, score: float | None) -> float:
    """A row's score in ``metric``'s own units (NaN when missing)."""
    return float(np.nan) if score is None else from_score(metric, score)


def _best_of(portfolio: dict[int, MetaRow]) -> int:
    """The portfolio pipeline with the best test score (a portfolio row always has one)."""
    return max(sorted(portfolio), key=lambda i: portfolio[i].test)


def _teacher_of(task: str) -> str | None:
    """The teacher of a task key (``kb:data|student|teacher``); None in suite 1's keys."""
    parts = task.removeprefix("kb:").split("|")
    return parts[2] if len(parts) > 2 else None


def _is_real(task: str) -> bool:
    return dataset_of(task).startswith("pkg:")


def _single_best(indices: list[int], others: Sequence[str],
                 portfolios: dict[str, dict[int, MetaRow]]) -> int:
    """The pipeline of ``indices`` with the best mean test score relative to each other
    task's best portfolio test score, over the ``others`` that ran it."""
    relative: dict[int, list[float]] = {i: [] for i in indices}
    for task in others:
        best = max(r.test for r in portfolios[task].values()) or 1.0
        for i in indices:
            if i in portfolios[task]:
                relative[i].append(portfolios[task][i].test / best)
    return max(indices, key=lambda i: (
        float(np.mean(relative[i])) if relative[i] else -np.inf, -i))


def _require_tasks(complete: list[str], eligible: list[str], ran_presets: int) -> None:
    """Refuse an evaluation of fewer than three held-out tasks on two datasets, saying how
    many more ran the presets but have no plain_tuned study."""
    if len(complete) >= 3 and len({dataset_of(t) for t in eligible}) >= 2:
        return
    dropped = ran_presets - len(eligible)
    raise ValueError("the evaluation needs at least three tasks that ran the portfolio's "
                     "plain (0) and hinton (1) pipelines, on at least two datasets"
                     + (f" ({dropped} more have no plain_tuned study)" if dropped else ""))


def evaluate_rows(rows: Sequence[MetaRow], *, n_trees: int = 100,
                  plain: dict[str, dict[str, Any]] | None = None,
                  standardise: bool = True, metric: str = "accuracy",
                  real_only: bool | None = None,
                  teachers_at_chance: Collection[str] = ()) -> dict[str, Any]:
    """Run the leave-one-dataset-out evaluation on ``rows`` (knowledge-base trials).

    A task is held out when it ran the plain (0) and hinton (1) portfolio pipelines and,
    when ``plain`` (task key -> ``kb_plain_tuned.jsonl`` record) names any task, has a
    plain_tuned study (``plain_tuned`` is then a method). Its candidates are the portfolio
    pipelines it ran (a ``gbdt`` teacher has no hidden features, so no MI pipeline).
    ``real_only`` holds out real tables (``pkg:``) only (the others still teach the
    meta-model); by default on when the rows hold a real table. ``rows`` and ``plain`` are
    scored by ``metric`` (:mod:`autodistill.meta.scores`), positive gains better.
    ``teachers_at_chance``: the tasks (keys without ``kb:``) whose teacher is no better than
    chance on validation, which ``recommend`` ranks plain first (their ``kb_tasks.jsonl``
    ``teacher_at_chance``).

    Returns:
        ``{"tasks", "metric", "held_out", "portfolio_size"}`` and :func:`_methods_report`'s
        ``"methods"``, ``"by_teacher"``, ``"distillation_helps"`` and ``"per_task"``.
    """
    plain = plain or {}
    tasks = group_by_task(rows)
    portfolios = {task: _portfolio(task_rows) for task, task_rows in tasks.items()}
    eligible = [t for t in sorted(tasks) if {0, 1} <= set(portfolios[t])]
    if plain:
        eligible = [t for t in eligible if plain_of(plain, t.removeprefix("kb:")) is not None]
    if real_only is None:
        real_only = any(_is_real(t) for t in eligible)
    complete = [t for t in eligible if _is_real(t) or not real_only]
    _require_tasks(complete, eligible, sum(1 for t in tasks if {0, 1} <= set(portfolios[t])))
    methods_used = [m for m in METHODS if m != "plain_tuned" or plain]
    shown = partial(_shown, metric)
    per_task = []
    for done, held_out in enumerate(complete, start=1):
        # Leave the whole *dataset* out: a task run with another student width or teacher
        # on the same data would otherwise leak what this task measured.
        dataset = dataset_of(held_out)
        train = [r for r in rows if dataset_of(r.task) != dataset]
        # The other datasets' tasks that ran the portfolio: what the baselines see.
        others = [t for t in eligible if dataset_of(t) != dataset]
        mine = portfolios[held_out]
        indices = sorted(mine)
        meta = tasks[held_out][0].meta_features
        model = fit_meta_model(train, n_trees=n_trees, keep=False, standardise=standardise)
        # the presets are portfolio pipelines 0 and 1, first in `indices` (stored resolved)
        ranking = rank_candidates(
            model, meta, tasks[held_out][0].teacher_valid, [mine[i].pipeline for i in indices],
            defaults=[0, 1], teacher_at_chance=held_out.removeprefix("kb:") in teachers_at_chance)
        recommender = indices[ranking.order[0]]

        single_best = _single_best(indices, others, portfolios)
        near_task = nearest_tasks(meta, {t: tasks[t] for t in others}, k=1)[0][0]
        nearest = _best_of({i: row for i, row in portfolios[near_task].items() if i in mine})
        picks = {"recommender": recommender, "plain": 0, "hinton": 1,
                 "single_best": single_best, "nearest_task": nearest}
        test = {m: shown(mine[i].test) for m, i in picks.items()}
        if plain:
            tuned = plain_of(plain, held_out.removeprefix("kb:"))
            test["plain_tuned"] = shown(tuned["best"]["test"])
        per_task.append({
            "task": held_out.removeprefix("kb:"), "teacher": _teacher_of(held_out),
            # the study's best: the first max on validation, as Optuna's
            "study_best_test": shown(max(tasks[held_out], key=lambda r: r.valid).test),
            "nearest_task": near_task.removeprefix("kb:"),
            "picks": dict(picks),
            "distillation_helps": ranking.distillation_helps, "verdict_level": ranking.level,
            # The top score's pick, as if the recommender never put the plain pipeline first.
            "top_score_test": shown(
                mine[indices[int(np.argmax(np.round(ranking.scores, 6)))]].test),
            "test": test,
        })
        progress.report("evaluate", done, len(complete), "task", held_out.removeprefix("kb:"))
    return {"tasks": len(per_task), "metric": metric,
            "held_out": "real tables" if real_only else "every task",
            "portfolio_size": len(set().union(*(set(portfolios[t]) for t in complete))),
            **_methods_report(per_task, methods_used, bool(plain), metric)}


def _methods_report(per_task: list[dict[str, Any]], methods_used: list[str],
                    with_plain: bool, metric: str) -> dict[str, Any]:
    """``{"methods": {name: {"mean_regret", "mean_gain_over_plain",
    "mean_gain_over_plain_tuned", "median_gain_over_plain_tuned", "mean_test_score",
    "mean_test_accuracy" (accuracy only),
    "win_rate": {other: rate}, "at_least_as_good": {other: share}}}, "by_teacher": the
    same per teacher (when task keys name one), "distillation_helps": share of tasks,
    "verdict_levels": {level: tasks} (the level each held-out fit chose), "verdict_check":
    :func:`~autodistill.meta.verdict_level.verdict_check`, "per_task": [...]}``; in a win
    rate a win counts 1 and a tie 0.5; ``at_least_as_good`` is the share of tasks where the
    method's test score is no worse than the other's."""
    teachers = sorted({t["teacher"] for t in per_task if t["teacher"] is not None})
    helps = float(np.mean([t["distillation_helps"] for t in per_task]))
    levels = Counter(t["verdict_level"] for t in per_task)
    return {"methods": _summarise(per_task, methods_used, with_plain, metric),
            "verdict_levels": {f"{level:g}": levels[level] for level in sorted(levels)},
            "by_teacher": {teacher: _summarise([t for t in per_task if t["teacher"] == teacher],
                                               methods_used, with_plain, metric)
                           for teacher in teachers},
            "distillation_helps": round(helps, 4),
            "verdict_check": verdict_check(per_task, metric), "per_task": per_task}


def _summarise(per_task: list[dict[str, Any]], methods_used: list[str],
               with_plain: bool, metric: str = "accuracy") -> dict[str, Any]:
    """Mean regret, gains, test score and pairwise win rates of each method (signed so
    that positive is better: a minimised metric's values are negated first)."""
    sign = 1.0 if get_metric(metric).maximize else -1.0
    methods: dict[str, Any] = {}
    for method in methods_used:
        raw = np.asarray([t["test"][method] for t in per_task])
        tests = sign * raw
        best = sign * np.asarray([t["study_best_test"] for t in per_task])
        base = sign * np.asarray([t["test"]["plain"] for t in per_task])
        tuned = (sign * np.asarray([t["test"]["plain_tuned"] for t in per_task]) if with_plain
                 else np.full(len(per_task), np.nan))
        win_rate, at_least = {}, {}
        for other in methods_used:
            if other == method:
                continue
            theirs = sign * np.asarray([t["test"][other] for t in per_task])
            win_rate[other] = round(float(np.mean((tests > theirs) + 0.5 * (tests == theirs))), 4)
            at_least[other] = round(float(np.mean(tests >= theirs)), 4)
        methods[method] = {
            "mean_regret": round(float(np.nanmean(best - tests)), 5),
            "mean_gain_over_plain": round(float(np.mean(tests - base)), 5),
            "mean_gain_over_plain_tuned": (round(float(np.mean(tests - tuned)), 5) if with_plain
                                           else None),
            "median_gain_over_plain_tuned": (round(float(np.median(tests - tuned)), 5)
                                             if with_plain else None),
            "mean_test_score": round(float(np.mean(raw)), 5),
            "win_rate": win_rate,
            "at_least_as_good": at_least,
        }
        if metric == "accuracy":
            methods[method]["mean_test_accuracy"] = methods[method]["mean_test_score"]
    return methods


def distillation_vs_plain_tuned(rows: Sequence[MetaRow], plain: dict[str, dict[str, Any]],
                                tasks: Sequence[dict[str, Any]] = (),
                                margin: float = 0.02) -> dict[str, Any]:
    """What the best distillation pipeline of each task gains over its plain_tuned, on test.

    Per task, the trial with the best validation score among those that use the teacher
    (first such trial on ties) against the plain_tuned study's best (also chosen on
    validation), both measured on test. Reported over all tasks with a plain_tuned study,
    and over those whose teacher beats plain_tuned by ``margin`` or more on validation
    (``tasks``: ``kb_tasks.jsonl`` records, for the teacher's validation accuracy).
    ``"equal_budget"`` says the same with the distillation side held to as many trials as
    the plain_tuned study ran (the expected best of that many drawn at random): a task's
    distillation study runs more trials, and the best of more trials reads higher on
    validation (not on test, as it turned out: studies/README.md).
    """
    teacher = {t["task"]: t.get("teacher_valid") for t in tasks}
    diffs: list[tuple[str, float, bool]] = []
    equal: list[tuple[str, float, bool]] = []
    for task, task_rows in group_by_task(rows).items():
        key = task.removeprefix("kb:")
        distilled = [r for r in task_rows if not is_teacherless(r.pipeline)
                     and r.test is not None]
        record = plain_of(plain, key)
        if record is None or not distilled:
            continue
        best = max(distilled, key=lambda r: r.valid)
        reference = record["best"]
        strong = (teacher.get(key) is not None
                  and teacher[key] - reference["valid"] >= margin)
        diffs.append((key, float(best.test) - float(reference["test"]), strong))
        budget = len(record.get("trials") or []) or len(distilled)
        # rounded: a sum of weighted scores is level with one score to within 1e-16
        equal.append((key, round(_expected_best_test(distilled, budget)
                                 - float(reference["test"]), 9), strong))

    def summary(values: list[float]) -> dict[str, Any]:
        array = np.asarray(values)
        return {"tasks": len(values), "gain": int((array > 0).sum()),
                "loss": int((array < 0).sum()), "tie": int((array == 0).sum()),
                "mean_test_gain": round(float(array.mean()), 5) if values else None,
                "median_test_gain": round(float(np.median(array)), 5) if values else None}

    strong_key = f"teacher_leads_plain_tuned_by_{margin:g}"
    return {"all": summary([d for _, d, _ in diffs]),
            strong_key: summary([d for _, d, s in diffs if s]),
            "equal_budget": {"all": summary([d for _, d, _ in equal]),
                             strong_key: summary([d for _, d, s in equal if s])},
            "per_task": {key: round(d, 6) for key, d, _ in diffs}}


def _expected_best_test(trials: Sequence[MetaRow], k: int) -> float:
    """The expected test score of the best-by-validation trial (the first on ties) among
    ``k`` of ``trials`` drawn at random without replacement: the ``j``-th best is the
    pick when it is drawn and no better one is, with probability C(n-1-j, k-1) / C(n, k)."""
    n = len(trials)
    k = min(k, n)
    ranked = sorted(range(n), key=lambda i: (-trials[i].valid, i))
    return sum(math.comb(n - 1 - j, k - 1) / math.comb(n, k) * float(trials[i].test)
               for j, i in enumerate(ranked))


def teacher_vs_plain_tuned(tasks: Sequence[dict[str, Any]], plain: dict[str, dict[str, Any]],
                           margin: float = 0.02) -> dict[str, Any]:
    """How often each teacher beats its task's plain_tuned student: per teacher (``auto``
    for suite 1's keys), the tasks with both, how many the teacher leads on validation and
    by ``margin`` or more, and its mean lead on validation and on test."""
    leads: dict[str, list[tuple[float, float]]] = {}
    for task in tasks:
        reference = plain_of(plain, task["task"])
        if reference is None or None in (task.get("teacher_valid"), task.get("teacher_test")):
            continue
        best = reference["best"]
        leads.setdefault(task.get("teacher") or "auto", []).append(
            (task["teacher_valid"] - best["valid"], task["teacher_test"] - best["test"]))
    return {teacher: {"tasks": len(pairs),
                      "ahead_on_valid": sum(v > 0 for v, _ in pairs),
                      f"ahead_by_{margin:g}_on_valid": sum(v >= margin for v, _ in pairs),
                      "mean_valid_lead": round(float(np.mean([v for v, _ in pairs])), 5),
                      "mean_test_lead": round(float(np.mean([t for _, t in pairs])), 5)}
            for teacher, pairs in sorted(leads.items())}


def evaluate_recommender(storage: str | None = None, *, n_trees: int = 100,
                         metric: str = "accuracy", staged: Path | None = None,
                         ) -> dict[str, Any]:
    """:func:`evaluate_rows` on the knowledge base in the database at ``storage``, by
    ``metric`` (the distillation-vs-plain_tuned section stays on accuracy); or, with
    ``staged``, on what a suite-2 build has staged in that folder so far (a preview:
    nothing is promoted).

    Raises:
        MetricError: an unknown metric, or one the knowledge base does not hold.
        AutodistillError: too few tasks to evaluate.
    """
    from autodistill.errors import AutodistillError
    from autodistill.meta.kb_plain import read_plain_tuned
    from autodistill.meta.knowledge import load_meta_rows, meta_rows_from_records, read_shipped

    metric = get_metric(metric).name
    if staged is not None:
        from autodistill.meta.kb_stage import collect_staged, stage_status

        tasks, trials, plain_lines, _ = collect_staged(staged)
        if not tasks:
            raise AutodistillError(f"--staged {staged}: no finished task is staged there; "
                                   "pass the --stage folder of `autodistill meta build-kb "
                                   "--suite 2`, or build some of it first")
        plain = {record["task"]: record for record in plain_lines}
        rows = meta_rows_from_records(tasks, trials, plain, metric=metric)
        require_evidence(rows, metric, f"the staged build in {staged}")
        accuracy_rows = (rows if metric == "accuracy"
                         else meta_rows_from_records(tasks, trials, plain))
        where = str(staged)
        status = stage_status(staged)
    else:
        url = store.resolve_url(storage)
        rows = load_meta_rows(url, include_studies=False, metric=metric)
        accuracy_rows = rows if metric == "accuracy" else load_meta_rows(url, include_studies=False)
        plain, tasks, where, status = read_plain_tuned(), read_shipped()[0], store.mask_url(url), None
    try:
        report = evaluate_rows(rows, n_trees=n_trees, plain=plain_for_metric(plain, metric),
                               metric=metric, teachers_at_chance={
                                   t["task"] for t in tasks if t.get("teacher_at_chance")})
    except ValueError as exc:
        hint = ("build more of it first" if staged is not None
                else "reinstall autodistill to restore the shipped knowledge base")
        raise AutodistillError(f"{where}: {exc}; {hint}") from None
    report["distillation_vs_plain_tuned"] = distillation_vs_plain_tuned(
        accuracy_rows, plain, tasks)
    report["teacher_vs_plain_tuned"] = teacher_vs_plain_tuned(tasks, plain)
    report["hinton_by_teacher_margin"] = hinton_by_teacher_margin(report["per_task"], tasks,
                                                                  metric)
    report["storage"] = where
    if status is not None:
        report["staged"] = {"tasks_done": status["tasks"]["done"],
                            "tasks_total": status["tasks"]["total"]}
    return report
