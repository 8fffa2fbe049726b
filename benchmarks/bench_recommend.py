"""Recommender benchmarks: latency, and warm-start sample efficiency.

Usage::

    python benchmarks/bench_recommend.py [--tasks 7] [--cold-trials 40] [--skip-warm]

1. **Latency**: ``autodistill recommend`` on a 20,000 x 50 CSV (not in the knowledge
   base), as wall time of the command: the first run (it trains the teacher), a run with
   the teacher cached but not the task's meta-features nor the fitted meta-model (as
   after ``distill`` on the file), and a repeated run (everything cached: no torch, no
   scikit-learn). Then in process: loading the data and the cached teacher, the
   meta-features, reading the knowledge base and ranking; and the parts alone.
2. **Warm start**: on tasks outside the knowledge base, a cold study runs
   ``--cold-trials`` trials in the ``kb`` space; a study warm-started with the top 5
   recommendations (in its own database, so the cold study cannot leak into the
   meta-model) runs as many. Printed: per task, the number of the first warm trial whose
   validation score reaches the cold study's best (every trial counts: the picks, TPE's,
   the presets), and the median over tasks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

BIG = "synthetic:classification?n=20000&d=50&informative=25&classes=6&class_sep=1.2&seed=900"
#: Tasks outside the knowledge base (other seeds and shapes than kb_tasks()).
OUTSIDE = [
    ("synthetic:classification?n=1500&d=12&informative=6&classes=3&class_sep=0.8&flip_y=0.05&seed=701", "mlp:4"),
    ("synthetic:classification?n=3000&d=40&informative=10&classes=5&class_sep=1.0&seed=702", "mlp:8"),
    ("synthetic:moons?n=800&noise=0.3&seed=703", "mlp:4"),
    ("synthetic:blobs?n=1200&d=6&classes=4&std=3.5&seed=704", "mlp:8"),
    ("synthetic:classification?n=2500&d=25&informative=8&classes=8&class_sep=1.5&flip_y=0.1&seed=705", "mlp:16"),
    ("synthetic:circles?n=1500&noise=0.15&seed=706", "mlp:4"),
    ("synthetic:gaussian_quantiles?n=1500&d=5&classes=3&seed=707", "mlp:8"),
]


def _cli_seconds(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autodistill", "recommend", *args, "--json"],
                   check=True, capture_output=True, env=os.environ.copy())
    return time.perf_counter() - started


def latency(home: Path) -> None:
    import shutil

    from autodistill import paths
    from autodistill.data.dataset import load_dataset
    from autodistill.meta import fitting as metamodel
    from autodistill.meta.recommender import recommend
    from autodistill.training import teachers

    storage = f"sqlite:///{home / 'latency.db'}"
    csv = home / "big.csv"
    big = load_dataset(BIG)
    frame = pd.DataFrame(np.vstack([big.X_train, big.X_valid, big.X_test]),
                         columns=[f"f{i}" for i in range(big.n_features)])
    frame["label"] = [f"class_{c}" for c in np.concatenate([big.y_train, big.y_valid, big.y_test])]
    frame.to_csv(csv, index=False)
    args = (str(csv), "--target", "label", "--student", "mlp:16", "--storage", storage)
    print(f"CLI, first run on a {len(frame):,} x {big.n_features} CSV (teacher trained): "
          f"{_cli_seconds(*args):.2f} s")
    for cached in ("tasks", "metamodel"):
        shutil.rmtree(paths.cache_dir() / cached, ignore_errors=True)
    print(f"CLI, teacher cached, meta-features and meta-model not: {_cli_seconds(*args):.2f} s")
    walls = [_cli_seconds(*args) for _ in range(3)]
    print(f"CLI, again (meta-features, meta-model and component declarations cached): "
          f"median {statistics.median(walls):.2f} s over 3 runs (Python start-up included)")

    times = []
    for _ in range(3):
        teachers.clear_memo()
        metamodel._CACHE.clear()
        shutil.rmtree(paths.cache_dir() / "tasks", ignore_errors=True)
        started = time.perf_counter()
        doc = recommend(str(csv), target="label", student="mlp:16", storage=storage)
        times.append(time.perf_counter() - started)
    print(f"in process, teacher and meta-model cached, meta-features computed: "
          f"median {statistics.median(times):.2f} s over 3 runs "
          f"({doc['model']['candidates']} candidates, {doc['model']['training_trials']} "
          f"training trials)")

    from autodistill.meta.features import compute_meta_features
    from autodistill.meta.knowledge import load_meta_rows

    teacher = teachers.get_teacher("auto", big)
    started = time.perf_counter()
    compute_meta_features(big, teacher, 1000)
    print(f"meta-features on 20,000 x 50: {time.perf_counter() - started:.2f} s")
    rows = load_meta_rows(storage)
    metamodel._CACHE.clear()
    started = time.perf_counter()
    metamodel.fit_meta_model(rows, keep=False)
    print(f"meta-model refit on {len(rows)} trials: {time.perf_counter() - started:.2f} s")


def _reach(data: str, student: str, cold_trials: int, home: Path) -> tuple[float, int | None]:
    import optuna

    from autodistill.meta import KnowledgeAdvisor
    from autodistill.study.run import run_search

    cold = run_search(data, student=student, space="kb", trials=cold_trials,
                      storage=f"sqlite:///{home / 'cold.db'}", study="cold", quiet=True,
                      handle_signals=False)
    target = cold["best"]["valid_score"]
    url = f"sqlite:///{home / 'warm.db'}"
    run_search(data, student=student, space="kb", trials=cold_trials, storage=url,
               study="warm", warm_start=5, advisor=KnowledgeAdvisor(), quiet=True, handle_signals=False)
    trials = optuna.load_study(study_name="warm", storage=url).get_trials()
    reached = [t.number for t in trials if t.state.name == "COMPLETE" and t.value >= target]
    return target, min(reached) + 1 if reached else None


def warm_start(n_tasks: int, cold_trials: int, home: Path) -> None:
    needed = []
    for index, (data, student) in enumerate(OUTSIDE[:n_tasks]):
        task_home = home / f"task{index}"
        task_home.mkdir(exist_ok=True)
        (task_home / "warm.db").unlink(missing_ok=True)  # a kept --work reuses only the cold study
        started = time.perf_counter()
        target, trials = _reach(data, student, cold_trials, task_home)
        needed.append(trials if trials is not None else cold_trials + 1)
        shown = trials if trials is not None else f">{cold_trials}"
        print(f"{data} {student}: cold best {target:.4f}; warm start reached it after "
              f"{shown} trials ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"warm start: median trials to reach the cold {cold_trials}-trial best over "
          f"{len(needed)} tasks: {statistics.median(needed)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=len(OUTSIDE),
                        help=f"How many of the {len(OUTSIDE)} tasks outside the knowledge base.")
    parser.add_argument("--cold-trials", type=int, default=40)
    parser.add_argument("--skip-warm", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--work", type=Path, help="Keep the studies here; a rerun reuses the "
                        "cold studies (deterministic given the seed) and redoes the warm ones.")
    args = parser.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        home = args.work or Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("AUTODISTILL_HOME", str(home / "home"))
        if not args.skip_latency:
            latency(home)
        if not args.skip_warm:
            warm_start(args.tasks, args.cold_trials, home)


if __name__ == "__main__":
    main()
