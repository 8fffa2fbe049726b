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
command again resumes (see :mod:`autodistill._search_worker`).

Environment: ``AUTODISTILL_HEARTBEAT_INTERVAL`` (seconds, default 60) and
``AUTODISTILL_HEARTBEAT_GRACE`` (default twice the interval).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from autodistill import _callable, _journal
from autodistill import storage as store
from autodistill._search_worker import (
    Job,
    Objective,
    Stop,
    create_study,
    enqueue_pipelines,
    load_inputs,
    make_sampler,
    preset_pipelines,
    quiet_optuna,
    run_parallel,
    trial_counts,
    uncounted,
    work,
)
from autodistill.errors import AutodistillError, StorageError
from autodistill.pipeline import Pipeline

__all__ = [
    "run_search",
    "enqueue_pipelines",
    "default_study_name",
    "trial_counts",
    "summarize",
    "create_study",
]

log = logging.getLogger(__name__)


def default_study_name(dataset: Any, student: str, split_seed: int = 0) -> str:
    """``<dataset>-<student>``, e.g. ``wine-mlp16`` (``-split<N>`` for a split seed N != 0)."""
    base = str(dataset.name).split(":", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9]+", "-", os.path.splitext(os.path.basename(base))[0]).strip("-")
    name = f"{base[:48] or 'data'}-{re.sub(r'[^A-Za-z0-9]+', 'x', student.replace(':', ''))}"
    return f"{name}-split{split_seed}" if split_seed else name


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
    warm_start: int = 0,
    enqueue: Sequence[Pipeline] = (),
    prune: bool = True,
    seed: int = 0,
    split_seed: int = 0,
    progress: Callable[[int, int, float | None], None] | None = None,
    quiet: bool = False,
    handle_signals: bool = True,
) -> dict[str, Any]:
    """Run (or resume) a search; return the summary that ``search --json`` prints.

    Args:
        data: Data spec (``builtin:wine``, a CSV path, ...).
        target: Label column of a CSV/Parquet file.
        teacher: ``auto`` or a TorchScript file.
        student: Student spec, e.g. ``mlp:16``.
        space: A shipped space name or a YAML file.
        trials: Trials the study should hold in total (resuming runs only the owed ones).
        timeout: Start no trial after this many seconds.
        storage: Database URL (default: ``AUTODISTILL_STORAGE`` or SQLite in the data dir).
        study: Study name (default: :func:`default_study_name`).
        workers: Processes on this machine (this one included); on SQLite they share a
            journal file, merged into the database at the end.
        warm_start: Run the recommender's top K pipelines first and the presets last;
            TPE models the picks at once (no random start-up trials after them).
        enqueue: Further pipelines to run first, after the warm start and the presets
            (the knowledge-base builder's shared portfolio).
        prune: Stop unpromising trials early on their validation curve (the knowledge
            base turns it off: it needs every portfolio pipeline's final scores).
        seed: Seed of student training and of the sampler.
        split_seed: Seed of the train/valid/test split.
        progress: Called as ``progress(done, total, best)`` while trials finish.
        quiet: Silence Optuna's per-trial log lines.
        handle_signals: Turn SIGINT/SIGTERM into a clean stop (main thread only).

    Returns:
        ``{"study", "storage" (masked), "dataset", "teacher": {"spec", "accuracy"},
        "student", "space", "trials": {"complete", "pruned", "fail", "running", "waiting",
        "counted", "requested", "total"}, "ran" (counted trials finished meanwhile), "best":
        {"number", "pipeline", "valid_score", "test_accuracy", "seconds"} | None,
        "interrupted", "seconds"}``.

    Raises:
        StorageError: the database cannot be reached, or the study searched another
            dataset, student, teacher or split.
        AutodistillError: bad data, teacher, space or options (one line each).
    """
    started = time.perf_counter()
    if trials < 1:
        raise AutodistillError(f"--trials {trials}: ask for at least one trial")
    if workers < 1:
        raise AutodistillError(f"--workers {workers}: use at least one worker")
    quiet_optuna(quiet)
    url = store.resolve_url(storage)
    store.ensure_schema(url)  # an unreachable database fails before the teacher trains
    interval = _env_int("AUTODISTILL_HEARTBEAT_INTERVAL", 60)
    grace = _env_int("AUTODISTILL_HEARTBEAT_GRACE", None)
    job = Job(data=data, target=target, split_seed=split_seed, teacher=teacher, student=student,
              space=space, url=url, study=study or "", trials=trials, seed=seed,
              deadline=time.time() + timeout if timeout else None, heartbeat_interval=interval,
              grace_period=grace, quiet=quiet, prune=prune)
    dataset, teacher_outputs, space_obj = load_inputs(job)
    job.study = study or default_study_name(dataset, student, split_seed)

    canonical = create_study(store.open_optuna_storage(url, heartbeat_interval=interval,
                                                       grace_period=grace), job.study, seed=seed)
    _check_study(canonical, url, job, dataset, teacher_outputs, space_obj)
    store.record_dataset(url, dataset)
    store.record_study(url, job.study, dataset_fingerprint=dataset.fingerprint, teacher=teacher,
                       student=student, space=space_obj.name, split_seed=split_seed,
                       teacher_accuracy=teacher_outputs.accuracy)
    picks = _warm_start(warm_start, dataset, teacher_outputs, student, url)
    warm = [*picks, *enqueue]
    if picks:
        job.startup_trials, job.presets_last = len(picks), True
        canonical.sampler = make_sampler(seed, job.startup_trials)
    if store.is_sqlite(url):
        _merge_leftover(url, canonical)
    finished_before = {t._trial_id for t in canonical.get_trials(deepcopy=False)
                       if t.state.is_finished()}

    stop = Stop()
    if handle_signals:
        stop.install()
    try:
        objective = Objective(space_obj, dataset, teacher_outputs, job, stop)
        if workers > 1 and store.is_sqlite(url):
            _run_journal(job, canonical, objective, warm, len(picks), workers, stop, progress)
        else:
            with _journal.StudyLock(url, job.study):
                _enqueue_first(canonical, space_obj, warm, trials, picks=len(picks))
            if workers == 1:
                work(canonical, objective, job, stop, progress)
            else:
                run_parallel(canonical, objective, job, workers, stop, progress)
    finally:
        stop.restore()
    after = canonical.get_trials(deepcopy=False)
    skipped = uncounted(after)
    ran = sum(1 for t in after if t.state.is_finished() and t._trial_id not in finished_before
              and t.number not in skipped)
    return summarize(canonical, url, requested=trials, ran=ran, interrupted=stop.requested,
                     seconds=time.perf_counter() - started)


