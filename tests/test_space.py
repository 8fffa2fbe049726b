"""Search spaces: conditional sampling, YAML restriction, errors, plugin widening."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch

from autodistill.components import FAMILIES, KDLoss
from autodistill.errors import SpaceError
from autodistill.params import Float
from autodistill.registry.manager import get_registry, register_for_test
from autodistill.study.space import Fixed
from autodistill.study.space_files import load_space, shipped_spaces
from autodistill.training.pipeline import TRAINING_PARAMS, load_pipeline


def _write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _sample(space, n: int, seed: int = 0) -> list[tuple[dict, object]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        pipeline = space.sample(trial)
        out.append((trial.params, pipeline))
        study.tell(trial, 0.0)
    return out


def test_shipped_spaces_load() -> None:
    assert {"default", "fast"} <= set(shipped_spaces())
    default, fast = load_space("default"), load_space("fast")
    registry = get_registry()
    for family in FAMILIES:
        assert default.components(family) == registry.names(family)
        assert set(fast.components(family)) <= set(default.components(family))
    assert fast.training["epochs"].high <= 40


def test_component_params_are_sampled_only_when_chosen() -> None:
    space = load_space("default")
    for params, pipeline in _sample(space, 40):
        for family in FAMILIES:
            chosen = params[family]
            assert pipeline.component(family).name == chosen
            for key in params:
                if key.startswith(f"{family}."):
                    assert key.split(".")[1] == chosen, key
        # Every declared param of the chosen kd_loss is sampled under its full name.
        kd = pipeline.kd_loss
        for pname in kd.params:
            assert params[f"kd_loss.{kd.name}.{pname}"] == kd.params[pname]
        # the default space searches the training recipe's knobs (epochs and patience
        # follow from the steps budget, so they are fixed to "auto", not sampled)
        assert {k for k in params if k.startswith("training.")} == {
            "training.steps", "training.lr", "training.schedule", "training.batch_size",
            "training.weight_decay"
        }
        assert pipeline.training["epochs"] == "auto" and pipeline.training["patience"] == "auto"


def test_yaml_restricts_narrows_and_fixes(tmp_path: Path) -> None:
    path = _write(tmp_path, """
kd_loss:
  components: [hinton, dkd]
  params:
    hinton:
      temperature: {low: 2.0, high: 3.0}
      alpha: 0.5
mi_objective: {components: [none]}
augmentation: {exclude: [smote, munge]}
curriculum:
  components: [curriculum]
  params:
    curriculum: {pacing: {choices: [linear, root]}}
training:
  epochs: {low: 5, high: 7}
  batch_size: {value: 64}
  patience: 3
