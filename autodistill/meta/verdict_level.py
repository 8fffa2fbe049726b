"""How sure the meta-model must be before it says distillation helps: the verdict's level,
chosen on the model's own training tasks, out of bag.

``recommend`` puts a pipeline that uses the teacher first when the model predicts it
beats the plain pick beyond a level: the ``level``-th percentile of their paired
difference over the bootstrap groups is above 0 (:mod:`autodistill.meta.ranking`). A low
level is cautious: it recommends plain where the teacher would have helped; a high one
recommends the teacher where plain was better. Which trade is right depends on how much
the model knows, so it is not fixed: each fitted model replays the ranking rule on its
own training tasks at each of :data:`~autodistill.meta.ranking.VERDICT_LEVELS` and keeps
the level whose first picks are at least as good, on the tasks' test splits, as the
``plain`` preset and as the ``hinton`` preset on the most tasks (the smaller of the two
shares; then the higher mean test score; then the lower level).

A task whose teacher is no better than chance ranks the plain pipeline first at every
level (:mod:`autodistill.meta.ranking`); the replay leaves that rule out, since it does not
depend on the level: the level calibrates the model's own verdict, on every training task.

Out of bag: the forests are fitted as bootstrap groups over datasets, so each training
task is predicted only by the groups whose sample left its dataset out (about a third),
as if it were a dataset the model had never seen. Nothing held out of the fit (a dataset
``meta evaluate`` holds out, a user's table) takes part in the choice.

The same replay says how far to trust the verdict at the chosen level
(:func:`verdict_check`, kept with the model): whether ``hinton`` beat ``plain`` more
often, and by more, on the training tasks where the verdict said yes than where it said
no. ``meta evaluate`` reports the same check on held-out tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autodistill.meta.model import (
    Fitted,
    MetaRow,
    dataset_of,
    group_means,
    portfolio_positions,
)
from autodistill.meta.ranking import DEFAULT_LEVEL, VERDICT_LEVELS, first_picks
from autodistill.metrics import get_metric
from autodistill.training.pipeline import Pipeline

__all__ = ["MIN_TASKS", "choose_verdict", "describe_verdict_check", "level_outcomes",
           "tells_apart", "verdict_check"]

#: Fewer training tasks with both presets than this, and the level stays the default.
MIN_TASKS = 10
#: Out-of-bag groups a task needs for a percentile over them to mean anything.
MIN_GROUPS = 3


def level_outcomes(tasks: dict[str, list[MetaRow]], fitted: Fitted,
                   levels: Sequence[float] = VERDICT_LEVELS) -> dict[str, Any]:
    """Replay the ranking rule out of bag on the knowledge-base tasks among ``tasks`` that
    ran both presets (real tables only, when there are :data:`MIN_TASKS` of them) at each
    of ``levels``.

    Returns:
        ``{"tasks": n, "levels": {level: {"at_least_plain", "at_least_hinton",
        "mean_test", "helps", "check"}}}``: the shares of tasks whose first pick's test
        score is no worse than the ``plain`` and the ``hinton`` preset's, the picks' mean
        test score, the share of tasks where distillation was said to help, and
        :func:`verdict_check` of what was said.
    """
    in_bag = fitted.in_bag
    usable = {task: [p for _, p in sorted(portfolio_positions(rows).items())]
              for task, rows in tasks.items() if task.startswith("kb:")}
    usable = {task: positions for task, positions in usable.items()
              if [tasks[task][p].portfolio for p in positions[:2]] == [0, 1]
              and (~in_bag[dataset_of(task)]).sum() >= MIN_GROUPS}
    real = {task: positions for task, positions in usable.items()
            if dataset_of(task).startswith("pkg:")}
    if len(real) >= MIN_TASKS:
        usable = real
    if not usable:
        return {"tasks": 0, "levels": {}}
    x = np.concatenate([fitted.rank_x[task][positions] for task, positions in usable.items()])
    per_tree = fitted.rank_model.predict_per_tree(x)[:, :, 0]  # [trees, all candidates]
    # The ranking model's prediction differs from the gain by the task's level and a
    # positive scale only, which leave every paired comparison's sign and order unchanged.
    groups_all = group_means(per_tree)
    uses_of: dict[int | None, bool] = {}  # a portfolio pipeline's components are the same everywhere
    cases = []
    start = 0
    for task, positions in usable.items():
        trials = [tasks[task][p] for p in positions]
        columns = slice(start, start + len(trials))
        start += len(trials)
        groups = groups_all[~in_bag[dataset_of(task)], columns]
        means = groups.mean(0)
        order = sorted(range(len(trials)), key=lambda i: (-round(float(means[i]), 9), i))
        for r in trials:
            if r.portfolio not in uses_of:
                uses_of[r.portfolio] = Pipeline.from_dict(r.pipeline).uses_teacher
        uses = [uses_of[r.portfolio] for r in trials]  # type: ignore[index]
        tests = np.asarray([float(r.test) for r in trials])  # type: ignore[arg-type]
        cases.append((groups, order, uses, tests))
    records: list[list[dict[str, Any]]] = [[] for _ in levels]
    for groups, order, uses, tests in cases:
        for at, decided in enumerate(first_picks(groups, order, uses, [0, 1], levels)):
            first = order[0] if decided.first is None else decided.first
            records[at].append({"distillation_helps": bool(decided.helps), "test": {
                "plain": tests[0], "hinton": tests[1], "recommender": tests[first]}})
    report: dict[float, dict[str, Any]] = {}
    for level, said in zip(levels, records, strict=True):
        test = {m: np.asarray([t["test"][m] for t in said])
                for m in ("plain", "hinton", "recommender")}
        report[float(level)] = {
            "mean_test": float(test["recommender"].mean()),
            "at_least_plain": float(np.mean(test["recommender"] >= test["plain"])),
            "at_least_hinton": float(np.mean(test["recommender"] >= test["hinton"])),
            "helps": float(np.mean([t["distillation_helps"] for t in said])),
            "check": verdict_check(said)}
    return {"tasks": len(cases), "levels": report}


def choose_verdict(tasks: dict[str, list[MetaRow]], fitted: Fitted,
                   ) -> tuple[float, dict[str, Any] | None]:
    """The verdict level of a model fitted on ``tasks`` (see the module docstring) and
    :func:`verdict_check` of the out-of-bag replay at that level: how far the verdict is
    to be trusted. :data:`~autodistill.meta.ranking.DEFAULT_LEVEL` and None with fewer
    than :data:`MIN_TASKS` tasks to choose on."""
    outcomes = level_outcomes(tasks, fitted)
    if outcomes["tasks"] < MIN_TASKS:
        return DEFAULT_LEVEL, None
    levels = outcomes["levels"]
    level = max(levels, key=lambda level: (
        round(min(levels[level]["at_least_plain"], levels[level]["at_least_hinton"]), 9),
        round(levels[level]["mean_test"], 9), -level))
    return level, levels[level]["check"]


def verdict_check(per_task: list[dict[str, Any]], metric: str = "accuracy") -> dict[str, Any]:
    """Whether the verdict tells the tasks apart: over the tasks where it said distillation
    helps and those where it said not, how often ``hinton`` was at least as good as
    ``plain`` on test, ``hinton``'s mean gain over ``plain``, and the same for the pick
    (``per_task``: ``{"distillation_helps", "test": {"plain", "hinton", "recommender"}}``,
    scored by ``metric``). A verdict with skill finds ``hinton`` ahead more often, and by
    more, where it says yes; one without finds the same on both sides."""
    sign = 1.0 if get_metric(metric).maximize else -1.0
    check = {}
    for side, said in (("helps", True), ("does_not_help", False)):
        tasks = [t for t in per_task if t["distillation_helps"] == said]
        test = {m: sign * np.asarray([t["test"][m] for t in tasks])
                for m in ("plain", "hinton", "recommender")}
        check[side] = {"tasks": len(tasks)} | ({} if not tasks else {
            "hinton_at_least_plain": round(float(np.mean(test["hinton"] >= test["plain"])), 4),
            "hinton_gain_over_plain": round(float(np.mean(test["hinton"] - test["plain"])), 5),
            "pick_at_least_plain": round(float(np.mean(test["recommender"] >= test["plain"])), 4),
            "pick_gain_over_plain": round(float(np.mean(test["recommender"] - test["plain"])), 5),
        })
    return check


def describe_verdict_check(check: dict[str, Any]) -> str | None:
    """:func:`verdict_check` in one sentence (None unless the verdict said both yes and no)."""
    if not _said_both(check):
        return None
    yes, no = check["helps"], check["does_not_help"]
    return (f"Where it says distillation helps ({yes['tasks']} tasks), hinton is at least as "
            f"good as plain on {yes['hinton_at_least_plain']:.1%} (mean "
            f"{yes['hinton_gain_over_plain']:+.4f}); where it says not ({no['tasks']}), on "
            f"{no['hinton_at_least_plain']:.1%} ({no['hinton_gain_over_plain']:+.4f}). Its pick "
            f"gains {yes['pick_gain_over_plain']:+.4f} over plain where it says yes (at least "
            f"as good on {yes['pick_at_least_plain']:.1%}).")


def tells_apart(check: dict[str, Any]) -> bool | None:
    """Whether, in ``check`` (:func:`verdict_check`), ``hinton`` gained more over ``plain``
    where the verdict said yes than where it said no; None unless it said both."""
    if not _said_both(check):
        return None
    return bool(check["helps"]["hinton_gain_over_plain"]
                > check["does_not_help"]["hinton_gain_over_plain"])


def _said_both(check: dict[str, Any]) -> bool:
    """Whether the verdict said yes on some tasks of ``check`` and no on others."""
    return all(check.get(side, {}).get("tasks") for side in ("helps", "does_not_help"))
