"""Progress on long work: events from the library, a rich display in a terminal, one line
per finished trial elsewhere, nothing with --quiet; tables that wrap at 80 columns."""

from __future__ import annotations

import os
import select
import subprocess
import sys

from cli_runner import run_cli

from autodistill.progress import listening, report

FAST = '{"kd_loss": {"name": "hinton"}, "training": {"epochs": 8}}'


def test_listeners_get_events_and_a_broken_one_is_dropped():
    got = []

    def broken(event):
        raise RuntimeError("display gone")

    with listening(got.append), listening(broken):
        report("search", 1, 3, "trial", best=0.5)
        report("search", 2, 3, "trial", best=0.6)
    report("search", 3, 3, "trial")  # nobody listens any more
    assert [(e.done, e.fields["best"]) for e in got] == [(1, 0.5), (2, 0.6)]


def test_distill_reports_teacher_and_student_epochs():
    from autodistill.training.distillation import distill_run

    events = []
    with listening(events.append):
        distill_run("builtin:iris", FAST)
    tasks = {e.task for e in events}
    assert "distill" in tasks
    final = [e for e in events if e.task == "distill" and e.done == e.total]
    # one line at the end, with the kept (best) epoch's score: not also the last epoch's
    assert [(e.total, e.message) for e in final] == [(8, "trained, 8 epochs")]


def test_search_outside_a_terminal_writes_one_line_per_trial(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    done = run_cli("search", "builtin:iris", "--space", "fast", "--trials", "2",
                   "--storage", storage)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "search: trial" in line]
    assert [line.split("search: trial ")[1].split(" ")[0] for line in lines] == ["1/2", "2/2"]
    quiet = run_cli("search", "builtin:iris", "--space", "fast", "--trials", "3",
                    "--storage", storage, "--quiet")
    assert quiet.returncode == 0 and quiet.stderr.strip() == "", quiet.stderr


def test_distill_in_a_terminal_shows_a_progress_display():
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "autodistill", "distill", "builtin:iris",
                                "--pipeline", FAST], stdout=subprocess.DEVNULL,
                               stderr=follower, env={**os.environ, "COLUMNS": "100"})
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    assert process.wait(timeout=120) == 0
    assert b"distill (epochs)" in seen


def test_tables_wrap_long_names_at_80_columns(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    name = "iris-search-with-a-rather-long-study-name"
    done = run_cli("search", "builtin:iris", "--space", "fast", "--trials", "1",
                   "--storage", storage, "--study", name, "--quiet")
    assert done.returncode == 0, done.stderr
    listed = run_cli("studies", "list", "--storage", storage, COLUMNS="80")
    assert listed.returncode == 0, listed.stderr
    assert "…" not in listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    rows = [line.split("│") for line in listed.stdout.splitlines() if line.startswith("│")]
    assert "".join(cells[1].strip() for cells in rows) == name  # folded, never cut


def test_a_population_reports_its_furthest_epoch_as_it_goes():
    """A search's trials are trained together and finish together: meanwhile the
    population's furthest epoch is reported (once per epoch, whichever member reaches it),
    with no total (plain output says where it stands once a minute, see below)."""
    from types import SimpleNamespace

    from autodistill.study.population_worker import _reporter

    on_epoch = _reporter([None, None], prune=False, stop=SimpleNamespace(requested=False))
    events = []
    with listening(events.append):
        for member, epoch in [(0, 0), (1, 0), (0, 1), (1, 1), (1, 2)]:
            on_epoch(member, epoch, 0.5)
    assert [(e.task, e.done, e.total, e.fields["trials"]) for e in events] == [
        ("population", 1, None, 2), ("population", 2, None, 2), ("population", 3, None, 2)]


def test_plain_output_says_where_a_long_epoch_loop_stands_once_a_minute(capsys):
    """Under nohup a population trains for minutes before any trial finishes: a line
    says where it stands when nothing was said of it for a minute, not one per epoch."""
    from autodistill.cli.progress_view import HEARTBEAT_SECONDS, _PlainView

    now = [0.0]
    view = _PlainView(clock=lambda: now[0])
    with listening(view):
        for epoch in range(1, 200):
            now[0] = epoch * 1.5  # an epoch every 1.5 s: 298.5 s in all
            report("population", epoch, None, "epoch", trials=8)
        report("teacher", 10, 10, "epoch", "trained", valid=0.9)
    lines = capsys.readouterr().err.splitlines()
    alive = [line for line in lines if "population: epoch" in line]
    assert len(alive) == int(298.5 // HEARTBEAT_SECONDS) == 4
    assert alive[0] == "autodistill: population: epoch 40; trials 8; at 60.0 s"
    assert lines[-1] == "autodistill: teacher: trained; valid 0.9000; at 298.5 s"
