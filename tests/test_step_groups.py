"""The groups of a population step: merging by row count, distinct augmented batches."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from autodistill.training.step_groups import Group, distinct_batches, merge_groups


def _group(indices: list[int], rows: int, *, teacher: bool = True) -> Group:
    m = len(indices)
    base = torch.tensor(indices, dtype=torch.float32).view(m, 1, 1)
    return Group([SimpleNamespace(index=i) for i in indices],
                 x=base.expand(m, rows, 3).clone(), y=base.view(m, 1).expand(m, rows).long(),
                 t=base.expand(m, rows, 2).clone() if teacher else None,
                 rows=torch.arange(rows).repeat(m, 1))


def test_groups_of_one_row_count_merge_in_stack_order_and_keep_each_members_rows():
    plain, augmented, other = _group([4, 1], 8), _group([3, 0], 8), _group([2], 5)
    merged = merge_groups([plain, augmented, other])
    assert len(merged) == 2
    joined = next(g for g in merged if g.x.shape[1] == 8)
    assert [r.index for r in joined.runs] == [0, 1, 3, 4]
    # Each member's inputs, labels and teacher logits travel with it.
    assert joined.x[:, 0, 0].tolist() == [0.0, 1.0, 3.0, 4.0]
    assert joined.y[:, 0].tolist() == [0, 1, 3, 4]
    assert joined.t[:, 0, 0].tolist() == [0.0, 1.0, 3.0, 4.0]
    assert joined.sources == [(augmented, 1), (plain, 1), (augmented, 0), (plain, 0)]
    assert next(g for g in merged if g.x.shape[1] == 5) is other


def test_groups_with_and_without_teacher_logits_stay_apart():
    assert len(merge_groups([_group([0], 4), _group([1], 4, teacher=False)])) == 2


def test_distinct_batches_finds_equal_batches_across_chunks_in_linear_passes():
    torch.manual_seed(0)
    a, b = torch.randn(6, 3), torch.randn(6, 3)
    chunks = [torch.stack([a, b, a]), torch.stack([b.clone(), torch.randn(6, 3)]),
              torch.stack([a[:4]])]
    distinct, source = distinct_batches(chunks)
    assert distinct == [(0, 0), (0, 1), (1, 1), (2, 0)]
    assert source == [0, 1, 0, 1, 2, 3]
    # A fingerprint collision alone never merges batches: equality is checked.
    c = a.clone()
    c[0, 0], c[0, 1] = a[0, 1], a[0, 0]
    assert distinct_batches([torch.stack([a, c])])[1] == ([0, 0] if torch.equal(a, c) else [0, 1])
