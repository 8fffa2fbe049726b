"""Locks and journal mode: how several workers share one study safely.

* :class:`StudyLock` serialises "count the trials, then start one" among the workers of a
  study: a PostgreSQL advisory lock (workers on many machines), or an ``flock`` on a file
  under the cache dir (SQLite, journal).
* Journal mode: local workers on a SQLite study never write the SQLite file concurrently
  (Optuna advises against it: "database is locked", optuna#820). They share an Optuna
  ``JournalStorage`` file next to it (:func:`journal_path`), seeded with the study's
  trials (:func:`mirror_to_journal`) and merged back when they finish
  (:func:`merge_journal`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from autodistill._locks import file_lock, lock_path
from autodistill.errors import StorageError
from autodistill.store.storage import get_engine, is_postgres, is_sqlite, storage_error

__all__ = [
    "StudyLock",
    "journal_path",
    "journal_owner_lock",
    "search_lock",
    "journal_count_lock",
    "open_journal",
    "mirror_to_journal",
    "merge_journal",
]

log = logging.getLogger(__name__)

#: Marks a journal trial with the canonical trial it mirrors.
ORIGIN_ATTR = "autodistill_origin"


class StudyLock:
    """Serialises "count the trials, then start one" among the workers of one study.

    PostgreSQL: a transaction-level advisory lock (workers may be on other machines).
    SQLite or a journal: an exclusive ``flock`` on ``lock_file`` (default: a file under the
    cache dir named after the database and study). Other databases: no lock.
    :meth:`release` may be called early (the search releases it as soon as its trial
    exists) and more than once.
    """

    def __init__(self, url: str, study_name: str, lock_file: Path | None = None) -> None:
        self.url = url
        if lock_file is None and is_sqlite(url):
            database = make_url(url).database
            if database and database != ":memory:":
                lock_file = lock_path(f"{Path(database).resolve()}:{study_name}")
        self.lock_file = lock_file
        digest = hashlib.sha256(f"autodistill:{study_name}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self._held: Any = None

    def acquire(self) -> None:
        """Block until this process holds the lock."""
        if self._held is not None:
            return
        if self.lock_file is not None:
            try:
                import fcntl
            except ImportError:  # Windows: no lock; one local worker is the safe choice
                self._held = True
                return
            self.lock_file.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.lock_file, "a")  # noqa: SIM115 - closed in release()
            fcntl.flock(handle, fcntl.LOCK_EX)
            self._held = handle
        elif is_postgres(self.url):
            try:
                conn = get_engine(self.url).connect()
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.key})
            except SQLAlchemyError as exc:
                raise storage_error(self.url, exc) from None
            self._held = conn
        else:
            self._held = True

    def release(self) -> None:
        """Let the next worker in (a no-op when not held)."""
        held, self._held = self._held, None
        if held is None or held is True:
            return
        if hasattr(held, "rollback"):  # ending the transaction ends the advisory lock
            with contextlib.suppress(SQLAlchemyError):
                held.rollback()
                held.close()
        else:
            import fcntl

            fcntl.flock(held, fcntl.LOCK_UN)
            held.close()

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _slug(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:40]
    return f"{clean}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def journal_path(url: str, study_name: str) -> Path:
    """The journal file that local workers share for ``study_name`` on a SQLite ``url``.

    Raises:
        StorageError: for an in-memory database.
    """
    database = make_url(url).database
    if not database or database == ":memory:":
        raise StorageError("--workers > 1 needs a SQLite file or PostgreSQL, not :memory:")
    db = Path(database)
    return db.with_name(f"{db.name}.{_slug(study_name)}.journal")


@contextlib.contextmanager
def search_lock(url: str, study_name: str, workers: bool) -> Iterator[None]:
    """Held for a whole search on a SQLite study file: shared by searches in one process
    each (they cooperate through the database), exclusive by a ``--workers`` run (its
    workers write a journal that other searches cannot see until it is merged back, so
    the two would each run the whole budget).

    Raises:
        StorageError: when the other kind holds it.
    """
    from autodistill.store.storage import mask_url

    database = make_url(url).database
    if make_url(url).get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        yield
        return
    key = f"search:{Path(database).resolve()}:{study_name}"
    with file_lock(lock_path(key), blocking=False, shared=not workers) as held:
        if not held:
            raise StorageError(
                f"another `autodistill search{'' if workers else ' --workers'}` is running "
                f"study '{study_name}' on {mask_url(url)}; "
                + ("a --workers search needs a SQLite study to itself: wait for it, drop "
                   "--workers to share the work with it, or use PostgreSQL" if workers else
                   "wait for it, or use PostgreSQL to let several searches cooperate"))
        yield


def journal_owner_lock(path: Path) -> contextlib.AbstractContextManager[bool]:
    """Held by the process that owns a journal run; yields False when another holds it."""
    return file_lock(lock_path(f"owner:{path.resolve()}"), blocking=False)


def journal_count_lock(path: Path) -> Path:
    """The lock file the journal's workers take to count trials (see :class:`StudyLock`)."""
    return lock_path(f"count:{path.resolve()}")


