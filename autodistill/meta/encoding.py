"""The pipeline encoding: a pipeline document as the fixed-length vector the meta-model reads.

One-hot over each family's component names, each declared hyperparameter scaled to
[0, 1] within its declared range, and the training settings (with the recipe's when a
knowledge base states them). Kept apart from :mod:`autodistill.meta.model` because the
encoding's columns are a contract of their own: a fitted model is keyed by them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from autodistill.families import FAMILIES
from autodistill.params import Categorical, Float, Int
from autodistill.training.pipeline import TRAINING_PARAMS
from autodistill.training.recipe import AUTO, AUTO_SETTINGS, SCHEDULES, is_legacy, resolve_training

__all__ = ["ENCODED_TRAINING", "RECIPE_TRAINING", "PipelineEncoder"]


#: The training settings the pipeline encoding always holds: those every shipped (suite 1)
#: trial states.
ENCODED_TRAINING = ("epochs", "lr", "batch_size", "weight_decay", "patience")
#: The training recipe's settings, encoded when a training pipeline states one of them (a
#: knowledge base or a study trained with the recipe); a knowledge base without them is
#: encoded exactly as before the recipe (the same columns, so the same fitted model).
RECIPE_TRAINING = ("steps", "schedule", "final_lr_fraction")


def _scaled(decl: Any, value: Any) -> float:
    """A declared numeric param mapped to [0, 1] within its range (log when declared)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return -1.0
    if decl.log and decl.low > 0 and value > 0:
        lo, hi, value = math.log(decl.low), math.log(decl.high), math.log(value)
    else:
        lo, hi = decl.low, decl.high
    return 0.0 if hi == lo else min(max((value - lo) / (hi - lo), 0.0), 1.0)


class PipelineEncoder:
    """Encodes pipeline documents as fixed-length vectors.

    One-hot over the component names of each family (those seen in training plus every
    registered one), each declared numeric param scaled to [0, 1] (-1 when its component
    is not chosen), each categorical param one-hot, and the training settings.
    """

    def __init__(self, pipelines: Iterable[dict[str, Any]]) -> None:
        from autodistill.registry.access import get_catalog

        registry = get_catalog()
        names = {family: set(registry.names(family)) for family in FAMILIES}
        seen = list(pipelines)
        for doc in seen:
            for family in FAMILIES:
                names[family].add(doc.get(family, {}).get("name", "none"))
        self.names = {family: sorted(values) for family, values in names.items()}
        self.params: list[tuple[str, str, str, Any]] = []
        for family in FAMILIES:
            for name in self.names[family]:
                comps = registry.components[family]
                if name in comps:
                    for pname, decl in comps[name].params.items():
                        self.params.append((family, name, pname, decl))
        self.training = ENCODED_TRAINING + (
            RECIPE_TRAINING if any(key in doc.get("training", {}) for doc in seen
                                   for key in RECIPE_TRAINING) else ())
        self.columns = (
            [f"{f}={n}" for f in FAMILIES for n in self.names[f]]
            + [f"{f}.{n}.{p}" for f, n, p, _ in self.params]
            + [f"training.{p}" for p in self.training]
        )

    def encode(self, doc: dict[str, Any], n_train: int | None = None) -> list[float]:
        """The vector of one pipeline document; with ``n_train``, its ``"auto"`` training
        settings are first resolved for that many training rows (as a trial states them)."""
        out: list[float] = []
        for family in FAMILIES:
            chosen = doc.get(family, {}).get("name", "none")
            out.extend(1.0 if chosen == n else 0.0 for n in self.names[family])
        for family, name, pname, decl in self.params:
            spec = doc.get(family, {})
            if spec.get("name") != name:
                out.append(-1.0)
                continue
            value = spec.get("params", {}).get(pname, decl.default)
            if isinstance(decl, Categorical):
                choices = list(decl.choices)
                out.append(choices.index(value) / max(len(choices) - 1, 1)
                           if value in choices else -1.0)
            elif isinstance(decl, (Float, Int)):
                out.append(_scaled(decl, value))
            else:
                out.append(-1.0)
        out.extend(_encode_training(doc.get("training", {}), self.training, n_train))
        return out


def _encode_training(given: dict[str, Any], keys: Sequence[str],
                     n_train: int | None) -> list[float]:
    """The training part of the encoding. A pre-recipe document means a constant lr and no
    stated budget: ``schedule`` constant, final lr fraction 1 (no decay), ``steps`` -1."""
    legacy = is_legacy(given)
    training = dict(given)
    if n_train is not None and not legacy:
        training = resolve_training({**{k: d.default for k, d in TRAINING_PARAMS.items()},
                                     **dict.fromkeys(AUTO_SETTINGS, AUTO), **given}, n_train)
    out = []
    for pname in keys:
        decl = TRAINING_PARAMS[pname]
        value = training.get(pname, decl.default)
        if pname == "steps" and legacy:
            out.append(-1.0)
        elif pname == "schedule":
            value = "constant" if legacy else value
            out.append(SCHEDULES.index(value) / (len(SCHEDULES) - 1)
                       if value in SCHEDULES else -1.0)
        elif pname == "final_lr_fraction":
            # the lr's end point as a share of lr: 1 when it never decays
            out.append(1.0 if legacy or training.get("schedule") == "constant"
                       else _scaled(decl, value))
        elif isinstance(decl, Categorical):
            out.append(float(value) if isinstance(value, (int, float)) else -1.0)
        else:
            out.append(_scaled(decl, value))  # "auto" (left to the data) is -1
    return out
