"""Bad input, table-driven: every command answers a hostile but realistic input with one
line on stderr and exit code 2, never a traceback, and leaves the database as it was.

Each case runs the real ``autodistill.cli.main`` in this process (fast) with
``AUTODISTILL_STORAGE`` pointing at a SQLite file that holds a finished study; the file
must be byte-for-byte unchanged afterwards. The few cases whose failure needs a fresh
interpreter (memory, the cache directory) run as subprocesses.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

TINY_SPACE = """
kd_loss: {components: [none, hinton]}
mi_objective: {components: [none]}
augmentation: {components: [none]}
curriculum: {components: [none]}
training: {epochs: 5, patience: 3}
"""
STUDY = "bad-input-iris"
LONG_NAME = "s" * 600


@dataclass
class Ctx:
    """What a case may refer to: a scratch directory, the database and its space file."""

    tmp: Path
    db: Path
    space: Path
    pg: str

    def file(self, name: str, text: str | bytes) -> str:
        path = self.tmp / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return str(path)


def _rows(n: int = 40) -> str:
    return "a,b,y\n" + "".join(f"{i % 7},{'ab'[i % 2]},{'yes' if i % 3 else 'no'}\n"
                               for i in range(n))


Args = Callable[[Ctx], list[str]]
# (id, argv, words the error line must hold); argv gets the case's Ctx.
CASES: list[tuple[str, Args, tuple[str, ...]]] = [
    # --- issue 13's cases
    ("synthetic-1e12-distill", lambda c: ["distill", "synthetic:classification?n=1e12",
                                          "--pipeline", "plain"], ("n=1000000000000", "memory")),
    ("synthetic-1e12-search", lambda c: ["search", "synthetic:classification?n=1e12",
                                         "--trials", "1"], ("memory",)),
    ("synthetic-1e12-recommend", lambda c: ["recommend", "synthetic:classification?n=1e12"],
     ("memory",)),
    ("split-seed-negative-distill", lambda c: ["distill", "builtin:iris", "--pipeline", "plain",
                                               "--split-seed", "-1"], ("--split-seed", "-1")),
    ("split-seed-negative-search", lambda c: ["search", "builtin:iris", "--split-seed", "-1",
                                              "--trials", "1"], ("--split-seed",)),
    ("split-seed-negative-recommend", lambda c: ["recommend", "builtin:iris", "--split-seed",
                                                 "-1"], ("--split-seed",)),
    ("split-seed-too-large", lambda c: ["distill", "builtin:iris", "--pipeline", "plain",
                                        "--split-seed", str(2**32)], ("--split-seed",)),
    ("study-name-600-postgres", lambda c: ["search", "builtin:iris", "--trials", "1",
                                           "--storage", c.pg, "--study", LONG_NAME],
     ("--study", "600")),
    ("study-name-600-sqlite", lambda c: ["search", "builtin:iris", "--trials", "1",
                                         "--study", LONG_NAME], ("--study", "512")),
    ("study-name-blank", lambda c: ["search", "builtin:iris", "--trials", "1", "--study", " "],
     ("--study ' '", "visible character")),
    ("storage-folder-missing", lambda c: ["studies", "list", "--storage",
                                          f"sqlite:///{c.tmp / 'nope' / 'x.db'}"],
     ("the folder", "nope", "does not exist")),
    ("ipv6-malformed-search", lambda c: ["search", "builtin:iris", "--trials", "1",
                                         "--storage", "postgresql+psycopg://u@[::1/db"],
     ("--storage", "not a database URL")),
    ("ipv6-malformed-studies-list", lambda c: ["studies", "list", "--storage",
                                               "postgresql://u@[::1:5432/db"], ("--storage",)),
    ("ipv6-malformed-recommend", lambda c: ["recommend", "builtin:iris", "--storage",
                                            "postgresql://u@[fe80::1/db"], ("--storage",)),
    ("teacher-none-with-hinton", lambda c: ["distill", "builtin:iris", "--pipeline", "hinton",
                                            "--teacher", "none"],
     ("--teacher none", "kd_loss hinton", "--pipeline plain")),
    ("student-17gb-distill", lambda c: ["distill", "builtin:iris", "--pipeline", "plain",
                                        "--student", "mlp:65536,65536"],
     ("--student", "parameters", "memory")),
    ("student-17gb-search", lambda c: ["search", "builtin:iris", "--trials", "1",
                                       "--student", "mlp:65536,65536"], ("--student", "memory")),
    ("space-mismatch-resume", lambda c: ["search", "builtin:iris", "--study", STUDY,
                                         "--space", "fast", "--trials", "3"],
     ("space", "--space", "--study")),
    ("timeout-negative", lambda c: ["search", "builtin:iris", "--study", STUDY, "--space",
                                    str(c.space), "--trials", "5", "--timeout", "-5"],
     ("--timeout",)),
    ("timeout-zero", lambda c: ["search", "builtin:iris", "--trials", "1", "--timeout", "0"],
     ("--timeout",)),
    ("directory-named-csv", lambda c: [
        "distill", str(_mkdir(c.tmp / "x.csv")), "--target", "y", "--pipeline", "plain"],
     ("directory",)),
    ("directory-named-csv-search", lambda c: [
        "search", str(_mkdir(c.tmp / "x.csv")), "--target", "y", "--trials", "1"],
     ("directory",)),
    ("distill-out-is-a-file", lambda c: [
        "distill", "builtin:iris", "--pipeline", "plain", "--out", c.file("afile", "x")],
     ("--out", "afile", "a file is there")),
    ("search-out-is-a-file", lambda c: [
        "search", "builtin:iris", "--trials", "1", "--out", c.file("afile", "x")],
     ("--out", "afile", "a file is there")),
    ("distill-out-holds-other-files", lambda c: [
        "distill", "builtin:iris", "--pipeline", "plain", "--out",
        str(Path(c.file("notes.txt", "x")).parent)], ("--out", "other files", "new or empty")),
    # a misspelt --student is named before the data loads (and warns of unlabelled rows)
    *[(f"student-misspelt-{command}", lambda c, command=command, extra=extra: [
        command, c.file("unlabelled.csv", _rows() + "1,a,\n"), "--target", "y",
        "--student", "mlp:abc", *extra], ("--student 'mlp:abc'",))
      for command, extra in (("distill", ["--pipeline", "plain"]), ("search", ["--trials", "1"]),
                             ("recommend", []))],
    # --- data
    ("missing-file", lambda c: ["distill", "/no/such/file.csv", "--target", "y",
                                "--pipeline", "plain"], ("/no/such/file.csv",)),
    ("unknown-builtin", lambda c: ["distill", "builtin:irsi", "--pipeline", "plain"],
     ("builtin:irsi",)),
    ("empty-builtin", lambda c: ["search", "builtin:", "--trials", "1"], ("builtin:",)),
    ("unknown-synthetic-family", lambda c: ["recommend", "synthetic:spirals"], ("spirals",)),
    ("synthetic-unknown-param", lambda c: ["distill", "synthetic:moons?nosie=0.1",
                                           "--pipeline", "plain"], ("nosie",)),
    ("synthetic-negative-noise", lambda c: ["distill", "synthetic:moons?noise=-1",
                                            "--pipeline", "plain"], ("noise",)),
    ("synthetic-nan-param", lambda c: ["search", "synthetic:blobs?std=nan", "--trials", "1"],
     ("std",)),
    ("synthetic-n-too-small", lambda c: ["distill", "synthetic:moons?n=2", "--pipeline",
                                         "plain"], ("n must be",)),
    ("unsupported-suffix", lambda c: ["distill", c.file("t.xls", "a"), "--pipeline", "plain"],
     ("unsupported",)),
    ("empty-csv", lambda c: ["distill", c.file("e.csv", ""), "--target", "y", "--pipeline",
                             "plain"], ("empty",)),
    ("binary-csv", lambda c: ["search", c.file("b.csv", bytes(range(256)) * 8), "--target", "y",
                              "--trials", "1"], ("binary",)),
    ("no-target", lambda c: ["distill", c.file("t.csv", _rows()), "--pipeline", "plain"],
     ("--target",)),
    ("wrong-target", lambda c: ["recommend", c.file("t.csv", _rows()), "--target", "label"],
     ("label",)),
    ("one-class", lambda c: ["distill", c.file("t.csv", "a,y\n" + "1,x\n" * 30), "--target",
                             "y", "--pipeline", "plain"], ("one class",)),
    ("lonely-classes", lambda c: ["search", c.file("t.csv", _rows(20) + "1,a,lonely\n2,b,odd\n"),
                                  "--target", "y", "--trials", "1"], ("lonely", "2 of 22 rows")),
    ("no-labels", lambda c: ["distill", c.file("t.csv", "a,b,y\n" + "1,a,\n" * 30),
                             "--target", "y", "--pipeline", "plain"],
     ("target column 'y' is empty",)),
    ("continuous-target-with-gaps", lambda c: ["recommend", c.file("t.csv", "a,y\n" + "".join(
        f"{i},{'' if i % 4 == 0 else i / 7}\n" for i in range(30))), "--target", "y"],
     ("continuous",)),  # one line: no warning about the unlabelled rows first
    ("continuous-target", lambda c: ["distill", c.file("t.csv", "a,y\n" + "".join(
        f"{i},{i / 7}\n" for i in range(30))), "--target", "y", "--pipeline", "plain"],
     ("continuous",)),
    ("npz-without-y", lambda c: ["distill", _npz(c.tmp / "a.npz"), "--pipeline", "plain"],
     ("'y'",)),
    # --- students, teachers, pipelines
    ("student-cnn", lambda c: ["distill", "builtin:iris", "--pipeline", "plain", "--student",
                               "cnn:3"], ("--student",)),
    ("student-zero-width", lambda c: ["search", "builtin:iris", "--trials", "1", "--student",
                                      "mlp:0"], ("--student",)),
    ("student-letters", lambda c: ["recommend", "builtin:iris", "--student", "mlp:abc"],
     ("--student",)),
    ("teacher-unknown", lambda c: ["distill", "builtin:iris", "--pipeline", "hinton",
                                   "--teacher", "gpt"], ("gpt",)),
    ("teacher-missing-file", lambda c: ["search", "builtin:iris", "--trials", "1", "--teacher",
                                        "/no/teacher.pt"], ("/no/teacher.pt",)),
    ("teacher-not-torchscript", lambda c: ["distill", "builtin:iris", "--pipeline", "hinton",
                                           "--teacher", c.file("junk.pt", b"not a model")],
     ("junk.pt",)),
    ("pipeline-unknown-component", lambda c: ["distill", "builtin:iris", "--pipeline",
                                              '{"kd_loss": {"name": "hintn"}}'], ("hintn",)),
    ("pipeline-unknown-param", lambda c: ["distill", "builtin:iris", "--pipeline",
                                          '{"kd_loss": {"name": "hinton", "params": '
                                          '{"temprature": 3}}}'], ("temprature",)),
    ("pipeline-out-of-range", lambda c: ["distill", "builtin:iris", "--pipeline",
                                         '{"kd_loss": {"name": "hinton", "params": '
                                         '{"temperature": 99}}}'], ("temperature",)),
    ("pipeline-nonsense", lambda c: ["distill", "builtin:iris", "--pipeline", "nonsense"],
     ("nonsense",)),
    ("pipeline-broken-json", lambda c: ["distill", "builtin:iris", "--pipeline", '{"kd_loss":'],
     ("--pipeline",)),
    # --- search options and spaces
    ("trials-zero", lambda c: ["search", "builtin:iris", "--trials", "0"], ("--trials",)),
    ("workers-zero", lambda c: ["search", "builtin:iris", "--workers", "0"], ("--workers",)),
    ("warm-start-negative", lambda c: ["search", "builtin:iris", "--warm-start", "-1"],
     ("--warm-start",)),
    ("trials-not-a-number", lambda c: ["search", "builtin:iris", "--trials", "many"],
     ("--trials",)),
    ("space-unknown", lambda c: ["search", "builtin:iris", "--space", "fastest", "--trials", "1"],
     ("fastest",)),
    ("space-bad-key", lambda c: ["search", "builtin:iris", "--trials", "1", "--space",
                                 c.file("s.yaml", "kd_los: {components: [none]}\n")],
     ("kd_los",)),
    ("space-not-yaml", lambda c: ["search", "builtin:iris", "--trials", "1", "--space",
                                  c.file("s.yaml", "kd_loss: [unclosed\n")], ("s.yaml",)),
    ("study-other-dataset", lambda c: ["search", "builtin:wine", "--study", STUDY, "--space",
                                       str(c.space), "--trials", "3"], ("dataset", "--study")),
    ("study-other-student", lambda c: ["search", "builtin:iris", "--study", STUDY, "--space",
                                       str(c.space), "--student", "mlp:8", "--trials", "3"],
     ("student",)),
    # --- storage
    ("storage-not-a-url", lambda c: ["studies", "list", "--storage", "notaurl://x"],
     ("--storage",)),
    ("storage-unknown-driver", lambda c: ["studies", "list", "--storage", "nosuchdb://u@h/db"],
     ("--storage",)),
    ("storage-unreachable-postgres", lambda c: ["studies", "list", "--storage",
                                                "postgresql+psycopg://u@127.0.0.1:1/db"],
     ("cannot use database",)),
    ("storage-sqlite-in-missing-dir", lambda c: ["studies", "list", "--storage",
                                                 "sqlite:////no/such/dir/x.db"], ("x.db",)),
    ("storage-sqlite-not-a-database", lambda c: ["studies", "list", "--storage",
                                                 c.file("junk.db", b"junk" * 400)], ("junk.db",)),
    # --- studies
    ("studies-show-unknown", lambda c: ["studies", "show", "no-such-study"], ("no-such-study",)),
    ("studies-show-negative-top", lambda c: ["studies", "show", STUDY, "--top", "-1"],
     ("--top",)),
    ("studies-compare-unknown", lambda c: ["studies", "compare", STUDY, "nope"], ("nope",)),
    ("studies-export-unknown", lambda c: ["studies", "export", "nope", "--output",
                                          str(c.tmp / "o.csv")], ("nope",)),
    ("studies-export-bad-format", lambda c: ["studies", "export", STUDY, "--format", "xls"],
     ("xls",)),
    ("studies-export-parquet-name", lambda c: ["studies", "export", STUDY, "--output",
                                               str(c.tmp / "o.parquet")],
     ("o.parquet", "'.parquet'", "csv")),
    ("studies-export-format-against-name", lambda c: ["studies", "export", STUDY, "--format",
                                                      "csv", "--output", str(c.tmp / "o.json")],
     ("o.json", "name it .csv")),
    ("studies-export-into-missing-dir", lambda c: ["studies", "export", STUDY, "--output",
                                                   "/no/such/dir/o.csv"], ("/no/such/dir",)),
    ("studies-plot-unknown", lambda c: ["studies", "plot", "nope", "--output",
                                        str(c.tmp / "p.html")], ("nope",)),
    ("studies-plot-bad-suffix", lambda c: ["studies", "plot", STUDY, "--output",
                                           str(c.tmp / "p.gif")], ("gif",)),
    ("studies-delete-unknown", lambda c: ["studies", "delete", "nope", "--yes"], ("nope",)),
    ("studies-unknown-subcommand", lambda c: ["studies", "lsit"], ("lsit",)),
    ("studies-components-bad-storage", lambda c: ["studies", "components", "--storage",
                                                  "postgresql://u@[::1/db"], ("--storage",)),
    # --- recommend, plugins, meta
    ("recommend-top-zero", lambda c: ["recommend", "builtin:iris", "--top", "0"], ("--top",)),
    ("plugins-unknown-option", lambda c: ["plugins", "--al"], ("--al",)),
    ("meta-build-kb-too-few-trials", lambda c: ["meta", "build-kb", "--trials", "1", "--out",
                                                str(c.tmp / "kb"), "--work", str(c.tmp / "w")],
     ("--trials",)),
    ("meta-build-kb-workers-zero", lambda c: ["meta", "build-kb", "--workers", "0"],
     ("--workers",)),
    ("meta-build-kb-unknown-suite", lambda c: ["meta", "build-kb", "--suite", "3"],
     ("--suite 3",)),
    ("meta-build-kb-promote-incomplete", lambda c: [
        "meta", "build-kb", "--suite", "2", "--promote", "--stage", str(c.tmp / "stage"),
        "--out", str(c.tmp / "kb")], ("not built yet", "--promote")),
    ("meta-build-kb-promote-suite-one", lambda c: ["meta", "build-kb", "--promote", "--out",
                                                   str(c.tmp / "kb")], ("--suite 2",)),
    ("meta-evaluate-bad-storage", lambda c: ["meta", "evaluate", "--storage",
                                             "postgresql://u@[::1/db"], ("--storage",)),
    ("meta-unknown-subcommand", lambda c: ["meta", "build"], ("build",)),
    # checked before the bench trains (it trained for a minute, then refused)
    ("meta-bench-component-out-under-a-file", lambda c: [
        "meta", "bench-component", "hinton", "--tasks", "1", "--trials", "1", "--out",
        str(c.db / "ev.jsonl"), "--work", str(c.tmp / "w")], ("--out", "cannot write there")),
    ("meta-bench-component-out-a-folder", lambda c: [
        "meta", "bench-component", "hinton", "--tasks", "1", "--trials", "1", "--out",
        str(c.tmp), "--work", str(c.tmp / "w")], ("--out", "a directory")),
    ("unknown-command", lambda c: ["distil", "builtin:iris"], ("distil",)),
]
#: Cases run in a subprocess: their failure needs a fresh interpreter or environment.
SUBPROCESS = {"synthetic-1e12-distill", "student-17gb-distill",
              # a warning printed before the error would be a second line of stderr
              *(f"student-misspelt-{command}" for command in ("distill", "search", "recommend"))}


def _mkdir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


def _npz(path: Path) -> str:
    import numpy

    numpy.savez(path, X=numpy.zeros((10, 2)))
    return str(path)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def study_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A SQLite file holding a finished two-trial study ``bad-input-iris``, and its space."""
    from autodistill.study.run import run_search

    root = tmp_path_factory.mktemp("bad_input_db")
    space = root / "tiny.yaml"
    space.write_text(TINY_SPACE)
    db = root / "studies.db"
    run_search("builtin:iris", space=str(space), trials=2, storage=f"sqlite:///{db}",
               study=STUDY, quiet=True, handle_signals=False)
    # Studies on SQLite are in WAL mode: move what the search wrote into the file itself,
    # so that its bytes are the study's final state before any case runs.
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db, space


