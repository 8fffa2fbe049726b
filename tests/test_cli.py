"""`autodistill distill` and `plugins` from the command line, bad input included."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import pytest
import torch
from cli_runner import run_cli

REPORT_KEYS = {"pipeline", "seed", "split", "teacher", "student", "seconds"}


def assert_one_line_error(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_distill_with_teacher_none_trains_the_plain_pipeline_and_no_teacher(fresh_home):
    # what `recommend` says when distillation will not help: train the plain pipeline
    done = run_cli("distill", "builtin:iris", "--pipeline", "plain", "--teacher", "none",
                   "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["teacher"]["spec"] == "none" and report["teacher"]["accuracy"] is None
    assert report["student"]["teacher_agreement"] is None
    assert report["student"]["accuracy"] > 0.8
    assert not (fresh_home / "cache" / "teachers").exists()  # none trained, none cached
    shown = run_cli("distill", "builtin:iris", "--pipeline", "plain", "--teacher", "none")
    assert shown.returncode == 0, shown.stderr
    assert "student (mlp:16)" in shown.stdout and "teacher (" not in shown.stdout
    import autodistill

    result = autodistill.distill("builtin:iris", "plain", teacher="none")
    assert result.teacher_accuracy is None
    assert result.accuracy == pytest.approx(report["student"]["accuracy"])


@pytest.mark.slow
def test_distill_digits_hinton_json_has_every_key(tmp_path):
    done = run_cli("distill", "builtin:digits", "--pipeline", "hinton", "--json",
                   "--out", str(tmp_path / "student"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert REPORT_KEYS <= set(report)
    assert {"accuracy", "params"} <= set(report["teacher"])
    assert {"accuracy", "macro_f1", "params", "teacher_agreement"} <= set(report["student"])
    assert {"teacher", "student"} <= set(report["seconds"])
    assert {"train", "valid", "test"} <= set(report["split"])
    assert report["teacher"]["accuracy"] >= 0.95
    assert report["student"]["accuracy"] > 0.85
    out = tmp_path / "student"
    assert json.loads((out / "pipeline.json").read_text())["kd_loss"]["name"] == "hinton"
    assert json.loads((out / "metrics.json").read_text())["student"] == report["student"]
    state = torch.load(out / "student.pt", weights_only=True)
    assert any(key.endswith("weight") for key in state)
    model = json.loads((out / "model.json").read_text())
    assert len(model["inputs"]) == 64 and len(model["classes"]) == 10
    assert (out / "model.onnx").is_file()


def test_distill_table_output():
    done = run_cli("distill", "builtin:iris", "--pipeline",
                   '{"kd_loss": {"name": "hinton"}, "training": {"epochs": 5}}')
    assert done.returncode == 0, done.stderr
    assert "teacher" in done.stdout and "student" in done.stdout


def test_help_has_an_example():
    done = run_cli("distill", "--help")
    assert done.returncode == 0
    assert "Example" in done.stdout


@pytest.mark.parametrize("group, command", [((), "recommend"), (("studies",), "compare"),
                                            (("meta",), "evaluate")])
def test_a_bare_command_group_shows_its_help_without_an_empty_error(group, command):
    done = run_cli(*group)
    assert command in done.stdout + done.stderr
    assert "Error" not in done.stderr


def _csv(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _good_rows(n: int = 40) -> str:
    return "".join(f"{i % 7},{'ab'[i % 2]},{'yes' if i % 3 else 'no'}\n" for i in range(n))


BAD_DATA = [
    ("missing file", lambda p: ["/no/such/file.csv", "--target", "y"], ["/no/such/file.csv"]),
    ("missing column",
     lambda p: [_csv(p, "t.csv", "a,b,y\n" + _good_rows()), "--target", "label"],
     ["label", "y"]),
    ("one class",
     lambda p: [_csv(p, "t.csv", "a,b,y\n" + "".join(f"{i},x,same\n" for i in range(30))),
                "--target", "y"], ["class"]),
    ("classes with one row, 3 of 43 rows",  # 1 of 41 is left out with a warning instead
     lambda p: [_csv(p, "t.csv", "a,b,y\n" + _good_rows() + "1,a,lonely\n2,b,odd\n3,a,one\n"),
                "--target", "y"], ["lonely", "3 of 43 rows"]),
    ("empty file", lambda p: [_csv(p, "t.csv", ""), "--target", "y"], ["t.csv"]),
    ("garbage",
     lambda p: [str(_bytes(p, "t.csv", bytes(range(256)) * 8)), "--target", "y"], ["t.csv"]),
    ("no labels",
     lambda p: [_csv(p, "t.csv", "a,b,y\n" + "1,a,\n2,b,\n" * 20), "--target", "y"],
     ["target column 'y' is empty"]),
    ("no target", lambda p: [_csv(p, "t.csv", "a,b,y\n" + _good_rows())], ["--target"]),
]


def _bytes(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("case", "make_args", "needles"), BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_bad_data_is_one_line_exit_2(tmp_path, case, make_args, needles):
    done = run_cli("distill", *make_args(tmp_path), "--pipeline", "plain")
    assert_one_line_error(done, *needles)


@pytest.mark.parametrize(
    ("pipeline", "needles"),
    [
        ('{"kd_loss": {"name": "hintn"}}', ["hintn", "installed", "hinton"]),
        ('{"kd_loss": {"name": "hinton", "params": {"temprature": 3}}}', ["temprature"]),
        ('{"kd_loss": {"name": "hinton", "params": {"temperature": 99}}}', ["temperature", "99"]),
        ("nonsense", ["--pipeline", "nonsense"]),
    ],
)
def test_bad_pipeline_is_one_line_exit_2(pipeline, needles):
    assert_one_line_error(run_cli("distill", "builtin:iris", "--pipeline", pipeline), *needles)


def test_bad_student_and_teacher_are_one_line_exit_2(tmp_path):
    assert_one_line_error(
        run_cli("distill", "builtin:iris", "--pipeline", "plain", "--student", "cnn:3"),
        "--student",
    )
    assert_one_line_error(
        run_cli("distill", "builtin:iris", "--pipeline", "hinton", "--teacher", "gpt"),
        "gpt",
    )


def test_torchscript_teacher_with_wrong_width_is_one_line_exit_2(tmp_path):
    path = tmp_path / "teacher.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(torch.nn.Linear(4, 5)).save(str(path))  # iris has 3 classes
    done = run_cli("distill", "builtin:iris", "--pipeline", "hinton", "--teacher", str(path))
    assert_one_line_error(done, "teacher.pt", "5", "3")


def test_torchscript_teacher_that_fits_is_used(tmp_path):
    path = tmp_path / "teacher.pt"
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(torch.nn.Linear(4, 3)).save(str(path))
    done = run_cli("distill", "builtin:iris", "--pipeline",
                   '{"kd_loss": {"name": "hinton"}, "training": {"epochs": 5}}',
                   "--teacher", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["teacher"]["params"] == 15


@pytest.mark.parametrize("command", [("recommend",), ("meta", "evaluate"), ("search",)])
def test_help_paragraphs_fill_their_lines(command):
    """A command's description wraps at the terminal's width, not at the docstring's line
    breaks as well (which left a word or two alone on every other line)."""
    done = run_cli(*command, "--help", COLUMNS="80", TERM="dumb")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    description = lines[:next(i for i, line in enumerate(lines) if "─" in line)]
    for line, after in zip(description, description[1:], strict=False):
        if line.strip() and after.strip():  # not a paragraph's last line
            assert len(line.rstrip()) >= 60, f"{line!r} is followed by {after!r}"


def test_predict_names_labels_the_model_never_learned(tmp_path):
    """A class training left out for its single row is still in the file predict scores:
    its row counts as a miss, and one warning says which label the model never learned."""
    data = _csv(tmp_path, "t.csv", "a,b,y\n" + _good_rows(30) + "1,a,lonely\n" + _good_rows(30))
    trained = run_cli("distill", data, "--target", "y", "--pipeline",
                      '{"kd_loss": {"name": "none"}, "training": {"epochs": 5}}',
                      "--teacher", "none", "--out", str(tmp_path / "m"))
    assert trained.returncode == 0, trained.stderr
    scored = run_cli("predict", str(tmp_path / "m"), data, "--out", str(tmp_path / "p.csv"))
    assert scored.returncode == 0, scored.stderr
    assert ("1 row of column 'y' has a class the model never learned ('lonely'); counted as "
            "misses") in scored.stderr
