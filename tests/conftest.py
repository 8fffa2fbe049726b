"""Shared fixtures: an isolated home, no third-party plugins, small real datasets.

Every session gets its own ``AUTODISTILL_HOME`` (cache and data dirs, so the SQLite
default and the teacher cache never touch the user's) and ``AUTODISTILL_PLUGINS=""`` (only
the built-ins load unless a test sets it). Tests change either with ``monkeypatch``; the
session values come back afterwards. ``fresh_home`` gives one test an empty home.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

_SESSION_ENV = {"AUTODISTILL_PLUGINS": ""}
# Under pytest-xdist (the README's command runs one worker per core), each worker and the
# commands it starts use one thread: two workers of two threads each on two cores fight
# over them.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    _SESSION_ENV.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
# Collection parametrizes over the registry, so it must see what the tests see: only the
# built-ins, whatever third-party plugins (the example plugin, in CI) are installed.
os.environ.update(_SESSION_ENV)
_CLEARED_ENV = ("AUTODISTILL_STORAGE", "AUTODISTILL_STRICT_PLUGINS")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under ``AUTODISTILL_REQUIRE_POSTGRES=1`` (CI) a PostgreSQL skip is a failure.

    On a user's machine without a server those tests skip with the reason; in CI the
    server must be there, so a skip would hide a broken setup.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("AUTODISTILL_REQUIRE_POSTGRES") == "1":
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
        if "PostgreSQL" in reason:
            report.outcome = "failed"
            report.longrepr = f"AUTODISTILL_REQUIRE_POSTGRES=1 but: {reason}"


PG_USERS = ("postgres", "root")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session, dropped at its end, or a skip.

    The server is the one at 127.0.0.1:5432 (trust auth), reached through the database
    ``test`` (or the one named by ``AUTODISTILL_TEST_POSTGRES_DB``). A database of its own
    keeps the session independent of whatever earlier runs (another branch's schema
    version, say) left in the shared one; where the user may not create databases, the
    shared one is used as it is.
    """
    try:
        import psycopg
    except ImportError:
        pytest.skip("PostgreSQL tests need psycopg: pip install '.[postgres]'")
    reasons = []
    dbname = os.environ.get("AUTODISTILL_TEST_POSTGRES_DB") or "test"
    for user in PG_USERS:
        try:
            admin = psycopg.connect(host="127.0.0.1", port=5432, user=user, dbname=dbname,
                                    connect_timeout=3, autocommit=True)
        except psycopg.Error as exc:
            reasons.append(f"{user}: {str(exc).strip().splitlines()[0]}")
            continue
        fresh = f"autodistill_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        try:
            admin.execute(f'CREATE DATABASE "{fresh}"')
        except psycopg.Error:
            admin.close()
            yield f"postgresql+psycopg://{user}@127.0.0.1:5432/{dbname}"
            return
        try:
            yield f"postgresql+psycopg://{user}@127.0.0.1:5432/{fresh}"
        finally:
            try:
                admin.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
            finally:
                admin.close()
        return
    pytest.skip(f"PostgreSQL at 127.0.0.1:5432 (database '{dbname}') is unreachable ("
                + "; ".join(reasons) + ")")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A storage URL: a fresh SQLite file, then the PostgreSQL of :func:`postgres_url`."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session", autouse=True)
def autodistill_session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's ``AUTODISTILL_HOME`` (set for every test, restored at the end)."""
    home = tmp_path_factory.mktemp("autodistill_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTODISTILL_HOME", str(home))
        for name, value in _SESSION_ENV.items():
            patch.setenv(name, value)
        for name in _CLEARED_ENV:
            patch.delenv(name, raising=False)
        yield home


