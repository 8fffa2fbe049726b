"""Worker processes never outlive the search that started them.

A spawned worker calls :func:`die_with_parent` first thing: on Linux the kernel sends it
SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``), whatever killed the parent,
SIGKILL included; everywhere a watchdog thread also checks every half second that the
parent is still its parent and exits the process when it is not. The coordinator calls
:func:`kill_workers` on every way out of its loop (normal end, an exception, a second
Ctrl-C), so no worker is left running when it returns either.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any

__all__ = ["die_with_parent", "kill_workers"]

_PR_SET_PDEATHSIG = 1
_WATCH_SECONDS = 0.5


def _set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while True:
        time.sleep(_WATCH_SECONDS)
        if os.getppid() != parent:
            os._exit(137)  # orphaned: no cleanup can matter, and none may block


def die_with_parent(parent: int | None) -> None:
    """Make this process end when ``parent`` (the process that started it) ends.

    Call it first in a child process. If the parent is already gone (it died while the
    child started) the child exits at once.
    """
    if parent is None:
        return
    _set_parent_death_signal()
    if os.getppid() != parent:  # it died before the death signal was armed
        os._exit(137)
    threading.Thread(target=_watch, args=(parent,), name="autodistill-parent-watch",
                     daemon=True).start()


def kill_workers(processes: list[Any], grace: float = 5.0) -> None:
    """End every still-running ``multiprocessing.Process`` of ``processes`` and reap it:
    SIGTERM, then SIGKILL for any still alive after ``grace`` seconds."""
    alive = [p for p in processes if p.is_alive()]
    for process in alive:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.terminate()
    deadline = time.monotonic() + grace
    for process in alive:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
    for process in alive:
        if process.is_alive():
            with contextlib.suppress(OSError, ValueError, AttributeError):
                process.kill()
            process.join(timeout=5)
