"""Training: a population of students of one shape, each with its own pipeline, at once.

The teacher's logits and hidden features come precomputed (:class:`TeacherOutputs`); the
only teacher forward passes here are on augmented rows, one call per step for all
members. The members' weights are stacked on a leading member axis
(:class:`~autodistill.training.population.StackedMLP` for the built-in ``mlp`` family,
:class:`~autodistill.training.stacked_students.StackedStudents` through ``torch.func`` for a
family a plugin registers), so every step is one batched pass for all of them. Each member keeps its own cursor: its curriculum picks its rows each epoch, its
batches are augmented with its own generator (augmented rows labelled by the teacher),
its KD loss and weighted MI objective are minimised jointly (its MI critic trains with
it), its validation metric (accuracy unless its :class:`Member` names another) drives its
early stopping, and its best weights are restored. Members stop independently (finished, early-stopped, pruned by ``on_epoch``,
a NaN loss, a component that raised); a stopped member no longer moves
(:class:`~autodistill.training.population.BatchedAdam` masks it, moments included).

K = 1 is the ordinary single run: :func:`train_student` is :func:`train_population` with
one member. Everything random draws from each member's ``seed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from autodistill.errors import AutodistillError
from autodistill.metrics import all_metrics, get_metric
from autodistill.training.members import (
    Member,
    MemberRun,
    Stacks,
    guarded,
    setup_member,
    stack_order,
)
from autodistill.training.pipeline import Pipeline
from autodistill.training.pools import PoolRows, attach_pools
from autodistill.training.population import BatchedAdam, copy_where
from autodistill.training.stacked_students import stack_students
from autodistill.training.steps import MemberEpochFn, State, Step, begin_epoch, member_selection

if TYPE_CHECKING:
    from autodistill.data.dataset import Dataset
    from autodistill.training.teacher_outputs import TeacherOutputs

__all__ = ["TrainResult", "NonFiniteLossError", "Member", "default_device", "train_student",
           "train_population"]



class NonFiniteLossError(AutodistillError):
    """The training loss became NaN or infinite (a search prunes such a trial)."""


@dataclass
class TrainResult:
    """What one training run produced; accuracies are on the named split.

    In a population, ``seconds`` is the wall time from the population's start until
    this member stopped.
    """

    valid_accuracy: float
    test_accuracy: float
    macro_f1: float
    teacher_agreement: float | None
    epochs_run: int
    best_epoch: int
    seconds: float
    student: nn.Module
    history: list[float] = field(default_factory=list)
    #: The member's fine-tuned teacher copy, when its KD loss trains the teacher (``mutual``).
    teacher: nn.Module | None = None
    #: Every metric of :data:`autodistill.metrics.METRICS` by name, from the best weights'
    #: softmax probabilities on the validation split and on the test split.
    valid_metrics: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)


def default_device() -> torch.device:
    """CUDA when available, else the CPU (where training and teachers run by default)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _state(members: Sequence[Member], dataset: Dataset, teacher: TeacherOutputs | None,
           student: str, device: torch.device, on_epoch: MemberEpochFn | None) -> State:
    runs = [setup_member(index, number, members[number], dataset, teacher, student, device)
            for index, number in enumerate(stack_order(members, len(dataset.y_train)))]
    stack = stack_students([r.model for r in runs], device)
    lr = torch.tensor([r.lr for r in runs])
    decay = torch.tensor([r.weight_decay for r in runs])
    uses_hidden = any(r.mi is not None for r in runs)

    def tensor(value: Any, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(value, dtype=dtype, device=device)

    real = PoolRows(x=tensor(dataset.X_train, torch.float32),
                    y=tensor(dataset.y_train, torch.int64),
                    t=teacher.logits["train"].to(device) if teacher is not None else None,
                    th=teacher.hidden["train"].to(device) if uses_hidden else None)
    rows = attach_pools(runs, real, teacher, guarded)  # members with a pool_factor
    return State(
        device=device, teacher=teacher, x_train=rows.x, y_train=rows.y,
        x_valid=tensor(dataset.X_valid, torch.float32), y_valid=tensor(dataset.y_valid, torch.int64),
        t_train=rows.t, th_train=rows.th,
        runs=runs, stack=stack, optimizer=BatchedAdam(stack.parameters(), lr, decay),
        best=stack.snapshot(), kd=Stacks("kd_loss", runs, "kd"),
        aug=Stacks("augmentation", runs, "augmentation"), on_epoch=on_epoch,
        n_real=int(real.x.shape[0]),
    )


def train_population(
    members: Sequence[Member],
    dataset: Dataset,
    teacher: TeacherOutputs | None,
    *,
    student: str = "mlp:16",
    device: torch.device | str | None = None,
    on_epoch: MemberEpochFn | None = None,
) -> list[TrainResult | Exception]:
    """Train one ``student`` per member on ``dataset``, all at once; return each outcome.

    Args:
        members: Each member's pipeline and seed (any number; all train the same
            student shape; batch sizes, epochs and everything else may differ).
        dataset: The dataset with its fixed splits.
        teacher: Precomputed teacher outputs; may be ``None`` only for pipelines that do
            not use the teacher (``plain``).
        student: Student spec such as ``mlp:16`` (or a registered family's, see
            :mod:`autodistill.students`).
        device: Training device; ``cuda`` when available by default.
        on_epoch: Called as ``on_epoch(member, epoch, valid_accuracy)`` after each of a
            member's epochs; an exception it raises (e.g. ``optuna.TrialPruned``) stops
            that member and becomes its outcome. ``KeyboardInterrupt`` stops them all.

    Returns:
        Per member, in order: its :class:`TrainResult`, or the exception that stopped it
        (:class:`~autodistill.errors.PipelineError`,
        :class:`~autodistill.errors.ComponentError` naming the component,
        :class:`NonFiniteLossError`, or what ``on_epoch`` raised).

    Raises:
        PipelineError: for a malformed student spec.
    """
    if not members:
        return []
    state = _state(members, dataset, teacher, student,
                   torch.device(device) if device is not None else default_device(), on_epoch)
    for run in state.runs:
        if run.active:
            begin_epoch(state, run)
    step = Step(state, NonFiniteLossError)
    while True:
        live = [r for r in state.runs if r.active]
        if not live:
            break
        stepping = [r for r in live if r.pos < r.n_rows]
        if stepping:
            step(stepping)
        ending = [r for r in live if r.active and r.pos >= r.n_rows]
        if ending:
            _end_epoch(state, ending)
    outcomes = {run.member: _result(state, run, dataset) for run in state.runs}
    return [outcomes[number] for number in range(len(members))]


@torch.no_grad()
def _validate(state: State, runs: list[MemberRun],
              ) -> tuple[list[float], list[float], list[float]]:
    """Validation accuracy, loss and score (each run's metric, higher is better) of
    ``runs``' current weights."""
    logits, _ = state.stack.forward(state.x_valid,
                                    member_selection(runs, len(state.runs), state.device))
    targets = state.y_valid.expand(len(runs), -1)
    predicted = logits.argmax(-1)
    accuracy = (predicted == targets).float().mean(-1).tolist()
    # Cross-entropy as logsumexp - target logit (F.cross_entropy over a member axis is
    # several times slower on the CPU).
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    loss = (torch.logsumexp(logits, dim=-1) - picked).mean(-1).tolist()
    # Balanced accuracy and macro F1 by autodistill.metrics' own definitions (they read
    # the argmax, so the logits serve as the probabilities), once per epoch per member.
    by_class = [r.metric in ("balanced_accuracy", "macro_f1") for r in runs]
    if any(by_class):
        cpu_logits, labels = logits.detach().cpu(), state.y_valid.cpu()
    scores = []
    for i, run in enumerate(runs):
        if run.metric == "log_loss":
            scores.append(-loss[i])
        elif by_class[i]:
            scores.append(get_metric(run.metric).fn(cpu_logits[i], labels))
        else:
            scores.append(accuracy[i])
    return accuracy, loss, scores


def _end_epoch(state: State, runs: list[MemberRun]) -> None:
    """Validate ``runs`` (all at an epoch's end), keep their best weights (by each one's
    metric), report, stop or begin their next epoch."""
    accuracies, losses, scores = _validate(state, runs)
    improved = torch.zeros(len(state.runs), dtype=torch.bool)
    for run, accuracy, loss, score in zip(runs, accuracies, losses, scores, strict=True):
        run.history.append(accuracy)
        # Ties in the score (a plateau on a small validation set) are broken by the loss,
        # so early stopping does not end a run that is still learning.
        if score > run.best_score or (score == run.best_score and loss < run.best_loss):
            run.best_score, run.best_accuracy, run.best_loss, run.best_epoch, run.stale = (
                score, accuracy, loss, run.epoch, 0)
            improved[run.index] = True
        else:
            run.stale += 1
    if bool(improved.any()):
        copy_where(state.best, state.stack.state_tensors(), improved.to(state.device))
    for run, accuracy in zip(runs, accuracies, strict=True):
        if state.on_epoch is not None:
            try:
                state.on_epoch(run.member, run.epoch, accuracy)
            except Exception as exc:  # noqa: BLE001 - the member's outcome, e.g. pruning
                run.fail(exc, time.perf_counter())
                continue
        if run.stale >= run.patience or run.epoch + 1 >= run.epochs:
            run.active, run.finished = False, time.perf_counter()
        else:
            run.epoch += 1
            begin_epoch(state, run)


def _result(state: State, run: MemberRun, dataset: Dataset) -> TrainResult | Exception:
    if run.outcome is not None:
        return run.outcome
    model = state.stack.member_module(run.index, state.best if run.best_epoch >= 0 else None)
    with torch.no_grad():
        valid_proba, test_proba = (
            torch.softmax(model(torch.as_tensor(x, dtype=torch.float32))[0], 1).numpy()
            for x in (dataset.X_valid, dataset.X_test))
    test_metrics = all_metrics(test_proba, np.asarray(dataset.y_test))
    agreement = None
    if state.teacher is not None:
        teacher_pred = state.teacher.logits["test"].argmax(1).cpu().numpy()
        agreement = float((teacher_pred == test_proba.argmax(1)).mean())
    return TrainResult(
        valid_accuracy=run.best_accuracy,
        test_accuracy=test_metrics["accuracy"],
        macro_f1=test_metrics["macro_f1"],
        teacher_agreement=agreement,
        epochs_run=len(run.history),
        best_epoch=run.best_epoch,
        seconds=(run.finished or time.perf_counter()) - state.started,
        student=model,
        history=run.history,
        teacher=run.joint.module.cpu().eval() if run.joint is not None else None,
        valid_metrics=all_metrics(valid_proba, dataset.y_valid),
        test_metrics=test_metrics,
    )


def train_student(
    pipeline: Pipeline,
    dataset: Dataset,
    teacher: TeacherOutputs | None,
    *,
    student: str = "mlp:16",
    seed: int = 0,
    device: torch.device | str | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    metric: str = "accuracy",
) -> TrainResult:
    """Train ``student`` on ``dataset`` with ``pipeline``; return its metrics.

    A population of one (:func:`train_population`).

    Args:
        pipeline: A validated pipeline.
        dataset: The dataset with its fixed splits.
        teacher: Precomputed teacher outputs; may be ``None`` only for pipelines that do
            not use the teacher (``plain``).
        student: Student spec such as ``mlp:16``.
        seed: Seeds weight initialisation, row order and augmentation.
        device: Training device; ``cuda`` when available by default.
        on_epoch: Called as ``on_epoch(epoch, valid_accuracy)`` after every epoch; an
            exception it raises (e.g. ``optuna.TrialPruned``) stops training and propagates.
        metric: The validation metric that picks the best epoch and drives early stopping.

    Raises:
        PipelineError: the pipeline needs a teacher (or its hidden features) it lacks.
        ComponentError: a component raised; carries its family and name.
        NonFiniteLossError: the loss became NaN or infinite.
    """
    per_member = None if on_epoch is None else (lambda _m, epoch, acc: on_epoch(epoch, acc))
    (outcome,) = train_population([Member(pipeline, seed, metric=metric)], dataset, teacher,
                                  student=student,
                                  device=device, on_epoch=per_member)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome

