"""Storage: our tables beside Optuna's in one database, schema version, one-line errors."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import optuna
import pytest
from sqlalchemy import inspect, select, text

from autodistill.errors import StorageError
from autodistill.store import journal as _journal
from autodistill.store import schema, storage
from autodistill.store.record import (
    RECORD_FORMAT,
    StudyRecord,
    read_study_record,
    write_study_record,
)

FIXTURES = Path(__file__).parent / "fixtures"


def test_our_tables_live_beside_optunas_and_load_study_opens_the_study(url: str) -> None:
    name = f"test-storage-{uuid.uuid4().hex[:8]}"
    optuna_storage = storage.open_optuna_storage(url, heartbeat_interval=5)
    study = optuna.create_study(study_name=name, storage=optuna_storage, direction="maximize")
    try:
        storage.ensure_schema(url)
        tables = set(inspect(storage.get_engine(url)).get_table_names())
        assert {"autodistill_schema_version", "autodistill_kb_tasks", "autodistill_kb_trials",
                "studies", "trials"} <= tables
        with storage.get_engine(url).connect() as conn:
            assert schema.current_version(conn) == schema.SCHEMA_VERSION
        write_study_record(study, RECORD)
        # Same URL, plain Optuna (what optuna-dashboard does), and the typed record back.
        loaded = optuna.load_study(study_name=name, storage=url)
        assert loaded.direction.name == "MAXIMIZE"
        assert read_study_record(loaded) == RECORD
    finally:
        storage.delete_study(url, name)
    with pytest.raises(KeyError):
        optuna.load_study(study_name=name, storage=url)


RECORD = StudyRecord(
    dataset="builtin:iris", dataset_name="iris", fingerprint="fp", teacher="auto",
    student="mlp:16", split_seed=0, space="fast", n_rows=150, n_features=4, n_classes=3,
    teacher_accuracy=0.9)


def test_the_study_record_reads_the_first_releases_untyped_dict() -> None:
    old = {"dataset": "builtin:iris", "dataset_name": "iris", "fingerprint": "fp",
           "teacher": "auto", "student": "mlp:16", "split_seed": 0, "space": "fast",
           "n_rows": 150, "n_features": 4, "n_classes": 3, "teacher_accuracy": 0.9,
           "teacher_valid_accuracy": 0.8, "meta_features": {"log_rows": 5.0}}
    record = read_study_record({"autodistill": old})
    assert record.format == RECORD_FORMAT and record.meta_features == {"log_rows": 5.0}
    assert record.conflict(RECORD) is None
    assert RECORD.conflict(StudyRecord(**{**RECORD.to_attrs(), "student": "mlp:8"})) == "student"
    assert read_study_record({"autodistill": "not ours"}) is None
    assert read_study_record({}) is None


def test_a_database_written_by_the_previous_release_opens_and_upgrades(tmp_path: Path) -> None:
    """tests/fixtures/release-0.1.0.db: a search and knowledge-base rows written by 0.1.0
    (schema version 1: dataset and study tables, knowledge-base trials without a source)."""
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / "release-0.1.0.db", path)
    url = f"sqlite:///{path}"
    storage.ensure_schema(url)
    engine = storage.get_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert "autodistill_studies" not in tables and "autodistill_datasets" not in tables
    with engine.connect() as conn:
        assert schema.current_version(conn) == schema.SCHEMA_VERSION
        rows = conn.execute(select(schema.kb_trials.c.source, schema.kb_trials.c.valid)).all()
    assert len(rows) == 2 and {r.source for r in rows} == {"autodistill"}
    # The old study, its trials and its record are all readable.
    study = optuna.load_study(study_name="iris-old", storage=url)
    assert len(study.trials) == 3
    record = read_study_record(study)
    assert (record.dataset, record.student, record.space) == ("builtin:iris", "mlp:4", "fast")
    assert record.meta_features  # what makes it a training row of the meta-model
    engine.dispose()


def test_unreachable_database_is_one_line_without_the_password() -> None:
    bad = "postgresql+psycopg://alice:s3cret@127.0.0.1:1/test"
    with pytest.raises(StorageError) as info:
        storage.ensure_schema(bad)
    message = str(info.value)
    assert "\n" not in message and "s3cret" not in message
    assert "127.0.0.1:1" in message
    with pytest.raises(StorageError) as info:
        storage.open_optuna_storage(bad)
    assert "\n" not in str(info.value) and "s3cret" not in str(info.value)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    storage.ensure_schema(url)
    with storage.get_engine(url).begin() as conn:
        conn.execute(text("UPDATE autodistill_schema_version SET version = 99"))
    storage._ready.discard(url)
    with pytest.raises(StorageError, match="upgrade autodistill"):
        storage.ensure_schema(url)


def test_another_programs_sqlite_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    import sqlite3

    from cli_runner import run_cli

    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
        conn.execute("INSERT INTO customers VALUES (1, 'ada')")
    done = run_cli("studies", "list", "--storage", f"sqlite:///{path}")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"Error: sqlite:///{path} is another program's database (tables: customers) and "
        "holds no studies; pass --storage a new file, e.g. sqlite:///studies.db"]
    with sqlite3.connect(path) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        assert tables == [("customers",)]
        assert conn.execute("SELECT * FROM customers").fetchall() == [(1, "ada")]


def test_optuna_tables_of_an_unknown_schema_are_one_line(tmp_path: Path) -> None:
    import sqlite3

    from cli_runner import run_cli

    path = tmp_path / "odd.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE studies (study_id INTEGER PRIMARY KEY, study_name TEXT)")
        conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
        conn.execute("INSERT INTO alembic_version VALUES ('v9.9.9.z')")
    done = run_cli("studies", "list", "--storage", f"sqlite:///{path}")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: sqlite:///{path}: The runtime "
                                                   "optuna version")
    assert "internal error" not in done.stderr


def test_url_resolution_and_masking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTODISTILL_STORAGE", raising=False)
    assert storage.resolve_url(None).startswith("sqlite:///")
    monkeypatch.setenv("AUTODISTILL_STORAGE", "sqlite:///from-env.db")
    assert storage.resolve_url(None) == "sqlite:///from-env.db"
    assert storage.resolve_url("sqlite:///flag.db") == "sqlite:///flag.db"
    assert storage.resolve_url(str(tmp_path / "bare.db")) == f"sqlite:///{tmp_path / 'bare.db'}"
    assert "pw" not in storage.mask_url("postgresql://bob:pw@db.example/x")
    with pytest.raises(StorageError):
        storage.resolve_url("not a url://")


def test_study_lock_serialises_processes_on_sqlite(tmp_path: Path) -> None:
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'lock.db'}"
    lock = _journal.StudyLock(url, "locked-study")
    assert lock.lock_file is not None and tmp_path not in lock.lock_file.parents
    with lock:
        context = multiprocessing.get_context("spawn")
        probe = context.Process(target=_try_lock, args=(url,))
        probe.start()
        probe.join(timeout=60)
    assert probe.exitcode == 3  # the probe found the lock taken


def _try_lock(url: str) -> None:
    import fcntl
    import sys

    lock = _journal.StudyLock(url, "locked-study")
    with open(lock.lock_file, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.exit(3)
    sys.exit(0)
