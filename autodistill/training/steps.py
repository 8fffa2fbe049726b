"""One optimisation step of a population, and the start of a member's epoch.

A step takes each stepping member's next batch, groups the members by batch length (a
final, shorter batch; different batch sizes), augments (one stacked call per group of
members sharing a member-axis augmentation), runs the teacher once on every member's
augmented rows together, forwards each group of equal row count in one batched pass,
computes the KD losses (stacked where the class allows) and each member's MI objective
(per member: every critic is its own module), sums the members' losses, back-propagates
once and steps the members that took part. A member whose loss is not finite stops with
:class:`~autodistill.training.engine.NonFiniteLossError`; one whose component raised stops with
its :class:`~autodistill.errors.ComponentError`; the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch.nn import functional as F

from autodistill.components import Curriculum
from autodistill.errors import AutodistillError, ComponentError
from autodistill.training.layers import mi_inputs, uses_layers
from autodistill.training.members import MemberRun, Stacks, call_grouped, guarded
from autodistill.training.pools import mix_pool
from autodistill.training.population import BatchedAdam, StackedMLP
from autodistill.training.recipe import epoch_lr
from autodistill.training.stacked_students import StackedStudents
from autodistill.training.step_groups import Group, cat_rows, distinct_batches, merge_groups, take

if TYPE_CHECKING:
    from autodistill.training.teacher_outputs import TeacherOutputs

__all__ = ["MemberEpochFn", "State", "Step", "begin_epoch", "member_selection"]

#: ``on_epoch(member, epoch, valid_accuracy)`` of :func:`train_population`.
MemberEpochFn = Callable[[int, int, float], None]


@dataclass(eq=False)
class State:
    """Everything one population's training shares (see :mod:`autodistill.training.steps`)."""

    device: torch.device
    teacher: TeacherOutputs | None
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_valid: torch.Tensor
    y_valid: torch.Tensor
    t_train: torch.Tensor | None
    th_train: torch.Tensor | None
    runs: list[MemberRun]
    stack: StackedMLP | StackedStudents
    optimizer: BatchedAdam
    best: list[torch.Tensor]
    kd: Stacks
    aug: Stacks
    on_epoch: MemberEpochFn | None
    #: How many of the ``*_train`` rows are real: any members' pools follow them (pools.py).
    n_real: int = 0
    started: float = field(default_factory=time.perf_counter)


def begin_epoch(state: State, run: MemberRun) -> None:
    """Ask ``run``'s curriculum for this epoch's rows, reset its cursor and set its
    learning rate for the epoch (its schedule)."""
    student_loss = None
    if run.curriculum.needs_student_loss and run.epoch > 0:
        with torch.no_grad():
            members = torch.tensor([run.index], device=state.device)
            logits = state.stack.forward(state.x_train[:state.n_real], members)[0][0]
            student_loss = F.cross_entropy(logits, state.y_train[:state.n_real],
                                           reduction="none").cpu()
    try:
        order = guarded("curriculum", run.curriculum.name, run.curriculum.indices, run.epoch,
                        run.generator, student_loss)
        if type(run.curriculum).transform is not Curriculum.transform:
            run.x_epoch = guarded("curriculum", run.curriculum.name, run.curriculum.transform,
                                  state.x_train[:state.n_real], run.epoch, run.generator)
    except ComponentError as exc:
        run.fail(exc, time.perf_counter())
        return
    order = mix_pool(order.to(state.device), run)
    run.order, run.pos, run.n_rows = order, 0, int(order.shape[0])
    if run.schedule != "constant":
        state.optimizer.lr[run.index] = epoch_lr(run.lr, run.schedule, run.final_lr_fraction,
                                                 run.epoch, run.epochs)


def member_selection(runs: list[MemberRun], k: int, device: torch.device) -> slice | torch.Tensor | None:
    """Which stack members ``runs`` are: all (``None``), a slice, or an index tensor."""
    first, n = runs[0].index, len(runs)
    if all(r.index == first + i for i, r in enumerate(runs)):
        return None if n == k else slice(first, first + n)
    return torch.tensor([r.index for r in runs], device=device)


