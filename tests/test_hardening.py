"""Issue 13: never take the machine down, never leak a secret, never answer "internal error".

Worker caps and worker death with the coordinator, secret masking everywhere a URL is
printed, ten commands at once on an empty database, read-only files and directories,
decimal commas, a teacher at chance level, NaN sources and size checks.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from autodistill import _resources
from autodistill._secrets import mask_url, quote_userinfo, scrub, secrets_of
from autodistill.errors import DataError, PipelineError, TeacherError

TINY = """
kd_loss: {components: [none, hinton]}
mi_objective: {components: [none]}
augmentation: {components: [none]}
curriculum: {components: [none]}
training: {epochs: 5, patience: 3}
"""
# Long enough trials (digits, 60 epochs) that workers are still busy when killed.
SLOW = """
kd_loss: {components: [none, hinton]}
mi_objective: {components: [none]}
augmentation: {components: [none]}
curriculum: {components: [none]}
training: {epochs: 200, patience: 100, batch_size: 32, lr: 0.0005}
"""
SECRET = "Xq7-s3cr3t-pw"


def cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """Start the real CLI in a subprocess."""
    return subprocess.Popen([sys.executable, "-m", "autodistill", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, **kwargs)


def run(*args: str, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    process = cli(*args, env=env)
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


# --------------------------------------------------------------------------- workers


def test_workers_are_capped_by_cores_memory_and_trials(caplog) -> None:
    with caplog.at_level("WARNING"):
        capped = _resources.cap_workers(100_000, trials=4)
    assert 1 <= capped <= min(_resources.usable_cpus(), 4)
    assert "--workers 100000 capped to" in caplog.text and "usable cores" in caplog.text
    assert _resources.cap_workers(1, trials=4) == 1
    per_worker = (_resources.available_memory() or 2**40) // 2  # room for about one
    assert _resources.cap_workers(8, trials=8, per_worker=per_worker) == 1


def test_search_with_100000_workers_caps_itself_and_finishes(tmp_path: Path) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY)
    done = run("search", "builtin:iris", "--space", str(space), "--trials", "4", "--workers",
               "100000", "--storage", f"sqlite:///{tmp_path / 's.db'}", "--json")
    assert done.returncode == 0, done.stderr
    assert "--workers 100000 capped to" in done.stderr
    summary = json.loads(done.stdout)
    assert summary["trials"]["counted"] == 4 and summary["trials"]["waiting"] == 0


def _children(pid: int) -> set[int]:
    """PIDs whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_sigkill_of_the_coordinator_leaves_no_worker_alive(tmp_path: Path, digits_teacher) -> None:
    space = tmp_path / "slow.yaml"
    space.write_text(SLOW)
    coordinator = cli("search", "builtin:digits", "--space", str(space), "--trials", "40",
                      "--workers", "2", "--storage", f"sqlite:///{tmp_path / 'k.db'}")
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while time.monotonic() < deadline and coordinator.poll() is None:
            workers = {p for p in _children(coordinator.pid)
                       if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")}
            if workers and (tmp_path / "k.db").exists():
                time.sleep(4)  # past their imports: inside a trial
                break
            time.sleep(0.5)
        assert workers, "no worker process was started"
        everyone = workers | _children(coordinator.pid)
        os.kill(coordinator.pid, signal.SIGKILL)
        coordinator.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in everyone):
            time.sleep(0.2)
        survivors = [p for p in everyone if _alive(p)]
        assert not survivors, f"still alive after the coordinator's SIGKILL: {survivors}"
    finally:
        for pid in [coordinator.pid, *_children(coordinator.pid)]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        coordinator.communicate(timeout=10)


# --------------------------------------------------------------------------- secrets


SECRET_URLS = [
    f"postgresql+psycopg://u@127.0.0.1:1/db?password={SECRET}",
    f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/db",
    f"postgresql+psycopg://u:p@{SECRET}@127.0.0.1:1/db",
    f"postgresql+psycopg://u:{SECRET}:x@127.0.0.1:1/db",
    f"postgresql+psycopg://u@127.0.0.1:1/db?sslmode=require&sslpassword={SECRET}",
    f"postgresql+psycopg://u@127.0.0.1:1/db?access_token={SECRET}&application_name=a",
    f"postgresql+psycopg://u@127.0.0.1:1/db?api_key={SECRET}#frag",
    f"postgresql+psycopg://u:{SECRET.replace('-', '%2D')}@127.0.0.1:1/db",
    f"postgresql+psycopg://u:a/b@{SECRET}@127.0.0.1:1/db",
]


@pytest.mark.parametrize("url", SECRET_URLS)
def test_mask_url_hides_every_form_of_password(url: str) -> None:
    masked = mask_url(url)
    assert SECRET not in masked and "Xq7" not in masked, masked
    assert "***" in masked and masked.startswith("postgresql+psycopg://u")
    assert "127.0.0.1" in masked or url.count("@") > 1
    assert all(SECRET in s or "Xq7" in s for s in secrets_of(url)[:1])
    assert mask_url(quote_userinfo(url)).count("***") >= 1


