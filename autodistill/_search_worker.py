"""The worker side of ``search``: one trial loop, run in this process or in spawned ones.

Every worker, wherever it runs, repeats: take the study lock, fail stale trials (their
heartbeat stopped; the retry callback queues them again), count the trials, and ask for
as many as are owed, at most ``population`` (queued trials first). The lock is released
as soon as the trials exist; they train together as one population and each is told its
result (:mod:`autodistill._population_worker`, which also records their heartbeats: Optuna
records them only inside ``study.optimize``).

Signals: the first SIGINT/SIGTERM stops at the next epoch (the trial is failed with
``interrupted`` set, so it does not count and the same command resumes); a second one
raises ``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodistill import _journal
from autodistill import storage as store
from autodistill.errors import AutodistillError

if TYPE_CHECKING:
    from autodistill.pipeline import Pipeline

__all__ = [
    "create_study", "enqueue_pipelines", "make_sampler", "preset_pipelines",
    "queue_presets_when_due", "trial_counts",
]

#: Random trials before TPE models the study (Optuna's default), unless trials were queued.
STARTUP_TRIALS = 10

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, "float | None"], None]


def make_sampler(seed: int = 0, startup_trials: int = STARTUP_TRIALS) -> Any:
    """Seeded TPE: multivariate and grouped (the space is conditional) with the constant
    liar, so parallel workers do not all sample next to one running trial.

    ``startup_trials`` random trials come first; a warm-started study sets it to the
    number of trials it queued, so that TPE models them at once instead of drawing
    random trials after them.
    """
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            multivariate=True, group=True, seed=seed, constant_liar=True,
            n_startup_trials=startup_trials,
        )


def create_study(storage: Any, name: str, *, seed: int = 0,
                 startup_trials: int = STARTUP_TRIALS) -> Any:
    """Create or load the study ``name``: maximise, :func:`make_sampler`, median pruning."""
    import optuna

    sampler = make_sampler(seed, startup_trials)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10)
    return optuna.create_study(storage=storage, study_name=name, direction="maximize",
                               sampler=sampler, pruner=pruner, load_if_exists=True)


def uncounted(trials: list[Any]) -> set[int]:
    """Numbers of failed trials that do not count: retried by the heartbeat, or interrupted."""
    superseded = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    return {t.number for t in trials if t.state.name == "FAIL"
            and (t.number in superseded or t.user_attrs.get("interrupted"))}


def trial_counts(trials: Iterable[Any]) -> dict[str, int]:
    """Trials by state, plus ``counted``: those that count towards the requested total.

    A failed trial does not count when the heartbeat retried it, or when it was
    interrupted (Ctrl-C, a dead local worker). Waiting trials are not yet counted.
    """
    trials = list(trials)
    skipped = uncounted(trials)
    counts = {"complete": 0, "pruned": 0, "fail": 0, "running": 0, "waiting": 0, "counted": 0}
    for trial in trials:
        state = trial.state.name.lower()
        counts[state] = counts.get(state, 0) + 1
        if state != "waiting" and trial.number not in skipped:
            counts["counted"] += 1
    return counts


class Interrupted(Exception):
    """Raised inside a trial at an epoch boundary after SIGINT/SIGTERM."""


class Stop:
    """First SIGINT/SIGTERM: stop cleanly at the next epoch; second: KeyboardInterrupt."""

    def __init__(self) -> None:
        self.requested = False
        self.forward: Callable[[], None] | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.forward is not None:
            self.forward()

    def install(self) -> None:
        """Handle SIGINT and SIGTERM (only possible in the main thread)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Put the previous handlers back."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


@dataclass
class Job:
    """Everything one worker needs (picklable: it crosses into spawned processes)."""

    data: str
    target: str | None
    split_seed: int
    teacher: str
    student: str
    space: str
    url: str
    study: str
    trials: int
    seed: int
    deadline: float | None
    heartbeat_interval: int | None
    grace_period: int | None
    max_retry: int = 3
    journal: str | None = None
    worker: int = 0
    threads: int | None = None  # torch threads per worker (default 1)
    quiet: bool = False
    startup_trials: int = STARTUP_TRIALS
    presets_last: bool = False
    prune: bool = True
    population: int = 1  # trials asked and trained together


class Objective:
    """What every trial of a worker shares: the space, the data, the teacher, the job."""

    def __init__(self, space: Any, dataset: Any, teacher: Any, job: Job, stop: Stop) -> None:
        self.space, self.dataset, self.teacher, self.job, self.stop = space, dataset, teacher, job, stop
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"


