"""The engine's side of layer mapping: per-layer features for MI objectives that map layers.

An MI objective whose class sets ``uses_layers = True`` (the ``layer_map`` component) is
built with the widths of every hidden layer of the student and of the teacher, and called
with lists of per-layer features instead of the last hidden layer alone: the student's
come from the stacked forward pass (:meth:`StackedMLP.forward` with ``layers=True``), the
teacher's from running the (frozen) teacher layer by layer on the same rows, without
gradient. A teacher the project trained is (or, for the ``auto`` ensemble, holds) an
:class:`~autodistill.training.students.MLP` and exposes every hidden layer of it (the
ensemble's hidden features are its MLP's); a TorchScript teacher exposes only the hidden
features it returns (one layer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from autodistill.training.requirements import teacher_mlp

if TYPE_CHECKING:
    from torch import nn

    from autodistill.training.teacher_outputs import TeacherOutputs

__all__ = ["uses_layers", "mi_dims", "teacher_layers", "mi_inputs"]


def uses_layers(component: Any) -> bool:
    """Whether an MI objective (instance or class) takes per-layer features."""
    return bool(getattr(component, "uses_layers", False))


def mi_dims(cls: type, student: nn.Module, teacher: TeacherOutputs) -> tuple[Any, Any]:
    """The ``(student_dim, teacher_dim)`` an MI objective class is built with: the last
    hidden widths, or, for a layer-mapping objective, the lists of every layer's width."""
    teacher_dim = int(teacher.hidden["train"].shape[1])
    if not uses_layers(cls):
        return student.hidden_dim, teacher_dim
    module = teacher_mlp(teacher)
    teacher_dims = list(module.hidden_sizes) if module is not None and module.hidden_sizes \
        else [teacher_dim]
    return _student_layer_widths(student), teacher_dims


def _student_layer_widths(student: Any) -> list[int]:
    """Every hidden layer's width: the MLP's ``hidden_sizes``; for another family's module,
    read from its ``layer_features`` on one row (the input width when it has none)."""
    sizes = getattr(student, "hidden_sizes", None)
    if sizes is None and hasattr(student, "layer_features"):
        with torch.no_grad():
            row = torch.zeros(1, student.n_features)
            sizes = [int(f.shape[1]) for f in student.layer_features(row)]
    return list(sizes or ()) or [student.n_features]


@torch.no_grad()
def teacher_layers(teacher: TeacherOutputs, x: torch.Tensor) -> list[torch.Tensor]:
    """The teacher's per-layer features of rows ``x`` ``[n, d]`` (on ``x``'s device)."""
    module = teacher_mlp(teacher)
    if module is None:
        return [teacher.predict(x)[1]]
    device = next(module.parameters()).device
    return [f.to(x.device) for f in module.layer_features(x.to(device, torch.float32))]


def mi_inputs(mi: Any, teacher: TeacherOutputs, x: torch.Tensor, hidden: torch.Tensor,
              layers: list[torch.Tensor] | None, teacher_hidden: Any,
              position: int) -> tuple[Any, Any]:
    """What member ``position`` of a group passes its MI objective: its last hidden layer
    and the teacher's (``teacher_hidden()``), or both lists of per-layer features."""
    if not uses_layers(mi) or layers is None:
        return hidden[position], teacher_hidden()
    return [f[position] for f in layers], teacher_layers(teacher, x[position])
