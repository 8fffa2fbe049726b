"""Population training time of a plugin's student family against the built-in ``mlp``.

A plugin family is stacked generically (``torch.func``: ``vmap`` over ``functional_call``,
:mod:`autodistill.training.stacked_students`), the ``mlp`` family by the hand-written
:class:`~autodistill.training.population.StackedMLP`. To compare the two stacks and
nothing else, the plugin family here is the same MLP behind another class (so the weights,
the data and every step are the same; only the stack differs), registered for the run.
Each population of K members (hinton, seeds 0..K-1, builtin:digits, ``mlp:16``, fixed
epochs) is timed for both, in one process, alternating; printed: seconds per
student-epoch of each and the ratio generic/mlp (how much a plugin family pays for
being generic). ``--one-by-one`` times the fallback for modules ``vmap`` cannot run.

    python benchmarks/bench_students.py [--sizes 1,8] [--epochs 20] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from autodistill.data.dataset import load_dataset
from autodistill.registry.manager import register_for_test
from autodistill.students import MLP, StudentFamily, parse_widths
from autodistill.training.engine import Member, train_population
from autodistill.training.pipeline import Pipeline
from autodistill.training.teachers import get_teacher


class WrappedMLP(torch.nn.Module):
    """The built-in MLP behind another class (the engine then takes the generic stack)."""

    def __init__(self, n_features: int, n_classes: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.inner = MLP(n_features, n_classes, widths)
        self.hidden_dim, self.n_features, self.n_classes = (
            self.inner.hidden_dim, self.inner.n_features, self.inner.n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The inner MLP's ``(logits, hidden)``."""
        return self.inner(x)


class WrappedStudent(StudentFamily):
    """The MLP as a plugin family would register it (benchmark only)."""

    name = "wrapped_mlp"
    format = "wrapped_mlp:WIDTH[,WIDTH...]"

    def __init__(self, args: str) -> None:
        super().__init__(args)
        self.widths = parse_widths(args)

    def build(self, n_features: int, n_classes: int) -> torch.nn.Module:
        """A :class:`WrappedMLP`."""
        return WrappedMLP(n_features, n_classes, self.widths)


def _seconds_per_student_epoch(members, dataset, teacher, student: str, epochs: int,
                               one_by_one: bool) -> float:
    import autodistill.training.stacked_students as stacked

    probe = stacked.StackedStudents._probe
    if one_by_one:
        stacked.StackedStudents._probe = lambda self, device: False
    try:
        start = time.perf_counter()
        results = train_population(members, dataset, teacher, student=student, device="cpu")
        elapsed = time.perf_counter() - start
    finally:
        stacked.StackedStudents._probe = probe
    assert all(r.epochs_run == epochs for r in results)
    return elapsed / (len(members) * epochs)


def main() -> None:
    """Print the per-student-epoch times and the ratio generic/mlp for each K."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,8")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--one-by-one", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset("builtin:digits")
    teacher = get_teacher("auto", dataset)
    pipeline = Pipeline.from_dict({"kd_loss": {"name": "hinton"}, "training": {
        "epochs": args.epochs, "patience": args.epochs, "batch_size": 128}})
    remove = register_for_test("student", WrappedStudent, plugin="benchmark")
    try:
        for k in (int(s) for s in args.sizes.split(",")):
            members = [Member(pipeline, seed) for seed in range(k)]
            times: dict[str, list[float]] = {"mlp:16": [], "wrapped_mlp:16": []}
            for _ in range(args.repeats):
                for student in times:
                    times[student].append(_seconds_per_student_epoch(
                        members, dataset, teacher, student, args.epochs, args.one_by_one))
            fast, generic = (statistics.median(times[s]) for s in times)
            mode = "one by one" if args.one_by_one else "vmap"
            print(f"K={k:3d}  mlp (StackedMLP): {fast * 1e3:7.2f} ms/student-epoch   "
                  f"generic ({mode}): {generic * 1e3:7.2f} ms/student-epoch   "
                  f"ratio generic/mlp: {generic / fast:.2f}")
    finally:
        remove()


if __name__ == "__main__":
    main()
