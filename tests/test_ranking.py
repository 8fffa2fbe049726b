"""The ranking rule of `recommend`: a default pipeline first unless a candidate beats it
beyond the interval (autodistill/meta/ranking.py)."""

from __future__ import annotations

import numpy as np
import pytest

from autodistill.meta.model import BOOTSTRAP_GROUPS
from autodistill.meta.ranking import default_candidates, rank_candidates
from autodistill.meta.recommender import _verdict
from autodistill.training.pipeline import PRESETS, Pipeline

PLAIN = Pipeline.from_dict(PRESETS["plain"]).to_dict()
HINTON = Pipeline.from_dict(PRESETS["hinton"]).to_dict()
PLAIN_FAST = {**PLAIN, "training": {**PLAIN["training"], "lr": 0.03}}
SOFT_CE = {**HINTON, "kd_loss": {"name": "soft_ce", "params": {"temperature": 4.0, "alpha": 0.9}}}
MSE = {**HINTON, "kd_loss": {"name": "mse_logits", "params": {"alpha": 0.5}}}
CANDIDATES = [PLAIN_FAST, SOFT_CE, PLAIN, MSE, HINTON]


class _Model:
    """Stands in for a fitted meta-model: each bootstrap group predicts ``means`` plus its
    own offset (``spread`` wide, the same for every candidate unless ``noisy``)."""

    verdict_level = 10.0

    def __init__(self, means: list[float], spread: float = 0.01,
                 noisy: list[int] | None = None) -> None:
        offsets = np.linspace(-spread, spread, BOOTSTRAP_GROUPS)
        per_group = np.tile(np.asarray(means, dtype=float), (BOOTSTRAP_GROUPS, 1))
        for i in noisy or []:
            per_group[:, i] += offsets  # this candidate's groups disagree about it
        self.per_tree = np.repeat(per_group, 5, axis=0)  # 5 trees per group

    def predict_gain_trees(self, meta, candidates, n_train=None):
        return self.per_tree

    def scores_from_gains(self, meta, teacher_valid, gains, intervals):
        return 0.8 + gains, 0.8 + intervals


def _rank(model: _Model):
    return rank_candidates(model, {}, 0.9, CANDIDATES)


def test_the_presets_are_found_among_the_candidates():
    assert default_candidates(CANDIDATES) == [2, 4]
    assert default_candidates([SOFT_CE, MSE]) == []


def test_the_plain_preset_stays_first_when_no_other_plain_pipeline_is_surely_better():
    # lr 0.03 is predicted 0.02 better, but its groups disagree by +-0.03: not beyond the
    # interval; the teacher pipelines are predicted worse.
    ranking = _rank(_Model([0.02, -0.01, 0.0, -0.02, -0.01], noisy=[0], spread=0.03))
    assert ranking.distillation_helps is False
    assert ranking.plain == 2 and ranking.order[0] == 2
    # the rest follow by predicted score
    assert ranking.order[1:] == [0, 1, 4, 3]


def test_a_plain_pipeline_surely_better_than_the_preset_replaces_it():
    ranking = _rank(_Model([0.02, -0.01, 0.0, -0.02, -0.01]))  # every group agrees
    assert ranking.distillation_helps is False
    assert ranking.plain == 0 and ranking.order[0] == 0


def test_when_distillation_helps_hinton_goes_first_unless_another_is_surely_better():
    # soft_ce is predicted higher than hinton, but not beyond the interval of their
    # difference; both beat the plain preset in every group
    ranking = _rank(_Model([0.0, 0.03, 0.0, -0.02, 0.02], noisy=[1], spread=0.02))
    assert ranking.distillation_helps is True
    assert ranking.order[0] == 4
    assert ranking.versus_plain[0] == 4
    assert ranking.versus_plain[1] == pytest.approx(0.02)
    # every group agrees that soft_ce beats hinton: it goes first
    ranking = _rank(_Model([0.0, 0.03, 0.0, -0.02, 0.02]))
    assert ranking.distillation_helps is True and ranking.order[0] == 1


def test_a_teacher_pipeline_that_beats_plain_goes_first_even_when_hinton_does_not():
    ranking = _rank(_Model([0.0, 0.0, 0.0, 0.03, -0.01]))
    assert ranking.distillation_helps is True
    assert ranking.order[0] == 3 and ranking.versus_plain[0] == 3


def test_a_teacher_at_chance_puts_the_plain_pick_first_whatever_the_model_predicts():
    model = _Model([0.0, 0.0, 0.0, 0.03, -0.01])  # a teacher pipeline surely better
    ranking = rank_candidates(model, {}, 0.9, CANDIDATES, teacher_at_chance=True)
    assert ranking.distillation_helps is False and ranking.teacher_at_chance is True
    assert ranking.order[0] == ranking.plain and CANDIDATES[ranking.plain] == PLAIN
    assert ranking.order[1] == 3  # the rest still by predicted score
    said = _verdict(ranking)
    assert said.startswith("distillation is not predicted to help here: the teacher is no "
                           "better than chance on validation")
    assert "ranked first" in said


