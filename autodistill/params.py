"""Hyperparameter declarations.

A component declares each hyperparameter once, as a class attribute mapping names to
:class:`Float`, :class:`Int` or :class:`Categorical`. That single declaration validates
pipelines, fills in defaults, is printed by ``autodistill plugins`` and builds the Optuna
search space.

Example::

    class MyLoss(KDLoss):
        name = "my_loss"
        params = {"temperature": Float(1.0, 10.0, default=4.0, log=True)}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Param", "Float", "Int", "AutoInt", "Categorical", "ParamDeclarationError", "param_from_dict",
    "resolve_params", "POOL_FACTOR",
]

#: The hyperparameter every row-generating augmentation gains (see
#: :class:`autodistill.components.Augmentation`): 0 augments per batch, f > 0 trains on a
#: pool of f x the training rows. A pipeline's JSON leaves out a 0, so pipelines written
#: before pools existed keep their exact form.
POOL_FACTOR = "pool_factor"


class ParamDeclarationError(ValueError):
    """A parameter declaration that is itself invalid (a plugin author's mistake)."""


class Param:
    """Base of the three declaration kinds."""

    default: Any

    def validate(self, name: str, value: Any) -> Any:
        """Return ``value`` coerced to the declared type, or raise ``ValueError``."""
        raise NotImplementedError

    def check_declaration(self, name: str) -> None:
        """Raise :class:`ParamDeclarationError` when the declaration is inconsistent."""
        raise NotImplementedError

    def suggest(self, trial: Any, name: str) -> Any:
        """Sample a value from an Optuna ``trial`` under the given parameter ``name``."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description of the declaration."""
        raise NotImplementedError


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Float(Param):
    """A real-valued hyperparameter in ``[low, high]``, sampled on a log scale if ``log``."""

    low: float
    high: float
    default: float
    log: bool = False

    def check_declaration(self, name: str) -> None:
        """See :meth:`Param.check_declaration`."""
        if not all(_is_number(v) for v in (self.low, self.high, self.default)):
            raise ParamDeclarationError(f"param '{name}': low, high and default must be numbers")
        if not self.low <= self.high:
            raise ParamDeclarationError(f"param '{name}': low {self.low} > high {self.high}")
        if not self.low <= self.default <= self.high:
            raise ParamDeclarationError(
                f"param '{name}': default {self.default} outside [{self.low}, {self.high}]"
            )
        if self.log and self.low <= 0:
            raise ParamDeclarationError(f"param '{name}': a log-scale range needs low > 0")

    def validate(self, name: str, value: Any) -> float:
        """See :meth:`Param.validate`."""
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError(f"'{name}' must be a number in [{self.low}, {self.high}], got {value!r}")
        if not self.low <= value <= self.high:
            raise ValueError(f"'{name}'={value} is outside [{self.low}, {self.high}]")
        return float(value)

    def suggest(self, trial: Any, name: str) -> float:
        """See :meth:`Param.suggest`."""
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def to_dict(self) -> dict[str, Any]:
        """See :meth:`Param.to_dict`."""
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log,
                "default": self.default}


@dataclass(frozen=True)
class Int(Param):
    """An integer hyperparameter in ``[low, high]``, sampled on a log scale if ``log``."""

    low: int
    high: int
    default: int
    log: bool = False

    def check_declaration(self, name: str) -> None:
        """See :meth:`Param.check_declaration`."""
        if not all(isinstance(v, int) and not isinstance(v, bool)
                   for v in (self.low, self.high, self.default)):
            raise ParamDeclarationError(f"param '{name}': low, high and default must be integers")
        if not self.low <= self.default <= self.high:
            raise ParamDeclarationError(
                f"param '{name}': default {self.default} outside [{self.low}, {self.high}]"
            )
        if self.log and self.low <= 0:
            raise ParamDeclarationError(f"param '{name}': a log-scale range needs low > 0")

    def validate(self, name: str, value: Any) -> int:
        """See :meth:`Param.validate`."""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"'{name}' must be an integer in [{self.low}, {self.high}], got {value!r}")
        if not self.low <= value <= self.high:
            raise ValueError(f"'{name}'={value} is outside [{self.low}, {self.high}]")
        return value

    def suggest(self, trial: Any, name: str) -> int:
        """See :meth:`Param.suggest`."""
        return trial.suggest_int(name, self.low, self.high, log=self.log)

    def to_dict(self) -> dict[str, Any]:
        """See :meth:`Param.to_dict`."""
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log,
                "default": self.default}


