"""The tasks of the shipped knowledge base: fixed, reproducible suites.

Suite 1 (what ships today) is a (data spec, student spec) grid, teacher ``auto``: the
four bundled datasets with two student widths each, and synthetic families drawn with a
fixed seed over rows (200 to 20,000), features (2 to 200), classes (2 to 30), label noise,
imbalance, class separation and the teacher/student gap (student widths 4 to 32).

Suite 2 (issue 11, the shipped knowledge base): every table of the real catalogue
(:mod:`autodistill.data.real_catalogue`, ``pkg:SOURCE/DATASET``) plus a synthetic minority
(every third synthetic task of suite 1), each with BOTH teachers, ``auto`` and ``gbdt``.
Its task key names the teacher (``data|student|teacher``); the task's ``plain_tuned``
study uses no teacher, so both teachers of one (data, student) share it
(:attr:`KBTask.plain_key`). Students are chosen from the data spec's hash, so adding a
table changes no other task: mostly ``mlp:16``, a fifth ``mlp:8`` and a fifth ``mlp:32``.
A table that cannot serve (outside 200..100,000 rows, one class, ...) is skipped by the
builder with its reason, not dropped here: the suite does not depend on what is installed.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

__all__ = ["KB_SPACE", "KB_SPACES", "KB_TEACHERS", "SUITES", "KBTask", "kb_space", "kb_tasks"]

#: The space suite 1's studies searched (the previous knowledge base; suite 2 ships):
#: epoch-based training settings, as its trials were recorded.
KB_SPACE = "kb"
#: The space each suite's distillation studies search: suite 2 trains with the training
#: recipe (``kb2``: ``kb``'s components, ``plain``'s training ranges), so its teacher
#: pipelines get the training freedom its ``plain_tuned`` studies get.
KB_SPACES = {1: KB_SPACE, 2: "kb2"}


@dataclass(frozen=True)
class KBTask:
    """One knowledge-base task."""

    data: str
    student: str
    #: The teacher spec; ``None`` in suite 1, whose tasks all use ``auto`` and whose keys
    #: predate teachers in keys.
    teacher: str | None = None

    @property
    def key(self) -> str:
        """A unique, readable identifier: ``data|student`` (suite 1) or
        ``data|student|teacher``."""
        if self.teacher is None:
            return self.plain_key
        return f"{self.data}|{self.student}|{self.teacher}"

    @property
    def plain_key(self) -> str:
        """The key of the task's ``plain_tuned`` study, shared by every teacher of the same
        data and student: ``data|student``."""
        return f"{self.data}|{self.student}"

    @property
    def teacher_spec(self) -> str:
        """The teacher this task distils from (``auto`` for suite 1)."""
        return self.teacher or "auto"

    @property
    def is_real(self) -> bool:
        """Whether the data is a real table (``pkg:``), not a generated one."""
        return self.data.startswith("pkg:")


#: The teachers of every suite-2 table: a strong-on-average ensemble and a tree model.
KB_TEACHERS = ("auto", "gbdt")
#: The suite versions :func:`kb_tasks` knows; 1 is the shipped knowledge base.
SUITES = (1, 2)


def kb_space(version: int = 1) -> str:
    """The shipped space the distillation studies of suite ``version`` search."""
    if version not in KB_SPACES:
        raise ValueError(f"unknown knowledge-base suite {version}; choose one of {SUITES}")
    return KB_SPACES[version]


def _classification(rng: random.Random, index: int) -> str:
    n = int(round(10 ** rng.uniform(2.3, 3.8), -1))
    d = int(round(10 ** rng.uniform(0.5, 2.3)))
    d = max(d, 2)
    informative = max(2, min(d, int(round(d * rng.uniform(0.3, 1.0)))))
    classes = rng.choice([2, 2, 3, 4, 5, 8, 10, 15, 30])
    classes = max(2, min(classes, n // 25))  # at least ~25 rows per class
    # make_classification needs classes * clusters (1) <= 2 ** informative
    while classes > 2 ** informative:
        informative += 1
    d = max(d, informative)
    sep = rng.choice([0.5, 0.8, 1.0, 1.5, 2.0])
    flip = rng.choice([0.0, 0.0, 0.02, 0.05, 0.1, 0.2])
    spec = (f"synthetic:classification?n={n}&d={d}&informative={informative}"
            f"&classes={classes}&class_sep={sep}&flip_y={flip}&seed={index}")
    if rng.random() < 0.3 and classes <= 5:
        major = rng.choice([0.6, 0.75, 0.9])
        rest = (1 - major) / (classes - 1)
        spec += "&weights=" + ",".join([f"{major:.2f}"] + [f"{rest:.3f}"] * (classes - 2))
    return spec


def kb_tasks(version: int = 1) -> list[KBTask]:
    """Return the knowledge base's tasks of suite ``version``, always the same.

    Suite 1 has 62 tasks (the shipped knowledge base); suite 2 has the real catalogue's
    tables and a synthetic minority, each with both :data:`KB_TEACHERS`.
    """
    if version == 2:
        return _suite_two()
    if version != 1:
        raise ValueError(f"unknown knowledge-base suite {version}; choose one of {SUITES}")
    return _suite_one()


def _student_for(data: str) -> str:
    """A student width fixed by the data spec's hash: 60% ``mlp:16``, 20% each ``mlp:8``
    and ``mlp:32`` (so the student/teacher parameter ratio varies)."""
    bucket = int(hashlib.sha256(data.encode()).hexdigest()[:8], 16) % 10
    return "mlp:8" if bucket < 2 else "mlp:32" if bucket < 4 else "mlp:16"


def _suite_two() -> list[KBTask]:
    from autodistill.data.real_tables import catalogue

    real = [table.spec for table in catalogue()]
    synthetic = [task.data for task in _suite_one()
                 if task.data.startswith("synthetic:")][::3]
    return [KBTask(data, _student_for(data), teacher)
            for data in [*real, *synthetic] for teacher in KB_TEACHERS]


def _suite_one() -> list[KBTask]:
    rng = random.Random(2026)
    tasks = [KBTask(f"builtin:{name}", student)
             for name in ("iris", "wine", "breast_cancer", "digits")
             for student in ("mlp:4", "mlp:16")]
    students = ["mlp:4", "mlp:8", "mlp:16", "mlp:32"]
    for index in range(40):
        tasks.append(KBTask(_classification(rng, index), rng.choice(students)))
    # Two large tasks, so that size is covered up to 20,000 rows.
    tasks.append(KBTask("synthetic:classification?n=20000&d=50&informative=20&classes=10"
                        "&class_sep=1.0&flip_y=0.05&seed=100", "mlp:16"))
    tasks.append(KBTask("synthetic:classification?n=12000&d=20&informative=10&classes=4"
                        "&class_sep=0.8&flip_y=0.02&seed=101", "mlp:8"))
    for index, noise in enumerate((0.1, 0.25, 0.4)):
        tasks.append(KBTask(f"synthetic:moons?n={[300, 1000, 3000][index]}&noise={noise}"
                            f"&seed={index}", "mlp:4"))
        tasks.append(KBTask(f"synthetic:circles?n={[400, 1200, 2500][index]}&noise={noise / 2}"
                            f"&seed={index}", "mlp:4"))
    for index, (d, classes, std) in enumerate(((2, 3, 1.5), (10, 6, 3.0), (30, 12, 4.0))):
        tasks.append(KBTask(f"synthetic:blobs?n=1500&d={d}&classes={classes}&std={std}"
                            f"&seed={index}", "mlp:8"))
    for index, (d, classes) in enumerate(((2, 3), (4, 4), (8, 5))):
        tasks.append(KBTask(f"synthetic:gaussian_quantiles?n=2000&d={d}&classes={classes}"
                            f"&seed={index}", rng.choice(students)))
    return tasks
