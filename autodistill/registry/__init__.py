"""The plugin host: the plugin manager, the component registry, and the torch-free
catalogue of what the installed components declare.

May import: the foundation modules (errors, paths, families, params, hookspecs, components).
"""

from __future__ import annotations

from autodistill._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "get_catalog": "access",
    "Catalog": "catalog",
    "ComponentDeclaration": "catalog",
    "Declared": "catalog",
    "EvidenceFile": "catalog",
    "forget": "catalog",
    "lookup": "catalog",
    "memoised_snapshot": "catalog",
    "read_snapshot": "catalog",
    "write_snapshot": "catalog",
    "BrokenPlugin": "manager",
    "ComponentInfo": "manager",
    "DEFAULT_PLUGINS": "manager",
    "Registry": "manager",
    "StudentInfo": "manager",
    "get_plugin_manager": "manager",
    "get_registry": "manager",
    "loaded_registry": "manager",
    "reset_registry": "manager",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
