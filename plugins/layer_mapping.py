"""Layer mapping: an MI objective on several student layers (m2mKD; Distiller).

Lo, Jiang et al., "m2mKD: Module-to-Module Knowledge Distillation for Modular
Transformers" (2024), distils module by module; Distiller (He et al., "Distiller: A
Systematic Study of Model Distillation Methods in Natural Language Processing", 2021)
searches, besides the intermediate objective, which student layer learns from which
teacher layer. Here a student with ``S >= 2`` hidden layers (``mlp:64,32``) and a teacher
with ``T`` hidden layers (the ``auto`` teacher has 2; a TorchScript teacher exposes 1)
are matched by a searchable ``mapping``; every mapped pair ``(i, j)`` gets its own copy
of the ``objective`` (its own critic), and the loss is the mean of the pairs' losses.
With 0-based layers and ``spread(i, s, t) = ceil((i + 1)·t/s) - 1`` (student layer ``i``
of ``s`` to the teacher layer at the same depth fraction, the last to the last):

* ``last``: ``[(S-1, T-1)]``, the last layer to the last (the plain MI objectives).
* ``uniform``: every student layer, ``(i, spread(i, S, T))``.
* ``skip``: every student layer but the last, ``(i, spread(i, S-1, max(T-1, 1)))``:
  intermediate hints only, the last hidden layer left to the KD loss (PKD's and
  Distiller's hints on intermediate layers; our reading of "skip").

With one student layer every mapping is ``last``. The class requires ``"deep_student"``,
so it drops out of search spaces for a one-layer student. Given single tensors (one
layer each, as ``check_component`` does), it acts on that pair.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from autodistill.components import MIObjective
from autodistill.hookspecs import hookimpl
from autodistill.params import Categorical, Float
from autodistill.plugins import mi_objectives as base

__all__ = ["LayerMap", "layer_pairs", "MAPPINGS"]

MAPPINGS = ("last", "uniform", "skip")
_OBJECTIVES: dict[str, type[MIObjective]] = {
    cls.name: cls for cls in (base.InfoNCE, base.FitNet, base.CMIM, base.NWJ, base.JSD)}


def _spread(i: int, s: int, t: int) -> int:
    return math.ceil((i + 1) * t / s) - 1


def layer_pairs(mapping: str, s: int, t: int) -> list[tuple[int, int]]:
    """The ``(student layer, teacher layer)`` pairs (0-based) ``mapping`` names for a
    student with ``s`` and a teacher with ``t`` hidden layers."""
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping '{mapping}' is not one of {', '.join(MAPPINGS)}")
    if mapping == "last" or s == 1:
        return [(s - 1, t - 1)]
    if mapping == "uniform":
        return [(i, _spread(i, s, t)) for i in range(s)]
    return [(i, _spread(i, s - 1, max(t - 1, 1))) for i in range(s - 1)]


def _widths(dim: int | Sequence[int]) -> list[int]:
    return [int(dim)] if isinstance(dim, int) else [int(d) for d in dim]


def _layers(features: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [features] if isinstance(features, torch.Tensor) else list(features)


class LayerMap(MIObjective):
    """Layer mapping (m2mKD, Lo et al. 2024; Distiller): an MI objective on mapped student/teacher layer pairs."""

    name = "layer_map"
    #: The engine passes lists of per-layer features (see autodistill.training.layers).
    uses_layers: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("deep_student",)
    params = {
        "weight": Float(1e-3, 10.0, default=1.0, log=True),
        "mapping": Categorical(list(MAPPINGS), default="uniform"),
        "objective": Categorical(list(_OBJECTIVES), default="infonce"),
    }

    def __init__(self, student_dim: int | Sequence[int], teacher_dim: int | Sequence[int],
                 **params) -> None:
        student, teacher = _widths(student_dim), _widths(teacher_dim)
        super().__init__(student[-1], teacher[-1], **params)
        self.pairs = layer_pairs(self.mapping, len(student), len(teacher))
        self.terms = nn.ModuleList(_OBJECTIVES[self.objective](student[i], teacher[j])
                                   for i, j in self.pairs)

    def _pairs(self, student_hidden, teacher_hidden):
        s, t = _layers(student_hidden), _layers(teacher_hidden)
        if len(s) == 1 and len(t) == 1:  # one layer each (check_component): that pair
            if len(self.terms) != 1:
                raise ValueError(f"layer_map maps {len(self.terms)} layer pairs; pass lists of "
                                 "per-layer features")
            return [(self.terms[0], s[0], t[0])]
        return [(term, s[i], t[j]) for term, (i, j) in zip(self.terms, self.pairs, strict=True)]

    def forward(self, student_hidden, teacher_hidden) -> torch.Tensor:
        """Mean of the mapped pairs' losses; features are tensors or per-layer lists."""
        losses = [term(s, t) for term, s, t in self._pairs(student_hidden, teacher_hidden)]
        return torch.stack(losses).mean()

    @torch.no_grad()
    def estimate(self, student_hidden, teacher_hidden) -> float:
        """Mean of the mapped pairs' estimates, in nats."""
        values = [term.estimate(s, t) for term, s, t in self._pairs(student_hidden, teacher_hidden)]
        return float(sum(values) / len(values))


@hookimpl
def register_mi_objectives(register):
    """Register the ``layer_map`` MI objective."""
    register(LayerMap)
