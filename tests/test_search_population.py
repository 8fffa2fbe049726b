"""search --population: a killed worker's member trials come back; none is lost."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from test_search import MEDIUM, _cli, _env, _study, _wait_for

from autodistill.store import storage
from autodistill.study.run import trial_counts


@pytest.fixture
def study_name(postgres_url: str):
    name = f"test-pop-{uuid.uuid4().hex[:10]}"
    yield name
    storage.delete_study(postgres_url, name)


def _running_for(url: str, name: str, worker: str) -> bool:
    try:
        trials = _study(url, name).trials
    except KeyError:
        return False
    return any(t.state.name == "RUNNING" and t.intermediate_values
               and t.user_attrs.get("worker") == worker for t in trials)


def test_a_killed_population_worker_loses_no_trial(
    postgres_url: str, study_name: str, tmp_path: Path, digits_teacher
) -> None:
    space = tmp_path / "medium.yaml"
    space.write_text(MEDIUM)
    env = _env(AUTODISTILL_HEARTBEAT_INTERVAL="1", AUTODISTILL_HEARTBEAT_GRACE="5")
    args = ("builtin:digits", "--space", str(space), "--trials", "40", "--population", "8",
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