@pytest.fixture(autouse=True)
def builtin_registry_between_tests():
    """Plugins a test loaded (by setting ``AUTODISTILL_PLUGINS``) leave with it.

    The registry is cached per process; without this, a test that loads the example
    plugin would change which components the tests after it see.
    """
    yield
    from autodistill.registry import manager as registry

    loaded = registry._registry
    if loaded is not None and any(
        entry.plugin != registry.BUILTIN_PLUGIN_NAME
        for family in loaded.components.values() for entry in family.values()
    ):
        registry.reset_registry()


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``AUTODISTILL_HOME`` and an empty in-process teacher memo for one test."""
    from autodistill.training import teachers

    home = tmp_path / "home"
    monkeypatch.setenv("AUTODISTILL_HOME", str(home))
    teachers.clear_memo()
    yield home
    teachers.clear_memo()


@pytest.fixture(scope="session")
def digits(autodistill_session_home: Path):
    """``builtin:digits`` (1797 rows, 64 features, 10 classes), split seed 0."""
    from autodistill.data.dataset import load_dataset

    return load_dataset("builtin:digits")


@pytest.fixture(scope="session")
def iris(autodistill_session_home: Path):
    """``builtin:iris`` (150 rows, 4 features, 3 classes), split seed 0."""
    from autodistill.data.dataset import load_dataset

    return load_dataset("builtin:iris")


@pytest.fixture(scope="session")
def digits_teacher(digits, autodistill_session_home: Path):
    """The ``auto`` teacher's outputs on ``digits`` on the CPU, trained once per session."""
    import torch

    from autodistill.training.teachers import get_teacher

    with pytest.MonkeyPatch.context() as patch:  # cache in the session home, whoever asks
        patch.setenv("AUTODISTILL_HOME", str(autodistill_session_home))
        return get_teacher("auto", digits, device=torch.device("cpu"))


@pytest.fixture(scope="session")
def iris_teacher(iris, autodistill_session_home: Path):
    """The ``auto`` teacher's outputs on ``iris`` on the CPU."""
    import torch

    from autodistill.training.teachers import get_teacher

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTODISTILL_HOME", str(autodistill_session_home))
        return get_teacher("auto", iris, device=torch.device("cpu"))


@pytest.fixture(scope="session")
def messy_csv():
    """Writes a table nobody searched: string categories, missing values, imbalanced string
    labels. Call it as ``messy_csv(path, rows=400, seed=3)``; it returns ``path``."""
    import numpy
    import pandas

    def write(path: Path, rows: int = 400, seed: int = 3) -> Path:
        rng = numpy.random.default_rng(seed)
        x1 = rng.normal(size=rows)
        x2 = rng.normal(size=rows)
        colour = rng.choice(["red", "green", "blue"], size=rows)
        score = x1 + 0.8 * x2 + (colour == "red") * 1.2 + rng.normal(scale=0.5, size=rows)
        label = numpy.where(score > 1.4, "churned", "stayed")
        frame = pandas.DataFrame({"x1": x1, "x2": x2, "colour": colour, "plan": rng.choice(
            ["basic", "pro", None], size=rows), "label": label})
        frame.loc[rng.choice(rows, size=rows // 10, replace=False), "x2"] = numpy.nan
        frame.to_csv(path, index=False)
        return path

    return write


@pytest.fixture
def assert_matches_alone():
    """``check(members, dataset, teacher)``: train ``members`` as one population and check
    each ends where its one-at-a-time run ends (same epochs, validation curve within 0.02,
    weights within float noise); returns the population's results."""
    import torch

    from autodistill.training.engine import train_population, train_student

    def check(members, dataset, teacher):
        together = train_population(members, dataset, teacher)
        for member, result in zip(members, together, strict=True):
            alone = train_student(member.pipeline, dataset, teacher, seed=member.seed)
            assert result.epochs_run == alone.epochs_run
            assert result.history == pytest.approx(alone.history, abs=0.02)
            for key, value in alone.student.state_dict().items():
                torch.testing.assert_close(result.student.state_dict()[key], value,
                                           rtol=1e-3, atol=1e-4)
        return together

    return check


@pytest.fixture(scope="session")
def shipped_suite() -> int:
    """The suite (``kb_tasks`` version) the shipped knowledge base was built from: the one
    whose space its task records name (suite 1's records name none)."""
    from autodistill.meta.knowledge import shipped_space
    from autodistill.meta.task_suite import KB_SPACES

    return next(version for version, space in KB_SPACES.items() if space == shipped_space())
