"""How far one training seed moves a test score: the noise floor of per-task comparisons.

``meta evaluate`` compares methods task by task on one split and one seed ("at least as
good as ``plain`` on 72.5% of tasks"). How much of such a share is noise? Here the
``plain`` preset itself is trained again on each real table of the shipped knowledge
base, same student and split, with other seeds (1 to ``--seeds``): a method that *is*
``plain`` with another seed. Its share of tables at least as good as the shipped ``plain``
run (seed 0) is what a method no better and no worse than ``plain`` scores on that
criterion; the spread of its differences is the noise any one comparison carries.

Prints per seed that share and the mean absolute difference, then the mean over seeds and
the tables' median standard deviation of test accuracy across seeds. Results are appended
to ``--out`` one table at a time; a rerun skips the tables already there (resumable).

    python benchmarks/bench_seed_noise.py [--seeds 4] [--tables N] [--out FILE]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np
from bench_teacher_control import append_result, control_outputs, kb_tables, read_results


def run_table(table: dict, seeds: int, folder: Path) -> dict:
    """The ``plain`` preset's test accuracy on one table with seeds 0 to ``seeds``."""
    import autodistill
    from autodistill.data.dataset import load_dataset

    dataset = load_dataset(table["data"], split_seed=0)
    teacher = folder / "uniform.npy"
    # `distill` always loads a teacher; plain ignores it, so the cheapest one serves
    np.save(teacher, control_outputs(dataset, "uniform"))
    tests = [autodistill.distill(table["data"], "plain", teacher=f"outputs:{teacher}",
                                 student=table["student"], seed=seed, split_seed=0).accuracy
             for seed in range(seeds + 1)]
    return {"data": table["data"], "student": table["student"], "n_rows": table["n_rows"],
            "shipped_plain": table["kb"]["plain"], "plain_by_seed": tests}


def summarise(results: list[dict]) -> list[str]:
    """Per seed: the share of tables where ``plain`` with that seed is at least as good as
    with seed 0, and their mean absolute difference; then the overall figures."""
    scores = np.asarray([r["plain_by_seed"] for r in results])
    lines = []
    shares = []
    for seed in range(1, scores.shape[1]):
        diff = scores[:, seed] - scores[:, 0]
        shares.append(float(np.mean(diff >= 0)))
        lines.append(f"seed {seed}: at least as good as seed 0 on {np.mean(diff >= 0):.1%} of "
                     f"{len(diff)} tables (level on {np.mean(diff == 0):.1%}), mean |difference| "
                     f"{np.abs(diff).mean():.4f}")
    spread = scores.std(axis=1, ddof=1)
    lines.append(f"plain with another seed is at least as good as plain on {np.mean(shares):.1%} "
                 f"of tables on average (seeds 1 to {scores.shape[1] - 1}); median standard "
                 f"deviation of a table's test accuracy across seeds {np.median(spread):.4f}")
    return lines


def main() -> None:
    """Run (or resume) the seed-noise measurement and print its summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=4, help="other seeds, 1 to this")
    parser.add_argument("--tables", type=int, default=None, help="at most this many tables")
    parser.add_argument("--out", type=Path, default=Path("seed_noise.jsonl"))
    args = parser.parse_args()
    logging.getLogger("autodistill").setLevel(logging.ERROR)  # the uniform teacher's warning
    tables = kb_tables(max_rows=10**9)[:args.tables]
    done = read_results(args.out)
    for table in tables:
        if table["data"] in done and len(done[table["data"]]["plain_by_seed"]) > args.seeds:
            continue
        with tempfile.TemporaryDirectory() as folder:
            result = run_table(table, args.seeds, Path(folder))
        done[table["data"]] = result
        append_result(args.out, result)
        print(f"{table['data']:<40} {table['n_rows']:>6} rows  plain by seed "
              + " ".join(f"{v:.4f}" for v in result["plain_by_seed"]), flush=True)
    results = [done[t["data"]] for t in tables if t["data"] in done]
    results = [dict(r, plain_by_seed=r["plain_by_seed"][:args.seeds + 1]) for r in results]
    if results:
        print("\n".join(summarise(results)))


if __name__ == "__main__":
    main()
