"""Search spaces: the components' declared params, restricted by a YAML file.

A space starts from the registry: every registered component of every family with its
declared params, plus the training settings. A YAML space (``search_spaces/*.yaml``, the
schema is documented at the top of ``default.yaml``) may restrict the components of a
family, narrow a param's range, fix its value or keep a subset of its choices. A family
that names no components keeps all registered ones, so a plugin installed later widens
``default`` with no edit.

Optuna param names (what the ``studies`` commands and the recommender read):

* ``kd_loss``, ``mi_objective``, ``augmentation``, ``curriculum``: the component chosen;
* ``<family>.<component>.<param>``: sampled only when that component is chosen;
* ``training.<name>``: epochs, lr, batch_size, weight_decay.

Fixed values are not Optuna params; they are in each trial's ``pipeline`` attribute.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from autodistill.errors import SpaceError
from autodistill.families import FAMILIES
from autodistill.params import Categorical, Float, Int, Param
from autodistill.training.pipeline import TRAINING_PARAMS, Pipeline

__all__ = ["Fixed", "FamilySpace", "Space", "load_space", "shipped_spaces", "SEARCHED_TRAINING"]

log = logging.getLogger(__name__)

#: Training settings searched when a space does not say otherwise.
SEARCHED_TRAINING = ("epochs", "lr", "batch_size", "weight_decay")
_FAMILY_KEYS = ("components", "exclude", "params")
_TOP_KEYS = ("description", *FAMILIES, "training")


@dataclass(frozen=True)
class Fixed:
    """A param held at one value: not searched, but part of every sampled pipeline."""

    value: Any


Choice = Param | Fixed


@dataclass(frozen=True)
class FamilySpace:
    """The components of one family a space allows, with their (narrowed) params."""

    family: str
    components: tuple[str, ...]
    params: dict[str, dict[str, Choice]] = field(default_factory=dict)


@dataclass(frozen=True)
class Space:
    """A conditional search space over pipelines.

    Attributes:
        name: ``default``, ``fast`` or the file's path.
        source: Where it came from, for messages.
        families: Family key -> :class:`FamilySpace`.
        training: Training setting -> declaration (narrowed) or :class:`Fixed`.
    """

    name: str
    source: str
    families: dict[str, FamilySpace]
    training: dict[str, Choice]

    def components(self, family: str) -> list[str]:
        """Names of the components of ``family`` this space allows."""
        return list(self.families[family].components)

    def sample(self, trial: Any) -> Pipeline:
        """Sample one pipeline from an Optuna ``trial`` (component params only when chosen)."""
        doc: dict[str, Any] = {}
        for family, fam in self.families.items():
            name = trial.suggest_categorical(family, list(fam.components))
            params = {
                pname: _draw(choice, trial, f"{family}.{name}.{pname}")
                for pname, choice in fam.params[name].items()
            }
            doc[family] = {"name": name, "params": params}
        doc["training"] = {
            pname: _draw(choice, trial, f"training.{pname}") for pname, choice in self.training.items()
        }
        return Pipeline.from_dict(doc, source=f"space '{self.name}'")

    def params_for(self, pipeline: Pipeline) -> dict[str, Any]:
        """The Optuna params that make :meth:`sample` return (nearly) ``pipeline``.

        Numbers outside a narrowed range are clipped into it; fixed values win over the
        pipeline's. Used to enqueue presets and warm-start pipelines.

        Raises:
            SpaceError: when a component or a categorical value is not in this space.
        """
        params: dict[str, Any] = {}
        for family, fam in self.families.items():
            spec = pipeline.component(family)
            if spec.name not in fam.components:
                raise SpaceError(f"space '{self.name}' has no {family} '{spec.name}' "
                                 f"(it allows {', '.join(fam.components)})")
            params[family] = spec.name
            for pname, choice in fam.params[spec.name].items():
                if not isinstance(choice, Fixed):
                    key = f"{family}.{spec.name}.{pname}"
                    params[key] = _clip(choice, spec.params[pname], key, self.name)
        for pname, choice in self.training.items():
            if not isinstance(choice, Fixed):
                key = f"training.{pname}"
                params[key] = _clip(choice, pipeline.training[pname], key, self.name)
        return params

    def for_teacher(self, has_hidden: bool) -> Space:
        """This space for a teacher with (or without) hidden features.

        Without them, MI objectives that need hidden features drop out.

        Raises:
            SpaceError: when no MI objective would be left.
        """
        if has_hidden:
            return self
        from autodistill.registry.lookup import get_catalog

        catalog = get_catalog()
        fam = self.families["mi_objective"]
        kept = tuple(n for n in fam.components
                     if not catalog.get("mi_objective", n).uses_hidden)
        if not kept:
            raise SpaceError(f"{self.source}: every mi_objective it allows needs the teacher's "
                             "hidden features, and this teacher exposes none; add 'none'")
        families = {**self.families, "mi_objective": replace(fam, components=kept)}
        return replace(self, families=families)

    def for_run(self, offers: Collection[str] | None) -> Space:
        """This space for a run offering ``offers`` (``None``: everything).

        A component whose ``requires`` the run lacks drops out, with a log line saying why
        (e.g. ``mutual`` fine-tunes the teacher, so it drops out for a TorchScript teacher).

        Raises:
            SpaceError: when a family would be left with no component.
        """
        if offers is None:
            return self
        from autodistill.registry.lookup import get_catalog

        catalog, families = get_catalog(), dict(self.families)
        for family, fam in self.families.items():
            kept = []
            for name in fam.components:
                missing = sorted(set(catalog.get(family, name).requires) - set(offers))
                if missing:
                    log.info("%s '%s' drops out of the space: this run offers no %s",
                             family, name, ", ".join(missing))
                else:
                    kept.append(name)
            if not kept:
                raise SpaceError(f"{self.source}: every {family} it allows needs what this run "
                                 "lacks (a trainable teacher or a deeper student); add 'none'")
            families[family] = replace(fam, components=tuple(kept))
        return replace(self, families=families)


def _draw(choice: Choice, trial: Any, name: str) -> Any:
    return choice.value if isinstance(choice, Fixed) else choice.suggest(trial, name)


def _clip(decl: Param, value: Any, key: str, space: str) -> Any:
    if isinstance(decl, Categorical):
        if value not in decl.choices:
            raise SpaceError(f"space '{space}': {key}={value!r} is not one of {list(decl.choices)}")
        return value
    low, high = decl.low, decl.high
    clipped = min(max(value, low), high)
    return int(round(clipped)) if isinstance(decl, Int) else float(clipped)


# --------------------------------------------------------------------------- loading


def shipped_spaces() -> list[str]:
    """Names of the spaces shipped in ``search_spaces/``."""
    folder = resources.files("autodistill.search_spaces")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_space(name_or_path: str | Path = "default", *, has_hidden: bool = True,
               offers: Collection[str] | None = None) -> Space:
    """Load a shipped space by name (``default``, ``fast``) or a YAML file by path.

    Args:
        name_or_path: A shipped name or a path to a ``.yaml`` file.
        has_hidden: Whether the teacher exposes hidden features (see
            :meth:`Space.for_teacher`).
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
    else:
        resource = resources.files("autodistill.search_spaces").joinpath(f"{value}.yaml")
        if not resource.is_file():
            raise SpaceError(f"--space '{value}': no such space; shipped: "
                             f"{', '.join(shipped_spaces())}, or pass a YAML file")
        text, name, source = resource.read_text(), value, f"search_spaces/{value}.yaml"
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpaceError(f"{source}: not valid YAML{where}") from None
    return build_space(doc, name=name, source=source).for_teacher(has_hidden).for_run(offers)


def build_space(doc: Any, *, name: str = "custom", source: str = "space") -> Space:
    """Build a :class:`Space` from a parsed YAML document (see ``default.yaml``).

    Raises:
        SpaceError: naming ``source`` and the offending key.
    """
    from autodistill.registry.lookup import get_catalog

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
        if isinstance(decl, (Float, Int)) and isinstance(value, str):
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
