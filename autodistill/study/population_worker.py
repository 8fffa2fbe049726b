"""Trials trained as a population: ask Optuna for K trials, train them at once, tell each.

Optuna's own heartbeat thread runs only inside ``study.optimize``; trials made with
``study.ask()`` get theirs from :class:`Heartbeats`, one thread recording a heartbeat for
every member trial still running, every heartbeat interval, on storages that have
heartbeats (RDB storages built with ``heartbeat_interval``). So when a worker dies (even
by SIGKILL), its trials' heartbeats stop, and the next worker's
``optuna.storages.fail_stale_trials`` fails them and the retry callback queues them again,
as for single trials. Every trial asked here is told before this module lets go of it,
whatever happens: a result, pruned, failed, or (Ctrl-C, a second Ctrl-C) failed with
``interrupted`` set, so that no trial is left RUNNING and the same command resumes.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from autodistill.errors import AutodistillError, ComponentError, environment_error

if TYPE_CHECKING:
    from autodistill.study.job import Objective

__all__ = ["Heartbeats", "default_population", "train_trials"]

log = logging.getLogger(__name__)

#: Members per population on the CPU: the bulk of the batched speed-up (see
#: ``benchmarks/bench_population.py``) while a 50-trial study still gives TPE several
#: rounds of results to model.
CPU_POPULATION = 8
#: Members per population on a GPU, where wide batches cost little more than narrow ones.
GPU_POPULATION = 32


def default_population() -> int:
    """:data:`GPU_POPULATION` when CUDA is available, else :data:`CPU_POPULATION`."""
    import torch

    return GPU_POPULATION if torch.cuda.is_available() else CPU_POPULATION


class Heartbeats:
    """Record a heartbeat for each running trial, every interval, in one daemon thread.

    A no-op when the study's storage has no heartbeat.
    """

    def __init__(self, study: Any) -> None:
        from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled

        storage = study._storage
        self.storage = storage if (isinstance(storage, BaseHeartbeat)
                                   and is_heartbeat_enabled(storage)) else None
        self.ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, trial_id: int) -> None:
        """Start beating for ``trial_id`` (one beat at once)."""
        if self.storage is None:
            return
        with self._lock:
            self.ids.add(trial_id)
        self.storage.record_heartbeat(trial_id)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="autodistill-heartbeat",
                                            daemon=True)
            self._thread.start()

    def discard(self, trial_id: int) -> None:
        """Stop beating for ``trial_id`` (it was told)."""
        with self._lock:
            self.ids.discard(trial_id)

    def _run(self) -> None:
        interval = float(self.storage.get_heartbeat_interval())
        while not self._stop.wait(interval):
            with self._lock:
                ids = sorted(self.ids)
            for trial_id in ids:
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception as exc:  # noqa: BLE001 - a missed beat is retried next time
                    log.warning("heartbeat of trial %d not recorded: %s", trial_id, exc)

    def close(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def ask(study: Any, k: int) -> list[Any]:
    """``k`` new trials (queued ones first), without Optuna's experimental-feature noise."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # Optuna warns that heartbeats need optimize(); Heartbeats records them instead.
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
        return [study.ask() for _ in range(k)]


def train_trials(study: Any, trials: Sequence[Any], objective: Objective,
                 heartbeats: Heartbeats) -> None:
    """Sample each trial's pipeline, train them together, and tell every trial its result.

    Per-epoch validation accuracy is reported per trial, and each is pruned on its own.
    """
    from autodistill.training.engine import Member, train_population

    job, stop = objective.job, objective.stop
    for trial in trials:
        heartbeats.add(trial._trial_id)
    untold = {trial.number: trial for trial in trials}
    started = time.perf_counter()
    try:
        live, members = [], []
        for trial in trials:
            trial.set_user_attr("worker", objective.worker_id)
            trial.set_user_attr("run", job.run_id)
            trial.set_user_attr("population", len(trials))
            try:
                pipeline = objective.space.sample(trial)
            except AutodistillError as exc:
                _tell(study, trial, exc, objective, started)
                untold.pop(trial.number)
                continue
            # What the trial trains with: the recipe's "auto" settings resolved.
            n_train = len(objective.dataset.y_train)
            trial.set_user_attr("pipeline", pipeline.for_rows(n_train).to_dict())
            live.append(trial)
            members.append(Member(pipeline, job.seed, metric=job.metric))
        outcomes = train_population(members, objective.dataset, objective.teacher,
                                    student=job.student,
                                    on_epoch=_reporter(live, job.prune, stop, job.metric))
        for trial, outcome in zip(live, outcomes, strict=True):
            _tell(study, trial, outcome, objective, started)
            untold.pop(trial.number)
            heartbeats.discard(trial._trial_id)
    except KeyboardInterrupt:
        from autodistill.study.job import Interrupted

        for trial in list(untold.values()):
            _tell(study, trial, Interrupted("interrupted"), objective, started)
        raise
    except Exception as exc:
        for trial in list(untold.values()):
            _tell(study, trial, exc, objective, started)
        if not isinstance(exc, AutodistillError):
            raise
    finally:
        for trial in trials:
            heartbeats.discard(trial._trial_id)


