"""Population training: members equal single runs, masked steps, per-member failures."""

from __future__ import annotations

import math
from contextlib import contextmanager

import pytest
import torch

from autodistill.components import KDLoss
from autodistill.errors import ComponentError
from autodistill.registry.manager import register_for_test
from autodistill.testing import check_component
from autodistill.training.engine import Member, NonFiniteLossError, train_population, train_student
from autodistill.training.pipeline import Pipeline
from autodistill.training.population import BatchedAdam

FAST = {"epochs": 8, "patience": 8, "batch_size": 32}


@pytest.fixture(scope="module")
def iris_with_teacher():
    from autodistill.data.dataset import load_dataset
    from autodistill.training.teachers import get_teacher

    dataset = load_dataset("builtin:iris")
    return dataset, get_teacher("auto", dataset)


def _pipeline(training: dict | None = None, **families) -> Pipeline:
    return Pipeline.from_dict({**{f: {"name": n} for f, n in families.items()},
                               "training": {**FAST, **(training or {})}})


def test_each_member_trains_as_it_would_alone(iris_with_teacher, assert_matches_alone):
    dataset, teacher = iris_with_teacher
    members = [
        Member(_pipeline(kd_loss="hinton"), seed=1),
        Member(_pipeline({"batch_size": 64, "lr": 0.01}, kd_loss="none"), seed=2),
        Member(_pipeline(kd_loss="dkd", augmentation="mixup", curriculum="cyclical"), seed=3),
        Member(_pipeline({"epochs": 5}, kd_loss="soft_ce", augmentation="gaussian_noise"), 4),
        Member(_pipeline(kd_loss="mse_logits", curriculum="self_paced"), seed=5),
        Member(_pipeline(kd_loss="hinton", mi_objective="fitnet"), seed=6),
    ]
    assert_matches_alone(members, dataset, teacher)


def test_a_masked_member_does_not_move_nor_its_moments():
    torch.manual_seed(0)
    weights = torch.randn(3, 4, 2, requires_grad=True)
    reference = weights.detach().clone().requires_grad_(True)
    optimizer = BatchedAdam([weights], torch.full((3,), 0.1), torch.full((3,), 0.01))
    torch_adam = torch.optim.Adam([reference], lr=0.1, weight_decay=0.01)
    for step in range(4):
        active = torch.tensor([True, step % 2 == 0, True])
        before = (weights.detach()[1].clone(), optimizer.exp_avg[0][1].clone(),
                  optimizer.exp_avg_sq[0][1].clone())
        (weights ** 2).sum().backward()
        optimizer.step(active)
        optimizer.zero_grad()
        if not active[1]:
            assert torch.equal(weights.detach()[1], before[0])
            assert torch.equal(optimizer.exp_avg[0][1], before[1])
            assert torch.equal(optimizer.exp_avg_sq[0][1], before[2])
        (reference ** 2).sum().backward()
        torch_adam.step()
        torch_adam.zero_grad()
    # Always-active members follow torch's Adam exactly.
    torch.testing.assert_close(weights.detach()[0], reference.detach()[0])
    torch.testing.assert_close(weights.detach()[2], reference.detach()[2])
    assert optimizer.steps.tolist() == [4.0, 2.0, 4.0]


def test_batched_adam_moves_each_member_bit_for_bit_as_its_single_run():
    """Masked or not, a member's step is the single run's (its own Adam over [1, ...]
    tensors), so populations do not drift from one-at-a-time runs through the optimiser."""
    torch.manual_seed(0)
    k = 4
    start = [torch.randn(k, 7, 3), torch.randn(k, 3)]
    lrs, decay = torch.tensor([0.01, 0.003, 0.03, 0.0137]), torch.full((k,), 1e-4)
    stacked = [w.clone().requires_grad_(True) for w in start]
    alone = [[w[i:i + 1].clone().requires_grad_(True) for w in start] for i in range(k)]
    optimizer = BatchedAdam(stacked, lrs, decay)
    singles = [BatchedAdam(alone[i], lrs[i:i + 1], decay[i:i + 1]) for i in range(k)]
    for step in range(20):
        active = torch.tensor([True, step % 3 != 0, step < 8, True])
        grads = [torch.randn_like(w) for w in start]
        for tensor, grad in zip(stacked, grads, strict=True):
            tensor.grad = grad.clone()
        optimizer.step(None if bool(active.all()) else active)
        for i in range(k):
            if active[i]:
                for tensor, grad in zip(alone[i], grads, strict=True):
                    tensor.grad = grad[i:i + 1].clone()
                singles[i].step()
    for i in range(k):
        for tensor, single in zip(stacked, alone[i], strict=True):
            assert torch.equal(tensor.detach()[i], single.detach()[0])