@dataclass(frozen=True)
class AutoInt(Int):
    """An :class:`Int` that may also be ``"auto"``: the value is left to the data (the
    training recipe's epochs and patience). A search samples numbers from its range;
    ``default`` is the number a search space starts from."""

    def validate(self, name: str, value: Any) -> int | str:
        """See :meth:`Param.validate`; ``"auto"`` is accepted as it is."""
        if value == "auto":
            return "auto"
        if not _is_number(value):
            raise ValueError(f"'{name}' must be \"auto\" or an integer in "
                             f"[{self.low}, {self.high}], got {value!r}")
        return super().validate(name, value)

    def to_dict(self) -> dict[str, Any]:
        """See :meth:`Param.to_dict`."""
        return {**super().to_dict(), "auto": True}


@dataclass(frozen=True)
class Categorical(Param):
    """A hyperparameter taking one of a fixed list of ``choices`` (str, int, float or bool)."""

    choices: tuple[Any, ...] = field(default=())
    default: Any = None

    def __init__(self, choices: Any, default: Any) -> None:
        object.__setattr__(self, "choices", tuple(choices))
        object.__setattr__(self, "default", default)

    def check_declaration(self, name: str) -> None:
        """See :meth:`Param.check_declaration`."""
        if not self.choices:
            raise ParamDeclarationError(f"param '{name}': needs at least one choice")
        if self.default not in self.choices:
            raise ParamDeclarationError(
                f"param '{name}': default {self.default!r} is not one of {list(self.choices)}"
            )

    def validate(self, name: str, value: Any) -> Any:
        """See :meth:`Param.validate`."""
        for choice in self.choices:
            if value == choice and type(value) is type(choice) or (
                _is_number(value) and _is_number(choice) and value == choice
            ):
                return choice
        raise ValueError(f"'{name}' must be one of {list(self.choices)}, got {value!r}")

    def suggest(self, trial: Any, name: str) -> Any:
        """See :meth:`Param.suggest`."""
        return trial.suggest_categorical(name, list(self.choices))

    def to_dict(self) -> dict[str, Any]:
        """See :meth:`Param.to_dict`."""
        return {"type": "categorical", "choices": list(self.choices), "default": self.default}


def param_from_dict(doc: dict[str, Any]) -> Param:
    """The declaration that :meth:`Param.to_dict` described (the inverse of ``to_dict``).

    Raises:
        ValueError: on a document that no declaration kind wrote.
    """
    kind = doc.get("type")
    if kind == "float":
        return Float(doc["low"], doc["high"], doc["default"], bool(doc.get("log", False)))
    if kind == "int":
        cls = AutoInt if doc.get("auto") else Int
        return cls(doc["low"], doc["high"], doc["default"], bool(doc.get("log", False)))
    if kind == "categorical":
        return Categorical(doc["choices"], doc["default"])
    raise ValueError(f"not a param declaration: {doc!r}")


def resolve_params(declared: dict[str, Param], given: dict[str, Any]) -> dict[str, Any]:
    """Validate ``given`` against ``declared`` and fill in defaults.

    Raises:
        ValueError: on an unknown name or a value of the wrong type or out of range;
            the message names the parameter and the accepted values.
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise ValueError(f"unknown param(s) {', '.join(unknown)} (declared: {known})")
    resolved = {}
    for pname, decl in declared.items():
        resolved[pname] = decl.validate(pname, given[pname]) if pname in given else decl.default
    return resolved
