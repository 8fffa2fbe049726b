"""``distill``: train one student with one pipeline and report it (the library side of
``autodistill distill``)."""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from autodistill.data.dataset import load_dataset
from autodistill.errors import AutodistillError
from autodistill.training.engine import TrainResult, train_student
from autodistill.training.pipeline import Pipeline
from autodistill.training.students import check_student_fits, count_params
from autodistill.training.teachers import get_teacher

__all__ = ["distill", "save_student"]

log = logging.getLogger(__name__)


def distill(
    data: str,
    pipeline: Pipeline,
    *,
    target: str | None = None,
    teacher: str = "auto",
    student: str = "mlp:16",
    seed: int = 0,
    split_seed: int = 0,
    out: Path | None = None,
) -> dict[str, Any]:
    """Train ``student`` on ``data`` with ``pipeline``; return the ``distill --json`` document.

    The document (the README's ``distill --json``) has ``pipeline``, ``seed``, ``split``, ``teacher``,
    ``student`` and ``seconds``. With ``out``, the student is written there too (see
    :func:`save_student`).
    """
    dataset = load_dataset(data, target=target, split_seed=split_seed)
    check_student_fits(student, dataset.n_features, dataset.n_classes)  # before the teacher
    started = time.perf_counter()
    teacher_outputs = get_teacher(teacher, dataset)
    teacher_seconds = time.perf_counter() - started
    result = train_student(pipeline, dataset, teacher_outputs, student=student, seed=seed)
    report = {
        "dataset": dataset.name,
        "pipeline": pipeline.to_dict(),
        "seed": seed,
        "split": {
            "train": int(len(dataset.y_train)),
            "valid": int(len(dataset.y_valid)),
            "test": int(len(dataset.y_test)),
            "split_seed": split_seed,
        },
        "teacher": {
            "spec": teacher,
            "accuracy": teacher_outputs.accuracy,
            "params": teacher_outputs.params,
        },
        "student": {
            "spec": student,
            "accuracy": result.test_accuracy,
            "valid_accuracy": result.valid_accuracy,
            "macro_f1": result.macro_f1,
            "params": count_params(result.student),
            "teacher_agreement": result.teacher_agreement,
            "epochs_run": result.epochs_run,
        },
        "seconds": {"teacher": round(teacher_seconds, 3), "student": round(result.seconds, 3)},
    }
    if out is not None:
        save_student(result, dataset.n_features, pipeline, report, Path(out))
    return report


def save_student(result: TrainResult, n_features: int, pipeline: Pipeline,
                 report: dict[str, Any], out: Path) -> None:
    """Write ``student.pt`` (state dict), ``student.torchscript.pt``, ``pipeline.json``
    and ``metrics.json`` into ``out``."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AutodistillError(f"--out '{out}': cannot create the directory ({exc})") from None
    model = result.student.cpu().eval()
    torch.save(model.state_dict(), out / "student.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(model)
        scripted.save(str(out / "student.torchscript.pt"))
    (out / "pipeline.json").write_text(pipeline.to_json(indent=2) + "\n")
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
