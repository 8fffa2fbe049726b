"""The four component families: the one place they are named.

Kept apart from :mod:`autodistill.components` (which imports torch) so that pipeline
documents, search spaces and the recommender can name families without importing torch.
"""

from __future__ import annotations

__all__ = ["FAMILIES", "FAMILY_HOOKS"]

#: Family key -> human title. The keys are the pipeline JSON keys.
FAMILIES: dict[str, str] = {
    "kd_loss": "KD losses",
    "mi_objective": "MI objectives",
    "augmentation": "augmentations",
    "curriculum": "curricula",
}
#: Family key -> the hook a plugin implements to register components of that family.
FAMILY_HOOKS: dict[str, str] = {
    "kd_loss": "register_kd_losses",
    "mi_objective": "register_mi_objectives",
    "augmentation": "register_augmentations",
    "curriculum": "register_curricula",
}
