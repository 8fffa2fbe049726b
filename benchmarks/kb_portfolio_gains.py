"""What each portfolio pipeline gains over `plain_tuned` on the knowledge base's real tables.

Every suite-2 task ran the same 26 portfolio pipelines (`RECIPE_PORTFOLIO`), so the
knowledge base answers, with no further training, which fixed pipeline beats a tuned
student without a teacher and how often: per pipeline, over the real-table tasks (each
teacher apart and both together), the mean and median test gain over the task's
`plain_tuned` best (chosen on validation among its 20 trials), the share of tasks it is
ahead, level or behind, and within 1 point either way (for pipeline 0, the recipe's
`plain`, that is the recipe's regret). The pool pipelines (24: MUNGE x5, 25: mixup x3) answer whether
a teacher-labelled pool pays. Reads the shipped files (or a staging folder), trains nothing.

    python benchmarks/kb_portfolio_gains.py [--staged studies/kb-next] [--teacher auto]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def _label(doc: dict) -> str:
    kd = doc["kd_loss"]
    shown = {"temperature": "T", "alpha": "alpha", "beta": "beta"}
    kd_params = ", ".join(f"{shown[k]} {v}" for k, v in kd.get("params", {}).items() if k in shown)
    parts = [f"{kd['name']} ({kd_params})" if kd_params else kd["name"]] if kd["name"] != "none" else []
    parts += [doc[f]["name"] for f in ("augmentation", "curriculum", "mi_objective")
              if doc[f]["name"] != "none"]
    pool = doc["augmentation"].get("params", {}).get("pool_factor")
    training = doc["training"]
    extra = [f"lr {training['lr']}"] if training.get("lr") != 0.01 else []
    extra += [f"{training['steps']} steps"] if training.get("steps") != 4000 else []
    return " + ".join(parts or ["no teacher"]) + (f" (pool x{pool})" if pool else "") + (
        f" [{', '.join(extra)}]" if extra else "")


def main() -> None:
    """Print the table (Markdown)."""
    from autodistill.meta.kb_build import RECIPE_PORTFOLIO
    from autodistill.meta.kb_plain import plain_of, read_plain_tuned
    from autodistill.meta.knowledge import read_shipped

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--staged", type=Path, default=None,
                        help="a suite-2 staging folder instead of the shipped files")
    parser.add_argument("--teacher", default=None, help="one teacher's tasks only")
    args = parser.parse_args()
    if args.staged is not None:
        from autodistill.meta.kb_stage import collect_staged

        tasks, trials, plain_lines, _ = collect_staged(args.staged)
        plain = {record["task"]: record for record in plain_lines}
    else:
        tasks, trials = read_shipped()
        plain = read_plain_tuned()
    real = {t["task"] for t in tasks if t["data"].startswith("pkg:")
            and (args.teacher is None or t.get("teacher") == args.teacher)}
    gains: dict[int, list[float]] = {}
    for trial in trials:
        index = trial.get("portfolio")
        if index is None or trial["task"] not in real or plain_of(plain, trial["task"]) is None:
            continue
        reference = plain_of(plain, trial["task"])["best"]["test"]
        gains.setdefault(index, []).append(trial["test"] - reference)
    teacher = args.teacher or "auto and gbdt"
    print(f"{len(real)} real-table tasks (teacher: {teacher}); gain = the pipeline's test "
          "accuracy minus plain_tuned's best (chosen on validation), per task\n")
    print("| # | pipeline | tasks | mean gain | median gain | ahead | level | behind | within 1 pt |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for index in sorted(gains):
        values = np.asarray(gains[index])
        print(f"| {index} | {_label(RECIPE_PORTFOLIO[index])} | {len(values)} | "
              f"{values.mean():+.4f} | {np.median(values):+.4f} | {(values > 0).mean():.0%} | "
              f"{(values == 0).mean():.0%} | {(values < 0).mean():.0%} | "
              f"{(np.abs(values) <= 0.01).mean():.0%} |")


if __name__ == "__main__":
    main()
