"""Built-in MI objectives between student and teacher hidden features.

Each is an ``nn.Module`` whose parameters (a critic) train with the student. The
contrastive ones share a separable critic ``f(s, t) = g(s)ᵀh(t)`` with small
``Linear -> ReLU -> Linear`` heads; one matrix product scores all ``K x K`` pairs of a
batch, the diagonal holding the pairs drawn from the joint and the off-diagonal
entries standing for the product of marginals. ``forward`` returns the negative bound
(the loss), ``estimate`` the MI estimate in nats. A batch of fewer than two rows has
no negatives: the loss is then a zero that still back-propagates.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from autodistill.components import MIObjective
from autodistill.hookspecs import hookimpl
from autodistill.params import Float, Int

__all__ = ["NoMI", "FitNet", "InfoNCE", "NWJ", "MIAlpha", "JSD", "WDM", "CMIM"]


def _weight() -> Float:
    return Float(1e-3, 10.0, default=1.0, log=True)


def _head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


def _zero(student_hidden: torch.Tensor) -> torch.Tensor:
    """A zero scalar connected to the graph, so ``backward`` works on it."""
    return student_hidden.sum() * 0.0


def _offdiag_mask(k: int, device: torch.device) -> torch.Tensor:
    return ~torch.eye(k, dtype=torch.bool, device=device)


def _logmeanexp_offdiag(scores: torch.Tensor) -> torch.Tensor:
    """log of the mean of exp(scores) over the off-diagonal entries (the negatives)."""
    k = scores.shape[0]
    masked = scores.masked_fill(~_offdiag_mask(k, scores.device), float("-inf"))
    return torch.logsumexp(masked.flatten(), dim=0) - math.log(k * (k - 1))


def _mean_offdiag(values: torch.Tensor) -> torch.Tensor:
    k = values.shape[0]
    return (values.sum() - values.diagonal().sum()) / (k * (k - 1))


class NoMI(MIObjective):
    """No MI objective: the teacher's hidden features are not used."""

    name = "none"
    uses_hidden = False
    params = {}

    def forward(self, student_hidden: torch.Tensor,
                teacher_hidden: torch.Tensor | None = None) -> torch.Tensor:
        """A zero scalar that still back-propagates."""
        return _zero(student_hidden)

    @torch.no_grad()
    def estimate(self, student_hidden: torch.Tensor,
                 teacher_hidden: torch.Tensor | None = None) -> float:
        """Always 0."""
        return 0.0


