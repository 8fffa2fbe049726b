"""Build the knowledge base (suite 2) in bounded sessions that resume from committed files.

``autodistill meta build-kb --suite 2`` works through the suite's (data, student) groups
(:func:`autodistill.meta.task_suite.kb_tasks`): for each, first the ``plain_tuned`` study
(no teacher, shared by both teachers), then one distillation study per teacher (``auto``,
``gbdt``), as suite 1's tasks run (:func:`autodistill.meta.kb_build.build_knowledge_base`:
the portfolio as one population, then TPE, unpruned) but trained with the training recipe:
suite 2 searches the ``kb2`` space and runs :data:`~autodistill.meta.kb_build.RECIPE_PORTFOLIO`
(:func:`~autodistill.meta.task_suite.kb_space`). The plain_tuned study runs first so
that each task record carries real teacher-strength figures against it
(``plain_tuned_valid`` and ``teacher_margin_over_plain_tuned``, the teacher's validation
accuracy minus the best plain_tuned trial's).

Every finished unit is written at once to the staging folder (:mod:`autodistill.meta.kb_stage`),
and a start skips what is staged, so committing that folder carries the build to the next
session; an interrupted unit resumes from its SQLite file in the work directory when that
is still there, else starts again. ``budget_minutes`` and ``limit`` bound a session: no
group starts after the budget is spent or ``limit`` groups have started; groups already
running finish. A table that cannot serve is staged as skipped, with its reason.

Cost bound for large tables: a table above :data:`LARGE_ROWS` rows runs the portfolio only
(no TPE trials) and at most :data:`LARGE_PLAIN_TRIALS` plain_tuned trials.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autodistill._processes import die_with_parent
from autodistill._resources import cap_workers
from autodistill.data.real_tables import MAX_ROWS, MIN_ROWS, SOURCES
from autodistill.errors import AutodistillError
from autodistill.meta.kb_build import (
    KB_POPULATION,
    PORTFOLIO,
    portfolio,
    portfolio_params,
    study_lines,
)
from autodistill.meta.kb_plain import plain_record
from autodistill.meta.kb_stage import key_slug, plain_path, read_unit, task_path, write_unit
from autodistill.meta.task_suite import KBTask, kb_space, kb_tasks
from autodistill.progress import report as report_progress

__all__ = ["LARGE_ROWS", "LARGE_PLAIN_TRIALS", "BuildPlan", "pending_groups",
           "require_sources", "build_staged"]

log = logging.getLogger(__name__)

#: Tables with more rows run the portfolio only and fewer plain_tuned trials.
LARGE_ROWS = 20_000
LARGE_PLAIN_TRIALS = 10


@dataclass(frozen=True)
class BuildPlan:
    """What each unit runs: trial counts, seed and population size."""

    trials: int = 40
    plain_trials: int = 20
    seed: int = 0
    population: int = KB_POPULATION

    def for_rows(self, n_rows: int) -> tuple[int, int]:
        """(distillation trials, plain_tuned trials) for a table of ``n_rows`` rows."""
        if n_rows > LARGE_ROWS:
            return len(PORTFOLIO), min(self.plain_trials, LARGE_PLAIN_TRIALS)
        return self.trials, self.plain_trials


def pending_groups(stage_dir: Path, version: int = 2) -> list[list[KBTask]]:
    """The suite's (data, student) groups with a unit not yet staged, in suite order; each
    group lists its teacher tasks."""
    groups: dict[str, list[KBTask]] = {}
    for task in kb_tasks(version):
        groups.setdefault(task.plain_key, []).append(task)
    return [tasks for tasks in groups.values()
            if read_unit(plain_path(stage_dir, tasks[0])) is None
            or any(read_unit(task_path(stage_dir, t)) is None for t in tasks)]


def require_sources(groups: list[list[KBTask]]) -> None:
    """Raise a one-line error naming the install command when a source package of a
    pending real table is missing (before any work starts)."""
    for tasks in groups:
        data = tasks[0].data
        if not data.startswith("pkg:"):
            continue
        source = data.removeprefix("pkg:").split("/", 1)[0]
        module, install = SOURCES.get(source, (source, "pip install 'autodistill-kd[kb]'"))
        if importlib.util.find_spec(module) is None:
            raise AutodistillError(
                f"meta build-kb: the source package '{module}' of {data} is not installed; "
                f"{install}")


def _table_problem(data: str) -> tuple[int | None, str | None]:
    """(rows, None) when ``data`` can serve as a knowledge-base task, else (None, why)."""
    from autodistill.data.dataset import load_dataset
    from autodistill.errors import DataError

    try:
        dataset = load_dataset(data)
    except DataError as exc:
        return None, str(exc)
    if data.startswith("pkg:") and not MIN_ROWS <= dataset.n_rows <= MAX_ROWS:
        return None, (f"{data}: {dataset.n_rows} rows; the knowledge base takes {MIN_ROWS} "
                      f"to {MAX_ROWS:,}")
    return dataset.n_rows, None


def _run_plain(task: KBTask, url: str, plain_trials: int, plan: BuildPlan) -> dict[str, Any]:
    import optuna

    from autodistill.study.plain import plain_study_name, run_plain_tuned

    name = key_slug(task.plain_key)
    run_plain_tuned(task.data, student=task.student, trials=plain_trials, storage=url,
                    study=name, seed=plan.seed, quiet=True, handle_signals=False,
                    population=plan.population)
    study = optuna.load_study(study_name=plain_study_name(name), storage=url)
    record = plain_record(task.plain_key, study)
    if record is None:
        raise RuntimeError("the plain_tuned study completed no trial")
    return record


def _run_teacher(task: KBTask, url: str, trials: int, plan: BuildPlan,
                 plain_valid: float, version: int) -> list[dict[str, Any]]:
    import optuna

    from autodistill.meta.advisor import KnowledgeAdvisor
    from autodistill.study.run import run_search

    run_search(task.data, teacher=task.teacher_spec, student=task.student,
               space=kb_space(version), trials=trials, storage=url, study=key_slug(task.key),
               advisor=KnowledgeAdvisor(), enqueue=portfolio(version), prune=False,
               seed=plan.seed, quiet=True,
               handle_signals=False, population=plan.population)
    study = optuna.load_study(study_name=key_slug(task.key), storage=url)
    lines = study_lines(task, study, portfolio_params(version))
    if lines is None:
        raise RuntimeError("the study completed no trial or recorded no meta-features")
    teacher_valid = lines[0]["teacher_valid"]
    lines[0].update(plain_task=task.plain_key, plain_tuned_valid=plain_valid,
                    teacher_margin_over_plain_tuned=(
                        round(teacher_valid - plain_valid, 6) if teacher_valid is not None
                        else None))
    return lines


def _run_group(args: tuple[list[KBTask], str, str, BuildPlan, int]
               ) -> list[tuple[str, float, str, str | None]]:
    """Run (or resume) one group's unstaged units, staging each as it finishes; return
    ``(key, seconds, status, error)`` per unit (status: done, skipped or failed)."""
    try:
        return _run_units(*args)
    except Exception as exc:  # noqa: BLE001 - one broken group must not stop the build
        error = f"{type(exc).__name__}: {exc}"
        return [(key, 0.0, "failed", error) for key in (args[0][0].plain_key,
                                                         *[t.key for t in args[0]])]


def _run_units(tasks: list[KBTask], stage: str, work: str, plan: BuildPlan, version: int,
               ) -> list[tuple[str, float, str, str | None]]:
    stage_dir, work_dir = Path(stage), Path(work)
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows, problem = _table_problem(tasks[0].data)
    if problem is not None:
        log.warning("skipping %s: %s", tasks[0].plain_key, problem)
        results = []
        for key, path in [(tasks[0].plain_key, plain_path(stage_dir, tasks[0])),
                          *[(t.key, task_path(stage_dir, t)) for t in tasks]]:
            write_unit(path, [{"task": key, "skipped": problem}])
            results.append((key, time.perf_counter() - started, "skipped", problem))
        return results
    trials, plain_trials = plan.for_rows(rows or 0)
    results = []
    plain = read_unit(plain_path(stage_dir, tasks[0]))
    if plain is None:
        try:
            url = f"sqlite:///{work_dir / (key_slug(tasks[0].plain_key) + '.db')}"
            plain = [_run_plain(tasks[0], url, plain_trials, plan)]
            write_unit(plain_path(stage_dir, tasks[0]), plain)
            results.append((tasks[0].plain_key, time.perf_counter() - started, "done", None))
        except Exception as exc:  # noqa: BLE001 - one broken unit must not stop the build
            error = f"{type(exc).__name__}: {exc}"
            return [(tasks[0].plain_key, time.perf_counter() - started, "failed", error),
                    *[(t.key, 0.0, "failed", "its plain_tuned study failed first")
                      for t in tasks]]
    for task in tasks:
        if read_unit(task_path(stage_dir, task)) is not None:
            continue
        begun = time.perf_counter()
        try:
            url = f"sqlite:///{work_dir / (key_slug(task.key) + '.db')}"
            write_unit(task_path(stage_dir, task),
                       _run_teacher(task, url, trials, plan, plain[0]["best"]["valid"],
                                    version))
            results.append((task.key, time.perf_counter() - begun, "done", None))
        except Exception as exc:  # noqa: BLE001 - one broken unit must not stop the build
            results.append((task.key, time.perf_counter() - begun, "failed",
                            f"{type(exc).__name__}: {exc}"))
    return results


def build_staged(stage_dir: Path, work_dir: Path, *, plan: BuildPlan = BuildPlan(),
                 workers: int = 2, limit: int | None = None,
                 budget_minutes: float | None = None, version: int = 2,
                 progress: Callable[[str, float, str, str | None], None] | None = None,
                 ) -> dict[str, Any]:
    """Run a bounded chunk of the suite's unstaged units, staging each as it finishes.

    Args:
        stage_dir: The staging folder (commit it to carry the build to the next session).
        work_dir: One SQLite file per unit (kept, an interrupted unit resumes from it).
        plan: Trial counts, seed and population of every unit.
        workers: Groups run in parallel, one process each.
        limit: Start at most this many groups in this session.
        budget_minutes: Start no group after this many minutes; running groups finish.
        version: The suite (only suite 2 names its teachers in its keys).
        progress: Called as ``progress(key, seconds, status, error)`` per unit.

    Returns:
        ``{"groups_started", "groups_left", "done", "skipped", "failed": {key: error},
        "seconds"}``.

    Raises:
        AutodistillError: A source package of a pending real table is not installed.
    """
    if plan.trials < len(PORTFOLIO):
        raise ValueError(f"trials must be at least the portfolio's {len(PORTFOLIO)} pipelines")
    groups = pending_groups(stage_dir, version)
    require_sources(groups)
    started = time.perf_counter()
    deadline = started + budget_minutes * 60 if budget_minutes is not None else None
    summary: dict[str, Any] = {"done": 0, "skipped": 0, "failed": {}}
    todo = groups[:limit] if limit else groups
    jobs = [(tasks, str(stage_dir), str(work_dir), plan, version) for tasks in todo]
    units = sum(1 + len(tasks) for tasks in todo)

    def record(results: list[tuple[str, float, str, str | None]]) -> None:
        for key, seconds, status, error in results:
            if status == "failed":
                summary["failed"][key] = error
                log.warning("unit %s failed: %s", key, error)
            else:
                summary[status] += 1
            report_progress("build-kb", summary["done"] + summary["skipped"]
                            + len(summary["failed"]), units, "unit", key,
                            seconds=round(seconds, 1), status=status)
            if progress is not None:
                progress(key, seconds, status, error)

    begun = _schedule(jobs, cap_workers(workers, max(len(jobs), 1)), deadline, record)
    summary.update(groups_started=begun, groups_left=len(groups) - begun,
                   seconds=round(time.perf_counter() - started, 1))
    return summary


def _schedule(jobs: list[tuple], workers: int, deadline: float | None,
              record: Callable[[list], None]) -> int:
    """Run ``jobs`` with at most ``workers`` at once, starting none after ``deadline``;
    return how many started."""
    def time_left() -> bool:
        return deadline is None or time.perf_counter() < deadline

    if workers <= 1:
        begun = 0
        for job in jobs:
            if not time_left():
                break
            begun += 1
            record(_run_group(job))
        return begun
    # spawn: fresh interpreters, no forked torch thread pools
    pool = multiprocessing.get_context("spawn").Pool(
        workers, maxtasksperchild=2, initializer=die_with_parent, initargs=(os.getpid(),))
    running: list[Any] = []
    queue = list(jobs)
    begun = 0
    try:
        while queue or running:
            while queue and len(running) < workers and time_left():
                running.append(pool.apply_async(_run_group, (queue.pop(0),)))
                begun += 1
            if not time_left():
                queue.clear()
            for result in [r for r in running if r.ready()]:
                running.remove(result)
                record(result.get())
            time.sleep(0.2)
    except BaseException:
        pool.terminate()  # an error or Ctrl-C: the groups' processes go with it
        raise
    finally:
        pool.close()
        pool.join()
    return begun
