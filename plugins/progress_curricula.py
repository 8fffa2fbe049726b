"""Built-in curricula from the learning-progress and easy-to-hard-input literature.

``alp_gmm`` picks *which rows* to train on from the student's learning progress;
``efficient_train`` trains on every row every epoch but changes *what the student sees of
them*, through the optional ``transform`` of the curriculum contract.
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import numpy as np
import torch

from autodistill.components import Curriculum
from autodistill.hookspecs import hookimpl
from autodistill.params import Float, Int

__all__ = ["ALPGMM", "EfficientTrain", "quantise_columns"]


def _fixed_generator(generator: torch.Generator) -> torch.Generator:
    return torch.Generator().manual_seed(generator.initial_seed())


class ALPGMM(Curriculum):
    """ALP-GMM (Portelas et al., CoRL 2019): train most on difficulty bins whose loss moves most.

    Portelas, Colas, Hofmann & Oudeyer, "Teacher algorithms for curriculum learning of
    Deep RL in continuously parameterized environments". Here the task parameter is a
    difficulty bin: the rows are ranked by teacher difficulty (ties in a fixed random
    order) and cut into ``n_bins`` equal bins, bin ``b`` having parameter
    ``p_b = (b + ½) / n_bins``. In each epoch the per-row student loss gives the bin's
    mean loss ``m_b``; its absolute learning progress is ``ALP_b = |m_b(t) - m_b(t-1)|``.
    A Gaussian mixture (1 to ``max_components`` components, chosen by AIC as in the
    paper) is fitted to the points ``(p_b, ALP_b / max ALP)`` of the last ``window``
    epochs. The epoch's N rows are drawn bin by bin with probability
    ``explore / n_bins + (1 - explore)·Σ_k w_k·P(p ∈ bin b | N(μ_k, σ_k²))``, where
    ``w_k`` is proportional to component k's mean ALP (the paper picks a Gaussian in
    proportion to its mean ALP, then samples a task from it) and the Gaussian is
    truncated to [0, 1]. Within a bin, rows are taken in a fresh random order (repeated if
    the bin is drawn more often than it has rows). Until two losses have been seen, or
    while no bin moves, every row is used once.
    """

    name = "alp_gmm"
    params = {
        "n_bins": Int(4, 32, default=10),
        "explore": Float(0.05, 0.5, default=0.2),
        "max_components": Int(1, 6, default=4),
        "window": Int(1, 5, default=2),
    }
    needs_student_loss: ClassVar[bool] = True
    matches_vanilla_budget: ClassVar[bool] = True

    def __init__(self, difficulty, epochs: int, **params) -> None:
        super().__init__(difficulty, epochs, **params)
        self._bins: torch.Tensor | None = None
        self._previous: torch.Tensor | None = None
        self._history: list[np.ndarray] = []
        #: The bin probabilities of the last epoch (for inspection and tests).
        self.last_probabilities: np.ndarray | None = None

    @property
    def bin_count(self) -> int:
        """Bins actually used: ``n_bins``, or fewer when there are fewer rows."""
        return max(1, min(self.n_bins, self.n_rows))

    def _bin_of_rows(self, generator: torch.Generator) -> torch.Tensor:
        perm = torch.randperm(self.n_rows, generator=_fixed_generator(generator))
        order = perm[torch.argsort(self.difficulty[perm], stable=True)]
        bins = torch.empty(self.n_rows, dtype=torch.int64)
        bins[order] = torch.arange(self.n_rows) * self.bin_count // self.n_rows
        return bins

    def bin_probabilities(self, generator: torch.Generator) -> np.ndarray:
        """The sampling probability of each bin, from the ALP history (uniform without one)."""
        n = self.bin_count
        uniform = np.full(n, 1.0 / n)
        if not self._history:
            return uniform
        alp = np.concatenate(self._history)
        top = float(alp.max())
        if not top > 1e-12:
            return uniform
        centres = (np.arange(n) + 0.5) / n
        points = np.stack([np.tile(centres, len(self._history)), alp / top], axis=1)
        gmm = self._fit(points, int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        weights = np.clip(gmm.means_[:, 1], 0.0, None)
        if not weights.sum() > 0:
            return uniform
        from scipy.special import ndtr

        mu = gmm.means_[:, 0][:, None]
        sd = np.sqrt(np.maximum(gmm.covariances_[:, 0, 0], 1e-9))[:, None]
        edges = ndtr((np.arange(n + 1)[None, :] / n - mu) / sd)  # [k, n + 1]
        mass = np.diff(edges, axis=1)
        mass = mass / np.maximum(mass.sum(axis=1, keepdims=True), 1e-300)
        exploit = (weights / weights.sum()) @ mass
        return self.explore * uniform + (1.0 - self.explore) * exploit

    def _fit(self, points: np.ndarray, seed: int):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        best, best_aic = None, math.inf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for k in range(1, min(self.max_components, len(points)) + 1):
                gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-3,
                                      random_state=seed).fit(points)
                aic = gmm.aic(points)
                if aic < best_aic:
                    best, best_aic = gmm, aic
        return best

    def indices(self, epoch: int, generator: torch.Generator,
                student_loss: torch.Tensor | None = None) -> torch.Tensor:
        """N rows drawn from the bins in proportion to :meth:`bin_probabilities`, shuffled."""
        if self._bins is None:
            self._bins = self._bin_of_rows(generator)
        if student_loss is not None:
            loss = torch.as_tensor(student_loss).detach().reshape(-1).double().cpu()
            if loss.shape[0] != self.n_rows:
                raise ValueError(f"student_loss has {loss.shape[0]} rows but the curriculum "
                                 f"was built for {self.n_rows}")
            sums = torch.zeros(self.bin_count, dtype=torch.float64).index_add_(0, self._bins, loss)
            means = sums / torch.bincount(self._bins, minlength=self.bin_count).clamp_min(1)
            if self._previous is not None:
                self._history = [*self._history, (means - self._previous).abs().numpy()]
                self._history = self._history[-self.window:]
            self._previous = means
        probs = self.bin_probabilities(generator)
        self.last_probabilities = probs
        if not self._history:
            return torch.randperm(self.n_rows, generator=generator, device=generator.device).cpu()
        draws = torch.multinomial(torch.as_tensor(probs, dtype=torch.float64), self.n_rows,
                                  replacement=True, generator=generator)
        counts = torch.bincount(draws, minlength=self.bin_count).tolist()
        chosen = []
        for b, count in enumerate(counts):
            if count:
                members = torch.nonzero(self._bins == b).flatten()
                members = members[torch.randperm(members.shape[0], generator=generator)]
                chosen.append(members.repeat(math.ceil(count / members.shape[0]))[:count])
        rows = torch.cat(chosen)
        return rows[torch.randperm(rows.shape[0], generator=generator)]


def quantise_columns(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Each column of ``x`` coarsened to at most ``2**bits`` values by equal-frequency cells.

    A value's cell is ``⌊2^bits·F(v)⌋`` with ``F`` the column's mid-rank empirical CDF
    (``(#{< v} + #{<= v}) / 2N``); it is replaced by the mean of its cell. Cells of
    ``bits + 1`` split those of ``bits`` (nested), so the number of distinct values never
    falls as ``bits`` grows; a column with two values keeps both for any ``bits >= 1``.
    """
    levels = 2**bits
    xt = x.T.contiguous()
    ordered = torch.sort(xt, dim=1).values
    below = torch.searchsorted(ordered, xt, right=False)
    upto = torch.searchsorted(ordered, xt, right=True)
    cdf = (below + upto).to(torch.float64) / (2.0 * xt.shape[1])
    cell = torch.clamp((cdf * levels).floor().long(), 0, levels - 1)
    sums = torch.zeros(xt.shape[0], levels, dtype=torch.float64, device=x.device)
    sums.scatter_add_(1, cell, xt.to(torch.float64))
    counts = torch.zeros_like(sums).scatter_add_(1, cell, torch.ones_like(sums[:, :1]).expand_as(cell))
    means = sums / counts.clamp_min(1.0)
    return means.gather(1, cell).T.to(x.dtype)


