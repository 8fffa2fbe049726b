"""The Python API: ``autodistill.recommend``, ``autodistill.distill``, ``autodistill.search``.

Each takes what a notebook has: a data spec or path, a pandas DataFrame with
``target="column"``, or arrays ``X`` with ``target=y``; a pipeline as a preset name, a
dict, JSON text or a :class:`~autodistill.training.pipeline.Pipeline`. In-memory data are stored
once as a Parquet file in the cache (keyed by content), so that search workers in other
processes, and the teacher cache, see the same table. Each returns a result object:
:class:`DistillResult`, :class:`SearchResult` (with the Optuna study), or
:class:`Recommendations`; a :class:`Student` predicts from raw rows and saves the
deployable model directory that ``autodistill predict`` reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from autodistill.data.frames import Data, Target, data_spec
from autodistill.errors import DataError
from autodistill.training.teacher_specs import teacher_spec

if TYPE_CHECKING:
    import optuna
    from torch import nn

    from autodistill.data.dataset import Dataset
    from autodistill.training.pipeline import Pipeline

__all__ = ["recommend", "distill", "search", "Student", "DistillResult", "SearchResult",
           "Recommendations", "data_spec"]

log = logging.getLogger(__name__)


class Student:
    """A trained student with the preprocessing it was trained behind.

    ``predict``/``predict_proba`` take raw rows: a DataFrame with the training columns (by
    name; strings and missing values as in training), or a 2-D array when the model was
    trained on arrays. ``save(dir)`` writes the model directory ``autodistill predict``
    scores (``model.onnx`` + ``model.json``).
    """

    def __init__(self, module: nn.Module, dataset: Dataset, pipeline: Pipeline,
                 report: dict[str, Any]) -> None:
        self.module = module.cpu().eval()
        self.dataset = dataset
        self.pipeline = pipeline
        self.report = report
        self._schema: Any = None

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, in the order of :meth:`predict_proba`'s columns."""
        return self.dataset.classes

    @property
    def columns(self) -> tuple[str, ...]:
        """The raw columns a row needs."""
        return self.dataset.raw.schema().columns

    def _frame(self, X: Any) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame | pd.Series | dict) or (
                isinstance(X, list) and X and isinstance(X[0], dict)):
            return X  # named columns: InputSchema.prepare reads them
        array = np.asarray(X)
        array = array.reshape(1, -1) if array.ndim == 1 else array
        columns = list(self.dataset.raw.frame.columns)
        if array.ndim != 2 or array.shape[1] != len(columns):
            raise DataError(f"X has shape {array.shape}; the student takes {len(columns)} columns "
                            f"({', '.join(columns[:10])}); pass a DataFrame with those columns")
        return pd.DataFrame(array, columns=columns)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``[rows, classes]`` (columns in :attr:`classes` order)."""
        import torch

        from autodistill.training.export import encoded_schema
        from autodistill.training.model_dir import check_unseen

        if self._schema is None:  # with the training categories, as model.json has them
            self._schema = encoded_schema(self.dataset)
        schema = self._schema
        feeds = schema.prepare(self._frame(X), "X")
        check_unseen(schema, feeds, "X")  # as the saved model warns
        frame = pd.DataFrame({c: feeds[c].reshape(-1) for c in schema.columns})
        if len(frame) == 0:  # as the saved model answers: no rows, no probabilities
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        encoded = np.asarray(self.dataset.preprocessor.transform(frame), dtype=np.float32)
        with torch.no_grad():
            logits = self.module(torch.as_tensor(encoded))
            logits = logits[0] if isinstance(logits, tuple | list) else logits
            return torch.softmax(logits, dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class name of each row."""
        return np.asarray(self.classes, dtype=object)[self.predict_proba(X).argmax(axis=1)]

    def save(self, directory: str | PathLike) -> Path:
        """Write the deployable model directory (see :mod:`autodistill.training.model_dir`)."""
        from autodistill.training.model_dir import save_model

        return save_model(Path(directory), self.dataset, self.module,
                          pipeline=self.pipeline.to_dict(), report=self.report,
                          student_spec=self.report.get("student", {}).get("spec"))


@dataclass
class DistillResult:
    """What :func:`distill` returns: the ``distill --json`` document and the student."""

    report: dict[str, Any]
    pipeline: Pipeline
    student: Student

    @property
    def accuracy(self) -> float:
        """The student's test accuracy."""
        return self.report["student"]["accuracy"]

    @property
    def teacher_accuracy(self) -> float | None:
        """The teacher's test accuracy (None with ``teacher="none"``)."""
        return self.report["teacher"]["accuracy"]

    @property
    def metrics(self) -> dict[str, Any]:
        """The student's metrics (accuracy, macro F1, teacher agreement, params, ...;
        ``["metrics"]["test"]`` holds every metric of ``--metric`` on test)."""
        return self.report["student"]

    @property
    def score(self) -> float:
        """The student's test score in the chosen ``metric``."""
        return self.report["student"]["score"]


