"""Pipeline JSON: presets, defaults, validation errors that name the problem."""

from __future__ import annotations

import json

import pytest

from autodistill.errors import PipelineError
from autodistill.training.pipeline import PRESETS, Pipeline, load_pipeline


def test_presets_are_valid_and_round_trip():
    for name in PRESETS:
        pipeline = load_pipeline(name)
        assert Pipeline.from_dict(pipeline.to_dict()) == pipeline
    hinton = load_pipeline("hinton").to_dict()
    assert hinton["kd_loss"] == {"name": "hinton", "params": {"temperature": 4.0, "alpha": 0.9}}
    assert load_pipeline("plain").kd_loss.name == "none"
    assert not load_pipeline("plain").uses_teacher
    assert load_pipeline("hinton").uses_teacher


def test_design_document_example_is_accepted():
    doc = {"kd_loss": {"name": "hinton", "params": {"temperature": 4.0, "alpha": 0.9}},
           "mi_objective": {"name": "none", "params": {}},
           "augmentation": {"name": "mixup", "params": {"alpha": 0.2}},
           "curriculum": {"name": "cyclical", "params": {"start": 0.25, "end": 1.0, "factor": 0.5}},
           "training": {"epochs": 60, "lr": 0.003, "batch_size": 128, "weight_decay": 0.0001}}
    pipeline = Pipeline.from_dict(doc)
    assert pipeline.to_dict()["augmentation"] == doc["augmentation"]
    assert pipeline.training["epochs"] == 60


def test_defaults_are_filled_in():
    pipeline = Pipeline.from_dict({"kd_loss": {"name": "hinton"}})
    assert pipeline.kd_loss.params == {"temperature": 4.0, "alpha": 0.9}
    assert pipeline.curriculum.name == "none"
    # The training recipe: sizes left to the data, resolved per table.
    assert pipeline.training["batch_size"] == "auto"
    assert pipeline.for_rows(96).training["batch_size"] == 16


def test_json_file_and_string(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(PRESETS["hinton"]))
    assert load_pipeline(str(path)) == load_pipeline("hinton")
    assert load_pipeline(json.dumps(PRESETS["hinton"])) == load_pipeline("hinton")


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"kd_loss": {"name": "hintn"}}, "unknown kd_loss 'hintn'; installed: dkd, hinton"),
        ({"kd_loss": {"name": "hinton", "params": {"temprature": 2}}}, "unknown param"),
        ({"kd_loss": {"name": "hinton", "params": {"temperature": 50.0}}}, "outside"),
        ({"kd_loss": {"name": "hinton", "params": {"alpha": "high"}}}, "must be a number"),
        ({"training": {"epochs": 0}}, "training: 'epochs'=0 is outside"),
        ({"trainig": {}}, "unknown key(s) trainig"),
    ],
)
def test_invalid_pipelines_name_the_problem(doc, expected):
    with pytest.raises(PipelineError) as info:
        Pipeline.from_dict(doc)
    assert expected in str(info.value)


def test_not_a_pipeline():
    with pytest.raises(PipelineError, match="not a preset"):
        load_pipeline("no-such-file.json")
    with pytest.raises(PipelineError, match="not valid JSON"):
        load_pipeline("{not json")
