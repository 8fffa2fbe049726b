"""Synthetic pools: rows an augmentation generates once, labelled once by the teacher.

An augmentation with ``pool_factor = f > 0`` (every row-generating augmentation declares
it, see :class:`autodistill.components.Augmentation`) does not augment batches on the
fly; instead, before training, the engine:

1. **generates** ``f`` x the training rows: ``f`` passes over the training set, each in a
   fresh shuffled order cut into batches of the member's ``batch_size``, each batch
   augmented as the per-batch mode would (``augmentation(x, y, generator)``), all random
   numbers from a generator seeded by the member's seed (a stream of its own, so the
   member's row order is the one it would have without a pool);
2. **labels** the pool with one batched teacher pass: its logits become the pool rows'
   soft targets, their argmax the hard labels (as AutoGluon's ``distill`` does), its
   hidden features (when an MI objective needs them) the rows' teacher features;
3. **trains** on real rows and pool rows together each epoch, through the pipeline's KD
   loss. The curriculum picks and orders the real rows as it does without a pool; every
   pool row is seen every epoch, at positions drawn at random among the real rows (so
   each batch holds about the same share of pool rows, and the real rows keep the
   curriculum's order). A curriculum that transforms inputs (``transform``) changes the
   real rows only, and a curriculum that reads the student's loss reads it on real rows.

Members whose pools have the same definition (augmentation and its parameters, seed,
batch size) share one pool, generated and labelled once. The pool's memory is checked
before it is allocated; a teacher that cannot label new rows (``outputs:``) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from autodistill._resources import check_fits
from autodistill.components import POOL_FACTOR
from autodistill.errors import AutodistillError, PipelineError

if TYPE_CHECKING:
    from autodistill.training.pipeline import Pipeline
    from autodistill.training.teacher_outputs import TeacherOutputs

__all__ = ["Pool", "pool_factor", "check_pool", "generate_pool", "label_pool", "PoolRows",
           "attach_pools", "mix_pool"]

#: Separates the pool's random stream from the member's own generator (same seed).
_POOL_STREAM = 0x9001


def pool_factor(pipeline: Pipeline) -> int:
    """The pipeline's pool factor: 0 when it augments per batch (or not at all)."""
    spec = pipeline.augmentation
    return int(spec.params.get(POOL_FACTOR, 0)) if spec.name != "none" else 0


def _option(pipeline: Pipeline) -> str:
    return f"augmentation.{pipeline.augmentation.name}.{POOL_FACTOR}={pool_factor(pipeline)}"


def check_pool(pipeline: Pipeline, teacher: TeacherOutputs | None, n_rows: int,
               n_features: int, n_classes: int, hidden_width: int = 0) -> None:
    """Refuse a pool this teacher cannot label or this machine cannot hold.

    Raises:
        PipelineError: naming the option and what to do.
    """
    factor = pool_factor(pipeline)
    if factor <= 0:
        return
    if teacher is None or teacher.module is None:
        spec = teacher.spec if teacher is not None else "none"
        raise PipelineError(f"{_option(pipeline)} needs a teacher that labels new rows, and "
                            f"teacher '{spec}' cannot; set {POOL_FACTOR} to 0 and "
                            "augmentation to 'none', or use another teacher")
    # Rows, their logits and hidden features as float32, plus the augmentation's batch copies.
    nbytes = 4.0 * factor * n_rows * (2 * n_features + n_classes + hidden_width + 2)
    check_fits(nbytes, _option(pipeline), f"lower {POOL_FACTOR}", PipelineError)


