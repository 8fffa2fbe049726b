"""User-facing errors.

Every error a user can fix is an :class:`AutodistillError` whose message says what is
wrong *and* what to do. The CLI prints it as one line on stderr and exits with code 2;
set ``AUTODISTILL_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import errno

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
    "environment_error",
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

    def __init__(self, family: str, component: str, message: str, plugin: str = "") -> None:
        self.family = family
        self.component = component
        owner = f" (from plugin {plugin})" if plugin else ""  # a third party's: fix or uninstall
        super().__init__(f"{family} '{component}' failed: {message}{owner}")


def environment_error(exc: BaseException) -> str | None:
    """A one-line message for a failure of the machine rather than of autodistill: memory
    exhausted, a file or directory that cannot be used, a database that refuses a write.

    The CLI prints it with exit code 2 instead of calling it an internal error; ``None``
    when ``exc`` is none of these. An exception raised while handling one of these (Optuna
    raises ``UnboundLocalError`` when its storage refuses a write) counts as that one.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        message = _environment_message(current)
        if message is not None:
            return message
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _environment_message(exc: BaseException) -> str | None:
    if isinstance(exc, MemoryError):
        return (f"out of memory ({exc or 'MemoryError'}); use a smaller dataset or --student, "
                "or fewer --workers")
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f"'{exc.filename}'" if exc.filename else "a file"
        hint = {errno.ENOSPC: "free some disk space",
                errno.EACCES: "check its permissions or set AUTODISTILL_HOME to a writable directory",
                errno.EPERM: "check its permissions or set AUTODISTILL_HOME to a writable directory",
                errno.EROFS: "set AUTODISTILL_HOME to a writable directory",
                errno.ENOTDIR: "a file stands where a directory should be: move it away",
                errno.EEXIST: "a file stands where a directory should be: move it away",
                }.get(exc.errno, "check the path")
        return f"cannot use {where}: {exc.strerror or exc}; {hint}"
    module = type(exc).__module__ or ""
    if type(exc).__name__ == "StorageInternalError" and exc.__cause__ is not None:
        exc, module = exc.__cause__, "sqlalchemy"  # Optuna's wrapper: the driver's reason
    if module.startswith(("sqlalchemy", "optuna.storages", "sqlite3", "psycopg")):
        orig = getattr(exc, "orig", None) or exc
        lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
        reason = lines[0] if lines else type(orig).__name__
        return f"the database refused the operation ({reason}); check --storage or " \
               "AUTODISTILL_STORAGE, its permissions and free space"
    return None
