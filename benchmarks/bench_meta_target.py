"""Leave-one-dataset-out with the meta-model's ranking target standardised or raw.

The meta-model's target is a pipeline's gain over its task's plain_tuned (validation).
Its ranking model learns either the gain standardised within the task (every task
weighs the same) or the raw gain. Both are run through the same evaluation as
``autodistill meta evaluate`` on the same rows (the shipped knowledge base as loaded into
a fresh database, with the installed plugins' evidence, and its plain_tuned studies,
``studies/kb_plain_tuned.jsonl``), and printed side by side, with what the recommender
would pick if it never said "distillation will not help" (its top score alone).

    python benchmarks/bench_meta_target.py [--trees 100] [--storage URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from autodistill.meta.evaluation import evaluate_rows
from autodistill.meta.kb_plain import read_plain_tuned
from autodistill.meta.knowledge import load_meta_rows, read_shipped


def _line(name: str, report: dict) -> str:
    mine = report["methods"]["recommender"]
    tuned = report["methods"].get("plain_tuned", {})
    return (f"{name:<28} regret {mine['mean_regret']:.4f}  test {mine['mean_test_accuracy']:.4f}"
            f"  gain/plain_tuned {mine['mean_gain_over_plain_tuned']:+.4f}"
            f"  win vs plain_tuned {mine['win_rate'].get('plain_tuned', float('nan')):.2f}"
            f"  win vs plain {mine['win_rate']['plain']:.2f}"
            f"  win vs hinton {mine['win_rate']['hinton']:.2f}"
            f"  helps on {report['distillation_helps']:.0%}"
            f"  (plain_tuned test {tuned.get('mean_test_accuracy', float('nan')):.4f})")


def _top_score_only(report: dict) -> tuple[float, float]:
    """Share of tasks where the plain pipeline was put first, and the recommender's mean
    test accuracy had it always taken its top score instead."""
    per_task = report["per_task"]
    return (float(np.mean([not t["distillation_helps"] for t in per_task])),
            float(np.mean([t["top_score_test"] for t in per_task])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--storage", default=None,
                        help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.storage or f"sqlite:///{Path(folder) / 'kb.db'}"
        rows = load_meta_rows(url, include_studies=False)
    plain = read_plain_tuned()
    at_chance = {t["task"] for t in read_shipped()[0] if t.get("teacher_at_chance")}
    for standardise in (True, False):
        started = time.process_time()
        report = evaluate_rows(rows, n_trees=args.trees, plain=plain, standardise=standardise,
                               teachers_at_chance=at_chance)
        name = "standardised gain" if standardise else "raw gain"
        print(_line(name, report), f" [{time.process_time() - started:.0f} CPU-s]")
        share, top_only = _top_score_only(report)
        print(f"{'':<28} plain pipeline put first on {share:.0%} of tasks; always the top "
              f"score instead: test {top_only:.4f}")


if __name__ == "__main__":
    main()