def _run_in_process(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    from autodistill.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(argv)
    return int(stopped.value.code or 0), capsys.readouterr().err


def _run_subprocess(argv: list[str]) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "autodistill", *argv], capture_output=True,
                          text=True, env=os.environ.copy(), timeout=300)
    return done.returncode, done.stderr


def assert_one_line_exit_2(code: int, stderr: str, needles: tuple[str, ...]) -> None:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert code == 2, stderr
    assert len(errors) == 1 and len(stderr.strip().splitlines()) == 1, stderr
    assert "internal error" not in errors[0]
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_the_table_covers_every_command(tmp_path: Path) -> None:
    ctx = Ctx(tmp_path, tmp_path / "x.db", tmp_path / "s.yaml", "postgresql://")
    commands = set()
    for _, make, _ in CASES:
        argv = make(ctx)
        commands.add(" ".join(argv[:2]) if argv[0] in ("studies", "meta") else argv[0])
    assert len(CASES) >= 60
    for command in ("recommend", "distill", "search", "plugins", "studies list", "studies show",
                    "studies compare", "studies export", "studies plot", "studies delete",
                    "studies components", "meta build-kb", "meta evaluate"):
        assert command in commands, command


@pytest.mark.parametrize(("case", "make_args", "needles"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_the_database(
    case: str, make_args: Args, needles: tuple[str, ...], study_db: tuple[Path, Path],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
) -> None:
    db, space = study_db
    monkeypatch.setenv("AUTODISTILL_STORAGE", f"sqlite:///{db}")
    monkeypatch.chdir(tmp_path)
    before = _digest(db)
    argv = make_args(Ctx(tmp_path, db, space, "postgresql+psycopg://postgres@127.0.0.1/test"))
    if case in SUBPROCESS:
        code, stderr = _run_subprocess(argv)
    else:
        code, stderr = _run_in_process(argv, capsys)
    assert_one_line_exit_2(code, stderr, needles)
    assert _digest(db) == before, f"{case} changed the database"


@pytest.mark.parametrize("layout", ["file", "file-above"])
def test_a_file_where_the_cache_dir_should_be_is_one_line(
    layout: str, study_db: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, _ = study_db
    home = tmp_path / "home"
    home.mkdir()
    (home / "cache").write_text("not a directory")
    if layout == "file-above":
        shutil.rmtree(home)
        home.write_text("not a directory either")
    monkeypatch.setenv("AUTODISTILL_HOME", str(home))
    monkeypatch.setenv("AUTODISTILL_STORAGE", f"sqlite:///{db}")
    before = _digest(db)
    for argv in (["search", "builtin:iris", "--trials", "1", "--space", "fast",
                  "--study", "cache-file"], ["recommend", "builtin:iris"]):
        code, stderr = _run_subprocess(argv)
        assert_one_line_exit_2(code, stderr, (str(home),))
    assert _digest(db) == before
