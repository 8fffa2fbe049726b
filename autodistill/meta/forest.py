"""Tree ensembles as plain arrays: exported from scikit-learn, stored as ``.npz``,
predicted with numpy.

The meta-model's forests are fitted with scikit-learn, then kept in this form so that a
later command reads them from the cache directory and predicts without importing
scikit-learn (over a second of a cached ``recommend``), and without pickle: the file
holds numeric arrays only and is read with ``allow_pickle=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Forest"]

_FIELDS = ("left", "right", "feature", "threshold", "value", "roots")


@dataclass(frozen=True)
class Forest:
    """Every tree's nodes concatenated; child and root indices point into the whole array.

    A node is a leaf when ``left`` is -1. ``value`` is ``[nodes, outputs]``.
    """

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    roots: np.ndarray

    @classmethod
    def from_sklearn(cls, model: Any) -> Forest:
        """Export a fitted scikit-learn forest regressor (``estimators_`` of trees)."""
        parts: dict[str, list[np.ndarray]] = {name: [] for name in _FIELDS}
        offset = 0
        for estimator in model.estimators_:
            tree = estimator.tree_
            is_leaf = tree.children_left < 0
            parts["left"].append(np.where(is_leaf, -1, tree.children_left + offset))
            parts["right"].append(np.where(is_leaf, -1, tree.children_right + offset))
            parts["feature"].append(np.where(is_leaf, 0, tree.feature))
            parts["threshold"].append(tree.threshold)
            parts["value"].append(tree.value[:, :, 0])
            parts["roots"].append(np.asarray([offset]))
            offset += tree.node_count
        return cls(
            left=np.concatenate(parts["left"]).astype(np.int32),
            right=np.concatenate(parts["right"]).astype(np.int32),
            feature=np.concatenate(parts["feature"]).astype(np.int32),
            threshold=np.concatenate(parts["threshold"]).astype(np.float64),
            value=np.concatenate(parts["value"]).astype(np.float64),
            roots=np.concatenate(parts["roots"]).astype(np.int64),
        )

    @property
    def n_trees(self) -> int:
        """How many trees the forest holds."""
        return len(self.roots)

    def predict_per_tree(self, x: Any) -> np.ndarray:
        """Each tree's prediction for each row of ``x``: ``[trees, rows, outputs]``.

        Rows are compared as scikit-learn does: cast to float32, ``<= threshold`` goes left.
        """
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        rows = np.arange(len(x))[None, :]
        node = np.repeat(self.roots[:, None], len(x), axis=1)
        while True:
            inner = self.left[node] >= 0
            if not inner.any():
                break
            go_left = x[rows, self.feature[node]] <= self.threshold[node]
            step = np.where(go_left, self.left[node], self.right[node])
            node = np.where(inner, step, node)
        return self.value[node]

    def predict(self, x: Any) -> np.ndarray:
        """The forest's prediction (the mean over trees): ``[rows, outputs]``."""
        return self.predict_per_tree(x).mean(axis=0)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays to store, named ``<prefix>.<field>``."""
        return {f"{prefix}.{name}": getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_arrays(cls, arrays: Any, prefix: str) -> Forest:
        """Read back what :meth:`arrays` stored (e.g. from ``np.load(..., allow_pickle=False)``)."""
        return cls(**{name: np.asarray(arrays[f"{prefix}.{name}"]) for name in _FIELDS})
