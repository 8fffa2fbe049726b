"""A staged suite-2 build: finished tasks as committed files, and their promotion.

A rebuild of the knowledge base takes longer than one work session, and CI and the next
session start from a clean clone. So :mod:`autodistill.meta.kb_staged_build` writes each
FINISHED unit of work as one small, sorted JSON-lines file under a staging folder
(default ``studies/kb-next/``, which is committed but not packaged), and skips on start
every unit already there:

* ``plain_tuned/<slug>.jsonl``: the ``plain_tuned`` study of one (data, student), one
  line in the format of ``kb_plain_tuned.jsonl``;
* ``tasks/<slug>.jsonl``: one distillation task (data, student, teacher): first its task
  record (the format of ``kb_tasks.jsonl``), then its trials by number (the format of
  ``kb_trials.jsonl``).

A unit that cannot serve (a table with one class after cleaning, too few rows, ...) is
staged as a single line ``{"task": KEY, "skipped": REASON}``, so it counts as done and the
reason is kept. Nothing the recommender reads changes until :func:`promote_staged` finds
every unit of the suite staged and writes ``kb_tasks.jsonl``, ``kb_trials.jsonl``,
``kb_plain_tuned.jsonl`` (and ``kb_skipped.jsonl``) into the shipped folder; the database
loader's version is a hash of those files, so users' databases reload them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from autodistill.errors import AutodistillError
from autodistill.meta.kb_plain import PLAIN_FILE
from autodistill.meta.knowledge import TASKS_FILE, TRIALS_FILE
from autodistill.meta.task_suite import KBTask, kb_tasks

log = logging.getLogger(__name__)

__all__ = ["STAGE_DIR", "SKIPPED_FILE", "key_slug", "plain_path", "task_path", "write_unit",
           "read_unit", "stage_status", "collect_staged", "promote_staged"]

#: The default staging folder (relative to the working directory: the repository root).
STAGE_DIR = Path("studies") / "kb-next"
#: The promoted list of units that could not serve, with their reasons.
SKIPPED_FILE = "kb_skipped.jsonl"


def key_slug(key: str) -> str:
    """A short, file- and study-safe name of a task key: ``kb-<12 hex digits>``."""
    return "kb-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def plain_path(stage_dir: Path, task: KBTask) -> Path:
    """Where the staged ``plain_tuned`` study of ``task``'s (data, student) lives."""
    return stage_dir / "plain_tuned" / f"{key_slug(task.plain_key)}.jsonl"


def task_path(stage_dir: Path, task: KBTask) -> Path:
    """Where the staged distillation study of ``task`` lives."""
    return stage_dir / "tasks" / f"{key_slug(task.key)}.jsonl"


def write_unit(path: Path, lines: list[dict[str, Any]]) -> None:
    """Write one staged unit atomically (a crash leaves the old file or none, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(f".tmp{os.getpid()}")
    scratch.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
    os.replace(scratch, path)


def read_unit(path: Path) -> list[dict[str, Any]] | None:
    """The lines of a staged unit, or None when it is not staged (or unreadable: not JSON
    lines of objects; then it is built again)."""
    try:
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return None
    return lines if all(isinstance(line, dict) for line in lines) else None


def _read_to_collect(path: Path) -> list[dict[str, Any]]:
    """A staged unit's lines for an evaluation or a promotion: one that is there but
    unreadable is left out with a warning naming it (a build would make it again)."""
    lines = read_unit(path)
    if lines is None and path.exists():
        log.warning("%s: not JSON lines of objects (truncated or overwritten?); left out: "
                    "delete it and run `autodistill meta build-kb --suite 2` to build it "
                    "again", path)
    return lines or []


def _is_skip(lines: list[dict[str, Any]] | None) -> bool:
    return bool(lines) and "skipped" in lines[0]


def stage_status(stage_dir: Path, version: int = 2) -> dict[str, Any]:
    """What is staged of suite ``version``: counts of done, skipped and missing units.

    Returns:
        ``{"tasks": {"done", "skipped", "missing", "total"}, "plain_tuned": {...},
        "real_tables", "synthetic_tables", "missing": [keys]}``; ``real_tables`` and
        ``synthetic_tables`` count the tables with at least one finished task.
    """
    tasks = kb_tasks(version)
    status: dict[str, Any] = {}
    missing: list[str] = []
    served: dict[str, bool] = {}
    for part, paths in (("plain_tuned", {t.plain_key: plain_path(stage_dir, t) for t in tasks}),
                        ("tasks", {t.key: task_path(stage_dir, t) for t in tasks})):
        counts = {"done": 0, "skipped": 0, "missing": 0, "total": len(paths)}
        for key, path in sorted(paths.items()):
            lines = read_unit(path)
            state = "missing" if not lines else "skipped" if _is_skip(lines) else "done"
            counts[state] += 1
            if state == "missing":
                missing.append(key)
            if part == "tasks" and state == "done":
                served[key.split("|", 1)[0]] = key.startswith("pkg:")
        status[part] = counts
    status["real_tables"] = sum(served.values())
    status["synthetic_tables"] = len(served) - status["real_tables"]
    status["missing"] = missing
    return status


def collect_staged(stage_dir: Path, version: int = 2) -> tuple[list, list, list, list]:
    """What is staged so far (complete or not), in the shipped files' formats:
    ``(task records, trial records, plain_tuned records, skipped units)``."""
    task_lines, trial_lines, plain_lines, skipped = [], [], [], []
    tasks = kb_tasks(version)
    plains = {t.plain_key: plain_path(stage_dir, t) for t in tasks}
    for _, path in sorted(plains.items()):
        lines = _read_to_collect(path)
        if _is_skip(lines):
            skipped.append({**lines[0], "part": "plain_tuned"})
        else:
            plain_lines.extend(lines)
    for task in sorted(tasks, key=lambda t: t.key):
        lines = _read_to_collect(task_path(stage_dir, task))
        if not lines:
            continue  # not built yet (promotion checks that none is missing)
        if _is_skip(lines):
            skipped.append({**lines[0], "part": "kb"})
            continue
        task_lines.append(lines[0])
        trial_lines.extend(sorted(lines[1:], key=lambda t: t["number"]))
    return task_lines, trial_lines, plain_lines, skipped


def promote_staged(stage_dir: Path, out_dir: Path, version: int = 2) -> dict[str, Any]:
    """Replace the shipped knowledge base in ``out_dir`` by the complete staged build.

    Raises:
        AutodistillError: Some unit of the suite is not staged yet (nothing is written).

    Returns:
        ``{"tasks", "trials", "plain_tuned", "skipped", "real_tables", "synthetic_tables"}``.
    """
    status = stage_status(stage_dir, version)
    if status["missing"]:
        raise AutodistillError(
            f"{stage_dir}: {len(status['missing'])} units of suite {version} are not built "
            f"yet (first: {status['missing'][0]}); run `autodistill meta build-kb --suite "
            f"{version}` until none is left, then --promote")
    task_lines, trial_lines, plain_lines, skipped = collect_staged(stage_dir, version)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, lines in ((TASKS_FILE, task_lines), (TRIALS_FILE, trial_lines),
                        (PLAIN_FILE, plain_lines), (SKIPPED_FILE, skipped)):
        write_unit(out_dir / name, lines)
    return {"tasks": len(task_lines), "trials": len(trial_lines),
            "plain_tuned": len(plain_lines), "skipped": len(skipped),
            "real_tables": status["real_tables"],
            "synthetic_tables": status["synthetic_tables"]}
