"""The gbdt teacher's ForestPredictor gives exactly scikit-learn's probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from autodistill.training.gbdt_forest import ForestPredictor
from autodistill.training.gbdt_teacher import _one_thread, gbdt_log_proba


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    """scikit-learn's fit on one thread (its threads wait on each other on a busy machine)."""
    with _one_thread():
        yield


def _data(classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 6))
    y = (x[:, 0] * 2 + x[:, 1] - x[:, 2] ** 2 > 0).astype(int)
    if classes > 2:
        y = y + (x[:, 3] > 0.5).astype(int) * 2
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values send rows left or right
    return x, y


def _rows(x: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1)
    rows = np.concatenate([x, x + rng.normal(scale=0.3, size=x.shape), x * 10])
    rows[::5, 2] = np.nan
    rows[::7, 4] = np.inf
    return rows


@pytest.mark.parametrize("classes,leaves", [(2, 31), (4, 31), (4, 63), (4, 2)])
def test_forest_equals_predict_proba(classes: int, leaves: int) -> None:
    x, y = _data(classes)
    model = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=leaves,
                                           random_state=0).fit(x, y)
    rows = _rows(x)
    np.testing.assert_array_equal(ForestPredictor(model).predict_proba(rows),
                                  model.predict_proba(rows))


def test_single_leaf_trees() -> None:
    """Trees that never split (a constant feature) still give the baseline plus leaf."""
    x, y = np.zeros((60, 3)), np.tile([0, 1, 2], 20)
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(x, y)
    rows = np.random.default_rng(0).normal(size=(10, 3))
    np.testing.assert_array_equal(ForestPredictor(model).predict_proba(rows),
                                  model.predict_proba(rows))


def test_categorical_splits() -> None:
    x, y = _data(3)
    x = np.nan_to_num(x)
    x[:, 5] = np.floor(np.abs(x[:, 5]) * 3) % 4
    model = HistGradientBoostingClassifier(max_iter=20, categorical_features=[5],
                                           random_state=0).fit(x, y)
    rows = np.concatenate([x[:50], np.full((1, 6), 7.0)])  # 7: a category never seen
    np.testing.assert_array_equal(ForestPredictor(model).predict_proba(rows),
                                  model.predict_proba(rows))


def test_log_proba_columns_follow_class_codes() -> None:
    """Classes absent from training get the clipped floor, as before."""
    x, y = _data(3)
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(x, y * 2)
    logp = gbdt_log_proba(model, x[:20], 7)
    assert logp.shape == (20, 7)
    assert np.all(logp[:, [1, 3, 5]] < -15)
    np.testing.assert_allclose(np.exp(logp).sum(1), 1.0, rtol=1e-5)
