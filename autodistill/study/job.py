"""What every trial of a worker shares: the job (what to search, where, how many), the
inputs (data, teacher, space), and the signal handling that stops it cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodistill.store import journal as _journal
from autodistill.store import storage as store
from autodistill.study.queue import STARTUP_TRIALS
from autodistill.training.pipeline import NO_TEACHER

if TYPE_CHECKING:
    pass

__all__ = ["NO_TEACHER", "Interrupted", "Job", "Objective", "ProgressFn", "Stop", "load_inputs",
           "open_run_storage", "quiet_optuna", "sampler_seed"]


ProgressFn = Callable[[int, int, "float | None"], None]


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
    metric: str = "accuracy"  # the objective, on validation (autodistill.metrics.METRICS)
    run_id: str = ""  # the command's: its trials carry it (user attribute "run")
    trials_before: int = 0  # the study's trials when the command began (seeds the sampler)


class Objective:
    """What every trial of a worker shares: the space, the data, the teacher, the job."""

    def __init__(self, space: Any, dataset: Any, teacher: Any, job: Job, stop: Stop) -> None:
        self.space, self.dataset, self.teacher, self.job, self.stop = space, dataset, teacher, job, stop
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        #: The kinds of trial failure already warned of (by component, or by message).
        self.failures_told: set[str] = set()


def load_inputs(job: Job, before_teacher: Callable[[Any], None] | None = None,
                ) -> tuple[Any, Any, Any]:
    """The dataset, the teacher's outputs (cached on disk; None for the teacher ``none``)
    and the space of ``job``; ``before_teacher(dataset)`` runs before the teacher is
    trained or loaded (a check that can refuse the run without that cost).

    Raises:
        SpaceError: the teacher is ``none`` but the space has pipelines that use one.
    """
    from autodistill.data.dataset import load_dataset
    from autodistill.errors import SpaceError
    from autodistill.study.space_files import load_space
    from autodistill.training.requirements import run_offers
    from autodistill.training.students import check_student_fits
    from autodistill.training.teachers import get_teacher

    dataset = load_dataset(job.data, target=job.target, split_seed=job.split_seed)
    check_student_fits(job.student, dataset.n_features, dataset.n_classes)  # before the teacher
    if before_teacher is not None:
        before_teacher(dataset)
    if job.teacher == NO_TEACHER:
        space = load_space(job.space, has_hidden=False)
        if space.uses_teacher:
            raise SpaceError(f"--teacher {NO_TEACHER}: space '{space.name}' has pipelines that "
                             "use a teacher; pass --space plain (or a teacher)")
        return dataset, None, space
    teacher = get_teacher(job.teacher, dataset)
    space = load_space(job.space, has_hidden=teacher.hidden is not None,
                       labels_new_rows=teacher.module is not None,
                       offers=run_offers(teacher, job.student))
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


def sampler_seed(job: Job) -> int:
    """The sampler seed of ``job``'s worker: distinct per worker, per resumption (a resumed
    study must not draw its first run's random trials again) and per process on
    PostgreSQL."""
    seed = job.seed + 7919 * job.worker + 104729 * job.trials_before
    if store.is_postgres(job.url):
        seed += os.getpid()  # commands on several machines must not draw the same trials
    return seed % (2**32)
