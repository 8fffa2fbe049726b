"""The members of a population: each one's pipeline, components, cursor and early stopping.

A member is built as a single run is: ``torch.manual_seed(seed)``, the student, then its
KD loss, MI objective (with its critic), augmentation and curriculum, and a CPU generator
seeded with ``seed`` for row order and augmentation. Components whose class declares
``member_axis`` are stacked (:meth:`~autodistill.components.Component.stack`) across the
members that use them, so that one call serves them all; :func:`call_grouped` makes that
call, and when it raises, calls the members one by one so that only the faulty member
fails (named). Other components are called once per member.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from autodistill.components import KDLoss
from autodistill.errors import AutodistillError, ComponentError, PipelineError
from autodistill.metrics import get_metric
from autodistill.registry.manager import BUILTIN_PLUGIN_NAME, get_registry
from autodistill.training.joint import joint_teacher
from autodistill.training.layers import mi_dims
from autodistill.training.pipeline import Pipeline
from autodistill.training.pools import check_pool, pool_factor
from autodistill.training.population import BatchedAdam
from autodistill.training.recipe import resolve_training
from autodistill.training.requirements import check_requirements
from autodistill.training.students import build_student
from autodistill.training.teacher_outputs import difficulty

if TYPE_CHECKING:
    from autodistill.data.dataset import Dataset
    from autodistill.training.teacher_outputs import TeacherOutputs

__all__ = ["Member", "MemberRun", "setup_member", "stack_order", "Stacks", "call_grouped", "guarded"]


@dataclass(frozen=True)
class Member:
    """One member of a population: the pipeline it trains with and its seed.

    ``kd_loss``, when given, is a built :class:`~autodistill.components.KDLoss` the member
    minimises instead of its pipeline's: a loss that is no registered component, such as
    the MCMI teacher's (:class:`~autodistill.training.mcmi.MCMILoss`), which trains the
    ``auto+mcmi`` teacher in this engine like any student.
    """

    pipeline: Pipeline
    seed: int = 0
    kd_loss: KDLoss | None = None
    #: The validation metric that picks the member's best epoch and drives its early
    #: stopping (:data:`autodistill.metrics.METRICS`; a study's ``--metric``).
    metric: str = "accuracy"


def _plugin_of(family: str, name: str) -> str:
    """``'PLUGIN', DISTRIBUTION`` for a component a third-party plugin registered (what a
    failure names, so that the user knows what to fix or uninstall); empty for a built-in."""
    info = get_registry().components.get(family, {}).get(name)
    if info is None or info.plugin == BUILTIN_PLUGIN_NAME:
        return ""
    return f"'{info.plugin}'" + (f", {info.distribution}" if info.distribution else "")


def _build(family: str, pipeline: Pipeline, *args: Any) -> Any:
    spec = pipeline.component(family)
    cls = get_registry().get(family, spec.name).cls
    try:
        return cls(*args, **spec.params)
    except Exception as exc:
        raise ComponentError(family, spec.name, f"{type(exc).__name__}: {exc}",
                             _plugin_of(family, spec.name)) from exc


def guarded(family: str, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; turn any exception but ours (and pruning) into a :class:`ComponentError`."""
    try:
        return fn(*args, **kwargs)
    except (AutodistillError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if type(exc).__name__ == "TrialPruned":
            raise
        raise ComponentError(family, name, f"{type(exc).__name__}: {exc}",
                             _plugin_of(family, name)) from exc


@dataclass(eq=False)
class MemberRun:
    """A member's training state inside the engine."""

    index: int
    member: int
    pipeline: Pipeline
    seed: int
    model: Any
    generator: torch.Generator
    epochs: int
    batch_size: int
    patience: int
    lr: float
    weight_decay: float
    #: The learning-rate schedule over the epochs and its final fraction of ``lr``.
    schedule: str = "constant"
    final_lr_fraction: float = 1.0
    kd: Any = None
    #: The member's fine-tuned teacher copy when its KD loss trains the teacher (joint.py).
    joint: Any = None
    mi: Any = None
    mi_weight: float = 0.0
    mi_optimizer: Any = None
    augmentation: Any = None
    #: The augmentation when it runs as a pool (``pool_factor > 0``; see pools.py): it
    #: makes the pool once, and ``augmentation`` stays None (no per-batch augmentation).
    pool_augmentation: Any = None
    #: Where the member's pool lies in the training rows, and how many rows it has.
    pool_start: int = 0
    pool_rows: int = 0
    curriculum: Any = None
    outcome: BaseException | None = None
    active: bool = True
    epoch: int = 0
    order: torch.Tensor | None = None
    #: This epoch's training inputs when the curriculum transforms them (else None).
    x_epoch: torch.Tensor | None = None
    pos: int = 0
    n_rows: int = 0
    #: The validation metric that picks the best epoch (see :class:`Member`), and the
    #: best epoch's score in it (higher is better: ``log_loss`` is negated).
    metric: str = "accuracy"
    best_score: float = -math.inf
    #: Validation accuracy and loss of the best epoch.
    best_accuracy: float = -1.0
    best_loss: float = math.inf
    best_epoch: int = -1
    stale: int = 0
    history: list[float] = field(default_factory=list)
    finished: float | None = None

    def fail(self, error: BaseException, when: float) -> None:
        """Stop this member with ``error`` as its outcome."""
        if self.outcome is None:
            self.outcome = error
        self.active = False
        self.finished = when

    def next_rows(self) -> torch.Tensor:
        """The row indices of this member's next batch (its cursor moves on)."""
        rows = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return rows


def _check_teacher(member: Member, teacher: TeacherOutputs | None) -> None:
    pipeline = member.pipeline
    own_loss_uses_teacher = member.kd_loss is not None and member.kd_loss.uses_teacher
    if teacher is None and (pipeline.uses_teacher or own_loss_uses_teacher):
        raise PipelineError("this pipeline uses the teacher but no teacher was given")
    if pipeline.uses_hidden and (teacher is None or teacher.hidden is None):
        raise PipelineError(
            f"mi_objective '{pipeline.mi_objective.name}' needs the teacher's hidden features, "
            "but this teacher exposes none; use mi_objective 'none' or a teacher returning "
            "(logits, hidden)"
        )


def _hidden_width(teacher: TeacherOutputs | None) -> int:
    hidden = teacher.hidden if teacher is not None else None
    return int(hidden["train"].shape[1]) if hidden is not None else 0


def stack_order(members: Sequence[Member], n_train: int) -> list[int]:
    """Member numbers in stack order: members likely to share a batch length, an
    augmentation and a KD loss lie next to each other, so that their shared calls take
    contiguous slices (views) of the stack rather than gathered copies."""
    def key(number: int) -> tuple[Any, ...]:
        pipeline = members[number].pipeline
        batch_size = resolve_training(pipeline.training, n_train)["batch_size"]
        return (int(batch_size), pipeline.augmentation.name,
                pipeline.kd_loss.name, pipeline.mi_objective.name, number)
    return sorted(range(len(members)), key=key)


def setup_member(index: int, number: int, member: Member, dataset: Dataset,
                 teacher: TeacherOutputs | None, student: str, device: torch.device) -> MemberRun:
    """Build the student and components of member ``number`` (at ``index`` in the stack);
    a component that cannot be built (or a pipeline this teacher cannot serve) becomes
    the member's outcome.

    Raises:
        PipelineError: for a malformed student spec (it concerns every member).
    """
    pipeline = member.pipeline.for_rows(len(dataset.y_train))
    training = pipeline.training
    torch.manual_seed(member.seed)
    model = build_student(student, dataset.n_features, dataset.n_classes)
    run = MemberRun(index=index, member=number, pipeline=pipeline, seed=member.seed, model=model,
                    generator=torch.Generator().manual_seed(member.seed),
                    epochs=int(training["epochs"]), batch_size=int(training["batch_size"]),
                    patience=int(training.get("patience", 10)), lr=float(training["lr"]),
                    weight_decay=float(training["weight_decay"]),
                    schedule=str(training.get("schedule", "constant")),
                    final_lr_fraction=float(training.get("final_lr_fraction", 1.0)),
                    metric=get_metric(member.metric).name)
    try:
        _check_teacher(member, teacher)
        check_requirements(pipeline, teacher, student)
        run.kd = member.kd_loss if member.kd_loss is not None else _build("kd_loss", pipeline)
        run.joint = joint_teacher(run.kd, teacher, device)
        if pipeline.uses_hidden:
            mi_cls = get_registry().get("mi_objective", pipeline.mi_objective.name).cls
            run.mi = _build("mi_objective", pipeline, *mi_dims(mi_cls, model, teacher)).to(device)
            run.mi_weight = float(run.mi.hparams.get("weight", 1.0))
            critic = list(run.mi.parameters())
            if critic:
                run.mi_optimizer = BatchedAdam(critic, torch.tensor([run.lr]), torch.zeros(1))
        if pipeline.augmentation.name != "none":
            run.augmentation = _build("augmentation", pipeline)
        if pool_factor(pipeline) > 0:
            check_pool(pipeline, teacher, len(dataset.y_train), dataset.n_features,
                       dataset.n_classes, _hidden_width(teacher) if pipeline.uses_hidden else 0)
            run.pool_augmentation, run.augmentation = run.augmentation, None
        row_difficulty = (difficulty(teacher, dataset.y_train) if teacher is not None
                          else np.zeros(len(dataset.y_train), dtype=np.float32))
        run.curriculum = _build("curriculum", pipeline, row_difficulty, run.epochs)
    except (ComponentError, PipelineError) as exc:
        run.fail(exc, 0.0)
    return run


def _key(component: Any) -> tuple[Any, ...]:
    """Members share a stacked call when they use one member-axis class with equal
    categorical hyperparameters."""
    if not type(component).member_axis:
        return (id(component),)
    fixed = tuple(sorted((k, v) for k, v in component.hparams.items()
                         if not isinstance(v, (int, float)) or isinstance(v, bool)))
    return (type(component), fixed)


class Stacks:
    """For one family: the stacked instance of each group of members sharing a call."""

    def __init__(self, family: str, runs: Sequence[MemberRun], attribute: str) -> None:
        self.family, self.attribute = family, attribute
        grouped: dict[tuple[Any, ...], list[MemberRun]] = {}
        for run in runs:
            component = getattr(run, attribute)
            if run.outcome is None and component is not None:
                grouped.setdefault(_key(component), []).append(run)
        self.key_of: dict[int, tuple[Any, ...]] = {}
        self.position: dict[int, int] = {}
        self.stacked: dict[tuple[Any, ...], Any] = {}
        self.size: dict[tuple[Any, ...], int] = {}
        self.selected: dict[tuple[Any, ...], Any] = {}
        for key, members in grouped.items():
            components = [getattr(r, attribute) for r in members]
            cls = type(components[0])
            self.stacked[key] = cls.stack(components) if cls.member_axis else None
            self.size[key] = len(members)
            for position, run in enumerate(members):
                self.key_of[run.index], self.position[run.index] = key, position

    def split(self, runs: Sequence[MemberRun]) -> list[tuple[tuple[Any, ...], list[int]]]:
        """Positions in ``runs`` grouped by shared call, in first-seen order."""
        groups: dict[tuple[Any, ...], list[int]] = {}
        for position, run in enumerate(runs):
            if run.index in self.key_of:
                groups.setdefault(self.key_of[run.index], []).append(position)
        return list(groups.items())

    def instance(self, key: tuple[Any, ...], runs: Sequence[MemberRun]) -> Any:
        """The stacked instance for exactly ``runs`` (all in group ``key``)."""
        whole = self.stacked[key]
        positions = [self.position[r.index] for r in runs]
        if len(positions) == self.size[key] and positions == sorted(positions):
            return whole
        # The same members meet step after step: select each subset once.
        chosen = self.selected.get((key, tuple(positions)))
        if chosen is None:
            chosen = self.selected[(key, tuple(positions))] = whole.select(positions)
        return chosen


def call_grouped(stacks: Stacks, runs: Sequence[MemberRun], positions: list[int],
                 key: tuple[Any, ...], call: Callable[[Any, list[int]], torch.Tensor],
                 failed: Callable[[MemberRun, BaseException], None],
                 ) -> list[tuple[list[int], torch.Tensor]]:
    """Call a family's component for ``runs[positions]``: once, stacked, when the class
    declares the member axis, else once per member.

    ``call(component, positions)`` receives a stacked instance (inputs with a member
    axis; returns a member-leading tensor) or a member's own instance (one position;
    returns that member's value). Returns chunks ``(positions, member-leading tensor)``;
    a member whose call raised is left out, and ``failed(run, error)`` is called for it.
    When a stacked call raises, the members are called one by one, so that only the
    faulty one fails.
    """
    chosen = [runs[p] for p in positions]
    stacked = stacks.stacked[key] is not None
    if stacked:
        name = getattr(chosen[0], stacks.attribute).name
        try:
            return [(positions, guarded(stacks.family, name, call, stacks.instance(key, chosen),
                                        positions))]
        except ComponentError as exc:
            if len(positions) == 1:
                failed(chosen[0], exc)
                return []
    chunks = []
    for run, position in zip(chosen, positions, strict=True):
        component = getattr(run, stacks.attribute)
        instance = stacks.instance(key, [run]) if stacked else component
        try:
            out = guarded(stacks.family, component.name, call, instance, [position])
        except ComponentError as exc:
            failed(run, exc)
            continue
        chunks.append(([position], out if stacked else out.unsqueeze(0)))
    return chunks
