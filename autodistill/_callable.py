"""Callable modules: ``autodistill.search`` and ``autodistill.recommend`` are both a module
and the Python API's function of the same name.

Importing a submodule sets the package's attribute of that name to the module, which
would hide the top-level function ``autodistill.search(...)`` once anything imported
:mod:`autodistill.search`. A module made callable here forwards a call to the function in
:mod:`autodistill.api`, so ``autodistill.search(...)`` works whichever of the two the
attribute holds.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["make_callable"]


class _CallableModule(types.ModuleType):
    """A module whose call runs ``autodistill.api.<its function>``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from autodistill import api

        return getattr(api, self.__dict__["_api_function"])(*args, **kwargs)


def make_callable(module_name: str, function: str) -> None:
    """Make the (already imported) module ``module_name`` call ``autodistill.api.function``."""
    module = sys.modules[module_name]
    module.__class__ = _CallableModule
    module.__dict__["_api_function"] = function
