"""Pipelines: four components plus training settings, to and from JSON.

The JSON document is what ``recommend`` emits, what ``distill`` accepts and
what every trial stores::

    {"kd_loss": {"name": "hinton", "params": {"temperature": 4.0, "alpha": 0.9}},
     "mi_objective": {"name": "none", "params": {}},
     "augmentation": {"name": "none", "params": {}},
     "curriculum": {"name": "none", "params": {}},
     "training": {"steps": 4000, "lr": 0.01, "batch_size": "auto", "epochs": "auto", ...}}

``training`` is the recipe of :mod:`autodistill.training.recipe` unless it says otherwise:
``"auto"`` settings are resolved from the number of training rows
(:meth:`Pipeline.for_rows`), and a document written before the recipe (``epochs`` a
number, no ``steps`` or ``schedule``) keeps its old meaning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from autodistill.errors import PipelineError
from autodistill.families import FAMILIES
from autodistill.params import POOL_FACTOR, AutoInt, Categorical, Float, Int, resolve_params
from autodistill.training.recipe import (
    AUTO,
    AUTO_SETTINGS,
    LEGACY_TRAINING,
    SCHEDULES,
    is_legacy,
    resolve_training,
)

__all__ = [
    "ComponentSpec",
    "NO_TEACHER",
    "Pipeline",
    "is_no_teacher",
    "PRESETS",
    "TRAINING_PARAMS",
    "load_pipeline",
]

#: The teacher spec of a run that trains no teacher: a ``plain_tuned`` study (``--space
#: plain``), or ``distill`` with a pipeline that uses none.
NO_TEACHER = "none"


def is_no_teacher(teacher: str) -> bool:
    """Whether a teacher spec asks for no teacher: ``none`` in any case, as ``auto`` and
    ``gbdt`` are read in any case."""
    return teacher.strip().lower() == NO_TEACHER


#: Declarations of the training settings: validation here, search space in ``space.py``.
#: The defaults are the training recipe (see :mod:`autodistill.training.recipe`): a
#: document leaves ``epochs``, ``batch_size`` and ``patience`` to the data (``"auto"``;
#: the numbers declared for them are where a search space starts).
TRAINING_PARAMS = {
    "epochs": AutoInt(5, 1000, default=60),
    "steps": Int(100, 20000, default=4000, log=True),
    "lr": Float(1e-4, 0.1, default=0.01, log=True),
    "schedule": Categorical(SCHEDULES, default="constant"),
    "final_lr_fraction": Float(0.0, 1.0, default=0.01),
    "batch_size": Categorical([AUTO, 16, 32, 64, 128, 256, 512], default=AUTO),
    "weight_decay": Float(0.0, 0.01, default=1e-4),
    "patience": AutoInt(3, 1000, default=10),
}


@dataclass(frozen=True)
class ComponentSpec:
    """One component of a pipeline: its registered name and its params."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "params": {...}}``; an augmentation's ``pool_factor`` of 0 (its
        per-batch default) is left out, so a pipeline keeps the form it had before pools."""
        return {"name": self.name, "params": {k: v for k, v in self.params.items()
                                              if not (k == POOL_FACTOR and v == 0)}}


@dataclass(frozen=True)
class Pipeline:
    """How to train one student from one teacher: four components and training settings.

    Build it with :meth:`from_dict` (or :func:`load_pipeline`), which validates every
    name and param against the registry and fills in defaults once, at the boundary.
    """

    kd_loss: ComponentSpec
    mi_objective: ComponentSpec
    augmentation: ComponentSpec
    curriculum: ComponentSpec
    training: dict[str, Any]

    def component(self, family: str) -> ComponentSpec:
        """The spec of ``family`` (``"kd_loss"``, ``"mi_objective"``, ...)."""
        return getattr(self, family)

    @property
    def uses_teacher(self) -> bool:
        """Whether training this pipeline needs the teacher at all."""
        from autodistill.registry.access import get_catalog

        kd = get_catalog().get("kd_loss", self.kd_loss.name)
        return bool(
            kd.uses_teacher
            or self.mi_objective.name != "none"
            or self.augmentation.name != "none"
            or self.curriculum.name != "none"
        )

    @property
    def uses_hidden(self) -> bool:
        """Whether the pipeline needs the teacher's hidden features."""
        from autodistill.registry.access import get_catalog

        return bool(get_catalog().get("mi_objective", self.mi_objective.name).uses_hidden)

    def for_rows(self, n_train: int) -> Pipeline:
        """This pipeline with its ``"auto"`` training settings resolved for ``n_train``
        training rows: the document that states what a run on that data uses."""
        return replace(self, training=resolve_training(self.training, n_train))

    def to_dict(self) -> dict[str, Any]:
        """The pipeline JSON document (what ``recommend`` emits and ``distill`` accepts)."""
        doc: dict[str, Any] = {family: self.component(family).to_dict() for family in FAMILIES}
        doc["training"] = dict(self.training)
        return doc

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as a JSON string (keys sorted, so equal pipelines compare equal)."""
        return json.dumps(self.to_dict(), sort_keys=True, **kwargs)

    @classmethod
    def from_dict(cls, doc: Any, source: str = "pipeline") -> Pipeline:
        """Validate a pipeline document against the registry and fill in defaults.

        Missing families default to ``none``; missing params and training settings to
        their declared defaults.

        Raises:
            PipelineError: naming ``source``, the family, component or param, and what
                is accepted.
        """
        from autodistill.registry.access import get_catalog

        if not isinstance(doc, dict):
            raise PipelineError(f"{source}: a pipeline must be a JSON object, got {type(doc).__name__}")
        unknown = sorted(set(doc) - set(FAMILIES) - {"training"})
        if unknown:
            raise PipelineError(
                f"{source}: unknown key(s) {', '.join(unknown)}; expected "
                f"{', '.join([*FAMILIES, 'training'])}"
            )
        registry = get_catalog()
        specs = {}
        for family in FAMILIES:
            raw = doc.get(family, {"name": "none"})
            if isinstance(raw, str):
                raw = {"name": raw}
            if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
                raise PipelineError(f'{source}: {family} must look like {{"name": ..., "params": {{...}}}}')
            extra = sorted(set(raw) - {"name", "params"})
            if extra:
                raise PipelineError(f"{source}: {family} has unknown key(s) {', '.join(extra)}")
            info = registry.get(family, raw["name"])
            given = raw.get("params") or {}
            if not isinstance(given, dict):
                raise PipelineError(f"{source}: {family}.params must be an object")
            try:
                params = resolve_params(info.params, given)
            except ValueError as exc:
                raise PipelineError(f"{source}: {family} '{info.name}': {exc}") from None
            specs[family] = ComponentSpec(info.name, params)
        training_raw = doc.get("training") or {}
        if not isinstance(training_raw, dict):
            raise PipelineError(f"{source}: training must be an object")
        # A pre-recipe document means what it meant: its unstated settings take the old
        # defaults; otherwise the settings the data decides are "auto".
        defaults = LEGACY_TRAINING if is_legacy(training_raw) else dict.fromkeys(AUTO_SETTINGS, AUTO)
        try:
            training = resolve_params(TRAINING_PARAMS, {**defaults, **training_raw})
        except ValueError as exc:
            raise PipelineError(f"{source}: training: {exc}") from None
        return cls(training=training, **specs)

    @classmethod
    def from_json(cls, text: str, source: str = "pipeline") -> Pipeline:
        """Parse a JSON string, then :meth:`from_dict`."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PipelineError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(doc, source=source)


#: Named pipelines: ``plain`` (labels only, no teacher: the baseline every result is
#: compared with) and ``hinton`` (KL at T=4, alpha=0.9, nothing else).
PRESETS: dict[str, dict[str, Any]] = {
    "plain": {"kd_loss": {"name": "none", "params": {}}},
    "hinton": {"kd_loss": {"name": "hinton", "params": {"temperature": 4.0, "alpha": 0.9}}},
}


def load_pipeline(value: str) -> Pipeline:
    """Load a pipeline from a preset name, a JSON string or a path to a JSON file.

    Raises:
        PipelineError: when ``value`` is none of those, or the document is invalid.
    """
    text = value.strip()
    if text in PRESETS:
        return Pipeline.from_dict(PRESETS[text], source=f"preset '{text}'")
    if text.startswith("{"):
        return Pipeline.from_json(text, source="--pipeline JSON")
    path = Path(value)
    if path.is_file():
        try:
            content = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise PipelineError(f"{path}: cannot read pipeline file ({exc})") from None
        return Pipeline.from_json(content, source=str(path))
    raise PipelineError(
        f"--pipeline '{value}' is not a preset ({', '.join(PRESETS)}), a JSON object or an "
        "existing JSON file"
    )
