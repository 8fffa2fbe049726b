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
    assert split_teacher_spec("auto:mlp+mcmi")[0] == "auto:mlp"
    assert split_teacher_spec("models/a+b.pt") == ("models/a+b.pt", {})
    for bad in ("teacher.pt+mcmi", "gbdt+mcmi", "auto+mcmi:9", "auto+mcmi:x"):
        with pytest.raises(TeacherError, match="auto"):
            split_teacher_spec(bad)


def test_mcmi_teacher_has_higher_conditional_mi_at_similar_accuracy():
    from autodistill.data.dataset import load_dataset
    from autodistill.training.teachers import get_teacher

    dataset = load_dataset("synthetic:moons?n=1000&noise=0.3")
    y = torch.as_tensor(dataset.y_train)
    plain = get_teacher("auto:mlp", dataset)
    mcmi = get_teacher("auto:mlp+mcmi:1.0", dataset)
    assert mcmi.spec == "auto:mlp+mcmi:1" and plain.spec == "auto:mlp"
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
    assert mcmi.spec == "auto+mcmi:0.5"
    assert not torch.equal(plain.logits["train"], mcmi.logits["train"])
    assert len(list((tmp_path).rglob("*.json"))) >= 3  # two MLPs and the gbdt
    clear_memo()
    again = get_teacher("auto+mcmi", dataset)  # from the disk cache
    assert again.from_cache and torch.equal(again.logits["train"], mcmi.logits["train"])
    assert torch.equal(get_teacher("auto", dataset).logits["train"], plain.logits["train"])
    clear_memo()


# --- joint teacher fine-tuning (mutual) ------------------------------------------------

def _weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _same(a: list[torch.Tensor], b) -> bool:
    return all(torch.equal(x, y.detach()) for x, y in zip(a, list(b), strict=True))


@pytest.fixture(scope="module")
def iris_auto():
    from autodistill.data.dataset import load_dataset
    from autodistill.training.teachers import get_teacher

    dataset = load_dataset("builtin:iris")
    return dataset, get_teacher("auto", dataset)


def _pipeline(kd: str, **params):
    from autodistill.training.pipeline import Pipeline

    return Pipeline.from_dict({"kd_loss": {"name": kd, "params": params},
                               "training": {"epochs": 5, "batch_size": 32}})


def test_mutual_loss_student_side_is_hinton_and_the_live_teacher_gets_gradient():
    from autodistill.plugins.kd_losses import Hinton
    from autodistill.plugins.mutual import Mutual

    gen = torch.Generator().manual_seed(0)
    student = torch.randn(8, 3, generator=gen, requires_grad=True)
    teacher = torch.randn(8, 3, generator=gen, requires_grad=True)
    targets = torch.randint(0, 3, (8,), generator=gen)
    Mutual(temperature=3.0, alpha=0.7, teacher_weight=0.4)(student, teacher, targets).backward()
    reference = student.detach().clone().requires_grad_(True)
    Hinton(temperature=3.0, alpha=0.7)(reference, teacher.detach(), targets).backward()
    assert torch.allclose(student.grad, reference.grad, atol=1e-6)
    assert teacher.grad is not None and float(teacher.grad.abs().sum()) > 0
    # precomputed (frozen) logits: exactly the student term
    frozen = Mutual(temperature=3.0, alpha=0.7)(student, teacher.detach(), targets)
    hinton = Hinton(temperature=3.0, alpha=0.7)(student, teacher.detach(), targets)
    assert torch.allclose(frozen, hinton)


def test_joint_fine_tuning_changes_its_teacher_copy_and_never_the_cached_teacher(iris_auto):
    from autodistill.training.engine import Member, train_population, train_student

    dataset, teacher = iris_auto
    cached = _weights(teacher.module)
    single = train_student(_pipeline("mutual", teacher_lr=1e-3), dataset, teacher)
    assert single.teacher is not None and not _same(cached, single.teacher.parameters())
    assert _same(cached, teacher.module.parameters())
    outcomes = train_population([Member(_pipeline("mutual", teacher_lr=1e-3), 0),
                                 Member(_pipeline("hinton"), 1),
                                 Member(_pipeline("mutual", teacher_lr=1e-3), 2)],
                                dataset, teacher)
    first, plain, third = outcomes
    assert plain.teacher is None
    for result in (first, third):
        assert not _same(cached, result.teacher.parameters())
    assert not _same(_weights(first.teacher), third.teacher.parameters())  # one copy each
    # member 0 of the population is the single run (same seed and pipeline), up to the
    # float differences of batched products
    for mine, theirs in zip(single.teacher.parameters(), first.teacher.parameters(), strict=True):
        assert torch.allclose(mine, theirs, rtol=1e-3, atol=1e-4)
    assert _same(cached, teacher.module.parameters())


def test_a_frozen_teacher_stays_bit_identical_and_mutual_drops_out(iris_auto, tmp_path):
    from autodistill.errors import PipelineError
    from autodistill.study.space_files import load_space
    from autodistill.training.engine import train_student
    from autodistill.training.requirements import run_offers
    from autodistill.training.teachers import get_teacher

    dataset, auto = iris_auto
    path = tmp_path / "teacher.pt"
    torch.jit.script(get_teacher("auto:mlp", dataset).module).save(str(path))
    frozen = get_teacher(str(path), dataset)
    before = _weights(frozen.module)
    train_student(_pipeline("hinton"), dataset, frozen)
    assert _same(before, frozen.module.parameters())
    with pytest.raises(PipelineError, match="TorchScript or gbdt teacher stays frozen"):
        train_student(_pipeline("mutual"), dataset, frozen)
    assert _same(before, frozen.module.parameters())
    assert run_offers(frozen, "mlp:16") == set()
    assert run_offers(auto, "mlp:16") == {"trainable_teacher"}  # the ensemble's MLP half
    assert run_offers(get_teacher("auto:mlp", dataset), "mlp:16") == {"trainable_teacher"}
    assert run_offers(get_teacher("gbdt", dataset), "mlp:16") == set()
    assert "mutual" not in load_space("default", offers=run_offers(frozen, "mlp:16")).components("kd_loss")
    assert "mutual" in load_space("default", offers=run_offers(auto, "mlp:16")).components("kd_loss")
