"""The MI objective check against an independent reference estimator.

Part of :func:`autodistill.testing.check_component` (its ``mi_reference`` argument): on a
ladder of non-Gaussian pairs whose MI has no closed form, an objective's trained
estimates must rank like the reference's estimates.
"""

from __future__ import annotations

import torch

from autodistill.components import MIObjective

__all__ = ["CLUSTER_LEVELS", "clusters", "check_against_reference"]

#: Cluster separations of the ladder (0: independent); true MI about 0, 0.16, 0.35, 0.81 nats.
CLUSTER_LEVELS: tuple[float, ...] = (0.0, 0.75, 1.0, 1.5)
#: Rows of each sample the reference reads (MIST is accurate from 256 rows on).
REFERENCE_ROWS = 512


def clusters(level: float, rows: int, dim: int, gen: torch.Generator):
    """Four clusters at a square's corners scaled by ``level``, y's corners rotated by one.

    ``x = level·c_k + ε``, ``y = level·c_{k+1} + ε'`` with ``k`` uniform over the four
    corners: the MI rises from 0 (``level = 0``) towards log 4 as the clusters separate.
    """
    corners = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]])
    k = torch.randint(0, 4, (rows,), generator=gen)
    x = level * corners[k] + torch.randn(rows, dim, generator=gen)
    return x, level * corners[(k + 1) % 4] + torch.randn(rows, dim, generator=gen)


def check_against_reference(cls: type[MIObjective], label: str, seed: int, steps: int,
                            reference) -> None:
    """Raise ``AssertionError`` unless ``cls``'s estimates follow ``reference`` on the ladder."""
    from autodistill.testing import (
        _DIM,
        _check,
        _require,
        _spearman,
        _trained_estimates,
    )

    with _check(label, "estimate rises with a reference MI on non-Gaussian pairs"):
        gen = torch.Generator().manual_seed(seed + 7)
        truths = [sum(float(reference(*clusters(lv, REFERENCE_ROWS, _DIM, gen)))
                      for _ in range(4)) / 4 for lv in CLUSTER_LEVELS]
        estimates = _trained_estimates(cls, seed, steps, clusters, CLUSTER_LEVELS)
        shown = ", ".join(f"{t:.3f}: {e:.3f}" for t, e in zip(truths, estimates, strict=True))
        _require(_spearman(list(CLUSTER_LEVELS), truths) >= 0.8 and truths[-1] > truths[0],
                 f"the reference does not resolve the ladder (reference: estimate {shown})")
        _require(_spearman(truths, estimates) >= 0.8 and estimates[-1] > estimates[0],
                 f"estimates do not follow the reference (reference: estimate {shown})")
