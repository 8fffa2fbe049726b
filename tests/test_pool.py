"""Synthetic pools (``pool_factor``): generated once, labelled once, trained on with the
real rows; ``pool_factor = 0`` is the per-batch mode, unchanged."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from autodistill.components import Augmentation
from autodistill.errors import PipelineError
from autodistill.registry.manager import get_registry, register_for_test
from autodistill.testing import check_component
from autodistill.training.engine import Member, train_population, train_student
from autodistill.training.pipeline import Pipeline

FAST = {"epochs": 5, "patience": 5, "batch_size": 32}
HINTON = {"name": "hinton", "params": {"temperature": 4.0, "alpha": 0.9}}


@pytest.fixture(scope="module")
def iris_with_teacher():
    from autodistill.data.dataset import load_dataset
    from autodistill.training.teachers import get_teacher

    dataset = load_dataset("builtin:iris")
    return dataset, get_teacher("auto", dataset)


def _pipeline(augmentation: str = "none", training: dict | None = None,
              curriculum: str = "none", mi: str = "none", **aug_params) -> Pipeline:
    return Pipeline.from_dict({
        "kd_loss": HINTON, "mi_objective": {"name": mi},
        "augmentation": {"name": augmentation, "params": aug_params},
        "curriculum": {"name": curriculum}, "training": {**FAST, **(training or {})}})


def _same_weights(a, b) -> bool:
    sa, sb = a.student.state_dict(), b.student.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_every_row_generating_augmentation_declares_pool_factor_and_none_does_not():
    registry = get_registry()
    for name in ("gaussian_noise", "feature_mask", "mixup", "munge", "smote"):
        decl = registry.get("augmentation", name).cls.params["pool_factor"]
        assert (decl.low, decl.default) == (0, 0) and decl.high >= 5
    assert "pool_factor" not in registry.get("augmentation", "none").cls.params


def test_a_third_party_augmentation_gets_pool_factor_and_the_space_samples_it():
    class Shift(Augmentation):
        """Shift every feature by delta."""

        name = "shift_for_pool_test"
        params = {}

        def augment(self, x, y, generator):
            return x + 0.1 * torch.randn(x.shape, generator=generator).to(x)

    assert "pool_factor" in Shift.params
    check_component(Shift)
    remove = register_for_test("augmentation", Shift)
    try:
        from autodistill.study.space_files import load_space

        space = load_space("default")
        assert "pool_factor" in space.families["augmentation"].params["shift_for_pool_test"]
    finally:
        remove()


def test_the_pool_is_factor_times_the_training_rows_and_labelled_once(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    calls: list[int] = []
    counting = dataclasses.replace(teacher)

    def predict(x):
        calls.append(int(x.shape[0]))
        return teacher.predict(x)

    counting.predict = predict
    seen: list[int] = []
    result = train_population([Member(_pipeline("munge", pool_factor=3), seed=1)], dataset,
                              counting, on_epoch=lambda *_: seen.append(1))[0]
    n = len(dataset.y_train)
    assert calls == [3 * n]  # one batched labelling of the whole pool, never again
    assert result.epochs_run == FAST["epochs"]


def test_pool_rows_are_trained_on_every_epoch(iris_with_teacher, monkeypatch):
    from autodistill.training import steps

    dataset, teacher = iris_with_teacher
    lengths: list[int] = []
    original = steps.begin_epoch

    def spy(state, run):
        original(state, run)
        lengths.append(run.n_rows)

    monkeypatch.setattr("autodistill.training.engine.begin_epoch", spy)
    train_population([Member(_pipeline("mixup", pool_factor=2), seed=0)], dataset, teacher)
    n = len(dataset.y_train)
    assert lengths and set(lengths) == {3 * n}


def test_pool_factor_zero_is_the_per_batch_mode_bit_for_bit(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    explicit = train_student(_pipeline("mixup", pool_factor=0, alpha=0.3), dataset, teacher, seed=2)
    implicit = train_student(_pipeline("mixup", alpha=0.3), dataset, teacher, seed=2)
    assert _same_weights(explicit, implicit) and explicit.history == implicit.history
    pooled = train_student(_pipeline("mixup", pool_factor=1, alpha=0.3), dataset, teacher, seed=2)
    assert not _same_weights(explicit, pooled)


def test_a_population_mixing_pools_equals_one_at_a_time(iris_with_teacher, assert_matches_alone):
    dataset, teacher = iris_with_teacher
    members = [
        Member(_pipeline("munge", pool_factor=2), seed=1),
        Member(_pipeline(), seed=2),
        Member(_pipeline("munge", pool_factor=2), seed=3),
        Member(_pipeline("gaussian_noise", pool_factor=0), seed=4),
        Member(_pipeline("smote", {"batch_size": 64}, curriculum="cyclical", pool_factor=1), 5),
        Member(_pipeline("mixup", mi="fitnet", curriculum="self_paced", pool_factor=4), seed=6),
    ]
    assert_matches_alone(members, dataset, teacher)


def test_a_teacher_that_cannot_label_new_rows_refuses_the_pool(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    outputs_only = dataclasses.replace(teacher, module=None, spec="outputs:probs.npy")
    with pytest.raises(PipelineError, match=r"augmentation\.munge\.pool_factor=2 .*"
                                            r"outputs:probs\.npy' cannot"):
        train_student(_pipeline("munge", pool_factor=2), dataset, outputs_only)
    # The other members of the population go on.
    results = train_population([Member(_pipeline("munge", pool_factor=2)), Member(_pipeline())],
                               dataset, outputs_only)
    assert isinstance(results[0], PipelineError) and "\n" not in str(results[0])
    assert results[1].epochs_run > 0


def test_the_space_drops_pools_for_a_teacher_that_cannot_label_new_rows():
    from autodistill.study.space_files import load_space

    space = load_space("default", has_hidden=False, labels_new_rows=False)
    assert space.components("augmentation") == ["none"]
    assert "pool_factor" not in space.families["augmentation"].params["none"]


def test_a_pool_that_would_not_fit_is_a_one_line_error(iris_with_teacher, monkeypatch):
    dataset, teacher = iris_with_teacher
    monkeypatch.setattr("autodistill._resources.available_memory", lambda: 10_000)
    with pytest.raises(PipelineError, match=r"^augmentation\.mixup\.pool_factor=10 needs about "
                                            r".* lower pool_factor$"):
        train_student(_pipeline("mixup", pool_factor=10), dataset, teacher)


def test_members_with_one_pool_definition_share_one_labelling(iris_with_teacher):
    dataset, teacher = iris_with_teacher
    calls: list[int] = []
    counting = dataclasses.replace(teacher)
    counting.predict = lambda x: (calls.append(int(x.shape[0])), teacher.predict(x))[1]
    pipeline = _pipeline("gaussian_noise", pool_factor=2)
    other_lr = _pipeline("gaussian_noise", {"lr": 0.01}, pool_factor=2)
    train_population([Member(pipeline, 7), Member(other_lr, 7)], dataset, counting)
    assert calls == [2 * len(dataset.y_train)]


def test_the_recommender_proposes_no_pool_before_the_knowledge_base_has_evidence(tmp_path):
    from autodistill.meta.candidates import candidate_pipelines
    from autodistill.meta.knowledge import load_meta_rows

    rows = load_meta_rows(f"sqlite:///{tmp_path / 'kb.db'}", include_studies=False)
    candidates = candidate_pipelines(rows)
    assert any(c["augmentation"]["name"] != "none" for c in candidates)
    has_pool = [r for r in rows if r.pipeline["augmentation"].get("params", {}).get("pool_factor")]
    if not has_pool:  # the shipped KB predates pools: a pool is searched, never proposed
        assert not any(c["augmentation"]["params"].get("pool_factor") for c in candidates)
    else:
        assert any(c["augmentation"]["params"].get("pool_factor") for c in candidates)


def test_real_rows_keep_the_curriculum_order_and_pool_rows_are_spread_among_them():
    from types import SimpleNamespace

    from autodistill.training.pools import mix_pool

    run = SimpleNamespace(pool_rows=40, pool_start=100, generator=torch.Generator().manual_seed(0))
    order = torch.arange(60).flip(0)  # a curriculum's order of the real rows
    mixed = mix_pool(order, run)
    assert mixed[mixed < 100].tolist() == order.tolist()
    assert sorted(mixed[mixed >= 100].tolist()) == list(range(100, 140))
    first_half = int((mixed[:50] >= 100).sum())
    assert 10 <= first_half <= 30  # about 20 of the 40 pool rows in each half of the epoch
