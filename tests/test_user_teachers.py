"""The user's own teachers on the user's own columns: sklearn:, onnx:, outputs:, and
TorchScript with --teacher-input; every one ends in a model that `predict` scores from
raw rows with the student's own test accuracy."""

from __future__ import annotations

import json
import operator
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch

skops_io = pytest.importorskip("skops.io")

from cli_runner import run_cli  # noqa: E402

from autodistill.data.dataset import load_dataset  # noqa: E402
from autodistill.training.export import build_onnx  # noqa: E402
from autodistill.training.students import MLP  # noqa: E402

PIPELINE = '{"kd_loss": {"name": "hinton"}, "training": {"epochs": 25}}'


def one_line_error(done: subprocess.CompletedProcess, *needles: str) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def table(n: int = 400, seed: int = 1) -> pd.DataFrame:
    """Strings with gaps, numbers with gaps, string labels."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "size": rng.normal(10, 3, n).round(2),
        "weight": rng.normal(0, 1, n).round(3),
        "shape": rng.choice(["round", "square", "flat"], n).astype(object),
    })
    frame.loc[rng.random(n) < 0.1, "size"] = np.nan
    frame.loc[rng.random(n) < 0.1, "shape"] = None
    score = frame["size"].fillna(10) - 10 + 2 * frame["weight"] + (frame["shape"] == "round") * 2
    frame["kind"] = np.where(score > 1, "big", np.where(score > -1, "mid", "small"))
    return frame


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The data file, a scikit-learn teacher (skops), its outputs (CSV) and an ONNX teacher."""
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    root = tmp_path_factory.mktemp("teachers")
    frame = table()
    frame.to_csv(root / "data.csv", index=False)
    X, y = frame.drop(columns=["kind"]), frame["kind"]
    model = make_pipeline(
        make_column_transformer(
            (make_pipeline(SimpleImputer(strategy="constant", fill_value="NA"),
                           OneHotEncoder(handle_unknown="ignore", sparse_output=False)), ["shape"]),
            remainder="passthrough"),
        HistGradientBoostingClassifier(max_iter=40, random_state=0))
    model.fit(X, y)
    skops_io.dump(model, root / "gbdt.skops")
    proba = model.predict_proba(X)
    pd.DataFrame(proba, columns=model.classes_).to_csv(root / "outputs.csv", index=False)
    np.save(root / "outputs.npy", proba)
    # an ONNX teacher that takes the raw columns by name: an MLP behind its own encoding
    dataset = load_dataset(str(root / "data.csv"), target="kind")
    torch.manual_seed(0)
    mlp = MLP(dataset.n_features, dataset.n_classes, (32,))
    optimizer = torch.optim.Adam(mlp.parameters(), lr=0.01)
    x, t = torch.as_tensor(dataset.X_train), torch.as_tensor(dataset.y_train)
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(mlp(x)[0], t).backward()
        optimizer.step()
    onnx_model, _ = build_onnx(dataset, mlp.eval())
    (root / "teacher.onnx").write_bytes(onnx_model.SerializeToString())
    return root, dataset


@pytest.mark.parametrize("teacher", ["sklearn:gbdt.skops", "outputs:outputs.csv",
                                     "onnx:teacher.onnx"])
