"""The built-in components: conformance checks over the registry, and their formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from autodistill.plugins import augmentations, curricula, kd_losses, mi_objectives
from autodistill.registry.manager import BUILTIN_PLUGIN_NAME, get_registry
from autodistill.testing import check_component

#: The built-in component names that pipelines, spaces and the knowledge base name.
BUILTINS = {
    "kd_loss": ["none", "hinton", "soft_ce", "mse_logits", "dkd", "mutual"],
    "mi_objective": ["none", "fitnet", "infonce", "nwj", "mi_alpha", "jsd", "wdm", "cmim", "mist",
                     "layer_map"],
    "augmentation": ["none", "gaussian_noise", "feature_mask", "mixup", "munge", "smote"],
    "curriculum": ["none", "curriculum", "anti_curriculum", "random_curriculum", "cyclical",
                   "self_paced", "alp_gmm", "efficient_train"],
}
CASES = [(family, name) for family, names in BUILTINS.items() for name in names]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_builtin_plugin_registers_exactly_the_contract_names():
    registry = get_registry()
    for family, names in BUILTINS.items():
        builtin = {name for name, info in registry.components[family].items()
                   if info.plugin == BUILTIN_PLUGIN_NAME}
        assert builtin == set(names), family


@pytest.mark.parametrize(("family", "name"), CASES, ids=[f"{f}:{n}" for f, n in CASES])
def test_builtin_passes_the_conformance_checks(family, name):
    check_component(get_registry().get(family, name).cls)


def test_dkd_passes_the_checks_on_a_binary_problem():
    check_component(kd_losses.DKD, n_classes=2)


# --- KD losses ---------------------------------------------------------------------

def _logits(rows=8, classes=4, seed=0):
    gen = _gen(seed)
    s = 3 * torch.randn(rows, classes, generator=gen)
    t = 3 * torch.randn(rows, classes, generator=gen)
    y = torch.randint(0, classes, (rows,), generator=gen)
    return s, t, y


def _kl_by_hand(t_logits, s_logits, temperature):
    p_t = torch.softmax(t_logits / temperature, 1)
    p_s = torch.softmax(s_logits / temperature, 1)
    return (p_t * (p_t.log() - p_s.log())).sum(1).mean()


def test_hinton_at_alpha_one_is_t_squared_kl_by_hand():
    s, t, y = _logits()
    loss = kd_losses.Hinton(temperature=3.0, alpha=1.0)(s, t, y)
    assert torch.allclose(loss, 9.0 * _kl_by_hand(t, s, 3.0), rtol=1e-5)


def test_hinton_mixes_label_ce_and_kl():
    s, t, y = _logits()
    loss = kd_losses.Hinton(temperature=4.0, alpha=0.9)(s, t, y)
    expected = 0.1 * F.cross_entropy(s, y) + 0.9 * 16.0 * _kl_by_hand(t, s, 4.0)
    assert torch.allclose(loss, expected, rtol=1e-5)
    assert torch.allclose(kd_losses.Hinton(alpha=0.0)(s, t, y), F.cross_entropy(s, y))


def test_soft_ce_differs_from_hinton_by_the_teacher_entropy():
    s, t, y = _logits()
    p_t = torch.softmax(t / 2.0, 1)
    entropy = -(p_t * p_t.log()).sum(1).mean()
    soft = kd_losses.SoftCE(temperature=2.0, alpha=1.0)(s, t, y)
    hinton = kd_losses.Hinton(temperature=2.0, alpha=1.0)(s, t, y)
    assert torch.allclose(soft - hinton, 4.0 * entropy, rtol=1e-4)


def test_mse_logits_is_the_mean_squared_difference():
    s, t, y = _logits()
    assert torch.allclose(kd_losses.MSELogits(alpha=1.0)(s, t, y), ((s - t) ** 2).mean())
    assert float(kd_losses.MSELogits(alpha=1.0)(t, t, y)) == 0.0


@pytest.mark.parametrize("cls", [kd_losses.Hinton, kd_losses.MSELogits, kd_losses.DKD])
def test_divergence_is_zero_when_the_student_equals_the_teacher(cls):
    _, t, y = _logits()
    loss = cls(**cls.teacher_only_params)(t.clone(), t, y)
    assert abs(float(loss)) < 1e-5


def test_dkd_nckd_is_zero_on_two_classes():
    s, t, y = _logits(classes=2)
    tckd, nckd = kd_losses.DKD.parts(s, t, y, 4.0)
    assert float(nckd) == pytest.approx(0.0, abs=1e-6)
    assert float(tckd) > 0


def test_dkd_parts_decompose_classical_kd():
    # Zhao et al. 2022, eq. 7: KD = TCKD + (1 - p_t(target)) · NCKD, row by row.
    s, t, y = _logits(rows=5, classes=6)
    for row in range(5):
        si, ti, yi = s[row:row + 1], t[row:row + 1], y[row:row + 1]
        tckd, nckd = kd_losses.DKD.parts(si, ti, yi, 2.0)
        p_target = torch.softmax(ti / 2.0, 1)[0, yi[0]]
        assert torch.allclose(tckd + (1 - p_target) * nckd, _kl_by_hand(ti, si, 2.0), atol=1e-5)


def test_dkd_weights_its_terms():
    s, t, y = _logits()
    tckd, nckd = kd_losses.DKD.parts(s, t, y, 3.0)
    loss = kd_losses.DKD(alpha=2.0, beta=5.0, temperature=3.0, ce_weight=0.5)(s, t, y)
    expected = 0.5 * F.cross_entropy(s, y) + 9.0 * (2.0 * tckd + 5.0 * nckd)
    assert torch.allclose(loss, expected, rtol=1e-5)


@pytest.mark.parametrize("cls", [kd_losses.Hinton, kd_losses.SoftCE, kd_losses.DKD])
def test_losses_stay_finite_on_huge_logits(cls):
    s, t, y = _logits()
    s = (s * 1e4).requires_grad_(True)
    loss = cls()(s, t * 1e4, y)
    loss.backward()
    assert math.isfinite(loss.item()) and torch.isfinite(s.grad).all()


def test_plain_loss_ignores_a_missing_teacher():
    s, _, y = _logits()
    assert not kd_losses.NoKD.uses_teacher
    assert torch.allclose(kd_losses.NoKD()(s, None, y), F.cross_entropy(s, y))


# --- MI objectives -----------------------------------------------------------------

def _features(rows=32, rho=0.0, seed=0, dim=3):
    gen = _gen(seed)
    x = torch.randn(rows, dim, generator=gen)
    return x, rho * x + math.sqrt(1 - rho * rho) * torch.randn(rows, dim, generator=gen)


def test_infonce_estimate_never_exceeds_log_k():
    torch.manual_seed(0)
    objective = mi_objectives.InfoNCE(3, 3)
    for rows in (4, 16, 64):
        s, t = _features(rows, rho=0.99)
        with torch.no_grad():  # make the critic confident: a large score on every pair
            objective.g[2].weight.mul_(50.0)
        assert objective.estimate(s, t) <= math.log(rows) + 1e-5


def test_infonce_matches_its_formula():
    torch.manual_seed(0)
    objective = mi_objectives.InfoNCE(3, 3)
    s, t = _features(8)
    f = objective.scores(s, t)
    by_hand = torch.stack([f[i, i] - torch.log(torch.exp(f[i]).mean()) for i in range(8)]).mean()
    assert torch.allclose(-objective(s, t), by_hand, atol=1e-5)


def test_nwj_matches_its_formula():
    torch.manual_seed(0)
    objective = mi_objectives.NWJ(3, 3)
    s, t = _features(8)
    f = objective.scores(s, t)
    off = ~torch.eye(8, dtype=torch.bool)
    by_hand = f.diagonal().mean() - math.exp(-1) * torch.exp(f[off]).mean()
    assert torch.allclose(-objective(s, t), by_hand, atol=1e-5)


def test_mi_alpha_at_zero_is_tuba_with_the_learned_baseline():
    torch.manual_seed(0)
    objective = mi_objectives.MIAlpha(3, 3, alpha=0.0)
    s, t = _features(8)
    f = objective.scores(s, t).T  # row i: teacher t_i against every student s_j
    log_q = objective.log_baseline(t).squeeze(1)
    off = ~torch.eye(8, dtype=torch.bool)
    tuba = 1 + (f.diagonal() - log_q).mean() - (torch.exp(f - log_q[:, None])[off]).mean()
    assert torch.allclose(-objective(s, t), tuba, atol=1e-5)


def test_mi_alpha_at_one_ignores_the_baseline():
    torch.manual_seed(0)
    objective = mi_objectives.MIAlpha(3, 3, alpha=1.0)
    s, t = _features(8)
    before = objective(s, t).item()
    with torch.no_grad():
        objective.log_baseline[2].bias.add_(5.0)
    assert objective(s, t).item() == pytest.approx(before, abs=1e-6)


def test_wdm_penalises_a_steep_critic():
    torch.manual_seed(0)
    objective = mi_objectives.WDM(3, 3)
    s, t = _features(16)
    with torch.no_grad():
        gap = -float(objective(s, t))  # gradients off: no penalty
    assert gap == pytest.approx(objective.estimate(s, t), abs=1e-6)
    flat = objective(s, t).item()
    with torch.no_grad():
        objective.g[2].weight.mul_(20.0)
    assert objective(s, t).item() > flat + 1.0


def test_fitnet_proxy_is_near_zero_for_independent_features_and_never_negative():
    torch.manual_seed(0)
    objective = mi_objectives.FitNet(3, 3)
    s, t = _features(512, rho=0.0)
    estimate = objective.estimate(s, t)
    assert 0.0 <= estimate < 0.05


def test_contrastive_objectives_give_a_backpropagating_zero_on_one_row():
    s = torch.randn(1, 3, requires_grad=True)
    for cls in (mi_objectives.InfoNCE, mi_objectives.NWJ, mi_objectives.MIAlpha,
                mi_objectives.JSD, mi_objectives.WDM, mi_objectives.NoMI):
        loss = cls(3, 3)(s, torch.randn(1, 3))
        assert float(loss.detach()) == 0.0
        loss.backward()


# --- augmentations -----------------------------------------------------------------

def test_mixup_rows_are_convex_combinations_of_two_rows():
    x = torch.eye(16)
    out = augmentations.Mixup(alpha=0.4)(x, torch.zeros(16, dtype=torch.long), _gen())
    assert (out >= 0).all() and (out <= 1 + 1e-6).all()
    assert torch.allclose(out.sum(1), torch.ones(16))
    assert ((out > 1e-7).sum(1) <= 2).all()
    # Partners come from a permutation of the batch: no row is a partner twice.
    off = out - torch.diag(out.diagonal())
    mixed = off.sum(1) > 1e-6
    partners = off.argmax(1)[mixed]
    assert mixed.sum() > 8 and partners.unique().numel() == partners.numel()


def test_gaussian_noise_has_the_declared_width():
    x = torch.zeros(2000, 5)
    out = augmentations.GaussianNoise(sigma=0.3)(x, torch.zeros(2000, dtype=torch.long), _gen())
    assert float(out.std()) == pytest.approx(0.3, rel=0.05)


def test_feature_mask_zeroes_about_p_of_the_cells_and_keeps_the_rest():
    x = torch.rand(500, 8) + 1.0
    out = augmentations.FeatureMask(p=0.25)(x, torch.zeros(500, dtype=torch.long), _gen())
    zeroed = out == 0
    assert float(zeroed.float().mean()) == pytest.approx(0.25, abs=0.03)
    assert torch.equal(out[~zeroed], x[~zeroed])


def test_munge_takes_features_from_the_nearest_neighbour():
    gen = _gen(1)
    x = torch.cat([torch.randn(30, 4, generator=gen),
                   (torch.rand(30, 1, generator=gen) < 0.5).float()], 1)
    y = torch.zeros(30, dtype=torch.long)
    rarely = augmentations.Munge(p=0.05)(x, y, _gen())
    assert float((rarely == x).float().mean()) == pytest.approx(0.95, abs=0.04)
    out = augmentations.Munge(p=1.0, s=10.0)(x, y, _gen())
    distances = torch.cdist(x, x).fill_diagonal_(float("inf"))
    neighbour = x[distances.argmin(1)]
    width = (x - neighbour).abs() / 10.0
    assert ((out - neighbour).abs() <= 6 * width + 1e-6).all()
    assert torch.equal(out[:, 4], neighbour[:, 4])  # the 0/1 column is swapped, not perturbed


def test_smote_moves_rows_towards_a_same_class_row():
    gen = _gen(2)
    x = torch.randn(20, 3, generator=gen)
    y = torch.tensor([0] * 10 + [1] * 9 + [2])
    out = augmentations.Smote(k=3)(x, y, _gen())
    assert torch.equal(out[19], x[19])  # class 2 has one row: unchanged
    for i in range(19):
        same = (y == y[i]).nonzero().squeeze(1)
        same = same[same != i]
        # out_i = x_i + u (x_j - x_i) for some same-class j and u in [0, 1].
        direction = x[same] - x[i]
        u = ((out[i] - x[i]) * direction).sum(1) / direction.pow(2).sum(1)
        residual = (x[i] + u[:, None] * direction - out[i]).norm(dim=1)
        best = residual.argmin()
        assert residual[best] < 1e-4 and -1e-5 <= u[best] <= 1 + 1e-5


@pytest.mark.parametrize("cls", [augmentations.GaussianNoise, augmentations.FeatureMask,
                                 augmentations.Mixup, augmentations.Munge, augmentations.Smote])
def test_another_seed_gives_another_batch(cls):
    x = torch.randn(32, 6, generator=_gen(3))
    y = torch.randint(0, 2, (32,), generator=_gen(4))
    assert not torch.equal(cls()(x, y, _gen(0)), cls()(x, y, _gen(1)))


# --- curricula ---------------------------------------------------------------------

def test_linear_pacing_sizes_and_easiest_rows():
    difficulty = torch.randperm(100, generator=_gen()).float()
    curriculum = curricula.EasyToHard(difficulty.numpy(), 10, pacing="linear", a=0.8, b=0.2)
    expected = [20, 30, 40, 50, 60, 70, 80, 90, 100, 100]  # 100·0.2 + 100·0.8·t/8, capped
    gen = _gen()
    for epoch, size in enumerate(expected):
        rows = curriculum.indices(epoch, gen)
        assert curriculum.n_rows_at(epoch) == size and rows.numel() == size
        assert set(rows.tolist()) == set(torch.argsort(difficulty)[:size].tolist())


@pytest.mark.parametrize("pacing", curricula.PACINGS)
def test_pacing_functions_go_from_zero_to_one_and_never_decrease(pacing):
    grid = [i / 20 for i in range(21)]
    values = [curricula.pacing_fraction(pacing, x) for x in grid]
    assert values[0] == pytest.approx(0.0, abs=1e-3)
    assert values[-1] == pytest.approx(1.0, abs=1e-3)
    assert all(b >= a - 1e-12 for a, b in zip(values, values[1:], strict=False))


def test_anti_curriculum_starts_with_the_hardest_rows():
    difficulty = torch.randperm(50, generator=_gen()).float()
    curriculum = curricula.HardToEasy(difficulty.numpy(), 10, b=0.2)
    rows = curriculum.indices(0, _gen())
    assert set(rows.tolist()) == set(torch.argsort(difficulty, descending=True)[:10].tolist())


def test_random_curriculum_grows_one_fixed_random_order():
    difficulty = torch.arange(60).float()
    curriculum = curricula.RandomPaced(difficulty.numpy(), 10)
    gen = _gen()
    subsets = [set(curriculum.indices(epoch, gen).tolist()) for epoch in range(10)]
    assert all(a <= b for a, b in zip(subsets, subsets[1:], strict=False))
    assert subsets[0] != set(range(len(subsets[0])))  # not the easiest rows


def test_cyclical_schedule_and_budget():
    curriculum = curricula.Cyclical(torch.rand(80).numpy(), 9, start=0.25, end=1.0, factor=0.5)
    assert curriculum.fractions(7) == [0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 1.0]
    gen = _gen()
    runs = [curriculum.indices(epoch, gen) for epoch in range(9)]
    assert set(runs[0].tolist()) == set(torch.argsort(curriculum.difficulty)[:20].tolist())
    assert abs(sum(r.numel() for r in runs) - 9 * 80) <= 0.25 * 9 * 80


@pytest.mark.parametrize("params", [{}, {"start": 0.05, "factor": 0.9},
                                    {"start": 0.9, "end": 0.2}, {"start": 0.5, "end": 0.5}])
def test_cyclical_sees_within_a_quarter_of_a_vanilla_run(params):
    n_rows, epochs = 57, 23
    curriculum = curricula.Cyclical(torch.rand(n_rows).numpy(), epochs, **params)
    gen = _gen()
    seen = sum(curriculum.indices(epoch, gen).numel() for epoch in range(epochs))
    assert abs(seen - epochs * n_rows) <= 0.25 * epochs * n_rows


def test_self_paced_keeps_low_loss_rows_and_grows():
    curriculum = curricula.SelfPaced(torch.zeros(100).numpy(), 10, start=0.3, growth=0.2)
    gen = _gen()
    assert sorted(curriculum.indices(0, gen).tolist()) == list(range(100))
    loss = torch.rand(100, generator=_gen(5))
    first = curriculum.indices(1, gen, loss)
    assert set(first.tolist()) == set(torch.argsort(loss)[:50].tolist())
    assert curriculum.indices(3, gen, loss).numel() == 90
    with pytest.raises(ValueError, match="student_loss has 5 rows"):
        curriculum.indices(2, gen, torch.rand(5))


def test_self_paced_never_starves():
    curriculum = curricula.SelfPaced(torch.zeros(100).numpy(), 10, start=0.1, growth=0.0)
    assert curriculum.indices(5, _gen(), torch.rand(100)).numel() >= 10


def test_no_curriculum_is_a_new_permutation_each_epoch():
    curriculum = curricula.NoCurriculum(torch.zeros(30).numpy(), 3)
    gen = _gen()
    first, second = curriculum.indices(0, gen), curriculum.indices(1, gen)
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(30))
    assert not torch.equal(first, second)
