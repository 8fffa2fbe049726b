"""Data: specs to a :class:`Dataset` (loading, encoding fitted on train, the fixed
train/valid/test split, the fingerprint).

May import: the foundation modules.
"""

from __future__ import annotations

from autodistill._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "BUILTINS": "dataset",
    "DataSpec": "dataset",
    "Dataset": "dataset",
    "FILE_SUFFIXES": "dataset",
    "SPLIT": "dataset",
    "SYNTHETIC_FAMILIES": "dataset",
    "load_dataset": "dataset",
    "parse_spec": "dataset",
    "split_indices": "dataset",
    "MAX_ROWS": "real_tables",
    "MIN_ROWS": "real_tables",
    "RealTable": "real_tables",
    "SOURCES": "real_tables",
    "catalogue": "real_tables",
    "find_table": "real_tables",
    "load_table": "real_tables",
    "load_raw": "sources",
    "markdown_table": "table_checks",
    "table_problem": "table_checks",
    "usable_tables": "table_checks",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
