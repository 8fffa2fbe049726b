"""autodistill: which knowledge-distillation pipeline gives your student the best accuracy?

Search it (Optuna over a plugin-assembled space) or get it recommended (a meta-model over
past studies). See the README for the CLI; the library API mirrors it.
"""

from __future__ import annotations

from autodistill._version import __version__

__all__ = ["__version__"]
