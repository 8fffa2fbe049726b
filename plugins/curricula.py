"""Built-in curricula: which training rows, in which order, each epoch.

Difficulty comes from the teacher (higher is harder). Paced curricula train, in epoch
``t`` (0-based) of ``T``, on the ``g(t)`` rows first in their order (easiest,
hardest, or a fixed random order), shuffled within that subset so that a batch is
not a band of equal difficulty. Ties in difficulty are broken by a fixed random
order, so a constant difficulty (no teacher) still picks a random subset.

Class attributes read by :mod:`autodistill.testing`: ``order`` (``"easy_first"`` or
``"hard_first"``) for curricula that promise an ordering, ``matches_vanilla_budget``
for those that show as many rows over a run as plain training does.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from autodistill.components import Curriculum
from autodistill.hookspecs import hookimpl
from autodistill.params import Categorical, Float

__all__ = [
    "PACINGS",
    "pacing_fraction",
    "NoCurriculum",
    "EasyToHard",
    "HardToEasy",
    "RandomPaced",
    "Cyclical",
    "SelfPaced",
]

#: Pacing functions of Wu, Dyer & Neyshabur (2021), "When do curricula work?".
PACINGS: tuple[str, ...] = ("linear", "quad", "root", "step", "exp", "log")


def pacing_fraction(pacing: str, x: float) -> float:
    """φ(x) for ``x = t / (aT) >= 0``: 0 at x = 0 and 1 at x = 1 (not capped above).

    linear x; quad x²; root √x; step ⌊x⌋; exp (e^{10x} - 1)/(e^{10} - 1);
    log 1 + 0.1·log(x + e^{-10}).
    """
    if pacing == "linear":
        return x
    if pacing == "quad":
        return x * x
    if pacing == "root":
        return math.sqrt(x)
    if pacing == "step":
        return float(math.floor(x))
    if pacing == "exp":
        return math.expm1(10.0 * min(x, 10.0)) / math.expm1(10.0)
    if pacing == "log":
        return 1.0 + 0.1 * math.log(x + math.exp(-10.0))
    raise ValueError(f"unknown pacing '{pacing}'; choose one of {', '.join(PACINGS)}")


def _shuffled(rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    perm = torch.randperm(rows.shape[0], generator=generator, device=generator.device)
    return rows[perm.to(rows.device)]


def _fixed_generator(generator: torch.Generator) -> torch.Generator:
    """A generator seeded from ``generator``'s seed, without consuming its state."""
    return torch.Generator().manual_seed(generator.initial_seed())


class NoCurriculum(Curriculum):
    """No curriculum: every row, in a new random order each epoch."""

    name = "none"
    params = {}
    matches_vanilla_budget: ClassVar[bool] = True

    def indices(self, epoch: int, generator: torch.Generator,
                student_loss: torch.Tensor | None = None) -> torch.Tensor:
        """A random permutation of all rows."""
        return torch.randperm(self.n_rows, generator=generator, device=generator.device).cpu()


class _Paced(Curriculum):
    """Pacing g(t) = N·b + N(1-b)·φ(t/(aT)), capped at N, over a fixed row order."""

    params = {
        "pacing": Categorical(PACINGS, default="linear"),
        "a": Float(0.1, 1.0, default=0.8),
        "b": Float(0.05, 1.0, default=0.2),
    }

    def __init__(self, difficulty, epochs: int, **params) -> None:
        super().__init__(difficulty, epochs, **params)
        self._order: torch.Tensor | None = None

    def n_rows_at(self, epoch: int) -> int:
        """g(epoch): how many rows epoch ``epoch`` trains on, in [1, N]."""
        n = self.n_rows
        x = epoch / (self.a * max(self.epochs, 1))
        g = n * self.b + n * (1.0 - self.b) * pacing_fraction(self.pacing, x)
        return int(min(n, max(1, math.floor(g + 1e-9))))

    def ranking(self, generator: torch.Generator) -> torch.Tensor:
        """All rows, first-to-train first; fixed for the whole run."""
        raise NotImplementedError

    def _tie_broken_ascending(self, generator: torch.Generator) -> torch.Tensor:
        perm = torch.randperm(self.n_rows, generator=_fixed_generator(generator))
        return perm[torch.argsort(self.difficulty[perm], stable=True)]

    def indices(self, epoch: int, generator: torch.Generator,
                student_loss: torch.Tensor | None = None) -> torch.Tensor:
        """The first g(epoch) rows of :meth:`ranking`, shuffled."""
        if self._order is None:
            self._order = self.ranking(generator)
        return _shuffled(self._order[: self.n_rows_at(epoch)], generator)


class EasyToHard(_Paced):
    """Curriculum learning: the easiest rows first, growing to all rows by a paced g(t)."""

    name = "curriculum"
    order: ClassVar[str] = "easy_first"

    def ranking(self, generator: torch.Generator) -> torch.Tensor:
        """Rows by increasing difficulty."""
        return self._tie_broken_ascending(generator)


