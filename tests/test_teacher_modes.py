"""Teachers that learn differently: the MCMI teacher (``auto+mcmi``) and joint teacher
fine-tuning (the ``mutual`` KD loss), each with its algorithmic unit test."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from autodistill.errors import TeacherError
from autodistill.training.mcmi import conditional_mi, split_teacher_spec

# --- MCMI ------------------------------------------------------------------------------

def test_conditional_mi_matches_its_formula():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 3, generator=gen)
    targets = torch.tensor([0, 1, 2] * 4)
    p = logits.softmax(-1)
    expected = 0.0
    for i in range(12):
        centroid = p[targets == targets[i]].mean(0)
        expected += float((p[i] * (p[i].log() - centroid.log())).sum()) / 12
    assert math.isclose(float(conditional_mi(logits, targets)), expected, rel_tol=1e-5)
    # one output per class (every row of a class alike): no spread, no CMI
    same = F.one_hot(targets, 3).float() * 5.0
    assert float(conditional_mi(same, targets)) < 1e-6


def test_teacher_specs_parse_and_refuse_what_does_not_apply():
    assert split_teacher_spec("auto") == ("auto", {})
    assert split_teacher_spec("auto+mcmi") == ("auto", {"mode": "mcmi", "mcmi_lambda": 0.5})
    assert split_teacher_spec("AUTO+mcmi:0.25")[1]["mcmi_lambda"] == 0.25
    assert split_teacher_spec("models/a+b.pt") == ("models/a+b.pt", {})
    for bad in ("teacher.pt+mcmi", "gbdt+mcmi", "auto+mcmi:9", "auto+mcmi:x"):
        with pytest.raises(TeacherError, match="auto"):
            split_teacher_spec(bad)


def test_mcmi_teacher_has_higher_conditional_mi_at_similar_accuracy():
    from autodistill.data.dataset import load_dataset
    from autodistill.training.teachers import get_teacher

    dataset = load_dataset("synthetic:moons?n=1000&noise=0.3")
    y = torch.as_tensor(dataset.y_train)
    plain = get_teacher("auto", dataset)
    mcmi = get_teacher("auto+mcmi:1.0", dataset)
    assert mcmi.spec == "auto+mcmi:1" and plain.spec == "auto"
    plain_cmi = float(conditional_mi(plain.logits["train"], y))
    mcmi_cmi = float(conditional_mi(mcmi.logits["train"], y))
    assert mcmi_cmi > 1.15 * plain_cmi, (plain_cmi, mcmi_cmi)
    assert abs(mcmi.accuracy - plain.accuracy) <= 0.03
    assert abs(mcmi.valid_accuracy - plain.valid_accuracy) <= 0.03


def test_mcmi_teacher_is_cached_apart(tmp_path, monkeypatch):
    from autodistill.data.dataset import load_dataset
    from autodistill.training.teachers import clear_memo, get_teacher

    monkeypatch.setenv("AUTODISTILL_HOME", str(tmp_path))
    clear_memo()
    dataset = load_dataset("builtin:iris")
    plain = get_teacher("auto", dataset)
    mcmi = get_teacher("auto+mcmi", dataset)
    assert not torch.equal(plain.logits["train"], mcmi.logits["train"])
    assert len(list((tmp_path).rglob("*.json"))) >= 2
    clear_memo()
    again = get_teacher("auto+mcmi", dataset)  # from the disk cache
    assert again.from_cache and torch.equal(again.logits["train"], mcmi.logits["train"])
    assert torch.equal(get_teacher("auto", dataset).logits["train"], plain.logits["train"])
    clear_memo()
