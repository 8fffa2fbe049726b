"""Training: pipelines, students, teachers (their outputs computed once and cached),
the engine that trains a student with a pipeline, and ``distill``.

May import: registry, data and the foundation modules.
"""

from __future__ import annotations

from autodistill._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "distill": "distillation",
    "save_student": "distillation",
    "NonFiniteLossError": "engine",
    "TrainResult": "engine",
    "train_student": "engine",
    "ComponentSpec": "pipeline",
    "PRESETS": "pipeline",
    "Pipeline": "pipeline",
    "TRAINING_PARAMS": "pipeline",
    "load_pipeline": "pipeline",
    "MLP": "students",
    "STUDENT_FORMAT": "students",
    "build_student": "students",
    "count_params": "students",
    "parse_student_spec": "students",
    "AUTO_CONFIG": "teachers",
    "TeacherOutputs": "teachers",
    "clear_memo": "teachers",
    "default_device": "teachers",
    "difficulty": "teachers",
    "get_teacher": "teachers",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