class HardToEasy(_Paced):
    """Anti-curriculum: the hardest rows first, growing to all rows by a paced g(t)."""

    name = "anti_curriculum"
    order: ClassVar[str] = "hard_first"

    def ranking(self, generator: torch.Generator) -> torch.Tensor:
        """Rows by decreasing difficulty."""
        return self._tie_broken_ascending(generator).flip(0)


class RandomPaced(_Paced):
    """Random curriculum: a fixed random row order, growing to all rows by a paced g(t)."""

    name = "random_curriculum"

    def ranking(self, generator: torch.Generator) -> torch.Tensor:
        """A random order drawn once from the run's seed."""
        return torch.randperm(self.n_rows, generator=_fixed_generator(generator))


class Cyclical(Curriculum):
    """Cyclical curriculum (Kesgin & Amasyali): the easiest fraction grows, then shrinks, repeating.

    The fraction starts at ``start``, is divided by ``factor`` each epoch up to
    ``end``, then multiplied by it back down to ``start``, and so on (``start`` and
    ``end`` are swapped if given in the wrong order). The raw schedule shows fewer rows
    than plain training, so each epoch's row count is scaled by ``T / Σ fractions``:
    over the run, as many rows are seen as in a vanilla run, the extra ones being the
    epoch's subset again, easiest rows first.
    """

    name = "cyclical"
    params = {
        "start": Float(0.05, 1.0, default=0.25),
        "end": Float(0.1, 1.0, default=1.0),
        "factor": Float(0.1, 0.9, default=0.5),
    }
    order: ClassVar[str] = "easy_first"
    matches_vanilla_budget: ClassVar[bool] = True

    def __init__(self, difficulty, epochs: int, **params) -> None:
        super().__init__(difficulty, epochs, **params)
        self._order: torch.Tensor | None = None
        self._planned = self.fractions(max(self.epochs, 1))
        self._scale = len(self._planned) / sum(self._planned)

    def fractions(self, n_epochs: int) -> list[float]:
        """The raw fraction of rows for each of the first ``n_epochs`` epochs."""
        low, high = sorted((self.start, self.end))
        fraction, growing, out = low, True, []
        for _ in range(n_epochs):
            out.append(fraction)
            if growing:
                fraction = min(high, fraction / self.factor)
                growing = fraction < high
            else:
                fraction = max(low, fraction * self.factor)
                growing = fraction <= low
        return out

    def indices(self, epoch: int, generator: torch.Generator,
                student_loss: torch.Tensor | None = None) -> torch.Tensor:
        """The easiest ``fraction·N`` rows, repeated up to the scaled count, shuffled."""
        if self._order is None:
            perm = torch.randperm(self.n_rows, generator=_fixed_generator(generator))
            self._order = perm[torch.argsort(self.difficulty[perm], stable=True)]
        planned = self._planned if epoch < len(self._planned) else self.fractions(epoch + 1)
        fraction = planned[epoch]
        distinct = min(self.n_rows, max(1, math.ceil(fraction * self.n_rows - 1e-9)))
        count = max(1, round(fraction * self._scale * self.n_rows))
        subset = self._order[:distinct]
        rows = subset.repeat(math.ceil(count / distinct))[:count]
        return _shuffled(rows, generator)


class SelfPaced(Curriculum):
    """Self-paced learning: rows the student already fits well, a growing share each epoch.

    In epoch t the threshold λ_t is the q_t-quantile of the current per-row student
    loss, with q_t = start + growth·t (capped at 1), so λ grows relative to the loss
    distribution; rows with a loss under λ_t are trained on, never fewer than 10% of
    the rows. Without a student loss (the first epoch) every row is used.
    """

    name = "self_paced"
    params = {
        "start": Float(0.1, 1.0, default=0.5),
        "growth": Float(0.0, 0.5, default=0.1),
    }
    needs_student_loss: ClassVar[bool] = True
    #: The smallest fraction of rows trained on, so training never starves.
    min_fraction: ClassVar[float] = 0.1

    def n_rows_at(self, epoch: int) -> int:
        """How many rows epoch ``epoch`` trains on when a student loss is given."""
        quantile = min(1.0, self.start + self.growth * epoch)
        fraction = max(quantile, self.min_fraction)
        return min(self.n_rows, max(1, math.ceil(fraction * self.n_rows - 1e-9)))

    def indices(self, epoch: int, generator: torch.Generator,
                student_loss: torch.Tensor | None = None) -> torch.Tensor:
        """The rows with the lowest student loss, shuffled; all rows without a loss."""
        if student_loss is None:
            return torch.randperm(self.n_rows, generator=generator, device=generator.device).cpu()
        loss = torch.as_tensor(student_loss).detach().reshape(-1).float().cpu()
        if loss.shape[0] != self.n_rows:
            raise ValueError(
                f"student_loss has {loss.shape[0]} rows but the curriculum was built for "
                f"{self.n_rows}"
            )
        keep = torch.topk(loss, self.n_rows_at(epoch), largest=False, sorted=False).indices
        return _shuffled(keep, generator)


@hookimpl
def register_curricula(register):
    """Register the built-in curricula."""
    for cls in (NoCurriculum, EasyToHard, HardToEasy, RandomPaced, Cyclical, SelfPaced):
        register(cls)
