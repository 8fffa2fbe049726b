"""MIST: a learned mutual-information estimator, as an MI objective and as a reference.

After Gritsai, Richards, Méloux, Cho & Peyrard (2025), "MIST: Mutual Information
Estimation via Supervised Training" (arXiv:2511.18945): an MI estimator is a function of
a sample of pairs, so a network is trained end-to-end on synthetic joint distributions of
known MI to map a sample to its MI. Ours is a deliberately small version of that idea:

* input: ``n`` pairs ``(u_i, v_i)`` with ``u, v`` in R² (a one-dimensional side is
  padded with a fixed independent normal column, which adds no MI);
* each coordinate is Gaussianised by its ranks, ``z = Φ⁻¹((rank + ½) / n)``, so the
  estimate depends only on the copula, as MI does (it is exactly invariant to strictly
  increasing maps of each coordinate); when gradients are needed, they flow through the
  soft rank ``Σ_j σ((x_i - x_j)/(τ·sd)) / n`` (a straight-through estimator: the value
  is the hard rank's);
* a DeepSets network: per-pair features (the four z's, their six pairwise products,
  their squares) -> MLP -> mean over the sample -> MLP (with log n and the Gaussian-copula
  MI of the sample) -> a learned correction ``c``; the estimate is
  ``softplus₁₀(I_G + c)`` in nats, where ``I_G = ½(log|R_uu| + log|R_vv| - log|R|)`` is
  the Gaussian-copula MI of the normal scores' correlation matrix ``R`` (exact for
  Gaussian pairs; the network learns what the copula adds beyond it, e.g. for mixtures).

It is trained by ``python -m autodistill.plugins.mist_train`` (seeded; under two
CPU minutes) on Gaussian pairs of known MI pushed through random linear mixings, and on
Gaussian-mixture pairs whose MI is integrated by Monte Carlo from their exact
densities. The weights ship as ``mist_weights.npz`` (plain arrays, read with
``allow_pickle=False``). Valid range (held-out Gaussian pairs, mean of 10 samples within
10% of the truth): samples of 256 to 512 pairs with a true MI between 0.4 and 2.5 nats.
Below, it overestimates: +6% to +19% at 0.2 nats, up to +72% on 64 pairs.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from autodistill.components import MIObjective
from autodistill.hookspecs import hookimpl
from autodistill.params import Float

__all__ = ["WEIGHTS_PATH", "MISTEstimator", "load_estimator", "reference_mi", "MIST"]

#: The shipped weights (package data of ``autodistill.plugins``).
WEIGHTS_PATH = Path(__file__).with_name("mist_weights.npz")
#: Coordinates per side the estimator reads.
SIDE_DIM = 2
#: Soft-rank temperature, in units of the coordinate's standard deviation.
RANK_TAU = 0.05
#: Fewest pairs an estimate is made from; below, the objective is a back-propagating zero.
MIN_ROWS = 8
#: Seeds of the padding columns of the two sides (distinct: the pads must be independent).
_PAD_SEEDS = (12345, 54321)


def normal_scores(x: torch.Tensor, tau: float = RANK_TAU) -> torch.Tensor:
    """Gaussianise each column of ``x`` (``[..., n, d]``) by its ranks.

    The value uses the hard ranks; when ``x`` needs a gradient, it flows through soft ranks
    ``Σ_j σ((x_i - x_j)/(τ·sd)) / n`` (straight-through), at ``O(n²)`` memory.
    """
    n = x.shape[-2]
    ranks = torch.argsort(torch.argsort(x.detach(), dim=-2), dim=-2).to(x.dtype)
    hard = torch.special.ndtri((ranks + 0.5) / n)
    if not (x.requires_grad and torch.is_grad_enabled()):
        return hard
    sd = x.detach().std(dim=-2, keepdim=True).clamp_min(1e-6)
    diff = (x.unsqueeze(-2) - x.unsqueeze(-3)) / (tau * sd.unsqueeze(-2))  # [..., n, n, d]
    soft = torch.special.ndtri((torch.sigmoid(diff).sum(dim=-2) / n).clamp(0.5 / n, 1 - 0.5 / n))
    return hard + soft - soft.detach()


def pair_features(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Per-pair features ``[..., n, 14]`` of Gaussianised ``u``, ``v`` (each ``[..., n, 2]``)."""
    z = torch.cat([u, v], dim=-1)
    i, j = torch.triu_indices(4, 4, offset=1)
    return torch.cat([z, z[..., i] * z[..., j], z * z], dim=-1)


def gaussian_copula_mi(zu: torch.Tensor, zv: torch.Tensor) -> torch.Tensor:
    """``½(log|R_uu| + log|R_vv| - log|R|)`` from normal scores ``[..., n, 2]`` each."""
    z = torch.cat([zu, zv], dim=-1)
    z = z - z.mean(dim=-2, keepdim=True)
    cov = z.transpose(-1, -2) @ z / z.shape[-2]
    scale = cov.diagonal(dim1=-2, dim2=-1).clamp_min(1e-8).rsqrt()
    corr = cov * scale[..., :, None] * scale[..., None, :] + 1e-4 * torch.eye(4, device=z.device)
    return 0.5 * (torch.logdet(corr[..., :2, :2]) + torch.logdet(corr[..., 2:, 2:])
                  - torch.logdet(corr))