class FitNet(MIObjective):
    """FitNets hint (Romero et al. 2015): mean ||W s - t||², with a Gaussian MI proxy.

    :meth:`estimate` treats the regression as Gaussian: for each teacher dimension k,
    with residual variance r_k and teacher variance v_k, it sums
    ``-0.5·log(min(r_k / v_k, 1))`` over k. That is exact for jointly Gaussian
    features with independent dimensions and never negative.
    """

    name = "fitnet"
    params = {"weight": _weight()}

    def __init__(self, student_dim: int, teacher_dim: int, **params) -> None:
        super().__init__(student_dim, teacher_dim, **params)
        self.regressor = nn.Linear(student_dim, teacher_dim)

    def forward(self, student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the linear regression of t on s."""
        return F.mse_loss(self.regressor(student_hidden), teacher_hidden)

    @torch.no_grad()
    def estimate(self, student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> float:
        """The Gaussian proxy, in nats (0 for a batch of one row)."""
        if student_hidden.shape[0] < 2:
            return 0.0
        residual = teacher_hidden - self.regressor(student_hidden)
        ratio = residual.var(0) / teacher_hidden.var(0).clamp_min(1e-12)
        return float(-0.5 * torch.log(ratio.clamp(1e-12, 1.0)).sum())


class _SeparableCritic(MIObjective):
    """Shared machinery: heads ``g``, ``h`` and the all-pairs score matrix (not registered)."""

    params = {"weight": _weight(), "critic_dim": Int(16, 128, default=32, log=True)}

    def __init__(self, student_dim: int, teacher_dim: int, **params) -> None:
        super().__init__(student_dim, teacher_dim, **params)
        self.g = _head(student_dim, 2 * self.critic_dim, self.critic_dim)
        self.h = _head(teacher_dim, 2 * self.critic_dim, self.critic_dim)

    def scores(self, student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """``[K, K]`` matrix with entry ``(i, j) = f(s_i, t_j)``."""
        return self.g(student_hidden) @ self.h(teacher_hidden).T

    def bound(self, scores: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """The lower bound the critic maximises, from the score matrix."""
        raise NotImplementedError

    def readout(self, scores: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """The MI estimate from the score matrix (by default, the bound itself)."""
        return self.bound(scores, teacher_hidden)

    def forward(self, student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """The negative bound on one batch."""
        if student_hidden.shape[0] < 2:
            return _zero(student_hidden)
        return -self.bound(self.scores(student_hidden, teacher_hidden), teacher_hidden)

    @torch.no_grad()
    def estimate(self, student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> float:
        """The MI estimate on one batch, in nats (0 for a batch of one row)."""
        if student_hidden.shape[0] < 2:
            return 0.0
        return float(self.readout(self.scores(student_hidden, teacher_hidden), teacher_hidden))


class InfoNCE(_SeparableCritic):
    """InfoNCE (van den Oord et al. 2018): a contrastive lower bound, at most log K."""

    name = "infonce"
    #: The estimate never exceeds log(batch size); checked by autodistill.testing.
    log_batch_bounded: ClassVar[bool] = True

    def bound(self, scores: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """mean_i [f(s_i, t_i) - log (1/K) Σ_j exp f(s_i, t_j)]."""
        k = scores.shape[0]
        return (scores.diagonal() - torch.logsumexp(scores, dim=1)).mean() + math.log(k)


class NWJ(_SeparableCritic):
    """NWJ (Nguyen, Wainwright & Jordan 2010): E_p[f] - e⁻¹·E_{p(s)p(t)}[e^f]."""

    name = "nwj"

    def bound(self, scores: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """The NWJ bound; the product of marginals is the off-diagonal pairs."""
        return scores.diagonal().mean() - torch.exp(_logmeanexp_offdiag(scores) - 1.0)


class MIAlpha(_SeparableCritic):
    """Interpolated bound I_α (Poole et al. 2019): α=1 is InfoNCE, α=0 is TUBA.

    ``1 + E[log(e^{f(x,y)}/a_α)] - E[e^{f(x',y)}/a_α]`` with
    ``a_α = α·(1/K)Σ_k e^{f(x_k,y)} + (1-α)·q(y)``; ``y`` is the teacher feature, ``q`` a
    learned baseline (a small MLP giving log q), and the batch mean in ``a_α`` leaves
    out the sample it is compared with, as in the paper's reference code.
    """

    name = "mi_alpha"
    params = {**_SeparableCritic.params, "alpha": Float(0.0, 1.0, default=0.5)}

    def __init__(self, student_dim: int, teacher_dim: int, **params) -> None:
        super().__init__(student_dim, teacher_dim, **params)
        self.log_baseline = _head(teacher_dim, self.critic_dim, 1)

    def bound(self, scores: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """The interpolated bound; rows of the transposed scores index the teacher."""
        scores = scores.T  # (i, j) = f(s_j, t_i): one row per y = t_i
        k = scores.shape[0]
        # Everything per row is scaled by e^{-m_i} (m_i the row max) so no exp overflows;
        # the bound does not depend on m, hence the detach.
        row_max = scores.detach().max(dim=1, keepdim=True).values
        scaled = torch.exp(scores - row_max)
        row_sum = scaled.sum(dim=1, keepdim=True)
        # Leave-one-out sums Σ_{k≠j} e^{s_ik - m_i}, floored at float precision.
        loo = (row_sum - scaled).clamp_min(row_sum * torch.finfo(scores.dtype).eps)
        log_q = self.log_baseline(teacher_hidden)  # [K, 1]
        if self.alpha >= 1.0:
            baseline = row_max + torch.log(loo / (k - 1))
        elif self.alpha <= 0.0:
            baseline = log_q.expand(k, k)
        else:
            # log(α·e^m·loo/(K-1) + (1-α)·q), factored by e^c with c = max(m, log q).
            shift = torch.maximum(row_max, log_q.detach())
            mixed = (self.alpha / (k - 1)) * torch.exp(row_max - shift) * loo
            baseline = shift + torch.log(mixed + (1.0 - self.alpha) * torch.exp(log_q - shift))
        # Marginal term: mean over i ≠ j of e^{s_ij - b_ii}; Σ_{j≠i} e^{s_ij} = e^{m_i}·loo_ii.
        log_terms = row_max.squeeze(1) - baseline.diagonal() + torch.log(loo.diagonal())
        marginal = torch.exp(torch.logsumexp(log_terms, dim=0) - math.log(k * (k - 1)))
        joint = scores.diagonal().mean() - _mean_offdiag(baseline)
        return 1.0 + joint - marginal


class JSD(_SeparableCritic):
    """Deep InfoMax's Jensen-Shannon objective (Hjelm et al. 2019), read out as DV.

    The critic trains on ``E_p[-softplus(-f)] - E_{p(s)p(t)}[softplus(f)]``, whose optimum
    is the log density ratio; :meth:`estimate` reads that critic out with the
    Donsker-Varadhan bound ``E_p[f] - log E_{p(s)p(t)}[e^f]``, which equals the MI at the
    optimum (the JS value itself is not in nats of MI).
    """

    name = "jsd"

    def bound(self, scores: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """The Jensen-Shannon training objective."""
        positive = -F.softplus(-scores.diagonal()).mean()
        return positive - _mean_offdiag(F.softplus(scores))

    def readout(self, scores: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """Donsker-Varadhan readout of the same critic."""
        return scores.diagonal().mean() - _logmeanexp_offdiag(scores)


class WDM(_SeparableCritic):
    """Wasserstein dependency measure (Ozair et al. 2019): E_p[f] - E_{p(s)p(t)}[f].

    The critic is kept near 1-Lipschitz with a gradient penalty
    ``gp_weight·E[(||∇_{(s,t)} f|| - 1)²]`` on positive pairs and on pairs with the
    teacher rows shifted by one, taken on detached inputs so it shapes the critic only
    (and skipped when gradients are disabled). The estimate is the dependency measure
    itself: it rises with the dependence but is a Wasserstein distance, not nats.
    """

    name = "wdm"
    params = {**_SeparableCritic.params, "gp_weight": Float(0.1, 100.0, default=10.0, log=True)}

    def bound(self, scores: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """E_p[f] - E_pp[f] over the batch."""
        return scores.diagonal().mean() - _mean_offdiag(scores)

    def _gradient_penalty(self, student_hidden: torch.Tensor,
                          teacher_hidden: torch.Tensor) -> torch.Tensor:
        s_in = torch.cat([student_hidden, student_hidden]).detach().requires_grad_(True)
        t_in = torch.cat([teacher_hidden, teacher_hidden.roll(1, 0)]).detach().requires_grad_(True)
        f = (self.g(s_in) * self.h(t_in)).sum(1)
        grad_s, grad_t = torch.autograd.grad(f.sum(), (s_in, t_in), create_graph=True)
        norm = (grad_s.pow(2).sum(1) + grad_t.pow(2).sum(1) + 1e-12).sqrt()
        return (norm - 1.0).pow(2).mean()

    def forward(self, student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """The negative measure plus the gradient penalty."""
        loss = super().forward(student_hidden, teacher_hidden)
        if student_hidden.shape[0] >= 2 and torch.is_grad_enabled():
            loss = loss + self.gp_weight * self._gradient_penalty(student_hidden, teacher_hidden)
        return loss


class CMIM(_SeparableCritic):
    """cMIM's contrastive term (Livne 2024/2025): positive vs the *mean* negative, no augmentation.

    Livne, "cMIM: A Contrastive Mutual Information Framework for Unified Generative and
    Discriminative Representation Learning" (arXiv:2411.10548, 2502.19642; 2509.21511).
    Where InfoNCE classifies the positive among K candidates with a softmax over their
    *sum*, cMIM scores the positive against the *average* of the negatives:

        L = -mean_i log( e^{f(s_i,t_i)} / (e^{f(s_i,t_i)} + (1/(K-1))·Σ_{j≠i} e^{f(s_i,t_j)}) )

    so the loss does not grow with log K and its optimum does not move with the batch
    size. The positive pair is the one distillation already has (a row's student and
    teacher features), so no augmentation makes it. :meth:`estimate` reads the trained
    critic out with the InfoNCE bound ``mean_i [f_ii - log (1/K) Σ_j e^{f_ij}]``, a lower
    bound on the MI in nats for any critic, at most log K (the cMIM value itself is a
    classification log-likelihood, at most 0; a Donsker-Varadhan readout of this critic,
    whose scale is not the log density ratio's, is dominated by its largest negatives).
    """

    name = "cmim"
    #: The InfoNCE readout never exceeds log(batch size).
    log_batch_bounded: ClassVar[bool] = True

    def bound(self, scores: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """mean_i [f_ii - log(e^{f_ii} + mean_{j≠i} e^{f_ij})]."""
        k = scores.shape[0]
        positive = scores.diagonal()
        negatives = scores.masked_fill(~_offdiag_mask(k, scores.device), float("-inf"))
        mean_negative = torch.logsumexp(negatives, dim=1) - math.log(k - 1)
        return (positive - torch.logaddexp(positive, mean_negative)).mean()

    readout = InfoNCE.bound


@hookimpl
def register_mi_objectives(register):
    """Register the built-in MI objectives."""
    for cls in (NoMI, FitNet, InfoNCE, NWJ, MIAlpha, JSD, WDM, CMIM):
        register(cls)
