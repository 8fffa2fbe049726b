"""Progress on stderr for the commands: a rich display in a terminal, plain lines elsewhere.

The library reports :class:`~autodistill.progress.ProgressEvent` s; this module renders
them. In a terminal each task (teacher, distill, search, evaluate, build-kb) gets a bar
with its count, latest figures and ETA, removed when the command ends. Outside one
(``nohup``, a pipe, CI) it writes one line per finished trial or task, and one when a
teacher or a student finishes training; work that runs on without finishing one (a
population of trials trained together, a long teacher) gets a line of where it stands at
most every :data:`HEARTBEAT_SECONDS`, so a log shows it is alive. ``--quiet`` shows
nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from autodistill.progress import ProgressEvent, listening

__all__ = ["show_progress"]

_EVERY_UNIT = ("trial", "task")  # plain mode: a line for each of these, else at the end
#: Plain mode: the least time between two lines about the same unfinished task.
HEARTBEAT_SECONDS = 60.0


def _figures(event: ProgressEvent) -> str:
    shown = []
    for key, value in event.fields.items():
        if value is None:
            continue
        shown.append(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}")
    return ", ".join(shown)


class _PlainView:
    """One line per finished trial/task, one at the end of an epoch loop, and one about an
    epoch loop still running when nothing was said of it for :data:`HEARTBEAT_SECONDS`."""

    def __init__(self, clock: Any = time.perf_counter) -> None:
        self.clock = clock
        self.started = clock()
        self.last_line: dict[str, float] = {}

    def __call__(self, event: ProgressEvent) -> None:
        now = self.clock()
        count = f"{event.done}/{event.total}" if event.total is not None else str(event.done)
        if event.unit in _EVERY_UNIT:
            head = f"{event.task}: {event.unit} {count} finished"
        elif event.total is not None and event.done >= event.total:
            head = f"{event.task}: {event.message or 'done'}"
        elif now - self.last_line.get(event.task, self.started) >= HEARTBEAT_SECONDS:
            head = f"{event.task}: {event.unit} {count}"
        else:
            return
        self.last_line[event.task] = now
        parts = [head, event.message if event.unit in _EVERY_UNIT else "", _figures(event),
                 f"at {now - self.started:.1f} s"]
        print("autodistill: " + "; ".join(p for p in parts if p), file=sys.stderr, flush=True)


class _RichView:
    """A transient rich progress display on stderr, one bar per task."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
            TextColumn("{task.fields[figures]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), transient=True,
        )
        self.ids: dict[str, Any] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if event.task not in self.ids:
            self.ids[event.task] = self.bars.add_task(event.task, total=event.total,
                                                      figures="")
        self.bars.update(self.ids[event.task], completed=event.done, total=event.total,
                         description=f"{event.task} ({event.unit}s)", figures=_figures(event))


@contextmanager
def show_progress(quiet: bool = False) -> Iterator[None]:
    """Render the library's progress reports on stderr for the ``with`` block."""
    if quiet:
        yield
        return
    if not sys.stderr.isatty():
        with listening(_PlainView()):
            yield
        return
    view = _RichView()
    view.bars.start()
    try:
        with listening(view):
            yield
    finally:
        view.bars.stop()
