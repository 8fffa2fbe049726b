"""Search spaces from YAML: the shipped ones (``search_spaces/*.yaml``) and the user's.

The schema is documented at the top of ``search_spaces/default.yaml``; what a space is
and how it is sampled is :mod:`autodistill.study.space`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from autodistill.errors import SpaceError
from autodistill.families import FAMILIES
from autodistill.params import AutoInt, Categorical, Float, Int, Param
from autodistill.study.space import (
    _FAMILY_KEYS,
    _TOP_KEYS,
    SEARCHED_TRAINING,
    Choice,
    FamilySpace,
    Fixed,
    Space,
)
from autodistill.training.pipeline import TRAINING_PARAMS

__all__ = ["load_space", "shipped_spaces", "build_space"]


def shipped_spaces() -> list[str]:
    """Names of the spaces shipped in ``search_spaces/``."""
    folder = resources.files("autodistill.search_spaces")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_space(name_or_path: str | Path = "default", *, has_hidden: bool = True,
               labels_new_rows: bool = True,
               offers: Collection[str] | None = None) -> Space:
    """Load a shipped space by name (``default``, ``fast``) or a YAML file by path.

    Args:
        name_or_path: A shipped name or a path to a ``.yaml`` file.
        has_hidden: Whether the teacher exposes hidden features (see
            :meth:`Space.for_teacher`).
        labels_new_rows: Whether the teacher can label augmented rows (likewise).
        offers: What the run offers (see :meth:`Space.for_run`); ``None``: everything.

    Raises:
        SpaceError: for an unknown name, an unreadable file, an unknown key, an unknown
            component or a range outside the declared one; the message names the file
            and the key.
    """
    import yaml

    value = str(name_or_path)
    path = Path(value).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise SpaceError(f"--space '{value}': no such file")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SpaceError(f"--space '{value}': cannot read it ({exc})") from None
        name, source = value, value
        digest: str | None = hashlib.sha256(text.encode()).hexdigest()[:16]
    else:
        resource = resources.files("autodistill.search_spaces").joinpath(f"{value}.yaml")
        if not resource.is_file():
            raise SpaceError(f"--space '{value}': no such space; shipped: "
                             f"{', '.join(shipped_spaces())}, or pass a YAML file")
        text, name, source = resource.read_text(), value, f"search_spaces/{value}.yaml"
        digest = None
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpaceError(f"{source}: not valid YAML{where}") from None
    space = build_space(doc, name=name, source=source).for_teacher(has_hidden, labels_new_rows)
    return replace(space.for_run(offers), file_digest=digest)


def build_space(doc: Any, *, name: str = "custom", source: str = "space") -> Space:
    """Build a :class:`Space` from a parsed YAML document (see ``default.yaml``).

    Raises:
        SpaceError: naming ``source`` and the offending key.
    """
    from autodistill.registry.access import get_catalog

    if not isinstance(doc, dict):
        raise SpaceError(f"{source}: a space must be a mapping of families and 'training'")
    _unknown(doc, _TOP_KEYS, source, "")
    registry = get_catalog()
    families = {}
    for family in FAMILIES:
        section = doc.get(family) or {}
        if not isinstance(section, dict):
            raise SpaceError(f"{source}: '{family}' must be a mapping with {', '.join(_FAMILY_KEYS)}")
        _unknown(section, _FAMILY_KEYS, source, f"{family}.")
        installed = registry.names(family)
        wanted = section.get("components", "all")
        if wanted in (None, "all"):
            components = list(installed)
        else:
            components = _names(wanted, installed, source, f"{family}.components")
        excluded = _names(section.get("exclude") or [], installed, source, f"{family}.exclude")
        components = [c for c in components if c not in excluded]
        if not components:
            raise SpaceError(f"{source}: '{family}' allows no component; keep at least one")
        overrides = section.get("params") or {}
        if not isinstance(overrides, dict):
            raise SpaceError(f"{source}: '{family}.params' must map component names to params")
        _names(list(overrides), installed, source, f"{family}.params")
        params: dict[str, dict[str, Choice]] = {}
        for comp in components:
            declared = registry.get(family, comp).params
            params[comp] = dict(declared)
        for comp, given in overrides.items():
            prefix = f"{family}.params.{comp}"
            resolved = _apply(registry.get(family, comp).params, given, source, prefix)
            if comp in params:
                params[comp] = resolved
        families[family] = FamilySpace(family, tuple(components), params)
    training_doc = doc.get("training") or {}
    base = {p: TRAINING_PARAMS[p] for p in SEARCHED_TRAINING}
    training = {**base, **_apply(TRAINING_PARAMS, training_doc, source, "training", base=base)}
    return Space(name=name, source=source, families=families, training=training)


def _unknown(section: dict, known: tuple[str, ...], source: str, prefix: str) -> None:
    for key in section:
        if key not in known:
            raise SpaceError(f"{source}: unknown key '{prefix}{key}'; expected one of "
                             f"{', '.join(known)}")


def _names(value: Any, installed: list[str], source: str, key: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpaceError(f"{source}: '{key}' must be 'all' or a list of component names")
    for name in value:
        if name not in installed:
            raise SpaceError(f"{source}: '{key}' names '{name}', which is not installed; "
                             f"installed: {', '.join(installed)}")
    return list(value)


def _apply(declared: dict[str, Param], given: Any, source: str, prefix: str,
           base: dict[str, Param] | None = None) -> dict[str, Choice]:
    """Declared params of one component (or training) with the YAML overrides applied."""
    if not isinstance(given, dict):
        raise SpaceError(f"{source}: '{prefix}' must map param names to overrides")
    result: dict[str, Choice] = dict(declared if base is None else base)
    for pname, override in given.items():
        key = f"{prefix}.{pname}"
        if pname not in declared:
            raise SpaceError(f"{source}: unknown key '{key}'; declared params: "
                             f"{', '.join(sorted(declared)) or 'none'}")
        result[pname] = _override(declared[pname], override, source, key)
    return result


def _number(value: Any, source: str, key: str) -> float:
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise SpaceError(f"{source}: '{key}' must be a number, got {value!r}")
    return value


def _override(decl: Param, override: Any, source: str, key: str) -> Choice:
    if not isinstance(override, dict):
        override = {"value": override}
    allowed = ("choices", "value") if isinstance(decl, Categorical) else ("low", "high", "log", "value")
    _unknown(override, allowed, source, f"{key}.")
    if "value" in override:
        if len(override) > 1:
            raise SpaceError(f"{source}: '{key}' has 'value' and other keys; a fixed value "
                             "takes no range")
        value = override["value"]
        if isinstance(decl, (Float, Int)) and isinstance(value, str) and \
                not (isinstance(decl, AutoInt) and value == "auto"):
            value = _number(value, source, f"{key}.value")
        try:
            return Fixed(decl.validate(key, value))
        except ValueError as exc:
            raise SpaceError(f"{source}: {exc}") from None
    if isinstance(decl, Categorical):
        choices = override.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{source}: '{key}.choices' must be a non-empty list")
        try:
            kept = [decl.validate(key, c) for c in choices]
        except ValueError as exc:
            raise SpaceError(f"{source}: '{key}.choices': {exc}") from None
        default = decl.default if decl.default in kept else kept[0]
        return Categorical(kept, default=default)
    low = _number(override.get("low", decl.low), source, f"{key}.low")
    high = _number(override.get("high", decl.high), source, f"{key}.high")
    log_scale = override.get("log", decl.log)
    if not isinstance(log_scale, bool):
        raise SpaceError(f"{source}: '{key}.log' must be true or false")
    if isinstance(decl, Int):
        if low != int(low) or high != int(high):
            raise SpaceError(f"{source}: '{key}' is an integer param; low and high must be integers")
        low, high = int(low), int(high)
    if not decl.low <= low <= high <= decl.high:
        raise SpaceError(f"{source}: '{key}' range [{low}, {high}] must lie within the declared "
                         f"[{decl.low}, {decl.high}] with low <= high")
    if log_scale and low <= 0:
        raise SpaceError(f"{source}: '{key}' is on a log scale, so low must be > 0")
    default = min(max(decl.default, low), high)
    return type(decl)(low, high, default=default, log=log_scale)
