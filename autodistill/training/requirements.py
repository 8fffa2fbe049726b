"""What a run offers its components, and the refusal of a component it cannot serve.

A component may declare ``requires`` (see :class:`autodistill.components.Component`):

* ``"trainable_teacher"``: the teacher is a module the project trained (``auto``,
  ``auto+mcmi``), so a copy of it can be fine-tuned with the student (the ``mutual`` KD
  loss). A TorchScript teacher the user brings stays frozen.
* ``"deep_student"``: the student has two or more hidden layers (``mlp:64,32``), so an MI
  objective can map several of its layers (``layer_map``).

A search space drops a component whose requirements the run lacks
(:meth:`autodistill.study.space.Space.for_run`); a pipeline naming one is refused here
with the reason, before training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from autodistill.errors import PipelineError
from autodistill.families import FAMILIES
from autodistill.training.students import MLP, parse_student_spec

if TYPE_CHECKING:
    from autodistill.training.pipeline import Pipeline
    from autodistill.training.teachers import TeacherOutputs

__all__ = ["REQUIREMENTS", "trainable_teacher", "run_offers", "check_requirements"]

#: Requirement -> what offers it (for messages).
REQUIREMENTS: dict[str, str] = {
    "trainable_teacher": "a teacher the project trains (--teacher auto); a TorchScript "
                         "teacher stays frozen",
    "deep_student": "a student with two or more hidden layers (e.g. --student mlp:64,32)",
}


def trainable_teacher(teacher: TeacherOutputs | None) -> nn.Module | None:
    """The teacher's module when the project trained it (an :class:`MLP`), else ``None``
    (no teacher, or a loaded TorchScript module, which is no :class:`MLP` and stays
    frozen)."""
    module = teacher.module if teacher is not None else None
    return module if isinstance(module, MLP) else None


def run_offers(teacher: TeacherOutputs | None, student: str) -> set[str]:
    """The requirements a run with this teacher and student spec meets.

    Raises:
        PipelineError: for a malformed student spec.
    """
    offers = set()
    if trainable_teacher(teacher) is not None:
        offers.add("trainable_teacher")
    if len(parse_student_spec(student)) >= 2:
        offers.add("deep_student")
    return offers


def check_requirements(pipeline: Pipeline, teacher: TeacherOutputs | None, student: str) -> None:
    """Refuse a pipeline whose components need what this run lacks.

    Raises:
        PipelineError: naming the component, what it needs and how to offer it.
    """
    from autodistill.registry.lookup import get_catalog

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
