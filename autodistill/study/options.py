"""What a search's options resolve to: checked counts, the study's name, and the
teacher a space needs (``none`` for a space whose pipelines use no teacher).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from autodistill.errors import AutodistillError, StorageError
from autodistill.metrics import warn_majority
from autodistill.study.job import NO_TEACHER, Job
from autodistill.study.population_worker import default_population
from autodistill.training.pipeline import is_no_teacher

__all__ = ["MAX_STUDY_NAME", "PLAIN_SUFFIX", "checked_options", "default_study_name",
           "refuse_other_metric", "refuse_other_space", "study_name", "teacher_for",
           "warn_fixed_space", "warn_majority"]

log = logging.getLogger(__name__)

#: The longest study name Optuna's and autodistill's tables hold.
MAX_STUDY_NAME = 512


#: Appended to the name of a study that searched a plain student's training settings.
PLAIN_SUFFIX = "-plain_tuned"


def default_study_name(dataset: Any, student: str, split_seed: int = 0, *,
                       plain: bool = False) -> str:
    """``<dataset>-<student>``, e.g. ``wine-mlp16`` (``-split<N>`` for a split seed N != 0;
    ``-plain_tuned`` appended for a ``plain`` study, one that uses no teacher)."""
    base = str(dataset.name).split(":", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9]+", "-", os.path.splitext(os.path.basename(base))[0]).strip("-")
    name = f"{base[:48] or 'data'}-{re.sub(r'[^A-Za-z0-9]+', 'x', student.replace(':', ''))}"
    name = f"{name}-split{split_seed}" if split_seed else name
    return f"{name}{PLAIN_SUFFIX}" if plain else name


def study_name(study: str | None, dataset: Any, job: Job) -> str:
    """``study`` or the default name; a study without a teacher ends in ``-plain_tuned``
    (that is how a task's plain_tuned study is found)."""
    plain = job.teacher == NO_TEACHER
    if study and plain and not study.endswith(PLAIN_SUFFIX):
        return study + PLAIN_SUFFIX
    return study or default_study_name(dataset, job.student, job.split_seed, plain=plain)


def teacher_for(space: str, teacher: str) -> str:
    """``none`` when ``teacher`` says none (in any case) or no pipeline of ``space`` uses a
    teacher (``plain``: no teacher is trained for a study that cannot use it), else
    ``teacher``."""
    from autodistill.study.space_files import load_space

    if is_no_teacher(teacher):
        return NO_TEACHER
    if not load_space(space).uses_teacher:
        log.info("space '%s' uses no teacher: none is trained", space)
        return NO_TEACHER
    return teacher


def checked_options(trials: int, workers: int, population: int | None,
                     timeout: float | None, study: str | None, student: str = "mlp:16") -> int:
    """Refuse impossible options (a misspelt ``student`` too, before the data and the
    teacher load); return the population size (its default filled in)."""
    from autodistill.training.students import parse_student_spec

    parse_student_spec(student)
    if trials < 1:
        raise AutodistillError(f"--trials {trials}: ask for at least one trial")
    if workers < 1:
        raise AutodistillError(f"--workers {workers}: use at least one worker")
    if timeout is not None and not timeout > 0:
        raise AutodistillError(f"--timeout {timeout}: give a positive number of seconds, "
                               "or leave it out to run every trial")
    if study is not None and not study.strip():
        raise AutodistillError(f"--study {study!r}: a study name needs a visible character; "
                               "leave --study out for the default name")
    if study is not None and len(study) > MAX_STUDY_NAME:
        raise AutodistillError(f"--study: a study name has 1 to {MAX_STUDY_NAME} characters, "
                               f"this one has {len(study)}; use a shorter name")
    if population is None:
        population = default_population()
    if population < 1:
        raise AutodistillError(f"--population {population}: train at least one trial at a "
                               "time (1 trains them one by one)")
    return population


def refuse_other_metric(existing: Any, metric: str, url: str, name: str) -> None:
    """Refuse, in one line, to resume study ``name`` (whose record is ``existing``) with
    another ``--metric``: its trials' values are another metric's (a study recorded before
    ``--metric`` existed optimised accuracy)."""
    from autodistill.store.storage import mask_url

    if existing.metric == metric:
        return
    raise StorageError(
        f"study '{name}' in {mask_url(url)} optimised --metric {existing.metric}, not "
        f"{metric}; pass --metric {existing.metric} to resume it, or --study "
        f"{name}-{metric} for a new study of this metric")


def refuse_other_space(existing: Any, space: Any, url: str, name: str) -> None:
    """Refuse, in one line, to resume study ``name`` (whose record is ``existing``) in
    another space: Optuna cannot mix two spaces in one study (its dynamic-space error), and
    the trials of one would be compared with those of the other. A space file is known by
    its text: the same file by another path (or a copy) resumes, an edited one does not."""
    from pathlib import Path

    from autodistill.store.storage import mask_url

    where = f"study '{name}' in {mask_url(url)}"
    fresh = f"--study {name}-{Path(space.name).stem} for a new study in this space"
    if existing.space_digest is not None and space.file_digest is not None:
        if existing.space_digest != space.file_digest:
            raise StorageError(f"{where} searched the space file '{existing.space}' as it was "
                               f"when the study began; '{space.name}' now holds other "
                               f"content; restore it to resume the study, or pass {fresh}")
    elif existing.space != space.name:
        raise StorageError(f"{where} searched space '{existing.space}', not '{space.name}'; "
                           f"pass --space {existing.space} to resume it, or {fresh}")


def warn_fixed_space(space: Any, trials: int) -> None:
    """Warn when ``space`` holds one pipeline only: its trials would all train the same."""
    if space.is_fixed and trials > 1:
        log.warning("space '%s' fixes every choice: its %d trials would each train the same "
                    "pipeline with the same seed; --trials 1 is enough", space.name, trials)
