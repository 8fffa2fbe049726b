"""The shipped knowledge base (suite 2) trains with the training recipe, suite 1 stays as
shipped, and the meta-model's pipeline encoding covers the recipe's settings
(:mod:`autodistill.meta.kb_build`, :mod:`autodistill.meta.task_suite`,
:mod:`autodistill.meta.model`)."""

from __future__ import annotations

import json
import math

import optuna
import pytest

from autodistill.meta import knowledge
from autodistill.meta.candidates import candidate_pipelines
from autodistill.meta.encoding import ENCODED_TRAINING, RECIPE_TRAINING, PipelineEncoder
from autodistill.meta.kb_build import (
    PORTFOLIO,
    RECIPE_PORTFOLIO,
    portfolio,
    portfolio_params,
    study_lines,
)
from autodistill.meta.knowledge import shipped_space
from autodistill.meta.model import MetaRow
from autodistill.meta.task_suite import KB_SPACE, KBTask, kb_space
from autodistill.store.record import StudyRecord, write_study_record
from autodistill.study.space_files import load_space
from autodistill.training.pipeline import PRESETS, Pipeline

SMALL_ROWS, LARGE_ROWS = 180, 12_000  # training rows of a 300-row and a 20,000-row table


def _fixed(space, pipeline: Pipeline) -> Pipeline:
    """What a study of ``space`` runs when ``pipeline`` is enqueued."""
    return space.sample(optuna.trial.FixedTrial(space.params_for(pipeline)))


# -- the suite-2 space and portfolio ------------------------------------------------------------

def test_suite_two_searches_kb_components_with_the_plain_spaces_training_knobs():
    kb, kb2, plain = load_space("kb"), load_space(kb_space(2)), load_space("plain")
    assert kb_space(1) == KB_SPACE == "kb" and kb_space(2) == "kb2"
    # the teacher pipelines get the same training freedom as plain_tuned ...
    assert kb2.training == plain.training
    assert {"steps", "schedule"} <= set(kb2.training)
    # ... over the components suite 1 searched (edit kb.yaml and kb2.yaml together)
    assert kb2.families == kb.families
    with pytest.raises(ValueError, match="suite 3"):
        kb_space(3)


def test_suite_two_portfolio_is_suite_ones_methods_trained_with_the_recipe():
    recipe = portfolio(2)
    assert len(recipe) == len(PORTFOLIO) == len(RECIPE_PORTFOLIO)
    families = ("kd_loss", "mi_objective", "augmentation", "curriculum")
    for old, new in zip(portfolio(1), recipe, strict=True):
        assert [old.component(f) for f in families] == [new.component(f) for f in families]
        assert new.training["epochs"] == new.training["batch_size"] == "auto"
        assert new.training["patience"] == "auto" and new.training["schedule"] == "constant"
        assert new.training["lr"] == old.training["lr"]
        # a smaller batch at fixed epochs meant twice the steps: so it does now
        assert new.training["steps"] == (8000 if old.training["batch_size"] == 64 else 4000)
    # the presets are the recipe's defaults, as defined
    assert recipe[0] == Pipeline.from_dict(PRESETS["plain"])
    assert recipe[1] == Pipeline.from_dict(PRESETS["hinton"])
    # every pipeline runs exactly as written in the suite-2 space, and is recognised
    space = load_space(kb_space(2))
    assert [_fixed(space, p) for p in recipe] == recipe
    params = portfolio_params(2)
    assert len({json.dumps(p, sort_keys=True) for p in params}) == len(params)


@pytest.mark.parametrize("n_train", [SMALL_ROWS, LARGE_ROWS])
def test_suite_two_portfolio_resolves_to_a_steps_budget_on_small_and_large_tables(n_train):
    for pipeline in portfolio(2):
        training = pipeline.for_rows(n_train).training
        batch = 16 if n_train == SMALL_ROWS else 256  # about 32 batches an epoch, in [16, 256]
        assert training["batch_size"] == batch
        batches = math.ceil(n_train / batch)
        assert training["epochs"] == min(max(math.ceil(training["steps"] / batches), 10), 1000)
        assert training["patience"] == max(10, math.ceil(training["epochs"] / 4))
    plain = portfolio(2)[0].for_rows(n_train).training
    # a tiny table gets hundreds of short epochs, a large one a few dozen long ones
    assert plain["epochs"] == (334 if n_train == SMALL_ROWS else 86)


def test_suite_one_portfolio_and_space_are_unchanged():
    assert [p.to_dict() for p in portfolio()] == [
        Pipeline.from_dict(doc).to_dict() for doc in PORTFOLIO]
    kb = load_space("kb")
    assert "steps" not in kb.training and "epochs" in kb.training
    assert portfolio_params() == [kb.params_for(p) for p in portfolio()]
    # the shipped pipelines (epoch-based) still run as recorded in the kb space
    assert _fixed(kb, portfolio()[2]).training["epochs"] == 60