def distill(data: Data, pipeline: Pipeline | dict | str = "hinton", *, target: Target = None,
            teacher: str = "auto", student: str = "mlp:16", seed: int = 0, split_seed: int = 0,
            out: str | PathLike | None = None, name: str | None = None,
            metric: str = "accuracy", teacher_input: str | None = None,
            trust_type: Sequence[str] = ()) -> DistillResult:
    """Train ``student`` on ``data`` with ``pipeline`` (as ``autodistill distill`` does).

    Args:
        data: A data spec or path, a DataFrame (with ``target`` a column name or the
            labels) or a 2-D array (with ``target`` the labels).
        pipeline: A preset name (``plain``, ``hinton``), a dict, JSON text or file, or a
            :class:`~autodistill.training.pipeline.Pipeline`.
        target: The label column, or the labels.
        teacher: ``auto``, a TorchScript file, ``sklearn:PATH``, ``onnx:PATH`` or
            ``outputs:PATH``; ``none`` (a pipeline without one): no teacher is trained.
        student: The student spec, e.g. ``mlp:16``.
        seed: Seed of student training.
        split_seed: Seed of the 64/16/20 split.
        out: Also write the deployable model directory there.
        name: The dataset's name for in-memory data (default ``frame``).
        metric: The score the report leads with (``accuracy``, ``balanced_accuracy``,
            ``macro_f1``, ``log_loss``); :attr:`DistillResult.score`. All four are in
            ``report["student"]["metrics"]`` either way.
        teacher_input: For your own teacher, what it takes: ``raw`` (the data file's
            columns) or ``encoded`` (autodistill's encoding), as ``--teacher-input``.
        trust_type: Types a ``sklearn:`` (skops) teacher file may hold beyond the trusted
            ones, as ``--trust-type``; only for files you trust.
    """
    from autodistill.training.distillation import distill_run

    teacher = teacher_spec(teacher, teacher_input, list(trust_type))
    spec, column = data_spec(data, target, name=name)
    report, dataset, result = distill_run(spec, pipeline, target=column, teacher=teacher,
                                          student=student, seed=seed, split_seed=split_seed,
                                          out=Path(out) if out is not None else None,
                                          metric=metric)
    from autodistill.training.distillation import as_pipeline

    chosen = as_pipeline(pipeline)
    return DistillResult(report, chosen, Student(result.student, dataset, chosen, report))


@dataclass
class SearchResult:
    """What :func:`search` returns: the ``search --json`` summary and the Optuna study.

    :attr:`student` retrains the best trial's pipeline with the search's seed on first
    access (a trial keeps no weights; training is deterministic on the CPU).
    """

    summary: dict[str, Any]
    study: optuna.Study
    _rerun: Callable[[], DistillResult] = field(repr=False)
    _best: DistillResult | None = field(default=None, repr=False)

    @property
    def best_pipeline(self) -> Pipeline | None:
        """The best trial's pipeline (``None`` when no trial completed)."""
        from autodistill.training.pipeline import Pipeline

        best = self.summary["best"]
        return Pipeline.from_dict(best["pipeline"]) if best else None

    @property
    def best_value(self) -> float | None:
        """The best trial's validation score."""
        return self.summary["best"]["valid_score"] if self.summary["best"] else None

    @property
    def metrics(self) -> dict[str, Any] | None:
        """The best trial's figures (validation score, test accuracy, seconds)."""
        return self.summary["best"]

    @property
    def student(self) -> Student:
        """The best trial's student, retrained (once) with the search's seed."""
        if self._best is None:
            if self.summary["best"] is None:
                raise DataError("no trial completed, so there is no best student")
            self._best = self._rerun()
        return self._best.student


