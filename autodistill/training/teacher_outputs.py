"""What a teacher gives: its logits and hidden features on every split of a dataset,
computed once in batches, the module that labels new rows, and the per-row difficulty
a curriculum reads.

Kept apart from :mod:`autodistill.training.teachers` (which trains, loads and caches
teachers) so that each kind of teacher (the MLP, :mod:`~autodistill.training.gbdt_teacher`)
can build its outputs without importing the others, and so that the engine, which trains
the ``auto`` teacher's MLP as it trains students, does not import the module that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from autodistill.errors import TeacherError
from autodistill.training.students import count_params

if TYPE_CHECKING:
    from autodistill.data.dataset import Dataset

__all__ = ["SPLITS", "TeacherOutputs", "difficulty"]


SPLITS = ("train", "valid", "test")


_BATCH = 8192  # rows per inference batch


@dataclass
class TeacherOutputs:
    """A teacher's outputs on every split of one dataset, plus the teacher for new rows.

    Attributes:
        logits: ``"train"``, ``"valid"``, ``"test"`` -> float32 ``[n, C]`` on the CPU.
        hidden: Same keys -> ``[n, H]``, or ``None`` when the teacher exposes no features.
        accuracy: Test accuracy.
        valid_accuracy: Validation accuracy.
        params: Parameter count (0 if unknown).
        spec: ``"auto"`` or the TorchScript path.
        seconds: Time spent training/loading and running it (near 0 when cached).
        module: The teacher itself, for augmented rows (see :meth:`predict`).
        from_cache: True when the outputs came from the disk cache or the in-process memo.
    """

    logits: dict[str, torch.Tensor]
    hidden: dict[str, torch.Tensor] | None
    accuracy: float
    valid_accuracy: float
    params: int
    spec: str
    seconds: float
    module: nn.Module | None
    from_cache: bool = False

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher logits (and hidden features, if any) for new rows, batched, no grad.

        The result lies on ``x``'s device.

        Raises:
            TeacherError: when this teacher has no module to run.
        """
        if self.module is None:
            raise TeacherError(f"teacher '{self.spec}' has no module to label new rows; "
                               f"use a pipeline without augmentation")
        return _forward(self.module, x, where=self.spec)


def difficulty(outputs: TeacherOutputs, y_train: np.ndarray | torch.Tensor) -> np.ndarray:
    """Per-row difficulty of the training split: teacher cross-entropy on the true label."""
    targets = torch.as_tensor(np.asarray(y_train), dtype=torch.int64)
    logits = outputs.logits["train"].detach().float().cpu()
    return F.cross_entropy(logits, targets, reduction="none").numpy()


def _forward(module: nn.Module, x: torch.Tensor,
             where: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``module`` in eval mode and in batches; return (logits, hidden or None)."""
    target = next((p.device for p in module.parameters()), x.device)
    was_training = module.training
    module.eval()
    logits_parts, hidden_parts = [], []
    try:
        with torch.no_grad():
            for start in range(0, max(x.shape[0], 1), _BATCH):
                out = module(x[start:start + _BATCH].to(target, torch.float32))
                logits, hidden = out if isinstance(out, (tuple, list)) else (out, None)
                if not isinstance(logits, torch.Tensor):
                    raise TeacherError(f"teacher '{where}' returned {type(logits).__name__}, "
                                       f"not a tensor of logits")
                logits_parts.append(logits.float().reshape(logits.shape[0], -1))
                if isinstance(hidden, torch.Tensor):
                    hidden_parts.append(hidden.float().reshape(hidden.shape[0], -1))
    except TeacherError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise TeacherError(f"teacher '{where}' failed on inputs of width {x.shape[1]} "
                           f"({reason}); check what it takes (--teacher-input raw or encoded)") from None
    finally:
        module.train(was_training)
    logits = torch.cat(logits_parts).to(x.device)
    hidden = torch.cat(hidden_parts).to(x.device) if len(hidden_parts) == len(logits_parts) \
        else None
    return logits, hidden


def _split_tensors(dataset: Dataset) -> dict[str, tuple[torch.Tensor, np.ndarray]]:
    return {s: (torch.as_tensor(getattr(dataset, f"X_{s}"), dtype=torch.float32),
                np.asarray(getattr(dataset, f"y_{s}"))) for s in SPLITS}


def _outputs_on(module: nn.Module, dataset: Dataset, spec: str,
                inputs: dict[str, torch.Tensor] | None = None) -> TeacherOutputs:
    logits, hidden = {}, {}
    if inputs is None:
        inputs = {s: x for s, (x, _) in _split_tensors(dataset).items()}
    for split, x in inputs.items():
        logits[split], hidden[split] = _forward(module, x, where=spec)
    width = logits["train"].shape[1]
    for split, values in logits.items():
        bad = int((~torch.isfinite(values)).any(1).sum())
        if bad:
            raise TeacherError(f"teacher '{spec}' produced NaN or infinite logits for {bad} "
                               f"of {values.shape[0]} {split} rows of {dataset.spec}; fix or "
                               f"retrain that teacher (a TorchScript teacher must return "
                               f"finite logits)")
    if width != dataset.n_classes:
        raise TeacherError(f"teacher '{spec}' outputs {width} logits per row but "
                           f"{dataset.spec} has {dataset.n_classes} classes; use a teacher "
                           f"trained on this dataset's classes")

    def accuracy(split: str) -> float:
        y = np.asarray(getattr(dataset, f"y_{split}"))
        return float((logits[split].argmax(1).numpy() == y).mean()) if len(y) else 0.0

    has_hidden = all(h is not None for h in hidden.values())
    return TeacherOutputs(logits=logits, hidden=hidden if has_hidden else None,
                          accuracy=accuracy("test"), valid_accuracy=accuracy("valid"),
                          params=count_params(module), spec=spec, seconds=0.0, module=module)