def open_journal(path: Path) -> Any:
    """Optuna's ``JournalStorage`` on the file ``path``."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        backend = JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
        return optuna.storages.JournalStorage(backend)


def _copy(trial: Any, **changes: Any) -> Any:
    import optuna

    fields = {
        "state": trial.state, "values": trial.values, "params": trial.params,
        "distributions": trial.distributions, "user_attrs": dict(trial.user_attrs),
        "system_attrs": dict(trial.system_attrs),
        "intermediate_values": dict(trial.intermediate_values),
    }
    completed = changes.pop("datetime_complete", trial.datetime_complete)
    fields.update(changes)
    frozen = optuna.trial.create_trial(**fields)
    frozen.datetime_start = trial.datetime_start
    frozen.datetime_complete = completed if fields["state"].is_finished() else None
    return frozen


def mirror_to_journal(canonical: Any, journal: Any) -> int:
    """Copy the canonical study's finished and waiting trials into the journal study.

    Each copy remembers its canonical trial (system attr ``autodistill_origin``), so
    :func:`merge_journal` adds back only what the workers did. Returns the number of
    canonical trials still running elsewhere (they count towards the requested total).
    """
    import optuna

    running = 0
    for trial in canonical.get_trials(deepcopy=False):
        if trial.state == optuna.trial.TrialState.RUNNING:
            running += 1
            continue
        system_attrs = {**trial.system_attrs, ORIGIN_ATTR: trial._trial_id}
        journal.add_trial(_copy(trial, system_attrs=system_attrs))
    return running


def merge_journal(path: Path, canonical: Any) -> int:
    """Add what the journal's workers did to the canonical (SQLite) study; delete the journal.

    A trial still running in the journal belonged to a worker that died: it is stored as
    failed with ``interrupted`` set (it does not count towards the requested total). A
    canonical trial that was waiting and ran in the journal gets the journal's result.
    Returns the number of trials added or completed.
    """
    import optuna

    State = optuna.trial.TrialState
    if not path.exists():
        return 0
    try:
        journal = optuna.load_study(study_name=canonical.study_name, storage=open_journal(path))
    except KeyError:
        path.unlink(missing_ok=True)
        return 0
    merged = 0
    target = canonical._storage
    for trial in journal.get_trials(deepcopy=False):
        attrs = {k: v for k, v in trial.system_attrs.items() if k != ORIGIN_ATTR}
        origin = trial.system_attrs.get(ORIGIN_ATTR)
        if origin is not None:
            if not trial.state.is_finished():
                continue
            try:
                existing = target.get_trial(origin)
            except KeyError:
                existing = None
            if existing is not None and existing.state != State.WAITING:
                continue  # a copy of a finished canonical trial
            if existing is not None and target.set_trial_state_values(origin, State.RUNNING):
                _fill(target, origin, trial)
                merged += 1
                continue
        if trial.state == State.RUNNING:
            canonical.add_trial(_copy(
                trial, state=State.FAIL, values=None, system_attrs=attrs,
                user_attrs={**trial.user_attrs, "interrupted": True,
                            "error": "the worker process stopped before the trial finished"},
                datetime_complete=datetime.now(),
            ))
        else:
            canonical.add_trial(_copy(trial, system_attrs=attrs))
        merged += 1
    path.unlink(missing_ok=True)
    log.info("merged %d trials from %s", merged, path)
    return merged


def _fill(storage: Any, trial_id: int, trial: Any) -> None:
    """Write a finished journal trial's results into a canonical trial that is RUNNING."""
    for name, dist in trial.distributions.items():
        storage.set_trial_param(trial_id, name, dist.to_internal_repr(trial.params[name]), dist)
    for step, value in trial.intermediate_values.items():
        storage.set_trial_intermediate_value(trial_id, step, value)
    for key, value in trial.user_attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
    storage.set_trial_state_values(trial_id, trial.state, trial.values)