""")
    space = load_space(path)
    assert space.components("kd_loss") == ["hinton", "dkd"]
    assert "smote" not in space.components("augmentation")
    assert "mixup" in space.components("augmentation")
    for params, pipeline in _sample(space, 30):
        assert pipeline.kd_loss.name in ("hinton", "dkd")
        if pipeline.kd_loss.name == "hinton":
            assert 2.0 <= pipeline.kd_loss.params["temperature"] <= 3.0
            assert pipeline.kd_loss.params["alpha"] == 0.5
            assert "kd_loss.hinton.alpha" not in params  # fixed values are not searched
        assert pipeline.curriculum.params["pacing"] in ("linear", "root")
        assert 5 <= pipeline.training["epochs"] <= 7
        assert pipeline.training["batch_size"] == 64
        assert pipeline.training["patience"] == 3


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("kd_los: {components: all}", "kd_los"),
        ("kd_loss: {componets: [hinton]}", "kd_loss.componets"),
        ("kd_loss: {params: {hinton: {temprature: 2.0}}}", "kd_loss.params.hinton.temprature"),
        ("kd_loss: {params: {hinton: {temperature: {low: 0.5, high: 2.0}}}}",
         "kd_loss.params.hinton.temperature"),
        ("kd_loss: {params: {hinton: {temperature: {low: 3.0, high: 2.0}}}}",
         "kd_loss.params.hinton.temperature"),
        ("kd_loss: {params: {hinton: {alpha: 2.0}}}", "alpha"),
        ("kd_loss: {params: {hinton: {temperature: {lo: 2.0}}}}", "temperature.lo"),
        ("kd_loss: {components: [no_such_loss]}", "no_such_loss"),
        ("training: {epochs: {low: 1, high: 10}}", "training.epochs"),
        ("training: {epochs: {low: 5.5, high: 10}}", "training.epochs"),
        ("training: {batch_size: {choices: [48]}}", "training.batch_size"),
        ("training: {optimizer: adam}", "training.optimizer"),
        ("curriculum: {components: [none], exclude: [none]}", "curriculum"),
    ],
)
def test_bad_key_or_range_is_one_line_error_naming_file_and_key(
    tmp_path: Path, text: str, named: str
) -> None:
    path = _write(tmp_path, text, name="bad.yaml")
    with pytest.raises(SpaceError) as info:
        load_space(path)
    message = str(info.value)
    assert "\n" not in message
    assert "bad.yaml" in message
    assert named in message


def test_unknown_space_name_lists_shipped() -> None:
    with pytest.raises(SpaceError, match="fast"):
        load_space("no-such-space")


def test_invalid_yaml_is_a_space_error(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="not valid YAML"):
        load_space(_write(tmp_path, "kd_loss: [unclosed"))


def test_plugin_installed_later_widens_every_shipped_space_with_no_edit() -> None:
    class WidenedLoss(KDLoss):
        """A throw-away KD loss for this test."""

        name = "test_widened_loss"
        params = {"gain": Float(0.5, 2.0, default=1.0)}

        def forward(self, student_logits, teacher_logits, targets):
            return torch.nn.functional.cross_entropy(student_logits, targets) * self.gain

    assert "test_widened_loss" not in load_space("default").components("kd_loss")
    remove = register_for_test("kd_loss", WidenedLoss)
    try:
        space = load_space("default")
        assert "test_widened_loss" in space.components("kd_loss")
        # The shipped spaces are "all but the costly ones": a new component joins them too.
        assert "test_widened_loss" in load_space("fast").components("kd_loss")
        assert "test_widened_loss" in load_space("kb").components("kd_loss")
        seen = [p for p, pipe in _sample(space, 60) if pipe.kd_loss.name == "test_widened_loss"]
        assert seen and all(0.5 <= p["kd_loss.test_widened_loss.gain"] <= 2.0 for p in seen)
    finally:
        remove()


def test_teacher_without_hidden_features_leaves_only_mi_none(tmp_path: Path) -> None:
    assert load_space("default", has_hidden=False).components("mi_objective") == ["none"]
    path = _write(tmp_path, "mi_objective: {components: [infonce]}")
    with pytest.raises(SpaceError, match="hidden"):
        load_space(path, has_hidden=False)


def test_params_for_reproduces_presets_clipped_into_the_space() -> None:
    space = load_space("fast")
    hinton = load_pipeline("hinton")
    params = space.params_for(hinton)
    assert params["kd_loss"] == "hinton"
    assert params["kd_loss.hinton.temperature"] == 4.0
    assert params["training.epochs"] == 40  # the preset's 60 epochs, clipped to fast's range
    study = optuna.create_study()
    study.enqueue_trial(params)
    pipeline = space.sample(study.ask())
    assert pipeline.kd_loss == hinton.kd_loss
    assert pipeline.training["epochs"] == 40
    assert isinstance(space.training["patience"], Fixed)


def test_params_for_refuses_a_component_outside_the_space(tmp_path: Path) -> None:
    space = load_space(_write(tmp_path, "kd_loss: {components: [dkd]}"))
    with pytest.raises(SpaceError, match="hinton"):
        space.params_for(load_pipeline("hinton"))


def test_default_training_ranges_lie_within_the_declarations() -> None:
    space = load_space("default")
    for name, decl in space.training.items():
        if hasattr(decl, "low"):
            assert TRAINING_PARAMS[name].low <= decl.low <= decl.high <= TRAINING_PARAMS[name].high


def test_a_space_that_fixes_every_choice_says_so(tmp_path: Path, caplog) -> None:
    from autodistill.study.run import run_search

    pinned = tmp_path / "pinned.yaml"
    pinned.write_text("kd_loss: {components: [hinton], params: {hinton: {temperature: 2.0, "
                      "alpha: 0.5}}}\nmi_objective: {components: [none]}\n"
                      "augmentation: {components: [none]}\ncurriculum: {components: [none]}\n"
                      "training: {epochs: 5, lr: 0.01, batch_size: 32, weight_decay: 0.0}\n")
    assert load_space(pinned).is_fixed
    assert not load_space("fast").is_fixed
    loose = tmp_path / "loose.yaml"
    loose.write_text(pinned.read_text().replace("alpha: 0.5", "alpha: {low: 0.1, high: 0.9}"))
    assert not load_space(loose).is_fixed
    with caplog.at_level("WARNING"):
        run_search("builtin:iris", teacher="gbdt", space=str(pinned), trials=2,
                   storage=f"sqlite:///{tmp_path / 's.db'}", study="pinned", quiet=True,
                   handle_signals=False)
    assert (f"space '{pinned}' fixes every choice: its 2 trials would each train the same "
            "pipeline with the same seed; --trials 1 is enough") in caplog.text