class Step:
    """Callable doing one optimisation step for the given members."""

    def __init__(self, state: State, nonfinite: type[AutodistillError]) -> None:
        self.state, self.nonfinite = state, nonfinite
        self.k = len(state.runs)
        #: Where this step's tensors of each member are (references, no copies, no
        #: indexing on the hot path), to name the source of a non-finite loss:
        #: member index -> (group, position, logits, kd losses, loss position, mi term).
        self.trace: dict[int, tuple[Any, ...]] = {}

    def traced(self, run: MemberRun) -> tuple[Any, ...]:
        """``run``'s (rows, teacher logits, logits, kd value, mi value) of this step."""
        group, p, logits, losses, i, term = self.trace[run.index]
        return (group.x[p], group.t[p] if group.t is not None else None, logits[p],
                losses[i], term)

    def fail(self, run: MemberRun, error: BaseException) -> None:
        """Stop ``run`` with ``error``."""
        run.fail(error, time.perf_counter())

    def __call__(self, stepping: list[MemberRun]) -> None:
        """Train ``stepping`` (each has rows left in its epoch) on their next batch."""
        state = self.state
        by_size: dict[int, list[MemberRun]] = {}
        rows: dict[int, torch.Tensor] = {}
        for run in stepping:
            batch = run.next_rows()
            rows[run.index] = batch
            by_size.setdefault(int(batch.shape[0]), []).append(run)
        batches = []
        for runs in by_size.values():
            index = torch.stack([rows[r.index] for r in runs])
            x = state.x_train[index]
            for position, run in enumerate(runs):
                if run.x_epoch is not None:  # its curriculum transforms this epoch's inputs
                    if run.pool_rows:  # of the real rows only
                        real = index[position] < state.n_real
                        x[position][real] = run.x_epoch[index[position][real]]
                    else:
                        x[position] = run.x_epoch[index[position]]
            batches.append(Group(runs, x, state.y_train[index],
                                 state.t_train[index] if state.t_train is not None else None,
                                 index))
        groups = merge_groups(self._augment(batches))
        pieces = [piece for group in groups if (piece := self._losses(group)) is not None]
        if not pieces:
            return
        runs = [r for piece_runs, _ in pieces for r in piece_runs]
        losses = pieces[0][1] if len(pieces) == 1 else torch.cat([v for _, v in pieces])
        finite = torch.isfinite(losses)
        if not bool(finite.all()):
            for run, ok, value in zip(runs, finite.tolist(), losses.tolist(), strict=True):
                if not ok:
                    self.fail(run, self.nonfinite(
                        f"the training loss became {value} at epoch {run.epoch}: "
                        f"{nonfinite_source(run.pipeline, *self.traced(run), kd_name=run.kd.name)}"))
            losses = torch.where(finite, losses, torch.zeros_like(losses))
        stepped = [r for r in runs if r.active]
        critics = [r.mi_optimizer for r in stepped if r.mi_optimizer is not None]
        critics += [r.joint.optimizer for r in stepped if r.joint is not None]
        state.optimizer.zero_grad()
        for optimizer in critics:
            optimizer.zero_grad()
        losses.sum().backward()
        active = None
        if len(stepped) < self.k:
            active = torch.zeros(self.k, dtype=torch.bool)
            active[[r.index for r in stepped]] = True
            active = active.to(state.device)
        if active is not None and not bool(finite.all()):
            # A member stopped by a non-finite loss may hold non-finite gradients, which
            # the optimiser's weight-0 interpolation would carry into its weights.
            for p in state.optimizer.params:
                if p.grad is not None:
                    p.grad[~active] = 0.0
        state.optimizer.step(active)
        for optimizer in critics:
            optimizer.step()

    def _augment(self, batches: list[Group]) -> list[Group]:
        """Augment the batches of members with an augmentation, label the new rows with
        one teacher call, and return the groups to forward (plain and augmented apart)."""
        state = self.state
        made: list[tuple[Group, list[int], torch.Tensor]] = []
        for batch in batches:
            for key, positions in state.aug.split(batch.runs):
                def call(component: Any, chosen: list[int], batch: Group = batch) -> torch.Tensor:
                    if component.members is None:
                        run = batch.runs[chosen[0]]
                        return component(batch.x[chosen[0]], batch.y[chosen[0]], run.generator)
                    gens = [batch.runs[p].generator for p in chosen]
                    return component(take(batch.x, chosen, len(batch.runs)),
                                     take(batch.y, chosen, len(batch.runs)), gens)

                for chunk, x_aug in call_grouped(state.aug, batch.runs, positions, key, call,
                                                 self.fail):
                    made.append((batch, chunk, x_aug))
        labels = self._label(made)
        groups = []
        for batch in batches:
            augmented = {p for b, positions, _ in made if b is batch for p in positions}
            plain = [p for p, r in enumerate(batch.runs) if p not in augmented and r.active]
            if plain:
                n = len(batch.runs)
                groups.append(Group([batch.runs[p] for p in plain], take(batch.x, plain, n),
                                    take(batch.y, plain, n), take(batch.t, plain, n),
                                    take(batch.rows, plain, n)))
        for (batch, positions, x_aug), (t_aug, th_aug) in zip(made, labels, strict=True):
            runs = [batch.runs[p] for p in positions]
            if not all(r.active for r in runs):
                continue  # the teacher failed: every augmenting member was stopped
            n = len(batch.runs)
            groups.append(Group(runs, torch.cat([take(batch.x, positions, n), x_aug], 1),
                                torch.cat([take(batch.y, positions, n), t_aug.argmax(-1)], 1),
                                cat_rows(take(batch.t, positions, n), t_aug),
                                take(batch.rows, positions, n), th_aug))
        return groups

    def _label(self, made: list[tuple[Group, list[int], torch.Tensor]]) -> list[tuple[Any, Any]]:
        """Teacher logits (and hidden) of all augmented rows, one call, split per chunk.

        Each distinct member batch is labelled once: members with one seed, batch size,
        curriculum and augmentation draw identical augmented rows (a knowledge-base
        portfolio trains every trial with one seed), and a teacher's cost per row (the
        gbdt half of ``auto``: about 0.2 ms a row on digits) would be paid again for each.
        """
        if not made:
            return []
        chunks = [x_aug for _, _, x_aug in made]
        distinct, source = distinct_batches(chunks)
        try:
            rows = torch.cat([chunks[c][m] for c, m in distinct])
            logits, hidden = self.state.teacher.predict(rows)
        except AutodistillError as exc:
            for batch, positions, _ in made:
                for p in positions:
                    self.fail(batch.runs[p], exc)
            return [(None, None)] * len(made)
        starts, start = [], 0
        for c, _ in distinct:
            starts.append(start)
            start += chunks[c].shape[1]

        def labels(values: torch.Tensor, members: range, n: int) -> torch.Tensor:
            firsts = [starts[source[number]] for number in members]
            if firsts == list(range(firsts[0], firsts[0] + n * len(firsts), n)):
                return values[firsts[0]:firsts[0] + n * len(firsts)].view(len(firsts), n, -1)
            return torch.stack([values[first:first + n] for first in firsts])

        out, number = [], 0
        for chunk in chunks:
            members = range(number, number + chunk.shape[0])
            number += chunk.shape[0]
            n = int(chunk.shape[1])
            out.append((labels(logits, members, n),
                        labels(hidden, members, n) if hidden is not None else None))
        return out

    def _losses(self, group: Group) -> tuple[list[MemberRun], torch.Tensor] | None:
        """Forward ``group`` in one batched pass; each member's loss (failures dropped)."""
        state = self.state
        n = len(group.runs)
        logits, hidden, *layers = state.stack.forward(
            group.x, member_selection(group.runs, self.k, state.device),
            layers=any(uses_layers(r.mi) for r in group.runs))

        def call(component: Any, chosen: list[int]) -> torch.Tensor:
            t = group.t if component.uses_teacher else None
            if component.members is None:
                p = chosen[0]
                joint = group.runs[p].joint  # a fine-tuned teacher copy gives live logits
                t_p = joint.logits(group.x[p]) if joint is not None else \
                    (t[p] if t is not None else None)
                return component(logits[p], t_p, group.y[p])
            return component(take(logits, chosen, n), take(t, chosen, n),
                             take(group.y, chosen, n))

        chunks = [chunk for key, positions in state.kd.split(group.runs)
                  for chunk in call_grouped(state.kd, group.runs, positions, key, call, self.fail)]
        if not chunks:
            return None
        kept = [p for positions, _ in chunks for p in positions]
        losses = chunks[0][1] if len(chunks) == 1 else torch.cat([v for _, v in chunks])
        return self._add_mi(group, kept, losses, logits, hidden, layers[0] if layers else None)

    def _add_mi(self, group: Group, kept: list[int], losses: torch.Tensor, logits: torch.Tensor,
                hidden: torch.Tensor, layers: list[torch.Tensor] | None,
                ) -> tuple[list[MemberRun], torch.Tensor] | None:
        """Add each MI member's weighted objective to its loss (one call per member: each
        critic is its own module); a member whose objective raised is dropped."""
        at, terms, dropped = [], [], []
        for i, p in enumerate(kept):
            run = group.runs[p]
            self.trace[run.index] = (group, p, logits, losses, i, None)
            if run.mi is None:
                continue
            try:
                student, teacher = mi_inputs(run.mi, self.state.teacher, group.x, hidden, layers,
                                             lambda p=p: group.teacher_hidden(self.state, p), p)
                term = guarded("mi_objective", run.mi.name, run.mi, student, teacher)
            except ComponentError as exc:
                self.fail(run, exc)
                dropped.append(i)
                continue
            at.append(i)
            terms.append(run.mi_weight * term)
            self.trace[run.index] = self.trace[run.index][:5] + (term,)
        if terms:
            losses = losses.index_add(0, torch.tensor(at, device=losses.device),
                                      torch.stack(terms))
        if dropped:
            keep = [i for i in range(len(kept)) if i not in dropped]
            if not keep:
                return None
            kept, losses = [kept[i] for i in keep], losses[torch.tensor(keep, device=losses.device)]
        return [group.runs[p] for p in kept], losses


def _finite(value: torch.Tensor | None) -> bool:
    return value is None or bool(torch.isfinite(value.detach()).all())


def nonfinite_source(pipeline: Any, rows: torch.Tensor, teacher: torch.Tensor | None,
                     logits: torch.Tensor, kd_value: torch.Tensor,
                     mi_value: torch.Tensor | None, kd_name: str | None = None) -> str:
    """Which component or input of a member made its loss NaN or infinite, and what to do.

    ``kd_name`` names the KD loss the member ran (its pipeline's when ``None``)."""
    aug = pipeline.augmentation.name
    if not _finite(rows):
        return (f"augmentation '{aug}' produced NaN or infinite rows" if aug != "none" else
                "the input rows hold NaN or infinite values")
    if not _finite(teacher):
        return "the teacher's logits are NaN or infinite; fix or retrain the teacher"
    if not _finite(logits):
        return f"the student's outputs diverged; lower training.lr (now {pipeline.training['lr']})"
    if not _finite(kd_value):
        return f"kd_loss '{kd_name or pipeline.kd_loss.name}' returned {kd_value.item()}"
    return (f"mi_objective '{pipeline.mi_objective.name}' returned "
            f"{mi_value.item() if mi_value is not None else 'nan'}; lower its weight")
