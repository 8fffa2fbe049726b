"""Where distillation gains: ``hinton``'s gain over ``plain`` on test against how far the
task's teacher is ahead of (or behind) its plain_tuned student on validation.

If the student learned what the teacher knows, ``hinton`` would gain most where the
teacher is furthest ahead. ``meta evaluate`` prints this for the held-out tasks. The
margin is read on validation, where a small table's ``plain_tuned`` (the best of many
trials) reads high, so it is tied to table size; whether the gain is the teacher's
knowledge or what any soft target gives is the question of a control experiment
(``benchmarks/bench_teacher_control.py``), not of this figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autodistill.metrics import get_metric

__all__ = ["MARGIN_BINS", "describe_hinton_by_margin", "hinton_by_teacher_margin"]

#: The bins of the teacher's validation margin over plain_tuned: behind by 5 points or
#: more, behind by less, level or ahead.
MARGIN_BINS = (("behind by 0.05 or more", -np.inf, -0.05), ("behind by less", -0.05, 0.0),
               ("level or ahead", 0.0, np.inf))


def hinton_by_teacher_margin(per_task: Sequence[dict[str, Any]],
                             tasks: Sequence[dict[str, Any]],
                             metric: str = "accuracy") -> dict[str, Any]:
    """``hinton``'s test gain over ``plain`` (``per_task``: the evaluation's records) by the
    teacher's ``teacher_margin_over_plain_tuned`` (``tasks``: ``kb_tasks.jsonl`` records):
    the Spearman correlation over the tasks with both, and per :data:`MARGIN_BINS` bin the
    tasks, the mean gain and the share where ``hinton`` is at least as good."""
    from scipy.stats import spearmanr

    sign = 1.0 if get_metric(metric).maximize else -1.0
    margin_of = {t["task"]: t.get("teacher_margin_over_plain_tuned") for t in tasks}
    pairs = [(margin_of[t["task"]], sign * (t["test"]["hinton"] - t["test"]["plain"]))
             for t in per_task if margin_of.get(t["task"]) is not None]
    if len(pairs) < 3:
        return {"tasks": len(pairs), "spearman": None, "bins": []}
    margins, gains = (np.asarray(v, dtype=float) for v in zip(*pairs, strict=True))
    bins = []
    for label, low, high in MARGIN_BINS:
        inside = (margins >= low) & (margins < high)
        bins.append({"margin": label, "tasks": int(inside.sum())} | ({} if not inside.any() else {
            "mean_hinton_gain_over_plain": round(float(gains[inside].mean()), 5),
            "hinton_at_least_plain": round(float((gains[inside] >= 0).mean()), 4)}))
    return {"tasks": len(pairs), "spearman": round(float(spearmanr(margins, gains)[0]), 3),
            "bins": bins}


def describe_hinton_by_margin(report: dict[str, Any]) -> str | None:
    """:func:`hinton_by_teacher_margin` in one sentence (None without a correlation)."""
    if report.get("spearman") is None:
        return None
    parts = [f"{b['margin']} ({b['tasks']} task{'s' * (b['tasks'] != 1)}) "
             f"{b['mean_hinton_gain_over_plain']:+.4f}" for b in report["bins"] if b["tasks"]]
    return ("By the teacher's validation margin over plain_tuned, hinton's mean test gain "
            f"over plain: {'; '.join(parts)}; Spearman {report['spearman']:+.3f} over "
            f"{report['tasks']} tasks.")