def test_mask_url_keeps_what_is_not_secret() -> None:
    assert mask_url("sqlite:////tmp/a@b/studies.db") == "sqlite:////tmp/a@b/studies.db"
    assert mask_url("postgresql://me@db:5432/studies?sslmode=require") == \
        "postgresql://me@db:5432/studies?sslmode=require"
    assert mask_url("host=db password=hunter2 user=me") == "host=db password=*** user=me"
    assert quote_userinfo("postgresql://u:p@ss@h/db") == "postgresql://u:p%40ss@h/db"


def test_scrub_masks_urls_and_remembered_secrets_in_free_text() -> None:
    from autodistill._secrets import remember

    remember(f"postgresql://u:{SECRET}@h/db")
    text = scrub(f"failed: postgresql://u:{SECRET}@h/db?password=abc: and then {SECRET}.")
    assert SECRET not in text and "abc" not in text
    assert text.endswith("and then ***.")


@pytest.mark.parametrize("url", SECRET_URLS)
def test_errors_never_print_a_secret(url: str, capsys) -> None:
    from autodistill.cli import main

    for args in (("studies", "list", "--storage", url),
                 ("search", "builtin:iris", "--trials", "1", "--storage", url),
                 ("recommend", "builtin:iris", "--storage", url)):
        with pytest.raises(SystemExit) as stopped:
            main(list(args))
        out, err = capsys.readouterr()
        assert stopped.value.code == 2, err
        assert SECRET not in out + err and "Xq7" not in err, err
        assert len(err.strip().splitlines()) == 1, err


