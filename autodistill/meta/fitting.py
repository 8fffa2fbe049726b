"""Fitting the meta-model (:mod:`autodistill.meta.model`), and keeping what was fitted.

:func:`fit_meta_model` fits both forests as bootstrap groups over datasets (:func:`_fit`),
has the model choose its verdict's level on its own training tasks out of bag
(:mod:`autodistill.meta.verdict_level`), and keeps the result: in-process, and as plain
arrays in the cache directory, keyed by a hash of the training rows and the pipeline
encoding, so that the next command with the same database predicts without refitting and
without importing scikit-learn. Nothing is ever pickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from autodistill.meta.encoding import PipelineEncoder
from autodistill.meta.features import META_FEATURES
from autodistill.meta.forest import Forest
from autodistill.meta.model import (
    Fitted,
    MetaModel,
    MetaRow,
    dataset_of,
    group_by_task,
    group_size,
    meta_vector,
    task_outcomes,
    task_reference,
)
from autodistill.meta.verdict_level import choose_verdict
from autodistill.paths import write_atomically

__all__ = ["MODEL_FORMAT", "fit_meta_model", "rows_digest"]

log = logging.getLogger(__name__)


def rows_digest(rows: Sequence[MetaRow]) -> str:
    """A content hash of the training rows (the in-process cache key)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([row.task, row.valid, row.test, row.teacher_valid,
                                  row.reference, row.reference_test, row.pipeline],
                                 sort_keys=True).encode())
    return digest.hexdigest()


_CACHE: dict[str, MetaModel] = {}


#: Bumped when the stored arrays or the fitting change meaning.
MODEL_FORMAT = 5


def _model_path(key: str) -> Any:
    from autodistill.paths import cache_dir

    return cache_dir() / "metamodel" / f"{key}.npz"


def _load_stored(key: str) -> tuple[Forest, Forest, float, dict[str, Any] | None] | None:
    try:
        with np.load(_model_path(key), allow_pickle=False) as arrays:
            return (Forest.from_arrays(arrays, "task"), Forest.from_arrays(arrays, "rank"),
                    float(arrays["verdict_level"]), json.loads(str(arrays["verdict_check"])))
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a damaged cache file is refitted, not fatal
        log.debug("stored meta-model ignored: %s", exc)
        return None


def _store(key: str, task_model: Forest, rank_model: Forest, verdict_level: float,
           verdict_check: dict[str, Any] | None) -> None:
    try:
        path = _model_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {**task_model.arrays("task"), **rank_model.arrays("rank"),
                  "verdict_level": np.asarray(verdict_level),
                  "verdict_check": np.asarray(json.dumps(verdict_check))}

        def save(tmp: str) -> None:
            with open(tmp, "wb") as handle:  # a handle: numpy would append .npz to a name
                np.savez_compressed(handle, **arrays)

        write_atomically(path, save)
    except OSError as exc:  # a read-only cache only costs the next command a refit
        log.debug("meta-model not stored: %s", exc)


def fit_meta_model(rows: Sequence[MetaRow], *, seed: int = 0, n_trees: int = 100,
                   keep: bool = True, standardise: bool = True) -> MetaModel:
    """Fit the task-level and ranking models on ``rows``, or read them back from the
    cache directory when these rows were fitted before (memoised in-process too).

    ``keep=False`` fits without reading or writing the cache directory (the
    leave-one-dataset-out evaluation fits one throw-away model per task).
    ``standardise=False`` fits the ranking model on raw gains (see the module docstring).

    Raises:
        ValueError: when ``rows`` hold fewer than two tasks with a reference score.
    """
    tasks = {task: task_rows for task, task_rows in group_by_task(rows).items()
             if task_reference(task_rows) is not None}
    if len(tasks) < 2:
        raise ValueError("the meta-model needs studies of at least two datasets, each with "
                         "a plain_tuned study or a teacherless trial")
    encoder = PipelineEncoder(row.pipeline for row in rows)
    key = hashlib.sha256(json.dumps(
        [MODEL_FORMAT, rows_digest(rows), seed, n_trees, standardise, encoder.columns,
         list(META_FEATURES)]).encode()).hexdigest()[:32]
    if key in _CACHE:
        return _CACHE[key]
    stored = _load_stored(key) if keep else None
    if stored is None:
        fitted = _fit(tasks, encoder, seed, n_trees, standardise)
        stored = fitted.task_model, fitted.rank_model, *choose_verdict(tasks, fitted)
        if keep:
            _store(key, *stored)
    task_model, rank_model, level, check = stored
    model = MetaModel(encoder, task_model, rank_model, sum(len(r) for r in tasks.values()),
                      len(tasks), standardise=standardise, verdict_level=level,
                      verdict_check=check)
    _CACHE[key] = model
    return model


