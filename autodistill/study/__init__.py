"""The search: the space (declared params restricted by a YAML file), the Optuna study
and its workers (``autodistill search``).

May import: store, training, data, registry and the foundation modules.
"""

from __future__ import annotations

from autodistill._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Interrupted": "job",
    "Job": "job",
    "NO_TEACHER": "job",
    "Objective": "job",
    "ProgressFn": "job",
    "Stop": "job",
    "load_inputs": "job",
    "open_run_storage": "job",
    "quiet_optuna": "job",
    "sampler_seed": "job",
    "MAX_STUDY_NAME": "options",
    "PLAIN_SUFFIX": "options",
    "checked_options": "options",
    "default_study_name": "options",
    "study_name": "options",
    "teacher_for": "options",
    "refuse_other_metric": "options",
    "PLAIN_SPACE": "plain",
    "PLAIN_TRIALS": "plain",
    "plain_study_name": "plain",
    "plain_tuned_best": "plain",
    "run_plain_tuned": "plain",
    "Heartbeats": "population_worker",
    "default_population": "population_worker",
    "train_trials": "population_worker",
    "PRESETS_RUN_LAST": "queue",
    "STARTUP_TRIALS": "queue",
    "create_study": "queue",
    "enqueue_pipelines": "queue",
    "make_sampler": "queue",
    "preset_pipelines": "queue",
    "queue_presets_when_due": "queue",
    "trial_counts": "queue",
    "uncounted": "queue",
    "best_trial": "queue",
    "TaskAdvisor": "run",
    "run_search": "run",
    "summarize": "summary",
    "FamilySpace": "space",
    "Fixed": "space",
    "SEARCHED_TRAINING": "space",
    "Space": "space",
    "build_space": "space_files",
    "load_space": "space_files",
    "shipped_spaces": "space_files",
    "TWINS_ATTR": "twin",
    "no_teacher_pipeline": "twin",
    "record_twin_of_best": "twin",
    "twins_of": "twin",
    "run_parallel": "worker",
    "work": "worker",
    "worker_main": "worker",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
