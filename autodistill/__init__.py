"""autodistill: which knowledge-distillation pipeline gives your student the best accuracy?

Search it (Optuna over a plugin-assembled space) or get it recommended (a meta-model over
past studies). From Python::

    import autodistill
    result = autodistill.distill(frame, "hinton", target="label")   # or a path, or X, y
    result.student.predict(new_rows)
    result.student.save("model/")          # then: autodistill predict model/ new.csv

:func:`distill`, :func:`search` (with Optuna ``callbacks=``), :func:`recommend`,
:func:`load_model` and :func:`list_studies` (what ``autodistill studies`` lists) are
imported on first use, so ``import autodistill`` stays cheap; see docs/python.md.
"""

from __future__ import annotations

from typing import Any

from autodistill._version import __version__

__all__ = ["__version__", "distill", "search", "recommend", "load_model", "list_studies"]

_API = {"distill": "autodistill.api", "search": "autodistill.api",
        "recommend": "autodistill.api", "load_model": "autodistill.training.model_dir",
        "list_studies": "autodistill.meta.past_studies"}


def __getattr__(name: str) -> Any:
    """The Python API, imported lazily (torch and pandas load on first use)."""
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'autodistill' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
