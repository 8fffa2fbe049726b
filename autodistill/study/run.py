"""``search``: an Optuna study over the plugin-assembled space (the library side of
``autodistill search``).

The study maximises the student's validation accuracy with TPE (multivariate, grouped
for the conditional space, seeded) and prunes on per-epoch validation accuracy. The
presets ``plain`` and ``hinton`` are enqueued first, so the best is never worse than them;
a warm-started study runs the recommender's picks first instead, and the presets as its
last two trials (they are the weakest guesses, and a warm start is about reaching a good
pipeline in few trials).
Each trial stores its pipeline and metrics as user attributes (``pipeline``,
``test_accuracy``, ``macro_f1``, ``seconds``; on failure ``failed_component`` and
``error``). A component that raises fails its trial, a NaN loss prunes it; the study goes on.
The study's ``autodistill`` attribute records the dataset, teacher, student and space.

Exactly ``trials`` trials are run in total, whoever runs them: before each trial a worker
takes the study's lock, counts, and starts one only if some are owed. A trial failed by
the heartbeat and retried, or stopped by Ctrl-C, does not count, so running the same
command again resumes (see :mod:`autodistill.study.worker`).

Environment: ``AUTODISTILL_HEARTBEAT_INTERVAL`` (seconds, default 60) and
``AUTODISTILL_HEARTBEAT_GRACE`` (default twice the interval).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, Protocol

from autodistill._resources import cap_workers
from autodistill.errors import AutodistillError, StorageError
from autodistill.metrics import get_metric
from autodistill.store import journal as _journal
from autodistill.store import storage as store
from autodistill.store.db_lock import database_lock
from autodistill.store.record import StudyRecord, read_study_record, write_study_record
from autodistill.study.job import (
    Job,
    Objective,
    Stop,
    load_inputs,
    open_run_storage,
    quiet_optuna,
    sampler_seed,
)
from autodistill.study.options import (
    PLAIN_SUFFIX,
    checked_options,
    default_study_name,
    refuse_other_metric,
    refuse_other_space,
    study_name,
    teacher_for,
    warn_fixed_space,
    warn_majority,
)
from autodistill.study.queue import (
    create_study,
    enqueue_pipelines,
    make_sampler,
    params_in,
    preset_pipelines,
    trial_counts,
    uncounted,
)
from autodistill.study.summary import summarize
from autodistill.study.worker import report as report_progress
from autodistill.study.worker import run_parallel, work
from autodistill.training.pipeline import Pipeline

__all__ = [
    "TaskAdvisor",
    "run_search",
    "enqueue_pipelines",
    "default_study_name",
    "PLAIN_SUFFIX",
    "trial_counts",
    "summarize",
    "create_study",
]

log = logging.getLogger(__name__)


class TaskAdvisor(Protocol):
    """What the layer above search knows about a task (see
    :class:`autodistill.meta.KnowledgeAdvisor`); search itself knows no past studies."""

    def task_features(self, dataset: Any, teacher: Any, student: str) -> dict[str, float]:
        """The meta-features stored on the study, so that it joins the knowledge base."""

    def first_pipelines(self, dataset: Any, teacher: Any, student: str, k: int,
                        url: str, metric: str = "accuracy") -> Sequence[Pipeline]:
        """The ``k`` pipelines a warm-started study runs first, best first by the study's
        ``metric``."""


def _env_int(name: str, default: int | None) -> int | None:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise AutodistillError(f"{name}={value!r} must be a whole number of seconds") from None


def run_search(
    data: str,
    *,
    target: str | None = None,
    teacher: str = "auto",
    student: str = "mlp:16",
    space: str = "default",
    trials: int = 50,
    timeout: float | None = None,
    storage: str | None = None,
    study: str | None = None,
    workers: int = 1,
    population: int | None = None,
    warm_start: int = 0,
    advisor: TaskAdvisor | None = None,
    enqueue: Sequence[Pipeline] = (),
    prune: bool = True,
    seed: int = 0,
    split_seed: int = 0,
    progress: Callable[[int, int, float | None], None] | None = None,
    quiet: bool = False,
    handle_signals: bool = True,
    twin: bool = True,
    metric: str = "accuracy",
) -> dict[str, Any]:
    """Run (or resume) a search; return the :func:`summarize` document (``search --json``).

    Args:
        data: Data spec (``builtin:wine``, a CSV path, ...).
        target: Label column of a CSV, TSV or Parquet file.
        teacher: ``auto``, ``gbdt``, a TorchScript file, or ``none`` (implied by space plain).
        student: Student spec, e.g. ``mlp:16``.
        space: A shipped space name or a YAML file.
        trials: Trials the study should hold in total (resuming runs only the owed ones).
        timeout: Start no trial after this many seconds.
        storage: Database URL (default: ``AUTODISTILL_STORAGE``, else SQLite).
        study: Study name (default: :func:`default_study_name`).
        workers: Processes on this machine (this one included; a journal file on SQLite).
        population: Trials each worker trains at once (default: 8 on CPU, 32 with CUDA).
        warm_start: Run the recommender's top K first (TPE models them at once), presets last.
        advisor: The task's meta-features (stored so the study joins the knowledge base)
            and warm-start picks (:class:`autodistill.meta.KnowledgeAdvisor`; or None).
        enqueue: Further pipelines to run first (the knowledge base's portfolio).
        prune: Stop unpromising trials early (off for the knowledge base's portfolio).
        seed, split_seed: Seeds of student training and the sampler; of the split.
        progress: Called as ``progress(done, total, best)`` while trials finish.
        quiet, handle_signals: Silence Optuna's trial lines; stop cleanly on SIGINT/SIGTERM.
        twin: Train the best trial's no-teacher twin at the end (:mod:`autodistill.study.twin`).
        metric: The objective on validation (``log_loss`` minimised); trials store all four.

    Raises:
        StorageError: an unreachable database, or a study of another task.
        AutodistillError: bad data, teacher, space or options (one line each).
    """
    started = time.perf_counter()
    population = checked_options(trials, workers, population, timeout, study, student)
    quiet_optuna(quiet)
    url = store.resolve_url(storage)
    store.ensure_schema(url)  # an unreachable database fails before the teacher trains
    teacher = teacher_for(space, teacher)
    job = Job(data=data, target=target, split_seed=split_seed, teacher=teacher, student=student,
              space=space, url=url, study=study or "", trials=trials, seed=seed,
              deadline=time.time() + timeout if timeout else None,
              heartbeat_interval=_env_int("AUTODISTILL_HEARTBEAT_INTERVAL", 60),
              grace_period=_env_int("AUTODISTILL_HEARTBEAT_GRACE", None), quiet=quiet,
              prune=prune, population=population, metric=get_metric(metric).name,
              run_id=uuid.uuid4().hex)
    dataset, teacher_outputs, space_obj = load_inputs(job, partial(_refuse_other, job, study))
    job.study = study_name(study, dataset, job)
    warn_fixed_space(space_obj, trials)
    canonical, picks = _open_study(job, (dataset, teacher_outputs, space_obj), advisor,
                                   warm_start)
    objective = Objective(space_obj, dataset, teacher_outputs, job, Stop())
    _execute(canonical, objective, [*picks, *enqueue], len(picks),
             cap_workers(workers, trials), progress, handle_signals)
    stop = objective.stop
    if twin and teacher_outputs is not None and not stop.requested:
        _twin(canonical, dataset, job)
    return summarize(canonical, url, requested=trials, ran=_ran_by(canonical, job.run_id),
                     interrupted=stop.requested, seconds=time.perf_counter() - started)


def _open_study(job: Job, inputs: tuple[Any, Any, Any], advisor: TaskAdvisor | None,
                warm_start: int) -> tuple[Any, list[Pipeline]]:
    """Create or load the study, check or write its record, and pick the warm start."""
    dataset, teacher_outputs, space_obj = inputs
    with database_lock(job.url, store.get_engine(job.url)):  # two commands may create one study
        canonical = create_study(open_run_storage(job), job.study, metric=job.metric)
    job.trials_before = len(canonical.get_trials(deepcopy=False))
    _check_study(canonical, job.url, job, dataset, teacher_outputs, space_obj, advisor)
    picks = _warm_start(warm_start, advisor, dataset, teacher_outputs, job.student, job.url,
                        job.metric, space_obj)
    if picks:
        job.startup_trials, job.presets_last = len(picks), True
    canonical.sampler = make_sampler(sampler_seed(job), job.startup_trials)
    if store.is_sqlite(job.url):
        _merge_leftover(job.url, canonical)
    return canonical, picks


def _twin(study: Any, dataset: Any, job: Job) -> None:
    """Record the best trial's no-teacher twin; a failure costs the twin, not the search."""
    from autodistill.study.twin import record_twin_of_best

    try:  # two workers that both train it store the same twin: no lock needed
        record_twin_of_best(study, dataset, job.student, job.seed, job.metric)
    except AutodistillError as exc:
        log.warning("no-teacher twin of the best trial not trained: %s", exc)


def _execute(canonical: Any, objective: Objective, warm: list[Pipeline], picks: int,
             workers: int, progress: Any, handle_signals: bool) -> None:
    """Queue the first pipelines and run the trials owed, in this process or in workers
    (SIGINT/SIGTERM stop cleanly when ``handle_signals``)."""
    job, stop = objective.job, objective.stop
    if progress is not None:  # the trials stored before this command: a baseline, not news
        report_progress(canonical, job.trials, progress)
    if handle_signals:
        stop.install()
    try:
        with _journal.search_lock(job.url, job.study, workers > 1):
            if workers > 1 and store.is_sqlite(job.url):
                _run_journal(job, canonical, objective, warm, picks, workers, stop, progress)
                return
            with _journal.StudyLock(job.url, job.study):
                _enqueue_first(canonical, objective.space, warm, job.trials, picks=picks)
            if workers == 1:
                work(canonical, objective, job, stop, progress)
            else:
                run_parallel(canonical, objective, job, workers, stop, progress)
    finally:
        stop.restore()


def _ran_by(study: Any, run_id: str) -> int:
    """Counted trials that this command's workers finished (not those of other commands
    sharing the study on PostgreSQL)."""
    after = study.get_trials(deepcopy=False)
    skipped = uncounted(after)
    return sum(1 for t in after if t.state.is_finished() and t.user_attrs.get("run") == run_id
               and t.number not in skipped)


def _refuse_other(job: Job, study: str | None, dataset: Any) -> None:
    """Refuse, before the teacher trains, to continue a study of another task or metric;
    warn (once) when the metric is accuracy and one class dominates ``dataset``."""
    import optuna

    warn_majority(dataset, job.metric)
    name = study_name(study, dataset, job)
    try:
        existing = read_study_record(optuna.load_study(
            study_name=name, storage=store.open_optuna_storage(job.url)))
    except KeyError:
        return
    if existing is not None:
        _raise_on_conflict(existing, _record_of(job, dataset, None, existing.space), job.url,
                           name)
        refuse_other_metric(existing, job.metric, job.url, name)


def _record_of(job: Job, dataset: Any, teacher: Any, space: str) -> StudyRecord:
    from autodistill.training.teachers import teacher_at_chance

    return StudyRecord(
        dataset=dataset.spec, dataset_name=dataset.name, fingerprint=dataset.fingerprint,
        teacher=job.teacher, student=job.student, split_seed=job.split_seed, space=space,
        n_rows=int(dataset.n_rows), n_features=int(dataset.n_features),
        n_classes=int(dataset.n_classes), metric=job.metric, target=dataset.raw.target,
        teacher_accuracy=float(teacher.accuracy) if teacher is not None else None,
        teacher_at_chance=teacher_at_chance(teacher, dataset) if teacher is not None else None)


def _raise_on_conflict(existing: StudyRecord, record: StudyRecord, url: str, name: str) -> None:
    """A one-line :class:`StorageError` when ``record`` is another task than ``existing``."""
    key = existing.conflict(record)
    if key is None:
        return
    shown = "dataset" if key == "fingerprint" else key
    was, now = ((existing.dataset, record.dataset) if key == "fingerprint"
                else (getattr(existing, key), getattr(record, key)))
    if was == now and None not in (existing.target, record.target) \
            and existing.target != record.target:  # the same file, another --target
        shown, was, now = "target", existing.target, record.target
    elif was == now:  # same spec, other content (an edited file; an older record has no target)
        other = "other content" if existing.target is not None else "other content or target"
        was, now = f"{was} ({other})", f"{now} (this content)"
    raise StorageError(f"study '{name}' in {store.mask_url(url)} searched {shown} {was!r}, not "
                       f"{now!r}; pass another --study name")


def _check_study(study: Any, url: str, job: Job, dataset: Any, teacher: Any, space: Any,
                 advisor: TaskAdvisor | None) -> None:
    """Write the study's record, or check that this run searches what the study did."""
    record = replace(_record_of(job, dataset, teacher, space.name),
                     space_digest=space.file_digest)
    existing = read_study_record(study)
    if existing is not None:
        _raise_on_conflict(existing, record, url, job.study)
        refuse_other_metric(existing, job.metric, url, job.study)
        refuse_other_space(existing, space, url, job.study)
        record = existing
    if advisor is not None and teacher is not None and record.meta_features is None:
        # What the recommender learns from: every study joins its training rows.
        record = record.with_meta_features(advisor.task_features(dataset, teacher, job.student),
                                           float(teacher.valid_accuracy))
    if record != existing:
        write_study_record(study, record)


#: A warm start asks the recommender for this many times ``k`` pipelines, so that ``k``
#: of them lie inside the study's space.
_WARM_POOL = 4


def _warm_start(k: int, advisor: TaskAdvisor | None, dataset: Any, teacher: Any, student: str,
                url: str, metric: str, space: Any) -> list[Pipeline]:
    """The recommender's best ``k`` pipelines that ``space`` can express (its picks may
    train longer or use a pool a small space does not hold), with a warning when fewer do."""
    if k <= 0:
        return []
    if teacher is None:
        raise AutodistillError("--warm-start recommends distillation pipelines, and this "
                               "study uses no teacher (space plain); drop --warm-start")
    if advisor is None:
        raise AutodistillError("--warm-start needs the recommender: pass "
                               "advisor=autodistill.meta.KnowledgeAdvisor(), or drop --warm-start")
    ranked = list(advisor.first_pipelines(dataset, teacher, student, _WARM_POOL * k, url,
                                          metric=metric))
    inside = [pipeline for pipeline in ranked if params_in(space, pipeline) is not None]
    if len(inside) < k:
        log.warning("--warm-start %d: only %d of the recommender's first %d pipelines lie "
                    "inside space '%s'; TPE samples the rest (a wider --space holds more)",
                    k, len(inside), len(ranked), space.name)
    return inside[:k]


def _enqueue_first(study: Any, space: Any, warm: list[Pipeline], trials: int,
                   picks: int = 0) -> int:
    """Enqueue, while trials are owed: the presets (unless ``picks``: a warm start runs
    them last, see :func:`~autodistill.study.queue.queue_presets_when_due`), then
    ``warm`` (the recommender's picks, best first, then any further pipelines)."""
    counts = trial_counts(study.get_trials(deepcopy=False))
    room = trials - counts["counted"] - counts["waiting"]
    if room <= 0:
        return 0
    first = [] if picks else preset_pipelines()
    return enqueue_pipelines(study, [*first, *warm], space, limit=room)


def _merge_leftover(url: str, canonical: Any) -> None:
    """Merge a journal that a crashed ``--workers`` run left behind (nobody owns it now)."""
    try:
        path = _journal.journal_path(url, canonical.study_name)
    except StorageError:  # :memory: has no journal
        return
    if path.exists():
        with _journal.journal_owner_lock(path) as owned:
            if owned:
                _journal.merge_journal(path, canonical)


def _run_journal(job: Job, canonical: Any, objective: Objective, warm: list[Pipeline],
                 picks: int, workers: int, stop: Stop, progress: Any) -> None:
    """Local workers on a SQLite study share a journal file, merged back at the end."""
    path = _journal.journal_path(job.url, job.study)
    with _journal.journal_owner_lock(path) as owned:
        if not owned:
            raise StorageError(f"another `autodistill search --workers` is running study "
                               f"'{job.study}' on {store.mask_url(job.url)}; wait for it, or "
                               "use PostgreSQL to let several searches cooperate")
        path.unlink(missing_ok=True)
        journal = create_study(_journal.open_journal(path), job.study, seed=job.seed,
                               startup_trials=job.startup_trials, metric=job.metric)
        running_elsewhere = _journal.mirror_to_journal(canonical, journal)
        job.journal, job.trials = str(path), job.trials - running_elsewhere
        try:
            _enqueue_first(journal, objective.space, warm, job.trials, picks=picks)
            run_parallel(journal, objective, job, workers, stop, progress)
        finally:
            _journal.merge_journal(path, canonical)
