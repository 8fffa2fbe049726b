"""Algorithmic unit tests of alp_gmm, efficient_train, cmim and mist.

Each builds a synthetic task where the right behaviour is known, so that a wrong
implementation visibly fails (Reproducibility in MIL, 2023).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from autodistill.plugins import mi_objectives, mist, mist_train
from autodistill.plugins.progress_curricula import ALPGMM, EfficientTrain, quantise_columns
from autodistill.testing import check_component


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- alp_gmm -------------------------------------------------------------------------

def _three_kinds_of_rows(n: int = 600):
    """Difficulty in thirds: learned (flat low loss), learning (falling), unlearnable (flat high)."""
    difficulty = torch.arange(n, dtype=torch.float32) / n
    group = (difficulty * 3).long().clamp(max=2)

    def loss_at(epoch: int, gen: torch.Generator) -> torch.Tensor:
        base = torch.where(group == 0, torch.tensor(0.05),
                           torch.where(group == 1, 2.0 * 0.7 ** epoch, torch.tensor(2.3)))
        return base + 0.05 * torch.randn(n, generator=gen)

    return difficulty, group, loss_at


def test_alp_gmm_samples_where_the_loss_is_still_falling():
    difficulty, group, loss_at = _three_kinds_of_rows()
    curriculum = ALPGMM(difficulty.numpy(), 10)
    gen, noise = _gen(0), _gen(1)
    counts = torch.zeros(3)
    for epoch in range(8):
        rows = curriculum.indices(epoch, gen, loss_at(epoch, noise) if epoch else None)
        assert rows.shape[0] == difficulty.shape[0]  # a vanilla epoch's budget
        if epoch >= 2:  # two losses seen: progress is measured
            counts += torch.bincount(group[rows], minlength=3)
    share = counts / counts.sum()
    learned, learning, unlearnable = share.tolist()
    assert learning > 2 * learned and learning > 2 * unlearnable, share
    # The exploration floor keeps every bin alive.
    assert min(learned, unlearnable) > 0.5 * curriculum.explore / 3


def test_alp_gmm_is_uniform_until_progress_is_measured():
    difficulty = torch.arange(90, dtype=torch.float32)
    curriculum = ALPGMM(difficulty.numpy(), 5)
    gen, flat = _gen(), torch.full((90,), 0.3)
    for epoch in range(2):  # no loss, then one loss: nothing to compare yet
        rows = curriculum.indices(epoch, gen, flat if epoch else None)
        assert torch.equal(torch.sort(rows).values, torch.arange(90))
    for epoch in range(2, 4):  # a loss that never moves: every bin equally likely
        curriculum.indices(epoch, gen, flat)
        assert np.allclose(curriculum.last_probabilities, 1 / curriculum.bin_count)


def test_alp_gmm_bins_follow_the_teacher_difficulty():
    difficulty = torch.rand(100, generator=_gen(3))
    curriculum = ALPGMM(difficulty.numpy(), 5, n_bins=4)
    bins = curriculum._bin_of_rows(_gen())
    assert torch.bincount(bins).tolist() == [25, 25, 25, 25]
    means = [float(difficulty[bins == b].mean()) for b in range(4)]
    assert means == sorted(means)


# --- efficient_train ------------------------------------------------------------------

def _mixed_features(n: int = 500) -> torch.Tensor:
    gen = _gen(5)
    return torch.stack([
        torch.randn(n, generator=gen),                              # continuous
        torch.exp(torch.randn(n, generator=gen)),                   # skewed continuous
        (torch.rand(n, generator=gen) < 0.7).float(),               # binary
        torch.randint(0, 5, (n,), generator=gen).float(),           # small integer
    ], dim=1)


def _distinct(x: torch.Tensor) -> list[int]:
    return [int(torch.unique(x[:, j]).numel()) for j in range(x.shape[1])]


def test_efficient_train_shows_every_row_and_ever_more_of_the_input():
    x = _mixed_features()
    epochs = 12
    curriculum = EfficientTrain(np.zeros(x.shape[0]), epochs)
    gen, counts = _gen(), []
    for epoch in range(epochs):
        rows = curriculum.indices(epoch, gen)
        assert torch.equal(torch.sort(rows).values, torch.arange(x.shape[0]))
        view = curriculum.transform(x, epoch, gen)
        counts.append(_distinct(view))
        assert counts[-1][2] == 2  # a binary feature stays binary at every resolution
    per_feature = list(zip(*counts, strict=True))
    for j, series in enumerate(per_feature):
        assert all(a <= b for a, b in zip(series, series[1:], strict=False)), (j, series)
    for j in (0, 1):  # continuous features gain resolution, epoch after epoch
        assert len(set(per_feature[j])) >= 4 and per_feature[j][0] <= 4, per_feature[j]
    assert torch.equal(curriculum.transform(x, epochs - 1, gen), x)  # ends on the raw input
    assert counts[-1] == _distinct(x)


def test_quantisation_keeps_the_coarse_structure():
    x = _mixed_features()
    coarse = quantise_columns(x, 1)  # two levels: below / above the median
    median = x[:, 0].median()
    low, high = x[:, 0] <= median, x[:, 0] > median
    assert torch.allclose(coarse[low, 0], x[low, 0].mean().expand(int(low.sum())), atol=1e-5)
    assert torch.allclose(coarse[high, 0], x[high, 0].mean().expand(int(high.sum())), atol=1e-5)
    assert torch.allclose(coarse.mean(0), x.mean(0), atol=1e-5)  # cell means keep the mean


def test_efficient_train_noise_grows_linearly():
    x = _mixed_features()
    curriculum = EfficientTrain(np.zeros(x.shape[0]), 10, noise=0.2)
    first = curriculum.transform(x, 0, _gen(0)) - quantise_columns(x, curriculum.bits_at(0))
    last = curriculum.transform(x, 9, _gen(9)) - x  # the last epoch: raw input plus noise
    ratio = (last.std(0) / first.std(0))[:2]  # (10/10) / (1/10)
    assert torch.allclose(ratio, torch.full((2,), 10.0), rtol=0.15), ratio
    assert math.isclose(float(last[:, 0].std()), 0.2 * float(x[:, 0].std()), rel_tol=0.15)


def test_the_engine_trains_on_the_transformed_inputs():
    from autodistill.data.dataset import load_dataset
    from autodistill.registry.manager import register_for_test
    from autodistill.training.engine import train_student
    from autodistill.training.pipeline import Pipeline
    from autodistill.training.teachers import get_teacher

    class Blind(EfficientTrain):
        """A curriculum that hides every feature (for this test)."""

        name = "blind_test"

        def transform(self, x, epoch, generator):
            return torch.zeros_like(x)

    dataset = load_dataset("builtin:iris")
    teacher = get_teacher("auto", dataset)
    training = {"epochs": 10, "patience": 10, "batch_size": 32}
    remove = register_for_test("curriculum", Blind)
    try:
        blind = train_student(Pipeline.from_dict({"curriculum": {"name": "blind_test"},
                                                  "training": training}), dataset, teacher)
    finally:
        remove()
    seeing = train_student(Pipeline.from_dict({"curriculum": {"name": "efficient_train"},
                                               "training": training}), dataset, teacher)
    assert blind.valid_accuracy < 0.5 < seeing.valid_accuracy


# --- cmim -----------------------------------------------------------------------------

def _pairs(rho: float, rows: int, gen: torch.Generator, dim: int = 2):
    x = torch.randn(rows, dim, generator=gen)
    return x, rho * x + math.sqrt(1 - rho * rho) * torch.randn(rows, dim, generator=gen)


def test_cmim_matches_its_formula():
    torch.manual_seed(0)
    objective = mi_objectives.CMIM(2, 2)
    s, t = _pairs(0.5, 12, _gen())
    f = objective.scores(s, t).detach()
    k = f.shape[0]
    by_hand = 0.0
    for i in range(k):
        negatives = torch.stack([f[i, j].exp() for j in range(k) if j != i]).mean()
        by_hand += float(torch.log(f[i, i].exp() / (f[i, i].exp() + negatives)))
    assert math.isclose(float(-objective(s, t)), by_hand / k, rel_tol=1e-5)


def _trained(cls, rho: float, steps: int = 300):
    torch.manual_seed(0)
    objective, gen = cls(2, 2), _gen(1)
    optimizer = torch.optim.Adam(objective.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = objective(*_pairs(rho, 64, gen))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return objective.eval()


def test_cmim_value_does_not_move_with_the_batch_size_where_infonce_does():
    objective = _trained(mi_objectives.CMIM, 0.75)
    gen = _gen(2)
    cmim, infonce = {}, {}
    with torch.no_grad():
        for k in (16, 512):
            values_c, values_i = [], []
            for _ in range(8):
                scores = objective.scores(*_pairs(0.75, k, gen))
                values_c.append(float(objective.bound(scores, None)))
                values_i.append(float(mi_objectives.InfoNCE.bound(objective, scores, None)))
            cmim[k], infonce[k] = np.mean(values_c), np.mean(values_i)
    # InfoNCE minimises the cross-entropy of finding the positive among K, log K - bound.
    infonce_loss = {k: math.log(k) - value for k, value in infonce.items()}
    assert abs(cmim[512] - cmim[16]) < 0.1, cmim
    assert infonce_loss[512] - infonce_loss[16] > 2.0, infonce_loss


@pytest.mark.parametrize("cls", [mi_objectives.CMIM, mist.MIST])
def test_estimates_rise_with_the_true_mi_of_gaussian_pairs(cls):
    estimates = []
    for rho in (0.0, 0.5, 0.75, 0.9):
        objective, gen = _trained(cls, rho), _gen(3)
        estimates.append(np.mean([objective.estimate(*_pairs(rho, 256, gen)) for _ in range(4)]))
    assert all(a < b for a, b in zip(estimates, estimates[1:], strict=False)), estimates


def test_cmim_follows_the_mist_reference_on_non_gaussian_pairs():
    check_component(mi_objectives.CMIM, mi_reference=mist.reference_mi)


# --- mist -----------------------------------------------------------------------------

#: The range the shipped weights are promised for (see plugins/mist.py): nats, pairs.
MIST_RANGE, MIST_ROWS = (0.4, 2.5), (256, 512)


@pytest.mark.parametrize("rows", MIST_ROWS)
def test_mist_is_within_ten_percent_on_held_out_gaussian_pairs(rows):
    # Seed 4242 is neither the training seed (0) nor the script's own check (1000).
    for true_mi, estimate in mist_train.held_out_errors(mist.load_estimator(), seed=4242, n=rows,
                                                        levels=(0.4, 0.8, 1.2, 1.8, 2.5)):
        assert MIST_RANGE[0] <= true_mi <= MIST_RANGE[1]
        assert abs(estimate - true_mi) <= 0.1 * true_mi, (true_mi, estimate)


def test_mist_reference_rises_with_the_true_mi_and_pads_one_column():
    gen = _gen(9)
    values = [mist.reference_mi(*_pairs(rho, 512, gen)) for rho in (0.0, 0.3, 0.6, 0.9)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False)), values
    x, y = _pairs(0.8, 512, gen, dim=1)  # MI = -½·log(1 - 0.64) = 0.51 nats
    assert abs(mist.reference_mi(x, y) - 0.5108) < 0.1
    # Invariant to increasing maps of a coordinate: it reads ranks.
    assert mist.reference_mi(x, y) == mist.reference_mi(torch.exp(x), y ** 3)
    with pytest.raises(ValueError, match="1 or 2 columns"):
        mist.reference_mi(torch.randn(64, 3), torch.randn(64, 2))


def test_mist_weights_are_plain_arrays_and_frozen():
    with np.load(mist.WEIGHTS_PATH, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
    objective = mist.MIST(6, 5)
    names = {name for name, _ in objective.named_parameters()}
    assert names == {"project_s.weight", "project_t.weight"}  # the estimator is not trained


def test_mist_training_is_reproducible():
    first = mist_train.train(seed=3, steps=5, bank_size=4, log_every=0)
    second = mist_train.train(seed=3, steps=5, bank_size=4, log_every=0)
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key])
