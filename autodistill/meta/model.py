"""The meta-model: from (dataset meta-features, pipeline) to a predicted score.

Training rows are trials: a task's meta-features, the pipeline tried and its scores. The
target is what the pipeline *gains over its task's* ``plain_tuned`` (the best, chosen on
validation, of a search over a teacherless student's training settings alone, see
:mod:`autodistill.study.plain`), measured on a knowledge-base task's **test split** (every
knowledge-base trial and reference has one), else on validation
(:func:`task_outcomes`; a user's own studies teach on validation, their test split stays
the user's). Why test: a trial's validation score is the best epoch's, chosen
by early stopping on that same split, and the reference's is the maximum of 20 trials;
both read high, and the noisier a pipeline's training the higher (on suite 2's real
tables the ``plain`` preset trails plain_tuned by 0.013 on validation and leads it by
0.001 on test). The test split of a *knowledge-base* task was never used to choose
anything, so it is an unbiased measure of what a pipeline gives; the user's data is not
in the knowledge base, and ``meta evaluate`` leaves each dataset out whole. So the model learns when
distillation helps, not which learning rate is good nor which run was lucky on
validation. A task without a plain_tuned study (a user's study run without one) falls back
to its best teacherless trial (chosen on validation), a weaker reference. The target is
split in two parts that trees learn well:

* a *task-level* model predicts, from the meta-features, the task's plain_tuned score
  relative to its teacher's validation score, its mean gain and the spread (standard
  deviation) of its scores;
* a *ranking* model predicts a pipeline's standardised gain within its task, ``(gain -
  task mean gain) / task spread``, from meta-features plus the pipeline encoding. Without
  the standardisation, the noisy small tasks with large differences would dominate the
  squared error; with it, every task weighs the same. ``standardise=False`` fits the raw
  gain instead (measured in ``benchmarks/bench_meta_target.py``).

The predicted gain is ``mean_gain + spread * relative``. Each ensemble is fitted as 20
sub-ensembles, each on its own bootstrap sample of the datasets; the interval is the
10th-90th percentile of the sub-ensembles' predictions (task-level and ranking trees of a
sub-ensemble paired, so the uncertainty of the task's level is part of it): how much the
prediction would move with another draw of knowledge-base datasets
(:func:`summarise_trees`). The predicted score (the score expected
on unseen rows) adds the predicted plain_tuned score, ``teacher_valid * plain_ratio``. A
kernel blend of the nearest tasks' measured gains into the score was tried and measured
worse under that evaluation, so the nearest tasks are reported beside each recommendation
as evidence instead.

Both models are extremely randomised tree ensembles that refit on ten thousand rows in a
few seconds (:mod:`autodistill.meta.fitting` fits and keeps them). Nothing is ever
pickled: a fitted model is kept as plain arrays (:class:`~autodistill.meta.forest.Forest`)
in the cache directory, so the next command with the same database predicts without
refitting and without importing scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autodistill.families import FAMILIES
from autodistill.meta.encoding import PipelineEncoder
from autodistill.meta.features import META_FEATURES
from autodistill.meta.forest import Forest

__all__ = ["BOOTSTRAP_GROUPS", "Fitted", "MetaRow", "MetaModel", "dataset_of",
           "group_by_task", "group_means", "group_percentile", "group_size",
           "is_teacherless", "meta_vector", "portfolio_positions", "summarise_trees", "task_outcomes", "task_reference"]


@dataclass(frozen=True)
class MetaRow:
    """One trial as the meta-model sees it."""

    task: str
    meta_features: dict[str, float]
    pipeline: dict[str, Any]
    valid: float
    test: float | None
    teacher_valid: float
    #: Index into the knowledge base's shared portfolio, or None for other trials.
    portfolio: int | None = None
    #: Validation score of the task's plain_tuned best, or None when the task has no
    #: plain_tuned study (see :func:`task_reference`).
    reference: float | None = None
    #: Test score of that same plain_tuned trial (chosen on validation), or None.
    reference_test: float | None = None

    @property
    def ratio(self) -> float:
        """Validation score relative to the teacher's."""
        return self.valid / max(self.teacher_valid, 1e-6)


def is_teacherless(doc: dict[str, Any]) -> bool:
    """Whether a pipeline document trains without a teacher: every family ``none``."""
    return all(doc.get(family, {}).get("name", "none") == "none" for family in FAMILIES)


def task_reference(task_rows: Sequence[MetaRow]) -> float | None:
    """The validation score a task's pipelines are measured against: its plain_tuned
    best when known, else its best teacherless trial, else None (the task is not used)."""
    known = [r.reference for r in task_rows if r.reference is not None]
    if known:
        return float(known[0])
    plain = [r.valid for r in task_rows if is_teacherless(r.pipeline)]
    return max(plain) if plain else None


