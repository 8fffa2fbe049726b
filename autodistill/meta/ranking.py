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
   pick beyond the verdict's level: the model's ``verdict_level``-th percentile of
   their paired difference is above 0. That level is not fixed: each fitted model
   chooses it on its own training tasks, out of bag (:mod:`autodistill.meta.verdict_level`),
   as the one that best balances recommending the teacher where plain was better
   against recommending plain where ``hinton`` was better. Then the teacher pick goes
   first: the ``hinton`` preset when it is one of those, unless another teacher
   candidate beats ``hinton`` beyond the interval (the 10th percentile, as in 1);
   otherwise the one with the highest lower end. When it does not help, the
   teacherless pick goes first.
3. The rest follow by predicted score.

A teacher no better than chance on the task's validation split (by accuracy and by
balanced accuracy alike) has nothing to teach that the labels do not say: whatever the
model predicts, distillation is then said not to help and the teacherless pick goes first.

Without a default among the candidates (a database of the user's own studies only), the
highest predicted candidate of its kind stands in for it. Without any teacherless
candidate, distillation helps when a teacher candidate's predicted gain over plain_tuned
is above 0 at the verdict's level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autodistill.meta.candidates import pipeline_key
from autodistill.meta.model import MetaModel, group_means, group_percentile, summarise_trees
from autodistill.training.pipeline import Pipeline

__all__ = ["DEFAULT_LEVEL", "FirstPick", "LEAVE_DEFAULT_LEVEL", "Ranking", "VERDICT_LEVELS",
           "default_candidates", "first_pick", "first_picks", "rank_candidates"]

#: The percentile of a paired difference that must be above 0 for a candidate to replace
#: a default (the 10th: "beyond the interval").
LEAVE_DEFAULT_LEVEL = 10.0
#: The verdict's level when the model has not chosen one (too few tasks to choose on).
DEFAULT_LEVEL = 10.0
#: The levels a fitted model chooses its verdict's from (:mod:`autodistill.meta.verdict_level`).
VERDICT_LEVELS = (10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0)


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
            the highest lower end), and the paired difference over the bootstrap groups:
            its median and interval (its ``level``-th to ``100 - level``-th percentile);
            None without a teacher or a teacherless candidate.
        level: The verdict's level: the percentile of the paired difference that must
            be above 0 for distillation to help (chosen when the model was fitted).
        versus_tuned: Without a teacherless candidate, ``(index, gain, lo, hi)``: the
            teacher candidate with the highest ``level``-th percentile of its predicted
            gain over plain_tuned, that gain's median over the groups and its ``level``-th
            to ``100 - level``-th percentile (distillation helps when that percentile is
            above 0); else None.
        teacher_at_chance: The task's teacher is no better than chance on validation, so
            distillation was said not to help whatever the model predicted.
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
    level: float = DEFAULT_LEVEL
    versus_tuned: tuple[int, float, float, float] | None = None
    teacher_at_chance: bool = False


def default_candidates(candidates: Sequence[dict[str, Any]]) -> list[int]:
    """The indices of the ``plain`` and ``hinton`` presets among ``candidates`` (as a
    search space states them: the recipe's ``"auto"`` settings unresolved), those present."""
    from autodistill.study.queue import preset_pipelines

    keys = [pipeline_key(doc) for doc in candidates]
    presets = (pipeline_key(preset.to_dict()) for preset in preset_pipelines())
    return [keys.index(key) for key in presets if key in keys]


def _lower(groups: np.ndarray, others: list[int], base: int, levels: Any) -> np.ndarray:
    """The ``levels``-th percentiles (one level: ``[len(others)]``; several: ``[levels,
    len(others)]``), over the bootstrap groups, of each of ``others``' gain minus
    ``base``'s (``groups``: the groups' mean predictions ``[groups, n]``)."""
    return group_percentile(groups[:, others] - groups[:, [base]], levels)


def _safe_choice(groups: np.ndarray, default: int | None, pool: list[int]) -> int:
    """``default``, unless a candidate of ``pool`` (best predicted first) beats it beyond
    the interval (:data:`LEAVE_DEFAULT_LEVEL`): then the best predicted of those. Without a
    default, ``pool``'s first."""
    if default is None:
        return pool[0]
    others = [i for i in pool if i != default]
    if not others:
        return default
    lower = _lower(groups, others, default, LEAVE_DEFAULT_LEVEL)
    better = [i for i, lo in zip(others, lower, strict=True) if lo > 0]
    return better[0] if better else default