def test_a_secret_in_the_environment_is_masked_too(monkeypatch, capsys) -> None:
    from autodistill.cli import main

    monkeypatch.setenv("AUTODISTILL_STORAGE", SECRET_URLS[2])
    with pytest.raises(SystemExit):
        main(["studies", "list"])
    assert SECRET not in "".join(capsys.readouterr())


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Iterator[str]:
    """An empty PostgreSQL database of its own (created and dropped here)."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(postgres_url)
    name = f"ad_hardening_{uuid.uuid4().hex[:12]}"
    admin = dict(host=base.host, port=base.port, user=base.username, dbname=base.database,
                 autocommit=True)
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        from autodistill.store import storage

        for url, engine in list(storage._engines.items()):
            if name in url:
                engine.dispose()
        with psycopg.connect(**admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_no_output_holds_a_secret_on_a_working_postgres(fresh_postgres: str, tmp_path: Path,
                                                        iris_teacher) -> None:
    # trust authentication ignores the password, so the command works and prints the URL
    url = f"{fresh_postgres}?password={SECRET}&sslpassword={SECRET}"
    userinfo = fresh_postgres.replace("://postgres@", f"://postgres:{SECRET}@").replace(
        "://root@", f"://root:{SECRET}@")
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY)
    outputs = []
    for storage in (url, userinfo):
        for args in (("search", "builtin:iris", "--space", str(space), "--trials", "1",
                      "--study", "secret-search", "--json"),
                     ("search", "builtin:iris", "--space", str(space), "--trials", "1",
                      "--study", "secret-search"),
                     ("studies", "list"), ("studies", "list", "--json"),
                     ("studies", "show", "secret-search", "--json"),
                     ("search", "builtin:iris", "--space", "fast", "--trials", "1",
                      "--study", "secret-search")):  # refused: other space, URL in the error
            done = run(*args, "--storage", storage)
            outputs.append(done.stdout + done.stderr)
            assert SECRET not in done.stdout + done.stderr, (args, done.stdout, done.stderr)
    assert any('"storage": "postgresql+psycopg://' in out for out in outputs)
    assert any("***" in out for out in outputs)


# --------------------------------------------------------------------------- races


def _ten_commands(storage: str, space: Path) -> list[subprocess.Popen]:
    tiny = ("--space", str(space), "--trials", "2", "--storage", storage)
    commands = [("search", "builtin:iris", "--study", "race-a", *tiny)] * 4 + \
        [("search", "builtin:iris", "--study", "race-b", *tiny)] * 3 + \
        [("studies", "list", "--json", "--storage", storage)] * 2 + \
        [("recommend", "builtin:iris", "--json", "--storage", storage)]
    return [cli(*args) for args in commands]


def _all_succeed(processes: list[subprocess.Popen]) -> None:
    results = [(p.args, *p.communicate(timeout=600), p.returncode) for p in processes]
    failed = [(args[3:6], err[-600:]) for args, _, err, code in results if code != 0]
    assert not failed, failed


@pytest.mark.slow
def test_ten_commands_at_once_on_an_empty_sqlite_file(tmp_path: Path, iris_teacher) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY)
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    _all_succeed(_ten_commands(url, space))
    with sqlite3.connect(tmp_path / "empty.db") as conn:
        counts = dict(conn.execute(
            "SELECT s.study_name, COUNT(t.trial_id) FROM studies s JOIN trials t "
            "ON s.study_id = t.study_id WHERE t.state = 'COMPLETE' OR t.state = 'PRUNED' "
            "GROUP BY s.study_name").fetchall())
    assert counts == {"race-a": 2, "race-b": 2}


@pytest.mark.slow
def test_ten_commands_at_once_on_an_empty_postgres_database(fresh_postgres: str, tmp_path: Path,
                                                           iris_teacher) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY)
    _all_succeed(_ten_commands(fresh_postgres, space))
    done = run("studies", "list", "--json", "--storage", fresh_postgres)
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert set(rows) == {"race-a", "race-b"}


# --------------------------------------------------------------------------- read-only


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable, even for root (``chattr +i``); skip where impossible."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)],
                                                        capture_output=True).returncode:
        pytest.skip("cannot make a path read-only as root here (no chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


@pytest.fixture
def iris_db(tmp_path: Path) -> Path:
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY)
    db = tmp_path / "iris.db"
    done = run("search", "builtin:iris", "--space", str(space), "--trials", "2", "--study",
               "ro", "--storage", f"sqlite:///{db}")
    assert done.returncode == 0, done.stderr
    return db


def test_an_immutable_cache_dir_warns_and_search_works(tmp_path: Path, iris_db: Path) -> None:
    home = tmp_path / "home"
    (home / "cache").mkdir(parents=True)
    space = tmp_path / "tiny.yaml"
    with immutable(home / "cache"):
        for args in (("search", "builtin:iris", "--space", str(space), "--trials", "3",
                      "--study", "ro"), ("recommend", "builtin:iris")):
            done = run(*args, "--storage", f"sqlite:///{iris_db}",
                       env={"AUTODISTILL_HOME": str(home)})
            assert done.returncode == 0, done.stderr
            assert "Traceback" not in done.stderr


def test_studies_list_and_show_work_on_a_read_only_sqlite_file(iris_db: Path) -> None:
    with immutable(iris_db):
        for args in (("studies", "list", "--json"), ("studies", "show", "ro", "--json")):
            done = run(*args, "--storage", f"sqlite:///{iris_db}")
            assert done.returncode == 0, done.stderr
        refused = run("search", "builtin:iris", "--space", "fast", "--trials", "1",
                      "--storage", f"sqlite:///{iris_db}", "--study", "new")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, \
        refused.stderr
    assert "Traceback" not in refused.stderr and "internal error" not in refused.stderr


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="an open SQLite file stays writable after chmod; needs chattr +i")
def test_a_sqlite_file_made_read_only_mid_run_is_one_line(tmp_path: Path, iris_db: Path) -> None:
    space = tmp_path / "tiny.yaml"
    process = cli("search", "builtin:iris", "--space", str(space), "--trials", "400",
                  "--study", "ro", "--storage", f"sqlite:///{iris_db}", "--quiet")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            with sqlite3.connect(f"file:{iris_db}?mode=ro", uri=True) as conn:
                if conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0] >= 4:
                    break
            time.sleep(0.3)
        # The whole database goes read-only: the file and, in WAL mode, its side files.
        with contextlib.ExitStack() as stack:
            for path in (iris_db, *(iris_db.with_name(iris_db.name + s) for s in ("-wal", "-shm"))):
                if path.exists():
                    stack.enter_context(immutable(path))
            out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert len(err.strip().splitlines()) == 1, err


# --------------------------------------------------------------------------- data, models


def test_decimal_comma_csv_with_semicolons_is_numeric(tmp_path: Path) -> None:
    from autodistill.data.dataset import load_dataset

    rows = ["x1;x2;label"] + [f"{i % 9},{i % 4}5;{(i * 7) % 11}.{i % 10}00,25;{'ab'[i % 2]}"
                              for i in range(40)]
    path = tmp_path / "eu.csv"
    path.write_text("\n".join(rows) + "\n")
    dataset = load_dataset(str(path), target="label")
    assert dataset.info["n_numeric"] == 2 and dataset.info["n_categorical"] == 0
    assert dataset.n_features == 2


def test_a_semicolon_csv_with_a_comma_in_a_quoted_name_reads_by_semicolons(
        tmp_path: Path) -> None:
    from autodistill.data.dataset import load_dataset

    rows = ['"weight, kg";height;label'] + [f"{60 + i % 30},5;{150 + i % 40};{'ab'[i % 2]}"
                                            for i in range(40)]
    path = tmp_path / "eu.csv"
    path.write_text("\n".join(rows) + "\n")
    dataset = load_dataset(str(path), target="label")  # was: "no column 'label'"
    assert dataset.raw.numeric == ("weight, kg", "height")


def test_decimal_comma_in_a_comma_csv_names_the_column(tmp_path: Path, caplog) -> None:
    from autodistill.data.dataset import load_dataset

    rows = ["price,qty,label"] + [f'"{i % 9},{i % 4}5",{i},{"ab"[i % 2]}' for i in range(40)]
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(rows) + "\n")
    with caplog.at_level("WARNING"):
        load_dataset(str(path), target="label")
    assert "'price'" in caplog.text and "decimal comma" in caplog.text


def test_thousands_commas_in_a_comma_csv_are_numbers(tmp_path: Path) -> None:
    """A spreadsheet in an English locale quotes amounts as "12,345.67": they load as
    numbers (the values, not one category per amount), and predict reads them alike."""
    from autodistill.data.dataset import load_dataset
    from autodistill.training.model_dir import read_rows

    amounts = [1234.5 + 1000 * i for i in range(60)]
    rows = ["amount,code,label"] + [f'"{a:,.2f}",{i % 3},{"ab"[i >= 30]}'
                                    for i, a in enumerate(amounts)]
    path = tmp_path / "us.csv"
    path.write_text("\n".join(rows) + "\n")
    dataset = load_dataset(str(path), target="label")
    assert dataset.info["n_numeric"] == 2 and dataset.info["n_categorical"] == 0
    assert dataset.n_features == 2
    frame, _ = read_rows(str(path))
    assert frame["amount"].tolist() == [round(a, 2) for a in amounts]


@pytest.mark.parametrize(("sep", "amount", "percent"), [
    (",", lambda v: f'"${v:,.2f}"', lambda v: f"{v:.1f}%"),
    (";", lambda v: f"{v:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".") + " €",
     lambda v: f"{v:.1f} %".replace(".", ","))])
def test_amounts_and_percentages_are_numbers(tmp_path: Path, sep, amount, percent) -> None:
    """A business export writes "$1,421.95" and "19.1%" (or "1.421,95 €" and "19,1 %"):
    the numbers, not an identifier left out and one category per rate; predict reads them
    alike."""
    from autodistill.data.dataset import load_dataset
    from autodistill.training.model_dir import read_rows

    rng = np.random.default_rng(0)
    prices, rates = rng.uniform(100, 5000, 120).round(2), rng.uniform(0, 30, 120).round(1)
    rows = [f"price{sep}rate{sep}label"] + [f"{amount(p)}{sep}{percent(r)}{sep}{'ab'[int(p > 2500)]}"
                                            for p, r in zip(prices, rates, strict=True)]
    path = tmp_path / "shop.csv"
    path.write_text("\n".join(rows) + "\n")
    dataset = load_dataset(str(path), target="label")
    assert dataset.raw.numeric == ("price", "rate") and dataset.n_features == 2
    frame, _ = read_rows(str(path))
    np.testing.assert_allclose(frame["price"], prices)
    np.testing.assert_allclose(frame["rate"], rates)
    # the same text in a DataFrame (pd.read_csv keeps it text) scores as the file does
    import pandas as pd

    from autodistill.training.engine import train_student
    from autodistill.training.model_dir import load_model, save_model
    from autodistill.training.pipeline import load_pipeline

    pipeline = load_pipeline('{"kd_loss": {"name": "none"}, "training": {"epochs": 5}}')
    result = train_student(pipeline, dataset, None, student="mlp:8", seed=0, device="cpu")
    model = load_model(save_model(tmp_path / "m", dataset, result.student, student_spec="mlp:8"))
    as_text = pd.read_csv(path, sep=sep, dtype=str)
    np.testing.assert_allclose(model.predict_proba(as_text), model.predict_proba(frame),
                               rtol=0, atol=1e-6)


def test_amounts_as_text_in_excel_and_in_a_dataframe_are_numbers(tmp_path: Path) -> None:
    """An Excel cell may hold "$10,300.00" as text, and a DataFrame from pd.read_csv does:
    both load as numbers, as the CSV would."""
    import pandas as pd

    import autodistill
    from autodistill.data.dataset import load_dataset

    rng = np.random.default_rng(1)
    prices = rng.uniform(100, 5000, 80).round(2)
    frame = pd.DataFrame({"price": [f"${p:,.2f}" for p in prices],
                          "raise": [f"{r:.1f}%" for r in rng.uniform(0, 9, 80)],
                          "label": np.where(prices > 2500, "high", "low")})
    frame.to_excel(tmp_path / "pay.xlsx", index=False)
    from_excel = load_dataset(str(tmp_path / "pay.xlsx"), target="label")
    assert from_excel.raw.numeric == ("price", "raise") and from_excel.n_features == 2
    done = autodistill.distill(frame, "plain", target="label", teacher="none")
    assert done.student.dataset.raw.numeric == ("price", "raise")


def test_a_dataframe_column_mixing_numbers_and_text_loads_as_its_csv(tmp_path: Path,
                                                                     caplog) -> None:
    """A column of codes with a few words among them (``[12, 7, "unknown"]``, as Excel
    or hand-built frames give) cannot be stored as Parquet as it is; it loads as the same
    table written to CSV does, and the trained student scores the frame."""
    import pandas as pd

    import autodistill
    from autodistill.data.dataset import load_dataset

    rng = np.random.default_rng(3)
    size = rng.integers(1, 50, 120)
    frame = pd.DataFrame({"size": [s if i % 15 else "unknown" for i, s in enumerate(size)],
                          "grade": [g if i % 4 else 1 for i, g in
                                    enumerate(rng.choice(["a", "b"], 120))],
                          "label": np.where(size > 25, "big", "small")})
    frame.to_csv(tmp_path / "t.csv", index=False)
    from_csv = load_dataset(str(tmp_path / "t.csv"), target="label")
    done = autodistill.distill(frame, "plain", target="label", teacher="none")
    loaded = done.student.dataset
    assert (loaded.raw.numeric, loaded.raw.categorical) == (("size",), ("grade",))
    assert (from_csv.raw.numeric, from_csv.raw.categorical) == (("size",), ("grade",))
    np.testing.assert_allclose(loaded.X_train, from_csv.X_train, atol=1e-6)
    assert len(done.student.predict(frame.drop(columns="label"))) == 120
    # no rows, no predictions, as the saved model answers (not scikit-learn's ValueError)
    assert done.student.predict_proba(frame.drop(columns="label").head(0)).shape == (0, 2)
    # a category training never saw is named, as the saved model names it; known ones not
    with caplog.at_level("WARNING"):
        done.student.predict(frame.drop(columns="label"))
    assert "never saw" not in caplog.text
    with caplog.at_level("WARNING"):
        done.student.predict(frame.drop(columns="label").head(3).assign(grade="zzz"))
    assert "column 'grade': 3 row(s) have categories the model never saw ('zzz'); encoded as " \
        "an all-zero one-hot, as in training" in caplog.text


def test_a_dataframe_column_of_lists_or_dicts_is_named() -> None:
    import pandas as pd

    import autodistill
    from autodistill.errors import DataError

    frame = pd.DataFrame({"tags": [["a", "b"], ["c"]] * 30, "label": ["x", "y"] * 30})
    with pytest.raises(DataError, match="column 'tags' holds list values"):
        autodistill.distill(frame, "plain", target="label", teacher="none")


def test_a_target_named_by_a_number_or_given_as_a_reordered_series() -> None:
    """``target=0`` names the column called 0 (frames built from arrays have such names),
    and a Series of labels in another row order (``y.sort_values()``) aligns by its
    index, as pandas users expect, instead of pairing rows with the wrong labels."""
    import pandas as pd

    from autodistill.api import data_spec
    from autodistill.errors import DataError

    rng = np.random.default_rng(4)
    frame = pd.DataFrame({0: rng.normal(size=60).round(3), 1: rng.choice(["a", "b"], 60)})
    frame[2] = np.where(frame[0] > 0, "up", "down")
    spec, column = data_spec(frame, 2)
    assert column == "2" and pd.read_parquet(spec)["2"].tolist() == frame[2].tolist()
    with pytest.raises(DataError, match="target=7 is neither a column's name nor the labels"):
        data_spec(frame, 7)
    labels = frame[2].sort_values()
    spec, column = data_spec(frame[[0, 1]], labels)
    assert pd.read_parquet(spec)[column].tolist() == frame[2].tolist()
    # labels of their own (an index reset) are taken in order, as scikit-learn takes them
    spec, column = data_spec(frame[[0, 1]], labels.reset_index(drop=True))
    assert pd.read_parquet(spec)[column].tolist() == labels.tolist()


@pytest.mark.parametrize("name", ["t.tsv", "t.csv.gz", "t.TSV.bz2", "t.csv.xz", "t.csv.zip"])
def test_tsv_and_compressed_files_read_as_their_csv(tmp_path: Path, messy_csv, name: str) -> None:
    """A table saved as TSV, or compressed as downloads often are, loads as the same CSV
    would (same columns, same encoding, the same name for studies), and predict reads it."""
    import pandas as pd

    from autodistill.data.dataset import load_dataset
    from autodistill.training.model_dir import read_rows

    plain = messy_csv(tmp_path / "t.csv")
    frame = pd.read_csv(plain, keep_default_na=False)
    other = tmp_path / "other" / name
    other.parent.mkdir()
    frame.to_csv(other, sep="\t" if ".tsv" in name.lower() else ",", index=False,
                 compression="infer" if name.lower().endswith(("gz", "bz2", "xz", "zip"))
                 else None)
    expected, got = (load_dataset(str(path), target="label") for path in (plain, other))
    assert got.name == expected.name == "t"
    assert got.feature_names == expected.feature_names
    np.testing.assert_array_equal(got.X_train, expected.X_train)
    rows, _ = read_rows(str(other))
    assert rows.shape == frame.shape


def test_an_excel_workbook_reads_as_its_csv(tmp_path: Path, messy_csv, caplog) -> None:
    """An .xlsx (the first sheet; a warning names the others) loads as the same table saved
    as CSV; predict reads it; without openpyxl it is one line naming the extra."""
    import sys

    import pandas as pd

    from autodistill.data.dataset import load_dataset
    from autodistill.training.model_dir import read_rows

    plain = messy_csv(tmp_path / "t.csv")
    frame = pd.read_csv(plain, keep_default_na=False, na_values=[""])
    book = tmp_path / "book" / "t.xlsx"
    book.parent.mkdir()
    with pd.ExcelWriter(book) as writer:
        frame.to_excel(writer, sheet_name="accounts", index=False)
        frame.head(3).to_excel(writer, sheet_name="notes", index=False)
    expected = load_dataset(str(plain), target="label")
    with caplog.at_level("WARNING"):
        got = load_dataset(str(book), target="label")
    assert "reading its first sheet, 'accounts', of 2 ('accounts', 'notes')" in caplog.text
    assert got.name == "t" and got.feature_names == expected.feature_names
    np.testing.assert_allclose(got.X_train, expected.X_train, rtol=0, atol=1e-6)
    assert read_rows(str(book))[0].shape == frame.shape
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "openpyxl", None)  # as if it were not installed
        with pytest.raises(DataError,
                           match=r"needs openpyxl; pip install 'autodistill-kd\[excel\]'"):
            load_dataset(str(book), target="label")


def test_a_file_that_is_not_what_its_name_says_is_one_line(tmp_path: Path) -> None:
    from autodistill.data.dataset import load_dataset

    fake = tmp_path / "t.csv.gz"
    fake.write_text("a,label\n1,x\n2,y\n")  # not gzipped
    with pytest.raises(DataError, match=r"t\.csv\.gz: cannot read it as csv \(Not a gzipped"):
        load_dataset(str(fake), target="label")
    text = tmp_path / "t.txt"
    text.write_text("a,label\n1,x\n")
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'; use a \.csv or \.tsv"):
        load_dataset(str(text), target="label")


def test_identifier_columns_are_left_out_with_a_warning(tmp_path: Path, caplog) -> None:
    """A text column with a different value on every row (a customer id, a timestamp)
    cannot carry over to rows the model has not seen: it is left out, named in a warning,
    and a model written from the table scores rows that lack it. A category that
    recurs stays."""
    from autodistill.data.dataset import load_dataset
    from autodistill.errors import DataError

    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    rows = ["id,x,city,label"] + [f"cust-{i:04d},{v:.3f},{'PLN'[i % 3]},{int(v > 0)}"
                                  for i, v in enumerate(x)]
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(rows) + "\n")
    with caplog.at_level("WARNING"):
        dataset = load_dataset(str(path), target="label")
    assert "column 'id' has a different value on nearly every row" in caplog.text
    assert "'city'" not in caplog.text
    raw = dataset.raw
    assert (raw.numeric, raw.categorical, raw.dropped) == (("x",), ("city",), ("id",))
    # the table describes itself (the recommender's meta-features) as it would without it
    from autodistill.meta.features import compute_meta_features

    without = tmp_path / "customers_without_id.csv"
    without.write_text("\n".join(row.split(",", 1)[1] for row in rows) + "\n")
    assert compute_meta_features(dataset, None, None) == compute_meta_features(
        load_dataset(str(without), target="label"), None, None)
    only_ids = tmp_path / "only_ids.csv"
    only_ids.write_text("id,label\n" + "".join(f"r{i},{i % 2}\n" for i in range(40)))
    with pytest.raises(DataError, match="different text on every row"):
        load_dataset(str(only_ids), target="label")


def test_dates_whose_order_no_cell_tells_warn_and_predict_reads_them_alike(
        tmp_path: Path) -> None:
    """Dates like 03/04/2021 where no day exceeds 12 could be day- or month-first: the
    column is still a number, one warning names it and the order taken, and the exported
    model's ``model.json`` states that order, so ``predict`` reads new rows (a day above
    12 among them) as training did."""
    rng = np.random.default_rng(0)
    months, days = rng.integers(1, 13, 300), rng.integers(1, 13, 300)
    x = rng.normal(size=300)
    rows = ["when,x,label"] + [f"{m:02d}/{d:02d}/2021,{v:.3f},{'ab'[int(v + m / 6 > 1)]}"
                               for m, d, v in zip(months, days, x, strict=True)]
    path = tmp_path / "dated.csv"
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "model"
    done = run("distill", str(path), "--target", "label", "--pipeline", "plain",
                   "--teacher", "none", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert ("column 'when' holds dates (e.g. '" in done.stderr
            and "read the month first" in done.stderr)
    entry = next(i for i in json.loads((out / "model.json").read_text())["inputs"]
                 if i["name"] == "when")
    assert (entry["kind"], entry["parse"], entry["date_order"]) == ("numeric", "date_days", "mdy")
    new = tmp_path / "new.csv"
    new.write_text("when,x\n12/25/2021,0.1\n01/02/2021,-0.3\n")
    done = run("predict", str(out), str(new), "--json")
    assert done.returncode == 0, done.stderr
    assert "non-date" not in done.stderr  # 12/25 is the 25th of December, not a bad cell


def test_a_wide_table_loads(tmp_path: Path) -> None:
    from autodistill.data.dataset import load_dataset

    rng = np.random.default_rng(0)
    values = rng.normal(size=(20, 3000))
    values[0, 5] = np.inf
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(3000)) + ",y\n"
    path.write_text(header + "".join(",".join(map(str, row)) + f",{i % 2}\n"
                                     for i, row in enumerate(values)))
    dataset = load_dataset(str(path), target="y")
    assert dataset.n_features == 3000 and np.isfinite(dataset.X_train).all()
    assert dataset.feature_names[:2] == ("c0", "c1")


def test_a_teacher_at_chance_level_warns(tmp_path: Path, caplog) -> None:
    from autodistill.data.dataset import load_dataset
    from autodistill.training.teachers import get_teacher

    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{b:.3f},c{i // 2}" for i, (a, b) in enumerate(rng.normal(size=(400, 2)))]
    path = tmp_path / "many.csv"
    path.write_text("a,b,y\n" + "\n".join(rows) + "\n")  # 200 classes of 2 rows
    dataset = load_dataset(str(path), target="y")
    with caplog.at_level("WARNING"):
        get_teacher("auto", dataset, device=torch.device("cpu"))
    assert "no better than chance" in caplog.text and "200 classes" in caplog.text
    # one warning, about the teacher asked for, not also about the ensemble's gbdt part
    assert caplog.text.count("no better than chance") == 1
    assert "teacher 'auto" in caplog.text and "teacher 'gbdt'" not in caplog.text


def test_a_teacher_below_the_majority_that_tells_classes_apart_gets_its_own_warning(
        tmp_path: Path, caplog) -> None:
    """Under class imbalance a teacher can trail "always the majority class" in accuracy
    and still separate the classes (balanced accuracy above chance): the warning says that,
    not "no better than chance", and points to --metric balanced_accuracy."""
    from autodistill.data.dataset import load_dataset
    from autodistill.training.teacher_outputs import TeacherOutputs
    from autodistill.training.teachers import _warn_if_chance, teacher_at_chance

    rng = np.random.default_rng(0)
    labels = ["a"] * 900 + ["b"] * 100
    rows = [f"{v:.3f},{y}" for v, y in zip(rng.normal(size=1000), labels, strict=True)]
    path = tmp_path / "imbalanced.csv"
    path.write_text("x,y\n" + "\n".join(rows) + "\n")
    dataset = load_dataset(str(path), target="y")
    y = torch.as_tensor(np.asarray(dataset.y_test))
    minority = int(np.bincount(dataset.y_test).argmin())

    def outputs(pred: torch.Tensor) -> TeacherOutputs:
        logits = torch.nn.functional.one_hot(pred, dataset.n_classes).float()
        accuracy = float((pred == y).float().mean())
        return TeacherOutputs(logits={"test": logits}, hidden=None, accuracy=accuracy,
                              valid_accuracy=accuracy, params=0, spec="t.pt", seconds=0.0,
                              module=None)

    # every minority row found, a third of the majority rows called minority too
    finds = torch.where((y == minority) | (torch.arange(len(y)) % 3 == 0),
                        torch.tensor(minority), 1 - torch.tensor(minority))
    with caplog.at_level("WARNING"):
        _warn_if_chance(outputs(finds), dataset)
    assert "balanced accuracy" in caplog.text and "above chance" in caplog.text
    assert "no better than chance" not in caplog.text
    assert "--metric balanced_accuracy" in caplog.text
    assert teacher_at_chance(outputs(finds), dataset, "test") is False  # it has something to give
    caplog.clear()
    with caplog.at_level("WARNING"):  # always the majority class: chance by both measures
        _warn_if_chance(outputs(torch.full_like(y, 1 - minority)), dataset)
    assert "no better than chance" in caplog.text
    assert teacher_at_chance(outputs(torch.full_like(y, 1 - minority)), dataset, "test") is True
    # with 64 training rows of the minority it blames the columns, not the number of rows
    assert "too few" not in caplog.text
    assert "with 64 or more training rows of every class" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):  # the labels themselves: no warning
        _warn_if_chance(outputs(y), dataset)
    assert caplog.text == ""


class _NaNTeacher(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], 3), float("nan"))


def test_a_nan_teacher_is_named(tmp_path: Path, iris) -> None:
    from autodistill.training.teachers import get_teacher

    path = tmp_path / "nan_teacher.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(_NaNTeacher()).save(str(path))
    with pytest.raises(TeacherError, match="nan_teacher.pt.*NaN"):
        get_teacher(str(path), iris, device=torch.device("cpu"))


def test_a_nan_component_is_named(iris, iris_teacher) -> None:
    from autodistill.components import KDLoss
    from autodistill.registry.manager import register_for_test
    from autodistill.training.engine import NonFiniteLossError, train_student
    from autodistill.training.pipeline import load_pipeline

    class NaNLoss(KDLoss):
        """Returns NaN (test only)."""

        name = "test_hardening_nan"

        def forward(self, student_logits, teacher_logits, targets):
            return student_logits.sum() * torch.tensor(math.nan)

    remove = register_for_test("kd_loss", NaNLoss)
    try:
        pipeline = load_pipeline('{"kd_loss": {"name": "test_hardening_nan"}}')
        with pytest.raises(NonFiniteLossError, match="kd_loss 'test_hardening_nan' returned nan"):
            train_student(pipeline, iris, iris_teacher, device="cpu")
    finally:
        remove()


def test_sizes_are_checked_against_memory_before_allocating() -> None:
    from autodistill.data.dataset import parse_spec
    from autodistill.training.students import check_student_fits, student_params

    assert student_params("mlp:16", 4, 3) == (4 + 1) * 16 + (16 + 1) * 3
    with pytest.raises(PipelineError, match=r"4,295,\d{3},\d{3} parameters.*GB"):
        check_student_fits("mlp:65536,65536", 4, 3)
    with pytest.raises(DataError, match="n=1000000000000.*TB"):
        parse_spec("synthetic:classification?n=1e12")


def test_a_number_column_with_a_word_warns_once_naming_the_word(tmp_path: Path) -> None:
    # Cars93's Cylinders: 3, 4, 6, 8 and one 'rotary'. Loading warns with the count and an
    # example; the exporter's own check of the same rows adds no second, other-worded line.
    rng = np.random.default_rng(1)
    cylinders = rng.choice(["4", "6", "8"], 200).astype(object)
    cylinders[17] = "rotary"
    label = np.where(cylinders == "8", "big", "small")
    path = tmp_path / "cars.csv"
    import pandas as pd

    pd.DataFrame({"cylinders": cylinders, "label": label}).to_csv(path, index=False)
    done = run("distill", str(path), "--target", "label", "--pipeline", "plain",
               "--teacher", "none", "--out", str(tmp_path / "model"), "--json")
    assert done.returncode == 0, done.stderr
    about = [line for line in done.stderr.splitlines() if "'cylinders'" in line]
    assert about == [f"autodistill: {path}: column 'cylinders' has 1 non-numeric cell (e.g. "
                     "'rotary'); treating them as missing"]
    new = tmp_path / "new.csv"
    new.write_text("cylinders\n4\nrotary\nwankel\n")
    done = run("predict", str(tmp_path / "model"), str(new))
    assert done.returncode == 0, done.stderr
    assert ("column 'cylinders' has 2 non-numeric cells (e.g. 'rotary'); treating them as "
            "missing (imputed as in training)") in done.stderr
    new.write_text("cylinders\nrotary\nwankel\n")  # nothing reads: likely the wrong file
    done = run("predict", str(tmp_path / "model"), str(new))
    assert done.returncode == 0, done.stderr
    assert ("no cell of column 'cylinders' reads as numbers (e.g. 'rotary'); all 2 are treated "
            "as missing: check the file (--strict refuses it)") in done.stderr
    done = run("predict", str(tmp_path / "model"), str(new), "--strict")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"Error: {new}: column 'cylinders': 2 cell(s) do not read as numbers (e.g. 'rotary'); "
        "drop --strict to treat them as missing"]


def test_a_column_constant_in_training_may_be_left_out_at_predict(tmp_path: Path) -> None:
    import pandas as pd

    rng = np.random.default_rng(2)
    x = rng.normal(size=240)
    frame = pd.DataFrame({"x": x, "country": "NZ", "version": 2,
                          "label": np.where(x > 0, "up", "down")})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "model"
    done = run("distill", str(path), "--target", "label", "--pipeline", "plain",
               "--teacher", "none", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    inputs = {i["name"]: i for i in json.loads((out / "model.json").read_text())["inputs"]}
    assert (inputs["country"]["constant"], inputs["version"]["constant"]) == ("NZ", "2")
    assert "constant" not in inputs["x"]
    full, lean = tmp_path / "full.csv", tmp_path / "lean.csv"
    frame.head(30).drop(columns="label").to_csv(full, index=False)
    frame.head(30)[["x"]].to_csv(lean, index=False)
    with_all = run("predict", str(out), str(full), "--proba")
    without = run("predict", str(out), str(lean), "--proba")
    assert without.returncode == 0, without.stderr
    assert without.stdout == with_all.stdout  # the same probabilities, to the digit
    frame.head(30)[["country"]].to_csv(lean, index=False)  # a varying column still is needed
    assert run("predict", str(out), str(lean)).returncode == 2


def test_ctrl_c_during_distill_says_interrupted(tmp_path: Path) -> None:
    # typer turns Ctrl-C into exit code 130 before main sees it: the line was lost
    env = {**os.environ, "AUTODISTILL_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "autodistill", "distill",  # about 50 s of training
         "synthetic:classification?n=20000&d=20&classes=3", "--pipeline",
         '{"training": {"epochs": 1000, "patience": 1000}}', "--teacher", "none",
         "--out", str(tmp_path / "model")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        time.sleep(8)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "Interrupted."
    assert not (tmp_path / "model").exists()
