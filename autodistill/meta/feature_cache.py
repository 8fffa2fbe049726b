"""What ``recommend`` remembers about a task between commands: its meta-features.

Computing them means loading and encoding the data, loading the cached teacher and
running it (torch and scikit-learn imports included): most of a ``recommend`` on a
dataset seen before. So the task summary (dataset sizes, meta-features, the teacher's
accuracies, whether it exposes hidden features) is kept as JSON in the cache directory,
keyed by everything it depends on: the data file's name and bytes (or the spec of a
bundled or synthetic set and the scikit-learn version that ships it), ``--target``,
``--split-seed``, the teacher (a TorchScript file's bytes), the student, the list of
meta-features, and the source of the modules that compute them. A changed file, option
or module is a new key; a damaged entry is recomputed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
from pathlib import Path
from typing import Any

from autodistill._stamps import file_digest, module_stamps
from autodistill.paths import write_atomically

__all__ = ["task_key", "read", "write"]

log = logging.getLogger(__name__)

#: Bumped when the stored summary changes layout or meaning.
FORMAT = 1
#: Modules whose code decides the summary.
_SHAPING_MODULES = ("autodistill.data.dataset", "autodistill.data.sources",
                    "autodistill.data.table_files", "autodistill.data.arff_files",
                    "autodistill.data.class_labels", "autodistill.data.dates",
                    "autodistill.data.input_schema", "autodistill.training.teachers",
                    "autodistill.training.user_teachers", "autodistill.training.teacher_columns",
                    "autodistill.training.students", "autodistill.students",
                    "autodistill.plugins.students", "autodistill.meta.features")


def _identity(spec: str, kind: str) -> list[Any]:
    path = Path(spec).expanduser()
    if path.is_file():  # the name too: the summary shows it
        return [kind, "file", path.name, file_digest(path)]
    extra = None
    if spec.startswith("builtin:"):
        try:
            extra = importlib.metadata.version("scikit-learn")
        except importlib.metadata.PackageNotFoundError:
            extra = None
    return [kind, "spec", spec, extra]


def task_key(data: str, *, target: str | None, teacher: str, student: str,
             split_seed: int) -> str:
    """The cache key of one (data, target, split, teacher, student) task."""
    from autodistill._version import __version__
    from autodistill.meta.features import META_FEATURES

    parts = [FORMAT, __version__, _identity(data, "data"), target, split_seed,
             _identity(teacher, "teacher"), student, list(META_FEATURES),
             module_stamps(_SHAPING_MODULES)]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def _path(key: str) -> Path:
    from autodistill.paths import cache_dir

    return cache_dir() / "tasks" / f"{key}.json"


def read(key: str) -> dict[str, Any] | None:
    """The summary stored under ``key``, or None."""
    try:
        doc = json.loads(_path(key).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.debug("cached task summary ignored: %s", exc)
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else None


def write(key: str, summary: dict[str, Any]) -> None:
    """Store ``summary`` under ``key`` (best effort: a read-only cache only costs time)."""
    try:
        path = _path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({**summary, "format": FORMAT}, sort_keys=True)
        write_atomically(path, lambda tmp: Path(tmp).write_text(text))
    except OSError as exc:
        log.debug("task summary not cached: %s", exc)
