"""autodistill: which knowledge-distillation pipeline gives your student the best accuracy?

Search it (Optuna over a plugin-assembled space) or get it recommended (a meta-model over
past studies). See the README for the CLI; the library API mirrors it.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
