"""Storage: our tables beside Optuna's in one database, schema version, one-line errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import optuna
import pytest
from sqlalchemy import inspect, select, text

from autodistill import _journal, storage
from autodistill.errors import StorageError
from autodistill.storage import DatasetRow, SchemaVersion, StudyRow


class _Data:
    """The attributes of a Dataset that storage reads."""

    def __init__(self) -> None:
        self.fingerprint = f"test-{uuid.uuid4().hex}"
        self.spec, self.name = "builtin:iris", "iris"
        self.n_rows, self.n_features, self.n_classes = 150, 4, 3
        self.info = {"n_rows": 150, "missing_fraction": 0.0}


def test_our_tables_live_beside_optunas_and_load_study_opens_the_study(url: str) -> None:
    name = f"test-storage-{uuid.uuid4().hex[:8]}"
    data = _Data()
    optuna_storage = storage.open_optuna_storage(url, heartbeat_interval=5)
    optuna.create_study(study_name=name, storage=optuna_storage, direction="maximize")
    try:
        storage.record_dataset(url, data)
        storage.record_study(url, name, dataset_fingerprint=data.fingerprint, teacher="auto",
                             student="mlp:16", space="fast", split_seed=0, teacher_accuracy=0.9)
        tables = set(inspect(storage.get_engine(url)).get_table_names())
        assert {"autodistill_datasets", "autodistill_studies", "autodistill_schema_version",
                "studies", "trials"} <= tables
        with storage.session(url) as s:
            row = s.get(DatasetRow, data.fingerprint)
            assert (row.spec, row.n_rows, row.n_features, row.n_classes) == ("builtin:iris", 150, 4, 3)
            assert row.info == data.info and row.meta_features is None
            assert s.get(SchemaVersion, 1).version == storage.SCHEMA_VERSION
            names = s.scalars(select(StudyRow.name)).all()
            assert name in names
        study_row = storage.get_study_row(url, name)
        assert (study_row.student, study_row.space, study_row.dataset_fingerprint) == (
            "mlp:16", "fast", data.fingerprint)
        # Same URL, plain Optuna (what optuna-dashboard does).
        assert optuna.load_study(study_name=name, storage=url).direction.name == "MAXIMIZE"
        # Recording again keeps the first row.
        storage.record_study(url, name, dataset_fingerprint=data.fingerprint, teacher="other",
                             student="mlp:16", space="default", split_seed=0)
        assert storage.get_study_row(url, name).teacher == "auto"
    finally:
        storage.delete_study(url, name)
        with storage.session(url) as s:
            s.execute(DatasetRow.__table__.delete().where(DatasetRow.fingerprint == data.fingerprint))
    assert storage.get_study_row(url, name) is None
    with pytest.raises(KeyError):
        optuna.load_study(study_name=name, storage=url)


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