# -- which space the recommender samples --------------------------------------------------------

def _task_record(space: str) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    write_study_record(study, StudyRecord(
        dataset="synthetic:moons?n=300", dataset_name="moons", fingerprint="f", teacher="gbdt",
        student="mlp:4", split_seed=0, space=space, n_rows=300, n_features=2, n_classes=2,
        teacher_accuracy=0.9, teacher_valid_accuracy=0.95, meta_features={"log_rows": 2.5}))
    study.add_trial(optuna.trial.create_trial(value=0.9, user_attrs={
        "pipeline": portfolio(2)[0].for_rows(SMALL_ROWS).to_dict(), "test_accuracy": 0.8}))
    return study


def test_a_suite_two_task_record_names_its_space_and_the_recommender_samples_it(monkeypatch):
    task = KBTask("synthetic:moons?n=300", "mlp:4", "gbdt")
    record = study_lines(task, _task_record("kb2"), portfolio_params(2))[0]
    assert record["space"] == "kb2"
    suite_one = {k: v for k, v in record.items() if k != "space"}  # suite 1 names none
    assert shipped_space(json.dumps(suite_one) + "\n") == "kb"
    assert shipped_space(json.dumps(record) + "\n") == "kb2"

    # evidence for every portfolio component, from pre-recipe trials
    seen = [{**p.to_dict(), "training": LEGACY["training"]} for p in portfolio()]
    rows = [MetaRow("t", {}, doc, 0.5, None, 0.9) for doc in seen]

    def drawn() -> list[dict]:
        return [d for d in candidate_pipelines(rows, samples=200) if d not in seen]

    monkeypatch.setattr(knowledge, "_shipped_text", lambda name: json.dumps(record) + "\n")
    suite_two = drawn()
    assert suite_two and {d["training"]["epochs"] for d in suite_two} == {"auto"}
    assert all("steps" in d["training"] for d in suite_two)
    monkeypatch.setattr(knowledge, "_shipped_text", lambda name: "")
    suite_one = drawn()
    assert suite_one and all(isinstance(d["training"]["epochs"], int) for d in suite_one)


# -- the meta-model's pipeline encoding ---------------------------------------------------------

LEGACY = {"kd_loss": {"name": "none", "params": {}},
          "training": {"epochs": 60, "lr": 0.003, "batch_size": 128, "weight_decay": 1e-4,
                       "patience": 10}}


def test_a_pre_recipe_knowledge_base_is_encoded_as_before():
    encoder = PipelineEncoder([LEGACY])
    assert [c for c in encoder.columns if c.startswith("training.")] == [
        f"training.{k}" for k in ENCODED_TRAINING]


def test_the_encoding_covers_the_recipe_and_resolves_auto_for_the_task():
    recipe = portfolio(2)[0]
    trained = recipe.for_rows(SMALL_ROWS).to_dict()  # as a trial stores it
    encoder = PipelineEncoder([LEGACY, trained])
    columns = [c for c in encoder.columns if c.startswith("training.")]
    assert columns == [f"training.{k}" for k in (*ENCODED_TRAINING, *RECIPE_TRAINING)]
    at = {c: i - len(encoder.columns) for i, c in enumerate(encoder.columns)}

    # a candidate leaving settings to the data encodes as it would run on this task ...
    candidate = recipe.to_dict()
    assert encoder.encode(candidate, SMALL_ROWS) == encoder.encode(trained)
    assert encoder.encode(candidate, LARGE_ROWS) == encoder.encode(
        recipe.for_rows(LARGE_ROWS).to_dict())
    assert encoder.encode(candidate, SMALL_ROWS) != encoder.encode(candidate, LARGE_ROWS)
    # ... and, without the task's rows, "auto" is -1
    assert encoder.encode(candidate)[at["training.epochs"]] == -1.0

    steps = encoder.encode(trained)[at["training.steps"]]
    longer = encoder.encode({**trained, "training": {**trained["training"], "steps": 8000}})
    assert 0 < steps < longer[at["training.steps"]]
    cosine = encoder.encode({**trained, "training": {**trained["training"],
                                                     "schedule": "cosine"}})
    assert encoder.encode(trained)[at["training.schedule"]] == 0.0
    assert cosine[at["training.schedule"]] > 0.0
    # the lr's end point: no decay under a constant lr, 1% of it under this cosine
    assert encoder.encode(trained)[at["training.final_lr_fraction"]] == 1.0
    assert cosine[at["training.final_lr_fraction"]] == pytest.approx(0.01)
    # a pre-recipe trial: constant lr, no decay, no stated steps budget
    old = encoder.encode(LEGACY)
    assert [old[at[f"training.{k}"]] for k in RECIPE_TRAINING] == [-1.0, 0.0, 1.0]
