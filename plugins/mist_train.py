"""Train the shipped MIST estimator: ``python -m autodistill.plugins.mist_train``.

Reproducible (every random number from ``--seed``) and CPU-only, a few minutes. The
meta-dataset is drawn afresh each step from two families of joint distributions of
known MI, with 2 coordinates per side:

* Gaussian pairs: canonical correlations ρ₁, ρ₂ with a total MI drawn uniformly in
  [0, 3] nats (MI = -½ Σ log(1 - ρ_k²)), then an invertible random linear mixing of each
  side (which does not change the MI);
* (a quarter of each batch) Gaussian mixtures over (u, v) in R⁴ (2 to 4 components with random means and
  covariances), a bank drawn once, each MI integrated by Monte Carlo from the exact
  joint and marginal densities (``E[log p(u,v) - log p(u) - log p(v)]``, 20,000 draws).

The loss is L1 on log(0.1 + MI). At the end the script prints the estimator's relative
error on held-out Gaussian pairs (another seed) and writes the weights as plain arrays.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from autodistill.plugins.mist import WEIGHTS_PATH, MISTEstimator

__all__ = ["gaussian_pairs", "MixtureBank", "held_out_errors", "train", "main"]

def gaussian_pairs(mi: torch.Tensor, n: int, gen: torch.Generator, mix: bool = True):
    """Samples ``[B, n, 2]`` of ``u``, ``v`` whose true MI is ``mi`` (``[B]``, nats)."""
    batch = mi.shape[0]
    share = torch.rand(batch, generator=gen)
    share = torch.where(torch.rand(batch, generator=gen) < 0.3, torch.ones_like(share), share)
    per_dim = torch.stack([mi * share, mi * (1 - share)], dim=1)  # [B, 2]
    rho = torch.sqrt(1.0 - torch.exp(-2.0 * per_dim))
    x = torch.randn(batch, n, 2, generator=gen)
    y = rho[:, None, :] * x + torch.sqrt(1 - rho**2)[:, None, :] * torch.randn(batch, n, 2,
                                                                                generator=gen)
    if mix:
        x, y = _mix(x, gen), _mix(y, gen)
    return x, y


def _mix(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random invertible linear map of each sample's two coordinates.

    (Monotone maps of single coordinates are not drawn: the estimator reads ranks, so
    they cannot change its input.)
    """
    batch = x.shape[0]
    q, _ = torch.linalg.qr(torch.randn(batch, 2, 2, generator=gen))
    scale = torch.exp(torch.randn(batch, 1, 2, generator=gen) * 0.5)
    return (x @ q) * scale


class MixtureBank:
    """Gaussian mixtures over R⁴ = (u, v) with Monte-Carlo MI, drawn once from ``gen``."""

    def __init__(self, size: int, gen: torch.Generator, mc_draws: int = 20000) -> None:
        self.components = torch.randint(2, 5, (size,), generator=gen).tolist()
        self.means, self.chols, self.mi = [], [], []
        for k in self.components:
            spread = 0.5 + 2.5 * float(torch.rand(1, generator=gen))
            means = spread * torch.randn(k, 4, generator=gen)
            a = torch.randn(k, 4, 4, generator=gen) * 0.6
            cov = a @ a.transpose(1, 2) + 0.2 * torch.eye(4)
            self.means.append(means)
            self.chols.append(torch.linalg.cholesky(cov))
            self.mi.append(self._mc_mi(len(self.means) - 1, mc_draws, gen))
        self.mi_tensor = torch.tensor(self.mi)

    def sample(self, index: int, n: int, gen: torch.Generator) -> torch.Tensor:
        """``[n, 4]`` draws from mixture ``index`` (equal weights)."""
        means, chols = self.means[index], self.chols[index]
        comp = torch.randint(0, means.shape[0], (n,), generator=gen)
        noise = torch.randn(n, 4, 1, generator=gen)
        return means[comp] + (chols[comp] @ noise).squeeze(-1)

    def _log_density(self, index: int, z: torch.Tensor, dims: slice) -> torch.Tensor:
        means, chols = self.means[index][:, dims], self.chols[index]
        covs = (chols @ chols.transpose(1, 2))[:, dims, dims]
        dist = torch.distributions.MultivariateNormal(means, covariance_matrix=covs)
        logp = dist.log_prob(z[:, None, dims])  # [n, k]
        return torch.logsumexp(logp, dim=1) - math.log(means.shape[0])

    def _mc_mi(self, index: int, draws: int, gen: torch.Generator) -> float:
        z = self.sample(index, draws, gen)
        joint = self._log_density(index, z, slice(0, 4))
        return float((joint - self._log_density(index, z, slice(0, 2))
                      - self._log_density(index, z, slice(2, 4))).mean().clamp_min(0.0))


def _batch(bank: MixtureBank, n: int, sets: int, gen: torch.Generator):
    n_gauss = int(round(0.75 * sets))
    mi_g = 3.0 * torch.rand(n_gauss, generator=gen)
    ug, vg = gaussian_pairs(mi_g, n, gen)
    picks = torch.randint(0, len(bank.mi), (sets - n_gauss,), generator=gen).tolist()
    z = torch.stack([bank.sample(i, n, gen) for i in picks])
    u = torch.cat([ug, z[..., :2]])
    v = torch.cat([vg, z[..., 2:]])
    return u, v, torch.cat([mi_g, bank.mi_tensor[picks]])


def held_out_errors(model: MISTEstimator, seed: int, n: int = 512, repeats: int = 10,
                    levels=(0.2, 0.5, 1.0, 1.5, 2.0, 2.5)) -> list[tuple[float, float]]:
    """``(true MI, mean estimate)`` on fresh Gaussian pairs (mixed, ``repeats`` samples each)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for mi in levels:
            u, v = gaussian_pairs(torch.full((repeats,), mi), n, gen)
            out.append((mi, float(model(u, v).mean())))
    return out


def train(seed: int = 0, steps: int = 6000, bank_size: int = 600, log_every: int = 250,
          ) -> MISTEstimator:
    """Train an estimator from scratch; every random number comes from ``seed``."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    bank = MixtureBank(bank_size, gen)
    model = MISTEstimator()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    started = time.process_time()
    for step in range(steps):
        n = int(round(math.exp(math.log(32) + (math.log(512) - math.log(32))
                               * float(torch.rand(1, generator=gen)))))
        u, v, mi = _batch(bank, n, max(8, 8192 // n), gen)
        loss = (torch.log(0.1 + model(u, v)) - torch.log(0.1 + mi)).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:5d}  n={n:3d}  loss {loss.item():.4f}  "
                  f"cpu {time.process_time() - started:.0f}s", flush=True)
    return model.eval().requires_grad_(False)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = train(seed=args.seed, steps=args.steps)
    errors = held_out_errors(model, seed=args.seed + 1000)
    for mi, est in errors:
        print(f"held-out Gaussian MI {mi:.2f}: estimate {est:.3f} ({100 * (est - mi) / mi:+.1f}%)")
    model.save(args.out, {"seed": args.seed, "steps": args.steps,
                          "held_out": [[mi, est] for mi, est in errors]})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
