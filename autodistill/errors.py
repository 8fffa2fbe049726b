"""User-facing errors.

Every error a user can fix is an :class:`AutodistillError` whose message says what is
wrong *and* what to do. The CLI prints it as one line on stderr and exits with code 2;
set ``AUTODISTILL_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

__all__ = [
    "AutodistillError",
    "DataError",
    "PipelineError",
    "PluginError",
    "TeacherError",
    "StorageError",
    "SpaceError",
    "StudyNotFoundError",
    "ComponentError",
]


class AutodistillError(Exception):
    """Base class of every error whose message is meant for the user."""


class DataError(AutodistillError):
    """A data spec, file, column or label that cannot be used."""


class PipelineError(AutodistillError):
    """An unknown component, an unknown parameter or a parameter out of range."""


class PluginError(AutodistillError):
    """A plugin that cannot be loaded or that clashes with another plugin."""


class TeacherError(AutodistillError):
    """A teacher that cannot be built, loaded or that does not fit the dataset."""


class StorageError(AutodistillError):
    """A database that cannot be reached or holds something unexpected."""


class SpaceError(AutodistillError):
    """A search-space file with an unknown key or an invalid range."""


class StudyNotFoundError(AutodistillError):
    """A study name that is not in the database."""


class ComponentError(AutodistillError):
    """A component raised while a pipeline trained; carries the component's name.

    Attributes:
        family: The component family, e.g. ``"kd_loss"``.
        component: The component's registered name.
    """

    def __init__(self, family: str, component: str, message: str) -> None:
        self.family = family
        self.component = component
        super().__init__(f"{family} '{component}' failed: {message}")
