"""Evidence for one component: how it does on the knowledge base's tasks.

``autodistill meta bench-component NAME`` runs, on the shipped knowledge base's smallest
real tables (each with the same student, teacher and split as in the knowledge base), a
short unpruned study in the space the knowledge base searched with NAME's family fixed to
NAME, and writes every finished trial as a JSON line in the knowledge base's own trial
format: what a plugin ships and registers through the ``register_evidence`` hook (the
other families keep to the components the shipped knowledge base ran), after which its
component is a recommendation candidate with evidence (:mod:`autodistill.meta.knowledge`).
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
from autodistill.meta.task_suite import KBTask

__all__ = ["bench_tasks", "component_family", "component_space_file", "bench_component"]


def bench_tasks(limit: int | None = None, teacher: str = "auto") -> list[KBTask]:
    """The shipped knowledge base's tasks a component is benched on, fastest first: its
    real tables (not the generated ones) taught by ``teacher`` (by ``auto`` when it used
    no such teacher, e.g. ``auto+mcmi``), by number of rows, the first ``limit`` of them
    (all by default)."""
    from autodistill.meta.knowledge import read_shipped

    records, _ = read_shipped()
    real = sorted((r["n_rows"], r["task"], KBTask(r["data"], r["student"], r.get("teacher")))
                  for r in records if not r["data"].startswith("synthetic:"))
    if teacher not in {task.teacher_spec for *_, task in real}:
        teacher = "auto"
    return [task for *_, task in real if task.teacher_spec == teacher][:limit]


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
    """The space the shipped knowledge base searched, with ``family`` fixed to ``name``
    and the other families limited to the components the shipped knowledge base ran (so
    that the evidence is about ``name``, not about other new components), written into
    ``work_dir``."""
    from autodistill.meta.knowledge import read_shipped, shipped_space

    space = shipped_space()
    text = resources.files("autodistill.search_spaces").joinpath(f"{space}.yaml").read_text()
    doc = yaml.safe_load(text)
    _, shipped = read_shipped()
    for other in FAMILIES:
        known = sorted({t["pipeline"][other]["name"] for t in shipped})
        if other != family and known:
            doc[other] = {"components": known}
    doc[family] = {"components": [name]}
    doc["description"] = f"The knowledge base's space ({space}) with {family} fixed to {name}."
    path = work_dir / f"space-{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _check_out(out: Path) -> None:
    """Refuse an ``--out`` the evidence cannot be written to: a directory, or a place where
    no file can be made (tried with a temporary file, removed at once)."""
    import tempfile

    if out.is_dir():
        raise AutodistillError(f"--out {out}: a directory; name a .jsonl file")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=".autodistill-"):
            pass
    except OSError as exc:
        raise AutodistillError(f"--out {out}: cannot write there ({exc.strerror or exc}); name "
                               "a file in a folder you can write") from None


def bench_component(name: str, out: Path, work_dir: Path, *, tasks: int = 6, trials: int = 8,
                    seed: int = 0, teacher: str = "auto",
                    progress: Callable[[str, float], None] | None = None,
                    ) -> dict[str, Any]:
    """Bench ``name`` on the first ``tasks`` bench tasks (``trials`` each, resumable in
    ``work_dir``) and write its evidence to ``out`` as JSON lines; ``teacher`` is the
    teacher spec: the bench tasks are the knowledge base's tasks with that teacher, or with
    ``auto`` when it used none such (``auto+mcmi`` is benched on ``auto``'s tasks).

    Returns:
        ``{"component", "family", "tasks", "trials", "out", "seconds"}``.
    """
    import optuna

    from autodistill.meta.kb_build import task_slug, trial_lines
    from autodistill.study.run import run_search

    if tasks < 1 or trials < 1:
        raise AutodistillError("--tasks and --trials must be at least 1")
    family = component_family(name)
    _check_out(out)  # before the bench trains for minutes
    work_dir.mkdir(parents=True, exist_ok=True)
    space = component_space_file(name, family, work_dir)
    started, lines = time.perf_counter(), []
    for task in bench_tasks(tasks, teacher):
        url = f"sqlite:///{work_dir / (task_slug(task) + '.db')}"
        study_name = f"bench-{name}" if teacher == "auto" else f"bench-{name}-{teacher}"
        began = time.perf_counter()
        run_search(task.data, teacher=teacher, student=task.student, space=str(space),
                   trials=trials, storage=url, study=study_name, prune=False, seed=seed,
                   quiet=True, handle_signals=False)
        study = optuna.load_study(study_name=study_name, storage=url)
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        # the knowledge base's own trial lines, less the portfolio index
        lines.extend({k: v for k, v in line.items() if k != "portfolio"}
                     for line in trial_lines(task, complete, []))
        if progress is not None:
            progress(task.key, time.perf_counter() - began)
    if not lines:
        raise AutodistillError(f"bench-component {name}: no trial finished on the bench tasks; "
                               f"see the studies in {work_dir} for why")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
    return {"component": name, "family": family, "tasks": tasks, "trials": len(lines),
            "out": str(out), "seconds": round(time.perf_counter() - started, 1)}
