"""``hinton`` against ``plain`` on seed means, and whether the recommender's verdict
tells tables apart once the noise of one seed is averaged away.

``meta evaluate`` judges every task on one training seed, and one seed moves a table's
test accuracy by three to four times ``hinton``'s mean gain
(``benchmarks/bench_seed_noise.py``). Here, on each real table of the shipped knowledge
base, the ``hinton`` preset is trained with each teacher (``auto``, ``gbdt``) and seeds 0
to 4, same student and split as the knowledge base; ``plain``'s five seeds are read from
``studies/controls/seed_noise.jsonl``. Seed 0 is the knowledge base's own run, repeated as
a check.

Prints, per teacher and over both: how often ``hinton``'s mean over seeds is at least as
good as ``plain``'s, and by how much it gains; and, given ``--evaluation`` (the output of
``autodistill meta evaluate --json``), the verdict check on seed means: where the held-out
verdict said distillation helps and where it said not. Results are appended to ``--out``
one table at a time; a rerun skips the tables already there (resumable).

    python benchmarks/bench_seed_repeats.py [--tables N] [--out FILE] [--part K/N]
        [--evaluation FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from bench_teacher_control import append_result, kb_tables, read_results, seed_controls

TEACHERS = ("auto", "gbdt")
SEEDS = 5


def run_table(table: dict, teachers: tuple[str, ...] = TEACHERS) -> dict:
    """``hinton`` with each of ``teachers`` the table has and seeds 0 to ``SEEDS - 1``."""
    import autodistill

    started = time.perf_counter()
    result = {"data": table["data"], "student": table["student"], "n_rows": table["n_rows"],
              "kb": table["kb"], "hinton_by_seed": {}}
    for teacher in teachers:
        if teacher in table["kb"]:
            result["hinton_by_seed"][teacher] = [
                autodistill.distill(table["data"], "hinton", teacher=teacher,
                                    student=table["student"], seed=seed,
                                    split_seed=0).accuracy
                for seed in range(SEEDS)]
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def _gains(results: list[dict], plain: dict[str, list[float]], teacher: str) -> np.ndarray:
    return np.asarray([np.mean(r["hinton_by_seed"][teacher]) - np.mean(plain[r["data"]])
                       for r in results if teacher in r["hinton_by_seed"]])


def summarise(results: list[dict], plain: dict[str, list[float]],
              evaluation: dict | None = None) -> list[str]:
    """The summary lines (see the module docstring)."""
    same = sum(abs(r["hinton_by_seed"][t][0] - r["kb"][t]) < 1e-6
               for r in results for t in r["hinton_by_seed"])
    runs = sum(len(r["hinton_by_seed"]) for r in results)
    lines = [f"{len(results)} tables; hinton's seed 0 reproduced the shipped run on {same} "
             f"of {runs}"]
    for teacher in TEACHERS:
        gains = _gains(results, plain, teacher)
        lines.append(f"{teacher}: over {SEEDS} seeds, hinton at least as good as plain on "
                     f"{np.mean(gains >= 0):.1%} of {len(gains)} tables, mean gain "
                     f"{gains.mean():+.4f} (median {np.median(gains):+.4f})")
    if evaluation is not None:
        gain = {(r["data"], t): np.mean(s) - np.mean(plain[r["data"]])
                for r in results for t, s in r["hinton_by_seed"].items()}
        said: dict[bool, list[float]] = {True: [], False: []}
        for task in evaluation["per_task"]:
            data, _, teacher = task["task"].split("|")
            if (data, teacher) in gain:
                said[bool(task["distillation_helps"])].append(gain[data, teacher])
        for verdict, name in ((True, "helps"), (False, "does not help")):
            values = np.asarray(said[verdict])
            if len(values):
                lines.append(f"where the held-out verdict said distillation {name} "
                             f"({len(values)} tasks): hinton at least as good as plain on "
                             f"{np.mean(values >= 0):.1%} over {SEEDS} seeds, mean gain "
                             f"{values.mean():+.4f}")
    return lines


def main() -> None:
    """Run (or resume) the seed repeats and print their summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=int, default=None, help="at most this many tables")
    parser.add_argument("--out", type=Path, default=Path("seed_repeats.jsonl"))
    parser.add_argument("--part", default="0/1",
                        help="K/N: run only every N-th table from the K-th (one process each)")
    parser.add_argument("--evaluation", type=Path, default=None,
                        help="`autodistill meta evaluate --json` output: the verdicts to check")
    args = parser.parse_args()
    logging.getLogger("autodistill").setLevel(logging.ERROR)
    plain, _ = seed_controls()
    tables = kb_tables(max_rows=10**9)[:args.tables]
    part, parts = map(int, args.part.split("/"))
    done = read_results(args.out)
    for table in tables[part::parts]:
        if table["data"] in done:
            continue
        result = run_table(table)
        done[table["data"]] = result
        append_result(args.out, result)
        print(f"{table['data']:<40} {table['n_rows']:>6} rows  plain mean "
              f"{np.mean(plain[table['data']]):.4f}  " + "  ".join(
                  f"hinton/{t} mean {np.mean(s):.4f}" for t, s in result["hinton_by_seed"].items())
              + f"  {result['seconds']:.0f} s", flush=True)
    results = [done[t["data"]] for t in tables if t["data"] in done]
    evaluation = json.loads(args.evaluation.read_text()) if args.evaluation else None
    if results:
        print("\n".join(summarise(results, plain, evaluation)))


if __name__ == "__main__":
    main()
