"""The store: where studies live (URLs, masking, opening the database), the tables the
project owns, and reading Optuna studies back.

May import: the foundation modules.
"""

from __future__ import annotations

from autodistill._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "STATES": "access",
    "completed_trials": "access",
    "direction_sign": "access",
    "guard": "access",
    "iso": "access",
    "load_study": "access",
    "num": "access",
    "open_storage": "access",
    "param_importances": "access",
    "plain_trial": "access",
    "summarize": "access",
    "trial_brief": "access",
    "trial_components": "access",
    "trial_pipeline": "access",
    "trial_value": "access",
    "database_lock": "db_lock",
    "lock_path": "db_lock",
    "StudyLock": "journal",
    "journal_count_lock": "journal",
    "journal_owner_lock": "journal",
    "journal_path": "journal",
    "merge_journal": "journal",
    "mirror_to_journal": "journal",
    "open_journal": "journal",
    "RECORD_FORMAT": "record",
    "StudyRecord": "record",
    "read_study_record": "record",
    "record_from_attrs": "record",
    "write_study_record": "record",
    "MIGRATIONS": "schema",
    "SCHEMA_VERSION": "schema",
    "current_version": "schema",
    "kb_info": "schema",
    "kb_tasks": "schema",
    "kb_trials": "schema",
    "metadata": "schema",
    "migrate": "schema",
    "schema_version": "schema",
    "default_url": "storage",
    "delete_study": "storage",
    "ensure_schema": "storage",
    "get_engine": "storage",
    "is_postgres": "storage",
    "is_sqlite": "storage",
    "mask_url": "storage",
    "open_optuna_storage": "storage",
    "resolve_url": "storage",
    "storage_error": "storage",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
