"""Is ``hinton``'s gain the teacher's knowledge, or what any soft target would give?

On the shipped knowledge base's real tables, ``hinton`` (the preset: KL at T=4, alpha 0.9)
gains most where the teacher is weakest (``meta evaluate``'s teacher-margin sentence),
which suggests regularisation rather than knowledge. This is the control experiment
(after Yuan et al., "Revisiting Knowledge Distillation via Label Smoothing
Regularization", CVPR 2020): the same preset, the same student, split and seed as the
table's knowledge-base study, taught by teachers that know nothing about the inputs:

* ``uniform``: every row's output is 1/K (the KL term becomes a confidence penalty);
* ``smoothed``: on training rows the true class 0.9, the other classes sharing 0.1
  (Yuan et al.'s virtual teacher, i.e. label smoothing); uniform on validation and test
  rows, whose labels it is never shown.

Both are passed as ``outputs:`` teachers (a ``.npy`` of per-row probabilities), so no
product code is special-cased. The knowledge base's own teachers (``auto``, ``gbdt``) are
read from ``studies/kb_trials.jsonl`` (portfolio pipeline 1, ``hinton``, beside pipeline 0,
``plain``); ``plain`` is run again here as a check that these runs reproduce the
knowledge base's (its test score should match the shipped one).

Prints one line per table, then for each teacher the mean test-accuracy gain over
``plain`` and the share of tables where it is at least as good as ``plain``, and the real
teachers' mean gain over the ``smoothed`` one. Results are appended to ``--out`` as JSON
lines, one table at a time, and a rerun skips the tables already there (resumable).

    python benchmarks/bench_teacher_control.py [--max-rows 100000] [--tables N] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

STUDIES = Path(__file__).resolve().parent.parent / "studies"
CONTROLS = ("uniform", "smoothed")
SMOOTHED_TRUE = 0.9


def kb_tables(max_rows: int) -> list[dict]:
    """The real tables of the shipped knowledge base up to ``max_rows`` rows, each with its
    student and the shipped ``plain`` and ``hinton`` test accuracies per teacher, in a fixed
    pseudo-random order (so that a partial run is a sample, not the smallest tables)."""
    tasks = [json.loads(line) for line in (STUDIES / "kb_tasks.jsonl").open()]
    portfolio: dict[str, dict[int, float]] = defaultdict(dict)
    for line in (STUDIES / "kb_trials.jsonl").open():
        trial = json.loads(line)
        if trial.get("portfolio") in (0, 1):
            portfolio[trial["task"]][trial["portfolio"]] = trial["test"]
    tables: dict[str, dict] = {}
    for task in tasks:
        if not task["data"].startswith("pkg:") or task["n_rows"] > max_rows:
            continue
        shipped = portfolio.get(task["task"], {})
        if {0, 1} - set(shipped):
            continue
        table = tables.setdefault(task["data"], {"data": task["data"], "student": task["student"],
                                                 "n_rows": task["n_rows"], "kb": {}})
        table["kb"]["plain"] = shipped[0]
        table["kb"][task["teacher"]] = shipped[1]
    return sorted(tables.values(),
                  key=lambda t: hashlib.sha256(t["data"].encode()).hexdigest())


def read_results(path: Path) -> dict[str, dict]:
    """The results already in ``path`` (one JSON object a line), by table; a later line for
    the same table wins. Empty when the file does not exist yet."""
    if not path.exists():
        return {}
    return {r["data"]: r for r in map(json.loads, path.read_text().splitlines())}


def append_result(path: Path, result: dict) -> None:
    """Add one table's ``result`` to ``path`` (written as soon as it is done: resumable)."""
    with path.open("a") as handle:
        handle.write(json.dumps(result, sort_keys=True) + "\n")


def seed_controls(studies: Path = STUDIES) -> tuple[dict[str, list[float]],
                                                   dict[str, dict[str, list[float]]]]:
    """The shipped seed controls under ``studies``: table -> ``plain``'s test accuracy by
    seed (``bench_seed_noise.py``), and table -> teacher -> ``hinton``'s by seed
    (``bench_seed_repeats.py``)."""
    controls = studies / "controls"
    plain = {d: r["plain_by_seed"] for d, r in read_results(controls / "seed_noise.jsonl").items()}
    hinton = {d: r["hinton_by_seed"]
              for d, r in read_results(controls / "seed_repeats.jsonl").items()}
    return plain, hinton


