"""Joint teacher fine-tuning: the ``mutual`` KD loss (deep mutual learning, CoMD).

Zhang, Xiang, Hospedales & Lu, "Deep Mutual Learning" (CVPR 2018), and Li et al.,
"Competitive Mutual Distillation" (CoMD, 2023): instead of a frozen teacher, the teacher
is trained *with* the student, on the same batches, and takes feedback from it. Here
the teacher starts from the trained ``auto`` teacher and is fine-tuned; the engine
gives each member that uses this loss its own copy of the teacher
(:mod:`autodistill.training.joint`) and hands the loss that copy's live logits, with
gradients. With temperature ``T``, ``p^T`` a softmax at ``T`` and ``y`` the labels:

    student:  α·T²·KL(p_t^T ‖ p_s^T) + (1 - α)·CE(s, y)        (the teacher detached)
    teacher:  (1 - β)·CE(t, y) + β·T²·KL(p_s^T ‖ p_t^T)        (the student detached)

The loss is their sum; each side's term reaches only its own weights, so the student's
gradient is that of the Hinton loss. The teacher's term is added only when the teacher's
logits carry gradients (a live teacher): with precomputed logits the loss is exactly
Hinton's. The copy's learning rate is ``teacher_lr`` (its own Adam).

A teacher the user brings as a TorchScript file stays frozen: the class requires
``"trainable_teacher"``, so it drops out of search spaces for such a teacher, and a
pipeline naming it is refused with the reason.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch.nn import functional as F

from autodistill.components import KDLoss
from autodistill.hookspecs import hookimpl
from autodistill.params import Float

__all__ = ["Mutual"]


def _soft_kl(target_logits: torch.Tensor, logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T²·KL(softmax(target/T) ‖ softmax(logits/T)), batch mean."""
    log_p = F.log_softmax(logits / temperature, dim=-1)
    log_q = F.log_softmax(target_logits / temperature, dim=-1)
    return F.kl_div(log_p, log_q, reduction="batchmean", log_target=True) * temperature ** 2


class Mutual(KDLoss):
    """Joint teacher fine-tuning (DML 2018; CoMD, Li et al. 2023): the teacher learns with the student.

    See the module docstring for the two terms. ``teacher_lr`` is read by the engine (the
    teacher copy's learning rate).
    """

    name = "mutual"
    requires: ClassVar[tuple[str, ...]] = ("trainable_teacher",)
    params = {
        "temperature": Float(1.0, 10.0, default=4.0, log=True),
        "alpha": Float(0.0, 1.0, default=0.9),
        "teacher_weight": Float(0.0, 1.0, default=0.5),
        "teacher_lr": Float(1e-5, 1e-2, default=1e-4, log=True),
    }

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                targets: torch.Tensor) -> torch.Tensor:
        """Student term plus, for a live teacher, the teacher's term."""
        t = float(self.temperature)
        student = (self.alpha * _soft_kl(teacher_logits.detach(), student_logits, t)
                   + (1.0 - self.alpha) * F.cross_entropy(student_logits, targets))
        if not teacher_logits.requires_grad:
            return student
        teacher = ((1.0 - self.teacher_weight) * F.cross_entropy(teacher_logits, targets)
                   + self.teacher_weight * _soft_kl(student_logits.detach(), teacher_logits, t))
        return student + teacher


@hookimpl
def register_kd_losses(register):
    """Register the ``mutual`` KD loss."""
    register(Mutual)
