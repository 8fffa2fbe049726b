"""What a plugin's registration must satisfy beyond each declaration's own checks
(:meth:`autodistill.registry.manager.Registry.register`): hooks that exist, hooks that
do not raise, names Optuna's parameter names can hold, and the engine's reserved
``pool_factor``. Each failure is one :class:`~autodistill.errors.PluginError` line naming
the plugin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pluggy

from autodistill import hookspecs
from autodistill.errors import PluginError

__all__ = ["call_hook", "check_hook_names", "check_names", "check_pool_factor"]

#: What a component or parameter name may be: it is part of Optuna parameter names
#: (``family.component.param``), pipeline JSON and command lines.
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def check_hook_names(pm: pluggy.PluginManager, owners: dict[str, tuple[str, str | None]]
                      ) -> None:
    """A misspelled hook implementation fails loudly, as in pytest, in one line naming the
    plugin and the hooks there are."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or str(exc.plugin)
        plugin, dist = owners.get(name, (name, None))
        hooks = sorted(n for n in dir(hookspecs) if n.startswith("register_"))
        raise PluginError(f"plugin '{plugin}' ({dist}): {exc}".split(" in plugin ")[0]
                          + f"; the hooks are: {', '.join(hooks)}") from None


def call_hook(impl: Any, register: Callable[..., None], hook: str, plugin: str,
               dist: str | None) -> None:
    """Run one plugin's registration hook; its own exception becomes one line naming it."""
    try:
        impl.function(register=register)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(f"plugin '{plugin}' ({dist}): its {hook} hook raised "
                          f"{type(exc).__name__}: {exc}; fix or uninstall it, or leave it out "
                          "with AUTODISTILL_PLUGINS") from None


def check_pool_factor(family: str, cls: type, name: str, plugin: str) -> None:
    """``pool_factor`` is the engine's, not the augmentation's: a class may not declare it
    otherwise than the base class does (the engine reads it as a whole number from 0)."""
    from autodistill.components import POOL_FACTOR, Augmentation
    from autodistill.params import Int

    declared = cls.params.get(POOL_FACTOR)
    if family != "augmentation" or declared is None or not issubclass(cls, Augmentation):
        return
    if not (cls.generates_rows and isinstance(declared, Int) and declared.low == 0
            and declared.default == 0 and not declared.log):
        raise PluginError(f"plugin '{plugin}': augmentation '{name}' declares '{POOL_FACTOR}' "
                          f"as {declared!r}, but the engine reserves it: an Int from 0, "
                          "default 0 (the base class adds Int(0, 10) to every augmentation "
                          "that generates rows); rename the parameter")


def check_names(family: str, cls: type, name: str, plugin: str) -> None:
    """A component's name and its parameters' names are letters, digits, ``_`` and ``-``,
    starting with a letter: a ``.`` would split the Optuna parameter names the studies
    commands and the recommender read back."""
    params = getattr(cls, "params", None)
    params = params if isinstance(params, dict) else {}  # not a dict: register says so
    for what, value in (("name", name), *(("param", p) for p in params)):
        if not isinstance(value, str) or not NAME.fullmatch(value):
            raise PluginError(f"plugin '{plugin}': {family} {cls.__qualname__} {what} {value!r} "
                              "must be letters, digits, '_' or '-', starting with a letter "
                              "(it becomes part of Optuna parameter names)")