def control_outputs(dataset, kind: str) -> np.ndarray:
    """Per-row probabilities (the data file's row order) of a teacher that knows nothing
    about the inputs: ``uniform``, or ``smoothed`` (label smoothing on training rows only)."""
    k = dataset.n_classes
    probabilities = np.full((dataset.n_rows, k), 1.0 / k)
    if kind == "smoothed":
        rows = np.asarray(dataset.raw.rows["train"])
        smoothed = np.full((len(rows), k), (1.0 - SMOOTHED_TRUE) / (k - 1))
        smoothed[np.arange(len(rows)), np.asarray(dataset.y_train)] = SMOOTHED_TRUE
        probabilities[rows] = smoothed
    return probabilities


def run_table(table: dict, folder: Path) -> dict:
    """``plain`` and ``hinton`` with each control teacher on one table."""
    import autodistill
    from autodistill.data.dataset import load_dataset

    dataset = load_dataset(table["data"], split_seed=0)
    result = {"data": table["data"], "student": table["student"], "n_rows": table["n_rows"],
              "kb": table["kb"]}
    started = time.perf_counter()
    teachers = {}
    for kind in CONTROLS:
        teachers[kind] = folder / f"{kind}.npy"
        np.save(teachers[kind], control_outputs(dataset, kind))
    # `distill` always loads a teacher; plain ignores it, so the cheapest one serves
    plain = autodistill.distill(table["data"], "plain", teacher=f"outputs:{teachers['uniform']}",
                                student=table["student"], seed=0, split_seed=0)
    result["plain"] = plain.accuracy
    for kind in CONTROLS:
        run = autodistill.distill(table["data"], "hinton", teacher=f"outputs:{teachers[kind]}",
                                  student=table["student"], seed=0, split_seed=0)
        result[kind] = run.accuracy
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def _interval(values: np.ndarray, draws: int = 10_000) -> tuple[float, float]:
    """The 95% interval of ``values``' mean over tables resampled with replacement (seeded,
    so that the printed figures are reproducible)."""
    rng = np.random.default_rng(0)
    means = values[rng.integers(0, len(values), (draws, len(values)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(results: list[dict]) -> list[str]:
    """The summary lines: each teacher's gain over ``plain`` (the shipped one for the real
    teachers, this script's own run for the controls), and the real teachers' gain over
    ``smoothed`` on the same tables."""
    same = sum(abs(r["plain"] - r["kb"]["plain"]) < 1e-6 for r in results)
    lines = [f"{len(results)} tables; plain reproduced the shipped run on {same}"]

    def line(name: str, gains: list[float]) -> str:
        values = np.asarray(gains)
        return (f"hinton with the {name} teacher: mean test gain over plain {values.mean():+.4f}"
                f" (median {np.median(values):+.4f}), at least as good as plain on "
                f"{np.mean(values >= 0):.0%} of {len(values)} tables")

    for teacher in ("auto", "gbdt"):
        with_it = [r for r in results if teacher in r["kb"]]
        lines.append(line(teacher, [r["kb"][teacher] - r["kb"]["plain"] for r in with_it]))
    for kind in CONTROLS:
        lines.append(line(kind, [r[kind] - r["plain"] for r in results]))
    for teacher in ("auto", "gbdt"):
        with_it = [r for r in results if teacher in r["kb"]]
        diff = np.asarray([(r["kb"][teacher] - r["kb"]["plain"]) - (r["smoothed"] - r["plain"])
                           for r in with_it])
        lo, hi = _interval(diff)
        lines.append(f"the {teacher} teacher's gain minus the smoothed teacher's: mean "
                     f"{diff.mean():+.4f} (95% interval over tables {lo:+.4f} to {hi:+.4f}), "
                     f"ahead on {int((diff > 0).sum())}, level on {int((diff == 0).sum())}, "
                     f"behind on {int((diff < 0).sum())}")
    return lines


def main() -> None:
    """Run (or resume) the control experiment and print its summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-rows", type=int, default=100_000)
    parser.add_argument("--tables", type=int, default=None, help="at most this many tables")
    parser.add_argument("--out", type=Path, default=Path("teacher_control.jsonl"))
    args = parser.parse_args()
    # the control teachers are at chance by design: their warning says nothing here
    logging.getLogger("autodistill").setLevel(logging.ERROR)
    tables = kb_tables(args.max_rows)[:args.tables]
    done = read_results(args.out)
    for table in tables:
        if table["data"] in done:
            continue
        with tempfile.TemporaryDirectory() as folder:
            result = run_table(table, Path(folder))
        done[table["data"]] = result
        append_result(args.out, result)
        print(f"{table['data']:<40} {table['n_rows']:>6} rows  plain {result['plain']:.4f} "
              f"(shipped {table['kb']['plain']:.4f})  uniform {result['uniform']:.4f}  "
              f"smoothed {result['smoothed']:.4f}  {result['seconds']:.0f} s", flush=True)
    results = [done[t["data"]] for t in tables if t["data"] in done]
    if results:
        print("\n".join(summarise(results)))


if __name__ == "__main__":
    main()
