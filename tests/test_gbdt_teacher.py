"""The ``gbdt`` teacher: accurate, logits only, cached as arrays, refitted identically."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autodistill.data.dataset import load_dataset
from autodistill.errors import PipelineError
from autodistill.training import gbdt_teacher, teachers
from autodistill.training.engine import train_student
from autodistill.training.pipeline import Pipeline, load_pipeline
from autodistill.training.teachers import get_teacher

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cancer(autodistill_session_home):
    return load_dataset("builtin:breast_cancer")


def test_gbdt_teacher_is_accurate_and_exposes_logits_only(cancer, fresh_home):
    out = get_teacher("gbdt", cancer, device=CPU)
    assert out.spec == "gbdt" and out.hidden is None and not out.from_cache
    assert out.valid_accuracy > 0.9 and out.accuracy > 0.9
    for split in ("train", "valid", "test"):
        logits = out.logits[split]
        assert logits.shape == (len(getattr(cancer, f"y_{split}")), 2)
        assert torch.isfinite(logits).all()
        # log-probabilities: each row's probabilities sum to one
        assert torch.allclose(logits.exp().sum(1), torch.ones(len(logits)), atol=1e-4)
    assert out.params > 0  # tree nodes
    accuracy = (out.logits["test"].argmax(1).numpy() == cancer.y_test).mean()
    assert accuracy == pytest.approx(out.accuracy)


def test_gbdt_cache_holds_arrays_and_the_refit_gives_the_same_model(cancer, fresh_home):
    first = get_teacher("gbdt", cancer, device=CPU)
    files = sorted(p.name for p in (fresh_home / "cache" / "teachers").iterdir())
    assert any(name.endswith(".outputs.pt") for name in files)
    teachers.clear_memo()
    calls = []
    real_fit = gbdt_teacher.fit_gbdt
    gbdt_teacher.fit_gbdt = lambda *a, **k: calls.append(1) or real_fit(*a, **k)
    try:
        second = get_teacher("gbdt", cancer, device=CPU)
    finally:
        gbdt_teacher.fit_gbdt = real_fit
    assert second.from_cache and not calls
    assert torch.equal(second.logits["test"], first.logits["test"])
    assert second.params == first.params
    # new rows need the model: refitted once from the kept setting, the same trees
    x = torch.as_tensor(cancer.X_test)
    logits, hidden = second.predict(x)
    assert hidden is None
    assert torch.allclose(logits, first.logits["test"], atol=1e-5)
    assert all(not name.endswith(".pkl") for name in files)


def test_gbdt_and_auto_are_cached_apart_and_by_seed(cancer, fresh_home, monkeypatch):
    key = teachers._cache_key
    base = {**gbdt_teacher.GBDT_CONFIG, "seed": 0}
    assert key(cancer, base) != key(cancer, {**base, "seed": 1})
    assert key(cancer, base) != key(cancer, {**teachers.AUTO_CONFIG, "seed": 0})


def test_a_teacher_cached_for_another_encoding_of_the_same_file_is_not_reused(cancer):
    """A teacher takes encoded rows: when the same file encodes to other columns (a date
    read as a number, an identifier left out, by a newer release), it is trained again."""
    import dataclasses

    config = {**gbdt_teacher.GBDT_CONFIG, "seed": 0}
    wider = dataclasses.replace(cancer, feature_names=(*cancer.feature_names, "id_x"))
    assert teachers._cache_key(wider, config) != teachers._cache_key(cancer, config)
    assert teachers._cache_key(dataclasses.replace(cancer), config) == \
        teachers._cache_key(cancer, config)


def test_students_distil_from_gbdt_but_mi_objectives_need_hidden_features(cancer, fresh_home):
    out = get_teacher("gbdt", cancer, device=CPU)
    hinton = load_pipeline("hinton").to_dict()
    hinton["training"] = {**hinton["training"], "epochs": 5}
    result = train_student(Pipeline.from_dict(hinton), cancer, out, seed=0, device=CPU)
    assert 0.5 < result.test_accuracy <= 1.0
    assert result.teacher_agreement is not None
    mi = {**hinton, "mi_objective": {"name": "fitnet", "params": {}}}
    with pytest.raises(PipelineError, match="exposes none"):
        train_student(Pipeline.from_dict(mi), cancer, out, seed=0, device=CPU)


def test_gbdt_log_proba_fills_classes_the_model_never_saw():
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) * 2  # classes 0 and 2 of 3
    model = HistGradientBoostingClassifier(max_iter=5).fit(x, y)
    logp = gbdt_teacher.gbdt_log_proba(model, x, 3)
    assert logp.shape == (60, 3) and np.isfinite(logp).all()
    assert np.allclose(np.exp(logp).sum(1), 1.0, atol=1e-5)
    assert (np.exp(logp[:, 1]) < 1e-5).all()


def test_auto_is_the_mean_of_its_mlp_and_gbdt_keeping_the_mlp_hidden(iris, fresh_home):
    mlp = get_teacher("auto:mlp", iris, device=CPU)
    gbdt = get_teacher("gbdt", iris, device=CPU)
    auto = get_teacher("auto", iris, device=CPU)
    assert auto.spec == "auto" and auto.params == mlp.params + gbdt.params
    for split in ("train", "valid", "test"):
        mean = (mlp.logits[split].softmax(1) + gbdt.logits[split].softmax(1)) / 2
        assert torch.allclose(auto.logits[split].exp(), mean, atol=1e-5)
        assert torch.equal(auto.hidden[split], mlp.hidden[split])
    logits, hidden = auto.predict(torch.as_tensor(iris.X_valid))
    assert torch.allclose(logits, auto.logits["valid"], atol=1e-5)
    assert torch.allclose(hidden, mlp.hidden["valid"], atol=1e-5)
