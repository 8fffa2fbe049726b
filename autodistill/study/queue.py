"""What a study queues and counts: the sampler, the study itself, the presets and
enqueued pipelines, and which trials count towards ``--trials``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autodistill.training.pipeline import Pipeline

__all__ = [
    "PRESETS_RUN_LAST", "STARTUP_TRIALS", "best_trial", "create_study", "enqueue_pipelines", "make_sampler",
    "missing_presets", "params_in", "preset_pipelines",
    "queue_presets_when_due", "trial_counts", "uncounted",
]

log = logging.getLogger(__name__)


#: Random trials before TPE models the study (Optuna's default), unless trials were queued.
STARTUP_TRIALS = 10


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
                 startup_trials: int = STARTUP_TRIALS, metric: str = "accuracy") -> Any:
    """Create or load the study ``name``: ``metric``'s direction (maximise, but minimise
    ``log_loss``), :func:`make_sampler`, median pruning."""
    import optuna

    from autodistill.metrics import get_metric

    sampler = make_sampler(seed, startup_trials)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10)
    return optuna.create_study(storage=storage, study_name=name,
                               direction=get_metric(metric).direction,
                               sampler=sampler, pruner=pruner, load_if_exists=True)


def best_trial(study: Any) -> Any:
    """The study's best completed trial in its direction (the first on ties), or None."""
    complete = [t for t in study.get_trials(deepcopy=False)
                if t.state.name == "COMPLETE" and t.value is not None]
    if not complete:
        return None
    sign = -1.0 if study.direction.name == "MINIMIZE" else 1.0
    return max(complete, key=lambda t: (sign * t.value, -t.number))


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


#: The presets a warm-started study runs as its last trials.
PRESETS_RUN_LAST = ("plain", "hinton")


def preset_pipelines() -> list[Any]:
    """The presets ``plain`` and ``hinton``, the baselines every study runs."""
    from autodistill.training.pipeline import PRESETS, Pipeline

    return [Pipeline.from_dict(PRESETS[name], source=f"preset '{name}'")
            for name in PRESETS_RUN_LAST]


def queue_presets_when_due(study: Any, space: Any, trials: int, counts: dict[str, int]) -> int:
    """Enqueue the presets the study does not hold once no more trials than they are
    remain owed (a warm-started study runs them last); return how many were queued.

    Call it under the study lock, like :func:`enqueue_pipelines`.
    """
    room = trials - counts["counted"] - counts["waiting"]
    if not 0 < room <= len(PRESETS_RUN_LAST):  # the common case: no need to read the trials
        return 0
    missing = missing_presets(study, space)
    if not missing or room > len(missing):
        return 0
    return enqueue_pipelines(study, missing, space, limit=room)


def missing_presets(study: Any, space: Any) -> list[Any]:
    """The presets (as ``space`` can represent them) that ``study`` does not hold yet: a
    warm start whose picks include a preset runs only the others last."""
    held = _held_params(study)
    return [p for p in preset_pipelines()
            if (params := params_in(space, p)) is not None and params not in held]


def _held_params(study: Any) -> list[dict[str, Any]]:
    """The params of every trial the study holds (waiting, running or finished), except
    trials that were interrupted or retried."""
    trials = study.get_trials(deepcopy=False)
    skipped = uncounted(trials)
    return [dict(t.system_attrs.get("fixed_params") or t.params) for t in trials
            if t.number not in skipped]


def params_in(space: Any, pipeline: Any) -> dict[str, Any] | None:
    """``pipeline`` as the trial params of ``space``, or None (logged) when the space
    cannot express it."""
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
        space: The study's :class:`~autodistill.study.space.Space`; by default, the one named in
            the study's ``autodistill`` attribute.
        limit: Queue at most this many.
    """
    from autodistill.study.space_files import load_space

    if space is None:
        from autodistill.store.record import read_study_record

        record = read_study_record(study)
        space = load_space(record.space if record else "default")
    held = _held_params(study)
    queued = 0
    for pipeline in pipelines:
        if limit is not None and queued >= limit:
            break
        params = params_in(space, pipeline)
        if params is not None and params not in held:
            study.enqueue_trial(params)
            held.append(params)
            queued += 1
    return queued
