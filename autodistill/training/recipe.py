"""The training recipe: settings that scale with the number of training rows.

A pipeline's ``training`` section may leave three settings to the data, written
``"auto"`` (the defaults, and so the ``plain`` and ``hinton`` presets, do):

* ``batch_size``: the power of two nearest ``n_train / 32`` (about 32 batches an epoch),
  within ``[16, 256]``;
* ``epochs``: enough epochs for ``steps`` optimiser steps at that batch size
  (``ceil(steps / batches per epoch)``), within ``[10, 1000]``;
* ``patience``: a quarter of the epochs, at least 10.

A tiny table so gets hundreds of short epochs and a large one a few dozen long ones, for
about the same number of optimiser steps. :func:`resolve_training` turns a section into
the concrete settings used on a dataset; the trained pipeline's document states those (a
number in ``epochs``, ``batch_size`` and ``patience``), so that it reproduces the run.

The learning rate follows ``schedule`` over the epochs: ``constant``, or ``cosine`` /
``linear`` decay from ``lr`` at the first epoch to ``lr * final_lr_fraction`` at the last
(:func:`epoch_lr`; set once per epoch, per member, so it works inside a population).

A document written before the recipe existed states ``epochs`` as a number and says
nothing of ``schedule`` or ``steps``: it keeps its meaning (constant lr, and the old
defaults for whatever else it leaves out; see :data:`LEGACY_TRAINING`).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["AUTO", "AUTO_SETTINGS", "LEGACY_TRAINING", "SCHEDULES", "auto_batch_size",
           "epoch_lr", "is_legacy", "resolve_training"]

#: The value that leaves a setting to the data.
AUTO = "auto"
#: Settings that may be ``"auto"``.
AUTO_SETTINGS = ("epochs", "batch_size", "patience")
#: Learning-rate schedules.
SCHEDULES = ("constant", "cosine", "linear")
#: What an old document's unstated settings meant (the defaults before the recipe).
LEGACY_TRAINING: dict[str, Any] = {"epochs": 60, "lr": 0.003, "batch_size": 128,
                                   "weight_decay": 1e-4, "patience": 10,
                                   "schedule": "constant"}

#: Bounds of the rows-tied batch size and of the derived epochs.
BATCH_RANGE = (16, 256)
EPOCH_RANGE = (10, 1000)
#: Target number of batches an epoch for the rows-tied batch size.
BATCHES_PER_EPOCH = 32
#: Auto patience: this share of the epochs, at least ``MIN_PATIENCE``.
PATIENCE_SHARE = 0.25
MIN_PATIENCE = 10


def is_legacy(given: dict[str, Any]) -> bool:
    """Whether a ``training`` section was written before the recipe: it states ``epochs``
    as a number and neither ``steps`` nor ``schedule``."""
    epochs = given.get("epochs")
    return (epochs is not None and epochs != AUTO
            and "steps" not in given and "schedule" not in given)


def auto_batch_size(n_train: int) -> int:
    """The rows-tied batch size: the power of two nearest ``n_train / 32`` in [16, 256]."""
    low, high = BATCH_RANGE
    target = max(n_train / BATCHES_PER_EPOCH, 1.0)
    return int(min(max(2 ** round(math.log2(target)), low), high))


def resolve_training(training: dict[str, Any], n_train: int) -> dict[str, Any]:
    """The concrete settings ``training`` stands for on ``n_train`` training rows.

    Every ``"auto"`` becomes a number (see the module docstring); the rest is unchanged.
    """
    resolved = dict(training)
    if resolved.get("batch_size") == AUTO:
        resolved["batch_size"] = auto_batch_size(n_train)
    if resolved.get("epochs") == AUTO:
        batches = max(math.ceil(n_train / int(resolved["batch_size"])), 1)
        low, high = EPOCH_RANGE
        resolved["epochs"] = int(min(max(math.ceil(int(resolved["steps"]) / batches), low), high))
    if resolved.get("patience") == AUTO:
        resolved["patience"] = max(MIN_PATIENCE, math.ceil(PATIENCE_SHARE * int(resolved["epochs"])))
    return resolved


def epoch_lr(lr: float, schedule: str, final_fraction: float, epoch: int, epochs: int) -> float:
    """The learning rate of ``epoch`` (0-based) of ``epochs``: ``lr`` at the first epoch,
    ``lr * final_fraction`` at the last under ``cosine`` and ``linear``; ``lr`` throughout
    under ``constant``."""
    if schedule == "constant" or epochs <= 1:
        return lr
    progress = min(epoch / (epochs - 1), 1.0)
    final = lr * final_fraction
    if schedule == "cosine":
        return final + (lr - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "linear":
        return lr + (final - lr) * progress
    raise ValueError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