def test_own_teacher_then_predict_reproduces_student_accuracy(files, teacher, tmp_path):
    root, dataset = files
    kind, name = teacher.split(":")
    done = run_cli("distill", str(root / "data.csv"), "--target", "kind", "--teacher",
                   f"{kind}:{root / name}", "--pipeline", PIPELINE, "--json", "--out",
                   str(tmp_path / "m"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["teacher"]["accuracy"] > 0.75  # it saw the raw columns it was trained on
    new = dataset.raw.split("test").assign(kind=np.asarray(dataset.classes)[dataset.y_test])
    new.to_csv(tmp_path / "new.csv", index=False)
    scored = run_cli("predict", str(tmp_path / "m"), str(tmp_path / "new.csv"), "--json",
                     "--out", str(tmp_path / "p.csv"))
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["accuracy"] == pytest.approx(report["student"]["accuracy"])


def test_sklearn_teacher_sees_a_dataframe_and_its_class_order_is_mapped(files):
    from autodistill.training.teachers import get_teacher

    root, dataset = files
    outputs = get_teacher(f"sklearn:{root / 'gbdt.skops'}", dataset, device="cpu")
    npy = get_teacher(f"outputs:{root / 'outputs.npy'}", dataset, device="cpu")
    assert outputs.module is None and outputs.hidden is None
    for split in ("train", "test"):
        torch.testing.assert_close(outputs.logits[split], npy.logits[split])


def test_outputs_for_every_file_row_follow_the_rows_that_have_a_label(files, tmp_path):
    from autodistill.training.teachers import get_teacher

    root, _ = files
    frame = pd.read_csv(root / "data.csv")
    frame.loc[::9, "kind"] = None  # unlabelled rows: left out of the dataset
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    dataset = load_dataset(str(tmp_path / "gaps.csv"), target="kind")
    assert dataset.n_rows < len(frame) == dataset.raw.file_row_count
    model = get_teacher(f"sklearn:{root / 'gbdt.skops'}", dataset, device="cpu")
    every_row = get_teacher(f"outputs:{root / 'outputs.npy'}", dataset, device="cpu")
    proba = np.load(root / "outputs.npy")
    np.save(tmp_path / "labelled.npy", proba[frame["kind"].notna().to_numpy()])
    labelled = get_teacher(f"outputs:{tmp_path / 'labelled.npy'}", dataset, device="cpu")
    for split in ("train", "valid", "test"):
        torch.testing.assert_close(every_row.logits[split], model.logits[split])
        torch.testing.assert_close(labelled.logits[split], model.logits[split])
    np.save(tmp_path / "short.npy", proba[:-1])
    with pytest.raises(Exception, match="400 in the file, with the rows left out for lacking a label"):
        get_teacher(f"outputs:{tmp_path / 'short.npy'}", dataset, device="cpu")


def test_a_teacher_trained_with_a_class_left_out_for_its_single_row_is_read(tmp_path):
    """The data keeps three classes; the user's teacher, fitted on the whole file, knows
    four. Named (classes_, a CSV header) or by position (.npy), its columns are matched."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from autodistill.training.teachers import get_teacher

    frame = table(200).drop(columns="shape")
    frame.loc[57, "kind"] = "odd"  # one row: left out of the data, known to the teacher
    frame.to_csv(tmp_path / "data.csv", index=False)
    X, y = frame[["size", "weight"]], frame["kind"]
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    skops_io.dump(model, tmp_path / "gbdt.skops")
    proba = model.predict_proba(X)
    pd.DataFrame(proba[:, ::-1], columns=model.classes_[::-1]).to_csv(tmp_path / "out.csv",
                                                                        index=False)
    np.save(tmp_path / "out.npy", proba)
    dataset = load_dataset(str(tmp_path / "data.csv"), target="kind")
    assert dataset.classes == ("big", "mid", "small") and len(model.classes_) == 4
    given = [get_teacher(spec, dataset, device="cpu") for spec in (
        f"sklearn:{tmp_path / 'gbdt.skops'}", f"outputs:{tmp_path / 'out.csv'}",
        f"outputs:{tmp_path / 'out.npy'}")]
    expected = np.log(np.clip(proba[np.r_[0:57, 58:200]][:, [0, 1, 3]], 1e-7, 1.0))
    for outputs in given:
        logits = np.concatenate([outputs.logits[s].numpy()[np.argsort(dataset.raw.rows[s])]
                                 for s in ("train", "valid", "test")])
        order = np.argsort(np.concatenate([np.sort(dataset.raw.rows[s])
                                           for s in ("train", "valid", "test")]))
        np.testing.assert_allclose(logits[order], expected, rtol=1e-5, atol=1e-5)
    done = run_cli("distill", str(tmp_path / "data.csv"), "--target", "kind", "--teacher",
                   f"outputs:{tmp_path / 'out.csv'}", "--pipeline", PIPELINE, "--json")
    assert done.returncode == 0, done.stderr
    assert "class 'odd' of target column 'kind' has a single row" in done.stderr


def _negating_teacher(path):
    """A skops file holding a type skops does not trust (``_operator.neg``), fitted on the
    encoded width of one column: it loads only when trusted, then fails on its inputs."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    frame = table()
    model = make_pipeline(FunctionTransformer(operator.neg), LogisticRegression())
    model.fit(frame[["weight"]].to_numpy(), frame["kind"])
    skops_io.dump(model, path)
    return path


def test_untrusted_skops_type_names_the_type_and_the_flag(files, tmp_path):
    root, _ = files
    teacher = _negating_teacher(tmp_path / "neg.skops")
    args = ["distill", str(root / "data.csv"), "--target", "kind", "--pipeline", PIPELINE,
            "--teacher", f"sklearn:{teacher}", "--teacher-input", "encoded"]
    one_line_error(run_cli(*args), "_operator.neg", "--trust-type _operator.neg")
    trusted = run_cli(*args, "--trust-type", "_operator.neg")
    # trusted, it loads; it then fails on the encoded width, which names the inputs it got
    one_line_error(trusted, "encoded features")


@pytest.mark.parametrize("content, needles", [
    ("state_dict", ["torch.save", "torch.jit.script"]),
    ("pickle", ["pickle", "skops.io.dump"]),
    ("random", ["not a model file"]),
    ("empty", ["an empty file"]),
])
def test_teacher_file_of_the_wrong_kind_says_what_it_is(files, tmp_path, content, needles):
    import pickle

    root, _ = files
    path = tmp_path / "teacher.bin"
    if content == "state_dict":
        torch.save(torch.nn.Linear(3, 3).state_dict(), path)
    elif content == "pickle":
        path.write_bytes(pickle.dumps({"a": 1}))
    elif content == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8)))
    as_script = path.with_suffix(".pt")  # a .pt file is read as TorchScript: it says the same
    as_script.write_bytes(path.read_bytes())
    for spec in (f"sklearn:{path}", f"onnx:{path}", str(as_script)):
        done = run_cli("distill", str(root / "data.csv"), "--target", "kind", "--pipeline",
                       PIPELINE, "--teacher", spec)
        one_line_error(done, *needles)