def task_outcomes(task_rows: Sequence[MetaRow]) -> tuple[np.ndarray, float] | None:
    """What the meta-model learns from one task: each trial's score and the reference it
    gains over, on the test split for a knowledge-base task whose trials and reference
    all have one, else on validation (see the module docstring); None when the task has
    no reference. A user's own study always teaches on validation: its test split is the
    user's held-out measure, and the recommender must not choose by it.

    The test reference is the test score of the trial the validation chose: plain_tuned's
    best, or without a plain_tuned study the best teacherless trial."""
    valid_reference = task_reference(task_rows)
    if valid_reference is None:
        return None
    validation = np.asarray([r.valid for r in task_rows], dtype=float), valid_reference
    if not task_rows[0].task.startswith("kb:"):
        return validation
    tests = [r.test for r in task_rows]
    known = [r.reference_test for r in task_rows if r.reference_test is not None]
    if known:
        test_reference: float | None = float(known[0])
    elif any(r.reference is not None for r in task_rows):
        test_reference = None  # a plain_tuned study without test scores
    else:
        plain = [r for r in task_rows if is_teacherless(r.pipeline)]
        test_reference = max(plain, key=lambda r: r.valid).test
    if test_reference is not None and all(t is not None for t in tests):
        return np.asarray(tests, dtype=float), test_reference
    return validation


def meta_vector(meta_features: dict[str, float]) -> list[float]:
    """A task's meta-features as the models' input columns, in :data:`META_FEATURES` order
    (0 for one the task lacks)."""
    return [float(meta_features.get(name, 0.0)) for name in META_FEATURES]