def _fit(tasks: dict[str, list[MetaRow]], encoder: PipelineEncoder, seed: int, n_trees: int,
         standardise: bool) -> Fitted:
    """Both forests as :data:`BOOTSTRAP_GROUPS` sub-ensembles, each fitted on its own
    bootstrap sample of the datasets (the task-level and ranking trees of a group on the
    same sample, stored in group order so that they pair)."""
    from types import SimpleNamespace

    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.utils.parallel import Parallel, delayed

    task_x, task_y, task_of_row, rank_x, rank_y = [], [], [], [], []
    for number, task_rows in enumerate(tasks.values()):
        scores, reference = task_outcomes(task_rows)  # type: ignore[misc]
        gains = scores - reference
        mean_gain = float(gains.mean())
        # Standardised within the task, so that every task weighs the same in the ranking
        # model whether its pipelines differ by 0.1% or by 20%.
        spread = max(float(gains.std()), 1e-3)
        meta = meta_vector(task_rows[0].meta_features)
        task_x.append(meta)
        task_y.append([reference / max(task_rows[0].teacher_valid, 1e-6), mean_gain,
                       math.log(spread)])
        for r, gain in zip(task_rows, gains, strict=True):
            rank_x.append(meta + encoder.encode(r.pipeline))
            rank_y.append((gain - mean_gain) / spread if standardise else gain)
            task_of_row.append(number)
    names, dataset_of_task = np.unique([dataset_of(task) for task in tasks], return_inverse=True)
    task_x_, task_y_ = np.asarray(task_x), np.asarray(task_y)
    rank_x_, rank_y_ = np.asarray(rank_x), np.asarray(rank_y)
    task_of_row_ = np.asarray(task_of_row)
    size = group_size(n_trees)
    rng = np.random.default_rng(seed)
    draws = [rng.multinomial(len(names), np.full(len(names), 1 / len(names)))
             for _ in range(n_trees // size)]

    def fit_group(group: int) -> tuple[list[Any], list[Any]]:
        weight = draws[group][dataset_of_task].astype(float)
        kept, row_weight = weight > 0, weight[task_of_row_]
        rows_kept = row_weight > 0
        task_model = ExtraTreesRegressor(n_estimators=size, min_samples_leaf=2,
                                         random_state=seed * 1000 + group, n_jobs=1)
        task_model.fit(task_x_[kept], task_y_[kept], sample_weight=weight[kept])
        rank_model = ExtraTreesRegressor(n_estimators=size, min_samples_leaf=3,
                                         max_features=0.5, random_state=seed * 1000 + group,
                                         n_jobs=1)
        rank_model.fit(rank_x_[rows_kept], rank_y_[rows_kept],
                       sample_weight=row_weight[rows_kept])
        return task_model.estimators_, rank_model.estimators_

    # threads: the tree fitting releases the GIL; groups come back in order, so they pair
    fitted = Parallel(n_jobs=-1, prefer="threads")(
        delayed(fit_group)(group) for group in range(len(draws)))
    task_trees = [tree for task_part, _ in fitted for tree in task_part]
    rank_trees = [tree for _, rank_part in fitted for tree in rank_part]
    in_bag = {str(name): np.asarray([draw[d] > 0 for draw in draws])
              for d, name in enumerate(names)}
    rank_x_by_task = {task: rank_x_[task_of_row_ == number]
                      for number, task in enumerate(tasks)}
    return Fitted(Forest.from_sklearn(SimpleNamespace(estimators_=task_trees)),
                  Forest.from_sklearn(SimpleNamespace(estimators_=rank_trees)), in_bag,
                  rank_x_by_task)