class MISTEstimator(nn.Module):
    """The set network: ``(u [..., n, 2], v [..., n, 2]) -> MI [...]`` in nats."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.hidden = hidden
        self.phi = nn.Sequential(nn.Linear(14, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                 nn.SiLU())
        self.rho = nn.Sequential(nn.Linear(hidden + 2, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The MI estimate of each sample in the batch of samples."""
        n = u.shape[-2]
        zu, zv = normal_scores(u), normal_scores(v)
        gaussian = gaussian_copula_mi(zu, zv)
        pooled = self.phi(pair_features(zu, zv)).mean(-2)
        size = torch.full_like(pooled[..., :1], math.log(n) / math.log(512.0))
        correction = self.rho(torch.cat([pooled, size, gaussian[..., None]], dim=-1))
        return F.softplus(gaussian + correction.squeeze(-1), beta=10.0)

    def save(self, path: Path, meta: dict) -> None:
        """Write the weights as plain arrays, with ``meta`` as a JSON string."""
        arrays = {k: v.detach().cpu().numpy() for k, v in self.state_dict().items()}
        np.savez(path, **arrays, __meta__=np.array(json.dumps({**meta, "hidden": self.hidden})))

    @classmethod
    def from_file(cls, path: Path) -> MISTEstimator:
        """Load weights written by :meth:`save` (no pickle involved)."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            model = cls(hidden=int(meta["hidden"]))
            state = {k: torch.from_numpy(data[k].copy()) for k in model.state_dict()}
        model.load_state_dict(state)
        model.meta = meta
        return model.eval().requires_grad_(False)


@lru_cache(maxsize=1)
def load_estimator() -> MISTEstimator:
    """The shipped estimator (frozen), loaded once per process."""
    if not WEIGHTS_PATH.exists():
        raise FileNotFoundError(
            f"MIST weights missing at {WEIGHTS_PATH}; run `python -m autodistill.plugins.mist_train`"
        )
    return MISTEstimator.from_file(WEIGHTS_PATH)


def _two_columns(x: torch.Tensor, name: str, seed: int) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() != 2 or x.shape[1] not in (1, 2):
        raise ValueError(f"MIST reads 1 or 2 columns per side; {name} has shape {tuple(x.shape)}")
    return _pad(x, seed)


@torch.no_grad()
def reference_mi(x: torch.Tensor, y: torch.Tensor) -> float:
    """MIST's estimate of I(x; y) in nats, for samples with 1 or 2 columns per side.

    Independent of any critic being tested: usable as the reference of
    ``autodistill.testing.check_component(..., mi_reference=reference_mi)``.
    """
    u, v = _two_columns(x, "x", _PAD_SEEDS[0]), _two_columns(y, "y", _PAD_SEEDS[1])
    if u.shape[0] != v.shape[0] or u.shape[0] < MIN_ROWS:
        raise ValueError(f"need two samples of equal length >= {MIN_ROWS}, got "
                         f"{u.shape[0]} and {v.shape[0]}")
    return float(load_estimator().to("cpu")(u.cpu(), v.cpu()))


class MIST(MIObjective):
    """MIST (Gritsai et al. 2025): maximise a learned MI estimate between 2-D projections.

    Student and teacher features are each linearly projected to two dimensions
    (``P_s s``, ``P_t t``, trained with the student); the frozen MIST network estimates
    ``I(P_s s; P_t t)`` on the batch, a lower bound on ``I(s; t)`` where the estimator is
    accurate (data processing), and the loss is its negative. :meth:`estimate` is that
    estimate in nats.
    """

    name = "mist"
    params = {"weight": Float(1e-3, 10.0, default=0.1, log=True)}
    min_rows: ClassVar[int] = MIN_ROWS

    def __init__(self, student_dim: int, teacher_dim: int, **params) -> None:
        super().__init__(student_dim, teacher_dim, **params)
        self.project_s = nn.Linear(student_dim, min(SIDE_DIM, student_dim), bias=False)
        self.project_t = nn.Linear(teacher_dim, min(SIDE_DIM, teacher_dim), bias=False)
        # Not a sub-module: its weights are frozen and are not the critic's to train.
        self._estimator = [load_estimator()]

    def _mi(self, student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        estimator = self._estimator[0].to(student_hidden.device)
        u = _pad(self.project_s(student_hidden), _PAD_SEEDS[0])
        v = _pad(self.project_t(teacher_hidden), _PAD_SEEDS[1])
        return estimator(u, v)

    def forward(self, student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """Minus the MIST estimate (a zero that back-propagates below ``min_rows`` rows)."""
        if student_hidden.shape[0] < self.min_rows:
            return student_hidden.sum() * 0.0
        return -self._mi(student_hidden, teacher_hidden)

    @torch.no_grad()
    def estimate(self, student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> float:
        """The MIST estimate of the projections' MI, in nats (0 below ``min_rows`` rows)."""
        if student_hidden.shape[0] < self.min_rows:
            return 0.0
        return float(self._mi(student_hidden, teacher_hidden))


def _pad(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Pad one column to two with a fixed normal column (adds no MI; one seed per side, so
    the two sides' pads are independent of each other)."""
    if x.shape[1] == SIDE_DIM:
        return x
    pad = torch.randn(x.shape[0], 1, generator=torch.Generator().manual_seed(seed))
    return torch.cat([x, pad.to(x.device, x.dtype)], dim=1)


@hookimpl
def register_mi_objectives(register):
    """Register MIST."""
    register(MIST)
