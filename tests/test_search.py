"""Search: presets first, stored trials, failures, workers, heartbeat retry, Ctrl-C resume.

Runs against SQLite and the PostgreSQL at 127.0.0.1:5432 (skipped only when unreachable).
Every test uses its own study name and deletes it afterwards.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

from autodistill.components import KDLoss
from autodistill.errors import StorageError
from autodistill.registry.manager import register_for_test
from autodistill.store import storage
from autodistill.store.record import read_study_record
from autodistill.study.run import default_study_name, enqueue_pipelines, run_search, trial_counts
from autodistill.study.space_files import load_space
from autodistill.training.pipeline import load_pipeline

TINY = """
kd_loss: {components: [none, hinton, soft_ce]}
mi_objective: {components: [none]}
augmentation: {components: [none, gaussian_noise]}
curriculum: {components: [none]}
training: {epochs: {low: 5, high: 6}, patience: 3}
"""
# About a second a trial on digits: long enough for spawned workers to join in.
MEDIUM = """
kd_loss: {components: [none, hinton]}
mi_objective: {components: [none]}
augmentation: {components: [none]}
curriculum: {components: [none]}
training: {epochs: 60, patience: 60, batch_size: 64}
"""
# Slow enough (about 2 s on digits) to be caught mid-trial.
SLOW = """
kd_loss: {components: [none, hinton]}
mi_objective: {components: [none]}
augmentation: {components: [none]}
curriculum: {components: [none]}
training: {epochs: 60, patience: 60, batch_size: 32, lr: 0.001, weight_decay: 0.0}
"""


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def study_name(request: pytest.FixtureRequest) -> str:
    name = f"test-{uuid.uuid4().hex[:10]}"
    urls: list[str] = []
    request.node.study_urls = urls
    yield name
    for url in urls:
        storage.delete_study(url, name)


@pytest.fixture
def tiny(tmp_path: Path) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return str(path)


@pytest.fixture
def medium(tmp_path: Path) -> str:
    path = tmp_path / "medium.yaml"
    path.write_text(MEDIUM)
    return str(path)


@pytest.fixture
def slow(tmp_path: Path) -> str:
    path = tmp_path / "slow.yaml"
    path.write_text(SLOW)
    return str(path)


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def _cleanup(request: pytest.FixtureRequest, url: str) -> str:
    request.node.study_urls.append(url)
    return url


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def test_search_stores_presets_first_with_metrics_and_resumes(
    request, url: str, study_name: str, tiny: str, iris_teacher
) -> None:
    _cleanup(request, url)
    summary = run_search("builtin:iris", space=tiny, trials=4, storage=url, study=study_name,
                         quiet=True, handle_signals=False)
    assert summary["study"] == study_name
    assert summary["trials"]["counted"] == 4 and summary["ran"] == 4
    study = _study(url, study_name)  # plain Optuna opens our study from the same URL
    trials = study.trials
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert trials[0].user_attrs["pipeline"]["kd_loss"]["name"] == "none"
    assert trials[1].user_attrs["pipeline"]["kd_loss"] == {
        "name": "hinton", "params": {"temperature": 4.0, "alpha": 0.9}}
    for trial in trials:
        if trial.state.name == "COMPLETE":
            assert 0.0 <= trial.value <= 1.0
            assert {"pipeline", "test_accuracy", "macro_f1", "seconds"} <= set(trial.user_attrs)
    hinton = trials[1].value
    assert summary["best"]["valid_score"] >= hinton
    best = next(t for t in trials if t.number == summary["best"]["number"])
    assert summary["best"]["test_accuracy"] == best.user_attrs["test_accuracy"]
    info = study.user_attrs["autodistill"]
    assert info["dataset"] == "builtin:iris" and info["student"] == "mlp:16"
    assert info["n_classes"] == 3 and info["space"] == tiny
    record = read_study_record(study)
    assert record.fingerprint == info["fingerprint"] and record.teacher == "auto"

    # The same command again owes nothing; asking for more runs only the difference.
    again = run_search("builtin:iris", space=tiny, trials=4, storage=url, study=study_name,
                       quiet=True, handle_signals=False)
    assert again["ran"] == 0
    more = run_search("builtin:iris", space=tiny, trials=6, storage=url, study=study_name,
                      quiet=True, handle_signals=False)
    trials = _study(url, study_name).trials
    assert more["ran"] == 2 and len(trials) == 6
    # A resumed study draws new trials, not its first run's random ones again.
    assert [t.params for t in trials[4:]] != [t.params for t in trials[2:4]]


def test_a_study_of_another_dataset_is_refused(tmp_path: Path, tiny: str, iris_teacher) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    run_search("builtin:iris", space=tiny, trials=1, storage=url, study="shared", quiet=True,
               handle_signals=False)
    with pytest.raises(StorageError, match="another --study"):
        run_search("builtin:iris", space=tiny, trials=1, storage=url, study="shared",
                   student="mlp:8", quiet=True, handle_signals=False)


def test_a_space_file_is_known_by_its_content_not_its_path(tmp_path: Path, tiny: str,
                                                           iris_teacher) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    run_search("builtin:iris", space=tiny, trials=1, storage=url, study="spaced", quiet=True,
               handle_signals=False)
    copy = tmp_path / "elsewhere" / "same.yaml"  # another path to the same text resumes
    copy.parent.mkdir()
    copy.write_text(Path(tiny).read_text())
    more = run_search("builtin:iris", space=str(copy), trials=2, storage=url, study="spaced",
                      quiet=True, handle_signals=False)
    assert more["ran"] == 1
    Path(tiny).write_text(TINY.replace("high: 6", "high: 9"))  # an edit does not
    with pytest.raises(StorageError) as info:
        run_search("builtin:iris", space=tiny, trials=3, storage=url, study="spaced",
                   quiet=True, handle_signals=False)
    assert str(info.value) == (
        f"study 'spaced' in {url} searched the space file '{tiny}' as it was when the study "
        f"began; '{tiny}' now holds other content; restore it to resume the study, or pass "
        "--study spaced-tiny for a new study in this space")
    with pytest.raises(StorageError, match=f"searched space '{tiny}', not 'fast'; pass --space "):
        run_search("builtin:iris", space="fast", trials=3, storage=url, study="spaced",
                   quiet=True, handle_signals=False)
    assert len(_study(url, "spaced").trials) == 2


def test_a_study_of_another_target_in_the_same_file_names_the_targets(tmp_path: Path,
                                                                      tiny: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 2)).round(3)
    rows = [f"{a},{b},{'yes' if a > 0 else 'no'},{'hi' if b > 0 else 'lo'}" for a, b in x]
    path = tmp_path / "two_labels.csv"
    path.write_text("x1,x2,first,second\n" + "\n".join(rows) + "\n")
    url = f"sqlite:///{tmp_path / 's.db'}"
    run_search(str(path), target="first", teacher="gbdt", space=tiny, trials=1, storage=url,
               study="labels", quiet=True, handle_signals=False)
    with pytest.raises(StorageError, match="searched target 'first', not 'second'; pass "
                                           "another --study"):
        run_search(str(path), target="second", teacher="gbdt", space=tiny, trials=1,
                   storage=url, study="labels", quiet=True, handle_signals=False)


class _Boom(KDLoss):
    """A KD loss that always raises (test only)."""

    name = "test_boom"

    def forward(self, student_logits, teacher_logits, targets):
        raise RuntimeError("boom at batch one")


class _NaN(KDLoss):
    """A KD loss that returns NaN (test only)."""

    name = "test_nan"

    def forward(self, student_logits, teacher_logits, targets):
        return student_logits.sum() * torch.tensor(math.nan)


def test_a_raising_component_fails_its_trial_and_the_study_goes_on(
    tmp_path: Path, iris_teacher, caplog
) -> None:
    url = f"sqlite:///{tmp_path / 'boom.db'}"
    space = tmp_path / "boom.yaml"
    space.write_text(TINY.replace("[none, hinton, soft_ce]", "[test_boom, test_nan, none]"))
    removers = [register_for_test("kd_loss", _Boom), register_for_test("kd_loss", _NaN)]
    try:
        with caplog.at_level("WARNING"):
            summary = run_search("builtin:iris", space=str(space), trials=8, storage=url,
                                 study="boom", seed=3, quiet=True, handle_signals=False)
    finally:
        for remove in removers:
            remove()
    # The first failure of the component is a warning naming it and its plugin; the
    # others (it fails every trial that draws it) are not warned of again.
    told = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"
            and "failed: kd_loss 'test_boom' failed: RuntimeError: boom at batch one (from "
                "plugin 'test'); the study goes on" in r.getMessage()]
    assert len(told) == 1, caplog.text
    assert summary["trials"]["counted"] == 8 and summary["ran"] == 8
    trials = _study(url, "boom").trials
    by_loss: dict[str, list] = {}
    for trial in trials:
        by_loss.setdefault(trial.params["kd_loss"], []).append(trial)
    assert len(by_loss["test_boom"]) >= 2 and by_loss["test_nan"] and by_loss["none"]
    for trial in by_loss["test_boom"]:
        assert trial.state.name == "FAIL"
        assert trial.user_attrs["failed_component"] == "kd_loss:test_boom"
        assert "boom at batch one" in trial.user_attrs["error"]
    for trial in by_loss["test_nan"]:
        assert trial.state.name == "PRUNED"
        assert "nan" in trial.user_attrs["error"].lower()
    assert all(t.state.name == "COMPLETE" for t in by_loss["none"])


def _assert_exactly(url: str, name: str, n: int) -> list:
    trials = _study(url, name).trials
    assert [t.number for t in trials] == list(range(n))
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both workers took part
    presets = [t.user_attrs["pipeline"]["kd_loss"]["name"] for t in trials
               if t.system_attrs.get("fixed_params")]
    assert sorted(presets) == ["hinton", "none"]  # each preset exactly once
    return trials


def test_two_workers_run_exactly_the_requested_trials(
    request, url: str, study_name: str, medium: str, digits_teacher
) -> None:
    _cleanup(request, url)
    # A study that already holds a finished trial and a waiting one (queued, never run).
    run_search("builtin:digits", space=medium, trials=1, storage=url, study=study_name,
               quiet=True, handle_signals=False)
    queued = enqueue_pipelines(_study(url, study_name), [load_pipeline("hinton")],
                               load_space(medium))
    assert queued == 1
    # One trial at a time: a population would finish before the spawned worker joins.
    summary = run_search("builtin:digits", space=medium, trials=16, storage=url,
                         study=study_name, workers=2, population=1, quiet=True,
                         handle_signals=False)
    assert summary["trials"]["counted"] == 16 and summary["ran"] == 15
    trials = _assert_exactly(url, study_name, 16)
    assert trials[1].user_attrs["pipeline"]["kd_loss"]["name"] == "hinton"  # the queued one ran
    if storage.is_sqlite(url):
        assert not list(Path(url[len("sqlite:///"):]).parent.glob("*.journal"))


def test_a_workers_search_and_another_never_share_a_sqlite_study(tmp_path: Path, tiny: str,
                                                                iris_teacher) -> None:
    from autodistill.store.journal import search_lock

    url = f"sqlite:///{tmp_path / 's.db'}"
    # Two searches of one process each share the study through the database ...
    with search_lock(url, "shared", workers=False), search_lock(url, "shared", workers=False):
        # ... but a --workers run keeps its trials in a journal until the end: each would
        # have run the whole budget (60 trials for --trials 30, every one twice)
        with pytest.raises(StorageError, match="a --workers search needs a SQLite study to "
                                               "itself: wait for it, drop --workers"):
            run_search("builtin:iris", space=tiny, trials=2, storage=url, study="shared",
                       workers=2, quiet=True, handle_signals=False)
    with search_lock(url, "shared", workers=True):
        with pytest.raises(StorageError, match="another `autodistill search --workers` is "
                                               "running study 'shared'"):
            run_search("builtin:iris", space=tiny, trials=2, storage=url, study="shared",
                       quiet=True, handle_signals=False)
    with search_lock(url, "other", workers=True):  # another study is no concern
        assert run_search("builtin:iris", space=tiny, trials=1, storage=url, study="shared",
                          quiet=True, handle_signals=False)["ran"] == 1


def test_a_killed_local_worker_is_made_up_for(tmp_path: Path, medium: str,
                                              digits_teacher) -> None:
    from autodistill.store.journal import journal_path

    url = f"sqlite:///{tmp_path / 's.db'}"
    parent = _cli("builtin:digits", "--space", medium, "--trials", "16", "--workers", "2",
                  "--population", "1", "--storage", url, "--study", "killed", "--json",
                  env=_env())
    journal = journal_path(url, "killed")
    try:
        def child() -> int | None:
            for pid in subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True,
                                      text=True).stdout.split():
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return int(pid)
            return None

        # wait until the spawned worker has a trial of its own, then kill it
        _wait_for(lambda: parent.poll() is not None or (
            child() is not None and journal.exists()
            and f"{socket.gethostname()}:{child()}" in journal.read_text()), timeout=240)
        assert parent.poll() is None, parent.communicate()
        os.kill(child(), signal.SIGKILL)
        out, err = parent.communicate(timeout=300)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert parent.returncode == 0, err
    trials = _study(url, "killed").trials
    # the parent ran what the dead worker owed: the study holds its 16 trials
    assert trial_counts(trials)["counted"] == 16, err
    assert json.loads(out)["trials"]["counted"] == 16
    assert not [t for t in trials if t.state.name == "RUNNING"]


def test_two_commands_cooperate_on_one_postgres_study(
    request, pg_url: str, study_name: str, medium: str, digits_teacher
) -> None:
    _cleanup(request, pg_url)
    args = ("builtin:digits", "--space", medium, "--trials", "12", "--storage", pg_url,
            "--study", study_name, "--json")
    procs = [_cli(*args, env=_env()) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    _assert_exactly(pg_url, study_name, 12)
    # Each command counts the trials it ran, not the other's too.
    assert sum(json.loads(out)["ran"] for out, _ in outputs) == 12
    # Two commands started alike draw different trials (not one seed's sequence twice).
    drawn = [tuple(sorted(t.params.items())) for t in _study(pg_url, study_name).trials
             if t.params.get("kd_loss") == "hinton"]
    assert len(set(drawn)) == len(drawn)


def _wait_for(predicate, timeout: float = 90.0, every: float = 0.05) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError("timed out waiting")


def _running_with_epochs(url: str, name: str) -> bool:
    try:
        trials = _study(url, name).trials
    except KeyError:
        return False
    return any(t.state.name == "RUNNING" and t.intermediate_values for t in trials)


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autodistill", "search", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_killed_workers_trial_is_failed_by_heartbeat_and_retried(
    request, pg_url: str, study_name: str, slow: str, digits_teacher,
    monkeypatch: pytest.MonkeyPatch, caplog,
) -> None:
    _cleanup(request, pg_url)
    monkeypatch.setenv("AUTODISTILL_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("AUTODISTILL_HEARTBEAT_GRACE", "2")
    worker = _cli("builtin:digits", "--space", slow, "--trials", "1", "--storage", pg_url,
                  "--study", study_name, env=_env())
    try:
        _wait_for(lambda: _running_with_epochs(pg_url, study_name) or worker.poll() is not None)
        assert worker.poll() is None, worker.communicate()
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    with caplog.at_level("WARNING"):
        summary = run_search("builtin:digits", space=slow, trials=1, storage=pg_url,
                             study=study_name, quiet=True, handle_signals=False)
    # the wait for the dead worker's trial is said, not silent
    assert ("trial 0: its worker is gone (killed?); the trial is failed and retried once "
            "its heartbeat is 2 s old") in caplog.text
    trials = _study(pg_url, study_name).trials
    killed, retry = trials[0], trials[-1]
    assert killed.state.name == "FAIL"
    assert retry.state.name == "COMPLETE"
    assert retry.system_attrs["failed_trial"] == killed.number
    assert retry.params == killed.params
    assert summary["ran"] == 1 and trial_counts(trials)["counted"] == 1
    from autodistill.meta.past_studies import export_trials

    exported = export_trials(study_name, pg_url)  # the killed trial says why it failed
    assert exported[0]["error"] == f"its worker stopped beating; retried as trial {retry.number}"


def test_sigint_stops_cleanly_and_the_same_command_resumes(
    request, url: str, study_name: str, slow: str, digits_teacher
) -> None:
    _cleanup(request, url)
    args = ("builtin:digits", "--space", slow, "--trials", "3", "--storage", url,
            "--study", study_name)
    proc = _cli(*args, "--json", env=_env())
    try:
        _wait_for(lambda: _running_with_epochs(url, study_name) or proc.poll() is not None)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "run the same command again" in err
    assert json.loads(out)["interrupted"] is True
    before = _study(url, study_name).trials
    interrupted = [t for t in before if t.user_attrs.get("interrupted")]
    # The population's trials were all interrupted and failed; none is left RUNNING.
    assert interrupted and all(t.state.name == "FAIL" for t in interrupted)
    assert not [t for t in before if t.state.name in ("RUNNING", "WAITING")]
    done_before = trial_counts(before)["counted"]
    assert done_before < 3

    summary = run_search("builtin:digits", space=slow, trials=3, storage=url, study=study_name,
                         quiet=True, handle_signals=False)
    assert summary["ran"] == 3 - done_before
    after = _study(url, study_name).trials
    assert trial_counts(after)["counted"] == 3
    assert [t.state.name for t in after if not t.user_attrs.get("interrupted")] == ["COMPLETE"] * 3
    # The interrupted preset ran again, so both presets completed.
    names = sorted(t.user_attrs["pipeline"]["kd_loss"]["name"] for t in after
                   if t.system_attrs.get("fixed_params") and t.state.name == "COMPLETE")
    assert names == ["hinton", "none"]


def test_unreachable_database_is_one_line_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "autodistill", "search", "builtin:iris", "--storage",
         "postgresql+psycopg://bob:hunter2@127.0.0.1:1/test"],
        capture_output=True, text=True, timeout=120, env=_env(),
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), proc.stderr
    assert "hunter2" not in proc.stderr


def test_cli_json_and_help(tmp_path: Path, tiny: str, iris_teacher) -> None:
    from typer.testing import CliRunner

    from autodistill.cli import make_app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    help_text = runner.invoke(make_app(), ["search", "--help"]).output
    assert "Example" in help_text and "--workers" in help_text
    result = runner.invoke(make_app(), ["search", "builtin:iris", "--space", tiny, "--trials",
                                        "3", "--storage", url, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["study"] == "iris-mlp16"
    assert doc["storage"] == url
    assert doc["trials"]["counted"] == 3
    assert set(doc["best"]) >= {"pipeline", "valid_score", "test_accuracy"}


def test_default_study_name() -> None:
    class D:
        name = "builtin:wine"

    assert default_study_name(D(), "mlp:16") == "wine-mlp16"
    assert default_study_name(D(), "mlp:64,32", split_seed=2) == "wine-mlp64x32-split2"


def test_a_warm_start_queues_the_presets_only_for_its_last_trials():
    import optuna

    from autodistill.study.queue import preset_pipelines, queue_presets_when_due
    from autodistill.study.space_files import load_space

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize")
    space = load_space("kb")
    for lr in (0.02, 0.03):  # two picks (not the presets' lr 0.01) waiting; seven owed
        study.enqueue_trial({**space.params_for(preset_pipelines()[0]), "training.lr": lr})
    assert queue_presets_when_due(study, space, 7, trial_counts(study.get_trials())) == 0
    for _ in range(5):  # the picks and three more ran: two trials remain, for the presets
        trial = study.ask()
        study.tell(trial, 0.5)
    counts = trial_counts(study.get_trials())
    assert queue_presets_when_due(study, space, 7, counts) == 2
    assert queue_presets_when_due(study, space, 7, trial_counts(study.get_trials())) == 0
    waiting = [t.system_attrs["fixed_params"] for t in study.get_trials()
               if t.state.name == "WAITING"]
    assert waiting[-2:] == [space.params_for(p) for p in preset_pipelines()]


def test_a_warm_start_whose_picks_hold_a_preset_still_runs_the_other_preset_last(tmp_path):
    # a population asks for the whole round at once: only the presets the picks did not
    # run may be held back for the last round, or the other preset never runs
    import optuna

    from autodistill.study.queue import preset_pipelines
    from autodistill.study.run import run_search
    from autodistill.study.space_files import load_space

    space = load_space("kb")
    plain, hinton = preset_pipelines()
    other = space.sample(optuna.trial.FixedTrial(
        {**space.params_for(hinton), "training.lr": 0.02}))

    class Advisor:
        def task_features(self, dataset, teacher, student):
            return {}

        def first_pipelines(self, dataset, teacher, student, k, url, metric="accuracy"):
            return [plain, other][:k]

    url = f"sqlite:///{tmp_path / 'w.db'}"
    run_search("builtin:iris", student="mlp:4", space="kb", trials=4, warm_start=2,
               advisor=Advisor(), storage=url, study="warm", quiet=True)
    ran = [dict(t.params) for t in optuna.load_study(study_name="warm", storage=url).trials]
    assert len(ran) == 4
    assert ran[:2] == [space.params_for(plain), space.params_for(other)]
    assert ran[-1] == space.params_for(hinton)


def test_a_warm_start_takes_the_first_picks_its_space_holds_and_says_when_too_few(
        tmp_path, caplog):
    import optuna

    from autodistill.study.queue import preset_pipelines
    from autodistill.study.run import run_search
    from autodistill.study.space_files import load_space
    from autodistill.training.pipeline import Pipeline

    space = load_space("kb")
    plain, hinton = preset_pipelines()
    doc = hinton.to_dict()
    outside = Pipeline.from_dict({**doc, "training": {**doc["training"], "batch_size": 32}})
    other = space.sample(optuna.trial.FixedTrial(
        {**space.params_for(hinton), "training.lr": 0.02}))
    asked = []

    class Advisor:
        def task_features(self, dataset, teacher, student):
            return {}

        def first_pipelines(self, dataset, teacher, student, k, url, metric="accuracy"):
            asked.append(k)
            return [outside, other, plain][:k]

    url = f"sqlite:///{tmp_path / 'w.db'}"
    with caplog.at_level("WARNING"):
        run_search("builtin:iris", student="mlp:4", space="kb", trials=4, warm_start=2,
                   advisor=Advisor(), storage=url, study="warm", quiet=True)
    ran = [dict(t.params) for t in optuna.load_study(study_name="warm", storage=url).trials]
    assert ran[:2] == [space.params_for(other), space.params_for(plain)]  # outside skipped
    assert asked == [8] and "--warm-start" not in caplog.text
    with caplog.at_level("WARNING"):
        run_search("builtin:iris", student="mlp:4", space="kb", trials=3, warm_start=3,
                   advisor=Advisor(), storage=url, study="warm-3", quiet=True)
    assert ("--warm-start 3: only 2 of the recommender's first 3 pipelines lie inside space "
            "'kb'") in caplog.text


def _running_for(url: str, name: str, worker: str) -> bool:
    try:
        trials = _study(url, name).trials
    except KeyError:
        return False
    return any(t.state.name == "RUNNING" and t.intermediate_values
               and t.user_attrs.get("worker") == worker for t in trials)


def test_a_killed_population_worker_loses_no_trial(
    request, pg_url: str, study_name: str, medium: str, digits_teacher
) -> None:
    """A 40-trial --population 8 search, two workers, one SIGKILLed mid-run."""
    postgres_url = _cleanup(request, pg_url)
    env = _env(AUTODISTILL_HEARTBEAT_INTERVAL="1", AUTODISTILL_HEARTBEAT_GRACE="5")
    args = ("builtin:digits", "--space", medium, "--trials", "40", "--population", "8",
            "--storage", postgres_url, "--study", study_name, "--json")
    victim = _cli(*args, env=env)
    survivor = _cli(*args, env=env)
    try:
        worker = f"{socket.gethostname()}:{victim.pid}"
        _wait_for(lambda: _running_for(postgres_url, study_name, worker)
                  or victim.poll() is not None, timeout=240)
        assert victim.poll() is None, victim.communicate()
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        out, err = survivor.communicate(timeout=600)
    finally:
        for proc in (victim, survivor):
            if proc.poll() is None:
                proc.kill()
    assert survivor.returncode == 0, err
    trials = _study(postgres_url, study_name).trials
    states = {t.state.name for t in trials}
    assert states <= {"COMPLETE", "PRUNED", "FAIL"}, states
    assert trial_counts(trials)["counted"] == 40
    killed = [t for t in trials if t.user_attrs.get("worker") == worker and t.state.name == "FAIL"]
    assert killed, "the victim had running trials when it was killed"
    retried = {t.system_attrs.get("failed_trial"): t for t in trials
               if t.system_attrs.get("failed_trial") is not None}
    for trial in killed:  # each killed member trial ran again, with its params, and finished
        retry = retried[trial.number]
        while retry.state.name == "FAIL" and retry.number in retried:
            retry = retried[retry.number]
        assert retry.params == trial.params
        assert retry.state.name in ("COMPLETE", "PRUNED")
    assert all(t.user_attrs.get("population", 0) >= 1 for t in trials)


def test_population_zero_is_one_line_exit_2() -> None:
    for value in ("0", "-2"):
        proc = subprocess.run(
            [sys.executable, "-m", "autodistill", "search", "builtin:iris", "--population", value],
            capture_output=True, text=True, timeout=120, env=_env(),
        )
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: --population {value}")


def test_resuming_a_finished_study_says_why_nothing_ran(tmp_path: Path, tiny: str) -> None:
    from cli_runner import run_cli

    args = ("search", "builtin:iris", "--space", tiny, "--trials", "1", "--student", "mlp:4",
            "--storage", f"sqlite:///{tmp_path / 's.db'}", "--study", "done", "--quiet")
    first = run_cli(*args, COLUMNS="200")
    assert first.returncode == 0 and "raise it to run more" not in first.stdout, first.stderr
    again = run_cli(*args, COLUMNS="200")
    assert again.returncode == 0, again.stderr
    assert "0 run now (the study already held --trials; raise it to run more)" in again.stdout


def test_a_resumed_search_reports_only_the_trials_it_runs(tmp_path: Path, tiny: str) -> None:
    from cli_runner import run_cli

    args = ("search", "builtin:iris", "--space", tiny, "--student", "mlp:4", "--storage",
            f"sqlite:///{tmp_path / 's.db'}", "--study", "resumed")
    assert run_cli(*args, "--trials", "2").returncode == 0
    more = run_cli(*args, "--trials", "3")
    assert more.returncode == 0, more.stderr
    finished = [line for line in more.stderr.splitlines() if "finished" in line]
    # one trial ran: one line (it printed "trial 1/3", "2/3" for the stored ones too)
    assert len(finished) == 1 and "search: trial 3/3 finished" in finished[0], more.stderr
