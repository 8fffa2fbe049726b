"""The meta-model: from (dataset meta-features, pipeline) to a predicted score.

Training rows are trials: a task's meta-features, the pipeline tried and its validation
score. The target is normalised per task as AutoDistiller does, ``ratio = student valid
accuracy / teacher valid accuracy``, and split in two parts that trees learn well:

* a *task-level* model predicts a task's mean ratio from its meta-features;
* a *ranking* model predicts a pipeline's ratio minus its task's mean (its gain relative
  to the other pipelines on that task) from meta-features plus the pipeline encoding.

The predicted score is ``teacher_valid_accuracy * (task_mean + relative_gain)``; the
interval comes from the spread of the ranking ensemble's trees (10th-90th percentile).
Where training tasks close in meta-feature space ran the very pipeline, their measured
relative gains are blended in (a kernel-weighted mean, with the trees' prediction as
the prior; see :class:`_Neighbours`), so direct evidence beats extrapolation.
Both are extremely randomised tree ensembles: refitting on a few thousand rows takes
well under two seconds, so nothing is ever pickled: the model is refitted from the
database's rows and memoised in-process by their content hash.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autodistill.components import FAMILIES
from autodistill.metafeatures import META_FEATURES
from autodistill.params import Categorical, Float, Int
from autodistill.pipeline import TRAINING_PARAMS

__all__ = ["MetaRow", "MetaModel", "PipelineEncoder", "fit_meta_model"]


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

    @property
    def ratio(self) -> float:
        """Validation score relative to the teacher's."""
        return self.valid / max(self.teacher_valid, 1e-6)


def _scaled(decl: Any, value: Any) -> float:
    """A declared numeric param mapped to [0, 1] within its range (log when declared)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return -1.0
    if decl.log and decl.low > 0 and value > 0:
        lo, hi, value = math.log(decl.low), math.log(decl.high), math.log(value)
    else:
        lo, hi = decl.low, decl.high
    return 0.0 if hi == lo else min(max((value - lo) / (hi - lo), 0.0), 1.0)


class PipelineEncoder:
    """Encodes pipeline documents as fixed-length vectors.

    One-hot over the component names of each family (those seen in training plus every
    registered one), each declared numeric param scaled to [0, 1] (-1 when its component
    is not chosen), each categorical param one-hot, and the training settings.
    """

    def __init__(self, pipelines: Iterable[dict[str, Any]]) -> None:
        from autodistill.registry import get_registry

        registry = get_registry()
        names = {family: set(registry.names(family)) for family in FAMILIES}
        for doc in pipelines:
            for family in FAMILIES:
                names[family].add(doc.get(family, {}).get("name", "none"))
        self.names = {family: sorted(values) for family, values in names.items()}
        self.params: list[tuple[str, str, str, Any]] = []
        for family in FAMILIES:
            for name in self.names[family]:
                comps = registry.components[family]
                if name in comps:
                    for pname, decl in comps[name].cls.params.items():
                        self.params.append((family, name, pname, decl))
        self.columns = (
            [f"{f}={n}" for f in FAMILIES for n in self.names[f]]
            + [f"{f}.{n}.{p}" for f, n, p, _ in self.params]
            + [f"training.{p}" for p in TRAINING_PARAMS]
        )

    def encode(self, doc: dict[str, Any]) -> list[float]:
        """The vector of one pipeline document."""
        out: list[float] = []
        for family in FAMILIES:
            chosen = doc.get(family, {}).get("name", "none")
            out.extend(1.0 if chosen == n else 0.0 for n in self.names[family])
        for family, name, pname, decl in self.params:
            spec = doc.get(family, {})
            if spec.get("name") != name:
                out.append(-1.0)
                continue
            value = spec.get("params", {}).get(pname, decl.default)
            if isinstance(decl, Categorical):
                choices = list(decl.choices)
                out.append(choices.index(value) / max(len(choices) - 1, 1)
                           if value in choices else -1.0)
            elif isinstance(decl, (Float, Int)):
                out.append(_scaled(decl, value))
            else:
                out.append(-1.0)
        training = doc.get("training", {})
        for pname, decl in TRAINING_PARAMS.items():
            value = training.get(pname, decl.default)
            if isinstance(decl, Categorical):
                out.append(float(value))
            else:
                out.append(_scaled(decl, value))
        return out


def _meta_vector(meta_features: dict[str, float]) -> list[float]:
    return [float(meta_features.get(name, 0.0)) for name in META_FEATURES]


class MetaModel:
    """A fitted meta-model; see the module docstring. Build it with :func:`fit_meta_model`."""

    def __init__(self, encoder: PipelineEncoder, task_model: Any, rank_model: Any,
                 n_rows: int, n_tasks: int, neighbours: _Neighbours | None = None) -> None:
        self.encoder = encoder
        self.task_model = task_model
        self.rank_model = rank_model
        self.n_rows = n_rows
        self.n_tasks = n_tasks
        self.neighbours = neighbours

    def predict(self, meta_features: dict[str, float], teacher_valid: float,
                pipelines: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted validation scores of ``pipelines`` and their [lo, hi] intervals.

        Returns:
            ``(scores, intervals)`` with shapes ``[n]`` and ``[n, 2]``, on the accuracy
            scale, clipped to [0, 1].
        """
        meta = _meta_vector(meta_features)
        task_mean = float(self.task_model.predict(np.asarray([meta]))[0])
        x = np.asarray([meta + self.encoder.encode(doc) for doc in pipelines])
        per_tree = np.stack([tree.predict(x) for tree in self.rank_model.estimators_])
        relative = per_tree.mean(0)
        lo, hi = np.percentile(per_tree, [10, 90], axis=0)
        if self.neighbours is not None:
            blended = self.neighbours.blend(meta, pipelines, relative)
            lo, hi = lo + (blended - relative), hi + (blended - relative)
            relative = blended
        scale = max(teacher_valid, 1e-6)
        scores = np.clip(scale * (task_mean + relative), 0.0, 1.0)
        intervals = np.clip(scale * (task_mean + np.stack([lo, hi], axis=1)), 0.0, 1.0)
        return scores, intervals


