"""The deployable student: model.onnx + model.json, and `autodistill predict` on raw rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from cli_runner import run_cli

from autodistill.data.dataset import load_dataset
from autodistill.training.engine import train_student
from autodistill.training.model_dir import load_model, save_model
from autodistill.training.pipeline import load_pipeline


def mixed_table(n: int = 500, seed: int = 0) -> pd.DataFrame:
    """Numbers with gaps, strings with gaps, a 40-level column (infrequent slot), string
    labels: everything the raw-column path must carry."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "income": rng.normal(50, 10, n).round(2),
        "age": rng.integers(18, 90, n).astype(float),
        "colour": rng.choice(["red", "green", "blue"], n).astype(object),
        "city": rng.choice([f"town{i}" for i in range(40)], n),
    })
    frame.loc[rng.random(n) < 0.15, "income"] = np.nan
    frame.loc[rng.random(n) < 0.10, "colour"] = None
    score = frame["income"].fillna(50) / 10 + (frame["colour"] == "red") * 2 - 5
    frame["label"] = np.where(score > 0.5, "keep", np.where(score > -0.7, "maybe", "drop"))
    return frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A plain student on the mixed table, its model directory and the dataset."""
    root = tmp_path_factory.mktemp("export")
    path = root / "data.csv"
    mixed_table().to_csv(path, index=False)
    dataset = load_dataset(str(path), target="label")
    pipeline = load_pipeline('{"kd_loss": {"name": "none"}, "training": {"epochs": 15}}')
    result = train_student(pipeline, dataset, None, student="mlp:16", seed=0, device="cpu")
    out = save_model(root / "model", dataset, result.student, pipeline=pipeline.to_dict(),
                     student_spec="mlp:16")
    return dataset, result, out, root


def test_model_json_describes_inputs_classes_and_versions(trained):
    dataset, _, out, _ = trained
    doc = json.loads((out / "model.json").read_text())
    assert doc["classes"] == ["drop", "keep", "maybe"]
    kinds = {i["name"]: i["kind"] for i in doc["inputs"]}
    assert kinds == {"income": "numeric", "age": "numeric", "colour": "categorical",
                     "city": "categorical"}
    colour = next(i for i in doc["inputs"] if i["name"] == "colour")
    assert set(colour["categories"]) == {"red", "green", "blue", "<missing>"}
    assert colour["unseen_as"] == "zeros"
    city = next(i for i in doc["inputs"] if i["name"] == "city")
    assert city["unseen_as"] == "infrequent"  # 40 levels > the 20 kept
    assert {"onnxruntime", "torch", "autodistill"} <= set(doc["versions"])
    assert doc["pipeline"]["kd_loss"]["name"] == "none"
    assert doc["export_check"]["max_abs_difference"] <= 1e-5


def test_predict_cli_equals_the_in_process_student_on_raw_test_rows(trained, tmp_path):
    dataset, result, out, _ = trained
    raw_test = dataset.raw.split("test")
    raw_test["label"] = np.asarray(dataset.classes)[dataset.y_test]
    new = tmp_path / "new.csv"
    raw_test.to_csv(new, index=False)
    done = run_cli("predict", str(out), str(new), "--proba", "--out", str(tmp_path / "p.csv"))
    assert done.returncode == 0, done.stderr
    preds = pd.read_csv(tmp_path / "p.csv")
    with torch.no_grad():
        expected = torch.softmax(result.student(torch.as_tensor(dataset.X_test))[0], 1).numpy()
    got = preds[[f"proba_{c}" for c in dataset.classes]].to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert list(preds["prediction"]) == list(np.asarray(dataset.classes)[expected.argmax(1)])
    accuracy = float((preds["prediction"] == raw_test["label"]).mean())
    assert accuracy == pytest.approx(result.test_accuracy)
    assert f"accuracy {result.test_accuracy:.4f}" in done.stderr


@pytest.mark.parametrize("name", ["p.tsv", "p.csv.gz", "p.xlsx", "p.parquet"])
def test_predictions_are_written_in_the_format_their_name_says(trained, tmp_path, name):
    """--out p.tsv is tab-separated, p.csv.gz gzipped, p.xlsx a workbook: each reads back
    as the same predictions as p.csv."""
    _, _, out, _ = trained
    new = tmp_path / "new.csv"
    trained[0].raw.split("test").to_csv(new, index=False)
    done = run_cli("predict", str(out), str(new), "--proba", "--out", str(tmp_path / "p.csv"))
    assert done.returncode == 0, done.stderr
    expected = pd.read_csv(tmp_path / "p.csv")
    done = run_cli("predict", str(out), str(new), "--proba", "--out", str(tmp_path / name))
    assert done.returncode == 0, done.stderr
    path = tmp_path / name
    got = (pd.read_parquet(path) if name.endswith("parquet") else pd.read_excel(path)
           if name.endswith("xlsx") else pd.read_csv(path, sep="\t" if ".tsv" in name else ","))
    pd.testing.assert_frame_equal(got, expected, check_exact=False, atol=1e-6, check_dtype=False)


def test_predict_refuses_an_out_it_cannot_write_before_scoring(trained, tmp_path):
    _, _, out, _ = trained
    new = tmp_path / "new.csv"
    trained[0].raw.split("test").to_csv(new, index=False)
    done = run_cli("predict", str(out), str(new), "--out", str(tmp_path / "p.json"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"Error: --out {tmp_path / 'p.json'}: cannot write predictions as '.json'; name a .csv "
        "or .tsv (maybe .gz, .bz2, .xz or .zip), .xlsx or .parquet file"]
    assert not (tmp_path / "p.json").exists()


def test_predict_scores_only_the_rows_that_have_a_label(trained, tmp_path):
    dataset, _, out, _ = trained
    raw_test = dataset.raw.split("test")
    raw_test["label"] = np.asarray(dataset.classes, dtype=object)[dataset.y_test]
    new = tmp_path / "new.csv"
    raw_test.to_csv(new, index=False)
    scored = json.loads(run_cli("predict", str(out), str(new), "--json").stdout)
    predictions = np.asarray(scored["predictions"]["prediction"])
    assert scored["unlabelled_rows"] == 0
    raw_test.drop(columns="label").to_csv(tmp_path / "unlabelled.csv", index=False)
    no_label = json.loads(run_cli("predict", str(out), str(tmp_path / "unlabelled.csv"),
                                  "--json").stdout)  # no label column: nothing left out
    assert no_label["accuracy"] is None and no_label["unlabelled_rows"] is None
    raw_test.loc[raw_test.index[:10], "label"] = None  # unlabelled rows to be scored
    raw_test.to_csv(new, index=False)
    done = run_cli("predict", str(out), str(new), "--json")
    assert done.returncode == 0, done.stderr
    partial = json.loads(done.stdout)
    assert partial["rows"] == len(raw_test) and partial["unlabelled_rows"] == 10
    labelled = raw_test["label"].notna().to_numpy()
    assert partial["accuracy"] == pytest.approx(
        float((predictions[labelled] == raw_test["label"][labelled]).mean()))
    done = run_cli("predict", str(out), str(new))
    assert "(10 rows without a label left out)" in done.stderr


def test_parquet_in_and_out_match_csv(trained, tmp_path):
    dataset, _, out, _ = trained
    raw_test = dataset.raw.split("test")
    raw_test.to_parquet(tmp_path / "new.parquet", index=False)
    model = load_model(out)
    done = run_cli("predict", str(out), str(tmp_path / "new.parquet"), "--out",
                   str(tmp_path / "p.parquet"))
    assert done.returncode == 0, done.stderr
    got = pd.read_parquet(tmp_path / "p.parquet")["prediction"].tolist()
    assert got == model.predict(raw_test).tolist()


def test_missing_column_is_one_line_naming_it(trained, tmp_path):
    dataset, _, out, _ = trained
    dataset.raw.split("test").drop(columns=["colour"]).to_csv(tmp_path / "new.csv", index=False)
    done = run_cli("predict", str(out), str(tmp_path / "new.csv"))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'colour'" in lines[0] and "Traceback" not in done.stderr


def test_unseen_category_is_the_documented_fallback_and_strict_refuses(trained, tmp_path):
    dataset, _, out, _ = trained
    rows = dataset.raw.split("test").head(5).copy()
    rows["colour"] = ["purple", "red", "red", "red", "red"]
    rows.to_csv(tmp_path / "new.csv", index=False)
    done = run_cli("predict", str(out), str(tmp_path / "new.csv"), "--proba")
    assert done.returncode == 0, done.stderr
    assert "colour" in done.stderr and "purple" in done.stderr and "all-zero" in done.stderr
    # the fallback is the training encoding: the same probabilities as the encoded row
    encoded = dataset.preprocessor.transform(
        rows.assign(colour=["purple", "red", "red", "red", "red"]).astype({"colour": object}))
    with torch.no_grad():
        expected = torch.softmax(
            trained[1].student(torch.as_tensor(encoded, dtype=torch.float32))[0], 1).numpy()
    got = load_model(out).predict_proba(rows)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    strict = run_cli("predict", str(out), str(tmp_path / "new.csv"), "--strict")
    assert strict.returncode == 2 and "purple" in strict.stderr


def test_not_a_model_directory_is_one_line(tmp_path):
    done = run_cli("predict", str(tmp_path), str(tmp_path / "x.csv"))
    assert done.returncode == 2 and "model.json" in done.stderr


@pytest.mark.slow
def test_distill_out_then_predict_on_raw_wine_rows(tmp_path):
    """The issue's report: the saved student must score raw wine rows as it scored the split."""
    done = run_cli("distill", "builtin:wine", "--pipeline", "hinton", "--json", "--out",
                   str(tmp_path / "m"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    dataset = load_dataset("builtin:wine")
    test = dataset.raw.split("test").assign(target=np.asarray(dataset.classes)[dataset.y_test])
    test.to_csv(tmp_path / "test.csv", index=False)
    scored = run_cli("predict", str(tmp_path / "m"), str(tmp_path / "test.csv"), "--json",
                     "--out", str(tmp_path / "p.csv"))
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["accuracy"] == pytest.approx(report["student"]["accuracy"])


@pytest.mark.slow
def test_search_out_writes_the_best_trial_retrained(tmp_path):
    done = run_cli("search", "builtin:iris", "--space", "fast", "--trials", "2", "--json",
                   "--storage", f"sqlite:///{tmp_path / 's.db'}", "--out", str(tmp_path / "m"))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["export"]["trial"] == summary["best"]["number"]
    assert summary["export"]["test_accuracy"] == pytest.approx(summary["best"]["test_accuracy"])
    assert json.loads((tmp_path / "m" / "model.json").read_text())["pipeline"] == \
        summary["best"]["pipeline"]


class _GatedStudent(torch.nn.Module):
    """A student that is no MLP: a gated layer, then a head (a plugin family's module)."""

    def __init__(self, n_features: int, n_classes: int, width: int) -> None:
        super().__init__()
        self.value, self.gate = torch.nn.Linear(n_features, width), torch.nn.Linear(n_features, width)
        self.head = torch.nn.Linear(width, n_classes)
        self.hidden_dim, self.n_features, self.n_classes = width, n_features, n_classes

    def forward(self, x):
        hidden = torch.tanh(self.value(x)) * torch.sigmoid(self.gate(x))
        return self.head(hidden), hidden


def test_a_plugin_student_exports_and_scores_as_trained(trained, tmp_path):
    """A student of a family a plugin registers leaves the tool as the MLP does: the
    model directory scores the raw test rows as the trained student does."""
    from autodistill.registry.manager import register_for_test
    from autodistill.students import StudentFamily, parse_widths
    from autodistill.training.model_dir import load_model

    class Gated(StudentFamily):
        """A gated one-layer student (a test family)."""

        name = "gated"
        format = "gated:WIDTH"

        def __init__(self, args):
            super().__init__(args)
            (self.width,) = parse_widths(args)

        def build(self, n_features, n_classes):
            return _GatedStudent(n_features, n_classes, self.width)

    dataset = trained[0]
    pipeline = load_pipeline('{"kd_loss": {"name": "none"}, "training": {"epochs": 10}}')
    remove = register_for_test("student", Gated)
    try:
        result = train_student(pipeline, dataset, None, student="gated:8", seed=0, device="cpu")
    finally:
        remove()
    assert isinstance(result.student, _GatedStudent)
    out = save_model(tmp_path / "m", dataset, result.student, student_spec="gated:8")
    assert json.loads((out / "model.json").read_text())["student"] == "gated:8"
    got = load_model(out).predict_proba(dataset.raw.split("test"))
    with torch.no_grad():
        expected = torch.softmax(result.student(torch.as_tensor(dataset.X_test))[0], 1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("written", "order"), [
    ("%Y-%m-%d", "iso"), ("%d/%m/%Y", "dmy"), ("%m/%d/%y", "mdy"), ("%d.%m.%Y %H:%M", "dmy"),
    ("%Y/%m/%d", "ymd"), ("%d %b %Y", "d_month_y"), ("%d-%b-%y %H:%M", "d_month_y"),
    ("%B %d, %Y", "month_d_y")])
def test_dates_are_numbers_in_training_and_in_the_exported_model(tmp_path, written, order):
    """A column of dates (ISO, numbers only in the order the cells show, or with English
    month names; with gaps and a stray cell) is a number, days since 1970, not one category
    per day; the exported model reads the same dates alike, as text from a file, as pandas
    datetimes or as ISO text, and its probabilities equal the in-process student's."""
    rng = np.random.default_rng(0)
    days = rng.integers(0, 730, 400)
    when = (pd.Timestamp("2020-01-01") + pd.to_timedelta(days, unit="D")).strftime(written)
    frame = pd.DataFrame({"when": when.astype(object), "x": rng.normal(size=400).round(3)})
    frame["label"] = np.where(days > 365, "late", "early")
    frame.loc[[3, 7], "when"] = None
    frame.loc[11, "when"] = "unknown"
    path = tmp_path / "dated.csv"
    frame.to_csv(path, index=False)
    dataset = load_dataset(str(path), target="label")
    assert dataset.raw.dates == {"when": order} and "when" in dataset.raw.numeric
    first = dataset.raw.frame.index[dataset.raw.frame["when"].notna()][0]
    assert dataset.raw.frame["when"].iloc[first] == when[first]  # the raw cells stay text
    assert dataset.n_features == 2  # not a one-hot of the days
    pipeline = load_pipeline('{"kd_loss": {"name": "none"}, "training": {"epochs": 30}}')
    result = train_student(pipeline, dataset, None, student="mlp:16", seed=0, device="cpu")
    assert result.test_accuracy > 0.9  # the label is a date threshold: a number learns it
    out = save_model(tmp_path / "model", dataset, result.student, pipeline=pipeline.to_dict(),
                     student_spec="mlp:16")
    model = load_model(out)
    assert model.schema.dates == {"when": order}
    raw_test = dataset.raw.split("test")
    with torch.no_grad():
        expected = torch.softmax(result.student(torch.as_tensor(dataset.X_test))[0], 1).numpy()
    np.testing.assert_allclose(model.predict_proba(raw_test), expected, atol=1e-5, rtol=0)
    as_datetimes = raw_test.assign(when=pd.to_datetime(raw_test["when"], errors="coerce",
                                                       format=written))
    np.testing.assert_allclose(model.predict_proba(as_datetimes), expected, atol=1e-5, rtol=0)
    # new rows may write ISO dates though training read another order: one reading only
    as_iso = raw_test.assign(when=as_datetimes["when"].dt.strftime("%Y-%m-%d %H:%M"))
    np.testing.assert_allclose(model.predict_proba(as_iso), expected, atol=1e-5, rtol=0)


def test_a_parquet_datetime_column_is_a_date_like_its_iso_text(tmp_path):
    """The same dates stored as Parquet datetimes and as CSV text encode alike, so a
    model trained from either file scores the other."""
    rng = np.random.default_rng(1)
    when = pd.Timestamp("2021-03-01") + pd.to_timedelta(rng.integers(0, 500, 300), unit="D")
    frame = pd.DataFrame({"when": when, "x": rng.normal(size=300).round(3),
                          "label": rng.choice(["a", "b"], 300)})
    frame.to_parquet(tmp_path / "t.parquet")
    frame.assign(when=frame["when"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "t.csv",
                                                                      index=False)
    from_parquet = load_dataset(str(tmp_path / "t.parquet"), target="label")
    from_csv = load_dataset(str(tmp_path / "t.csv"), target="label")
    assert from_parquet.raw.dates == from_csv.raw.dates == {"when": "iso"}
    np.testing.assert_array_equal(from_parquet.X_train, from_csv.X_train)


def test_a_parquet_category_of_numbers_stays_a_category(tmp_path):
    """pandas writes a category column of numbers to Parquet as plain integers, saying it
    was a category only in the file's metadata; read back, region codes must not become a
    measurement. A DataFrame passed from Python travels as Parquet too."""
    from autodistill.api import data_spec

    rng = np.random.default_rng(2)
    codes = rng.integers(1, 6, 300)
    frame = pd.DataFrame({"region": pd.Categorical(codes), "x": rng.normal(size=300).round(3),
                          "label": rng.choice(["a", "b"], 300)})
    frame.to_parquet(tmp_path / "t.parquet")
    lettered = frame.assign(region=[" abcde"[c] for c in codes])
    lettered.to_csv(tmp_path / "t.csv", index=False)
    from_csv = load_dataset(str(tmp_path / "t.csv"), target="label")
    for spec in (str(tmp_path / "t.parquet"), data_spec(frame, "label")[0]):
        loaded = load_dataset(spec, target="label")
        assert "region" in loaded.raw.categorical and "region" not in loaded.raw.numeric
        np.testing.assert_array_equal(loaded.X_train, from_csv.X_train)


def test_an_out_directory_holding_a_model_is_replaced_with_a_warning(tmp_path, caplog):
    from autodistill.errors import AutodistillError
    from autodistill.training.model_dir import MANIFEST, check_out_dir

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / MANIFEST).write_text("{}")
    with caplog.at_level("WARNING"):
        check_out_dir(tmp_path / "m")
        check_out_dir(tmp_path / "new" / "deeper")  # created when written: no warning
    assert [r.getMessage() for r in caplog.records] == [
        f"--out '{tmp_path / 'm'}' holds a model; it will be replaced by this one"]
    (tmp_path / "m" / MANIFEST).unlink()
    (tmp_path / "m" / "notes.txt").write_text("mine")
    with pytest.raises(AutodistillError, match="holds other files"):
        check_out_dir(tmp_path / "m")


def test_load_model_takes_rows_in_the_shapes_python_holds_them(trained, caplog):
    from autodistill.errors import DataError

    dataset, _, out, _ = trained
    model = load_model(out)
    rows = dataset.raw.split("test").head(3)
    expected = model.predict_proba(rows)
    records = rows.to_dict(orient="records")
    np.testing.assert_allclose(model.predict_proba(records), expected, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(records[0]), expected[:1], atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(rows.iloc[0]), expected[:1], atol=1e-6)
    with pytest.raises(DataError, match="a ndarray has no column names; pass a pandas"):
        model.predict_proba(rows.to_numpy())
    twice = pd.concat([rows, rows[["age"]]], axis=1)
    with pytest.raises(DataError, match="column 'age' appears twice"):
        model.predict_proba(twice)
    # a number beyond float32 is missing (imputed), with a warning: not NaN probabilities
    huge = rows.assign(income=[1e308, 5.0, 6.0])
    with caplog.at_level("WARNING"):
        got = model.predict_proba(huge)
    assert np.isfinite(got).all()
    assert "column 'income' has 1 cell too large to score (e.g. 1e+308)" in caplog.text
