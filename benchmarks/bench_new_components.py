"""What each component of issue 14 gains over `plain_tuned`, on a few knowledge-base tables.

For every component, a short unpruned study in the knowledge base's space with the
component's family fixed to it (what `autodistill meta bench-component` runs) on the first
bench tasks; the study's best trial by validation is compared, on test, with the task's
shipped `plain_tuned` best (`studies/kb_plain_tuned.jsonl`: 20 trials of a student without
a teacher), and with the best of its first N trials, N being the component's own trial
budget (the equal-budget comparison). `layer_map` needs a student with two or more hidden
layers, which no knowledge-base task has: it runs with `mlp:16,8` on the same datasets,
against a `plain_tuned` study of that student run here (20 trials). The MCMI teacher is benched as `hinton` with the teacher `auto+mcmi`, next to
`hinton` with the plain `auto` teacher. Prints the Markdown table of docs/components.md.

    python benchmarks/bench_new_components.py [--tasks 3] [--trials 4] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

#: (row label, component, teacher spec)
ROWS: tuple[tuple[str, str, str], ...] = (
    ("alp_gmm (curriculum)", "alp_gmm", "auto"),
    ("efficient_train (curriculum)", "efficient_train", "auto"),
    ("cmim (MI objective)", "cmim", "auto"),
    ("mist (MI objective)", "mist", "auto"),
    ("mutual (KD loss, joint fine-tuning)", "mutual", "auto"),
    ("hinton with the plain auto teacher (reference)", "hinton", "auto"),
    ("hinton with the MCMI teacher auto+mcmi", "hinton", "auto+mcmi"),
)


def main() -> None:
    """Bench every row and print the table."""
    from autodistill.meta.component_bench import bench_component
    from autodistill.meta.kb_plain import plain_of, read_plain_tuned

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-components-"))
    plain = read_plain_tuned()
    print(f"{args.trials} trials on each of the first {args.tasks} bench tasks; gain = best "
          "trial by validation minus plain_tuned's best, both on test\n")
    print(f"| component | tasks | mean gain over plain_tuned, 20 trials (test) | mean gain over "
          f"plain_tuned's first {args.trials} trials (test) | per task (20 trials) |")
    print("|---|---:|---:|---:|---|")
    for label, name, teacher in ROWS:
        out = work / f"{name}-{teacher}.jsonl"
        bench_component(name, out, work / "studies", tasks=args.tasks, trials=args.trials,
                        teacher=teacher)
        lines = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        gains, equal = {}, {}
        for task in sorted({line["task"] for line in lines}):
            best = max((x for x in lines if x["task"] == task), key=lambda x: x["valid"])
            baseline = plain_of(plain, task)
            gains[task] = best["test"] - baseline["best"]["test"]
            first = [t for t in baseline["trials"] if t["number"] < args.trials]
            equal[task] = best["test"] - max(first, key=lambda t: t["valid"])["test"]
        mean = sum(gains.values()) / len(gains) if gains else float("nan")
        mean_equal = sum(equal.values()) / len(equal) if equal else float("nan")
        shown = ", ".join(f"{t.split('|')[0].split(':')[-1]}: {g:+.3f}"
                          for t, g in gains.items())
        print(f"| {label} | {len(gains)} | {mean:+.4f} | {mean_equal:+.4f} | {shown} |",
              flush=True)
    print(layer_map_row(args.tasks, args.trials, work / "deep"), flush=True)


def layer_map_row(tasks: int, trials: int, work: Path) -> str:
    """The ``layer_map`` row: a two-layer student, with its own plain_tuned study."""
    import optuna

    from autodistill.meta.component_bench import bench_tasks, component_space_file
    from autodistill.study.plain import run_plain_tuned
    from autodistill.study.run import run_search

    student, gains, equal = "mlp:16,8", {}, {}
    space = component_space_file("layer_map", "mi_objective", work)
    for task in bench_tasks(tasks):
        url = f"sqlite:///{work / 'deep.db'}"
        name = task.data.split(":")[-1].replace("/", "-")
        plain = run_plain_tuned(task.data, student=student, trials=20, storage=url,
                                study=f"{name}-deep", quiet=True, handle_signals=False)
        mine = run_search(task.data, student=student, space=str(space), trials=trials,
                          storage=url, study=f"{name}-deep-layer_map", prune=False, quiet=True,
                          handle_signals=False)
        done = [t for t in optuna.load_study(study_name=plain["study"], storage=url).trials
                if t.state.name == "COMPLETE"]
        first = max((t for t in done if t.number < trials), key=lambda t: t.value)
        test = mine["best"]["test_accuracy"]
        gains[name] = test - plain["best"]["test_accuracy"]
        equal[name] = test - first.user_attrs["test_accuracy"]
    mean, mean_equal = (sum(g.values()) / len(g) for g in (gains, equal))
    shown = ", ".join(f"{t}: {g:+.3f}" for t, g in gains.items())
    return (f"| layer_map (MI objective; student {student}, its own plain_tuned) | {len(gains)} "
            f"| {mean:+.4f} | {mean_equal:+.4f} | {shown} |")


if __name__ == "__main__":
    main()
