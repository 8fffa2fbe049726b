"""Search throughput: trials per minute on digits with the ``fast`` space, one worker
against two on PostgreSQL, and the speed-up ratio.

Usage::

    python benchmarks/bench_search.py [--trials 100] [--storage postgresql+psycopg://...]

Each run is a fresh study (deleted afterwards) with the same seed. "wall" counts the whole
command (worker start-up included); "busy" counts from the first trial's start to the last
trial's end, as stored in the database; "steady" counts from the moment every worker is
running trials (the spawned worker joins a few seconds late, after importing torch).
Trials differ between runs (pruning, sampled epochs), so expect some noise.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

DEFAULT_URL = os.environ.get("AUTODISTILL_BENCH_STORAGE",
                             "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _one(workers: int, trials: int, url: str, seed: int) -> dict[str, float]:
    import optuna

    from autodistill.store import storage
    from autodistill.study.run import run_search

    name = f"bench-search-{workers}w-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    try:
        summary = run_search("builtin:digits", space="fast", trials=trials, storage=url,
                             study=name, workers=workers, seed=seed, quiet=True)
        wall = time.perf_counter() - started
        study = optuna.load_study(study_name=name, storage=url)
        done = [t for t in study.trials if t.datetime_complete is not None]
        busy = (max(t.datetime_complete for t in done)
                - min(t.datetime_start for t in done)).total_seconds()
        per_trial = sum((t.datetime_complete - t.datetime_start).total_seconds()
                        for t in done) / len(done)
        # Steady state: from the moment the last worker started its first trial.
        firsts = {}
        for t in done:
            worker = t.user_attrs.get("worker")
            firsts[worker] = min(firsts.get(worker, t.datetime_start), t.datetime_start)
        since = max(firsts.values())
        steady = [t for t in done if t.datetime_start >= since]
        end = max(t.datetime_complete for t in done)
        steady_rate = 60 * len(steady) / max((end - since).total_seconds(), 1e-9)
        assert summary["trials"]["counted"] == trials, summary["trials"]
        return {"wall": wall, "busy": busy, "per_trial": per_trial, "steady": steady_rate,
                "best": summary["best"]["valid_score"], "states": summary["trials"]}
    finally:
        storage.delete_study(url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--storage", default=DEFAULT_URL)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from autodistill.data.dataset import load_dataset
    from autodistill.store.storage import mask_url
    from autodistill.training.teachers import get_teacher

    get_teacher("auto", load_dataset("builtin:digits"))  # train/cache the teacher first
    print(f"digits, space fast, {args.trials} trials, {mask_url(args.storage)}, "
          f"{os.cpu_count()} CPUs")
    results = {}
    for workers in (1, 2):
        result = _one(workers, args.trials, args.storage, args.seed)
        results[workers] = result
        states = {k: v for k, v in result["states"].items()
                  if k in ("complete", "pruned", "fail") and v}
        print(f"{workers} worker(s): {60 * args.trials / result['wall']:6.1f} trials/min wall, "
              f"{60 * args.trials / result['busy']:6.1f} trials/min busy, "
              f"{result['steady']:6.1f} trials/min steady, "
              f"{result['per_trial']:.2f} s/trial, best {result['best']:.4f}, {states}")
    wall = results[1]["wall"] / results[2]["wall"]
    busy = results[1]["busy"] / results[2]["busy"]
    steady = results[2]["steady"] / results[1]["steady"]
    print(f"speed-up of 2 workers: {wall:.2f}x wall, {busy:.2f}x busy, {steady:.2f}x steady")


if __name__ == "__main__":
    main()
