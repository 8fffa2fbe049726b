"""meta evaluate says where hinton gains: against how far the teacher leads plain_tuned."""

from __future__ import annotations

import pytest

from autodistill.meta.teacher_margin import describe_hinton_by_margin, hinton_by_teacher_margin


def _task(name, plain, hinton):
    return {"task": name, "test": {"plain": plain, "hinton": hinton}}


def test_hintons_gain_is_reported_by_the_teachers_margin():
    per_task = [_task("a", 0.80, 0.84), _task("b", 0.70, 0.72), _task("c", 0.90, 0.90),
                _task("d", 0.60, 0.58), _task("no-margin", 0.5, 0.9)]
    tasks = [{"task": "a", "teacher_margin_over_plain_tuned": -0.10},
             {"task": "b", "teacher_margin_over_plain_tuned": -0.02},
             {"task": "c", "teacher_margin_over_plain_tuned": 0.00},
             {"task": "d", "teacher_margin_over_plain_tuned": 0.05},
             {"task": "no-margin"}]
    report = hinton_by_teacher_margin(per_task, tasks)
    assert report["tasks"] == 4  # a task without a margin is left out
    assert report["spearman"] == pytest.approx(-1.0)  # the weaker the teacher, the more
    behind, less, ahead = report["bins"]
    assert (behind["tasks"], behind["mean_hinton_gain_over_plain"]) == (1, pytest.approx(0.04))
    assert (less["tasks"], less["hinton_at_least_plain"]) == (1, 1.0)
    assert ahead["tasks"] == 2 and ahead["mean_hinton_gain_over_plain"] == pytest.approx(-0.01)
    assert ahead["hinton_at_least_plain"] == 0.5
    line = describe_hinton_by_margin(report)
    assert "behind by 0.05 or more (1 task) +0.0400" in line
    assert "level or ahead (2 tasks) -0.0100; Spearman -1.000 over 4 tasks" in line


def test_a_minimised_metric_counts_a_lower_loss_as_a_gain():
    per_task = [_task(n, 0.5, 0.5 - g) for n, g in (("a", 0.1), ("b", 0.0), ("c", -0.1))]
    tasks = [{"task": n, "teacher_margin_over_plain_tuned": m}
             for n, m in (("a", -0.1), ("b", -0.01), ("c", 0.1))]
    report = hinton_by_teacher_margin(per_task, tasks, "log_loss")
    assert report["bins"][0]["mean_hinton_gain_over_plain"] == pytest.approx(0.1)
    assert report["spearman"] == pytest.approx(-1.0)


def test_too_few_tasks_say_nothing():
    report = hinton_by_teacher_margin([_task("a", 0.8, 0.9)],
                                      [{"task": "a", "teacher_margin_over_plain_tuned": 0.1}])
    assert report == {"tasks": 1, "spearman": None, "bins": []}
    assert describe_hinton_by_margin(report) is None
