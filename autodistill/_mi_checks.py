"""The MI objective checks of :func:`autodistill.testing.check_component`.

On a ladder of correlated Gaussian pairs (whose MI is known) a trained objective's
estimates must rise with the true MI; with an independent reference estimator (the
``mi_reference`` argument), on a ladder of non-Gaussian pairs whose MI has no closed
form, they must rank like the reference's.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from autodistill._checks import _check, _finite, _require
from autodistill.components import MIObjective

__all__ = ["MI_RHOS", "MIEstimator", "CLUSTER_LEVELS", "clusters", "check_against_reference"]


#: True-MI ladder of the MI check (correlation of each pair of dimensions).
MI_RHOS: tuple[float, ...] = (0.0, 0.5, 0.75, 0.9)


MIEstimator = Callable[[torch.Tensor, torch.Tensor], float]


def _correlated(rho: float, rows: int, dim: int, gen: torch.Generator):
    x = torch.randn(rows, dim, generator=gen)
    y = rho * x + math.sqrt(1.0 - rho * rho) * torch.randn(rows, dim, generator=gen)
    return x, y


def _spearman(a: list[float], b: list[float]) -> float:
    ra = torch.argsort(torch.argsort(torch.tensor(a))).double()
    rb = torch.argsort(torch.argsort(torch.tensor(b))).double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / ((ra.pow(2).sum() * rb.pow(2).sum()).sqrt() + 1e-12))


def _check_mi_objective(cls: type[MIObjective], label: str, seed: int, steps: int,
                        reference: MIEstimator | None) -> None:
    with _check(label, "constructs with defaults"):
        cls(5, 4)
    if not getattr(cls, "uses_hidden", True):
        with _check(label, "zero loss that back-propagates"):
            s = torch.randn(8, 5, requires_grad=True)
            cls(5, 4)(s, torch.randn(8, 4)).backward()
        return
    gen = torch.Generator().manual_seed(seed)
    for rows in (16, 2):
        with _check(label, f"finite, differentiable loss on {rows} rows"):
            torch.manual_seed(seed)
            objective = cls(5, 4)
            s = torch.randn(rows, 5, generator=gen).requires_grad_(True)
            loss = objective(s, torch.randn(rows, 4, generator=gen))
            _require(isinstance(loss, torch.Tensor) and loss.dim() == 0,
                     "forward must return a 0-dim tensor")
            _require(_finite(loss), f"the loss is {float(loss.detach())}")
            loss.backward()
            _require(s.grad is not None and _finite(s.grad),
                     "the gradient w.r.t. the student features is missing or not finite")
            _require(rows < 16 or s.grad.abs().sum() > 0,
                     "the gradient w.r.t. the student features is 0")
            for pname, param in objective.named_parameters():
                _require(param.grad is None or _finite(param.grad),
                         f"the gradient of '{pname}' is not finite")
    with _check(label, "finite loss on a batch of one row"):
        one = cls(5, 4)(torch.randn(1, 5, generator=gen), torch.randn(1, 4, generator=gen))
        _require(_finite(one), f"the loss is {float(one.detach())}")
    with _check(label, "estimate rises with the true MI"):
        estimates = _trained_estimates(cls, seed, steps)
        truths = [-math.log(1.0 - rho * rho) for rho in MI_RHOS]
        shown = ", ".join(f"rho={r}: {e:.3f}" for r, e in zip(MI_RHOS, estimates, strict=True))
        _require(all(math.isfinite(e) for e in estimates), f"non-finite estimates ({shown})")
        _require(_spearman(truths, estimates) >= 0.8 and estimates[-1] > estimates[0],
                 f"estimates do not follow the true MI ({shown})")
        if getattr(cls, "log_batch_bounded", False):
            bound = math.log(_EVAL_ROWS) + 1e-4
            _require(max(estimates) <= bound,
                     f"an estimate exceeds log K = {bound:.3f} ({shown})")
    if reference is not None:

        check_against_reference(cls, label, seed, steps, reference)


_TRAIN_ROWS, _EVAL_ROWS, _DIM = 64, 128, 2


def _trained_estimates(cls: type[MIObjective], seed: int, steps: int,
                       sample: Callable = _correlated, ladder: tuple = MI_RHOS) -> list[float]:
    estimates = []
    for level, rho in enumerate(ladder):
        torch.manual_seed(seed + level)
        gen = torch.Generator().manual_seed(seed + 100 + level)
        objective = cls(_DIM, _DIM)
        params = list(objective.parameters())
        if params:
            # A cosine-annealed rate: fast enough for a linear regressor, calm enough at
            # the end for high-variance bounds such as NWJ.
            optimizer = torch.optim.Adam(params, lr=1e-2)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
            for _ in range(steps):
                loss = objective(*sample(rho, _TRAIN_ROWS, _DIM, gen))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
        objective.eval()
        values = [float(objective.estimate(*sample(rho, _EVAL_ROWS, _DIM, gen)))
                  for _ in range(4)]
        estimates.append(sum(values) / len(values))
    return estimates


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
