"""The knowledge-base tasks near a table: distances in meta-feature space.

Meta-features are standardised over the tasks compared with, and a table's distance to a
task is Euclidean in that space. :func:`nearest_tasks` names the evidence ``recommend``
shows and the ``nearest_task`` baseline of ``meta evaluate``; :func:`familiarity` says
whether a table lies farther from every knowledge-base task than those tasks lie from one
another, where the meta-model's predictions extrapolate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autodistill.meta.features import META_FEATURES
from autodistill.meta.model import MetaRow, dataset_of

__all__ = ["FAMILIAR_PERCENTILE", "familiarity", "nearest_tasks"]

#: A table is unlike the knowledge base when its nearest task is farther than this
#: percentile of the knowledge-base tasks' own distances to their nearest task of another
#: dataset (the distances ``meta evaluate``'s held-out tables had).
FAMILIAR_PERCENTILE = 95


def _standardised(meta_features: dict[str, float], tasks: dict[str, list[MetaRow]]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The tasks' meta-feature vectors and the query's, standardised over the tasks."""
    matrix = np.asarray([[tasks[n][0].meta_features.get(f, 0.0) for f in META_FEATURES]
                         for n in tasks])
    mean, std = matrix.mean(0), matrix.std(0)
    std[std < 1e-9] = 1.0
    query = (np.asarray([meta_features.get(f, 0.0) for f in META_FEATURES]) - mean) / std
    return (matrix - mean) / std, query


def nearest_tasks(meta_features: dict[str, float], tasks: dict[str, list[MetaRow]],
                  k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` tasks nearest to ``meta_features`` (standardised Euclidean distance)."""
    names = list(tasks)
    if not names:
        return []
    matrix, query = _standardised(meta_features, tasks)
    distances = np.sqrt(((matrix - query) ** 2).sum(1))
    order = np.argsort(distances, kind="stable")[:k]
    return [(names[i], float(distances[i])) for i in order]


def familiarity(meta_features: dict[str, float], tasks: dict[str, list[MetaRow]]
                ) -> dict[str, Any] | None:
    """How far a table is from the knowledge base, against how far its tables are from
    one another: the distance to the nearest task (as :func:`nearest_tasks` measures it),
    the :data:`FAMILIAR_PERCENTILE`-th percentile and the largest of each task's distance to
    its nearest task of another dataset, and whether the table lies beyond that percentile
    (``"unlike_knowledge_base"``: its predictions extrapolate from tables unlike it). None
    with tasks of fewer than two datasets."""
    names = list(tasks)
    datasets = np.asarray([dataset_of(name) for name in names])
    if len(set(datasets.tolist())) < 2:
        return None
    matrix, query = _standardised(meta_features, tasks)
    nearest = float(np.sqrt(((matrix - query) ** 2).sum(1)).min())
    own = np.empty(len(names))
    for i, row in enumerate(matrix):  # row by row: memory stays linear in the tasks
        distances = np.sqrt(((matrix - row) ** 2).sum(1))
        distances[datasets == datasets[i]] = np.inf
        own[i] = distances.min()
    usual = float(np.percentile(own, FAMILIAR_PERCENTILE))
    return {"nearest_distance": round(nearest, 3),
            f"knowledge_base_p{FAMILIAR_PERCENTILE}": round(usual, 3),
            "knowledge_base_max": round(float(own.max()), 3),
            "unlike_knowledge_base": bool(nearest > usual)}
