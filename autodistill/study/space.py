"""Search spaces: the components' declared params, restricted by a YAML file.

A space starts from the registry: every registered component of every family with its
declared params, plus the training settings. A YAML space (read by
:mod:`autodistill.study.space_files`) may restrict the components of a
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
from typing import Any

from autodistill.errors import SpaceError
from autodistill.families import FAMILIES
from autodistill.params import Categorical, Int, Param
from autodistill.training.pipeline import Pipeline

__all__ = ["Fixed", "FamilySpace", "Space", "SEARCHED_TRAINING"]

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
        file_digest: For a space read from a file, a digest of its text (what a study
            knows its space file by, whatever the path it is given by); None otherwise.
    """

    name: str
    source: str
    families: dict[str, FamilySpace]
    training: dict[str, Choice]
    file_digest: str | None = None

    @property
    def is_fixed(self) -> bool:
        """Whether the space holds one pipeline only: every family one component, and
        nothing left to search in its params or in the training settings."""
        searched = [choice for fam in self.families.values() for comp in fam.components
                    for choice in fam.params[comp].values()] + list(self.training.values())
        return (all(len(fam.components) == 1 for fam in self.families.values())
                and not any(isinstance(choice, Param) for choice in searched))

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
        pipeline's; an ``"auto"`` setting (the training recipe's) that the space cannot
        hold takes the space's starting value. Used to enqueue presets and warm-start
        pipelines.

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

    @property
    def uses_teacher(self) -> bool:
        """Whether any pipeline of this space needs a teacher (see ``Pipeline.uses_teacher``).

        A space that holds every family at ``none`` but a KD loss that ignores the teacher
        (``plain.yaml``) needs none: its study trains no teacher.
        """
        from autodistill.registry.access import get_catalog

        catalog = get_catalog()
        kd = self.families["kd_loss"].components
        if any(catalog.get("kd_loss", name).uses_teacher for name in kd):
            return True
        return any(name != "none" for family, fam in self.families.items()
                   if family != "kd_loss" for name in fam.components)

    def for_teacher(self, has_hidden: bool, labels_new_rows: bool = True) -> Space:
        """This space for a teacher with (or without) hidden features.

        Without them, MI objectives that need hidden features drop out; for a teacher that
        cannot label new rows (``sklearn:``, ``onnx:``, ``outputs:`` and raw-input
        teachers see the user's columns, augmented rows exist only in the encoding),
        augmentations drop out.

        Raises:
            SpaceError: when no MI objective (or no augmentation) would be left.
        """
        space = self
        if not labels_new_rows:
            fam = self.families["augmentation"]
            if "none" not in fam.components:
                raise SpaceError(f"{self.source}: every augmentation it allows needs a teacher "
                                 "that labels new rows, and this teacher cannot; add 'none'")
            space = replace(self, families={**self.families,
                                            "augmentation": replace(fam, components=("none",))})
        if has_hidden:
            return space
        from autodistill.registry.access import get_catalog

        catalog = get_catalog()
        fam = space.families["mi_objective"]
        kept = tuple(n for n in fam.components
                     if not catalog.get("mi_objective", n).uses_hidden)
        if not kept:
            raise SpaceError(f"{self.source}: every mi_objective it allows needs the teacher's "
                             "hidden features, and this teacher exposes none; add 'none'")
        families = {**space.families, "mi_objective": replace(fam, components=kept)}
        return replace(space, families=families)

    def for_run(self, offers: Collection[str] | None) -> Space:
        """This space for a run offering ``offers`` (``None``: everything).

        A component whose ``requires`` the run lacks drops out, with a log line saying why
        (e.g. ``mutual`` fine-tunes the teacher, so it drops out for a TorchScript teacher).

        Raises:
            SpaceError: when a family would be left with no component.
        """
        if offers is None:
            return self
        from autodistill.registry.access import get_catalog

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
    if value == "auto" and not (isinstance(decl, Categorical) and value in decl.choices):
        # A setting the recipe leaves to the data, in a space that searches numbers
        # (``default``, ``fast``): the space's own starting value stands in for it.
        return decl.default
    if isinstance(decl, Categorical):
        if value not in decl.choices:
            raise SpaceError(f"space '{space}': {key}={value!r} is not one of {list(decl.choices)}")
        return value
    low, high = decl.low, decl.high
    clipped = min(max(value, low), high)
    return int(round(clipped)) if isinstance(decl, Int) else float(clipped)


# --------------------------------------------------------------------------- loading
