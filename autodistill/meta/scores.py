"""The score the meta-model learns, for each ``--metric``.

The meta-model predicts a validation score where higher is better, clipped to [0, 1]
(:meth:`~autodistill.meta.model.MetaModel.predict`). ``accuracy``, ``balanced_accuracy``
and ``macro_f1`` are such scores already. ``log_loss`` is not (lower is better, unbounded),
so it is learned as ``exp(-log_loss)``, the geometric mean of the probability given to the
true class: the same order, in (0, 1]; :func:`from_score` turns a prediction back.

A knowledge-base trial holds its metrics in ``"metrics": {"valid": {...}, "test":
{...}}`` (a trial's ``metrics`` attribute, exported); the first knowledge bases held only
accuracy (``"valid"``/``"test"``), so :func:`trial_score` gives accuracy from those and
None for another metric: :func:`require_evidence` then refuses in one line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from autodistill.metrics import MetricError, get_metric

__all__ = ["to_score", "from_score", "trial_score", "plain_for_metric", "require_evidence"]


def to_score(metric: str, value: float | None) -> float | None:
    """``value`` of ``metric`` as the meta-model's score (higher is better, in [0, 1])."""
    if value is None:
        return None
    return math.exp(-float(value)) if metric == "log_loss" else float(value)


def from_score(metric: str, score: float) -> float:
    """A predicted score back in ``metric``'s own units."""
    return -math.log(max(float(score), 1e-12)) if metric == "log_loss" else float(score)


def trial_score(doc: dict[str, Any], metric: str, split: str = "valid") -> float | None:
    """The score (:func:`to_score`) of a knowledge-base trial record on ``split``, or None
    when the record lacks ``metric``."""
    stored = (doc.get("metrics") or {}).get(split) or {}
    if metric in stored and stored[metric] is not None:
        return to_score(metric, stored[metric])
    if metric == "accuracy":
        return to_score(metric, doc.get(split))
    return None


def plain_for_metric(plain: dict[str, dict[str, Any]], metric: str) -> dict[str, dict[str, Any]]:
    """``kb_plain_tuned.jsonl`` records with ``best`` re-chosen and re-scored by ``metric``
    (scores as :func:`to_score`); a record whose trials lack the metric is left out."""
    if metric == "accuracy":
        return plain
    out = {}
    for task, record in plain.items():
        scored = [(trial_score(t, metric), trial_score(t, metric, "test"), t)
                  for t in record.get("trials", ())]
        scored = [s for s in scored if s[0] is not None]
        if scored:
            valid, test, best = max(scored, key=lambda s: (s[0], -s[2].get("number", 0)))
            out[task] = {**record, "best": {**record["best"], "number": best.get("number"),
                                            "valid": valid, "test": test}}
    return out


def require_evidence(rows: Sequence[Any], metric: str, what: str) -> None:
    """Refuse, in one line, to learn ``metric`` from ``rows`` that hold none of it.

    Raises:
        MetricError: ``rows`` is empty for this metric (``what`` says where they came from).
    """
    get_metric(metric)
    if not rows:
        raise MetricError(
            f"--metric {metric}: {what} holds no trial scored by {metric} (knowledge bases "
            f"built before --metric stored accuracy only; rebuild it with `autodistill meta "
            f"build-kb`, run searches that store all metrics, or use --metric accuracy)")
