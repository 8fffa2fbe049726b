"""The four component families and their base classes.

A component is a small class with a unique ``name``, a docstring whose first line is what
``autodistill plugins`` prints, a ``params`` declaration (see :mod:`autodistill.params`)
and the family method. Components work on tensors with a leading batch dimension and keep
no global state.

Populations (trained by :mod:`autodistill.training.engine`): a component class with
``member_axis = True`` may be called once for M members at once. :meth:`Component.stack`
builds that call's instance from the M members' instances: each numeric hyperparameter
becomes a float tensor of shape ``[M]`` (read it broadcastable with
:meth:`Component.member_param`); a categorical one must be equal across the members (the
engine groups members by them). KD losses then implement
:meth:`KDLoss.forward_members` and augmentations :meth:`Augmentation.augment_members` on
inputs with a leading member axis, and the single-member call goes through the same code
with M = 1. Other components are called once per member.

Resolved hyperparameters are available both as ``self.hparams`` (a dict) and as
attributes: ``self.temperature`` for a declared ``temperature``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from autodistill.families import FAMILIES
from autodistill.params import POOL_FACTOR, Int, Param, resolve_params

__all__ = [
    "FAMILIES",
    "Component",
    "KDLoss",
    "MIObjective",
    "Augmentation",
    "Curriculum",
    "resolve_params",
    "FAMILY_BASES",
    "POOL_FACTOR",
    "pool_factor_param",
]

class Component:
    """Common base: name, family, declared params and their resolution."""

    #: Unique name within the family; the name used in pipeline JSON.
    name: ClassVar[str] = ""
    #: Family key, one of :data:`FAMILIES`; set by each family base class.
    family: ClassVar[str] = ""
    #: Hyperparameter declarations: name -> :class:`~autodistill.params.Param`.
    params: ClassVar[dict[str, Param]] = {}
    #: True when the class accepts a leading member axis (see the module docstring).
    member_axis: ClassVar[bool] = False
    #: On an instance made by :meth:`stack`: how many members it stands for.
    members: int | None = None
    #: What a run must offer for the component to apply: ``"trainable_teacher"`` (a
    #: teacher the project trains, not a frozen TorchScript file), ``"deep_student"`` (a
    #: student with two or more hidden layers). A search space drops a component whose
    #: requirements the run lacks, and a pipeline naming one is refused with the reason.
    requires: ClassVar[tuple[str, ...]] = ()

    def _set_hparams(self, given: dict[str, Any]) -> None:
        self.hparams = resolve_params(self.params, given)
        for key, value in self.hparams.items():
            setattr(self, key, value)

    @classmethod
    def stack(cls, members: Sequence[Component]) -> Component:
        """One instance standing for ``members`` (all of this class): numeric hyperparameters
        become float tensors ``[M]``, categorical ones must be equal.

        Raises:
            ValueError: a categorical hyperparameter differs between the members.
        """
        stacked = cls.__new__(cls)
        hparams: dict[str, Any] = {}
        for key in members[0].hparams:
            values = [m.hparams[key] for m in members]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                hparams[key] = torch.tensor([float(v) for v in values], dtype=torch.float32)
            elif all(v == values[0] for v in values):
                hparams[key] = values[0]
            else:
                raise ValueError(f"{cls.family} '{cls.name}': {key} differs between members")
        stacked.hparams = hparams
        for key, value in hparams.items():
            setattr(stacked, key, value)
        stacked.members = len(members)
        return stacked

    def select(self, index: Sequence[int]) -> Component:
        """The stacked instance of the members at ``index`` of this stacked instance."""
        chosen = self.__class__.__new__(self.__class__)
        positions = torch.as_tensor(list(index), dtype=torch.int64)
        chosen.hparams = {k: v.index_select(0, positions) if isinstance(v, torch.Tensor) else v
                          for k, v in self.hparams.items()}
        for key, value in chosen.hparams.items():
            setattr(chosen, key, value)
        chosen.members = len(positions)
        return chosen

    def member_param(self, key: str, like: torch.Tensor) -> torch.Tensor:
        """Hyperparameter ``key`` of a stacked instance, shaped ``[M, 1, ...]`` to broadcast
        against ``like`` (whose first axis is the member axis), on its device and dtype."""
        # Cached per instance: a stacked instance serves the same members step after step.
        cache = self.__dict__.setdefault("_member_params", {})
        slot = (key, like.dim(), like.device, like.dtype)
        shaped = cache.get(slot)
        if shaped is None:
            shape = (-1,) + (1,) * (like.dim() - 1)
            shaped = torch.as_tensor(self.hparams[key]).to(device=like.device,
                                                           dtype=like.dtype).view(shape)
            cache[slot] = shaped
        return shaped

    def _single_stack(self) -> Component:
        cached = self.__dict__.get("_stacked_self")
        if cached is None:
            cached = type(self).stack([self])
            self.__dict__["_stacked_self"] = cached
        return cached

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
        if self.members is not None:
            return self.forward_members(student_logits, teacher_logits, targets)
        return self.forward(student_logits, teacher_logits, targets)

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                targets: torch.Tensor) -> torch.Tensor:
        """Return the scalar loss to minimise.

        A class with ``member_axis`` need not override it: by default it runs
        :meth:`forward_members` with one member.
        """
        if not self.member_axis:
            raise NotImplementedError
        teacher = teacher_logits.unsqueeze(0) if teacher_logits is not None else None
        return self._single_stack().forward_members(
            student_logits.unsqueeze(0), teacher, targets.unsqueeze(0))[0]

    def forward_members(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                        targets: torch.Tensor) -> torch.Tensor:
        """On a stacked instance: logits ``[M, n, C]``, targets ``[M, n]`` -> losses ``[M]``."""
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


def pool_factor_param() -> Int:
    """The declaration of :data:`POOL_FACTOR`: 0 (per-batch mode, the default) to 10."""
    return Int(0, 10, default=0)


class Augmentation(Component):
    """Base of augmentations: ``(x, y, generator) -> x_aug`` on one batch.

    ``x_aug`` has the shape and dtype of ``x``. The engine labels augmented rows with the
    teacher, so an augmentation need not keep the label right.

    A class whose :attr:`generates_rows` is true (the default; ``none`` sets it false)
    gains a ``pool_factor`` hyperparameter without declaring it: 0, the default, is the
    per-batch mode (each batch augmented on the fly); ``f`` in 1..10 makes the engine
    generate a *pool* of ``f`` x the training rows once, before training, by running the
    augmentation over shuffled training batches, have the teacher label it once, and
    train on the real rows plus the pool each epoch (AutoGluon's ``distill``, FAST-DAD).
    The augmentation's own code never reads ``pool_factor``.
    """

    family: ClassVar[str] = "augmentation"
    #: True when :meth:`augment` makes new rows (so the class may also run as a pool and
    #: gains a ``pool_factor`` hyperparameter); ``none`` sets it false.
    generates_rows: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.generates_rows and POOL_FACTOR not in cls.params:
            cls.params = {**cls.params, POOL_FACTOR: pool_factor_param()}

    def __init__(self, **params: Any) -> None:
        self._set_hparams(params)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: Any) -> torch.Tensor:
        if self.members is not None:
            return self.augment_members(x, y, generator)
        return self.augment(x, y, generator)

    def augment(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return an augmented copy of the batch ``x`` (labels ``y``).

        A class with ``member_axis`` need not override it: by default it runs
        :meth:`augment_members` with one member.
        """
        if not self.member_axis:
            raise NotImplementedError
        return self._single_stack().augment_members(x.unsqueeze(0), y.unsqueeze(0), [generator])[0]

    def augment_members(self, x: torch.Tensor, y: torch.Tensor,
                        generators: Sequence[torch.Generator]) -> torch.Tensor:
        """On a stacked instance: ``x [M, n, d]``, ``y [M, n]`` and one generator per member
        (member m's random numbers come from ``generators[m]`` alone) -> ``[M, n, d]``."""
        raise NotImplementedError

    def generate_pool(self, x: torch.Tensor, y: torch.Tensor, factor: int, batch_size: int,
                      generator: torch.Generator) -> torch.Tensor:
        """``factor`` passes of this augmentation over the rows ``x`` (labels ``y``), each
        pass in a fresh order drawn from ``generator`` and cut into batches of
        ``batch_size``: ``[factor * n, d]`` new rows, the same for the same generator seed.

        The engine's pool (``pool_factor``) calls it once per member, before training.
        """
        n = x.shape[0]
        parts = []
        for _ in range(factor):
            order = torch.randperm(n, generator=generator, device=generator.device).to(x.device)
            for start in range(0, n, batch_size):
                rows = order[start:start + batch_size]
                made = self(x[rows], y[rows], generator)
                if tuple(made.shape) != (rows.shape[0], x.shape[1]):
                    raise ValueError(f"returned shape {tuple(made.shape)} for a batch of "
                                     f"{(rows.shape[0], x.shape[1])}")
                parts.append(made.to(x.dtype))
        return torch.cat(parts) if parts else x[:0].clone()


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
