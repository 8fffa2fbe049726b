"""The verdict's level: how sure the meta-model must be before it says distillation helps,
chosen on its own training tasks out of bag (autodistill/meta/verdict_level.py)."""

from __future__ import annotations

import numpy as np
import pytest

from autodistill.meta import fitting
from autodistill.meta import model as meta_model
from autodistill.meta.model import BOOTSTRAP_GROUPS, Fitted, MetaRow
from autodistill.meta.ranking import DEFAULT_LEVEL, VERDICT_LEVELS
from autodistill.meta.verdict_level import (
    MIN_TASKS,
    choose_verdict,
    level_outcomes,
    tells_apart,
)
from autodistill.training.pipeline import PRESETS, Pipeline

PLAIN = Pipeline.from_dict(PRESETS["plain"]).to_dict()
HINTON = Pipeline.from_dict(PRESETS["hinton"]).to_dict()
TREES_PER_GROUP = 5


class _Forest:
    """Stands in for the ranking forest: per candidate row, each bootstrap group predicts
    the value ``predict(group, row)`` gives (every tree of the group alike)."""

    def __init__(self, predict) -> None:
        self.predict = predict

    def predict_per_tree(self, x):
        values = np.asarray([[self.predict(group, row) for row in range(len(x))]
                             for group in range(BOOTSTRAP_GROUPS)])
        return np.repeat(values, TREES_PER_GROUP, axis=0)[:, :, None]


def _tasks(n: int, hinton_test: float, plain_test: float = 0.8):
    """``n`` knowledge-base tasks on real tables, one dataset each, that ran the presets."""
    tasks = {}
    for i in range(n):
        task = f"kb:pkg:table{i}|mlp:16|auto"
        tasks[task] = [
            MetaRow(task, {"n_rows": 100.0 + i}, PLAIN, 0.8, plain_test, 0.9, portfolio=0),
            MetaRow(task, {"n_rows": 100.0 + i}, HINTON, 0.8, hinton_test, 0.9, portfolio=1)]
    return tasks


def _in_bag(tasks):
    """Dataset i was drawn by every group except groups i % 20, i+1, ..., i+6 (7 out of bag)."""
    in_bag = {}
    for i, task in enumerate(tasks):
        bag = np.ones(BOOTSTRAP_GROUPS, bool)
        bag[[(i + k) % BOOTSTRAP_GROUPS for k in range(7)]] = False
        in_bag[meta_model.dataset_of(task)] = bag
    return in_bag


def _fitted(tasks, predict, in_bag) -> Fitted:
    """A fit whose ranking forest predicts ``predict(group, row)`` for the tasks' rows in
    order (two per task: plain, hinton)."""
    return Fitted(None, _Forest(predict), in_bag,  # type: ignore[arg-type]
                  {task: np.zeros((len(rows), 1)) for task, rows in tasks.items()})


def test_only_the_groups_that_never_saw_a_dataset_judge_it():
    tasks = _tasks(MIN_TASKS, hinton_test=0.7)
    in_bag = _in_bag(tasks)
    bags = [in_bag[meta_model.dataset_of(t)] for t in tasks]

    def predict(group, row):
        task, candidate = divmod(row, 2)
        # groups that trained on the task's dataset say hinton gains 0.1, the others -0.1
        claim = 0.1 if bags[task][group] else -0.1
        return claim if candidate == 1 else 0.0

    outcomes = level_outcomes(tasks, _fitted(tasks, predict, in_bag))
    assert outcomes["tasks"] == MIN_TASKS
    for level in VERDICT_LEVELS:
        assert outcomes["levels"][level]["helps"] == 0.0
        assert outcomes["levels"][level]["at_least_plain"] == 1.0
        assert outcomes["levels"][level]["at_least_hinton"] == 1.0  # plain is better here


def _uncertain_gain(group, row):
    """hinton predicted to gain +0.02 over plain on average, its groups spread -0.03 to
    +0.07: above 0 at the 30th percentile and beyond, not at the 10th to 25th."""
    candidate = row % 2
    return 0.0 if candidate == 0 else 0.02 + (group / (BOOTSTRAP_GROUPS - 1) - 0.5) * 0.1


@pytest.mark.parametrize(("hinton_test", "chosen"), [(0.85, 30.0), (0.75, DEFAULT_LEVEL)])
def test_the_level_follows_what_the_training_tasks_measured(hinton_test, chosen):
    """Where hinton was better on test, the lowest level that lets the model say so; where
    plain was better, the most cautious level."""
    tasks = _tasks(MIN_TASKS + 2, hinton_test=hinton_test)
    in_bag = {meta_model.dataset_of(t): np.arange(BOOTSTRAP_GROUPS) % 2 == 0 for t in tasks}
    level, _ = choose_verdict(tasks, _fitted(tasks, _uncertain_gain, in_bag))
    assert level == chosen


