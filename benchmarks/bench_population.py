"""Trials per CPU-second of population training at K = 1, 8, 32, and its accuracy.

The trials are the knowledge base's 26-pipeline portfolio (``autodistill.meta.kb_build``),
repeated with further seeds to ``--trials``: trial i runs pipeline i mod 26 with seed
i // 26, so the members of a population really differ (KD losses, MI objectives with
critics, augmentations, curricula, batch sizes, learning rates, early stopping). The
same trials run in populations of K consecutive trials for each K, in one process;
K = 1 is one at a time. Printed per task and K: CPU seconds (``time.process_time``),
wall seconds, trials per CPU-second and its ratio to K = 1.

Accuracy: each trial's validation accuracy at K is paired with the same trial's at
K = 1; the mean paired difference with a 95% t-interval over the trials is printed.
"No systematic difference" means that interval contains 0 (members use the same seeds,
row orders and initialisation as single runs, so the differences are floating-point
summation order at most).

The teacher is ``auto`` (the MLP + gbdt ensemble) unless ``--teacher`` names another
(``auto:mlp``, the MLP alone, shows the engine without the gbdt's labelling of augmented
rows, whose cost per row is the same at every K). The warm-up labels a few rows, so
that the gbdt half's one-off refit after a cache hit is charged to no K.

    python benchmarks/bench_population.py [--sizes 1,8,32] [--trials 64]
        [--synthetic-trials 32] [--synthetic-epochs 10] [--tasks digits,synthetic]
        [--teacher auto]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from autodistill.data.dataset import load_dataset
from autodistill.meta.kb_build import portfolio
from autodistill.training.engine import Member, train_population
from autodistill.training.pipeline import Pipeline
from autodistill.training.teachers import get_teacher

TASKS = {
    "digits": "builtin:digits",
    "synthetic": "synthetic:classification?n=20000&d=50&informative=20&classes=10",
}


def trials_for(count: int, epochs: int | None, n_train: int) -> list[Member]:
    """``count`` members cycling through the portfolio, one seed per round; ``epochs``
    caps each pipeline's epochs once its ``auto`` settings are resolved for ``n_train``
    training rows."""
    pipelines = portfolio()
    members = []
    for i in range(count):
        pipeline = pipelines[i % len(pipelines)]
        if epochs is not None:
            doc = pipeline.for_rows(n_train).to_dict()
            doc["training"]["epochs"] = min(epochs, doc["training"]["epochs"])
            pipeline = Pipeline.from_dict(doc)
        members.append(Member(pipeline, seed=i // len(pipelines)))
    return members


def run(members: list[Member], dataset, teacher, k: int) -> tuple[float, float, list[float]]:
    """Train ``members`` in populations of ``k``; return CPU s, wall s, valid accuracies."""
    cpu, wall = time.process_time(), time.perf_counter()
    accuracies: list[float] = []
    for start in range(0, len(members), k):
        for outcome in train_population(members[start:start + k], dataset, teacher,
                                        device="cpu"):
            accuracies.append(getattr(outcome, "valid_accuracy", math.nan))
    return time.process_time() - cpu, time.perf_counter() - wall, accuracies


def paired(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean of ``a - b`` and the half-width of its 95% t-interval."""
    from scipy import stats

    diffs = [x - y for x, y in zip(a, b, strict=True) if not (math.isnan(x) or math.isnan(y))]
    if len(diffs) < 2:
        return math.nan, math.nan
    mean = statistics.fmean(diffs)
    half = stats.t.ppf(0.975, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return mean, half


def bench_task(name: str, count: int, epochs: int | None, sizes: list[int],
               teacher_spec: str) -> None:
    """Print the table of one task: ``count`` trials, epochs capped at ``epochs``."""
    dataset = load_dataset(TASKS[name])
    members = trials_for(count, epochs, len(dataset.y_train))
    teacher = get_teacher(teacher_spec, dataset, device=torch.device("cpu"))
    train_population(members[:2], dataset, teacher, device="cpu")  # warm-up (imports)
    teacher.predict(torch.as_tensor(dataset.X_train[:4], dtype=torch.float32))
    print(f"\n{name}: {len(members)} trials ({dataset.n_rows} rows), portfolio of "
          f"{len(portfolio())}, teacher {teacher_spec}")
    print(f"{'K':>4} {'cpu s':>8} {'wall s':>8} {'trials/cpu-s':>13} {'ratio':>6} "
          f"{'mean valid':>10} {'paired diff vs K=1 (95% CI)':>30}")
    base_rate, base_acc = None, None
    for k in sizes:
        cpu, wall, accuracies = run(members, dataset, teacher, k)
        rate = len(members) / cpu
        base_rate = base_rate or rate
        base_acc = base_acc or accuracies
        mean, half = paired(accuracies, base_acc)
        diff = f"{mean:+.5f} ± {half:.5f}" if k != sizes[0] else "-"
        print(f"{k:>4} {cpu:>8.2f} {wall:>8.2f} {rate:>13.3f} {rate / base_rate:>6.2f} "
              f"{statistics.fmean(a for a in accuracies if not math.isnan(a)):>10.4f} {diff:>30}",
              flush=True)


def main() -> None:
    """Run every task at every K in this process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,8,32")
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--synthetic-trials", type=int, default=32)
    parser.add_argument("--synthetic-epochs", type=int, default=10,
                        help="cap on the synthetic task's epochs (keeps K=1 affordable)")
    parser.add_argument("--tasks", default="digits,synthetic")
    parser.add_argument("--teacher", default="auto")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes = [int(s) for s in args.sizes.split(",")]
    for name in args.tasks.split(","):
        if name == "digits":
            bench_task(name, args.trials, None, sizes, args.teacher)
        else:
            bench_task(name, args.synthetic_trials, args.synthetic_epochs, sizes, args.teacher)


if __name__ == "__main__":
    main()
