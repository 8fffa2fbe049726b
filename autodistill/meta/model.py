"""The meta-model: from (dataset meta-features, pipeline) to a predicted score.

Training rows are trials: a task's meta-features, the pipeline tried and its validation
score. The target is normalised per task as AutoDistiller does, ``ratio = student valid
accuracy / teacher valid accuracy``, and split in two parts that trees learn well:

* a *task-level* model predicts a task's mean ratio and the spread (standard deviation)
  of its ratios from its meta-features;
* a *ranking* model predicts a pipeline's standardised ratio within its task, ``(ratio -
  task mean) / task spread``, from meta-features plus the pipeline encoding. Without the
  standardisation, the noisy small tasks with large differences would dominate the
  squared error; with it, every task weighs the same (leave-one-dataset-out regret fell
  by an order of magnitude when it was introduced).

The predicted score is ``teacher_valid * (task_mean + spread * relative)``; the interval
comes from the spread of the ranking ensemble's trees (10th-90th percentile). A kernel
blend of the nearest tasks' measured gains into the score was tried and measured worse
under that evaluation, so the nearest tasks are reported beside each recommendation as
evidence instead.

Both models are extremely randomised tree ensembles that refit on a few thousand rows in
about a second. Nothing is ever pickled: a fitted model is kept as plain arrays
(:class:`~autodistill.meta.forest.Forest`) in the cache directory, keyed by a hash of the
training rows and the pipeline encoding, so the next command with the same database
predicts without refitting and without importing scikit-learn.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autodistill.families import FAMILIES
from autodistill.meta.features import META_FEATURES
from autodistill.meta.forest import Forest
from autodistill.params import Categorical, Float, Int
from autodistill.paths import write_atomically
from autodistill.training.pipeline import TRAINING_PARAMS

__all__ = ["MetaRow", "MetaModel", "PipelineEncoder", "fit_meta_model", "group_by_task"]

log = logging.getLogger(__name__)


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
        from autodistill.registry.access import get_catalog

        registry = get_catalog()
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
                    for pname, decl in comps[name].params.items():
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

    def __init__(self, encoder: PipelineEncoder, task_model: Forest, rank_model: Forest,
                 n_rows: int, n_tasks: int) -> None:
        self.encoder = encoder
        self.task_model = task_model
        self.rank_model = rank_model
        self.n_rows = n_rows
        self.n_tasks = n_tasks

    def predict(self, meta_features: dict[str, float], teacher_valid: float,
                pipelines: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted validation scores of ``pipelines`` and their [lo, hi] intervals.

        Returns:
            ``(scores, intervals)`` with shapes ``[n]`` and ``[n, 2]``, on the accuracy
            scale, clipped to [0, 1].
        """
        meta = _meta_vector(meta_features)
        task_mean, log_spread = (float(v) for v in self.task_model.predict([meta])[0])
        spread = math.exp(log_spread)
        x = np.asarray([meta + self.encoder.encode(doc) for doc in pipelines])
        per_tree = self.rank_model.predict_per_tree(x)[:, :, 0]
        relative = per_tree.mean(0)
        lo, hi = np.percentile(per_tree, [10, 90], axis=0)
        scale = max(teacher_valid, 1e-6)
        scores = np.clip(scale * (task_mean + spread * relative), 0.0, 1.0)
        intervals = np.clip(scale * (task_mean + spread * np.stack([lo, hi], axis=1)), 0.0, 1.0)
        return scores, intervals


