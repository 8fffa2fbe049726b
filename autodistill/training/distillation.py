"""``distill``: train one student with one pipeline and report it (the library side of
``autodistill distill``)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from autodistill import progress
from autodistill.data.dataset import Dataset, load_dataset
from autodistill.errors import PipelineError
from autodistill.families import FAMILIES
from autodistill.metrics import all_metrics, get_metric, warn_majority
from autodistill.training.engine import TrainResult, train_student
from autodistill.training.pipeline import NO_TEACHER, Pipeline, is_no_teacher
from autodistill.training.students import check_student_fits, count_params, parse_student_spec
from autodistill.training.teachers import get_teacher

__all__ = ["distill", "distill_run", "save_student"]

log = logging.getLogger(__name__)


def distill(data: str, pipeline: Pipeline | dict | str, **options: Any) -> dict[str, Any]:
    """Train a student on ``data`` with ``pipeline``; return the ``distill --json`` document.

    ``pipeline`` is a :class:`Pipeline`, a pipeline dict, or a preset name, JSON text or
    JSON file; ``options`` are those of :func:`distill_run` (``target``, ``teacher``,
    ``student``, ``seed``, ``split_seed``, ``out``, ``metric``).
    """
    return distill_run(data, pipeline, **options)[0]


def as_pipeline(pipeline: Pipeline | dict | str) -> Pipeline:
    """A :class:`Pipeline` from itself, a dict, or a preset name / JSON text / JSON file."""
    from autodistill.training.pipeline import load_pipeline

    if isinstance(pipeline, Pipeline):
        return pipeline
    if isinstance(pipeline, dict):
        return Pipeline.from_dict(pipeline)
    return load_pipeline(str(pipeline))


def distill_run(
    data: str,
    pipeline: Pipeline | dict | str,
    *,
    target: str | None = None,
    teacher: str = "auto",
    student: str = "mlp:16",
    seed: int = 0,
    split_seed: int = 0,
    out: Path | None = None,
    metric: str = "accuracy",
) -> tuple[dict[str, Any], Dataset, TrainResult]:
    """Train ``student`` on ``data`` with ``pipeline``; return the ``distill --json``
    document, the dataset and the training result (with the trained student).

    The document (the README's ``distill --json``) has ``pipeline``, ``seed``, ``split``,
    ``teacher``, ``student`` and ``seconds``. With ``out``, the deployable student is
    written there too (see :func:`save_student`). ``metric`` names the score the report
    leads with (``"metric"``, and ``"score"`` of the student and the teacher, on test);
    ``"metrics"`` holds every metric of the student (validation and test) and of the
    teacher (test, from its probabilities).

    Raises:
        MetricError: an unknown ``metric`` (before anything loads).
    """
    metric = get_metric(metric).name
    pipeline = as_pipeline(pipeline)
    parse_student_spec(student)  # a misspelt --student before the data and the teacher
    if out is not None:
        from autodistill.training.model_dir import check_out_dir

        check_out_dir(Path(out))  # before the training it would otherwise waste
    dataset = load_dataset(data, target=target, split_seed=split_seed)
    warn_majority(dataset, metric)
    check_student_fits(student, dataset.n_features, dataset.n_classes)  # before the teacher
    started = time.perf_counter()
    teacher_outputs = None if _no_teacher(teacher, pipeline) else get_teacher(teacher, dataset)
    teacher_seconds = time.perf_counter() - started
    pipeline = pipeline.for_rows(len(dataset.y_train))  # the settings this run uses
    epochs = int(pipeline.training["epochs"])

    def on_epoch(epoch: int, valid_accuracy: float) -> None:
        if epoch + 1 < epochs:  # the end is reported below, with the kept epoch's score
            progress.report("distill", epoch + 1, epochs, "epoch", valid=valid_accuracy)

    result = train_student(pipeline, dataset, teacher_outputs, student=student, seed=seed,
                           on_epoch=on_epoch, metric=metric)
    progress.report("distill", epochs, epochs, "epoch", f"trained, {result.epochs_run} epochs",
                    valid=result.valid_accuracy)
    report = {
        "metric": metric,
        "dataset": dataset.name,
        "pipeline": pipeline.to_dict(),
        "seed": seed,
        "split": {
            "train": int(len(dataset.y_train)),
            "valid": int(len(dataset.y_valid)),
            "test": int(len(dataset.y_test)),
            "split_seed": split_seed,
        },
        "teacher": _teacher_report(teacher, teacher_outputs, dataset, metric),
        "student": {
            "spec": student,
            "accuracy": result.test_accuracy,
            "valid_accuracy": result.valid_accuracy,
            "macro_f1": result.macro_f1,
            "params": count_params(result.student),
            "teacher_agreement": result.teacher_agreement,
            "epochs_run": result.epochs_run,
            "score": result.test_metrics[metric],
            "metrics": {"valid": result.valid_metrics, "test": result.test_metrics},
        },
        "seconds": {"teacher": round(teacher_seconds, 3), "student": round(result.seconds, 3)},
    }
    if out is not None:
        save_student(result, dataset, pipeline, report, Path(out))
    return report, dataset, result


def _teacher_report(teacher: str, outputs: Any, dataset: Dataset, metric: str,
                    ) -> dict[str, Any]:
    """The report's ``teacher`` part: its test figures, or None for each without one."""
    if outputs is None:
        return {"spec": NO_TEACHER, "accuracy": None, "params": None, "score": None,
                "metrics": {"test": None}}
    metrics = all_metrics(torch.softmax(outputs.logits["test"].float(), 1), dataset.y_test)
    return {"spec": teacher, "accuracy": outputs.accuracy, "params": outputs.params,
            "score": metrics[metric], "metrics": {"test": metrics}}


def _no_teacher(teacher: str, pipeline: Pipeline) -> bool:
    """Whether ``teacher`` is ``none`` (no teacher is loaded or trained).

    Raises:
        PipelineError: ``none`` with a pipeline that uses the teacher.
    """
    if not is_no_teacher(teacher):
        return False
    if pipeline.uses_teacher:
        used = ", ".join(f"{family} {pipeline.component(family).name}" for family in FAMILIES
                         if pipeline.component(family).name != "none")
        raise PipelineError(f"--teacher {NO_TEACHER}: the pipeline uses a teacher ({used}); "
                            "pass a teacher (e.g. --teacher auto) or a pipeline without one "
                            "(--pipeline plain)")
    return True


def save_student(result: TrainResult, dataset: Dataset, pipeline: Pipeline,
                 report: dict[str, Any], out: Path) -> Path:
    """Write the deployable student into ``out``: ``model.onnx`` (raw columns to class
    probabilities and names), ``model.json``, ``student.pt``, ``pipeline.json`` and
    ``metrics.json`` (see :mod:`autodistill.model_dir`)."""
    from autodistill.training.model_dir import save_model

    return save_model(out, dataset, result.student, pipeline=pipeline.to_dict(), report=report,
                      student_spec=report.get("student", {}).get("spec"))
