"""Candidates for the ``auto`` teacher on the 20 tables of ``bench_teachers.py``.

The evidence behind ``autodistill.training.teachers.AUTO_ENSEMBLE``: validation and test accuracy
and validation log-loss of MLP teachers (the pre-issue-11 ``auto`` MLP, ``v1``; bags of
3 and 5 seeds of it; a wider MLP with more weight decay, ``vB``, alone and bagged), the
``gbdt`` teacher, and means of their class probabilities (``+g``; ``w(bag3,g)`` weighs the
two by validation log-loss), each against the tuned student of ``bench_teachers.py``
(run that first: this script reads its ``--tuned`` JSON). Usage::

    python benchmarks/bench_auto_candidates.py [--tuned bench_teachers.json] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from bench_teachers import OLD_AUTO, TABLES

WIDER = {**OLD_AUTO, "hidden": [512, 256], "weight_decay": 1e-3, "batch_size": 64,
         "patience": 30, "version": 101}
SPLITS = ("valid", "test")


def _mlp(dataset, config: dict, seed: int) -> dict:
    import torch

    from autodistill.training import teachers

    c, cpu = {**config, "seed": seed}, torch.device("cpu")
    out = teachers._cached(teachers._cache_key(dataset, c), cpu,
                           lambda: teachers._train_auto(dataset, c, cpu),
                           teachers._load_auto(dataset, c, cpu), "candidate")
    return {s: torch.softmax(out.logits[s], 1).numpy() for s in SPLITS}


def _mean(probas: list[dict], weights: list[float] | None = None) -> dict:
    weights = weights or [1 / len(probas)] * len(probas)
    return {s: sum(w * p[s] for w, p in zip(weights, probas, strict=True)) for s in SPLITS}


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1)).mean())


def run(spec: str) -> tuple[str, dict]:
    """Every candidate on one table."""
    import torch

    torch.set_num_threads(1)
    from autodistill.data.dataset import load_dataset
    from autodistill.training.teachers import get_teacher

    ds = load_dataset(spec)
    v1 = [_mlp(ds, OLD_AUTO, s) for s in range(5)]
    vb = [_mlp(ds, WIDER, s) for s in range(3)]
    g = get_teacher("gbdt", ds, device=torch.device("cpu"))
    g = {s: torch.softmax(g.logits[s], 1).numpy() for s in SPLITS}
    cand = {"v1": v1[0], "bag3": _mean(v1[:3]), "bag5": _mean(v1), "vB": vb[0],
            "vBbag3": _mean(vb), "gbdt": g}
    cand.update({"v1+g": _mean([v1[0], g]), "bag3+g": _mean([cand["bag3"], g]),
                 "vBbag3+g": _mean([cand["vBbag3"], g])})
    w = min((0, .25, .5, .75, 1),
            key=lambda w: _log_loss(_mean([cand["bag3"], g], [w, 1 - w])["valid"], ds.y_valid))
    cand["w(bag3,g)"] = _mean([cand["bag3"], g], [w, 1 - w])
    return spec, {k: {"valid": float((p["valid"].argmax(1) == ds.y_valid).mean()),
                      "test": float((p["test"].argmax(1) == ds.y_test).mean()),
                      "vll": _log_loss(p["valid"], ds.y_valid)} for k, p in cand.items()}


def main() -> None:
    """Run the candidates and print one summary line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuned", type=Path, default=Path("bench_teachers.json"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    tuned = {k: v["tuned"] for k, v in json.loads(args.tuned.read_text()).items()}
    with ProcessPoolExecutor(args.workers) as pool:
        res = dict(pool.map(run, [t for t in TABLES if t in tuned]))
    n = len(res)
    print(f"{'candidate':12s} valid  test   margin  >=2pt(test) worse  valid-logloss")
    for k in next(iter(res.values())):
        test = np.mean([r[k]["test"] for r in res.values()])
        margin = 100 * np.mean([r[k]["test"] - tuned[s]["test"] for s, r in res.items()])
        wins = sum(r[k]["test"] - tuned[s]["test"] >= .02 for s, r in res.items())
        worse = sum(r[k]["test"] < tuned[s]["test"] for s, r in res.items())
        print(f"{k:12s} {np.mean([r[k]['valid'] for r in res.values()]):.4f} {test:.4f} "
              f"{margin:+.2f}  {wins}/{n}        {worse}/{n}  "
              f"{np.mean([r[k]['vll'] for r in res.values()]):.4f}")
    print(f"tuned        {np.mean([t['valid'] for t in tuned.values()]):.4f} "
          f"{np.mean([t['test'] for t in tuned.values()]):.4f}")


if __name__ == "__main__":
    main()
