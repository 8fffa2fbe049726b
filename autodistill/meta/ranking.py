"""The ranking rule: which of a task's candidate pipelines ``recommend`` puts first.

The meta-model predicts each candidate's gain over the task's plain_tuned student, per
bootstrap group (:func:`~autodistill.meta.model.summarise_trees`). Taking the highest of
many such predictions picks the luckiest one (the optimiser's curse), so the rule moves
away from a default only on evidence, as safe policy improvement does (Laroche et al.,
"Safe Policy Improvement with Baseline Bootstrapping", ICML 2019): a candidate replaces
a default when it is predicted to beat it beyond the interval of their paired
difference (the 10th percentile of the groups' mean differences above 0).

1. The teacherless pick: the ``plain`` preset (the evidence-chosen training recipe),
   unless another teacherless candidate beats it beyond the interval.
2. Distillation helps when some candidate that uses the teacher beats the teacherless
   pick beyond the interval. Then the teacher pick goes first: the ``hinton`` preset
   when it is one of those, unless another teacher candidate beats ``hinton`` beyond
   the interval too; otherwise the one with the highest lower end. When it does not
   help, the teacherless pick goes first.
3. The rest follow by predicted score.

Without a default among the candidates (a database of the user's own studies only), the
highest predicted candidate of its kind stands in for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autodistill.meta.candidates import pipeline_key
from autodistill.meta.model import MetaModel, summarise_trees
from autodistill.training.pipeline import Pipeline

__all__ = ["Ranking", "default_candidates", "rank_candidates"]


@dataclass(frozen=True)
class Ranking:
    """The meta-model's verdict on a task's candidates (see :func:`rank_candidates`).

    Attributes:
        order: Candidate indices, best first.
        scores, intervals: Predicted scores on unseen rows ``[n]`` and their ``[n, 2]``
            intervals.
        gains, gain_intervals: Predicted gains over the task's plain_tuned, likewise.
        uses_teacher: Per candidate, whether it uses the teacher.
        distillation_helps: Whether some candidate that uses the teacher is predicted to
            beat the teacherless pick beyond the interval of their paired difference.
        plain: Index of the teacherless pick, or None when there is no teacherless candidate.
        versus_plain: ``(index, gain, lo, hi)``: the teacher candidate compared with the
            teacherless pick (the teacher pick when distillation helps, else the one with
            the highest lower end), and the paired difference's mean and interval; None
            without a teacher or a teacherless candidate.
    """

    order: list[int]
    scores: np.ndarray
    intervals: np.ndarray
    gains: np.ndarray
    gain_intervals: np.ndarray
    uses_teacher: list[bool]
    distillation_helps: bool
    plain: int | None
    versus_plain: tuple[int, float, float, float] | None = None


def default_candidates(candidates: Sequence[dict[str, Any]]) -> list[int]:
    """The indices of the ``plain`` and ``hinton`` presets among ``candidates`` (as a
    search space states them: the recipe's ``"auto"`` settings unresolved), those present."""
    from autodistill.study.queue import preset_pipelines

    keys = [pipeline_key(doc) for doc in candidates]
    presets = (pipeline_key(preset.to_dict()) for preset in preset_pipelines())
    return [keys.index(key) for key in presets if key in keys]


def _paired(per_tree: np.ndarray, others: list[int], base: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean and [lo, hi] interval of each of ``others``' gain minus ``base``'s."""
    return summarise_trees(per_tree[:, others] - per_tree[:, [base]])


def _safe_choice(per_tree: np.ndarray, default: int | None, pool: list[int]) -> int:
    """``default``, unless a candidate of ``pool`` (best predicted first) beats it beyond
    the interval: then the best predicted of those. Without a default, ``pool``'s first."""
    if default is None:
        return pool[0]
    others = [i for i in pool if i != default]
    if not others:
        return default
    _, bounds = _paired(per_tree, others, default)
    better = [i for i, lo in zip(others, bounds[:, 0], strict=True) if lo > 0]
    return better[0] if better else default


def rank_candidates(model: MetaModel, meta: dict[str, float], teacher_valid: float,
                    candidates: Sequence[dict[str, Any]],
                    support: dict[str, int] | None = None,
                    n_train: int | None = None,
                    defaults: Sequence[int] | None = None) -> Ranking:
    """Rank ``candidates`` by the module's rule: a default first unless a candidate is
    predicted to beat it beyond the interval; the rest by predicted score (ties to the
    pipeline seen on more tasks, ``support``). ``n_train``: the task's training rows
    (``"auto"`` settings are encoded resolved). ``defaults``: the indices of the
    ``plain`` and ``hinton`` presets among ``candidates``, when the caller knows them
    (else :func:`default_candidates` finds them).

    Why paired, and against the teacherless pick: that is the alternative the user
    actually has, and the task's predicted level cancels out of the difference, so the
    interval is that of the difference itself.
    """
    per_tree = model.predict_gain_trees(meta, candidates, n_train)
    gains, gain_intervals = summarise_trees(per_tree)
    scores, intervals = model.scores_from_gains(meta, teacher_valid, gains, gain_intervals)
    support = support or {}
    order = sorted(range(len(candidates)),
                   key=lambda i: (-round(float(scores[i]), 6),
                                  -support.get(pipeline_key(candidates[i]), 0), i))
    uses = [Pipeline.from_dict(doc).uses_teacher for doc in candidates]
    defaults = default_candidates(candidates) if defaults is None else list(defaults)
    teacherless = [i for i in order if not uses[i]]
    teachers = [i for i in order if uses[i]]
    plain_default = next((i for i in defaults if not uses[i]), None)
    teacher_default = next((i for i in defaults if uses[i]), None)
    plain = (_safe_choice(per_tree, plain_default, teacherless)
             if teacherless else None)
    versus, first = None, plain
    if plain is not None and teachers:
        mean, bounds = _paired(per_tree, teachers, plain)
        beyond = [i for i, lo in zip(teachers, bounds[:, 0], strict=True) if lo > 0]
        helps = bool(beyond)
        pick = _safe_choice(per_tree, teacher_default, teachers)
        if pick not in beyond:
            pick = teachers[int(np.argmax(bounds[:, 0]))]
        at = teachers.index(pick)
        versus = (pick, float(mean[at]), float(bounds[at, 0]), float(bounds[at, 1]))
        if helps:
            first = pick
    else:  # nothing to compare with: the interval against plain_tuned decides
        helps = any(uses[i] and gain_intervals[i, 0] > 0 for i in range(len(candidates)))
        if plain is None and teachers:
            first = _safe_choice(per_tree, teacher_default, teachers)
    if first is not None:
        order = [first, *(i for i in order if i != first)]
    return Ranking(order, scores, intervals, gains, gain_intervals, uses, helps, plain, versus)
