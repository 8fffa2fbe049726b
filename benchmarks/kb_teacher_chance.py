"""Which knowledge-base tasks' teachers are no better than chance on validation.

``recommend`` puts the plain pipeline first when the task's teacher is no better than
chance on the validation split by accuracy and by balanced accuracy alike
(:func:`autodistill.training.teachers.teacher_at_chance`): its soft targets carry nothing
the labels do not. ``meta evaluate`` replays that on the knowledge base's tasks, so each
task record carries ``teacher_at_chance``; a build records it from the study
(:class:`~autodistill.store.record.StudyRecord`), and this script computes it for task
records built before it was recorded: a teacher whose validation accuracy (stored) is
above the split's majority share is not at chance; the others' teachers are trained again
(``get_teacher``, seed 0, as the build trained them; their validation accuracy must
match the stored one) for their balanced accuracy. Prints how many tasks' teachers are at
chance, per teacher; ``--write`` adds the field to ``studies/kb_tasks.jsonl`` and to the
staged task records in ``studies/kb-next/tasks``.

    python benchmarks/kb_teacher_chance.py [--write]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"


def chance_flags(tasks: list[dict]) -> dict[str, bool]:
    """Task key -> whether its teacher is at chance on validation (see the module)."""
    import warnings

    from autodistill.data.dataset import load_dataset
    from autodistill.training.teachers import get_teacher, teacher_at_chance

    flags: dict[str, bool] = {}
    datasets: dict[str, object] = {}
    for record in tasks:
        data = record["data"]
        if data not in datasets:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                datasets[data] = load_dataset(data, split_seed=0)
        dataset = datasets[data]
        y = np.asarray(dataset.y_valid)
        majority = max(np.bincount(y).max() / len(y), 1.0 / dataset.n_classes)
        if record["teacher_valid"] > majority + 1e-6:
            flags[record["task"]] = False
            continue
        outputs = get_teacher(record.get("teacher") or "auto", dataset, seed=0)
        if abs(outputs.valid_accuracy - record["teacher_valid"]) > 1e-5:
            raise SystemExit(f"{record['task']}: the teacher trained again reads "
                             f"{outputs.valid_accuracy:.6f} on validation, the knowledge base "
                             f"{record['teacher_valid']:.6f}: not the same teacher")
        flags[record["task"]] = teacher_at_chance(outputs, dataset, "valid")
        print(f"{record['task']}: teacher at chance on validation: {flags[record['task']]}",
              flush=True)
    return flags


def _with_flag(line: dict, flags: dict[str, bool]) -> dict:
    return {**line, "teacher_at_chance": flags[line["task"]]} if line["task"] in flags else line


def write_flags(flags: dict[str, bool]) -> None:
    """Add the flags to the shipped task records and to the staged ones."""
    shipped = STUDIES / "kb_tasks.jsonl"
    lines = [_with_flag(json.loads(line), flags) for line in shipped.open()]
    shipped.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
    for path in sorted((STUDIES / "kb-next" / "tasks").glob("*.jsonl")):
        lines = [json.loads(line) for line in path.open()]
        if lines and "skipped" not in lines[0] and lines[0]["task"] in flags:
            lines[0] = _with_flag(lines[0], flags)
            path.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))


def main() -> None:
    """Print the counts; with ``--write``, store the flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="add the field to the records")
    args = parser.parse_args()
    tasks = [json.loads(line) for line in (STUDIES / "kb_tasks.jsonl").open()]
    staged = [json.loads(path.open().readline())
              for path in sorted((STUDIES / "kb-next" / "tasks").glob("*.jsonl"))]
    shipped_keys = {t["task"] for t in tasks}
    tasks += [t for t in staged if "skipped" not in t and t["task"] not in shipped_keys]
    flags = chance_flags(tasks)
    at_chance = Counter(t.get("teacher") for t in tasks if flags[t["task"]])
    real = sum(flags[t["task"]] for t in tasks if t["data"].startswith("pkg:"))
    print(f"teachers at chance on validation: {sum(at_chance.values())} of {len(tasks)} tasks "
          f"({real} on real tables; " + ", ".join(f"{k} {v}" for k, v in sorted(at_chance.items()))
          + ")")
    if args.write:
        write_flags(flags)


if __name__ == "__main__":
    main()
