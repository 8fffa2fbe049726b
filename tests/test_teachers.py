"""Teachers (auto and TorchScript), their cache, and student specs."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from autodistill.data.dataset import load_dataset
from autodistill.errors import PipelineError, TeacherError
from autodistill.training import teachers
from autodistill.training.students import MLP, build_student, count_params, parse_student_spec
from autodistill.training.teachers import difficulty, get_teacher

CPU = torch.device("cpu")


def _save_script(module: nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(module).save(str(path))
    return path


def test_auto_teacher_is_accurate_on_digits(digits, digits_teacher):
    assert digits_teacher.accuracy >= 0.95
    assert digits_teacher.valid_accuracy >= 0.9
    assert digits_teacher.spec == "auto"
    # the MLP's weights plus the gbdt teacher's tree nodes
    assert digits_teacher.params > count_params(digits_teacher.module.mlp) > 0
    for split in ("train", "valid", "test"):
        y = getattr(digits, f"y_{split}")
        assert digits_teacher.logits[split].shape == (len(y), 10)
        assert digits_teacher.logits[split].dtype == torch.float32
        assert digits_teacher.hidden[split].shape == (len(y), 256)
    predicted = digits_teacher.logits["test"].argmax(1).numpy()
    assert digits_teacher.accuracy == pytest.approx(float((predicted == digits.y_test).mean()))


def test_predict_labels_new_rows_like_the_precomputed_outputs(digits, digits_teacher):
    rows = torch.as_tensor(digits.X_valid[:20])
    logits, hidden = digits_teacher.predict(rows)
    torch.testing.assert_close(logits, digits_teacher.logits["valid"][:20], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(hidden, digits_teacher.hidden["valid"][:20], atol=1e-5, rtol=1e-5)
    assert digits_teacher.module.training is False


def test_second_process_loads_from_disk_without_training(digits, digits_teacher, monkeypatch):
    teachers.clear_memo()  # as if a new worker process started on this machine

    def no_training(*args, **kwargs):
        raise AssertionError("the cached teacher was trained again")

    monkeypatch.setattr(teachers, "_train_auto", no_training)
    cached = get_teacher("auto", digits, device=CPU)
    assert cached.from_cache
    assert cached.accuracy == digits_teacher.accuracy
    for split in ("train", "valid", "test"):
        assert torch.equal(cached.logits[split], digits_teacher.logits[split])
        assert torch.equal(cached.hidden[split], digits_teacher.hidden[split])
    logits, _ = cached.predict(torch.as_tensor(digits.X_test[:5]))
    torch.testing.assert_close(logits, digits_teacher.logits["test"][:5], atol=1e-5, rtol=1e-5)
    again = get_teacher("auto", digits, device=CPU)  # in-process memo this time
    assert again.from_cache and again.logits["train"] is cached.logits["train"]


def test_auto_teacher_is_deterministic_and_keyed_by_split_and_seed(iris, fresh_home):
    first = get_teacher("auto", iris, device=CPU)
    assert not first.from_cache
    teachers.clear_memo()
    shutil.rmtree(fresh_home / "cache")
    second = get_teacher("auto", iris, device=CPU)
    assert not second.from_cache
    assert torch.equal(first.logits["test"], second.logits["test"])
    other_seed = get_teacher("auto", iris, device=CPU, seed=1)
    assert not other_seed.from_cache
    assert not torch.equal(first.logits["test"], other_seed.logits["test"])
    other_split = get_teacher("auto", load_dataset("builtin:iris", split_seed=1), device=CPU)
    assert not other_split.from_cache


def test_auto_teacher_trains_in_the_engine_and_reports_its_epochs(iris, fresh_home):
    from autodistill import progress

    events = []
    with progress.listening(events.append):
        outputs = get_teacher("auto:mlp", iris, device=CPU)
    epochs = [e for e in events if e.task == "teacher"]
    final = epochs[-1]
    assert final.message.startswith("trained, ") and final.done == final.total == 200
    run = int(final.message.split()[1])
    assert 15 < run <= 200  # at least patience (15) + 1 epochs, at most max_epochs
    assert [e.done for e in epochs[:-1]] == list(range(1, run + 1))
    assert final.fields["best"] == pytest.approx(outputs.valid_accuracy, abs=1e-6)
    assert outputs.accuracy > 0.85


def test_unreadable_cache_is_recomputed(iris, fresh_home):
    get_teacher("auto", iris, device=CPU)
    teachers.clear_memo()
    for path in (fresh_home / "cache").rglob("*.outputs.pt"):
        path.write_bytes(b"truncated")
    outputs = get_teacher("auto", iris, device=CPU)
    assert not outputs.from_cache and outputs.logits["train"].shape == (len(iris.y_train), 3)


def test_torchscript_teacher_returning_a_tuple_exposes_hidden(digits, tmp_path):
    torch.manual_seed(0)
    model = MLP(digits.n_features, digits.n_classes, (32, 16))
    path = _save_script(model, tmp_path / "teacher.pt")
    outputs = get_teacher(str(path), digits, device=CPU)
    assert outputs.spec == str(path)
    assert outputs.params == count_params(model)
    assert outputs.hidden is not None and outputs.hidden["train"].shape == (len(digits.y_train), 16)
    with torch.no_grad():
        expected, _ = model(torch.as_tensor(digits.X_test))
    torch.testing.assert_close(outputs.logits["test"], expected, atol=1e-5, rtol=1e-5)
    logits, hidden = outputs.predict(torch.as_tensor(digits.X_train[:3]))
    assert logits.shape == (3, 10) and hidden.shape == (3, 16)


class _LogitsOnly(nn.Module):
    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def test_torchscript_teacher_returning_logits_has_no_hidden(iris, tmp_path):
    path = _save_script(_LogitsOnly(iris.n_features, iris.n_classes), tmp_path / "linear.pt")
    outputs = get_teacher(str(path), iris, device=CPU)
    assert outputs.hidden is None
    assert outputs.params == iris.n_features * 3 + 3
    logits, hidden = outputs.predict(torch.as_tensor(iris.X_valid))
    assert logits.shape == (len(iris.y_valid), 3) and hidden is None


def test_torchscript_teacher_with_wrong_width_names_width_and_classes(iris, tmp_path):
    path = _save_script(_LogitsOnly(iris.n_features, 5), tmp_path / "five.pt")
    with pytest.raises(TeacherError) as info:
        get_teacher(str(path), iris, device=CPU)
    message = str(info.value)
    assert "five.pt" in message and "5 logits" in message and "3 classes" in message


def test_torchscript_teacher_with_wrong_input_width_is_a_teacher_error(iris, tmp_path):
    path = _save_script(_LogitsOnly(7, 3), tmp_path / "seven.pt")
    with pytest.raises(TeacherError, match="seven.pt"):
        get_teacher(str(path), iris, device=CPU)


@pytest.mark.parametrize(("spec", "needles"), [
    ("gpt", ["gpt", "auto", ".pt"]),
    ("{missing}/teacher.pt", ["teacher.pt", "no such file"]),
    ("{garbage}", ["garbage.pt", "TorchScript"]),
])
def test_bad_teacher_specs_are_teacher_errors(iris, tmp_path, spec, needles):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip archive")
    spec = spec.format(missing=tmp_path / "nowhere", garbage=garbage)
    with pytest.raises(TeacherError) as info:
        get_teacher(spec, iris, device=CPU)
    for needle in needles:
        assert needle in str(info.value)


def test_difficulty_is_teacher_cross_entropy_on_the_true_label(iris, iris_teacher):
    hardness = difficulty(iris_teacher, iris.y_train)
    assert hardness.shape == (len(iris.y_train),) and np.all(hardness >= 0)
    probs = torch.softmax(iris_teacher.logits["train"], 1).numpy()
    expected = -np.log(probs[np.arange(len(iris.y_train)), iris.y_train])
    np.testing.assert_allclose(hardness, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("spec", "widths"), [
    ("mlp:16", (16,)), ("mlp:64,32", (64, 32)), (" MLP: 8 ", (8,))])
def test_student_specs_parse(spec, widths):
    assert parse_student_spec(spec).widths == widths


@pytest.mark.parametrize("spec", ["cnn:3", "mlp", "mlp:", "mlp:0", "mlp:16,x", "mlp:-4", "16"])
def test_bad_student_specs_name_the_option_and_the_format(spec):
    with pytest.raises(PipelineError) as info:
        parse_student_spec(spec)
    assert "--student" in str(info.value) and "mlp:64,32" in str(info.value)


def test_student_shapes_params_and_torchscript():
    student = build_student("mlp:16,8", n_features=10, n_classes=3)
    logits, hidden = student(torch.randn(5, 10))
    assert logits.shape == (5, 3) and hidden.shape == (5, 8) and student.hidden_dim == 8
    assert torch.all(hidden >= 0)  # ReLU output
    assert count_params(student) == (10 * 16 + 16) + (16 * 8 + 8) + (8 * 3 + 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(student)
    x = torch.randn(4, 10)
    torch.testing.assert_close(scripted(x)[0], student(x)[0])


def test_two_processes_asking_together_train_the_teacher_once(tmp_path):
    import os
    import subprocess
    import sys

    script = ("from autodistill.data.dataset import load_dataset\n"
              "from autodistill.training.teachers import get_teacher\n"
              "print(get_teacher('gbdt', load_dataset('builtin:iris')).from_cache)\n")
    env = {**os.environ, "AUTODISTILL_HOME": str(tmp_path / "home")}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    # one trains and writes the cache; the other waits for it and reads it
    assert sorted(out.strip() for out, _ in outputs) == ["False", "True"]
