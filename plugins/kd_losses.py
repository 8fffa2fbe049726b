"""Built-in KD losses: ``(student_logits, teacher_logits, targets) -> scalar``.

Every loss that looks at the teacher mixes in the label cross-entropy through a declared
weight, so the search can trade the teacher off against the labels. Each class's
``teacher_only_params`` names the values that switch the label term off; the
conformance checks in :mod:`autodistill.testing` use them to test the teacher-matching
term on its own. Reductions average over the batch (``batchmean``) and every
distribution is handled in log space (``log_softmax``), so large logits stay finite.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from autodistill.components import KDLoss
from autodistill.hookspecs import hookimpl
from autodistill.params import Float

__all__ = ["NoKD", "Hinton", "SoftCE", "MSELogits", "DKD"]


def _temperature() -> Float:
    return Float(1.0, 10.0, default=4.0, log=True)


def _log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``log_softmax`` over the last axis as ``x - logsumexp(x)``: the same values, and on
    the CPU several times faster than ``F.log_softmax`` for a few classes and many rows."""
    return logits - torch.logsumexp(logits, dim=-1, keepdim=True)


def _ce_rows(student_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-row label cross-entropy ``[..., n]`` of logits ``[..., n, C]``."""
    log_p = _log_softmax(student_logits)
    return -log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def _kl_rows(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
             t: torch.Tensor) -> torch.Tensor:
    """Per-row KL(softmax(t/T) || softmax(s/T)) ``[..., n]``, in log space."""
    log_ps = _log_softmax(student_logits / t)
    log_pt = _log_softmax(teacher_logits / t)
    return (log_pt.exp() * (log_pt - log_ps)).sum(-1)


class NoKD(KDLoss):
    """Cross-entropy on the labels only, no teacher (the ``plain`` baseline)."""

    name = "none"
    uses_teacher = False
    member_axis = True
    params = {}

    def forward_members(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                        targets: torch.Tensor) -> torch.Tensor:
        """CE(y, s) per member; ``teacher_logits`` is ignored and may be ``None``."""
        return _ce_rows(student_logits, targets).mean(-1)


class Hinton(KDLoss):
    """Hinton et al. 2015: (1-a)·CE(y, s) + a·T²·KL(softmax(t/T) || softmax(s/T))."""

    name = "hinton"
    member_axis = True
    params = {"temperature": _temperature(), "alpha": Float(0.0, 1.0, default=0.9)}
    teacher_only_params: ClassVar[dict[str, Any]] = {"alpha": 1.0}

    def forward_members(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                        targets: torch.Tensor) -> torch.Tensor:
        """The mixed label/teacher loss per member (batchmean KL)."""
        t = self.member_param("temperature", student_logits)
        kl = _kl_rows(student_logits, teacher_logits, t).mean(-1)
        alpha, t1 = self.member_param("alpha", kl), t.view(-1)
        return alpha * t1 * t1 * kl + (1.0 - alpha) * _ce_rows(student_logits, targets).mean(-1)


class SoftCE(KDLoss):
    """(1-a)·CE(y, s) + a·T²·CE(softmax(t/T), softmax(s/T)): cross-entropy on soft targets.

    Unlike :class:`Hinton`, the teacher term keeps the teacher's entropy, so it is not 0
    when the student equals the teacher; it has the same gradient.
    """

    name = "soft_ce"
    member_axis = True
    params = {"temperature": _temperature(), "alpha": Float(0.0, 1.0, default=0.9)}
    teacher_only_params: ClassVar[dict[str, Any]] = {"alpha": 1.0}

    def forward_members(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                        targets: torch.Tensor) -> torch.Tensor:
        """The mixed label/soft-target loss per member."""
        t = self.member_param("temperature", student_logits)
        soft = _log_softmax(teacher_logits / t).exp()
        soft_ce = -(soft * _log_softmax(student_logits / t)).sum(-1).mean(-1)
        alpha, t1 = self.member_param("alpha", soft_ce), t.view(-1)
        ce = _ce_rows(student_logits, targets).mean(-1)
        return alpha * t1 * t1 * soft_ce + (1.0 - alpha) * ce


class MSELogits(KDLoss):
    """(1-a)·CE(y, s) + a·mean((s - t)²): regress the teacher's logits."""

    name = "mse_logits"
    member_axis = True
    params = {"alpha": Float(0.0, 1.0, default=0.5)}
    teacher_only_params: ClassVar[dict[str, Any]] = {"alpha": 1.0}

    def forward_members(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                        targets: torch.Tensor) -> torch.Tensor:
        """The mixed loss per member; the squared error is averaged over rows and classes."""
        mse = (student_logits - teacher_logits).pow(2).mean((-2, -1))
        alpha = self.member_param("alpha", mse)
        return alpha * mse + (1.0 - alpha) * _ce_rows(student_logits, targets).mean(-1)


class DKD(KDLoss):
    """Decoupled KD (Zhao et al. 2022): ce_weight·CE + (alpha·TCKD + beta·NCKD)·T².

    TCKD is the KL divergence between the teacher's and the student's binary
    (target, non-target) probabilities; NCKD the KL divergence between their
    distributions over the non-target classes, renormalised. Both are computed in log
    space: the target class is masked out with ``-inf`` before ``log_softmax``, and its
    (undefined) terms are zeroed, never multiplied.
    """

    name = "dkd"
    member_axis = True
    params = {
        "alpha": Float(0.0, 4.0, default=1.0),
        "beta": Float(0.0, 16.0, default=8.0),
        "temperature": _temperature(),
        "ce_weight": Float(0.0, 1.0, default=1.0),
    }
    teacher_only_params: ClassVar[dict[str, Any]] = {"ce_weight": 0.0}

    @staticmethod
    def parts(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
              targets: torch.Tensor, temperature: float | torch.Tensor,
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(tckd, nckd)``, batch means, not yet multiplied by T².

        Logits are ``[..., n, C]`` and targets ``[..., n]``; ``temperature`` a number or a
        tensor broadcastable to the logits; the results have the leading shape ``[...]``.
        """
        t = temperature
        target_mask = F.one_hot(targets, student_logits.shape[-1]).bool()
        log_ps = _log_softmax(student_logits / t)
        log_pt = _log_softmax(teacher_logits / t)
        # Binary split: log p(target) and log p(non-target) = logsumexp over the others.
        index = targets.unsqueeze(-1)
        ls_tgt = log_ps.gather(-1, index).squeeze(-1)
        lt_tgt = log_pt.gather(-1, index).squeeze(-1)
        ls_rest = torch.logsumexp(log_ps.masked_fill(target_mask, float("-inf")), dim=-1)
        lt_rest = torch.logsumexp(log_pt.masked_fill(target_mask, float("-inf")), dim=-1)
        tckd = (lt_tgt.exp() * (lt_tgt - ls_tgt) + lt_rest.exp() * (lt_rest - ls_rest)).mean(-1)
        # Non-target classes, renormalised; the masked target entry contributes nothing.
        ls_nt = _log_softmax((student_logits / t).masked_fill(target_mask, float("-inf")))
        lt_nt = _log_softmax((teacher_logits / t).masked_fill(target_mask, float("-inf")))
        ls_nt = ls_nt.masked_fill(target_mask, 0.0)
        lt_nt = lt_nt.masked_fill(target_mask, 0.0)
        nckd = (lt_nt.exp().masked_fill(target_mask, 0.0) * (lt_nt - ls_nt)).sum(-1).mean(-1)
        return tckd, nckd

    def forward_members(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                        targets: torch.Tensor) -> torch.Tensor:
        """ce_weight·CE + (alpha·TCKD + beta·NCKD)·T² per member."""
        t = self.member_param("temperature", student_logits)
        tckd, nckd = self.parts(student_logits, teacher_logits, targets, t)
        t2 = t.view(-1) * t.view(-1)
        loss = (self.member_param("alpha", tckd) * tckd
                + self.member_param("beta", nckd) * nckd) * t2
        return loss + self.member_param("ce_weight", loss) * _ce_rows(student_logits,
                                                                       targets).mean(-1)


@hookimpl
def register_kd_losses(register):
    """Register the built-in KD losses."""
    for cls in (NoKD, Hinton, SoftCE, MSELogits, DKD):
        register(cls)
