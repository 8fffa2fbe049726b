"""``meta evaluate``'s comparison of methods, judged on seed means instead of one seed.

``meta evaluate`` measures each method's pick on every held-out task with one training
seed, and one seed moves a table's test accuracy by three to four times ``hinton``'s mean
gain (``benchmarks/bench_seed_noise.py``). Here, for every held-out task of an evaluation
(the output of ``autodistill meta evaluate --json``), each method's pick is trained with
seeds 0 to 4, same student, teacher and split as the knowledge base:

* the pick of each of ``--methods`` (by default the recommender's; ``single_best`` and
  ``nearest_task`` may be added) is a portfolio pipeline, trained as the knowledge base
  ran it (``studies/kb_trials.jsonl``); one that uses no teacher is trained with none, and
  shared by the table's teachers;
* ``plain`` and ``hinton`` are read from ``studies/controls/seed_noise.jsonl`` and
  ``seed_repeats.jsonl`` (``benchmarks/bench_seed_repeats.py``), not trained again.

``plain_tuned`` is not trained again: its best settings often train many times longer than
the presets (batches of 256 for thousands of steps), and the goal compares it by the mean
over tasks, which one seed per task does not bias; its knowledge-base test score is used.
Seed 0 is the knowledge base's own run, repeated as a check. Prints, per method, the mean
over tasks of its seed-mean test accuracy, its mean gain over ``plain_tuned``, and how
often its seed mean is at least as good as ``plain``'s and ``hinton``'s; then the goal's
line for the recommender, the 95% intervals of its two shares (tables resampled), and the
same tasks' shares on one seed (the knowledge base's runs).
The protocol (which pick, on which split) is ``meta evaluate``'s; only the number of seeds
behind each score differs.
Results are appended to ``--out`` one table at a time, each with the picks it was trained
for; a rerun skips what is there (resumable) and trains what a changed pick needs.

    python benchmarks/bench_seed_picks.py --evaluation EVAL.json [--out FILE] [--part K/N]
        [--tables N] [--methods recommender,single_best,nearest_task]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from bench_teacher_control import STUDIES, append_result, kb_tables, read_results, seed_controls

SEEDS = 5
METHODS = ("recommender", "plain_tuned", "plain", "hinton", "single_best", "nearest_task")


def _uses_teacher(pipeline: dict) -> bool:
    from autodistill.training.pipeline import Pipeline

    return Pipeline.from_dict(pipeline).uses_teacher


def portfolio_pipelines() -> dict[str, dict[int, dict]]:
    """Task key (``data|student|teacher``) -> portfolio index -> the pipeline and the test
    accuracy the knowledge base measured (the task's first trial of that pipeline)."""
    pipelines: dict[str, dict[int, dict]] = defaultdict(dict)
    for line in (STUDIES / "kb_trials.jsonl").open():
        trial = json.loads(line)
        if trial.get("portfolio") is not None and trial.get("test") is not None:
            pipelines[trial["task"].removeprefix("kb:")].setdefault(
                int(trial["portfolio"]), {"pipeline": trial["pipeline"], "test": trial["test"]})
    return pipelines


def plain_tuned_tests() -> dict[str, float]:
    """``data|student`` -> the test accuracy of its plain_tuned study's best trial."""
    records = (json.loads(line) for line in (STUDIES / "kb_plain_tuned.jsonl").open())
    return {r["task"]: r["best"]["test"] for r in records}


def run_key(pick: int, teacher: str, pipeline: dict) -> str:
    """Where a pick's seeds are kept in a table's result: ``teacher|index``, with teacher
    ``none`` for a pipeline that uses none (the table's teachers share it)."""
    return f"{teacher if _uses_teacher(pipeline) else 'none'}|{pick}"


def needed_runs(picks: dict[str, dict[str, int]],
                pipelines: dict[str, dict[int, dict]]) -> dict[str, dict]:
    """The portfolio runs a table's held-out tasks need trained here (``picks``: task key
    -> method -> portfolio index; every pick but ``plain``'s and ``hinton``'s, which the
    seed controls hold): run key -> teacher, pipeline and the knowledge base's test."""
    runs = {}
    for task, chosen in picks.items():
        teacher = task.split("|")[2]
        for pick in chosen.values():
            if pick in (0, 1):
                continue
            entry = pipelines[task][pick]
            key = run_key(pick, teacher, entry["pipeline"])
            runs[key] = {"teacher": key.split("|")[0], "pipeline": entry["pipeline"],
                         "kb": entry["test"]}
    return runs


def run_table(table: dict, picks: dict[str, dict[str, int]], done: dict | None,
              pipelines: dict[str, dict[int, dict]]) -> dict:
    """One table's seed runs: the portfolio runs its tasks' ``picks`` need, each with seeds
    0 to ``SEEDS - 1``; runs already in ``done`` are kept. The result records the picks it
    was trained for."""
    import autodistill

    started = time.perf_counter()
    result = dict(done) if done else {"data": table["data"], "student": table["student"],
                                      "n_rows": table["n_rows"], "by_seed": {}}
    result["by_seed"] = dict(result["by_seed"])
    result["picks"] = {**result.get("picks", {}), **picks}

    def seeds(pipeline: dict, teacher: str) -> list[float]:
        return [autodistill.distill(table["data"], pipeline, teacher=teacher,
                                    student=table["student"], seed=seed,
                                    split_seed=0).accuracy for seed in range(SEEDS)]

    for run, spec in needed_runs(picks, pipelines).items():
        if run not in result["by_seed"]:
            result["by_seed"][run] = {"kb": spec["kb"],
                                      "seeds": seeds(spec["pipeline"], spec["teacher"])}
    result["seconds"] = round(result.get("seconds", 0) + time.perf_counter() - started, 1)
    return result


def task_seed_means(task: str, picks: dict[str, int], result: dict,
                    plain: dict[str, list[float]], hinton: dict[str, dict[str, list[float]]],
                    pipelines: dict[str, dict[int, dict]],
                    tuned: dict[str, float]) -> dict[str, float] | None:
    """Each method's seed-mean test accuracy on held-out ``task`` (``picks``: method ->
    portfolio index; ``plain_tuned``: its one knowledge-base run), or None when a seed run
    it needs is missing (not done yet)."""
    data, student, teacher = task.split("|")
    if data not in plain or teacher not in hinton.get(data, {}):
        return None
    means = {"plain_tuned": tuned[f"{data}|{student}"],
             "plain": float(np.mean(plain[data])),
             "hinton": float(np.mean(hinton[data][teacher]))}
    for method, pick in picks.items():
        if pick in (0, 1):
            means[method] = means["plain" if pick == 0 else "hinton"]
            continue
        run = result["by_seed"].get(run_key(pick, teacher, pipelines[task][pick]["pipeline"]))
        if run is None:
            return None
        means[method] = float(np.mean(run["seeds"]))
    return means


def share_interval(tables: list[str], hits: np.ndarray,
                   draws: int = 10_000) -> tuple[float, float]:
    """The 95% interval of the share of ``hits`` (one per task, ``tables`` naming each
    task's table) when tables are resampled with replacement, a table's tasks together (its
    two teachers' tasks share a split, so they are not independent). Seeded: reproducible."""
    names = sorted(set(tables))
    index = {name: i for i, name in enumerate(names)}
    rows = np.asarray([index[t] for t in tables])
    hit_sums = np.bincount(rows, weights=hits.astype(float), minlength=len(names))
    task_counts = np.bincount(rows, minlength=len(names))
    draw = np.random.default_rng(0).integers(0, len(names), (draws, len(names)))
    shares = hit_sums[draw].sum(1) / task_counts[draw].sum(1)
    return float(np.percentile(shares, 2.5)), float(np.percentile(shares, 97.5))


def summarise(results: list[dict], plain: dict[str, list[float]],
              hinton: dict[str, dict[str, list[float]]],
              pipelines: dict[str, dict[int, dict]], tuned: dict[str, float]) -> list[str]:
    """The summary lines (see the module docstring), over the held-out tasks whose picks
    ``results`` (one per table) record."""
    runs = [r for result in results for r in result["by_seed"].values()]
    same = sum(abs(r["seeds"][0] - r["kb"]) < 1e-6 for r in runs)
    tasks = [(task, picks, result) for result in results
             for task, picks in sorted(result.get("picks", {}).items())]
    found = [(task, picks, task_seed_means(task, picks, result, plain, hinton, pipelines,
                                           tuned)) for task, picks, result in tasks]
    means = [m for _, _, m in found if m]
    # the same tasks on one seed: the knowledge base's own runs, as meta evaluate sees them
    one_seed = [(pipelines[task][picks["recommender"]]["test"], pipelines[task][0]["test"],
                 pipelines[task][1]["test"]) for task, picks, m in found
                if m and "recommender" in picks]
    lines = [f"{len(means)} of {len(tasks)} held-out tasks; seed 0 reproduced the knowledge "
             f"base's run on {same} of {len(runs)}"]
    if not means:
        return lines
    methods = [m for m in METHODS if all(m in t for t in means)]
    table = {m: np.asarray([t[m] for t in means]) for m in methods}
    for method in methods:
        values = table[method]
        shares = ", ".join(f"{other} {np.mean(values >= table[other]):.1%}"
                           for other in ("plain", "hinton") if other != method)
        gain = f", gain over plain_tuned {np.mean(values - table['plain_tuned']):+.4f}"
        lines.append(f"{method}: mean test accuracy {values.mean():.4f}"
                     + (gain if method != "plain_tuned" else " (one seed)")
                     + (f"; at least as good as {shares}" if method != "plain_tuned" else ""))
    recommender = table["recommender"]
    level = recommender.mean() >= table["plain_tuned"].mean()
    lines.append(f"on seed means the recommender's top-1 is "
                 f"{'at least level with' if level else 'behind'} plain_tuned (one seed) in mean "
                 f"test accuracy and at least as good as plain on "
                 f"{np.mean(recommender >= table['plain']):.1%} of tasks and as hinton on "
                 f"{np.mean(recommender >= table['hinton']):.1%} (goal: 75%)")
    tables = [task.split("|")[0] for task, _, m in found if m]
    intervals = {other: share_interval(tables, recommender >= table[other])
                 for other in ("plain", "hinton")}
    lines.append("95% intervals of those two shares, resampling tables (a table's tasks "
                 "together): " + ", ".join(f"{other} {lo:.1%} to {hi:.1%}"
                                          for other, (lo, hi) in intervals.items()))
    if one_seed:
        pick, plain_kb, hinton_kb = np.asarray(one_seed).T
        lines.append(f"the same {len(one_seed)} tasks on one seed (the knowledge base's runs, as "
                     f"meta evaluate judges them): at least as good as plain on "
                     f"{np.mean(pick >= plain_kb):.1%} and as hinton on "
                     f"{np.mean(pick >= hinton_kb):.1%}")
    return lines


def main() -> None:
    """Run (or resume) the seed runs of an evaluation's picks and print their summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--evaluation", type=Path, required=True,
                        help="`autodistill meta evaluate --json` output: the picks to train")
    parser.add_argument("--out", type=Path, default=Path("seed_picks.jsonl"))
    parser.add_argument("--part", default="0/1",
                        help="K/N: run only every N-th table from the K-th (one process each)")
    parser.add_argument("--tables", type=int, default=None,
                        help="train at most this many tables (the summary covers all in --out)")
    parser.add_argument("--methods", default="recommender",
                        help="comma-separated methods whose picks to train (of recommender, "
                             "single_best, nearest_task; plain's and hinton's are read)")
    args = parser.parse_args()
    chosen = args.methods.split(",")
    logging.getLogger("autodistill").setLevel(logging.ERROR)
    evaluation = json.loads(args.evaluation.read_text())
    pipelines, tuned = portfolio_pipelines(), plain_tuned_tests()
    plain, hinton = seed_controls()
    by_table: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    for task in evaluation["per_task"]:
        by_table[task["task"].split("|")[0]][task["task"]] = {
            m: p for m, p in task["picks"].items() if m in chosen}
    tables = [t for t in kb_tables(max_rows=10**9) if t["data"] in by_table]
    part, parts = map(int, args.part.split("/"))
    done = read_results(args.out)
    for table in tables[:args.tables][part::parts]:
        picks = by_table[table["data"]]
        previous = done.get(table["data"])
        if (previous and previous.get("picks") == picks
                and set(needed_runs(picks, pipelines)) <= set(previous["by_seed"])):
            continue
        result = run_table(table, picks, previous, pipelines)
        done[table["data"]] = result
        append_result(args.out, result)
        print(f"{table['data']:<40} {table['n_rows']:>6} rows  " + "  ".join(
                  f"{k} {np.mean(r['seeds']):.4f}" for k, r in sorted(result["by_seed"].items()))
              + f"  {result['seconds']:.0f} s", flush=True)
    results = [done[t["data"]] for t in tables if t["data"] in done]
    print("\n".join(summarise(results, plain, hinton, pipelines, tuned)))


if __name__ == "__main__":
    main()