def work(study: Any, objective: Objective, job: Job, stop: Stop,
         progress: ProgressFn | None = None) -> None:
    """Run trials on ``study`` until ``job.trials`` count, the deadline or a stop.

    Trials train with one torch thread: students are tiny, so intra-op threads cost more
    than they give, and several workers on one machine must not oversubscribe its cores
    (parallelism comes from ``--workers``). The caller's thread count is restored.
    """
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(job.threads or 1)
    try:
        _loop(study, objective, job, stop, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _loop(study: Any, objective: Objective, job: Job, stop: Stop,
          progress: ProgressFn | None) -> None:

    from autodistill._population_worker import Heartbeats

    beats = Heartbeats(study)
    try:
        _rounds(study, objective, job, stop, progress, beats)
    finally:
        beats.close()


def _rounds(study: Any, objective: Objective, job: Job, stop: Stop,
            progress: ProgressFn | None, beats: Any) -> None:
    """Ask for owed trials (a population at a time) and train them, until none are owed."""
    import optuna

    from autodistill._population_worker import ask, train_trials

    heartbeat = not job.journal and bool(job.heartbeat_interval)
    lock_file = _journal.journal_count_lock(Path(job.journal)) if job.journal else None
    lock = _journal.StudyLock(job.url, job.study, lock_file=lock_file)
    parent = os.getppid()
    while not stop.requested:
        if job.deadline is not None and time.time() >= job.deadline:
            break
        if job.worker > 0 and os.getppid() != parent:
            break  # the coordinating process died: do not run on, orphaned
        lock.acquire()
        try:
            if heartbeat:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(study)
            counts = trial_counts(study.get_trials(deepcopy=False))
            if job.presets_last and queue_presets_when_due(study, objective.space, job.trials,
                                                           counts):
                counts = trial_counts(study.get_trials(deepcopy=False))
            if counts["counted"] >= job.trials:
                lock.release()
                if heartbeat and counts["running"]:
                    # Another worker's trial may still die and come back as a retry.
                    time.sleep(min(float(job.heartbeat_interval), 0.5))
                    continue
                break
            owed = job.trials - counts["counted"]
            if job.presets_last and owed > len(PRESETS_RUN_LAST):
                owed -= len(PRESETS_RUN_LAST)  # a warm start's presets get the last round
            trials = ask(study, min(job.population, owed))
            lock.release()  # the trials exist: the next worker may count
            train_trials(study, trials, objective, beats)
        except (Interrupted, KeyboardInterrupt):
            stop.requested = True
        finally:
            lock.release()
        if progress is not None:
            report(study, job.trials, progress)


#: The presets a warm-started study runs as its last trials.
PRESETS_RUN_LAST = ("plain", "hinton")


def preset_pipelines() -> list[Any]:
    """The presets ``plain`` and ``hinton``, the baselines every study runs."""
    from autodistill.pipeline import PRESETS, Pipeline

    return [Pipeline.from_dict(PRESETS[name], source=f"preset '{name}'")
            for name in PRESETS_RUN_LAST]


def queue_presets_when_due(study: Any, space: Any, trials: int, counts: dict[str, int]) -> int:
    """Enqueue the presets the study does not hold once no more trials than they are
    remain owed (a warm-started study runs them last); return how many were queued.

    Call it under the study lock, like :func:`enqueue_pipelines`.
    """
    room = trials - counts["counted"] - counts["waiting"]
    presets = preset_pipelines()
    if not 0 < room <= len(presets):  # the common case: no need to read the trials
        return 0
    held = _held_params(study)
    missing = [p for p in presets
               if (params := _params_in(space, p)) is not None and params not in held]
    if not missing or room > len(missing):
        return 0
    return enqueue_pipelines(study, missing, space, limit=room)


def _held_params(study: Any) -> list[dict[str, Any]]:
    """The params of every trial the study holds (waiting, running or finished), except
    trials that were interrupted or retried."""
    trials = study.get_trials(deepcopy=False)
    skipped = uncounted(trials)
    return [dict(t.system_attrs.get("fixed_params") or t.params) for t in trials
            if t.number not in skipped]


def _params_in(space: Any, pipeline: Any) -> dict[str, Any] | None:
    """``pipeline`` as the trial params of ``space``, or None (logged) when it cannot be."""
    from autodistill.errors import SpaceError

    try:
        return space.params_for(pipeline)
    except SpaceError as exc:
        log.info("not enqueued: %s", exc)
        return None


def enqueue_pipelines(study: Any, pipelines: Iterable[Pipeline], space: Any = None,
                      *, limit: int | None = None) -> int:
    """Enqueue pipelines to run first (presets, warm start); return how many were queued.

    A pipeline the space cannot represent is skipped with a log line, and so is one the
    study already holds (waiting, running or finished, unless that trial was interrupted
    or retried). Call it under the study lock, so that concurrent workers cannot both
    enqueue one pipeline (optuna#4002).

    Args:
        study: The Optuna study.
        pipelines: Pipelines to try first, best first.
        space: The study's :class:`~autodistill.space.Space`; by default, the one named in
            the study's ``autodistill`` attribute.
        limit: Queue at most this many.
    """
    from autodistill.space import load_space

    if space is None:
        info = study.user_attrs.get("autodistill") or {}
        space = load_space(info.get("space", "default"))
    held = _held_params(study)
    queued = 0
    for pipeline in pipelines:
        if limit is not None and queued >= limit:
            break
        params = _params_in(space, pipeline)
        if params is not None and params not in held:
            study.enqueue_trial(params)
            held.append(params)
            queued += 1
    return queued


def report(study: Any, total: int, progress: ProgressFn) -> None:
    """Call ``progress(done, total, best)`` from the study's trials."""
    trials = study.get_trials(deepcopy=False)
    counts = trial_counts(trials)
    values = [t.value for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    progress(min(counts["counted"] - counts["running"], total), total, max(values, default=None))


def load_inputs(job: Job) -> tuple[Any, Any, Any]:
    """The dataset, the teacher's outputs (cached on disk) and the space of ``job``."""
    from autodistill.data import load_dataset
    from autodistill.space import load_space
    from autodistill.teachers import get_teacher

    dataset = load_dataset(job.data, target=job.target, split_seed=job.split_seed)
    teacher = get_teacher(job.teacher, dataset)
    space = load_space(job.space, has_hidden=teacher.hidden is not None)
    return dataset, teacher, space


def open_run_storage(job: Job) -> Any:
    """The journal (local workers on SQLite) or the database, with heartbeats."""
    if job.journal:
        return _journal.open_journal(Path(job.journal))
    return store.open_optuna_storage(job.url, heartbeat_interval=job.heartbeat_interval,
                                     grace_period=job.grace_period, max_retry=job.max_retry)


def quiet_optuna(quiet: bool) -> None:
    """Silence Optuna's per-trial log lines when ``quiet``."""
    if quiet:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)


def _sampler_seed(job: Job) -> int:
    seed = job.seed + 7919 * job.worker
    if store.is_postgres(job.url):
        seed += os.getpid()  # commands on several machines must not draw the same trials
    return seed % (2**32)


def worker_main(fields: dict[str, Any]) -> None:
    """Entry point of a spawned worker process."""
    job = Job(**fields)
    logging.basicConfig(level=logging.WARNING, format="autodistill worker: %(message)s")
    quiet_optuna(job.quiet)
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # Ctrl-C reaches the coordinator, which forwards it exactly once
    stop = Stop()
    stop.install()
    try:
        dataset, teacher, space = load_inputs(job)
        study = create_study(open_run_storage(job), job.study, seed=_sampler_seed(job),
                             startup_trials=job.startup_trials)
        work(study, Objective(space, dataset, teacher, job, stop), job, stop)
    except AutodistillError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(130 if stop.requested else 0)


def run_parallel(study: Any, objective: Objective, job: Job, workers: int, stop: Stop,
                 progress: ProgressFn | None) -> None:
    """Work here and in ``workers - 1`` spawned processes until the study holds its trials.

    This process starts at once (it has the data and teacher loaded); the others join
    when they have imported torch.
    """
    context = multiprocessing.get_context("spawn")
    processes = []
    for index in range(1, workers):
        fields = {**asdict(job), "worker": index}
        process = context.Process(target=worker_main, args=(fields,))
        process.start()
        processes.append(process)

    def forward() -> None:
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)

    stop.forward = forward
    if stop.requested:  # a signal came before the workers could be told
        forward()
    try:
        work(study, objective, job, stop, progress)
        while any(p.is_alive() for p in processes):
            for process in processes:
                process.join(timeout=0.5)
            if progress is not None:
                report(study, job.trials, progress)
    except KeyboardInterrupt:  # a second Ctrl-C: stop the workers now
        stop.requested = True
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=10)
    finally:
        stop.forward = None
    failed = [p.exitcode for p in processes if p.exitcode not in (0, 130, -signal.SIGINT)]
    if failed and not stop.requested:
        log.warning("%d worker process(es) exited with an error (codes %s)", len(failed), failed)
