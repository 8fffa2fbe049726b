"""The knowledge base's ``plain_tuned`` studies: one per task, shipped as JSON lines.

``studies/kb_plain_tuned.jsonl`` holds, per task, the best (by validation) of the task's
plain_tuned study (:mod:`autodistill.study.plain`: a student without a teacher, only its
training settings searched) and all its trials::

    {"task": "<data>|<student>", "best": {"number", "valid", "test", "training"},
     "trials": [{"number", "valid", "test", "seconds", "training", "metrics"?}, ...]}

(``metrics``: the trial's every metric, as its ``metrics`` attribute, when it has one).

It is the baseline that ``meta evaluate`` reports, the reference of the meta-model's
target (what a pipeline gains over its task's plain_tuned), and what ``recommend`` must
beat before it recommends a teacher.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["PLAIN_FILE", "plain_record", "plain_of", "read_plain_tuned", "parse_plain_tuned"]

PLAIN_FILE = "kb_plain_tuned.jsonl"


def _round(value: Any) -> float | None:
    return round(float(value), 6) if value is not None else None


def plain_record(task: str, study: Any) -> dict[str, Any] | None:
    """The exported line of one task's plain_tuned Optuna ``study``, or None when it has
    no completed trial."""
    trials = [t for t in study.get_trials(deepcopy=False)
              if t.state.name == "COMPLETE" and t.value is not None]
    if not trials:
        return None
    lines = [{"number": t.number, "valid": _round(t.value),
              "test": _round(t.user_attrs.get("test_accuracy")),
              "seconds": round(float(t.user_attrs.get("seconds") or 0.0), 3),
              "training": dict(t.user_attrs["pipeline"]["training"]),
              **({"metrics": t.user_attrs["metrics"]} if t.user_attrs.get("metrics") else {})}
             for t in sorted(trials, key=lambda t: t.number)]
    best = max(lines, key=lambda t: (t["valid"], -t["number"]))
    return {"task": task, "best": {k: best[k] for k in ("number", "valid", "test", "training")},
            "trials": lines}


def plain_of(plain: dict[str, dict[str, Any]], task: str) -> dict[str, Any] | None:
    """The plain_tuned record of knowledge-base task ``task`` (``data|student`` or
    ``data|student|teacher``: both teachers of one data and student share it), or None."""
    return plain.get(task) or plain.get("|".join(task.split("|")[:2]))


def parse_plain_tuned(text: str) -> dict[str, dict[str, Any]]:
    """Task key -> record of a ``kb_plain_tuned.jsonl`` text."""
    records = (json.loads(line) for line in text.splitlines() if line.strip())
    return {r["task"]: r for r in records}


def read_plain_tuned() -> dict[str, dict[str, Any]]:
    """The shipped plain_tuned records by task key (empty when none ship)."""
    try:
        text = resources.files("autodistill.studies").joinpath(PLAIN_FILE).read_text()
    except FileNotFoundError:
        return {}
    return parse_plain_tuned(text)