def _pool_generator(seed: int) -> torch.Generator:
    state = np.random.SeedSequence([int(seed) % 2**63, _POOL_STREAM]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def generate_pool(augmentation: Any, x: torch.Tensor, y: torch.Tensor, factor: int,
                  batch_size: int, seed: int) -> torch.Tensor:
    """``factor`` x the training rows ``x`` (labels ``y``) made by ``augmentation``
    (:meth:`~autodistill.components.Augmentation.generate_pool`) from a generator seeded
    by ``seed`` in a stream of its own."""
    return augmentation.generate_pool(x, y, factor, batch_size, _pool_generator(seed))


@dataclass
class Pool:
    """A labelled pool: rows ``[P, d]``, teacher logits ``[P, C]``, their argmax ``[P]``
    and the teacher's hidden features ``[P, H]`` (``None`` when not needed)."""

    x: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor
    hidden: torch.Tensor | None


def label_pool(teacher: TeacherOutputs, rows: torch.Tensor, keep_hidden: bool) -> Pool:
    """The teacher's labels of ``rows``: one batched pass (no gradient)."""
    logits, hidden = teacher.predict(rows)
    return Pool(rows, logits, logits.argmax(-1), hidden if keep_hidden else None)


@dataclass
class PoolRows:
    """The training rows every member indexes: the real rows, then each distinct pool."""

    x: torch.Tensor
    y: torch.Tensor
    t: torch.Tensor | None
    th: torch.Tensor | None


def _pool_key(run: Any) -> tuple[Any, ...]:
    aug = run.pool_augmentation
    return (type(aug), tuple(sorted(aug.hparams.items())), run.seed, run.batch_size)


def attach_pools(runs: list[Any], rows: PoolRows, teacher: TeacherOutputs | None,
                 guard: Any) -> PoolRows:
    """Generate and label the pool of every member (a ``MemberRun``: members.py imports
    this module) that has one; return the training rows
    with the pools appended, and set each such member's ``pool_start`` and ``pool_rows``.

    ``guard(family, name, fn, *args)`` turns a component's exception into a
    :class:`~autodistill.errors.ComponentError`; a member whose pool cannot be made fails
    with that error (or the teacher's), the others go on.
    """
    n_real = rows.x.shape[0]
    made: dict[tuple[Any, ...], tuple[int, int]] = {}
    parts: list[Pool] = []
    start = n_real
    for run in runs:
        if run.pool_augmentation is None or run.outcome is not None:
            continue
        key = _pool_key(run)
        if key not in made:
            aug = run.pool_augmentation
            try:
                x_pool = guard("augmentation", aug.name, generate_pool, aug, rows.x, rows.y,
                               pool_factor(run.pipeline), run.batch_size, run.seed)
                pool = label_pool(teacher, x_pool, rows.th is not None)
            except AutodistillError as exc:
                run.fail(exc, 0.0)
                continue
            made[key] = (start, x_pool.shape[0])
            parts.append(pool)
            start += x_pool.shape[0]
        run.pool_start, run.pool_rows = made[key]
    if not parts:
        return rows
    return PoolRows(
        x=torch.cat([rows.x, *(p.x for p in parts)]),
        y=torch.cat([rows.y, *(p.labels.to(rows.y.device) for p in parts)]),
        t=torch.cat([rows.t, *(p.logits.to(rows.t.device) for p in parts)])
        if rows.t is not None else None,
        th=torch.cat([rows.th, *(p.hidden.to(rows.th.device) for p in parts)])
        if rows.th is not None else None,
    )


def mix_pool(order: torch.Tensor, run: Any) -> torch.Tensor:
    """This epoch's rows of ``run``: the curriculum's ``order`` of real rows, in that order,
    with every pool row of the member placed at random positions among them."""
    if run.pool_rows == 0:
        return order
    total = order.shape[0] + run.pool_rows
    pool = torch.randperm(run.pool_rows, generator=run.generator).to(order.device) + run.pool_start
    at_pool = torch.zeros(total, dtype=torch.bool)
    at_pool[torch.randperm(total, generator=run.generator)[:run.pool_rows]] = True
    at_pool = at_pool.to(order.device)
    mixed = torch.empty(total, dtype=order.dtype, device=order.device)
    mixed[at_pool] = pool
    mixed[~at_pool] = order
    return mixed
