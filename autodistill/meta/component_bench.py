"""Evidence for one component: how it does on the knowledge base's tasks.

``autodistill meta bench-component NAME`` runs, on a fixed subset of the knowledge base's
tasks (the bundled datasets, each with the same student, teacher and split as in the
knowledge base), a short unpruned study in the ``kb`` space with NAME's family fixed to
NAME, and writes every finished trial as a JSON line: the format a plugin ships and
registers through the ``register_evidence`` hook (the other families keep to the
components the shipped knowledge base ran), after which its component is a
recommendation candidate with evidence (:mod:`autodistill.meta.knowledge`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from autodistill.errors import AutodistillError
from autodistill.families import FAMILIES
from autodistill.meta.task_suite import KB_SPACE, KBTask, kb_tasks

__all__ = ["BENCH_TASKS", "bench_tasks", "component_family", "component_space_file",
           "bench_component"]

#: The knowledge-base tasks a component is benched on, fastest first.
BENCH_TASKS: tuple[str, ...] = (
    "builtin:iris|mlp:4", "builtin:wine|mlp:4", "builtin:breast_cancer|mlp:4",
    "builtin:iris|mlp:16", "builtin:wine|mlp:16", "builtin:breast_cancer|mlp:16",
    "builtin:digits|mlp:4", "builtin:digits|mlp:16",
)


def bench_tasks(limit: int | None = None) -> list[KBTask]:
    """The first ``limit`` tasks of :data:`BENCH_TASKS` (all of them by default)."""
    by_key = {task.key: task for task in kb_tasks()}
    return [by_key[key] for key in BENCH_TASKS[:limit]]


def component_family(name: str) -> str:
    """The family of the installed component ``name``.

    Raises:
        AutodistillError: when no installed component (other than ``none``) has that name.
    """
    from autodistill.registry.access import get_catalog

    catalog = get_catalog()
    families = [f for f in FAMILIES if name != "none" and name in catalog.names(f)]
    if not families:
        raise AutodistillError(f"no installed component is called '{name}'; see "
                               "`autodistill plugins` for the names")
    return families[0]


def component_space_file(name: str, family: str, work_dir: Path) -> Path:
    """The ``kb`` space with ``family`` fixed to ``name`` and the other families limited
    to the components the shipped knowledge base ran (so that the evidence is about
    ``name``, not about other new components), written into ``work_dir``."""
    from autodistill.meta.knowledge import read_shipped

    text = resources.files("autodistill.search_spaces").joinpath(f"{KB_SPACE}.yaml").read_text()
    doc = yaml.safe_load(text)
    _, shipped = read_shipped()
    for other in FAMILIES:
        known = sorted({t["pipeline"][other]["name"] for t in shipped})
        if other != family and known:
            doc[other] = {"components": known}
    doc[family] = {"components": [name]}
    doc["description"] = f"The knowledge base's space with {family} fixed to {name}."
    path = work_dir / f"space-{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def bench_component(name: str, out: Path, work_dir: Path, *, tasks: int = 6, trials: int = 8,
                    seed: int = 0, teacher: str = "auto",
                    progress: Callable[[str, float], None] | None = None,
                    ) -> dict[str, Any]:
    """Bench ``name`` on the first ``tasks`` bench tasks (``trials`` each, resumable in
    ``work_dir``) and write its evidence to ``out`` as JSON lines; ``teacher`` is the
    teacher spec (the knowledge base's is ``auto``).

    Returns:
        ``{"component", "family", "tasks", "trials", "out", "seconds"}``.
    """
    import optuna

    from autodistill.meta.kb_build import task_slug
    from autodistill.study.run import run_search

    if tasks < 1 or trials < 1:
        raise AutodistillError("--tasks and --trials must be at least 1")
    family = component_family(name)
    work_dir.mkdir(parents=True, exist_ok=True)
    space = component_space_file(name, family, work_dir)
    started, lines = time.perf_counter(), []
    for task in bench_tasks(tasks):
        url = f"sqlite:///{work_dir / (task_slug(task) + '.db')}"
        study_name = f"bench-{name}" if teacher == "auto" else f"bench-{name}-{teacher}"
        began = time.perf_counter()
        run_search(task.data, teacher=teacher, student=task.student, space=str(space),
                   trials=trials, storage=url, study=study_name, prune=False, seed=seed,
                   quiet=True, handle_signals=False)
        study = optuna.load_study(study_name=study_name, storage=url)
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            lines.append({"task": task.key, "number": trial.number,
                          "valid": round(float(trial.value), 6),
                          "test": round(float(trial.user_attrs["test_accuracy"]), 6),
                          "seconds": round(float(trial.user_attrs.get("seconds") or 0.0), 3),
                          "pipeline": trial.user_attrs["pipeline"]})
        if progress is not None:
            progress(task.key, time.perf_counter() - began)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
    return {"component": name, "family": family, "tasks": tasks, "trials": len(lines),
            "out": str(out), "seconds": round(time.perf_counter() - started, 1)}