def pipeline_key(doc: dict[str, Any]) -> str:
    """A canonical text of a pipeline document (equal pipelines, equal keys)."""
    return json.dumps(doc, sort_keys=True)


class _Neighbours:
    """Direct evidence: how each pipeline did on the training tasks near a new one.

    A kernel-weighted mean of a pipeline's relative score on the training tasks that ran
    it (weights ``exp(-(d / h)^2)`` over standardised meta-feature distances ``d``; ``h``
    the median distance from a task to its nearest other task) is blended with the
    trees' prediction, which counts as ``prior_weight`` tasks of evidence: with a close
    task that ran the pipeline, the evidence dominates; far from every task, the trees do.
    """

    def __init__(self, tasks: dict[str, list[MetaRow]], task_means: dict[str, float],
                 prior_weight: float = 1.0, bandwidth: float = 1.0) -> None:
        names = list(tasks)
        matrix = np.asarray([_meta_vector(tasks[n][0].meta_features) for n in names])
        self.mean = matrix.mean(0)
        self.std = matrix.std(0)
        self.std[self.std < 1e-9] = 1.0
        self.points = (matrix - self.mean) / self.std
        self.prior_weight = prior_weight
        distances = np.sqrt(((self.points[:, None, :] - self.points[None, :, :]) ** 2).sum(-1))
        np.fill_diagonal(distances, np.inf)
        nearest = distances.min(1) if len(names) > 1 else np.ones(1)
        self.bandwidth = bandwidth * float(np.median(nearest[np.isfinite(nearest)]) or 1.0)
        # pipeline key -> (task indices, relative scores)
        evidence: dict[str, dict[int, list[float]]] = {}
        for index, name in enumerate(names):
            for row in tasks[name]:
                evidence.setdefault(pipeline_key(row.pipeline), {}).setdefault(index, []).append(
                    row.ratio - task_means[name])
        self.evidence = {key: (np.asarray(list(per_task)),
                               np.asarray([float(np.mean(v)) for v in per_task.values()]))
                         for key, per_task in evidence.items()}

    def blend(self, meta: list[float], pipelines: Sequence[dict[str, Any]],
              prior: np.ndarray) -> np.ndarray:
        """The trees' ``prior`` relative scores, corrected by neighbouring evidence."""
        query = (np.asarray(meta) - self.mean) / self.std
        weights = np.exp(-((np.sqrt(((self.points - query) ** 2).sum(1)) / self.bandwidth) ** 2))
        out = prior.copy()
        for i, doc in enumerate(pipelines):
            found = self.evidence.get(pipeline_key(doc))
            if found is None:
                continue
            task_index, values = found
            w = weights[task_index]
            out[i] = (float((w * values).sum()) + self.prior_weight * prior[i]) / (
                float(w.sum()) + self.prior_weight)
        return out


def rows_digest(rows: Sequence[MetaRow]) -> str:
    """A content hash of the training rows (the in-process cache key)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([row.task, row.valid, row.teacher_valid, row.pipeline],
                                 sort_keys=True).encode())
    return digest.hexdigest()


_CACHE: dict[str, MetaModel] = {}


def fit_meta_model(rows: Sequence[MetaRow], *, seed: int = 0, n_trees: int = 100,
                   prior_weight: float = 1.0, bandwidth: float = 1.0) -> MetaModel:
    """Fit the task-level and ranking models on ``rows`` (memoised by their content).

    Raises:
        ValueError: when ``rows`` hold fewer than two tasks.
    """
    from sklearn.ensemble import ExtraTreesRegressor

    key = f"{rows_digest(rows)}:{seed}:{n_trees}:{prior_weight}:{bandwidth}"
    if key in _CACHE:
        return _CACHE[key]
    tasks: dict[str, list[MetaRow]] = {}
    for row in rows:
        tasks.setdefault(row.task, []).append(row)
    if len(tasks) < 2:
        raise ValueError("the meta-model needs studies of at least two datasets")
    encoder = PipelineEncoder(row.pipeline for row in rows)
    task_x, task_y, rank_x, rank_y = [], [], [], []
    task_means: dict[str, float] = {}
    for name, task_rows in tasks.items():
        mean_ratio = float(np.mean([r.ratio for r in task_rows]))
        task_means[name] = mean_ratio
        meta = _meta_vector(task_rows[0].meta_features)
        task_x.append(meta)
        task_y.append(mean_ratio)
        for r in task_rows:
            rank_x.append(meta + encoder.encode(r.pipeline))
            rank_y.append(r.ratio - mean_ratio)
    task_model = ExtraTreesRegressor(n_estimators=n_trees, min_samples_leaf=2,
                                     random_state=seed, n_jobs=1)
    task_model.fit(np.asarray(task_x), np.asarray(task_y))
    rank_model = ExtraTreesRegressor(n_estimators=n_trees, min_samples_leaf=3,
                                     max_features=0.5, random_state=seed, n_jobs=1)
    rank_model.fit(np.asarray(rank_x), np.asarray(rank_y))
    neighbours = _Neighbours(tasks, task_means, prior_weight=prior_weight, bandwidth=bandwidth)
    model = MetaModel(encoder, task_model, rank_model, len(rows), len(tasks), neighbours)
    _CACHE[key] = model
    return model
