"""One way to read what the installed components declare, cheap when it can be.

Kept apart from :mod:`~autodistill.registry.catalog` (the snapshot) and
:mod:`~autodistill.registry.manager` (the plugins, which import torch) so that neither
imports the other's caller: this module reads the snapshot, and loads the plugins only
when no snapshot matches.
"""

from __future__ import annotations

import sys
from typing import Any

from autodistill.registry.catalog import memoised_snapshot

__all__ = ["get_catalog"]


def get_catalog() -> Any:
    """What the installed components declare: the live registry once loaded, otherwise a
    matching snapshot (read once per process), otherwise the registry (loading the
    plugins).

    The result answers ``names(family)`` and ``get(family, name)``; ``get`` returns a
    :class:`~autodistill.registry.catalog.Declared` (``name``, ``params``,
    ``uses_teacher``, ``uses_hidden``, ...).
    """
    # The manager imports the components (and torch): unimported, no plugin is loaded.
    manager = sys.modules.get("autodistill.registry.manager")
    live = manager.loaded_registry() if manager is not None else None
    if live is not None:
        return live
    snapshot = memoised_snapshot()
    if snapshot is not None:
        return snapshot
    from autodistill.registry.manager import get_registry

    return get_registry()
