"""The four component families.

Kept apart from :mod:`autodistill.components` (which imports torch) so that pipeline
documents, search spaces and the recommender can name families without importing torch.
"""

from __future__ import annotations

__all__ = ["FAMILIES"]

#: Family key -> human title. The keys are the pipeline JSON keys.
FAMILIES: dict[str, str] = {
    "kd_loss": "KD losses",
    "mi_objective": "MI objectives",
    "augmentation": "augmentations",
    "curriculum": "curricula",
}
