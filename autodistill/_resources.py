"""What this machine can afford: usable cores, available memory, and checks against them.

Everything that allocates in proportion to a user's number (``--workers``, a student's
widths, a dataset's rows and columns) asks here first, so that a typo becomes a one-line
error naming the number instead of a machine brought down by the OOM killer.

Memory is ``MemAvailable`` from ``/proc/meminfo`` (Linux), bounded by the cgroup's limit
when one is set, else ``os.sysconf`` free pages; ``None`` when it cannot be known (then
no memory check refuses anything).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = [
    "WORKER_BYTES",
    "usable_cpus",
    "available_memory",
    "cap_workers",
    "check_fits",
    "human_bytes",
]

log = logging.getLogger(__name__)

#: What one spawned search worker holds (Python, torch, the dataset and teacher outputs):
#: measured at 350-450 MB RSS on small tasks, rounded up.
WORKER_BYTES = 600 * 2**20
#: A refusal leaves this share of the available memory to everything else.
_HEADROOM = 0.8


def usable_cpus() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cgroup_room() -> int | None:
    """Bytes left under the cgroup v2 memory limit, or None when there is no limit."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((base / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes of memory that can be allocated without swapping, or None when unknown."""
    found = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        found = None
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            found = None
    room = _cgroup_room()
    if room is not None:
        found = room if found is None else min(found, room)
    return found


def human_bytes(n: float) -> str:
    """``n`` bytes as ``12.3 GB`` (decimal units, as people read them)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def cap_workers(requested: int, trials: int, *, per_worker: int = WORKER_BYTES) -> int:
    """``requested`` worker processes, capped by the owed ``trials``, the usable cores and
    the memory available at ``per_worker`` bytes each; a warning says why when it caps."""
    cpus = usable_cpus()
    memory = available_memory()
    by_memory = max(1, int(memory * _HEADROOM // per_worker)) if memory is not None else requested
    allowed = max(1, min(requested, cpus, by_memory, max(trials, 1)))
    if allowed < requested:
        reasons = [f"{cpus} usable cores"]
        if memory is not None:
            reasons.append(f"{human_bytes(memory)} available memory at about "
                           f"{human_bytes(per_worker)} a worker allows {by_memory}")
        reasons.append(f"{trials} trials owed")
        log.warning("--workers %d capped to %d (%s)", requested, allowed, "; ".join(reasons))
    return allowed


def check_fits(nbytes: float, what: str, hint: str, error: type[Exception]) -> None:
    """Raise ``error`` when ``nbytes`` would not fit in the available memory.

    Args:
        nbytes: Estimated bytes the allocation needs.
        what: What allocates, for the message (``"--student mlp:65536,65536"``).
        hint: What to do instead (``"use narrower layers"``).
        error: The :class:`~autodistill.errors.AutodistillError` subclass to raise.
    """
    memory = available_memory()
    if memory is not None and nbytes > memory * _HEADROOM:
        raise error(f"{what} needs about {human_bytes(nbytes)} of memory but "
                    f"{human_bytes(memory)} is available; {hint}")