def test_without_presets_the_highest_predicted_of_each_kind_stands_in():
    candidates = [PLAIN_FAST, SOFT_CE, MSE]
    ranking = rank_candidates(_Model([0.01, 0.0, 0.005]), {}, 0.9, candidates)
    assert ranking.plain == 0 and ranking.distillation_helps is False
    assert ranking.order == [0, 2, 1]


def test_with_no_plain_candidate_hinton_stays_first_unless_another_is_surely_better():
    candidates = [SOFT_CE, HINTON]
    ranking = rank_candidates(_Model([0.02, 0.0], noisy=[0], spread=0.04), {}, 0.9, candidates)
    assert ranking.plain is None and ranking.order == [1, 0]
    ranking = rank_candidates(_Model([0.02, 0.0]), {}, 0.9, candidates)
    assert ranking.order == [0, 1]



def test_the_models_verdict_level_decides_how_sure_it_must_be():
    # hinton predicted +0.01 over plain, its groups spread +-0.03 around that: not above 0
    # at the 10th percentile, above it at the 40th
    model = _Model([0.0, 0.0, 0.0, 0.0, 0.01], noisy=[4], spread=0.03)
    assert _rank(model).distillation_helps is False
    model.verdict_level = 40.0
    ranking = _rank(model)
    assert ranking.distillation_helps is True and ranking.order[0] == 4
    assert ranking.level == 40.0
    groups = np.linspace(-0.03, 0.03, BOOTSTRAP_GROUPS) + 0.01
    assert ranking.versus_plain[2:] == pytest.approx(
        tuple(np.percentile(groups, [40, 60], method="median_unbiased")))


def test_with_no_teacherless_candidate_the_gain_over_plain_tuned_decides_at_the_models_level():
    # hinton is predicted +0.01 over plain_tuned, its groups spread +-0.03 around that
    candidates = [SOFT_CE, HINTON]
    model = _Model([-0.02, 0.01], noisy=[1], spread=0.03)
    ranking = rank_candidates(model, {}, 0.9, candidates)
    assert ranking.distillation_helps is False
    model.verdict_level = 40.0
    ranking = rank_candidates(model, {}, 0.9, candidates)
    assert ranking.distillation_helps is True and ranking.versus_tuned[0] == 1
    groups = np.linspace(-0.03, 0.03, BOOTSTRAP_GROUPS) + 0.01
    assert ranking.versus_tuned[2:] == pytest.approx(
        tuple(np.percentile(groups, [40, 60], method="median_unbiased")))
    assert "its 40th to 60th percentile" in _verdict(ranking)


def test_the_verdict_says_when_its_out_of_bag_replay_did_not_tell_tables_apart():
    ranking = _rank(_Model([0.0, 0.0, 0.0, 0.03, -0.01]))
    assert ranking.distillation_helps is True

    def check(yes_gain, no_gain):
        return {"helps": {"tasks": 150, "hinton_gain_over_plain": yes_gain},
                "does_not_help": {"tasks": 50, "hinton_gain_over_plain": no_gain}}

    blind = _verdict(ranking, "accuracy", check(0.0031, 0.0072))
    assert blind.startswith("distillation is predicted to help")
    assert ("this verdict did not tell them apart: hinton gained +0.0031 over plain where it "
            "said yes and +0.0072 where it said no") in blind
    assert "\n" not in blind
    for told in (check(0.0072, 0.0031), None,
                 {"helps": {"tasks": 200, "hinton_gain_over_plain": 0.004},
                  "does_not_help": {"tasks": 0}}):
        assert "tell them apart" not in _verdict(ranking, "accuracy", told)


def test_the_gain_the_verdict_states_lies_within_its_own_interval():
    """A sweep found "gains +0.0010 (its 30th to 70th percentile: +0.0011 to +0.0022)": the
    point was the trees' mean, which one far-off group pulls below a narrow interval. The
    stated gain is the groups' median, read as the interval is."""
    model = _Model([0.0, 0.0, 0.0, 0.0, 0.002])
    model.per_tree[:5, 4] = -0.04  # one bootstrap group of 20 far below the others
    model.verdict_level = 30.0
    ranking = _rank(model)
    _, gain, lo, hi = ranking.versus_plain
    assert model.per_tree[:, 4].mean() < lo  # the mean would have been outside
    assert lo <= gain <= hi and gain == pytest.approx(0.002)
    assert f"gains {gain:+.4f}" in _verdict(ranking)