def _check_study(study: Any, url: str, job: Job, dataset: Any, teacher: Any, space: Any) -> None:
    from autodistill.metafeatures import student_task_features

    info = {
        "dataset": dataset.spec, "dataset_name": dataset.name, "fingerprint": dataset.fingerprint,
        "teacher": job.teacher, "student": job.student, "split_seed": job.split_seed,
        "space": space.name, "n_rows": int(dataset.n_rows), "n_features": int(dataset.n_features),
        "n_classes": int(dataset.n_classes), "teacher_accuracy": float(teacher.accuracy),
    }
    existing = study.user_attrs.get("autodistill")
    if existing is None or "meta_features" not in existing:
        # What the recommender learns from: every study joins its training rows.
        info["teacher_valid_accuracy"] = float(teacher.valid_accuracy)
        info["meta_features"] = student_task_features(dataset, teacher, job.student)
    if existing is None:
        study.set_user_attr("autodistill", info)
        return
    for key in ("fingerprint", "student", "teacher", "split_seed"):
        if existing.get(key) != info[key]:
            shown = "dataset" if key == "fingerprint" else key
            was, now = (existing.get("dataset"), info["dataset"]) if key == "fingerprint" else (
                existing.get(key), info[key])
            if was == now:  # same spec, other content (an edited file)
                was, now = f"{was} (other content)", f"{now} (this content)"
            raise StorageError(
                f"study '{job.study}' in {store.mask_url(url)} searched {shown} {was!r}, not "
                f"{now!r}; pass another --study name"
            )
    if "meta_features" not in existing:
        study.set_user_attr("autodistill", {**existing, **{k: info[k] for k in (
            "meta_features", "teacher_valid_accuracy")}})
    if existing.get("space") != space.name:
        log.warning("study '%s' was started with space '%s'; continuing with '%s'",
                    job.study, existing.get("space"), space.name)


def _warm_start(k: int, dataset: Any, teacher: Any, student: str, url: str) -> list[Pipeline]:
    if k <= 0:
        return []
    try:
        from autodistill.recommend import recommend_pipelines
    except ImportError:
        raise AutodistillError("--warm-start needs the recommender (autodistill.recommend), "
                               "which this installation lacks; drop --warm-start") from None
    return list(recommend_pipelines(dataset, teacher, student, top=k, storage=url))


def _enqueue_first(study: Any, space: Any, warm: list[Pipeline], trials: int,
                   picks: int = 0) -> int:
    """Enqueue, while trials are owed: the presets (unless ``picks``: a warm start runs
    them last, see :func:`~autodistill._search_worker.queue_presets_when_due`), then
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
                               startup_trials=job.startup_trials)
        running_elsewhere = _journal.mirror_to_journal(canonical, journal)
        job.journal, job.trials = str(path), job.trials - running_elsewhere
        try:
            _enqueue_first(journal, objective.space, warm, job.trials, picks=picks)
            run_parallel(journal, objective, job, workers, stop, progress)
        finally:
            _journal.merge_journal(path, canonical)


def summarize(study: Any, url: str, *, requested: int | None = None, ran: int = 0,
              interrupted: bool = False, seconds: float | None = None) -> dict[str, Any]:
    """The ``search --json`` document of ``study`` (the storage URL masked)."""
    trials = study.get_trials(deepcopy=False)
    counts = trial_counts(trials)
    info = study.user_attrs.get("autodistill") or {}
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    best = None
    if complete:
        top = max(complete, key=lambda t: (t.value, -t.number))
        best = {"number": top.number, "pipeline": top.user_attrs.get("pipeline"),
                "valid_score": top.value, "test_accuracy": top.user_attrs.get("test_accuracy"),
                "seconds": top.user_attrs.get("seconds")}
    return {
        "study": study.study_name,
        "storage": store.mask_url(url),
        "dataset": info.get("dataset_name"),
        "teacher": {"spec": info.get("teacher"), "accuracy": info.get("teacher_accuracy")},
        "student": info.get("student"),
        "space": info.get("space"),
        "trials": {**counts, "requested": requested, "total": len(trials)},
        "ran": ran,
        "best": best,
        "interrupted": interrupted,
        "seconds": round(seconds, 3) if seconds is not None else None,
    }


_callable.make_callable(__name__, "search")  # autodistill.search(...) is the Python API
