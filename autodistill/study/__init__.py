"""The search: the space (declared params restricted by a YAML file), the Optuna study
and its workers (``autodistill search``).

May import: store, training, data, registry and the foundation modules.
"""

from __future__ import annotations

from autodistill._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "PLAIN_SPACE": "plain",
    "PLAIN_TRIALS": "plain",
    "plain_study_name": "plain",
    "run_plain_tuned": "plain",
    "FamilySpace": "space",
    "Fixed": "space",
    "SEARCHED_TRAINING": "space",
    "Space": "space",
    "load_space": "space",
    "shipped_spaces": "space",
    "create_study": "run",
    "default_study_name": "run",
    "enqueue_pipelines": "run",
    "TaskAdvisor": "run",
    "run_search": "run",
    "summarize": "run",
    "trial_counts": "run",
    "make_sampler": "worker",
    "preset_pipelines": "worker",
    "queue_presets_when_due": "worker",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
