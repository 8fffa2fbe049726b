"""``autodistill studies``: every subcommand on a database of real Optuna studies.

The database is built here, without running a search: real Optuna studies with the
param names, user attributes and study attribute that ``autodistill search`` writes, and
trial values fixed by the pipeline (base + a gain per component), so the numbers that
``studies components`` prints can be checked by hand. Each test runs on SQLite and on the
PostgreSQL at 127.0.0.1:5432 (a throw-away database, dropped afterwards); PostgreSQL is
skipped only when it cannot be reached.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autodistill.cli import main

PG_ADMIN_URLS = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)
CHOICES = {
    "kd_loss": ["none", "hinton", "dkd"],
    "mi_objective": ["none", "infonce"],
    "augmentation": ["none", "mixup"],
    "curriculum": ["none", "cyclical"],
}
COMPONENT_PARAMS = {  # name -> {param: (low, high)}
    "hinton": {"temperature": (1.0, 10.0), "alpha": (0.0, 1.0)},
    "dkd": {"alpha": (0.0, 2.0), "beta": (0.0, 8.0)},
    "infonce": {"weight": (0.0, 1.0)},
    "mixup": {"alpha": (0.05, 1.0)},
    "cyclical": {"factor": (0.1, 0.9)},
}
GAIN = {"hinton": 0.05, "dkd": 0.03, "mixup": 0.02, "infonce": -0.01, "cyclical": 0.0}
PLAIN = ("none", "none", "none", "none")

# (kd_loss, mi_objective, augmentation, curriculum), outcome: "ok", "fail" or "prune".
TRIALS_A = [
    (PLAIN, "ok"), (("hinton", "none", "none", "none"), "ok"),
    (("dkd", "none", "none", "none"), "fail"), (("hinton", "none", "mixup", "none"), "prune"),
    (("hinton", "none", "mixup", "none"), "ok"), (("dkd", "none", "none", "none"), "ok"),
    (("none", "none", "mixup", "none"), "ok"), (("none", "infonce", "none", "none"), "ok"),
    (("hinton", "infonce", "none", "cyclical"), "ok"), (("dkd", "none", "mixup", "cyclical"), "ok"),
    (("none", "none", "none", "cyclical"), "ok"), (("hinton", "infonce", "mixup", "none"), "ok"),
]
TRIALS_B = [
    (PLAIN, "ok"), (("hinton", "none", "none", "none"), "ok"),
    (("dkd", "none", "mixup", "none"), "ok"), (("none", "none", "mixup", "none"), "ok"),
    (("hinton", "none", "mixup", "none"), "ok"), (("dkd", "none", "none", "none"), "fail"),
]
TRIALS_C = [(("hinton", "none", "none", "none"), "ok"), (("dkd", "none", "none", "none"), "ok")]


def _params(components: tuple[str, ...], lr: float) -> dict:
    params: dict = {}
    for (family, _), name in zip(CHOICES.items(), components, strict=True):
        params[family] = name
        for param, (low, high) in COMPONENT_PARAMS.get(name, {}).items():
            params[f"{family}.{name}.{param}"] = round((low + high) / 2, 3)
    params.update({"training.epochs": 20, "training.lr": lr, "training.batch_size": 64,
                   "training.weight_decay": 1e-4})
    return params


def _objective(base: float, outcomes: dict[int, str]):
    import optuna

    def objective(trial: optuna.Trial) -> float:
        pipeline = {}
        for family, choices in CHOICES.items():
            name = trial.suggest_categorical(family, choices)
            params = {p: trial.suggest_float(f"{family}.{name}.{p}", lo, hi)
                      for p, (lo, hi) in COMPONENT_PARAMS.get(name, {}).items()}
            pipeline[family] = {"name": name, "params": params}
        pipeline["training"] = {
            "epochs": trial.suggest_int("training.epochs", 5, 60),
            "lr": trial.suggest_float("training.lr", 1e-4, 0.1, log=True),
            "batch_size": trial.suggest_categorical("training.batch_size", [32, 64, 128]),
            "weight_decay": trial.suggest_float("training.weight_decay", 0.0, 0.01),
        }
        trial.set_user_attr("pipeline", pipeline)
        trial.set_user_attr("seconds", 0.25)
        outcome = outcomes[trial.number]
        if outcome == "fail":
            name = pipeline["kd_loss"]["name"]
            trial.set_user_attr("failed_component", f"kd_loss:{name}")
            trial.set_user_attr("error", f"kd_loss '{name}' failed: loss is NaN")
            raise RuntimeError("component failed")
        if outcome == "prune":
            trial.report(base, 1)
            raise optuna.TrialPruned("pruned at epoch 1")
        value = base + sum(GAIN.get(pipeline[f]["name"], 0.0) for f in CHOICES)
        trial.set_user_attr("test_accuracy", round(value - 0.01, 6))
        trial.set_user_attr("macro_f1", round(value - 0.02, 6))
        return value

    return objective


def _make_study(url: str, name: str, base: float, trials: list, dataset: str | None) -> None:
    import optuna

    study = optuna.create_study(storage=url, study_name=name, direction="maximize")
    if dataset is not None:
        study.set_user_attr("autodistill", {
            "dataset": f"builtin:{dataset}", "dataset_name": dataset, "fingerprint": f"fp-{dataset}",
            "teacher": "auto", "student": "mlp:16", "split_seed": 0, "space": "fast",
            "n_rows": 178, "n_features": 13, "n_classes": 3, "teacher_accuracy": 0.97})
    for i, (components, _) in enumerate(trials):
        study.enqueue_trial(_params(components, lr=0.001 * (i + 1)))
    outcomes = {i: outcome for i, (_, outcome) in enumerate(trials)}
    study.optimize(_objective(base, outcomes), n_trials=len(trials), catch=(RuntimeError,))


@dataclass
class Db:
    """A database holding studies ``a``, ``b``, ``c`` (no plain trial) and ``foreign``."""

    url: str
    a: str
    b: str
    c: str
    foreign: str
    names: list[str] = field(default_factory=list)


def _build(url: str) -> Db:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    tag = uuid.uuid4().hex[:6]
    db = Db(url, f"wine-{tag}", f"iris-{tag}", f"digits-{tag}", f"foreign-{tag}")
    _make_study(url, db.a, 0.80, TRIALS_A, "wine")
    _make_study(url, db.b, 0.70, TRIALS_B, "iris")
    _make_study(url, db.c, 0.60, TRIALS_C, "digits")
    foreign = optuna.create_study(storage=url, study_name=db.foreign)
    foreign.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=1)
    db.names = [db.a, db.b, db.c, db.foreign]
    return db


def _pg_admin():
    from sqlalchemy import create_engine, text

    reasons = []
    for admin_url in PG_ADMIN_URLS:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            return engine
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            engine.dispose()
            reasons.append(f"{admin_url}: {str(exc).splitlines()[0]}")
    pytest.skip("PostgreSQL at 127.0.0.1:5432 unreachable (" + "; ".join(reasons) + ")")


def _dispose(url: str) -> None:
    from autodistill.store import access as _study_access
    from autodistill.store import storage

    rdb = _study_access._storages.pop(url, None)
    if rdb is not None:
        rdb.engine.dispose()
    engine = storage._engines.pop(url, None)
    if engine is not None:
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The same studies on SQLite and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('studies') / 'studies.db'}"
        yield _build(url)
        _dispose(url)
        return
    from sqlalchemy import text

    admin = _pg_admin()
    name = f"autodistill_studies_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield _build(url)
    finally:
        _dispose(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(*args: str) -> tuple[int, str, str]:
    """``autodistill ARGS`` through :func:`main` (errors become exit 2), stdin not a tty."""
    with CliRunner().isolation(input="", env={"COLUMNS": "250"}) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue().decode(), err.getvalue().decode()


def run_json(*args: str):
    code, out, err = run(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_list_counts_trials_by_state_and_best(db: Db) -> None:
    rows = {r["name"]: r for r in run_json("studies", "list", "--storage", db.url)}
    assert set(db.names) <= set(rows)
    a = rows[db.a]
    assert a["dataset"] == "wine" and a["student"] == "mlp:16"
    assert a["trials"]["COMPLETE"] == 10 and a["trials"]["FAIL"] == 1 and a["trials"]["PRUNED"] == 1
    assert a["best"]["number"] == 4
    assert a["best"]["valid_score"] == pytest.approx(0.87)
    assert a["best"]["test_accuracy"] == pytest.approx(0.86)
    assert a["started"] <= a["finished"]
    foreign = rows[db.foreign]
    assert foreign["autodistill"] is False and foreign["dataset"] is None
    assert foreign["best"]["number"] == 0  # minimised, still has a best

    code, out, _ = run("studies", "list", "--storage", db.url)
    assert code == 0
    assert db.a in out and "10 done, 1 pruned, 1 failed" in out and "0.8700" in out


def test_show_gives_best_pipeline_top_trials_and_importances(db: Db) -> None:
    doc = run_json("studies", "show", db.a, "--top", "3", "--storage", db.url)
    assert doc["best"]["number"] == 4
    assert doc["best"]["pipeline"]["kd_loss"]["name"] == "hinton"
    assert doc["best"]["pipeline"]["augmentation"]["name"] == "mixup"
    assert doc["best"]["gain_over_plain"] == pytest.approx(0.07)
    assert doc["plain"]["number"] == 0 and doc["plain"]["valid_score"] == pytest.approx(0.80)
    scores = [t["valid_score"] for t in doc["top_trials"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert doc["importances"] and "training.lr" in doc["importances"]
    assert sum(doc["importances"].values()) == pytest.approx(1.0, abs=1e-3)
    assert doc["info"]["teacher_accuracy"] == 0.97

    code, out, _ = run("studies", "show", db.a, "--storage", db.url)
    assert code == 0 and "Top 5 trials" in out and "Parameter importances" in out
    assert "hinton(temperature=5.5, alpha=0.5)" in out


def test_show_explains_missing_importances(db: Db) -> None:
    doc = run_json("studies", "show", db.foreign, "--storage", db.url)
    assert doc["importances"] == {}
    assert "at least 2 completed trials" in doc["importances_note"]
    assert doc["plain"] is None and doc["best"]["gain_over_plain"] is None
    code, out, _ = run("studies", "show", db.foreign, "--storage", db.url)
    assert code == 0 and "at least 2 completed trials" in out


def test_compare_puts_best_pipelines_side_by_side(db: Db) -> None:
    docs = run_json("studies", "compare", db.b, db.a, "--storage", db.url)
    assert [d["name"] for d in docs] == [db.b, db.a]
    assert docs[0]["best"]["valid_score"] == pytest.approx(0.77)
    assert docs[1]["best"]["valid_score"] == pytest.approx(0.87)
    assert docs[0]["plain"]["valid_score"] == pytest.approx(0.70)
    code, out, _ = run("studies", "compare", db.a, db.b, "--storage", db.url)
    assert code == 0 and db.a in out and db.b in out and "gain over plain_tuned" in out
    assert "gain over the twin" in out  # no plain_tuned study, no twin here: see test_plain_tuned
    assert docs[1]["plain_tuned"] is None and docs[1]["best"]["gain_over_twin"] is None


def test_export_has_one_row_per_trial_and_flat_param_columns(db: Db, tmp_path: Path) -> None:
    rows = run_json("studies", "export", db.a, "--storage", db.url)
    assert [r["number"] for r in rows] == list(range(len(TRIALS_A)))
    columns = list(rows[0])
    for column in ("number", "state", "value", "test_accuracy", "seconds", "kd_loss",
                   "kd_loss.hinton.temperature", "augmentation.mixup.alpha", "training.lr",
                   "failed_component", "error"):
        assert column in columns
    assert all(list(r) == columns for r in rows)
    failed = rows[2]
    assert failed["state"] == "FAIL" and failed["failed_component"] == "kd_loss:dkd"
    assert failed["value"] is None and "NaN" in failed["error"]
    assert rows[1]["kd_loss"] == "hinton" and rows[1]["kd_loss.hinton.temperature"] == 5.5
    assert rows[0]["kd_loss.hinton.temperature"] is None
    assert rows[3]["state"] == "PRUNED"

    code, out, _ = run("studies", "export", db.a, "--format", "csv", "--storage", db.url)
    assert code == 0
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert len(parsed) == len(rows) and list(parsed[0]) == columns
    assert float(parsed[4]["value"]) == pytest.approx(0.87)

    target = tmp_path / "a.json"
    code, out, _ = run("studies", "export", db.a, "--format", "json", "-o", str(target),
                       "--storage", db.url)
    assert code == 0 and str(target) in out
    assert json.loads(target.read_text()) == rows
    # without --format, an -o named .json gets JSON (it used to get CSV text)
    target.unlink()
    code, out, _ = run("studies", "export", db.a, "-o", str(target), "--storage", db.url)
    assert code == 0 and "(json)" in out
    assert json.loads(target.read_text()) == rows


@pytest.mark.parametrize("suffix", [".png", ".html"])
def test_plot_writes_a_real_file(db: Db, tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"study{suffix}"
    doc = run_json("studies", "plot", db.a, "-o", str(target), "--storage", db.url)
    assert doc["path"] == str(target) and doc["bytes"] == target.stat().st_size
    data = target.read_bytes()
    if suffix == ".png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    else:
        assert len(data) > 10_000 and data.lstrip().startswith(b"<!DOCTYPE html>")
        assert b"plotly" in data and b"Parameter importances" in data


def test_plot_refuses_an_unknown_extension(db: Db, tmp_path: Path) -> None:
    code, out, err = run("studies", "plot", db.a, "-o", str(tmp_path / "x.gif"), "--storage", db.url)
    assert code == 2 and "Traceback" not in err
    assert ".png or .html" in err and len(err.strip().splitlines()) == 1


def test_components_ranks_by_the_numbers_it_prints(db: Db) -> None:
    doc = run_json("studies", "components", "--storage", db.url)
    assert doc["n_studies"] == 3 and doc["n_studies_with_plain"] == 2  # foreign: no family
    rows = {(r["family"], r["component"]): r for r in doc["components"]}
    hinton = rows["kd_loss", "hinton"]
    # wine: gains .05 .07 .04 .06 (trial 4 top); iris: .05 .07 (trial 4 top); digits: top, no plain
    assert (hinton["n_trials"], hinton["n_top"], hinton["n_studies"], hinton["n_gain"]) == (7, 3, 3, 6)
    assert hinton["mean_gain"] == pytest.approx(0.0567, abs=1e-4)
    assert hinton["top_rate"] == pytest.approx(3 / 7, abs=1e-3)
    assert rows["kd_loss", "dkd"]["mean_gain"] == pytest.approx((0.03 + 0.05 + 0.05) / 3, abs=1e-4)
    assert [r["component"] for r in doc["components"] if r["family"] == "kd_loss"] == \
        ["hinton", "dkd", "none"]

    for family in {r["family"] for r in doc["components"]}:
        members = [r for r in doc["components"] if r["family"] == family]
        assert [r["rank"] for r in members] == list(range(1, len(members) + 1))
        keys = [(-r["mean_gain"], -r["top_rate"]) for r in members]
        assert keys == sorted(keys), family

    code, out, _ = run("studies", "components", "--storage", db.url)
    assert code == 0
    printed = [line.split("│")[2].strip() for line in out.splitlines()
               if line.count("│") > 3 and line.split("│")[1].strip().isdigit()]
    assert printed == [r["component"] for r in doc["components"]]
    assert "+0.0567" in out and "0.429" in out


@pytest.mark.parametrize("command", [["show"], ["compare"], ["export"], ["plot", "-o", "x.png"],
                                     ["delete", "--yes"]])
def test_unknown_study_lists_the_existing_ones(db: Db, command: list[str]) -> None:
    code, out, err = run("studies", command[0], "no-such-study", *command[1:], "--storage", db.url)
    assert code == 2 and "Traceback" not in err
    assert "no study 'no-such-study'" in err and db.a in err and db.b in err
    assert len(err.strip().splitlines()) == 1


def test_delete_asks_and_removes_only_that_study(db: Db) -> None:
    doomed = f"doomed-{uuid.uuid4().hex[:6]}"
    _make_study(db.url, doomed, 0.5, TRIALS_C, "wine")
    code, _, err = run("studies", "delete", doomed, "--storage", db.url)
    assert code == 2 and "--yes" in err and "Traceback" not in err
    assert doomed in {r["name"] for r in run_json("studies", "list", "--storage", db.url)}

    doc = run_json("studies", "delete", doomed, "--yes", "--storage", db.url)
    assert doc == {"deleted": doomed, "n_trials": 2, "storage": doc["storage"]}
    names = {r["name"] for r in run_json("studies", "list", "--storage", db.url)}
    assert doomed not in names and set(db.names) <= names


def test_unreachable_database_is_one_line() -> None:
    code, _, err = run("studies", "list", "--storage", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    assert code == 2 and "Traceback" not in err
    assert "cannot use database" in err and len(err.strip().splitlines()) == 1


def test_every_subcommand_has_help_with_an_example() -> None:
    for command in ("list", "show", "compare", "export", "plot", "delete", "components"):
        code, out, _ = run("studies", command, "--help")
        assert code == 0 and "Example: autodistill studies" in out, command


def test_installed_script_lists_studies_as_json(tmp_path: Path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 'one.db'}"
    _make_study(url, "only", 0.9, TRIALS_C, "wine")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    result = subprocess.run([sys.executable, "-m", "autodistill", "studies", "list", "--json"],
                            capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "AUTODISTILL_STORAGE": url})
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)
    assert row["name"] == "only" and row["best"]["valid_score"] == pytest.approx(0.95)


def test_docs_python_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python snippets of docs/studies.md run against a database that `search` could write."""
    import re


    url = f"sqlite:///{tmp_path / 'docs.db'}"
    monkeypatch.setenv("AUTODISTILL_STORAGE", url)
    _make_study(url, "wine-mlp16", 0.8, TRIALS_A, "wine")
    guide = Path(__file__).resolve().parents[1] / "docs" / "studies.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(), flags=re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    try:
        for block in blocks:
            exec(compile(block, str(guide), "exec"), namespace)  # noqa: S102
    finally:
        _dispose(url)
        if "engine" in namespace:
            namespace["engine"].dispose()
    assert namespace["best"]["kd_loss"]["name"] == "hinton"
    assert len(namespace["frame"]) == len(TRIALS_A) and len(namespace["hinton"]) == 5
    assert namespace["studies"].to_dict("records") == [
        {"name": "wine-mlp16", "dataset": "wine", "n_rows": 178, "n_classes": 3,
         "student": "mlp:16", "teacher_accuracy": 0.97}]
    assert namespace["record"].n_features == 13
    assert "hinton" in set(namespace["what_works"]["component"])