def _reporter(trials: Sequence[Any], prune: bool, stop: Any, metric: str = "accuracy") -> Any:
    """``on_epoch`` for :func:`~autodistill.training.engine.train_population`: report, prune, stop.

    Without pruning nothing is reported per epoch (each report is a database commit,
    which on SQLite costs more than a small student's epoch); the validation curve is
    stored once, as the ``history`` user attribute, when the trial is told. The engine
    hands over each epoch's validation accuracy; a study that minimises its metric
    (``log_loss``) is reported the validation error ``1 - accuracy`` instead, so that
    the pruner compares intermediate values in the study's direction.

    The population's furthest epoch goes to :mod:`autodistill.progress` as it advances
    (a search's trials finish together, so on a large table the display would otherwise
    stand still for minutes; a terminal shows it, plain output does not).
    """
    import optuna

    from autodistill import progress
    from autodistill.metrics import get_metric
    from autodistill.study.job import Interrupted

    maximize = get_metric(metric).maximize
    furthest = 0

    def on_epoch(member: int, epoch: int, accuracy: float) -> None:
        nonlocal furthest
        if stop.requested:
            raise Interrupted("stopped by a signal")
        if epoch + 1 > furthest:
            furthest = epoch + 1
            progress.report("population", furthest, None, "epoch", trials=len(trials))
        if not prune:
            return
        trial = trials[member]
        trial.report(accuracy if maximize else 1.0 - accuracy, epoch)
        if _asks_the_pruner(epoch) and trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} (validation {accuracy:.4f})")

    return on_epoch


def _asks_the_pruner(epoch: int) -> bool:
    """Whether the pruner is asked at ``epoch``: every epoch up to 20, then every
    ``epoch // 10``-th (42 asks in the first 100 epochs, 132 in 1,000).

    Every epoch is still reported, so the median compares like steps; only the asking
    thins out. Each ask reads every running trial with all its intermediate values from
    the storage (Optuna's pruners list the study's trials first), so asking every epoch
    costs the square of the epochs: a six-trial kb2 search on iris spent 103 of its 192
    seconds there."""
    return epoch < 20 or epoch % (epoch // 10) == 0


def _tell(study: Any, trial: Any, outcome: Any, objective: Objective, started: float) -> None:
    """Store ``outcome`` (a result or the exception that stopped the member) and tell it."""
    import optuna

    state, value, attrs = _verdict(outcome, objective)
    if state.name == "FAIL" and "interrupted" not in attrs:
        # A warning for the first failure of each kind (a plugin that always raises fails
        # every trial that draws it): the user learns at once, without a flood. A database
        # that refuses writes is no trial's fault: the command stops with its own line.
        kind = attrs.get("failed_component", attrs["error"])
        told = kind in objective.failures_told or (
            isinstance(outcome, BaseException) and environment_error(outcome) is not None)
        log.log(logging.INFO if told else logging.WARNING,
                "trial %d failed: %s; the study goes on (`autodistill studies export` lists "
                "each failed trial's error)", trial.number, attrs["error"])
        objective.failures_told.add(kind)
    seconds = getattr(outcome, "seconds", None)
    attrs["seconds"] = round(seconds if seconds is not None else time.perf_counter() - started, 4)
    try:
        for key, item in attrs.items():
            trial.set_user_attr(key, item)
        study.tell(trial, value, state=state)
    except optuna.exceptions.UpdateFinishedTrialError:
        # Failed meanwhile as stale by another worker (and retried): nothing to tell.
        log.warning("trial %d was finished by another worker", trial.number)


def _verdict(outcome: Any, objective: Objective) -> tuple[Any, float | None, dict[str, Any]]:
    """The state, value and user attributes a member's outcome gives its trial."""
    import optuna
    from optuna.trial import TrialState

    from autodistill.study.job import Interrupted
    from autodistill.training.engine import NonFiniteLossError

    if isinstance(outcome, Interrupted):
        objective.stop.requested = True
        return TrialState.FAIL, None, {
            "interrupted": True, "error": "interrupted; run the same command again to resume"}
    if isinstance(outcome, optuna.TrialPruned):
        return TrialState.PRUNED, None, {}
    if isinstance(outcome, NonFiniteLossError):
        return TrialState.PRUNED, None, {"error": str(outcome)}
    if isinstance(outcome, BaseException):
        attrs = {"error": str(outcome)}
        if isinstance(outcome, ComponentError):
            attrs["failed_component"] = f"{outcome.family}:{outcome.component}"
        return TrialState.FAIL, None, attrs
    from autodistill.store.record import METRICS_ATTR

    metric = objective.job.metric
    value = (outcome.valid_accuracy if metric == "accuracy"  # the engine's own figure
             else outcome.valid_metrics[metric])
    return TrialState.COMPLETE, value, {
        METRICS_ATTR: {"valid": _rounded(outcome.valid_metrics),
                       "test": _rounded(outcome.test_metrics)},
        "test_accuracy": outcome.test_accuracy, "macro_f1": outcome.macro_f1,
        "teacher_agreement": outcome.teacher_agreement, "epochs_run": outcome.epochs_run,
        "history": [round(value, 6) for value in outcome.history]}


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {name: round(float(value), 6) for name, value in scores.items()}