def test_too_few_tasks_keep_the_default_level():
    tasks = _tasks(MIN_TASKS - 1, hinton_test=0.85)
    in_bag = {meta_model.dataset_of(t): np.arange(BOOTSTRAP_GROUPS) % 2 == 0 for t in tasks}
    assert choose_verdict(tasks, _fitted(tasks, _uncertain_gain, in_bag)) == (DEFAULT_LEVEL, None)


def test_a_stored_model_keeps_its_level(fresh_home, monkeypatch):
    from autodistill.meta.knowledge import meta_rows_from_records, read_shipped

    tasks, trials = read_shipped()
    rows = meta_rows_from_records(sorted(tasks, key=lambda t: t["task"])[:40], trials)
    fitted = fitting.fit_meta_model(rows, n_trees=40)
    assert fitted.verdict_level in VERDICT_LEVELS
    monkeypatch.setattr(fitting, "_CACHE", {})
    monkeypatch.setattr(fitting, "_fit", lambda *a, **k: pytest.fail("refitted"))
    again = fitting.fit_meta_model(rows, n_trees=40)
    assert again.verdict_level == fitted.verdict_level
    assert again.verdict_check == fitted.verdict_check is not None


@pytest.mark.parametrize("level", [10.0, 20.0, 30.0])
def test_a_level_means_the_same_caution_over_few_groups_as_over_all(level):
    # The level is chosen on a training task's ~7 out-of-bag groups and applied on all 20:
    # read off normal draws, the percentile must sit at the level's quantile (in the
    # median case) for both counts, or the chosen caution is not the one applied.
    from statistics import NormalDist

    rng = np.random.default_rng(0)
    for groups in (7, BOOTSTRAP_GROUPS):
        values = rng.standard_normal((20_000, groups))
        quantile = np.median([NormalDist().cdf(v) for v in
                              meta_model.group_percentile(values, level, axis=1)])
        assert quantile == pytest.approx(level / 100, abs=0.015), groups


def test_the_evaluation_says_whether_the_verdict_tells_the_tasks_apart():
    from autodistill.meta.verdict_level import describe_verdict_check, verdict_check

    def task(helps, plain, hinton, pick):
        return {"distillation_helps": helps,
                "test": {"plain": plain, "hinton": hinton, "recommender": pick}}

    # a verdict with skill: hinton ahead where it says yes, behind where it says no
    per_task = [task(True, 0.80, 0.82, 0.82), task(True, 0.70, 0.70, 0.71),
                task(False, 0.90, 0.88, 0.90)]
    check = verdict_check(per_task)
    assert check["helps"] == {"tasks": 2, "hinton_at_least_plain": 1.0,
                              "hinton_gain_over_plain": 0.01, "pick_at_least_plain": 1.0,
                              "pick_gain_over_plain": 0.015}
    assert check["does_not_help"]["hinton_at_least_plain"] == 0.0
    assert check["does_not_help"]["hinton_gain_over_plain"] == pytest.approx(-0.02)
    line = describe_verdict_check(check)
    assert "helps (2 tasks), hinton is at least as good as plain on 100.0%" in line
    assert "where it says not (1), on 0.0% (-0.0200)" in line
    # log loss: lower is better, so hinton's lower loss is a gain
    check = verdict_check([task(True, 0.5, 0.4, 0.4), task(False, 0.5, 0.6, 0.5)], "log_loss")
    assert check["helps"]["hinton_gain_over_plain"] == pytest.approx(0.1)
    assert check["does_not_help"]["hinton_at_least_plain"] == 0.0
    # a verdict that always says yes has nothing to compare
    assert describe_verdict_check(verdict_check(per_task[:2])) is None


@pytest.mark.parametrize("skill", [True, False])
def test_the_model_keeps_how_its_verdict_did_out_of_bag(skill):
    # hinton was better on test on the first six tables, plain on the other six; the model
    # predicts hinton +0.05 where it was better (skill) or where it was worse (none)
    tasks = _tasks(MIN_TASKS + 2, hinton_test=0.85)
    for i, task in enumerate(tasks):
        if i >= 6:
            tasks[task][1] = meta_model.MetaRow(task, {"n_rows": 100.0 + i}, HINTON, 0.8,
                                                0.75, 0.9, portfolio=1)
    in_bag = {meta_model.dataset_of(t): np.arange(BOOTSTRAP_GROUPS) % 2 == 0 for t in tasks}

    def predict(group, row):
        task, candidate = divmod(row, 2)
        return 0.0 if candidate == 0 else (0.05 if (task < 6) == skill else -0.05)

    level, check = choose_verdict(tasks, _fitted(tasks, predict, in_bag))
    said_yes, said_no = check["helps"], check["does_not_help"]
    assert said_yes["tasks"] == said_no["tasks"] == 6
    assert said_yes["hinton_gain_over_plain"] == pytest.approx(0.05 if skill else -0.05)
    assert said_no["hinton_gain_over_plain"] == pytest.approx(-0.05 if skill else 0.05)
    assert tells_apart(check) is skill
    too_few = _tasks(MIN_TASKS - 1, hinton_test=0.85)
    assert choose_verdict(too_few, _fitted(too_few, predict, in_bag)) == (DEFAULT_LEVEL, None)