def test_outputs_with_wrong_rows_or_width_name_both_numbers(files, tmp_path):
    root, dataset = files
    np.save(tmp_path / "short.npy", np.full((10, 3), 1 / 3))
    np.save(tmp_path / "wide.npy", np.full((dataset.n_rows, 5), 0.2))
    base = ["distill", str(root / "data.csv"), "--target", "kind", "--pipeline", PIPELINE]
    one_line_error(run_cli(*base, "--teacher", f"outputs:{tmp_path / 'short.npy'}"),
                   "10 rows", f"{dataset.n_rows} rows")
    one_line_error(run_cli(*base, "--teacher", f"outputs:{tmp_path / 'wide.npy'}"),
                   "5 columns", "3 classes")


def test_teacher_at_chance_is_a_warning_naming_the_likely_cause(files, tmp_path, caplog):
    from autodistill.training.teachers import get_teacher

    root, dataset = files
    shuffled = np.load(root / "outputs.npy")[np.random.default_rng(0).permutation(dataset.n_rows)]
    np.save(tmp_path / "shuffled.npy", np.roll(shuffled, 1, axis=1))
    with caplog.at_level("WARNING"):
        get_teacher(f"outputs:{tmp_path / 'shuffled.npy'}", dataset, device="cpu")
    assert any("largest class" in r.message and "order" in r.message for r in caplog.records)


