"""Training: pipelines, students, teachers (their outputs computed once and cached),
the engine that trains a student with a pipeline, and ``distill``.

May import: registry, data and the foundation modules.
"""

from __future__ import annotations

from autodistill._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "distill": "distillation",
    "save_student": "distillation",
    "Member": "engine",
    "NonFiniteLossError": "engine",
    "TrainResult": "engine",
    "train_population": "engine",
    "train_student": "engine",
    "EnsembleModule": "gbdt_teacher",
    "GBDTModule": "gbdt_teacher",
    "GBDT_CONFIG": "gbdt_teacher",
    "GBDT_GRID": "gbdt_teacher",
    "ensemble": "gbdt_teacher",
    "fit_gbdt": "gbdt_teacher",
    "gbdt_log_proba": "gbdt_teacher",
    "MemberRun": "members",
    "Stacks": "members",
    "call_grouped": "members",
    "guarded": "members",
    "setup_member": "members",
    "stack_order": "members",
    "ComponentSpec": "pipeline",
    "PRESETS": "pipeline",
    "Pipeline": "pipeline",
    "TRAINING_PARAMS": "pipeline",
    "load_pipeline": "pipeline",
    "BatchedAdam": "population",
    "StackedMLP": "population",
    "copy_where": "population",
    "MemberEpochFn": "steps",
    "State": "steps",
    "Step": "steps",
    "begin_epoch": "steps",
    "member_selection": "steps",
    "MLP": "students",
    "STUDENT_FORMAT": "students",
    "build_student": "students",
    "count_params": "students",
    "parse_student_spec": "students",
    "SPLITS": "teacher_outputs",
    "TeacherOutputs": "teacher_outputs",
    "AUTO_CONFIG": "teachers",
    "clear_memo": "teachers",
    "default_device": "teachers",
    "difficulty": "teachers",
    "get_teacher": "teachers",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
