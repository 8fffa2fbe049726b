"""What a run offers its components, and the refusal of a component it cannot serve.

A component may declare ``requires`` (see :class:`autodistill.components.Component`):

* ``"trainable_teacher"``: the teacher has an MLP the project trained (``auto:mlp``, or
  the MLP half of the ``auto`` ensemble; ``+mcmi`` too), so a copy of it can be
  fine-tuned with the student (the ``mutual`` KD loss). A TorchScript teacher the user
  brings stays frozen, and so does ``gbdt`` (no gradient).
* ``"deep_student"``: the student exposes two or more hidden layers (``mlp:64,32``; a
  plugin's family through ``StudentFamily.layer_widths``), so an MI objective can map
  several of its layers (``layer_map``).

A search space drops a component whose requirements the run lacks
(:meth:`autodistill.study.space.Space.for_run`); a pipeline naming one is refused here
with the reason, before training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autodistill.errors import PipelineError
from autodistill.families import FAMILIES
from autodistill.training.students import MLP, parse_student_spec

if TYPE_CHECKING:
    from autodistill.training.pipeline import Pipeline
    from autodistill.training.teacher_outputs import TeacherOutputs

__all__ = ["REQUIREMENTS", "teacher_mlp", "trainable_teacher", "run_offers",
           "check_requirements"]

#: Requirement -> what offers it (for messages).
REQUIREMENTS: dict[str, str] = {
    "trainable_teacher": "a teacher the project trains (--teacher auto or auto:mlp); a "
                         "TorchScript or gbdt teacher stays frozen",
    "deep_student": "a student with two or more hidden layers (e.g. --student mlp:64,32)",
}


def teacher_mlp(teacher: TeacherOutputs | None) -> MLP | None:
    """The MLP the project trained for this teacher: the teacher itself (``auto:mlp``), the
    MLP half of the ``auto`` ensemble (its ``mlp``), else ``None`` (no teacher, ``gbdt``,
    or a loaded TorchScript module, which is no :class:`MLP` and stays frozen)."""
    module = teacher.module if teacher is not None else None
    if isinstance(module, MLP):
        return module
    inner = getattr(module, "mlp", None)
    return inner if isinstance(inner, MLP) else None


def trainable_teacher(teacher: TeacherOutputs | None) -> bool:
    """Whether the teacher has an MLP the project trained (which can be fine-tuned)."""
    return teacher_mlp(teacher) is not None


def run_offers(teacher: TeacherOutputs | None, student: str) -> set[str]:
    """The requirements a run with this teacher and student spec meets.

    Raises:
        PipelineError: for a malformed student spec.
    """
    offers = set()
    if trainable_teacher(teacher):
        offers.add("trainable_teacher")
    if len(parse_student_spec(student).layer_widths() or ()) >= 2:
        offers.add("deep_student")
    return offers


def check_requirements(pipeline: Pipeline, teacher: TeacherOutputs | None, student: str) -> None:
    """Refuse a pipeline whose components need what this run lacks.

    Raises:
        PipelineError: naming the component, what it needs and how to offer it.
    """
    from autodistill.registry.access import get_catalog

    catalog = get_catalog()
    offers: set[str] | None = None
    for family in FAMILIES:
        name = pipeline.component(family).name
        requires = catalog.get(family, name).requires
        if not requires:
            continue
        offers = run_offers(teacher, student) if offers is None else offers
        for need in requires:
            if need not in offers:
                raise PipelineError(f"{family} '{name}' needs {REQUIREMENTS.get(need, need)}; "
                                    f"use another {family} or change the run")
