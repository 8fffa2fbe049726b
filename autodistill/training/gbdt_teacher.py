"""The ``gbdt`` teacher: scikit-learn's histogram gradient boosting, logits only.

A small grid of :data:`GBDT_GRID` settings, each with early stopping on the dataset's own
validation split (never on test), the one with the lowest validation log-loss kept (the
loss is what a distilled student learns from, and it is less noisy than accuracy on a
validation split of a few dozen rows). Its logits are the log of its class probabilities;
it has no hidden features, so MI objectives drop out for it.

The logits of every split are cached on disk like the ``auto`` teacher's, keyed by the
data fingerprint, the split seed and :data:`GBDT_CONFIG` (arrays only, never a pickle: the
fitted trees are not stored). Augmented rows need the model itself: after a cache hit it
is refitted once, lazily, with the kept setting and its number of iterations, which gives
the same trees (no row subsampling below 200,000 rows, so the fit is deterministic).

Every prediction goes through :class:`~autodistill.training.gbdt_forest.ForestPredictor`
(scikit-learn's probabilities exactly, with a third less overhead per call: every
augmented batch pays it).

Fitting (and scikit-learn's prediction, where the forest cannot serve) runs on one
OpenMP thread: on a busy machine scikit-learn's threads wait on each other (measured on
the shared 2-core build machine: 3 s wall on one thread against 73 s on two for the same
fits), and one thread keeps workers that run side by side from fighting over the cores.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from autodistill.training.gbdt_forest import ForestPredictor

if TYPE_CHECKING:
    from autodistill.data.dataset import Dataset
    from autodistill.training.teacher_outputs import TeacherOutputs

__all__ = ["GBDT_GRID", "GBDT_CONFIG", "GBDTModule", "EnsembleModule", "fit_gbdt",
           "gbdt_log_proba", "ensemble"]

log = logging.getLogger(__name__)

#: The settings tried (``learning_rate``, ``max_leaf_nodes``, ``min_samples_leaf``,
#: ``l2_regularization``): scikit-learn's default, a smaller and a larger tree, slower.
GBDT_GRID: tuple[dict[str, Any], ...] = (
    {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20, "l2_regularization": 0.0},
    {"learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 20, "l2_regularization": 1.0},
    {"learning_rate": 0.05, "max_leaf_nodes": 63, "min_samples_leaf": 10, "l2_regularization": 1.0},
    {"learning_rate": 0.1, "max_leaf_nodes": 7, "min_samples_leaf": 40, "l2_regularization": 1.0},
)
#: Everything that decides the ``gbdt`` teacher's outputs; part of its cache key.
GBDT_CONFIG: dict[str, Any] = {"kind": "gbdt", "grid": list(GBDT_GRID), "max_iter": 500,
                               "n_iter_no_change": 20, "select": "valid_log_loss",
                               "version": 1}
_CLIP = 1e-7  # probabilities are clipped before the log, so logits stay finite


def _one_thread() -> Any:
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _model(setting: dict[str, Any], max_iter: int, seed: int, early: bool) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=max_iter, early_stopping=early, n_iter_no_change=GBDT_CONFIG["n_iter_no_change"],
        scoring="loss", random_state=seed, **setting)


#: Each fitted model's :class:`ForestPredictor` (made on its first prediction), or None
#: when the installed scikit-learn lays models out otherwise.
_FORESTS: weakref.WeakKeyDictionary[Any, ForestPredictor | None] = weakref.WeakKeyDictionary()


def _predict_proba(model: Any, x: np.ndarray) -> np.ndarray:
    """``model.predict_proba(x)``, computed by the model's :class:`ForestPredictor` (the
    same numbers, with less overhead per call) when it has one."""
    if model not in _FORESTS:
        try:
            _FORESTS[model] = ForestPredictor(model)
        except (AttributeError, ImportError) as exc:  # another scikit-learn layout
            log.debug("gbdt teacher: scikit-learn predicts (%s)", exc)
            _FORESTS[model] = None
    forest = _FORESTS[model]
    if forest is not None:
        return forest.predict_proba(x)
    with _one_thread():
        return model.predict_proba(x)


def gbdt_log_proba(model: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """Log class probabilities ``[n, n_classes]`` (columns in class-code order)."""
    proba = np.full((x.shape[0], n_classes), _CLIP, dtype=np.float64)
    proba[:, np.asarray(model.classes_, dtype=np.int64)] = _predict_proba(model, x)
    proba = np.clip(proba, _CLIP, 1.0)
    return np.log(proba / proba.sum(1, keepdims=True)).astype(np.float32)


def _valid_loss(model: Any, dataset: Dataset) -> float:
    logp = gbdt_log_proba(model, dataset.X_valid, dataset.n_classes)
    return float(-logp[np.arange(len(dataset.y_valid)), dataset.y_valid].mean())


def fit_gbdt(dataset: Dataset, seed: int = 0) -> tuple[Any, int, int]:
    """Fit every grid setting with early stopping on validation; return (model, index of
    the kept setting, its number of iterations)."""
    has_val = "X_val" in inspect.signature(_model(GBDT_GRID[0], 1, seed, False).fit).parameters
    best: tuple[float, int, Any] | None = None
    for index, setting in enumerate(GBDT_GRID):
        model = _model(setting, GBDT_CONFIG["max_iter"], seed, early=has_val)
        with _one_thread():
            if has_val:  # scikit-learn >= 1.7 stops on the given validation split
                model.fit(dataset.X_train, dataset.y_train, X_val=dataset.X_valid,
                          y_val=dataset.y_valid)
            else:  # older: a fixed, smaller budget
                model.set_params(max_iter=200).fit(dataset.X_train, dataset.y_train)
        loss = _valid_loss(model, dataset)
        if best is None or loss < best[0]:
            best = (loss, index, model)
    assert best is not None
    log.info("gbdt teacher: setting %d kept (%d iterations, valid log-loss %.4f)",
             best[1], best[2].n_iter_, best[0])
    return best[2], best[1], int(best[2].n_iter_)


class GBDTModule(nn.Module):
    """A fitted (or lazily refitted) gradient-boosting model behind the teacher interface:
    ``forward(x)`` returns log-probabilities as logits, on ``x``'s device, no hidden."""

    def __init__(self, dataset: Dataset, setting_index: int, n_iter: int, seed: int,
                 model: Any = None) -> None:
        super().__init__()
        self._dataset, self._index, self._n_iter, self._seed = dataset, setting_index, n_iter, seed
        self._fitted = model
        self.n_classes = dataset.n_classes

    @property
    def model(self) -> Any:
        """The fitted model; refitted on first use after a cache hit."""
        if self._fitted is None:
            ds = self._dataset
            with _one_thread():
                self._fitted = _model(GBDT_GRID[self._index], self._n_iter, self._seed,
                                      early=False).fit(ds.X_train, ds.y_train)
        return self._fitted

    def n_nodes(self) -> int:
        """Total tree nodes (the teacher's size, reported as its parameter count)."""
        return int(sum(len(p.nodes) for trees in self.model._predictors for p in trees))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``[n, C]`` for encoded rows ``x``."""
        rows = x.detach().cpu().numpy().astype(np.float32, copy=False)
        return torch.from_numpy(gbdt_log_proba(self.model, rows, self.n_classes)).to(x.device)


def train_gbdt(dataset: Dataset, config: dict[str, Any]
               ) -> tuple[TeacherOutputs, dict[str, torch.Tensor]]:
    """Fit the teacher; return its outputs and the (tiny) state that rebuilds it."""
    from autodistill.training.teacher_outputs import _outputs_on

    model, index, n_iter = fit_gbdt(dataset, seed=config["seed"])
    module = GBDTModule(dataset, index, n_iter, config["seed"], model=model)
    outputs = _outputs_on(module, dataset, "gbdt")
    outputs.params = module.n_nodes()
    return outputs, {"setting": torch.tensor([index]), "n_iter": torch.tensor([n_iter])}


def load_gbdt(dataset: Dataset, config: dict[str, Any]):
    """``state -> module`` for outputs read from the cache (the model refits lazily)."""
    def load(state: dict[str, torch.Tensor] | None) -> nn.Module:
        if state is None:
            raise ValueError("the cached gbdt teacher has no setting")
        return GBDTModule(dataset, int(state["setting"][0]), int(state["n_iter"][0]),
                          config["seed"])
    return load


def _mean_log_proba(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Log of the mean of two models' class probabilities, given their logits."""
    stacked = torch.stack([torch.log_softmax(a.float(), 1), torch.log_softmax(b.float(), 1)])
    return torch.logsumexp(stacked, 0) - torch.log(torch.tensor(2.0, device=a.device))