class _Boom(KDLoss):
    """Raises on purpose."""

    name = "test_pop_boom"

    def forward(self, student_logits, teacher_logits, targets):
        raise RuntimeError("boom")


class _NaNLater(KDLoss):
    """Cross-entropy that becomes NaN from the third call on (declares the member axis)."""

    name = "test_pop_nan"
    uses_teacher = False
    member_axis = True

    def forward_members(self, student_logits, teacher_logits, targets):
        self.calls = getattr(self, "calls", 0) + 1
        loss = torch.nn.functional.cross_entropy(
            student_logits.transpose(1, 2), targets, reduction="none").mean(-1)
        return loss * float("nan") if self.calls > 2 else loss


def test_a_raising_or_nan_member_stops_alone_and_is_named(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    removers = [register_for_test("kd_loss", _Boom), register_for_test("kd_loss", _NaNLater)]
    try:
        outcomes = train_population([
            Member(_pipeline(kd_loss="hinton")),
            Member(_pipeline(kd_loss="test_pop_boom")),
            Member(_pipeline(kd_loss="test_pop_nan")),
            Member(_pipeline(kd_loss="none")),
        ], dataset, teacher)
    finally:
        for remove in removers:
            remove()
    assert math.isfinite(outcomes[0].valid_accuracy) and outcomes[0].epochs_run == 8
    assert isinstance(outcomes[1], ComponentError)
    assert "kd_loss 'test_pop_boom' failed: RuntimeError: boom" in str(outcomes[1])
    assert isinstance(outcomes[2], NonFiniteLossError) and "nan" in str(outcomes[2])
    assert outcomes[3].epochs_run == 8


def test_on_epoch_stops_one_member(iris_with_teacher):
    dataset, teacher = iris_with_teacher

    class Stop(Exception):
        pass

    def on_epoch(member, epoch, accuracy):
        if member == 0 and epoch == 2:
            raise Stop("pruned")

    outcomes = train_population([Member(_pipeline(kd_loss="hinton")),
                                 Member(_pipeline(kd_loss="hinton"), seed=1)],
                                dataset, teacher, on_epoch=on_epoch)
    assert isinstance(outcomes[0], Stop)
    assert outcomes[1].epochs_run == 8

@contextmanager
def counting_teacher(teacher):
    """Count the rows of each call to ``teacher``'s module while the block runs."""
    calls: list[int] = []
    original = teacher.module

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(x.shape[0])
            return original(x)

    teacher.module = Counting()
    try:
        yield calls
    finally:
        teacher.module = original


def test_the_teacher_labels_all_members_augmented_rows_in_one_call(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    with counting_teacher(teacher) as calls:
        train_population([Member(_pipeline(kd_loss="hinton", augmentation="mixup")),
                          Member(_pipeline(kd_loss="hinton", augmentation="gaussian_noise"), 1),
                          Member(_pipeline(kd_loss="hinton"), 2)], dataset, teacher)
    batches = math.ceil(len(dataset.y_train) / FAST["batch_size"]) * FAST["epochs"]
    assert len(calls) == batches  # one call per step, for both augmenting members
    assert sum(calls) == 2 * len(dataset.y_train) * FAST["epochs"]


def test_identical_augmented_batches_are_labelled_once(iris_with_teacher):
    """Members with one seed and augmentation draw the same rows: one teacher pass serves
    them, and each still trains as it would alone."""
    dataset, teacher = iris_with_teacher
    members = [Member(_pipeline(kd_loss="hinton", augmentation="mixup"), 0),
               Member(_pipeline({"lr": 0.01}, kd_loss="soft_ce", augmentation="mixup"), 0),
               Member(_pipeline(kd_loss="hinton", augmentation="gaussian_noise"), 1)]
    with counting_teacher(teacher) as calls:
        together = train_population(members, dataset, teacher)
    assert sum(calls) == 2 * len(dataset.y_train) * FAST["epochs"]
    for member, result in zip(members, together, strict=True):
        alone = train_student(member.pipeline, dataset, teacher, seed=member.seed)
        assert result.history == pytest.approx(alone.history, abs=0.02)
        # The teacher's MLP half labels the rows inside a larger batch than alone (float
        # summation order), and 8 epochs of Adam carry that noise to about 1e-4.
        for key, value in alone.student.state_dict().items():
            torch.testing.assert_close(result.student.state_dict()[key], value,
                                       rtol=1e-2, atol=1e-3)


class _WrongAxis(KDLoss):
    """Declares the member axis but averages over the members too."""

    name = "test_wrong_axis"
    uses_teacher = False
    member_axis = True

    def forward_members(self, student_logits, teacher_logits, targets):
        loss = torch.nn.functional.cross_entropy(
            student_logits.reshape(-1, student_logits.shape[-1]), targets.reshape(-1))
        return loss.expand(student_logits.shape[0])


def test_the_pruner_is_asked_every_early_epoch_and_a_bounded_number_of_times():
    from autodistill.study.population_worker import _asks_the_pruner

    asks = [epoch for epoch in range(1000) if _asks_the_pruner(epoch)]
    assert asks[:20] == list(range(20))
    # each ask reads every running trial's whole curve from the storage: not every epoch
    assert len(asks) <= 150
    # and never a tenth of the run without one
    assert all(later - earlier <= 1 + earlier // 10 for earlier, later in zip(asks, asks[1:], strict=False))


def test_check_component_catches_a_wrong_member_axis():
    with pytest.raises(AssertionError, match="member axis: same losses as member by member"):
        check_component(_WrongAxis)


# --- student families a plugin registers: the generic (torch.func) stack -------------

class _WrappedMLP(torch.nn.Module):
    """The built-in MLP behind another class, so the engine takes the generic stack."""

    def __init__(self, n_features, n_classes, widths, item_in_forward=False):
        super().__init__()
        from autodistill.students import MLP

        self.inner = MLP(n_features, n_classes, widths)
        self.hidden_dim, self.n_features, self.n_classes = (
            self.inner.hidden_dim, self.inner.n_features, self.inner.n_classes)
        self.hidden_sizes = self.inner.hidden_sizes
        self.item_in_forward = item_in_forward

    def forward(self, x):
        if self.item_in_forward and float(x.abs().max()) > 1e30:  # vmap cannot run .item()
            raise ValueError("unreachable")
        return self.inner(x)

    def layer_features(self, x):
        return self.inner.layer_features(x)


def _wrapped_family(name, item_in_forward=False):
    from autodistill.students import StudentFamily, parse_widths

    class Wrapped(StudentFamily):
        """The MLP, wrapped (a test family)."""

        format = f"{name}:WIDTH[,WIDTH...]"

        def __init__(self, args):
            super().__init__(args)
            self.widths = parse_widths(args)

        def build(self, n_features, n_classes):
            return _WrappedMLP(n_features, n_classes, self.widths, item_in_forward)

        def layer_widths(self):
            return self.widths

    Wrapped.name = name
    return Wrapped


@pytest.mark.parametrize("vmappable", [True, False])
def test_a_plugin_family_population_trains_as_the_mlp_fast_path(iris_with_teacher, vmappable):
    """Members of a plugin's family (stacked with torch.func, or called one by one when
    vmap cannot run the module) end where the same MLPs end on the hand-written stack:
    members with other epochs, batch sizes, an MI critic and layer mapping included, so a
    member that stopped must not have moved."""
    from autodistill.training.stacked_students import StackedStudents, stack_students

    dataset, teacher = iris_with_teacher
    family = _wrapped_family("wrapped_mlp", item_in_forward=not vmappable)
    members = [
        Member(_pipeline({"epochs": 5}, kd_loss="hinton"), seed=1),
        Member(_pipeline({"batch_size": 64, "lr": 0.01}, kd_loss="none"), seed=2),
        Member(_pipeline(kd_loss="hinton", mi_objective="fitnet", augmentation="mixup"), 3),
        Member(_pipeline({"epochs": 6}, kd_loss="hinton", mi_objective="layer_map"), seed=4),
    ]
    remove = register_for_test("student", family)
    try:
        models = [family("8,6").build(4, 3) for _ in range(2)]
        stack = stack_students(models, torch.device("cpu"))
        assert isinstance(stack, StackedStudents) and stack.vmapped is vmappable
        generic = train_population(members, dataset, teacher, student="wrapped_mlp:8,6")
    finally:
        remove()
    fast = train_population(members, dataset, teacher, student="mlp:8,6")
    for mine, reference in zip(generic, fast, strict=True):
        assert not isinstance(mine, Exception), mine
        assert mine.epochs_run == reference.epochs_run
        assert mine.history == pytest.approx(reference.history, abs=0.02)
        for key, value in reference.student.state_dict().items():
            torch.testing.assert_close(mine.student.state_dict()[f"inner.{key}"], value,
                                       rtol=1e-3, atol=1e-4)


class _NormalisedMLP(torch.nn.Module):
    """An MLP with batch normalisation: running statistics are buffers that training moves."""

    def __init__(self, n_features, n_classes, width):
        super().__init__()
        self.n_features, self.n_classes, self.hidden_dim = n_features, n_classes, width
        self.hidden_sizes = [width]
        self.body = torch.nn.Sequential(torch.nn.Linear(n_features, width, bias=False),
                                        torch.nn.BatchNorm1d(width), torch.nn.ReLU())
        self.head = torch.nn.Linear(width, n_classes)

    def forward(self, x):
        hidden = self.body(x)
        return self.head(hidden), hidden


def test_a_plugin_student_keeps_the_buffers_of_its_best_epoch(iris_with_teacher):
    """A student with batch normalisation comes back with the running statistics of the
    epoch its weights come from (as a run stopped after that epoch has them), trained
    together with other members as alone."""
    from autodistill.students import StudentFamily

    class Normalised(StudentFamily):
        """An MLP with batch normalisation (a test family)."""

        name = "normalised_mlp"
        format = "normalised_mlp:WIDTH"

        def build(self, n_features, n_classes):
            return _NormalisedMLP(n_features, n_classes, int(self.args or 8))

    def member(seed, kd, epochs=12):
        return Member(_pipeline({"epochs": epochs, "lr": 0.05, "batch_size": 16,
                                 "patience": epochs}, kd_loss=kd), seed=seed)

    dataset, teacher = iris_with_teacher
    members = [member(1, "hinton"), member(2, "none"), member(3, "hinton", epochs=7)]
    remove = register_for_test("student", Normalised)
    try:
        def train(population):
            results = train_population(population, dataset, teacher, student="normalised_mlp:8")
            assert all(not isinstance(r, Exception) for r in results), results
            return results

        together = train(members)
        alone = [train([m])[0] for m in members]
        stopped = [train([member(m.seed, m.pipeline.kd_loss.name, r.best_epoch + 1)])[0]
                   for m, r in zip(members, alone, strict=True)]
    finally:
        remove()
    assert any(r.best_epoch < r.epochs_run - 1 for r in alone)  # else nothing is tested
    for mine, single, short in zip(together, alone, stopped, strict=True):
        batches = math.ceil(len(dataset.y_train) / 16)  # a running-statistics update each
        assert int(mine.student.body[1].num_batches_tracked) == batches * (mine.best_epoch + 1)
        for reference in (single, short):
            for key, value in reference.student.state_dict().items():
                torch.testing.assert_close(mine.student.state_dict()[key], value,
                                           rtol=1e-4, atol=1e-5,
                                           msg=lambda m, k=key, r=reference is short: f"{k} (stopped={r}): {m}")


def test_a_plugin_family_whose_build_raises_is_named(iris_with_teacher):
    from autodistill.students import StudentFamily

    class Broken(StudentFamily):
        """Cannot build."""

        name = "broken_student"
        format = "broken_student:"

        def build(self, n_features, n_classes):
            raise RuntimeError("no weights for you")

    dataset, teacher = iris_with_teacher
    remove = register_for_test("student", Broken)
    try:
        with pytest.raises(ComponentError, match="student 'broken_student' failed.*no weights"):
            train_population([Member(_pipeline(kd_loss="hinton"), 0)], dataset, teacher,
                             student="broken_student:")
    finally:
        remove()
