"""The plugin manager and the component registry.

One :class:`pluggy.PluginManager` loads the built-in component modules and every
``autodistill`` entry point through the same code path, then asks each plugin to
register its components. Loading is lazy and runs once (``get_registry()``), so
``import autodistill`` stays cheap.

Environment:
    ``AUTODISTILL_PLUGINS``: comma-separated entry-point names to load; empty loads none
    but the built-ins; unset loads all.
    ``AUTODISTILL_STRICT_PLUGINS=1``: a plugin that fails to load raises instead of
    being reported as broken.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from autodistill import hookspecs
from autodistill.components import FAMILY_BASES
from autodistill.errors import PipelineError, PluginError
from autodistill.families import FAMILIES, FAMILY_HOOKS
from autodistill.params import Param, ParamDeclarationError
from autodistill.registry import catalog
from autodistill.registry.catalog import DEFAULT_PLUGINS, ENTRY_POINT_GROUP, EvidenceFile
from autodistill.registry.plugin_checks import (
    call_hook,
    check_hook_names,
    check_names,
    check_pool_factor,
)
from autodistill.students import StudentFamily

__all__ = [
    "DEFAULT_PLUGINS",
    "ComponentInfo",
    "StudentInfo",
    "BrokenPlugin",
    "Registry",
    "get_registry",
    "loaded_registry",
    "reset_registry",
    "get_plugin_manager",
]

log = logging.getLogger(__name__)

BUILTIN_PLUGIN_NAME = "autodistill (built-in)"

@dataclass(frozen=True)
class ComponentInfo:
    """A registered component class and the plugin that registered it."""

    cls: type
    family: str
    plugin: str
    distribution: str | None

    @property
    def name(self) -> str:
        """The component's registered name."""
        return self.cls.name

    @property
    def params(self) -> dict[str, Param]:
        """The component's hyperparameter declarations."""
        return dict(self.cls.params)

    @property
    def summary(self) -> str:
        """The first line of the component's docstring."""
        return self.cls.summary()

    @property
    def uses_teacher(self) -> bool:
        """Whether the component reads the teacher's outputs (KD losses)."""
        return bool(getattr(self.cls, "uses_teacher", False))

    @property
    def uses_hidden(self) -> bool:
        """Whether the component reads the teacher's hidden features (MI objectives)."""
        return bool(getattr(self.cls, "uses_hidden", False))

    @property
    def requires(self) -> tuple[str, ...]:
        """What a run must offer for the component to apply (``Component.requires``)."""
        return tuple(getattr(self.cls, "requires", ()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description (what ``autodistill plugins --json`` prints)."""
        return {
            "name": self.name,
            "family": self.family,
            "summary": self.cls.summary(),
            "plugin": self.plugin,
            "params": {k: v.to_dict() for k, v in self.cls.params.items()},
            "requires": list(self.requires),
        }


@dataclass(frozen=True)
class StudentInfo:
    """A registered student family and the plugin that registered it."""

    cls: type[StudentFamily]
    plugin: str
    distribution: str | None

    @property
    def name(self) -> str:
        """The family's spec prefix."""
        return self.cls.name

    def to_dict(self) -> dict[str, Any]:
        """What ``autodistill plugins --json`` prints for the family."""
        return {"summary": self.cls.summary(), "format": self.cls.format}


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point that failed to load, with the reason."""

    name: str
    distribution: str | None
    error: str


@dataclass
class Registry:
    """Components by family and name, plus the plugins that provided them."""

    components: dict[str, dict[str, ComponentInfo]] = field(
        default_factory=lambda: {family: {} for family in FAMILIES}
    )
    plugins: dict[str, str | None] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)
    #: Evidence files the plugins ship (``register_evidence``), in registration order.
    evidence: list[EvidenceFile] = field(default_factory=list)
    #: Student families (``register_students``) by spec prefix.
    students: dict[str, StudentInfo] = field(default_factory=dict)

    def names(self, family: str) -> list[str]:
        """Registered component names of ``family``, sorted."""
        return sorted(self.components[family])

    def get(self, family: str, name: str) -> ComponentInfo:
        """Return the component ``name`` of ``family``.

        Raises:
            PipelineError: naming the family and listing what is installed.
        """
        return catalog.lookup(self.components, family, name)

    def register(self, family: str, cls: type, plugin: str, distribution: str | None) -> None:
        """Validate and add one component class.

        Raises:
            PluginError: on a wrong base class, a missing or duplicate name, or an invalid
                parameter declaration; the message names the plugin(s).
        """
        base = FAMILY_BASES[family]
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(
                f"plugin '{plugin}' registered {cls!r} as a {family}, "
                f"but it does not derive from {base.__module__}.{base.__name__}"
            )
        name = getattr(cls, "name", "")
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin '{plugin}': {cls.__qualname__} has no 'name' attribute")
        check_names(family, cls, name, plugin)
        existing = self.components[family].get(name)
        if existing is not None and existing.cls is not cls:
            raise PluginError(
                f"{family} '{name}' is registered twice: by plugin '{existing.plugin}' "
                f"({existing.cls.__module__}.{existing.cls.__qualname__}) and by plugin "
                f"'{plugin}' ({cls.__module__}.{cls.__qualname__}); uninstall one or "
                "restrict AUTODISTILL_PLUGINS"
            )
        if not isinstance(cls.params, dict):
            raise PluginError(f"plugin '{plugin}': {name}.params must be a dict of Param")
        check_pool_factor(family, cls, name, plugin)
        for pname, decl in cls.params.items():
            if not isinstance(decl, Param):
                raise PluginError(
                    f"plugin '{plugin}': {family} '{name}' param '{pname}' is not a "
                    "Float, Int or Categorical"
                )
            try:
                decl.check_declaration(pname)
            except ParamDeclarationError as exc:
                raise PluginError(f"plugin '{plugin}': {family} '{name}' {exc}") from None
        self.components[family][name] = ComponentInfo(cls, family, plugin, distribution)

    def student(self, name: str) -> StudentInfo:
        """Return the student family ``name``.

        Raises:
            PipelineError: listing the installed families.
        """
        try:
            return self.students[name]
        except KeyError:
            raise PipelineError(
                f"unknown student family '{name}'; installed: {', '.join(sorted(self.students))}"
                " (see `autodistill plugins`)") from None

    def register_student(self, cls: type, plugin: str, distribution: str | None) -> None:
        """Validate and add one student family.

        Raises:
            PluginError: on a wrong base class, a missing or malformed name, or a name
                another plugin registered; the message names the plugin(s).
        """
        if not (isinstance(cls, type) and issubclass(cls, StudentFamily)):
            raise PluginError(f"plugin '{plugin}' registered {cls!r} as a student family, but "
                              "it does not derive from autodistill.students.StudentFamily")
        name = getattr(cls, "name", "")
        if not isinstance(name, str) or not name.strip() or ":" in name or name != name.strip():
            raise PluginError(f"plugin '{plugin}': student family {cls.__qualname__} needs a "
                              f"'name' without ':' or spaces (got {name!r})")
        existing = self.students.get(name)
        if existing is not None and existing.cls is not cls:
            raise PluginError(
                f"student family '{name}' is registered twice: by plugin '{existing.plugin}' "
                f"({existing.cls.__module__}.{existing.cls.__qualname__}) and by plugin "
                f"'{plugin}' ({cls.__module__}.{cls.__qualname__}); uninstall one or "
                "restrict AUTODISTILL_PLUGINS")
        self.students[name] = StudentInfo(cls, plugin, distribution)

    def to_dict(self) -> dict[str, Any]:
        """plugin -> family -> component -> params (and its student families), the
        components and student families by name, plus broken plugins."""
        plugins: dict[str, Any] = {
            plugin: {"distribution": dist, "families": {f: {} for f in FAMILIES}}
            for plugin, dist in self.plugins.items()
        }
        for family, comps in self.components.items():
            for name in sorted(comps):
                info = comps[name]
                entry = plugins.setdefault(
                    info.plugin, {"distribution": info.distribution,
                                  "families": {f: {} for f in FAMILIES}}
                )
                described = info.to_dict()
                entry["families"][family][name] = {
                    "summary": described["summary"], "params": described["params"],
                    **({"requires": described["requires"]} if described["requires"] else {}),
                }
        for name in sorted(self.students):
            info = self.students[name]
            entry = plugins.setdefault(info.plugin, {"distribution": info.distribution,
                                                     "families": {f: {} for f in FAMILIES}})
            entry.setdefault("students", {})[name] = info.to_dict()
        return {
            "plugins": plugins,
            "components": {f: self.names(f) for f in FAMILIES},
            "students": sorted(self.students),
            "broken": [vars(b) for b in self.broken],
        }


_lock = threading.RLock()
_registry: Registry | None = None
_manager: pluggy.PluginManager | None = None


def _strict() -> bool:
    return os.environ.get("AUTODISTILL_STRICT_PLUGINS", "") not in ("", "0", "false")


def _selected_entry_points() -> list[importlib.metadata.EntryPoint]:
    eps = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    wanted = os.environ.get("AUTODISTILL_PLUGINS")
    if wanted is None:
        return eps
    names = {n.strip() for n in wanted.split(",") if n.strip()}
    missing = names - {ep.name for ep in eps}
    if missing:
        log.warning("AUTODISTILL_PLUGINS names entry points that are not installed: %s",
                    ", ".join(sorted(missing)))
    return [ep for ep in eps if ep.name in names]


def _build() -> tuple[pluggy.PluginManager, Registry]:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    registry.plugins[BUILTIN_PLUGIN_NAME] = "autodistill"
    owners: dict[str, tuple[str, str | None]] = {
        m: (BUILTIN_PLUGIN_NAME, "autodistill") for m in DEFAULT_PLUGINS
    }
    for ep in _selected_entry_points():
        dist = ep.dist.name if ep.dist is not None else None
        try:
            plugin = ep.load()
            if pm.is_registered(plugin):
                continue
            pm.register(plugin, name=ep.name)
        except (Exception, SystemExit) as exc:  # a plugin's exit() must not end autodistill
            if _strict():
                raise PluginError(f"plugin '{ep.name}' ({dist}) failed to load: {exc}") from exc
            log.warning("plugin '%s' (%s) failed to load and is skipped: %s", ep.name, dist, exc)
            registry.broken.append(BrokenPlugin(ep.name, dist, f"{type(exc).__name__}: {exc}"))
            continue
        registry.plugins[ep.name] = dist
        owners[ep.name] = (ep.name, dist)
    check_hook_names(pm, owners)
    for family, hook_name in FAMILY_HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            plugin_name, dist = owners.get(impl.plugin_name, (impl.plugin_name, None))

            def register(cls: type, _family=family, _plugin=plugin_name, _dist=dist) -> None:
                registry.register(_family, cls, _plugin, _dist)

            call_hook(impl, register, hook_name, plugin_name, dist)
    for impl in pm.hook.register_students.get_hookimpls():
        plugin_name, dist = owners.get(impl.plugin_name, (impl.plugin_name, None))

        def register_family(cls: type, _plugin: str = plugin_name, _dist=dist) -> None:
            registry.register_student(cls, _plugin, _dist)

        call_hook(impl, register_family, "register_students", plugin_name, dist)
    for impl in pm.hook.register_evidence.get_hookimpls():
        plugin_name, dist = owners.get(impl.plugin_name, (impl.plugin_name, None))

        def register_file(path: str, _plugin: str = plugin_name) -> None:
            registry.evidence.append(EvidenceFile(_plugin, str(path)))

        call_hook(impl, register_file, "register_evidence", plugin_name, dist)
    return pm, registry


def get_registry() -> Registry:
    """Return the registry, loading plugins on first use (and recording what they declare
    for :func:`autodistill.registry.access.get_catalog`)."""
    global _registry, _manager
    with _lock:
        if _registry is None:
            _manager, _registry = _build()
            catalog.write_snapshot(_registry.components, _registry.evidence)
        return _registry


def loaded_registry() -> Registry | None:
    """The registry if this process has loaded the plugins, else None (loads nothing)."""
    return _registry


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the plugin manager (loading plugins on first use)."""
    get_registry()
    assert _manager is not None
    return _manager


def reset_registry() -> None:
    """Forget loaded plugins so the next :func:`get_registry` loads them again (tests)."""
    global _registry, _manager
    with _lock:
        _registry = None
        _manager = None
        catalog.forget()


def register_for_test(family: str, cls: type, plugin: str = "test") -> Callable[[], None]:
    """Register ``cls`` in the live registry; return a function that removes it.

    Meant for tests that need a throw-away component (or, with family ``"student"``, a
    student family)::

        remove = register_for_test("kd_loss", MyLoss)
        try: ...
        finally: remove()
    """
    registry = get_registry()
    if family == "student":
        registry.register_student(cls, plugin, None)
    else:
        registry.register(family, cls, plugin, None)

    def remove() -> None:
        table = registry.students if family == "student" else registry.components[family]
        table.pop(cls.name, None)

    return remove