def search(data: Data, *, target: Target = None, teacher: str = "auto",
           student: str = "mlp:16", space: str = "default", trials: int = 50,
           timeout: float | None = None, storage: str | None = None, study: str | None = None,
           workers: int = 1, warm_start: int = 0, seed: int = 0, split_seed: int = 0,
           callbacks: Sequence[Callable[[Any, Any], None]] = (),
           name: str | None = None, metric: str = "accuracy", teacher_input: str | None = None,
           trust_type: Sequence[str] = ()) -> SearchResult:
    """Run (or resume) an Optuna study over the distillation pipelines (``autodistill
    search``); ``callbacks`` are Optuna callbacks, each called as ``callback(study, trial)``
    once for every trial that finishes during this call, whichever worker ran it (so
    MLflow's or W&B's Optuna callback works). ``metric`` is the objective on validation
    (``log_loss`` is minimised); every trial stores all four in its ``metrics`` attribute.
    Other arguments (``teacher_input`` and ``trust_type`` too) as :func:`distill` and the
    CLI."""
    import optuna

    from autodistill.meta.advisor import KnowledgeAdvisor
    from autodistill.store import storage as store
    from autodistill.study.job import NO_TEACHER
    from autodistill.study.options import teacher_for
    from autodistill.study.plain import plain_study_name
    from autodistill.study.run import default_study_name, run_search

    teacher = teacher_spec(teacher, teacher_input, list(trust_type))

    spec, column = data_spec(data, target, name=name)
    plain = teacher_for(space, teacher) == NO_TEACHER
    if study is None:
        from autodistill.data.dataset import load_dataset

        study = default_study_name(load_dataset(spec, target=column, split_seed=split_seed),
                                   student, split_seed, plain=plain)
    elif plain:  # as the search itself names it: a teacherless study ends in -plain_tuned
        study = plain_study_name(study)
    url = store.resolve_url(storage)
    feed = _TrialFeed(url, study, list(callbacks))
    summary = run_search(spec, target=column, teacher=teacher, student=student, space=space,
                         trials=trials, timeout=timeout, storage=storage, study=study,
                         workers=workers, warm_start=warm_start, advisor=KnowledgeAdvisor(),
                         seed=seed,
                         split_seed=split_seed, progress=feed.progress if callbacks else None,
                         quiet=True, metric=metric)
    feed.poll()
    loaded = optuna.load_study(study_name=study, storage=store.open_optuna_storage(url))

    def rerun() -> DistillResult:
        return distill(spec, summary["best"]["pipeline"], target=column, teacher=teacher,
                       student=student, seed=seed, split_seed=split_seed, metric=metric)

    return SearchResult(summary, loaded, rerun)


class _TrialFeed:
    """Hands every newly finished trial of a study to Optuna-style callbacks, once each."""

    def __init__(self, url: str, study: str, callbacks: list[Callable[[Any, Any], None]]):
        self.url, self.name, self.callbacks = url, study, callbacks
        self._study: Any = None
        self._seen: set[int] | None = None
        if callbacks:
            self._seen = {t.number for t in self._trials() if t.state.is_finished()}

    def _trials(self) -> list[Any]:
        import optuna

        from autodistill.store import storage as store

        if self._study is None:
            try:
                self._study = optuna.load_study(study_name=self.name,
                                                storage=store.open_optuna_storage(self.url))
            except KeyError:  # not created yet
                return []
        return self._study.get_trials(deepcopy=False)

    def progress(self, done: int, total: int, best: float | None) -> None:
        """A ``run_search`` progress hook that polls for finished trials."""
        self.poll()

    def poll(self) -> None:
        """Call the callbacks for the trials finished since the last poll."""
        if not self.callbacks:
            return
        seen = self._seen if self._seen is not None else set()
        for trial in self._trials():
            if trial.state.is_finished() and trial.number not in seen:
                seen.add(trial.number)
                for callback in self.callbacks:
                    callback(self._study, trial)
        self._seen = seen


@dataclass
class Recommendations:
    """What :func:`recommend` returns: the ``recommend --json`` document, ranked."""

    doc: dict[str, Any]

    @property
    def pipelines(self) -> list[Pipeline]:
        """The recommended pipelines, best first."""
        from autodistill.training.pipeline import Pipeline

        return [Pipeline.from_dict(r["pipeline"]) for r in self.doc["recommendations"]]

    @property
    def best(self) -> Pipeline:
        """The top recommendation."""
        return self.pipelines[0]

    def __len__(self) -> int:
        return len(self.doc["recommendations"])


def recommend(data: Data, *, target: Target = None, teacher: str = "auto",
              student: str = "mlp:16", top: int = 5, storage: str | None = None,
              split_seed: int = 0, name: str | None = None, metric: str = "accuracy",
              teacher_input: str | None = None, trust_type: Sequence[str] = ()
              ) -> Recommendations:
    """Rank distillation pipelines for ``data`` without searching (``autodistill
    recommend``) by their predicted ``metric`` on unseen rows; pass ``result.best`` to
    :func:`distill`. ``teacher_input`` and ``trust_type`` as :func:`distill`.

    Raises:
        MetricError: an unknown metric, or one the evidence (knowledge base and your
            studies) does not hold.
    """
    from autodistill.meta.recommender import recommend as recommend_doc

    teacher = teacher_spec(teacher, teacher_input, list(trust_type))
    spec, column = data_spec(data, target, name=name)
    return Recommendations(recommend_doc(spec, target=column, teacher=teacher, student=student,
                                         top=top, storage=storage, split_seed=split_seed,
                                         metric=metric))
