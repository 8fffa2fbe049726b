"""What the installed components declare, readable without importing them.

Validating a pipeline, sampling a search space and encoding candidates for the
recommender need only each component's name and parameter declarations, not its code;
but the code (every built-in and third-party plugin) imports torch, which alone takes
longer than a whole cached ``autodistill recommend``. So each time the plugins are
loaded, :mod:`autodistill.registry.manager` writes a *snapshot* of their declarations to the
cache directory, keyed by a signature of the plugin environment: autodistill's version
and the built-in plugin files, the ``autodistill`` entry points with their
distributions' versions, and ``AUTODISTILL_PLUGINS``. :func:`get_catalog` returns the
live registry when it is loaded, else a snapshot whose signature matches, else loads the
plugins. An editable (``pip install -e``) plugin distribution has no trustworthy
version, so it always loads its code.

The snapshot is JSON (never pickled); a missing, unreadable or stale one only costs the
plugin import.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from autodistill._stamps import module_stamps
from autodistill.errors import PipelineError
from autodistill.families import FAMILIES
from autodistill.params import Param, param_from_dict
from autodistill.paths import write_atomically

__all__ = [
    "ComponentDeclaration", "Catalog", "EvidenceFile", "Declared", "forget", "lookup",
    "memoised_snapshot", "read_snapshot", "write_snapshot",
]

log = logging.getLogger(__name__)

#: Built-in component modules, registered exactly as entry points are.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "autodistill.plugins.kd_losses",
    "autodistill.plugins.mi_objectives",
    "autodistill.plugins.augmentations",
    "autodistill.plugins.curricula",
    "autodistill.plugins.progress_curricula",
    "autodistill.plugins.mist",
    "autodistill.plugins.mutual",
    "autodistill.plugins.layer_mapping",
    "autodistill.plugins.students",
)
#: The entry-point group third-party plugins register under.
ENTRY_POINT_GROUP = "autodistill"
#: Bumped when the snapshot's layout changes.
SNAPSHOT_FORMAT = 3
#: Library modules whose code shapes a declaration, besides the plugins themselves.
_SHAPING_MODULES = ("autodistill.params", "autodistill.components", "autodistill.registry.manager")


class Declared(Protocol):
    """What a component declares: the part of a registered component that validation,
    search spaces and the recommender read."""

    name: str
    family: str
    plugin: str

    @property
    def params(self) -> dict[str, Param]: ...  # noqa: D102

    @property
    def uses_teacher(self) -> bool: ...  # noqa: D102

    @property
    def uses_hidden(self) -> bool: ...  # noqa: D102

    @property
    def requires(self) -> tuple[str, ...]: ...  # noqa: D102


@dataclass(frozen=True)
class ComponentDeclaration:
    """One component as a snapshot records it."""

    name: str
    family: str
    plugin: str
    distribution: str | None
    summary: str
    params: dict[str, Param]
    uses_teacher: bool
    uses_hidden: bool
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvidenceFile:
    """A JSON-lines file of knowledge-base trials a plugin ships for its components."""

    plugin: str
    path: str


@dataclass
class Catalog:
    """Component declarations by family and name, read from a snapshot.

    It answers :meth:`names` and :meth:`get` exactly as the live
    :class:`~autodistill.registry.manager.Registry` does, with the same errors, and
    lists the :attr:`evidence` the plugins register.
    """

    components: dict[str, dict[str, ComponentDeclaration]] = field(
        default_factory=lambda: {family: {} for family in FAMILIES}
    )
    evidence: list[EvidenceFile] = field(default_factory=list)

    def names(self, family: str) -> list[str]:
        """Declared component names of ``family``, sorted."""
        return sorted(self.components[family])

    def get(self, family: str, name: str) -> ComponentDeclaration:
        """Return the component ``name`` of ``family``.

        Raises:
            PipelineError: naming the family and listing what is installed.
        """
        return lookup(self.components, family, name)


def lookup(components: dict[str, dict[str, Any]], family: str, name: str) -> Any:
    """``components[family][name]``, or a :class:`PipelineError` listing what is installed."""
    if family not in components:
        raise PipelineError(f"unknown family '{family}'; families are {', '.join(FAMILIES)}")
    try:
        return components[family][name]
    except KeyError:
        installed = ", ".join(sorted(components[family]))
        raise PipelineError(
            f"unknown {family} '{name}'; installed: {installed} (see `autodistill plugins`)"
        ) from None


def _mtime(path: Any) -> int | None:
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return None


def _is_editable(dist: importlib.metadata.Distribution) -> bool:
    try:
        text = dist.read_text("direct_url.json")
    except (OSError, ValueError):
        return False
    if not text:
        return False
    try:
        return bool(json.loads(text).get("dir_info", {}).get("editable"))
    except (ValueError, AttributeError):
        return False


def environment_signature() -> str | None:
    """A hash of everything that decides what the plugins declare; None when it cannot
    be known without loading them (an editable or distribution-less entry point)."""
    from autodistill._version import __version__

    parts: list[Any] = [SNAPSHOT_FORMAT, __version__, list(sys.version_info[:2]),
                        os.environ.get("AUTODISTILL_PLUGINS")]
    parts += module_stamps((*_SHAPING_MODULES, *DEFAULT_PLUGINS))
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                     key=lambda ep: (ep.name, ep.value)):
        dist = ep.dist
        if dist is None or _is_editable(dist):
            return None
        # A reinstall rewrites METADATA even at the same version; a top-level module's
        # source can be stamped without importing anything.
        metadata = [f for f in dist.files or () if f.name == "METADATA"]
        stamps = module_stamps([ep.module] if "." not in ep.module else [])
        parts.append([ep.name, ep.value, dist.name, dist.version,
                      [_mtime(dist.locate_file(f)) for f in metadata], stamps])
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def _snapshot_path(signature: str) -> Path:
    from autodistill.paths import cache_dir

    return cache_dir() / "catalog" / f"{signature}.json"


def write_snapshot(components: dict[str, dict[str, Any]],
                   evidence: list[EvidenceFile] | None = None) -> None:
    """Record the declarations of a freshly loaded registry (best effort: a read-only or
    full cache directory only means the next command loads the plugins again)."""
    try:
        signature = environment_signature()
        if signature is None:
            return
        doc = {"format": SNAPSHOT_FORMAT, "components": {
            family: {name: {"plugin": info.plugin, "distribution": info.distribution,
                            "summary": info.summary,
                            "params": {p: d.to_dict() for p, d in info.params.items()},
                            "uses_teacher": bool(info.uses_teacher),
                            "uses_hidden": bool(info.uses_hidden),
                            "requires": list(info.requires)}
                     for name, info in comps.items()}
            for family, comps in components.items()},
            "evidence": [{"plugin": e.plugin, "path": e.path} for e in evidence or ()]}
        path = _snapshot_path(signature)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Insertion order, not sorted keys: the order of declarations matters.
        write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(doc)))
    except Exception as exc:  # noqa: BLE001 - a cache must never break the command
        log.debug("component snapshot not written: %s", exc)


def read_snapshot() -> Catalog | None:
    """The snapshot matching the installed plugins, or None."""
    try:
        signature = environment_signature()
        if signature is None:
            return None
        doc = json.loads(_snapshot_path(signature).read_text())
        if doc.get("format") != SNAPSHOT_FORMAT:
            return None
        catalog = Catalog()
        for family, comps in doc["components"].items():
            for name, entry in comps.items():
                catalog.components[family][name] = ComponentDeclaration(
                    name=name, family=family, plugin=entry["plugin"],
                    distribution=entry["distribution"], summary=entry["summary"],
                    params={p: param_from_dict(d) for p, d in entry["params"].items()},
                    uses_teacher=entry["uses_teacher"], uses_hidden=entry["uses_hidden"],
                    requires=tuple(entry["requires"]))
        catalog.evidence = [EvidenceFile(e["plugin"], e["path"]) for e in doc["evidence"]]
        return catalog
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a damaged cache file is rebuilt, not fatal
        log.debug("component snapshot ignored: %s", exc)
        return None


_memo: dict[str | None, Catalog] = {}


def forget() -> None:
    """Drop the in-process snapshot (with :func:`autodistill.registry.manager.reset_registry`)."""
    _memo.clear()


def memoised_snapshot() -> Catalog | None:
    """The snapshot for the current ``AUTODISTILL_PLUGINS`` selection, read once per process."""
    selection = os.environ.get("AUTODISTILL_PLUGINS")
    if selection not in _memo:
        snapshot = read_snapshot()
        if snapshot is None:
            return None
        _memo[selection] = snapshot
    return _memo[selection]