def rows_digest(rows: Sequence[MetaRow]) -> str:
    """A content hash of the training rows (the in-process cache key)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([row.task, row.valid, row.teacher_valid, row.pipeline],
                                 sort_keys=True).encode())
    return digest.hexdigest()


_CACHE: dict[str, MetaModel] = {}


def group_by_task(rows: Iterable[MetaRow]) -> dict[str, list[MetaRow]]:
    """``rows`` grouped by task, in order of first appearance."""
    tasks: dict[str, list[MetaRow]] = {}
    for row in rows:
        tasks.setdefault(row.task, []).append(row)
    return tasks


#: Bumped when the stored arrays or the fitting change meaning.
MODEL_FORMAT = 1


def _model_path(key: str) -> Any:
    from autodistill.paths import cache_dir

    return cache_dir() / "metamodel" / f"{key}.npz"


def _load_stored(key: str) -> tuple[Forest, Forest] | None:
    try:
        with np.load(_model_path(key), allow_pickle=False) as arrays:
            return Forest.from_arrays(arrays, "task"), Forest.from_arrays(arrays, "rank")
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a damaged cache file is refitted, not fatal
        log.debug("stored meta-model ignored: %s", exc)
        return None


def _store(key: str, task_model: Forest, rank_model: Forest) -> None:
    try:
        path = _model_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {**task_model.arrays("task"), **rank_model.arrays("rank")}

        def save(tmp: str) -> None:
            with open(tmp, "wb") as handle:  # a handle: numpy would append .npz to a name
                np.savez_compressed(handle, **arrays)

        write_atomically(path, save)
    except OSError as exc:  # a read-only cache only costs the next command a refit
        log.debug("meta-model not stored: %s", exc)


def fit_meta_model(rows: Sequence[MetaRow], *, seed: int = 0, n_trees: int = 100,
                   keep: bool = True) -> MetaModel:
    """Fit the task-level and ranking models on ``rows``, or read them back from the
    cache directory when these rows were fitted before (memoised in-process too).

    ``keep=False`` fits without reading or writing the cache directory (the
    leave-one-dataset-out evaluation fits one throw-away model per task).

    Raises:
        ValueError: when ``rows`` hold fewer than two tasks.
    """
    tasks = group_by_task(rows)
    if len(tasks) < 2:
        raise ValueError("the meta-model needs studies of at least two datasets")
    encoder = PipelineEncoder(row.pipeline for row in rows)
    key = hashlib.sha256(json.dumps(
        [MODEL_FORMAT, rows_digest(rows), seed, n_trees, encoder.columns, list(META_FEATURES)]
    ).encode()).hexdigest()[:32]
    if key in _CACHE:
        return _CACHE[key]
    stored = _load_stored(key) if keep else None
    if stored is None:
        stored = _fit(rows, tasks, encoder, seed, n_trees)
        if keep:
            _store(key, *stored)
    model = MetaModel(encoder, *stored, len(rows), len(tasks))
    _CACHE[key] = model
    return model


def _fit(rows: Sequence[MetaRow], tasks: dict[str, list[MetaRow]], encoder: PipelineEncoder,
         seed: int, n_trees: int) -> tuple[Forest, Forest]:
    from sklearn.ensemble import ExtraTreesRegressor

    task_x, task_y, rank_x, rank_y = [], [], [], []
    for task_rows in tasks.values():
        ratios = np.asarray([r.ratio for r in task_rows])
        mean_ratio = float(ratios.mean())
        # Standardised within the task, so that every task weighs the same in the ranking
        # model whether its pipelines differ by 0.1% or by 20%.
        spread = max(float(ratios.std()), 1e-3)
        meta = _meta_vector(task_rows[0].meta_features)
        task_x.append(meta)
        task_y.append([mean_ratio, math.log(spread)])
        for r in task_rows:
            rank_x.append(meta + encoder.encode(r.pipeline))
            rank_y.append((r.ratio - mean_ratio) / spread)
    task_model = ExtraTreesRegressor(n_estimators=n_trees, min_samples_leaf=2,
                                     random_state=seed, n_jobs=-1)
    task_model.fit(np.asarray(task_x), np.asarray(task_y))
    rank_model = ExtraTreesRegressor(n_estimators=n_trees, min_samples_leaf=3,
                                     max_features=0.5, random_state=seed, n_jobs=-1)
    rank_model.fit(np.asarray(rank_x), np.asarray(rank_y))
    return Forest.from_sklearn(task_model), Forest.from_sklearn(rank_model)
