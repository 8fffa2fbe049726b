"""Students: what ``--student FAMILY:ARGS`` builds, through the registered families.

The deployment budget is the user's choice (``--student mlp:16``, ``mlp:64,32``, or a
family a plugin registers with ``register_students``); the search tunes *how to train* a
student, never its size. Every student the project builds goes through here: the engine
and its populations, the ``auto`` teacher (a wide ``mlp``), the meta-features (the
parameter count) and the checks before training. ``forward`` returns
``(logits, hidden)`` so that MI objectives can read the hidden features.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autodistill.errors import AutodistillError, ComponentError, PipelineError
from autodistill.students import MLP

if TYPE_CHECKING:
    from torch import nn

    from autodistill.students import StudentFamily

__all__ = ["MLP", "parse_student_spec", "build_student", "build_module", "count_params",
           "STUDENT_FORMAT", "student_params", "check_student_fits", "student_formats"]

#: The built-in family's format (the formats of every installed one: :func:`student_formats`).
STUDENT_FORMAT = "mlp:WIDTH[,WIDTH...] (e.g. mlp:16 or mlp:64,32)"
#: float32 weights, their gradients, Adam's two moments and the best-epoch copy.
_BYTES_PER_PARAM = 4 * 5
#: Attributes every student module exposes (plain ints).
_MODULE_ATTRIBUTES = ("hidden_dim", "n_features", "n_classes")


def _registry():
    from autodistill.registry.manager import get_registry

    return get_registry()


def student_formats() -> str:
    """The spec format of every installed student family, ``; ``-separated."""
    students = _registry().students
    return "; ".join(students[name].cls.format or f"{name}:..." for name in sorted(students))


def parse_student_spec(spec: str) -> StudentFamily:
    """The student family instance ``spec`` names, its arguments parsed: ``mlp:64,32`` is
    the ``mlp`` family with ``widths == (64, 32)``. The family name is case-insensitive.

    Raises:
        PipelineError: for a spec without ``FAMILY:``, an unknown family (listing the
            installed ones) or arguments the family rejects (naming its format).
    """
    text = str(spec).strip()
    name, sep, args = text.partition(":")
    students = _registry().students
    if not sep and name.strip().lower() not in students:
        raise PipelineError(f"--student '{spec}': expected FAMILY:ARGS, one of: "
                            f"{student_formats()}")
    info = students.get(name.strip().lower())
    if info is None:
        raise PipelineError(f"--student '{spec}': unknown student family '{name.strip()}'; "
                            f"installed: {student_formats()} (see `autodistill plugins`)")
    try:
        return info.cls(args.strip())
    except Exception as exc:  # noqa: BLE001 - a family's parser may raise anything
        reason = f" ({exc})" if str(exc) else ""
        raise PipelineError(f"--student '{spec}': expected {info.cls.format}{reason}") from None


def _guarded_build(family: StudentFamily, spec: str, n_features: int, n_classes: int) -> nn.Module:
    from torch import nn

    try:
        module = family.build(int(n_features), int(n_classes))
    except AutodistillError:
        raise
    except Exception as exc:
        raise ComponentError("student", family.name,
                             f"building '{spec}': {type(exc).__name__}: {exc}") from exc
    if not isinstance(module, nn.Module):
        raise ComponentError("student", family.name, f"build() returned "
                             f"{type(module).__name__}, not a torch.nn.Module")
    missing = [a for a in _MODULE_ATTRIBUTES if not isinstance(getattr(module, a, None), int)]
    if missing:
        raise ComponentError("student", family.name,
                             f"its module lacks the int attribute(s) {', '.join(missing)}")
    return module


def student_params(spec: str, n_features: int, n_classes: int) -> int:
    """Parameters of the student ``spec`` for this input and class count (without building
    it when its family counts them cheaply)."""
    family = parse_student_spec(spec)
    counted = family.count_params(int(n_features), int(n_classes))
    if counted is not None:
        return int(counted)
    import torch

    with torch.random.fork_rng(devices=[]):  # counting must not move the caller's generator
        return count_params(_guarded_build(family, spec, n_features, n_classes))


def check_student_fits(spec: str, n_features: int, n_classes: int) -> None:
    """Refuse a student whose training would not fit in the available memory.

    Raises:
        PipelineError: naming the parameter count and the bytes it needs.
    """
    from autodistill._resources import check_fits

    params = student_params(spec, n_features, n_classes)
    check_fits(params * _BYTES_PER_PARAM,
               f"--student '{spec}' ({params:,} parameters for {n_features} features)",
               "use a smaller student", PipelineError)


def build_module(spec: str, n_features: int, n_classes: int) -> nn.Module:
    """The module of ``spec`` built by its family, without the memory check (the ``auto``
    teacher's wide MLP goes through here).

    Raises:
        PipelineError: for a malformed spec.
        ComponentError: the family's ``build`` raised or broke the module contract.
    """
    return _guarded_build(parse_student_spec(spec), spec, n_features, n_classes)


def build_student(spec: str, n_features: int, n_classes: int) -> nn.Module:
    """Build the (untrained) student described by ``spec`` for this input and class count.

    Raises:
        PipelineError: for a malformed spec (see :func:`parse_student_spec`) or a student
            too large for the available memory.
        ComponentError: the family's ``build`` raised or broke the module contract.
    """
    check_student_fits(spec, n_features, n_classes)
    return build_module(spec, n_features, n_classes)


def count_params(module: nn.Module | None) -> int:
    """Number of parameters of ``module`` (0 for ``None``)."""
    if module is None:
        return 0
    return int(sum(p.numel() for p in module.parameters()))
