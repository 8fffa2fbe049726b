"""Built-in augmentations: ``(x, y, generator) -> x_aug`` on one batch.

Every random number comes from the ``generator`` passed in (a CPU generator in the
engine), so the same seed gives the same rows; random tensors are drawn on the
generator's device and moved to the batch's device. Inputs are never modified in
place, and the work is vectorised over the batch: no Python loop over rows. All but
``smote`` (whose ``k`` sets a shape) accept a leading member axis (one generator per
member, see :mod:`autodistill.components`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from autodistill.components import Augmentation
from autodistill.hookspecs import hookimpl
from autodistill.params import Float, Int

__all__ = ["NoAugmentation", "GaussianNoise", "FeatureMask", "Mixup", "Munge", "Smote"]


def _rand(shape: tuple[int, ...], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn from ``generator``, with ``like``'s dtype and device."""
    dtype = like.dtype if like.dtype.is_floating_point else torch.float32
    out = torch.rand(shape, generator=generator, device=generator.device, dtype=dtype)
    return out.to(like.device)


def _randn(shape: tuple[int, ...], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Standard normal numbers drawn from ``generator``, with ``like``'s dtype and device."""
    dtype = like.dtype if like.dtype.is_floating_point else torch.float32
    out = torch.randn(shape, generator=generator, device=generator.device, dtype=dtype)
    return out.to(like.device)


def _per_member(draw, generators: Sequence[torch.Generator], x: torch.Tensor) -> torch.Tensor:
    """``draw(shape of one member's batch, generator, x)`` stacked over the members, so
    member m's numbers come from ``generators[m]`` alone (as in a single run)."""
    shape = tuple(x.shape[1:])
    if len(generators) == 1:
        return draw(shape, generators[0], x).unsqueeze(0)
    return torch.stack([draw(shape, g, x) for g in generators])


def _randperm(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randperm(n, generator=generator, device=generator.device).to(device)


def _nearest_distances(x: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances ``[..., n, n]`` with each row to itself set to +inf."""
    dist = torch.cdist(x, x)
    eye = torch.eye(x.shape[-2], dtype=torch.bool, device=x.device)
    return dist.masked_fill(eye, float("inf"))


def _rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[m, index[m, i]]`` for ``x [M, n, d]`` and ``index [M, n]``."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class NoAugmentation(Augmentation):
    """No augmentation: returns a copy of the batch."""

    name = "none"
    member_axis = True
    generates_rows = False
    params = {}

    def augment_members(self, x: torch.Tensor, y: torch.Tensor,
                        generators: Sequence[torch.Generator]) -> torch.Tensor:
        """A copy of ``x``."""
        return x.clone()


class GaussianNoise(Augmentation):
    """Add Gaussian noise of standard deviation sigma to every feature."""

    name = "gaussian_noise"
    member_axis = True
    params = {"sigma": Float(0.01, 1.0, default=0.1, log=True)}

    def augment_members(self, x: torch.Tensor, y: torch.Tensor,
                        generators: Sequence[torch.Generator]) -> torch.Tensor:
        """x + sigma·N(0, 1)."""
        return x + self.member_param("sigma", x) * _per_member(_randn, generators, x)


class FeatureMask(Augmentation):
    """Zero each feature of each row independently with probability p."""

    name = "feature_mask"
    member_axis = True
    params = {"p": Float(0.0, 0.5, default=0.1)}

    def augment_members(self, x: torch.Tensor, y: torch.Tensor,
                        generators: Sequence[torch.Generator]) -> torch.Tensor:
        """A copy of ``x`` with about a fraction ``p`` of its cells set to 0 (the mean)."""
        return x.masked_fill(_per_member(_rand, generators, x) < self.member_param("p", x), 0.0)


class Mixup(Augmentation):
    """Mixup (Zhang et al. 2018): convex mix of each row with a random row, λ ~ Beta(a, a).

    Each row draws its own λ (not one per batch), which covers more of the segments
    between rows for the same cost; the teacher labels the mixed rows.
    """

    name = "mixup"
    member_axis = True
    params = {"alpha": Float(0.05, 1.0, default=0.2)}

    def augment_members(self, x: torch.Tensor, y: torch.Tensor,
                        generators: Sequence[torch.Generator]) -> torch.Tensor:
        """λ·x + (1-λ)·x[perm], one λ per row."""
        n = x.shape[1]
        perms, lams = [], []
        alphas = torch.as_tensor(self.alpha).view(-1).tolist()
        for generator, alpha in zip(generators, alphas, strict=True):
            perms.append(_randperm(n, generator, x.device))
            # torch's Beta sampler takes no generator: seed a NumPy generator from ours.
            seed = int(torch.randint(0, 2**62, (1,), generator=generator,
                                     device=generator.device).item())
            lams.append(np.random.default_rng(seed).beta(alpha, alpha, size=(n, 1)))
        lam = torch.as_tensor(np.stack(lams), dtype=x.dtype, device=x.device)
        return lam * x + (1.0 - lam) * _rows(x, torch.stack(perms))


class Munge(Augmentation):
    """MUNGE (Bucila et al. 2006): swap features with the nearest neighbour, with noise.

    For each row and its nearest neighbour in the batch, each feature is taken from
    the neighbour with probability p; a numeric feature so taken is drawn from
    Normal(neighbour value, |a - b| / s). Columns holding only 0 and 1 in the batch
    (one-hot categories) are swapped without noise.
    """

    name = "munge"
    member_axis = True
    params = {
        "p": Float(0.05, 1.0, default=0.5),
        "s": Float(0.1, 10.0, default=1.0, log=True),
    }

    def augment_members(self, x: torch.Tensor, y: torch.Tensor,
                        generators: Sequence[torch.Generator]) -> torch.Tensor:
        """One MUNGE row per input row."""
        swap = _per_member(_rand, generators, x) < self.member_param("p", x)
        noise = _per_member(_randn, generators, x)
        if x.shape[1] < 2:
            return x.clone()
        neighbour = _rows(x, _nearest_distances(x).argmin(-1))
        binary = ((x == 0) | (x == 1)).all(1, keepdim=True)
        width = (x - neighbour).abs() / self.member_param("s", x)
        taken = torch.where(binary, neighbour, neighbour + width * noise)
        return torch.where(swap, taken, x)


class Smote(Augmentation):
    """SMOTE (Chawla et al. 2002): interpolate towards one of k same-class neighbours.

    Each row moves a uniform fraction of the way towards a random one of its ``k``
    nearest neighbours of the same class in the batch; a row with no same-class
    partner in the batch is returned unchanged.
    """

    name = "smote"
    params = {"k": Int(1, 10, default=5)}

    def augment(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x + u·(neighbour - x), u ~ U(0, 1) per row."""
        n = x.shape[0]
        pick = _rand((n,), generator, x)
        step = _rand((n, 1), generator, x)
        if n < 2:
            return x.clone()
        dist = _nearest_distances(x)
        dist = dist.masked_fill(y[:, None] != y[None, :], float("inf"))
        k = min(self.k, n - 1)
        near_dist, near_idx = torch.topk(dist, k, dim=1, largest=False, sorted=True)
        n_valid = torch.isfinite(near_dist).sum(1)
        # Valid neighbours come first (sorted ascending): pick one uniformly among them.
        column = (pick * n_valid).long().clamp_max(k - 1)
        neighbour = x[near_idx.gather(1, column[:, None]).squeeze(1)]
        moved = x + step * (neighbour - x)
        return torch.where((n_valid > 0)[:, None], moved, x)


@hookimpl
def register_augmentations(register):
    """Register the built-in augmentations."""
    for cls in (NoAugmentation, GaussianNoise, FeatureMask, Mixup, Munge, Smote):
        register(cls)
