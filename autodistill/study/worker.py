"""The worker side of ``search``: one trial loop, run in this process or in spawned ones.

Every worker, wherever it runs, repeats: take the study lock, fail stale trials (their
heartbeat stopped; the retry callback queues them again), count the trials, and ask for
as many as are owed, at most ``population`` (queued trials first). The lock is released
as soon as the trials exist; they train together as one population and each is told its
result (:mod:`autodistill.study.population_worker`, which also records their heartbeats: Optuna
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
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodistill import _secrets
from autodistill._processes import die_with_parent, kill_workers
from autodistill.errors import AutodistillError
from autodistill.store import journal as _journal

if TYPE_CHECKING:
    pass

from autodistill.study.job import (
    Interrupted,
    Job,
    Objective,
    ProgressFn,
    Stop,
    load_inputs,
    open_run_storage,
    quiet_optuna,
    sampler_seed,
)
from autodistill.study.queue import (
    best_trial,
    create_study,
    missing_presets,
    queue_presets_when_due,
    trial_counts,
)

__all__ = ["run_parallel", "work", "worker_main"]


log = logging.getLogger(__name__)


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

    from autodistill.study.population_worker import Heartbeats

    beats = Heartbeats(study)
    try:
        _rounds(study, objective, job, stop, progress, beats)
    finally:
        beats.close()


def _rounds(study: Any, objective: Objective, job: Job, stop: Stop,
            progress: ProgressFn | None, beats: Any) -> None:
    """Ask for owed trials (a population at a time) and train them, until none are owed."""
    import optuna

    from autodistill.study.population_worker import ask, train_trials

    heartbeat = not job.journal and bool(job.heartbeat_interval)
    lock_file = _journal.journal_count_lock(Path(job.journal)) if job.journal else None
    lock = _journal.StudyLock(job.url, job.study, lock_file=lock_file)
    parent, told = os.getppid(), False
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
                    told = told or _tell_waiting(study, job)
                    time.sleep(min(float(job.heartbeat_interval), 0.5))
                    continue
                break
            owed = job.trials - counts["counted"]
            if job.presets_last:
                # a warm start's presets get the last round: those its picks did not run
                reserved = len(missing_presets(study, objective.space))
                if owed > reserved:
                    owed -= reserved
            trials = ask(study, min(job.population, owed))
            lock.release()  # the trials exist: the next worker may count
            train_trials(study, trials, objective, beats)
        except (Interrupted, KeyboardInterrupt):
            stop.requested = True
        finally:
            lock.release()
        if progress is not None:
            report(study, job.trials, progress)


def _tell_waiting(study: Any, job: Job) -> bool:
    """Say, once, why a worker with nothing left to run waits: trials other workers run;
    a warning when one's worker, on this machine, is gone (killed: its trial is failed and
    retried once its heartbeat is older than the grace period, two intervals by default)."""
    running = [t for t in study.get_trials(deepcopy=False) if t.state.name == "RUNNING"]
    dead = [t.number for t in running if _gone(str(t.user_attrs.get("worker", "")))]
    grace = job.grace_period or 2 * int(job.heartbeat_interval or 0)
    if dead:
        log.warning("trial %s: its worker is gone (killed?); the trial is failed and retried "
                    "once its heartbeat is %d s old", ", ".join(map(str, dead[:5])), grace)
    else:
        log.info("waiting for trials %s, run by other workers",
                 ", ".join(str(t.number) for t in running[:5]))
    return True


def _gone(worker: str) -> bool:
    """Whether ``worker`` (``host:pid``, a trial's ``worker`` attribute) is a process of
    this machine that no longer exists."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # someone else's process: alive
    return False


def report(study: Any, total: int, progress: ProgressFn) -> None:
    """Call ``progress(done, total, best)`` from the study's trials (best in the study's
    direction)."""
    trials = study.get_trials(deepcopy=False)
    counts = trial_counts(trials)
    best = best_trial(study)
    progress(min(counts["counted"] - counts["running"], total), total,
             best.value if best is not None else None)


def worker_main(fields: dict[str, Any], coordinator: int | None = None) -> None:
    """Entry point of a spawned worker process; it dies with ``coordinator`` (its parent)."""
    die_with_parent(coordinator)
    job = Job(**fields)
    logging.basicConfig(level=logging.WARNING, format="autodistill worker: %(message)s")
    # the coordinator loaded the same data and teacher before starting this worker and has
    # already shown their warnings (blank labels, a column left out, a teacher at chance)
    for name in ("autodistill.data", "autodistill.training.teachers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    _secrets.remember(job.url)
    _secrets.scrub_logs()
    quiet_optuna(job.quiet)
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # Ctrl-C reaches the coordinator, which forwards it exactly once
    stop = Stop()
    stop.install()
    try:
        dataset, teacher, space = load_inputs(job)
        study = create_study(open_run_storage(job), job.study, seed=sampler_seed(job),
                             startup_trials=job.startup_trials, metric=job.metric)
        work(study, Objective(space, dataset, teacher, job, stop), job, stop)
    except AutodistillError as exc:
        print(f"Error: {_secrets.scrub(str(exc))}", file=sys.stderr)
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
    processes: list[Any] = []
    try:
        for index in range(1, workers):
            fields = {**asdict(job), "worker": index}
            process = context.Process(target=worker_main, args=(fields, os.getpid()))
            process.start()
            processes.append(process)
        _coordinate(study, objective, job, stop, progress, processes)
    finally:
        kill_workers(processes)  # every exit path, an exception's included
    failed = [p.exitcode for p in processes if p.exitcode not in (0, 130, -signal.SIGINT)]
    if failed and not stop.requested:
        log.warning("%d worker process(es) exited with an error (codes %s)", len(failed), failed)


def _fail_orphans(study: Any, processes: list[Any]) -> bool:
    """Fail, as interrupted (so that they do not count), the trials that worker processes
    which died (killed, out of memory) left running; True when there were any."""
    from optuna.trial import TrialState

    dead = {f"{socket.gethostname()}:{p.pid}" for p in processes
            if p.exitcode not in (0, 130, -signal.SIGINT, None)}
    orphans = [t for t in study.get_trials(deepcopy=False)
               if t.state.name == "RUNNING" and t.user_attrs.get("worker") in dead]
    for trial in orphans:
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        study._storage.set_trial_user_attr(
            trial._trial_id, "error", "its worker process died; the command ran another trial")
        study.tell(trial.number, state=TrialState.FAIL)
    return bool(orphans)


def _coordinate(study: Any, objective: Objective, job: Job, stop: Stop,
                progress: ProgressFn | None, processes: list[Any]) -> None:
    """Work here while the spawned ``processes`` work; wait for them; forward a stop."""

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
        if not stop.requested and _fail_orphans(study, processes):
            work(study, objective, job, stop, progress)  # run what the dead workers owed
    except KeyboardInterrupt:  # a second Ctrl-C: stop the workers now
        stop.requested = True
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=10)
    finally:
        stop.forward = None