class EnsembleModule(nn.Module):
    """An MLP teacher and a gbdt teacher averaged: ``(mean log-probabilities, MLP hidden)``."""

    def __init__(self, mlp: nn.Module, gbdt: nn.Module) -> None:
        super().__init__()
        self.mlp, self.gbdt = mlp, gbdt

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Averaged logits and the MLP's hidden features for encoded rows ``x``."""
        out = self.mlp(x)
        logits, hidden = out if isinstance(out, (tuple, list)) else (out, None)
        return _mean_log_proba(logits, self.gbdt(x).to(logits.device)), hidden


def ensemble(mlp: TeacherOutputs, gbdt: TeacherOutputs, dataset: Dataset,
             spec: str) -> TeacherOutputs:
    """The teacher that averages ``mlp``'s and ``gbdt``'s class probabilities and keeps the
    MLP's hidden features. Both parts are cached on their own; this costs a few tensor ops."""
    from autodistill.training.teacher_outputs import SPLITS, TeacherOutputs

    logits = {s: _mean_log_proba(mlp.logits[s], gbdt.logits[s]) for s in SPLITS}

    def accuracy(split: str) -> float:
        y = np.asarray(getattr(dataset, f"y_{split}"))
        return float((logits[split].argmax(1).numpy() == y).mean()) if len(y) else 0.0

    module = EnsembleModule(mlp.module, gbdt.module).eval() if mlp.module is not None and \
        gbdt.module is not None else None
    return TeacherOutputs(logits=logits, hidden=mlp.hidden, accuracy=accuracy("test"),
                          valid_accuracy=accuracy("valid"), params=mlp.params + gbdt.params,
                          spec=spec, seconds=mlp.seconds + gbdt.seconds, module=module,
                          from_cache=mlp.from_cache and gbdt.from_cache)
