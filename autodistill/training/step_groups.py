"""The groups of one population step: members whose batches have one row count.

A step forwards each group in one batched pass and calls each shared KD loss once per
group, so every group costs a fixed number of small tensor operations forward and
backward. :func:`merge_groups` therefore joins the groups that can be forwarded
together (the same row count, whether plain or augmented, from whichever batch size):
on the knowledge-base portfolio it halves the groups of a step. Each member's rows,
labels and teacher outputs are unchanged by the merge, and so is its loss (the
batched products and the per-member reductions compute each member's slice alone).

:func:`distinct_batches` finds the members' identical augmented batches (members with
one seed, batch size, curriculum and augmentation draw identical rows), so that the
teacher labels each once, in linear time: batches are bucketed by an exact integer
fingerprint of their bits, and only batches in one bucket are compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from autodistill.training.members import MemberRun

__all__ = ["Group", "take", "cat_rows", "merge_groups", "distinct_batches"]


@dataclass
class Group:
    """Members whose batches have one row count: inputs ``[M, n, ...]``."""

    runs: list[MemberRun]
    x: torch.Tensor
    y: torch.Tensor
    t: torch.Tensor | None
    #: ``[M, n]`` training rows of the batch (before any augmented rows).
    rows: torch.Tensor | None
    #: Teacher hidden features of the augmented rows ``[M, n_aug, H]``, if any.
    th_aug: torch.Tensor | None = None
    #: For a merged group: each member's group and position before the merge.
    sources: list[tuple[Group, int]] | None = None

    def teacher_hidden(self, state: Any, position: int) -> torch.Tensor:
        """The teacher's hidden features of member ``position``'s rows (only MI members
        need them, so they are gathered per member, not for the whole group); ``state`` is
        the step's :class:`~autodistill.training.steps.State`."""
        if self.sources is not None:
            group, own = self.sources[position]
            return group.teacher_hidden(state, own)
        hidden = state.th_train[self.rows[position]]
        if self.th_aug is not None:
            hidden = torch.cat([hidden, self.th_aug[position]])
        return hidden


def take(tensor: torch.Tensor | None, positions: Sequence[int], whole: int,
         ) -> torch.Tensor | None:
    """``tensor[positions]``: the tensor itself, a slice (a view) when the positions are a
    contiguous run, else a gathered copy."""
    if tensor is None or len(positions) == whole:
        return tensor
    first = positions[0]
    if positions[-1] - first == len(positions) - 1:  # ascending and distinct: contiguous
        return tensor[first:first + len(positions)]
    return tensor[torch.tensor(positions, device=tensor.device)]


def cat_rows(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    """``a`` and ``b`` joined along the row axis; None when either is None."""
    return None if a is None or b is None else torch.cat([a, b], dim=1)


def merge_groups(groups: list[Group]) -> list[Group]:
    """Join the groups of one row count (and teacher-logit presence) into one group each,
    members in stack order; a group with no partner is returned as it is."""
    by_shape: dict[tuple[int, bool], list[Group]] = {}
    for group in groups:
        by_shape.setdefault((int(group.x.shape[1]), group.t is None), []).append(group)
    merged = []
    for parts in by_shape.values():
        merged.append(parts[0] if len(parts) == 1 else _merge(parts))
    return merged


def _merge(parts: list[Group]) -> Group:
    sources = [(group, position) for group in parts for position in range(len(group.runs))]
    order = sorted(range(len(sources)), key=lambda i: sources[i][0].runs[sources[i][1]].index)
    device = parts[0].x.device
    permutation = torch.tensor(order, device=device)

    def joined(tensors: list[torch.Tensor | None]) -> torch.Tensor | None:
        if any(t is None for t in tensors):
            return None
        return torch.cat(tensors).index_select(0, permutation)

    sources = [sources[i] for i in order]
    return Group([group.runs[position] for group, position in sources],
                 joined([g.x for g in parts]), joined([g.y for g in parts]),
                 joined([g.t for g in parts]), None, None, sources)


def distinct_batches(chunks: Sequence[torch.Tensor]) -> tuple[list[tuple[int, int]], list[int]]:
    """The distinct batches among ``chunks`` (each ``[M_c, n, d]``: M_c members' batches).

    Returns the ``(chunk, member)`` of the first batch of each set of equal batches, and
    for every batch, in chunk-then-member order, the position (in that list) of the one
    it equals. Equal means ``torch.equal``; an exact fingerprint of the float bits
    (integer arithmetic, so equal batches always agree) buckets the candidates, so the
    cost is linear in the number of batches.
    """
    distinct: list[tuple[int, int]] = []
    source: list[int] = []
    buckets: dict[tuple[tuple[int, ...], int], list[int]] = {}
    for number, chunk in enumerate(chunks):
        for member, print_ in enumerate(_fingerprints(chunk)):
            batch = chunk[member]
            candidates = buckets.setdefault((tuple(batch.shape), print_), [])
            for position in candidates:
                first_chunk, first_member = distinct[position]
                if torch.equal(chunks[first_chunk][first_member], batch):
                    source.append(position)
                    break
            else:
                candidates.append(len(distinct))
                source.append(len(distinct))
                distinct.append((number, member))
    return distinct, source


_WEIGHTS: dict[tuple[int, str], torch.Tensor] = {}


def _fingerprints(chunk: torch.Tensor) -> list[int]:
    """One integer per member batch of ``chunk``: a weighted sum of its float32 bits in
    int64 (wrapping arithmetic is exact and order-free, so equal batches agree)."""
    flat = chunk.detach().to(torch.float32).reshape(chunk.shape[0], -1).contiguous()
    width = flat.shape[1]
    key = (width, str(flat.device))
    weights = _WEIGHTS.get(key)
    if weights is None:
        generator = torch.Generator().manual_seed(width)
        weights = torch.randint(1, 2 ** 31 - 1, (width,), generator=generator,
                                dtype=torch.int64).to(flat.device)
        _WEIGHTS[key] = weights
    return (flat.view(torch.int32).to(torch.int64) * weights).sum(1).tolist()
