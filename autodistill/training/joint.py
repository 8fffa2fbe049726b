"""Joint teacher fine-tuning: a member's own copy of the teacher, trained with its student.

A KD loss whose class requires ``"trainable_teacher"`` (the ``mutual`` loss) is served
live teacher logits instead of the precomputed ones: each such member gets its own copy
of the teacher's MLP (a small MLP, so a copy per member costs little: 70k parameters and
their Adam moments for the default 256x256 one), which runs on the member's batch
(augmented rows included) with gradients, and which its own Adam steps after each of the
member's steps, at the loss's ``teacher_lr``. For the ``auto`` ensemble the live logits
average the copy's probabilities with the frozen ``gbdt`` half's (shared, never copied:
it has no gradient), as the ensemble does. The cached
teacher (:class:`~autodistill.training.teachers.TeacherOutputs` and its module) is never
touched: every other member, the validation agreement and the next run see it unchanged.
Members of a population each fine-tune their own copy, so they stay independent, and K =
1 is the same code. The teacher's hidden features for MI objectives and its labels for
augmented rows still come from the frozen teacher.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from autodistill.errors import PipelineError
from autodistill.training.gbdt_teacher import EnsembleModule
from autodistill.training.population import BatchedAdam
from autodistill.training.requirements import REQUIREMENTS, teacher_mlp

if TYPE_CHECKING:
    from autodistill.training.teacher_outputs import TeacherOutputs

__all__ = ["JointTeacher", "joint_teacher"]


@dataclass(eq=False)
class JointTeacher:
    """One member's teacher copy and its optimiser."""

    module: nn.Module
    optimizer: BatchedAdam

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Live teacher logits of rows ``x`` ``[n, d]``, with gradients to the copy."""
        return self.module(x)[0]


def joint_teacher(kd: Any, teacher: TeacherOutputs | None,
                  device: torch.device) -> JointTeacher | None:
    """A fine-tunable copy of the teacher for a KD loss that trains it, else ``None``.

    Raises:
        PipelineError: the loss trains the teacher but this teacher is frozen.
    """
    if "trainable_teacher" not in getattr(kd, "requires", ()):
        return None
    if kd.member_axis:
        raise PipelineError(f"kd_loss '{kd.name}' trains the teacher, so it must be called "
                            "per member (member_axis = False)")
    mlp = teacher_mlp(teacher)
    if mlp is None:
        raise PipelineError(f"kd_loss '{kd.name}' needs {REQUIREMENTS['trainable_teacher']}")
    own_mlp = copy.deepcopy(mlp).to(device).train()
    # the auto ensemble: a copy of its MLP half, averaged with the shared (frozen) gbdt half
    own = own_mlp if teacher.module is mlp else EnsembleModule(own_mlp, teacher.module.gbdt)
    params = list(own_mlp.parameters())
    for p in params:
        p.requires_grad_(True)
    lr = torch.tensor([float(kd.hparams.get("teacher_lr", 1e-4))])
    return JointTeacher(own, BatchedAdam(params, lr, torch.zeros(1)))
