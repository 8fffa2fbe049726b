"""Progress of long work, as events for whoever listens; the library never renders.

Long loops (the ``auto`` teacher's epochs, a student's epochs, search trials, the
recommender's evaluation, the knowledge-base build) call :func:`report`. With no
listener that is a ``logging`` debug line and nothing else. The command line installs a
listener with :func:`listening` and draws a rich progress display in a terminal, or
writes one plain line per finished trial or task elsewhere (see
``autodistill/cli/progress_view.py``); Python users can install their own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ProgressEvent", "report", "listening"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long task.

    Attributes:
        task: What runs: ``teacher``, ``distill``, ``search``, ``evaluate``, ``build-kb``.
        done: Units finished so far (epochs, trials, tasks).
        total: Units expected, or ``None`` when unknown.
        unit: What a unit is (``epoch``, ``trial``, ``task``).
        message: A short description of the unit that just finished (may be empty).
        fields: Figures worth showing (e.g. ``{"best": 0.93}``).
    """

    task: str
    done: int
    total: int | None
    unit: str
    message: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


_LISTENERS: list[Callable[[ProgressEvent], None]] = []


def report(task: str, done: int, total: int | None, unit: str, message: str = "",
           **fields: Any) -> None:
    """Tell the listeners that one more ``unit`` of ``task`` finished. A listener that
    raises is dropped with a warning: progress never stops the work."""
    event = ProgressEvent(task, int(done), None if total is None else int(total), unit,
                          message, fields)
    log.debug("%s: %s %d/%s %s", task, unit, event.done, event.total, message)
    for listener in list(_LISTENERS):
        try:
            listener(event)
        except Exception as exc:  # noqa: BLE001 - a display must not break a run
            log.warning("progress display failed (%s); continuing without it", exc)
            _LISTENERS.remove(listener)


@contextmanager
def listening(listener: Callable[[ProgressEvent], None]) -> Iterator[None]:
    """Send every :func:`report` to ``listener`` inside the ``with`` block."""
    _LISTENERS.append(listener)
    try:
        yield
    finally:
        if listener in _LISTENERS:
            _LISTENERS.remove(listener)
