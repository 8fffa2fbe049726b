"""The member-axis check of :func:`autodistill.testing.check_component`.

A KD loss or augmentation that declares ``member_axis = True`` is stacked over three
instances with different hyperparameters (spread over each declared range; categorical
ones at their default, since members that share a stacked call share those), called
once on inputs with a leading member axis, and compared with each instance called on
its own member's inputs (augmentations: the same generator seed per member). The results
must agree to float precision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from autodistill.components import Augmentation, Component, KDLoss
from autodistill.params import Float, Int

__all__ = ["check_member_axis", "spread_params"]

_FRACTIONS = (0.2, 0.5, 0.8)


def spread_params(cls: type[Component]) -> list[dict[str, Any]]:
    """Three param dicts spread over each numeric declaration (20%, 50%, 80% of its range,
    geometric for ``log`` ones)."""
    choices = []
    for fraction in _FRACTIONS:
        params: dict[str, Any] = {}
        for name, decl in cls.params.items():
            if isinstance(decl, (Float, Int)):
                low, high = float(decl.low), float(decl.high)
                if decl.log and low > 0:
                    value = low * (high / low) ** fraction
                else:
                    value = low + (high - low) * fraction
                params[name] = round(value) if isinstance(decl, Int) else value
        choices.append(params)
    return choices


def check_member_axis(cls: type[Component], label: str, seed: int, n_classes: int,
                      check: Callable[[str, str], Any], require: Callable[[Any, str], None],
                      ) -> None:
    """Stacked call == member-by-member calls, for a class declaring ``member_axis``."""
    if not getattr(cls, "member_axis", False):
        return
    with check(label, "member axis: stacks its instances"):
        members = [cls(**params) for params in spread_params(cls)]
        stacked = cls.stack(members)
        require(stacked.members == len(members), "stack() must set 'members'")
    gen = torch.Generator().manual_seed(seed)
    rows, m = 12, len(members)
    if issubclass(cls, KDLoss):
        targets = torch.randint(0, n_classes, (m, rows), generator=gen)
        teacher = 2.0 * torch.randn(m, rows, n_classes, generator=gen)
        student = 2.0 * torch.randn(m, rows, n_classes, generator=gen)
        teacher_in = teacher if getattr(cls, "uses_teacher", True) else None
        with check(label, "member axis: same losses as member by member"):
            together = stacked(student, teacher_in, targets)
            require(together.shape == (m,), f"expected losses of shape ({m},), got "
                    f"{tuple(together.shape)}")
            alone = torch.stack([
                member(student[i], teacher_in[i] if teacher_in is not None else None,
                       targets[i]) for i, member in enumerate(members)])
            require(torch.allclose(together, alone, rtol=1e-5, atol=1e-6),
                    f"stacked {together.tolist()} != one by one {alone.tolist()}")
    elif issubclass(cls, Augmentation):
        x = torch.randn(m, rows, 5, generator=gen)
        y = torch.randint(0, n_classes, (m, rows), generator=gen)
        with check(label, "member axis: same rows as member by member"):
            together = stacked(x, y, [torch.Generator().manual_seed(seed + i) for i in range(m)])
            require(together.shape == x.shape, f"shape {tuple(together.shape)} != input "
                    f"{tuple(x.shape)}")
            alone = torch.stack([member(x[i], y[i], torch.Generator().manual_seed(seed + i))
                                 for i, member in enumerate(members)])
            require(torch.allclose(together, alone, rtol=1e-5, atol=1e-6),
                    "the stacked call differs from calling each member with its own generator")
