"""The training recipe against plain_tuned on the knowledge-base tasks.

For each of the 62 knowledge-base tasks (``autodistill.meta.task_suite.kb_tasks()``,
split seed 0, seed 0, no teacher) it trains a plain student with each candidate recipe
(all candidates of a task as one population) and compares it with the task's shipped
``plain_tuned`` study (``studies/kb_plain_tuned.jsonl``: the best of 20 trials by
validation, and that trial's test accuracy). A candidate's *regret* on a task is
plain_tuned's accuracy minus the candidate's (positive: the candidate is behind).

The recipe is chosen on VALIDATION regret (lowest median, then lowest mean); the test
regret of the chosen one is what ``studies/README.md`` reports. ``old_plain`` is the
``plain`` preset as it was before the recipe (60 epochs, lr 0.003, batch 128, constant
lr), for reference only; ``default`` is whatever ``TRAINING_PARAMS`` now defaults to.

    python benchmarks/bench_recipe.py [--limit N] [--max-rows N] [--cache FILE]
        [--candidates a,b,...]

The candidates were run in two rounds (the first four choosable ones, then the first
round's winner against ``const_lr02`` and ``const_lr01_4k``); ``studies/README.md`` ("The
training recipe") has the figures. ``--cache`` keeps each finished task's results in a JSON file, so an interrupted run
resumes (delete the file after changing a candidate).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from autodistill.data.dataset import load_dataset
from autodistill.meta.kb_plain import read_plain_tuned
from autodistill.meta.task_suite import kb_tasks
from autodistill.training.engine import Member, train_population
from autodistill.training.pipeline import Pipeline

#: Candidate recipes (``training`` sections). ``old_plain`` is the pre-recipe preset.
CANDIDATES: dict[str, dict[str, Any]] = {
    "old_plain": {"epochs": 60, "lr": 0.003, "batch_size": 128, "weight_decay": 1e-4,
                  "patience": 10},
    "default": {},
    "const_lr01": {"steps": 2000, "lr": 0.01, "schedule": "constant"},
    "cos_lr01": {"steps": 2000, "lr": 0.01, "schedule": "cosine"},
    "cos_lr03": {"steps": 2000, "lr": 0.03, "schedule": "cosine"},
    "cos_lr03_wd0": {"steps": 2000, "lr": 0.03, "schedule": "cosine", "weight_decay": 0.0},
    # A second round, after the first chose const_lr01: a higher lr, a larger budget.
    "const_lr02": {"steps": 2000, "lr": 0.02, "schedule": "constant"},
    "const_lr01_4k": {"steps": 4000, "lr": 0.01, "schedule": "constant"},
}
#: Candidates that may be chosen (``old_plain`` and ``default`` are references).
CHOOSABLE = ("const_lr01", "cos_lr01", "cos_lr03", "cos_lr03_wd0", "const_lr02", "const_lr01_4k")
#: A task is "within 1 point" when the regret is at most this.
POINT = 0.01


def _training(name: str) -> dict[str, Any]:
    return Pipeline.from_dict({"training": CANDIDATES[name]}).training


def run_task(data: str, student: str, names: list[str]) -> dict[str, Any]:
    """Train one plain student per candidate on one task; their accuracies."""
    dataset = load_dataset(data, split_seed=0)
    members = [Member(Pipeline.from_dict({"training": CANDIDATES[name]}), seed=0)
               for name in names]
    started = time.perf_counter()
    outcomes = train_population(members, dataset, None, student=student, device="cpu")
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {"n_rows": len(dataset.y_train) + len(dataset.y_valid)
                           + len(dataset.y_test), "seconds": round(seconds, 2)}
    for name, member, outcome in zip(names, members, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            out[name] = {"error": f"{type(outcome).__name__}: {outcome}"}
            continue
        used = member.pipeline.for_rows(len(dataset.y_train)).training
        out[name] = {"valid": round(outcome.valid_accuracy, 6),
                     "test": round(outcome.test_accuracy, 6),
                     "epochs_run": outcome.epochs_run, "epochs": used["epochs"],
                     "batch_size": used["batch_size"]}
    return out


def summarise(results: dict[str, dict[str, Any]], tuned: dict[str, dict[str, Any]],
              names: list[str]) -> dict[str, dict[str, float]]:
    """Per candidate: mean and median regret on validation and test, share within 1 pt."""
    summary = {}
    for name in names:
        valid = [tuned[k]["best"]["valid"] - r[name]["valid"] for k, r in results.items()
                 if "valid" in r.get(name, {})]
        test = [tuned[k]["best"]["test"] - r[name]["test"] for k, r in results.items()
                if "test" in r.get(name, {})]
        if not valid:
            continue
        summary[name] = {
            "tasks": len(valid),
            "valid_mean": statistics.fmean(valid), "valid_median": statistics.median(valid),
            "test_mean": statistics.fmean(test), "test_median": statistics.median(test),
            "test_within_1pt": sum(v <= POINT for v in test) / len(test),
            "valid_within_1pt": sum(v <= POINT for v in valid) / len(valid),
        }
    return summary


def main() -> None:
    """Run (or resume) the comparison; print the per-task table and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N tasks only")
    parser.add_argument("--max-rows", type=int, default=None, help="skip larger tasks")
    parser.add_argument("--cache", type=Path, default=None, help="JSON file of finished tasks")
    parser.add_argument("--candidates", default=",".join(("old_plain", *CHOOSABLE)),
                        help="comma-separated candidate names")
    parser.add_argument("--real", default=None,
                        help="instead: comma-separated real tables (pkg:... specs) to train "
                             "old_plain and default on with mlp:16, a side check")
    args = parser.parse_args()
    torch.set_num_threads(1)  # students of a few hundred weights: threads only add overhead
    names = [n.strip() for n in args.candidates.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        parser.error(f"--candidates: unknown {', '.join(unknown)}; known: {', '.join(CANDIDATES)}")
    if args.real:
        torch.set_num_threads(1)
        for spec in args.real.split(","):
            done = run_task(spec.strip(), "mlp:16", ["old_plain", "default"])
            print(f"{spec.strip():40s} {done['n_rows']:6d} | " + " ".join(
                f"{n} {done[n]['valid']:.3f}/{done[n]['test']:.3f}" for n in ("old_plain", "default")),
                flush=True)
        return
    tuned = read_plain_tuned()
    cache: dict[str, Any] = json.loads(args.cache.read_text()) if args.cache and args.cache.is_file() else {}
    tasks = kb_tasks()[:args.limit]
    results: dict[str, dict[str, Any]] = {}
    for task in tasks:
        if args.max_rows is not None and int(task.data.split("n=")[1].split("&")[0]
                                             if "n=" in task.data else 0) > args.max_rows:
            continue
        done = cache.get(task.key)
        for name in names:  # a candidate equal to one already run (``default``) shares its results
            twin = next((n for n in CANDIDATES if done and n in done and n != name
                         and _training(n) == _training(name)), None)
            if done and name not in done and twin:
                done[name] = done[twin]
        if done is None or any(n not in done for n in names):
            done = {**(done or {}), **run_task(task.data, task.student, names)}
            cache[task.key] = done
            if args.cache:
                args.cache.write_text(json.dumps(cache, indent=1, sort_keys=True))
        results[task.key] = done
        row = " ".join(f"{done[n].get('valid', float('nan')):.3f}/{done[n].get('test', float('nan')):.3f}"
                       for n in names)
        best = tuned[task.key]["best"]
        print(f"{task.key[:60]:60s} {done['n_rows']:6d} tuned {best['valid']:.3f}/{best['test']:.3f}"
              f" | {row} | {done['seconds']:.1f}s", flush=True)
    summary = summarise(results, tuned, names)
    print("\nregret = plain_tuned (best of 20 by validation) minus the candidate; "
          "positive = behind")
    print(f"{'candidate':14s} {'tasks':>5s} {'valid mean':>10s} {'valid med':>9s} "
          f"{'test mean':>9s} {'test med':>8s} {'test <=1pt':>10s}")
    for name, s in summary.items():
        print(f"{name:14s} {s['tasks']:5d} {s['valid_mean']:10.4f} {s['valid_median']:9.4f} "
              f"{s['test_mean']:9.4f} {s['test_median']:8.4f} {s['test_within_1pt']:10.2f}")
    choosable = [n for n in CHOOSABLE if n in summary]
    if choosable:
        chosen = min(choosable, key=lambda n: (summary[n]["valid_median"], summary[n]["valid_mean"]))
        s = summary[chosen]
        print(f"\nchosen on validation: {chosen} {json.dumps(CANDIDATES[chosen])}")
        print(f"its test regret: mean {s['test_mean']:.4f}, median {s['test_median']:.4f}, "
              f"within 1 point on {s['test_within_1pt']:.0%} of {s['tasks']} tasks")
    print(f"seconds of training in all: {sum(r['seconds'] for r in results.values()):.0f}")


if __name__ == "__main__":
    main()