class EfficientTrain(Curriculum):
    """EfficientTrain (Wang et al., ICCV 2023), tabular: all rows every epoch, coarse-to-fine inputs.

    Wang, Yue, Lu, Han, Song & Huang, "EfficientTrain: Exploring Generalized Curriculum
    Learning for Training Visual Backbones". Their finding: a network learns the
    "easier-to-learn" patterns first (low frequencies, weakly augmented images), so every
    epoch sees all images but early epochs only their low-frequency part (a cropped
    Fourier spectrum of bandwidth growing linearly to the full image) under augmentation
    whose strength grows linearly. The tabular analogue here:

    * frequency bandwidth -> resolution of each feature. A feature coarsened to
      ``2^b`` equal-frequency levels (:func:`quantise_columns`, each level its mean) keeps
      the slow, global variation of the target along it and loses the fine detail, as a
      low-pass image does; ``b`` (bits of resolution, the analogue of bandwidth) grows
      linearly from ``start_bits`` to ``end_bits`` over the first ``ramp`` share of the
      epochs, and from then on the raw features are used (the full spectrum);
    * augmentation magnitude -> the width of Gaussian input noise, ``noise·sd_j·(t+1)/T``
      for feature ``j`` in epoch ``t`` of ``T``, growing linearly as in the paper (0 by
      default, so the run ends on the raw input the student is evaluated on);
    * rows are not selected (every row, a new random order each epoch): EfficientTrain
      changes what is seen of each example, not which examples are seen.
    """

    name = "efficient_train"
    params = {
        "start_bits": Int(1, 4, default=2),
        "end_bits": Int(2, 8, default=6),
        "ramp": Float(0.2, 0.9, default=0.6),
        "noise": Float(0.0, 0.3, default=0.0),
    }
    matches_vanilla_budget: ClassVar[bool] = True

    def quantised_epochs(self) -> int:
        """How many leading epochs see quantised inputs (always fewer than ``epochs``)."""
        return min(self.epochs - 1, max(1, round(self.ramp * self.epochs)))

    def bits_at(self, epoch: int) -> int | None:
        """Bits of resolution in ``epoch``; ``None`` for the raw input."""
        span = self.quantised_epochs()
        if epoch >= span:
            return None
        low, high = sorted((self.start_bits, self.end_bits))
        return min(high, low + epoch * (high - low + 1) // span)

    def indices(self, epoch: int, generator: torch.Generator,
                student_loss: torch.Tensor | None = None) -> torch.Tensor:
        """Every row, in a new random order."""
        return torch.randperm(self.n_rows, generator=generator, device=generator.device).cpu()

    def transform(self, x: torch.Tensor, epoch: int, generator: torch.Generator) -> torch.Tensor:
        """The epoch's view of the training inputs: quantised to :meth:`bits_at`, plus noise."""
        bits = self.bits_at(epoch)
        out = x if bits is None else quantise_columns(x, bits)
        if self.noise > 0:
            sigma = self.noise * (epoch + 1) / max(self.epochs, 1)
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            out = out + sigma * x.std(dim=0, keepdim=True).nan_to_num(0.0) * noise.to(x.device)
        return out


@hookimpl
def register_curricula(register):
    """Register the learning-progress and coarse-to-fine curricula."""
    for cls in (ALPGMM, EfficientTrain):
        register(cls)