def test_the_plain_tuned_lines_name_the_metric_of_each_study() -> None:
    from autodistill.cli.studies import _no_teacher_lines

    best = {"no_teacher_twin": None, "gain_over_twin": None, "gain_over_plain_tuned": -0.08}
    doc = {"name": "imb", "metric": "balanced_accuracy", "best": best, "plain_tuned": None}
    assert ("--space plain --study imb --metric balanced_accuracy` to measure"
            in _no_teacher_lines(doc))
    doc["plain_tuned"] = {"study": "imb-plain_tuned", "metric": "accuracy", "valid_score": 0.6,
                          "test_score": 0.55}
    assert "test 0.5500; tuned for accuracy, not balanced_accuracy)" in _no_teacher_lines(doc)
    doc["plain_tuned"]["metric"] = "balanced_accuracy"
    assert "tuned for" not in _no_teacher_lines(doc)


def test_components_count_only_the_studies_of_one_metric(tmp_path: Path) -> None:
    """Gains in accuracy and in balanced accuracy do not add up: components reads the
    studies of --metric and says how many others it left out."""
    import optuna

    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    _make_study(url, "acc", 0.80, TRIALS_A, "wine")
    _make_study(url, "bal", 0.70, TRIALS_A, "iris")
    study = optuna.load_study(study_name="bal", storage=url)
    study.set_user_attr("autodistill", {**study.user_attrs["autodistill"],
                                        "metric": "balanced_accuracy"})
    doc = run_json("studies", "components", "--storage", url)
    assert (doc["metric"], doc["n_studies"], doc["n_studies_other_metric"]) == ("accuracy", 1, 1)
    doc = run_json("studies", "components", "--storage", url, "--metric", "balanced_accuracy")
    assert (doc["n_studies"], doc["n_studies_other_metric"]) == (1, 1)
    code, out, _ = run("studies", "components", "--storage", url)
    assert code == 0 and "1 that optimised another metric are left out" in out