@dataclass(frozen=True)
class FirstPick:
    """What the rule decides from the groups' predictions (see :func:`first_pick`)."""

    first: int | None
    plain: int | None
    helps: bool | None
    versus: int | None


def first_picks(groups: np.ndarray, order: list[int], uses: Sequence[bool],
                defaults: Sequence[int], levels: Sequence[float]) -> list[FirstPick]:
    """The module's rule on one task at each of ``levels``: the candidate that goes first,
    the teacherless pick, whether distillation helps (None: no teacherless candidate to
    compare with) and the teacher candidate compared with the plain pick.

    ``groups``: the bootstrap groups' mean predicted gains ``[groups, n]``; ``order``:
    candidates best predicted first; a level: the percentile of the paired difference
    that must be above 0 for distillation to help (the model's verdict level). Several
    levels at once share what does not depend on the level
    (:mod:`autodistill.meta.verdict_level` replays the rule at each)."""
    teacherless = [i for i in order if not uses[i]]
    teachers = [i for i in order if uses[i]]
    plain_default = next((i for i in defaults if not uses[i]), None)
    teacher_default = next((i for i in defaults if uses[i]), None)
    plain = _safe_choice(groups, plain_default, teacherless) if teacherless else None
    if plain is None or not teachers:
        first = (_safe_choice(groups, teacher_default, teachers) if plain is None and teachers
                 else plain)
        return [FirstPick(first, plain, None, None) for _ in levels]
    safe = _safe_choice(groups, teacher_default, teachers)
    picks = []
    for lower in np.atleast_2d(_lower(groups, teachers, plain, list(levels))):
        beyond = [i for i, lo in zip(teachers, lower, strict=True) if lo > 0]
        pick = safe if safe in beyond else teachers[int(np.argmax(lower))]
        picks.append(FirstPick(pick if beyond else plain, plain, bool(beyond), pick))
    return picks


def first_pick(groups: np.ndarray, order: list[int], uses: Sequence[bool],
               defaults: Sequence[int], level: float) -> FirstPick:
    """:func:`first_picks` at one level."""
    return first_picks(groups, order, uses, defaults, [level])[0]


def rank_candidates(model: MetaModel, meta: dict[str, float], teacher_valid: float,
                    candidates: Sequence[dict[str, Any]],
                    support: dict[str, int] | None = None,
                    n_train: int | None = None,
                    defaults: Sequence[int] | None = None,
                    teacher_at_chance: bool = False) -> Ranking:
    """Rank ``candidates`` by the module's rule: a default first unless a candidate is
    predicted to beat it beyond the interval; the rest by predicted score (ties to the
    pipeline seen on more tasks, ``support``). ``n_train``: the task's training rows
    (``"auto"`` settings are encoded resolved). ``defaults``: the indices of the
    ``plain`` and ``hinton`` presets among ``candidates``, when the caller knows them
    (else :func:`default_candidates` finds them). ``teacher_at_chance``: the task's
    teacher is no better than chance on validation (see the module docstring).

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
    level = model.verdict_level
    groups = group_means(per_tree)
    decided = first_pick(groups, order, uses, defaults, level)
    versus = None
    if decided.versus is not None:
        difference = groups[:, decided.versus] - groups[:, decided.plain]
        # the median, read as the interval is: a mean could lie outside a narrow interval
        lo, mid, hi = group_percentile(difference, [level, 50, 100 - level])
        versus = (decided.versus, float(mid), float(lo), float(hi))
    helps = bool(decided.helps)
    versus_tuned = None
    teachers = [i for i in range(len(candidates)) if uses[i]]
    if decided.helps is None and teachers:
        # no teacherless candidate to compare with: the gain over plain_tuned decides, at
        # the same level
        lower = group_percentile(groups[:, teachers], level)
        best = teachers[int(np.argmax(lower))]
        lo, mid, hi = group_percentile(groups[:, best], [level, 50, 100 - level])
        versus_tuned = (best, float(mid), float(lo), float(hi))
        helps = bool(lower.max() > 0)
    first = decided.first
    if teacher_at_chance:
        helps = False
        first = decided.plain if decided.plain is not None else first
    if first is not None:
        order = [first, *(i for i in order if i != first)]
    return Ranking(order, scores, intervals, gains, gain_intervals, uses, helps,
                   decided.plain, versus, level, versus_tuned, teacher_at_chance)
