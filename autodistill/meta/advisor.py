"""The knowledge a search is given: a task's meta-features and a warm start's picks.

Search sits below the meta layer (the knowledge-base builder runs searches), so it is
handed this advisor by its caller instead of importing the recommender.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from autodistill.training.pipeline import Pipeline

__all__ = ["KnowledgeAdvisor"]

log = logging.getLogger(__name__)


class KnowledgeAdvisor:
    """:class:`autodistill.study.TaskAdvisor` backed by the meta-features and the
    recommender; what ``autodistill search`` and ``meta build-kb`` pass to
    :func:`autodistill.study.run_search`."""

    def task_features(self, dataset: Any, teacher: Any, student: str) -> dict[str, float]:
        """The task's meta-features with its student (see
        :func:`autodistill.meta.features.student_task_features`)."""
        from autodistill.meta.features import student_task_features

        return student_task_features(dataset, teacher, student)

    def first_pipelines(self, dataset: Any, teacher: Any, student: str, k: int,
                        url: str, metric: str = "accuracy") -> Sequence[Pipeline]:
        """The recommender's top ``k`` for the task by ``metric``, using the studies in
        ``url``; by accuracy, with a warning saying so, when the knowledge base holds no
        trial scored by ``metric`` (the shipped suite-1 knowledge base holds accuracy only)."""
        from autodistill.meta.recommender import recommend_pipelines
        from autodistill.metrics import MetricError

        try:
            return list(recommend_pipelines(dataset, teacher, student, top=k, storage=url,
                                            metric=metric))
        except MetricError:
            if metric == "accuracy":
                raise
        log.warning("--warm-start: the knowledge base holds no trial scored by %s; its "
                    "picks are the pipelines ranked by accuracy", metric)
        return list(recommend_pipelines(dataset, teacher, student, top=k, storage=url))
