"""The four component families and their base classes.

A component is a small class with a unique ``name``, a docstring whose first line is what
``autodistill plugins`` prints, a ``params`` declaration (see :mod:`autodistill.params`)
and the family method. Components work on tensors with a leading batch dimension and keep
no global state, so that several students can later be trained at once.

Resolved hyperparameters are available both as ``self.hparams`` (a dict) and as
attributes: ``self.temperature`` for a declared ``temperature``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from autodistill.families import FAMILIES
from autodistill.params import Param, resolve_params

__all__ = [
    "FAMILIES",
    "Component",
    "KDLoss",
    "MIObjective",
    "Augmentation",
    "Curriculum",
    "resolve_params",
    "FAMILY_BASES",
]

class Component:
    """Common base: name, family, declared params and their resolution."""

    #: Unique name within the family; the name used in pipeline JSON.
    name: ClassVar[str] = ""
    #: Family key, one of :data:`FAMILIES`; set by each family base class.
    family: ClassVar[str] = ""
    #: Hyperparameter declarations: name -> :class:`~autodistill.params.Param`.
    params: ClassVar[dict[str, Param]] = {}

    def _set_hparams(self, given: dict[str, Any]) -> None:
        self.hparams = resolve_params(self.params, given)
        for key, value in self.hparams.items():
            setattr(self, key, value)

    @classmethod
    def summary(cls) -> str:
        """The first line of the class docstring."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


class KDLoss(Component):
    """Base of KD losses: ``(student_logits, teacher_logits, targets) -> scalar``.

    ``targets`` are class indices (``int64``). ``teacher_logits`` may be ``None`` when
    :attr:`uses_teacher` is False.
    """

    family: ClassVar[str] = "kd_loss"
    #: False for losses that never look at the teacher (the ``plain`` baseline).
    uses_teacher: ClassVar[bool] = True

    def __init__(self, **params: Any) -> None:
        self._set_hparams(params)

    def __call__(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                 targets: torch.Tensor) -> torch.Tensor:
        return self.forward(student_logits, teacher_logits, targets)

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                targets: torch.Tensor) -> torch.Tensor:
        """Return the scalar loss to minimise."""
        raise NotImplementedError


class MIObjective(Component, nn.Module):
    """Base of MI objectives on hidden features; the critic trains with the student.

    ``forward(student_hidden, teacher_hidden)`` returns a scalar *loss* (the negative of a
    lower bound on the mutual information, or a proxy); the engine multiplies it by the
    ``weight`` param. ``estimate(...)`` returns the current MI estimate in nats.
    """

    family: ClassVar[str] = "mi_objective"
    #: False only for ``none``: the objective needs the teacher's hidden features.
    uses_hidden: ClassVar[bool] = True

    def __init__(self, student_dim: int, teacher_dim: int, **params: Any) -> None:
        nn.Module.__init__(self)
        self.student_dim = student_dim
        self.teacher_dim = teacher_dim
        self._set_hparams(params)

    def forward(self, student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """Return the scalar loss (negative bound) to minimise."""
        raise NotImplementedError

    @torch.no_grad()
    def estimate(self, student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> float:
        """Return the MI estimate in nats (by default, minus the loss)."""
        return float(-self.forward(student_hidden, teacher_hidden))


class Augmentation(Component):
    """Base of augmentations: ``(x, y, generator) -> x_aug`` on one batch.

    ``x_aug`` has the shape and dtype of ``x``. The engine labels augmented rows with the
    teacher, so an augmentation need not keep the label right.
    """

    family: ClassVar[str] = "augmentation"

    def __init__(self, **params: Any) -> None:
        self._set_hparams(params)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.augment(x, y, generator)

    def augment(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return an augmented copy of the batch ``x`` (labels ``y``)."""
        raise NotImplementedError


class Curriculum(Component):
    """Base of curricula: which training rows, in which order, each epoch.

    Built with a per-row ``difficulty`` (higher is harder; from the teacher) and the
    number of ``epochs``. :meth:`indices` returns an ``int64`` tensor of row indices for
    one epoch. Curricula with :attr:`needs_student_loss` also receive the current
    per-row student loss. A curriculum may also change what the student sees of the rows
    by overriding :meth:`transform` (by default the identity).
    """

    family: ClassVar[str] = "curriculum"
    #: True when :meth:`indices` needs the current per-row student loss.
    needs_student_loss: ClassVar[bool] = False

    def __init__(self, difficulty: np.ndarray | torch.Tensor, epochs: int, **params: Any) -> None:
        self.difficulty = torch.as_tensor(np.asarray(difficulty), dtype=torch.float32)
        self.n_rows = int(self.difficulty.shape[0])
        self.epochs = int(epochs)
        self._set_hparams(params)

    def indices(self, epoch: int, generator: torch.Generator,
                student_loss: torch.Tensor | None = None) -> torch.Tensor:
        """Return the row indices to train on in ``epoch`` (0-based), in order."""
        raise NotImplementedError

    def transform(self, x: torch.Tensor, epoch: int, generator: torch.Generator) -> torch.Tensor:
        """The inputs to train on in ``epoch``, from the raw training inputs ``x`` ``[N, d]``.

        Called once per epoch with the whole (unchanged) training matrix, before any
        batch is cut from it; rows keep their labels and teacher outputs, and
        augmentations apply to the transformed rows. Return a new tensor of the same
        shape, dtype and device (never modify ``x``), drawing any randomness from
        ``generator``. The default returns ``x`` itself.
        """
        return x


#: Family key -> its base class (each base declares its own ``family``).
FAMILY_BASES: dict[str, type[Component]] = {
    base.family: base for base in (KDLoss, MIObjective, Augmentation, Curriculum)}
