"""The candidate pipelines ``recommend`` ranks: every distinct pipeline its training rows
hold, proposed as their space states them, plus draws from the knowledge base's space."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from autodistill.errors import AutodistillError
from autodistill.families import FAMILIES
from autodistill.meta.model import MetaRow
from autodistill.params import POOL_FACTOR
from autodistill.training.pipeline import Pipeline

__all__ = ["SPACE_SAMPLES", "candidate_pipelines", "proposed_pipeline", "proposed_pipelines",
           "pipeline_key", "pipeline_signature", "shipped_training"]

#: Candidates sampled from the knowledge base's space, besides the pipelines it holds.
SPACE_SAMPLES = 200


def pipeline_key(doc: dict[str, Any]) -> str:
    """A pipeline document as a key: equal documents, equal keys."""
    return json.dumps(doc, sort_keys=True)


def shipped_training() -> dict[str, Any]:
    """The training settings of the space the shipped knowledge base searched."""
    from autodistill.meta.knowledge import shipped_space
    from autodistill.study.space_files import load_space

    return load_space(shipped_space()).training


def proposed_pipeline(row: MetaRow, training: dict[str, Any]) -> dict[str, Any]:
    """The pipeline ``row`` proposes for another task.

    A knowledge-base trial stores the settings its run used: the training recipe's
    ``"auto"`` ones resolved for that table's rows (epochs, patience, an ``auto`` batch
    size). Proposed as stored, another table would inherit that table's epoch count (a
    4,000-step pipeline from a 10,000-row table is 64 epochs, 64 steps on 100 rows). So a
    knowledge-base row's training settings are put back as its space (``training``: the
    shipped space's declarations) states them: a setting the space fixes takes its fixed
    value, and a categorical one that is none of the space's choices takes ``"auto"``
    where that is one. A row of the user's own studies is proposed as it ran.
    """
    from autodistill.params import Categorical
    from autodistill.study.space import Fixed

    if not row.task.startswith("kb:"):
        return row.pipeline
    settings = dict(row.pipeline.get("training", {}))
    for name, decl in training.items():
        if name not in settings:
            continue
        if isinstance(decl, Fixed):
            settings[name] = decl.value
        elif (isinstance(decl, Categorical) and settings[name] not in decl.choices
              and "auto" in decl.choices):
            settings[name] = "auto"
    return {**row.pipeline, "training": settings}


def proposed_pipelines(rows: Sequence[MetaRow]) -> dict[int, dict[str, Any]]:
    """:func:`proposed_pipeline` of every row, by the row's ``id`` (computed once, shared by
    the candidates and the evidence that looks rows up by what they propose)."""
    training = shipped_training()
    return {id(row): proposed_pipeline(row, training) for row in rows}


def pipeline_signature(doc: dict[str, Any]) -> tuple[str, ...]:
    """The components' names; an augmentation running as a pool (``pool_factor`` > 0) is
    named apart (``mixup+pool``): another recipe, which needs evidence of its own before it
    is proposed."""
    names = []
    for family in FAMILIES:
        spec = doc.get(family, {})
        name = spec.get("name", "none")
        if family == "augmentation" and spec.get("params", {}).get(POOL_FACTOR, 0):
            name += "+pool"
        names.append(name)
    return tuple(names)


def candidate_pipelines(rows: Sequence[MetaRow], *, has_hidden: bool = True,
                        labels_new_rows: bool = True, samples: int = SPACE_SAMPLES,
                        seed: int = 0, proposed: dict[int, dict[str, Any]] | None = None,
                        ) -> list[dict[str, Any]]:
    """Distinct pipelines of ``rows`` plus ``samples`` draws from the knowledge base's space.

    Every candidate validates against the installed registry (so ``distill`` accepts it
    unchanged); without teacher hidden features, MI objectives other than ``none`` drop out,
    and for a teacher that cannot label new rows, augmentations other than ``none``.
    A draw that uses a component no row has evidence for is left out: an installed
    component becomes a candidate once its plugin ships evidence (``register_evidence``)
    or a study ran it. ``proposed``: :func:`proposed_pipelines` of ``rows``, when the
    caller has it already.
    """
    from autodistill.meta.knowledge import shipped_space
    from autodistill.study.space_files import load_space

    seen: dict[str, dict[str, Any]] = {}
    proposed = proposed_pipelines(rows) if proposed is None else proposed
    for row in rows:
        doc = proposed[id(row)]
        seen.setdefault(pipeline_key(doc), doc)
    evidenced = {(family, name) for doc in seen.values()
                 for family, name in zip(FAMILIES, pipeline_signature(doc), strict=True)}
    if samples > 0:
        space = load_space(shipped_space(), has_hidden=has_hidden, labels_new_rows=labels_new_rows)
        draws = _RandomDraws(seed)
        for _ in range(samples):
            doc = space.sample(draws).to_dict()
            if all(pair in evidenced for pair in zip(FAMILIES, pipeline_signature(doc), strict=True)):
                seen.setdefault(pipeline_key(doc), doc)
    out = []
    for doc in seen.values():
        if not has_hidden and doc.get("mi_objective", {}).get("name", "none") != "none":
            continue
        if not labels_new_rows and doc.get("augmentation", {}).get("name", "none") != "none":
            continue
        try:
            Pipeline.from_dict(doc)
        except AutodistillError:  # a component whose plugin is no longer installed
            continue
        out.append(doc)
    return out


class _RandomDraws:
    """Uniform draws with the ``suggest_*`` interface of an Optuna trial.

    :meth:`Space.sample <autodistill.study.space.Space.sample>` takes it in place of a trial:
    hundreds of candidates in milliseconds, with no study or storage behind them.
    """

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        if log:
            return float(np.exp(self.rng.uniform(np.log(low), np.log(high))))
        return float(self.rng.uniform(low, high))

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        if log:
            return int(min(high, max(low, round(self.suggest_float(name, low, high, log=True)))))
        return int(self.rng.integers(low, high + 1))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return choices[int(self.rng.integers(len(choices)))]