class MetaModel:
    """A fitted meta-model; see the module docstring. Build it with
    :func:`~autodistill.meta.fitting.fit_meta_model`."""

    def __init__(self, encoder: PipelineEncoder, task_model: Forest, rank_model: Forest,
                 n_rows: int, n_tasks: int, standardise: bool = True,
                 verdict_level: float = 10.0,
                 verdict_check: dict[str, Any] | None = None) -> None:
        self.encoder = encoder
        self.task_model = task_model
        self.rank_model = rank_model
        self.n_rows = n_rows
        self.n_tasks = n_tasks
        self.standardise = standardise
        #: The percentile of a teacher pipeline's paired difference with the plain pick
        #: that must be above 0 for distillation to help (chosen on the training tasks,
        #: :mod:`autodistill.meta.verdict_level`).
        self.verdict_level = verdict_level
        #: How the verdict did when replayed out of bag on the training tasks at that level
        #: (:func:`~autodistill.meta.verdict_level.verdict_check`); None when too few.
        self.verdict_check = verdict_check

    def predict_gain(self, meta_features: dict[str, float], pipelines: Sequence[dict[str, Any]],
                     n_train: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted gains of ``pipelines`` over the task's plain_tuned (on unseen rows, see
        :func:`task_outcomes`), and
        their [lo, hi] intervals (shapes ``[n]`` and ``[n, 2]``, accuracy points).
        ``n_train``: the task's training rows, to which ``"auto"`` settings resolve."""
        return summarise_trees(self.predict_gain_trees(meta_features, pipelines, n_train))

    def predict_gain_trees(self, meta_features: dict[str, float],
                           pipelines: Sequence[dict[str, Any]], n_train: int | None = None,
                           ) -> np.ndarray:
        """Each tree's predicted gain of each pipeline, shape ``[trees, n]``: what
        :meth:`predict_gain` summarises, and what a paired comparison of two pipelines on
        one task takes its interval from (the task's level cancels out of it)."""
        meta = meta_vector(meta_features)
        task_trees = self.task_model.predict_per_tree([meta])[:, 0, :]
        x = np.asarray([meta + self.encoder.encode(doc, n_train) for doc in pipelines])
        rank_trees = self.rank_model.predict_per_tree(x)[:, :, 0]
        if self.standardise:
            spread = math.exp(float(task_trees[:, 2].mean()))
            level = (task_trees[:, 1:2] if len(task_trees) == len(rank_trees)
                     else np.full((1, 1), float(task_trees[:, 1].mean())))
            per_tree = level + spread * rank_trees
        else:
            per_tree = rank_trees
        return per_tree

    def reference_score(self, meta_features: dict[str, float], teacher_valid: float) -> float:
        """The predicted score of the task's plain_tuned student on unseen rows."""
        ratio = float(self.task_model.predict([meta_vector(meta_features)])[0][0])
        return max(teacher_valid, 1e-6) * ratio

    def predict(self, meta_features: dict[str, float], teacher_valid: float,
                pipelines: Sequence[dict[str, Any]], n_train: int | None = None,
                ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted scores of ``pipelines`` on unseen rows and their [lo, hi] intervals:
        the predicted plain_tuned score plus :meth:`predict_gain` (``n_train`` likewise).

        Returns:
            ``(scores, intervals)`` with shapes ``[n]`` and ``[n, 2]``, on the accuracy
            scale, clipped to [0, 1].
        """
        gains, intervals = self.predict_gain(meta_features, pipelines, n_train)
        return self.scores_from_gains(meta_features, teacher_valid, gains, intervals)

    def scores_from_gains(self, meta_features: dict[str, float], teacher_valid: float,
                          gains: np.ndarray, intervals: np.ndarray,
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted gains (and their intervals) as scores: the predicted plain_tuned score
        plus the gain, clipped to [0, 1]."""
        base = self.reference_score(meta_features, teacher_valid)
        return np.clip(base + gains, 0.0, 1.0), np.clip(base + intervals, 0.0, 1.0)


#: Sub-ensembles a forest is fitted as, each on a bootstrap sample of the datasets: the
#: spread of their means is the interval of a prediction.
BOOTSTRAP_GROUPS = 20


def group_size(n_trees: int) -> int:
    """Trees per bootstrap group of a forest of ``n_trees`` (at least one)."""
    return max(1, n_trees // BOOTSTRAP_GROUPS)


def group_means(per_tree: np.ndarray) -> np.ndarray:
    """Per-tree predictions ``[trees, ...]`` as each bootstrap group's mean ``[groups, ...]``
    (the trees of a group are stored together, :mod:`autodistill.meta.fitting`)."""
    size = group_size(len(per_tree))
    return per_tree[: len(per_tree) // size * size].reshape(
        -1, size, *per_tree.shape[1:]).mean(1)


def group_percentile(values: np.ndarray, levels: Any, axis: int = 0) -> np.ndarray:
    """The ``levels``-th percentiles of ``values`` over bootstrap groups (along ``axis``),
    estimated median-unbiased (Hyndman and Fan's type 8).

    Why not numpy's default (linear interpolation): its 10th percentile of 7 normal values
    sits, in the median case, at the 16th percentile of their distribution, of 20 values
    at the 13th, so the same level would mean less caution where fewer groups are read
    (the verdict level is chosen on about 7 out-of-bag groups and applied on all 20).
    Type 8 sits at the 10th for both: the level means the same for any number of groups
    from about 7 on."""
    return np.percentile(values, levels, axis=axis, method="median_unbiased")


def summarise_trees(per_tree: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-tree predictions ``[trees, n]`` as their mean ``[n]`` and the [lo, hi] interval
    ``[n, 2]``: the 10th and 90th percentiles of the bootstrap groups' means
    (:func:`group_percentile`).

    That is the interval of the *expected* value (which datasets the knowledge base
    happens to hold being the uncertainty), not of one run's outcome: single trees spread
    as widely as the noisy test splits they were fitted on, which says nothing about
    whether a pipeline is better on average."""
    lo, hi = group_percentile(group_means(per_tree), [10, 90])
    return per_tree.mean(0), np.stack([lo, hi], axis=1)


def group_by_task(rows: Iterable[MetaRow]) -> dict[str, list[MetaRow]]:
    """``rows`` grouped by task, in order of first appearance."""
    tasks: dict[str, list[MetaRow]] = {}
    for row in rows:
        tasks.setdefault(row.task, []).append(row)
    return tasks


@dataclass(frozen=True)
class Fitted:
    """What :func:`_fit` fitted, and what it knows of the fit that the stored model does not
    keep (:mod:`autodistill.meta.verdict_level` chooses on it)."""

    task_model: Forest
    rank_model: Forest
    #: ``{dataset: [groups] bool}``: which bootstrap groups drew each dataset (the
    #: others' trees never saw it).
    in_bag: dict[str, np.ndarray]
    #: ``{task: [rows, features]}``: the ranking model's input for each of a task's rows.
    rank_x: dict[str, np.ndarray]


def portfolio_positions(task_rows: Sequence[MetaRow]) -> dict[int, int]:
    """A knowledge-base task's portfolio trials with a test score: ``{portfolio index:
    position in task_rows}``, the first trial of each pipeline (pipelines 0 and 1 are the
    ``plain`` and ``hinton`` presets)."""
    positions: dict[int, int] = {}
    for position, row in enumerate(task_rows):
        if row.portfolio is not None and row.test is not None:
            positions.setdefault(int(row.portfolio), position)
    return positions


def dataset_of(task: str) -> str:
    """The data spec of a task key (``kb:data|student`` or ``kb:data|student|teacher``); a
    user's study (``study:name``) is a dataset of its own."""
    return task.removeprefix("kb:").split("|", 1)[0]