def test_torchscript_teacher_on_raw_columns_hint_and_input_raw(tmp_path, caplog):
    """The issue's case: a TorchScript teacher trained on the raw wine columns."""
    import warnings

    from autodistill.training.teachers import get_teacher

    dataset = load_dataset("builtin:wine")
    raw = torch.tensor(dataset.raw.split("train").to_numpy(np.float32))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.BatchNorm1d(13, affine=False), torch.nn.Linear(13, 3))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(raw), torch.as_tensor(dataset.y_train)).backward()
        optimizer.step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net.eval()).save(str(tmp_path / "raw.pt"))
    with caplog.at_level("WARNING"):
        encoded = get_teacher(str(tmp_path / "raw.pt"), dataset, device="cpu")
    assert any("--teacher-input raw" in r.message for r in caplog.records)
    fixed = get_teacher(f"{tmp_path / 'raw.pt'}?input=raw", dataset, device="cpu")
    assert fixed.accuracy > encoded.accuracy and fixed.accuracy > 0.85
    assert fixed.module is None  # it cannot label augmented (encoded) rows


def test_space_drops_augmentation_for_teachers_that_cannot_label_new_rows():
    from autodistill.study.space_files import load_space

    assert len(load_space("default").families["augmentation"].components) > 1
    space = load_space("default", labels_new_rows=False)
    assert space.families["augmentation"].components == ("none",)


def test_a_forest_fitted_on_some_columns_in_another_order_is_fed_them_by_name(files, tmp_path):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    root, _ = files
    frame = table()
    # a subset of the columns, in another order: it was refused with "pass --teacher-input
    # encoded"; and a random forest's tree type needed --trust-type
    model = make_pipeline(SimpleImputer(), RandomForestClassifier(n_estimators=20,
                                                                  random_state=0))
    model.fit(frame[["weight", "size"]], frame["kind"])
    skops_io.dump(model, tmp_path / "forest.skops")
    done = run_cli("distill", str(root / "data.csv"), "--target", "kind", "--pipeline", PIPELINE,
                   "--teacher", f"sklearn:{tmp_path / 'forest.skops'}", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["teacher"]["accuracy"] > 0.6
    assert "UserWarning" not in done.stderr
    model.fit(frame[["weight", "size"]].rename(columns={"size": "length"}), frame["kind"])
    skops_io.dump(model, tmp_path / "renamed.skops")
    one_line_error(run_cli("distill", str(root / "data.csv"), "--target", "kind", "--pipeline",
                           PIPELINE, "--teacher", f"sklearn:{tmp_path / 'renamed.skops'}"),
                   "was fitted on column 'length' that the data file lacks (it has size, "
                   "weight, shape)")


def test_python_takes_teacher_input_and_trust_type_as_keywords(files, tmp_path):
    import autodistill
    from autodistill.errors import TeacherError

    root, _ = files
    teacher = f"sklearn:{_negating_teacher(tmp_path / 'neg.skops')}"
    with pytest.raises(TeacherError, match="--trust-type _operator.neg"):
        autodistill.distill(str(root / "data.csv"), PIPELINE, target="kind", teacher=teacher,
                            teacher_input="encoded")
    # trusted, it loads; it then fails on the encoded width, which names the inputs it got
    with pytest.raises(TeacherError, match="encoded features"):
        autodistill.distill(str(root / "data.csv"), PIPELINE, target="kind", teacher=teacher,
                            teacher_input="encoded", trust_type=["_operator.neg"])
    with pytest.raises(TeacherError, match="--trust-type applies to a skops file"):
        autodistill.distill(str(root / "data.csv"), PIPELINE, target="kind",
                            teacher=str(tmp_path / "t.pt"), trust_type=["x.Y"])
