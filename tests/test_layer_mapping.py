"""Layer mapping (``layer_map``): the mapped layers, and only they, are touched."""

from __future__ import annotations

import pytest
import torch

from autodistill.plugins.layer_mapping import LayerMap, layer_pairs


def test_the_mappings_name_the_documented_pairs():
    assert layer_pairs("last", 2, 2) == [(1, 1)]
    assert layer_pairs("uniform", 2, 2) == [(0, 0), (1, 1)]
    assert layer_pairs("skip", 2, 2) == [(0, 0)]
    assert layer_pairs("uniform", 3, 2) == [(0, 0), (1, 1), (2, 1)]
    assert layer_pairs("uniform", 4, 2) == [(0, 0), (1, 0), (2, 1), (3, 1)]
    assert layer_pairs("skip", 3, 3) == [(0, 0), (1, 1)]
    assert layer_pairs("skip", 3, 1) == [(0, 0), (1, 0)]
    for mapping in ("last", "uniform", "skip"):
        assert layer_pairs(mapping, 1, 2) == [(0, 1)]


@pytest.mark.parametrize("mapping", ["last", "uniform", "skip"])
@pytest.mark.parametrize("objective", ["infonce", "fitnet"])
def test_gradients_reach_exactly_the_named_layers(mapping, objective):
    gen = torch.Generator().manual_seed(0)
    student_widths, teacher_widths = [8, 6, 4], [10, 5]
    student = [torch.randn(32, w, generator=gen, requires_grad=True) for w in student_widths]
    teacher = [torch.randn(32, w, generator=gen, requires_grad=True) for w in teacher_widths]
    torch.manual_seed(0)
    mi = LayerMap(student_widths, teacher_widths, mapping=mapping, objective=objective)
    mi(student, teacher).backward()
    pairs = layer_pairs(mapping, 3, 2)
    touched_s = {i for i, s in enumerate(student) if s.grad is not None and s.grad.abs().sum() > 0}
    touched_t = {j for j, t in enumerate(teacher) if t.grad is not None and t.grad.abs().sum() > 0}
    assert touched_s == {i for i, _ in pairs}
    assert touched_t == {j for _, j in pairs}


def test_the_stacked_forward_returns_every_layer_and_mi_reaches_only_up_to_the_named_one():
    from autodistill.training.population import StackedMLP
    from autodistill.training.students import MLP

    torch.manual_seed(0)
    members = [MLP(5, 3, [8, 6]) for _ in range(3)]
    stack = StackedMLP(members, torch.device("cpu"))
    x = torch.randn(40, 5)
    logits, hidden, layers = stack.forward(x, layers=True)
    assert torch.equal(layers[-1], hidden) and len(layers) == 2
    for k, member in enumerate(members):
        for mine, stacked in zip(member.layer_features(x), layers, strict=True):
            assert torch.allclose(mine, stacked[k], atol=1e-6)
    teacher = [torch.randn(40, 7), torch.randn(40, 7)]
    for mapping, moved in (("skip", {0}), ("last", {0, 1}), ("uniform", {0, 1})):
        for p in stack.parameters():
            p.grad = None
        mi = LayerMap([8, 6], [7, 7], mapping=mapping)
        _, _, layers = stack.forward(x, torch.tensor([1]), layers=True)
        mi([f[0] for f in layers], teacher).backward()
        grads = [w.grad[1].abs().sum() > 0 if w.grad is not None else False
                 for w in stack.weights]
        assert {i for i, g in enumerate(grads) if g} == moved  # the head (last) never
        assert all(w.grad is None or float(w.grad[[0, 2]].abs().sum()) == 0
                   for w in stack.weights)  # other members untouched


def test_layer_map_trains_in_the_engine_and_drops_out_for_a_one_layer_student():
    from autodistill.data.dataset import load_dataset
    from autodistill.errors import PipelineError
    from autodistill.study.space_files import load_space
    from autodistill.training.engine import train_student
    from autodistill.training.pipeline import Pipeline
    from autodistill.training.requirements import run_offers
    from autodistill.training.teachers import get_teacher

    dataset = load_dataset("builtin:iris")
    teacher = get_teacher("auto", dataset)
    pipeline = Pipeline.from_dict({"mi_objective": {"name": "layer_map",
                                                    "params": {"mapping": "uniform"}},
                                   "training": {"epochs": 5, "batch_size": 32}})
    result = train_student(pipeline, dataset, teacher, student="mlp:16,8")
    assert result.epochs_run == 5
    with pytest.raises(PipelineError, match="two or more hidden layers"):
        train_student(pipeline, dataset, teacher, student="mlp:16")
    shallow = load_space("default", offers=run_offers(teacher, "mlp:16"))
    deep = load_space("default", offers=run_offers(teacher, "mlp:16,8"))
    assert "layer_map" not in shallow.components("mi_objective")
    assert "layer_map" in deep.components("mi_objective")
