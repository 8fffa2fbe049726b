"""One training run: one pipeline, one dataset, one student.

The teacher's logits and hidden features come precomputed (:class:`TeacherOutputs`); the
only teacher forward passes here are on augmented rows, one batch at a time. Each epoch:
the curriculum picks rows, each batch is optionally augmented (augmented rows labelled
by the teacher), the KD loss and the weighted MI objective are minimised jointly (the MI
critic trains with the student), validation accuracy drives early stopping, and the best
weights are restored. Everything random draws from ``seed``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from autodistill.errors import AutodistillError, ComponentError, PipelineError
from autodistill.pipeline import Pipeline
from autodistill.registry import get_registry
from autodistill.students import build_student
from autodistill.teachers import difficulty

if TYPE_CHECKING:
    from autodistill.data import Dataset
    from autodistill.teachers import TeacherOutputs

__all__ = ["TrainResult", "NonFiniteLossError", "train_student"]

log = logging.getLogger(__name__)


class NonFiniteLossError(AutodistillError):
    """The training loss became NaN or infinite (a search prunes such a trial)."""


@dataclass
class TrainResult:
    """What one training run produced; accuracies are on the named split."""

    valid_accuracy: float
    test_accuracy: float
    macro_f1: float
    teacher_agreement: float | None
    epochs_run: int
    best_epoch: int
    seconds: float
    student: nn.Module
    history: list[float] = field(default_factory=list)


def _build(family: str, pipeline: Pipeline, *args: Any) -> Any:
    spec = pipeline.component(family)
    cls = get_registry().get(family, spec.name).cls
    try:
        return cls(*args, **spec.params)
    except Exception as exc:
        raise ComponentError(family, spec.name, f"{type(exc).__name__}: {exc}") from exc


def _call(family: str, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except (AutodistillError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if type(exc).__name__ == "TrialPruned":
            raise
        raise ComponentError(family, name, f"{type(exc).__name__}: {exc}") from exc


def _finite(value: torch.Tensor | None) -> bool:
    return value is None or bool(torch.isfinite(value.detach()).all())


def _nonfinite_source(pipeline: Pipeline, xb: torch.Tensor, tb: torch.Tensor | None,
                      logits: torch.Tensor, kd_value: torch.Tensor,
                      mi_value: torch.Tensor | None) -> str:
    """Which component or input made the loss NaN or infinite, and what to do about it."""
    aug = pipeline.augmentation.name
    if not _finite(xb):
        return (f"augmentation '{aug}' produced NaN or infinite rows" if aug != "none" else
                "the input rows hold NaN or infinite values")
    if not _finite(tb):
        return "the teacher's logits are NaN or infinite; fix or retrain the teacher"
    if not _finite(logits):
        return ("the student's outputs diverged; lower training.lr (now "
                f"{pipeline.training['lr']})")
    if not _finite(kd_value):
        return f"kd_loss '{pipeline.kd_loss.name}' returned {kd_value.item()}"
    return (f"mi_objective '{pipeline.mi_objective.name}' returned "
            f"{mi_value.item() if mi_value is not None else 'nan'}; lower its weight")


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return model(x)[0]


def train_student(
    pipeline: Pipeline,
    dataset: Dataset,
    teacher: TeacherOutputs | None,
    *,
    student: str = "mlp:16",
    seed: int = 0,
    device: torch.device | str | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train ``student`` on ``dataset`` with ``pipeline``; return its metrics.

    Args:
        pipeline: A validated pipeline.
        dataset: The dataset with its fixed splits.
        teacher: Precomputed teacher outputs; may be ``None`` only for pipelines that do
            not use the teacher (``plain``).
        student: Student spec such as ``mlp:16``.
        seed: Seeds weight initialisation, row order and augmentation.
        device: Training device; ``cuda`` when available by default.
        on_epoch: Called as ``on_epoch(epoch, valid_accuracy)`` after every epoch; an
            exception it raises (e.g. ``optuna.TrialPruned``) stops training and propagates.

    Raises:
        PipelineError: the pipeline needs a teacher (or its hidden features) it lacks.
        ComponentError: a component raised; carries its family and name.
        NonFiniteLossError: the loss became NaN or infinite.
    """
    started = time.perf_counter()
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if teacher is None and pipeline.uses_teacher:
        raise PipelineError("this pipeline uses the teacher but no teacher was given")
    if pipeline.uses_hidden and (teacher is None or teacher.hidden is None):
        raise PipelineError(
            f"mi_objective '{pipeline.mi_objective.name}' needs the teacher's hidden features, "
            "but this teacher exposes none; use mi_objective 'none' or a teacher returning "
            "(logits, hidden)"
        )
    training = pipeline.training
    epochs, batch_size = int(training["epochs"]), int(training["batch_size"])
    patience = int(training.get("patience", 10))

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)

    x_train = torch.as_tensor(dataset.X_train, dtype=torch.float32, device=device)
    y_train = torch.as_tensor(dataset.y_train, dtype=torch.int64, device=device)
    x_valid = torch.as_tensor(dataset.X_valid, dtype=torch.float32, device=device)
    y_valid = torch.as_tensor(dataset.y_valid, dtype=torch.int64, device=device)
    t_train = teacher.logits["train"].to(device) if teacher is not None else None
    th_train = (
        teacher.hidden["train"].to(device)
        if pipeline.uses_hidden and teacher is not None and teacher.hidden is not None
        else None
    )

    model = build_student(student, dataset.n_features, dataset.n_classes).to(device)
    kd_name = pipeline.kd_loss.name
    kd_loss = _build("kd_loss", pipeline)
    kd_uses_teacher = kd_loss.uses_teacher
    mi_name = pipeline.mi_objective.name
    mi = None
    if th_train is not None:
        mi = _build("mi_objective", pipeline, model.hidden_dim, th_train.shape[1]).to(device)
        mi_weight = float(mi.hparams.get("weight", 1.0))
    aug_name = pipeline.augmentation.name
    augmentation = _build("augmentation", pipeline) if aug_name != "none" else None
    cur_name = pipeline.curriculum.name
    row_difficulty = (
        difficulty(teacher, dataset.y_train) if teacher is not None
        else np.zeros(len(dataset.y_train), dtype=np.float32)
    )
    curriculum = _build("curriculum", pipeline, row_difficulty, epochs)
    needs_student_loss = curriculum.needs_student_loss

    param_groups = [{"params": model.parameters(), "weight_decay": float(training["weight_decay"])}]
    if mi is not None and any(True for _ in mi.parameters()):
        param_groups.append({"params": mi.parameters(), "weight_decay": 0.0})
    optimizer = torch.optim.Adam(param_groups, lr=float(training["lr"]))

    best_accuracy, best_loss, best_epoch, best_state, stale = -1.0, math.inf, -1, None, 0
    history: list[float] = []
    student_loss = None
    for epoch in range(epochs):
        if needs_student_loss and epoch > 0:
            with torch.no_grad():
                model.eval()
                student_loss = F.cross_entropy(model(x_train)[0], y_train, reduction="none").cpu()
        order = _call("curriculum", cur_name, curriculum.indices, epoch, generator, student_loss)
        order = order.to(device)
        model.train()
        if mi is not None:
            mi.train()
        for start in range(0, order.shape[0], batch_size):
            rows = order[start:start + batch_size]
            xb, yb = x_train[rows], y_train[rows]
            tb = t_train[rows] if t_train is not None else None
            thb = th_train[rows] if th_train is not None else None
            if augmentation is not None:
                x_aug = _call("augmentation", aug_name, augmentation, xb, yb, generator)
                t_aug, th_aug = teacher.predict(x_aug)
                xb = torch.cat([xb, x_aug])
                yb = torch.cat([yb, t_aug.argmax(1)])
                tb = torch.cat([tb, t_aug])
                if thb is not None:
                    thb = torch.cat([thb, th_aug])
            logits, hidden = model(xb)
            kd_value = _call("kd_loss", kd_name, kd_loss, logits, tb if kd_uses_teacher else None,
                             yb)
            loss = kd_value
            mi_value = None
            if mi is not None:
                mi_value = _call("mi_objective", mi_name, mi, hidden, thb)
                loss = loss + mi_weight * mi_value
            if not math.isfinite(loss.item()):
                culprit = _nonfinite_source(pipeline, xb, tb, logits, kd_value, mi_value)
                raise NonFiniteLossError(f"the training loss became {loss.item()} at epoch "
                                         f"{epoch}: {culprit}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        valid_logits = _predict(model, x_valid)
        accuracy = float((valid_logits.argmax(1) == y_valid).float().mean())
        valid_loss = float(F.cross_entropy(valid_logits, y_valid))
        history.append(accuracy)
        # Ties in accuracy (a plateau on a small validation set) are broken by the loss, so
        # early stopping does not end a run that is still learning.
        if accuracy > best_accuracy or (accuracy == best_accuracy and valid_loss < best_loss):
            best_accuracy, best_loss, best_epoch, stale = accuracy, valid_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if on_epoch is not None:
            on_epoch(epoch, accuracy)
        if stale >= patience:
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    x_test = torch.as_tensor(dataset.X_test, dtype=torch.float32, device=device)
    test_pred = _predict(model, x_test).argmax(1).cpu().numpy()
    y_test = np.asarray(dataset.y_test)
    from sklearn.metrics import f1_score

    agreement = None
    if teacher is not None:
        agreement = float((teacher.logits["test"].argmax(1).cpu().numpy() == test_pred).mean())
    return TrainResult(
        valid_accuracy=best_accuracy,
        test_accuracy=float((test_pred == y_test).mean()),
        macro_f1=float(f1_score(y_test, test_pred, average="macro", zero_division=0)),
        teacher_agreement=agreement,
        epochs_run=len(history),
        best_epoch=best_epoch,
        seconds=time.perf_counter() - started,
        student=model.cpu(),
        history=history,
    )
