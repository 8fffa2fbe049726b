"""Data specs: builtins, synthetic tasks, files, the fixed split, and one-line bad-data errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autodistill.data.dataset import SPLIT, load_dataset, parse_spec, split_indices
from autodistill.errors import DataError


def _check_arrays(dataset) -> None:
    for split in ("train", "valid", "test"):
        x, y = getattr(dataset, f"X_{split}"), getattr(dataset, f"y_{split}")
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape == (len(y), dataset.n_features)
        assert np.isfinite(x).all()
        assert y.min() >= 0 and y.max() < dataset.n_classes
    assert len(dataset.feature_names) == dataset.n_features


@pytest.mark.parametrize(("name", "rows", "features", "classes"), [
    ("iris", 150, 4, 3), ("wine", 178, 13, 3), ("breast_cancer", 569, 30, 2),
    ("digits", 1797, 64, 10)])
def test_builtins_load_with_their_shapes(name, rows, features, classes):
    dataset = load_dataset(f"builtin:{name}")
    assert (dataset.n_rows, dataset.n_features, dataset.n_classes) == (rows, features, classes)
    assert dataset.name == dataset.spec == f"builtin:{name}"
    assert dataset.info["n_rows"] == rows and dataset.info["n_numeric"] == features
    _check_arrays(dataset)


def test_builtin_class_names_are_the_original_labels(iris):
    assert iris.classes == ("setosa", "versicolor", "virginica")


@pytest.mark.parametrize(("spec", "rows", "features", "classes"), [
    ("synthetic:classification?n=300&d=7&informative=3&classes=3&seed=1", 300, 7, 3),
    ("synthetic:classification", 1000, 20, 2),
    ("synthetic:moons?n=200&noise=0.2", 200, 2, 2),
    ("synthetic:circles?n=200&noise=0.05&factor=0.3", 200, 2, 2),
    ("synthetic:blobs?n=250&d=5&classes=4&std=2.0", 250, 5, 4),
    ("synthetic:gaussian_quantiles?n=300&d=3&classes=4", 300, 3, 4),
    ("synthetic:classification?n=400&d=5&informative=3&classes=3&weights=0.75,0.125", 400, 5, 3),
])
def test_synthetic_families_follow_their_parameters(spec, rows, features, classes):
    dataset = load_dataset(spec)
    assert (dataset.n_rows, dataset.n_features, dataset.n_classes) == (rows, features, classes)
    _check_arrays(dataset)


def test_synthetic_weights_make_an_imbalanced_task():
    dataset = load_dataset("synthetic:classification?n=1000&d=5&informative=3&weights=0.9&flip_y=0")
    assert np.bincount(dataset.y_train)[0] > 4 * np.bincount(dataset.y_train)[1]


def test_synthetic_is_determined_by_its_parameters():
    spec = "synthetic:blobs?n=200&d=3&classes=3&seed=5"
    first, second = load_dataset(spec), load_dataset(spec)
    assert first.fingerprint == second.fingerprint
    np.testing.assert_array_equal(first.X_train, second.X_train)
    np.testing.assert_array_equal(first.y_test, second.y_test)
    # parameter order and spelling of numbers do not matter; the seed does
    same = load_dataset("synthetic:blobs?seed=5&classes=3&d=3&n=200.0")
    assert same.spec == first.spec and same.fingerprint == first.fingerprint
    other = load_dataset("synthetic:blobs?n=200&d=3&classes=3&seed=6")
    assert other.fingerprint != first.fingerprint
    assert not np.array_equal(other.X_train, first.X_train)


@pytest.mark.parametrize(("spec", "needles"), [
    ("synthetic:spirals", ["spirals", "moons", "classification"]),
    ("synthetic:moons?rows=10", ["rows", "noise", "seed"]),
    ("synthetic:moons?n=many", ["n", "many"]),
    ("synthetic:classification?d=3&informative=2&classes=8", ["informative"]),
    ("builtin:mnist", ["mnist", "builtin:digits"]),
])
def test_bad_specs_name_the_valid_choices(spec, needles):
    with pytest.raises(DataError) as info:
        parse_spec(spec)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message


def test_same_seed_same_split_other_seed_other_split():
    first, again = load_dataset("builtin:wine", split_seed=3), load_dataset("builtin:wine",
                                                                               split_seed=3)
    np.testing.assert_array_equal(first.X_train, again.X_train)
    np.testing.assert_array_equal(first.y_valid, again.y_valid)
    other = load_dataset("builtin:wine", split_seed=4)
    assert not np.array_equal(first.X_test, other.X_test)
    assert other.fingerprint == first.fingerprint  # the split seed is not part of the data


def test_split_is_64_16_20_and_stratified(digits):
    n = digits.n_rows
    sizes = (len(digits.y_train), len(digits.y_valid), len(digits.y_test))
    for size, share in zip(sizes, SPLIT, strict=True):
        assert abs(size - share * n) <= 1
    totals = np.bincount(np.concatenate([digits.y_train, digits.y_valid, digits.y_test]))
    for y, share in ((digits.y_train, SPLIT[0]), (digits.y_valid, SPLIT[1]),
                     (digits.y_test, SPLIT[2])):
        assert np.all(np.abs(np.bincount(y, minlength=10) - share * totals) <= 2)


def test_split_indices_partition_the_rows_and_keep_tiny_classes_in_train():
    y = np.array([0] * 40 + [1] * 30 + [2] * 2 + [3] * 3)
    train, valid, test = split_indices(y, 0)
    everything = np.concatenate([train, valid, test])
    assert sorted(everything.tolist()) == list(range(len(y)))
    assert set(np.unique(y[train])) == {0, 1, 2, 3}
    again = split_indices(y, 0)
    assert all(np.array_equal(a, b) for a, b in zip((train, valid, test), again, strict=True))


def _mixed_frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "age": rng.normal(40, 10, n).round(1),
        "colour": rng.choice(["red", "green", "blue"], n),
        "member": rng.choice([True, False], n),
        "city": [f"city{i % 60}" for i in range(n)],  # high cardinality
        "label": np.where(rng.random(n) < 0.8, "stay", "leave"),
    })
    frame.loc[::7, "age"] = np.nan
    frame.loc[::11, "colour"] = None
    return frame


def test_csv_with_categories_missing_values_and_string_labels(tmp_path: Path):
    path = tmp_path / "customers.csv"
    _mixed_frame().to_csv(path, index=False)
    dataset = load_dataset(str(path), target="label")
    _check_arrays(dataset)
    assert dataset.name == "customers"
    assert dataset.classes == ("leave", "stay")
    assert np.bincount(dataset.y_train)[1] > 2 * np.bincount(dataset.y_train)[0]
    assert {"colour_red", "colour_green", "colour_blue", "age"} <= set(dataset.feature_names)
    city_columns = [n for n in dataset.feature_names if n.startswith("city_")]
    assert 2 <= len(city_columns) <= 21  # capped: the rest pooled as infrequent
    assert dataset.info["n_categorical"] == 3 and dataset.info["n_numeric"] == 1
    assert dataset.info["missing_fraction"] > 0
    onehot = dataset.X_train[:, [dataset.feature_names.index(f"colour_{c}")
                                 for c in ("red", "green", "blue")]]
    assert set(np.unique(onehot)) <= {0.0, 1.0}


def test_transforms_are_fitted_on_the_training_split_only(tmp_path: Path):
    frame = _mixed_frame()
    _, codes = np.unique(frame["label"], return_inverse=True)
    train, _, test = split_indices(codes.astype(np.int64), 0)
    frame.loc[test[:3], "colour"] = "violet"      # a category seen only in test
    frame.loc[test[3], "age"] = 1e6               # an outlier seen only in test
    path = tmp_path / "shifted.csv"
    frame.to_csv(path, index=False)
    dataset = load_dataset(str(path), target="label")
    assert "colour_violet" not in dataset.feature_names
    age = dataset.feature_names.index("age")
    assert abs(float(dataset.X_train[:, age].mean())) < 1e-4
    assert abs(float(dataset.X_train[:, age].std()) - 1) < 1e-3
    assert dataset.X_test[:, age].max() > 100  # scaled with train statistics
    assert np.isfinite(dataset.X_test).all()


def test_mostly_numeric_column_with_garbage_cells_stays_numeric(tmp_path: Path):
    rows = [f"{i % 13},{'oops' if i == 5 else i * 0.5},{'ab'[i % 2]}" for i in range(60)]
    path = tmp_path / "dirty.csv"
    path.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    dataset = load_dataset(str(path), target="y")
    assert "b" in dataset.feature_names and dataset.info["n_numeric"] == 2
    _check_arrays(dataset)


def test_none_in_a_csv_is_a_category_but_missing_among_numbers(tmp_path: Path):
    # R's MASS::survey: exercise is Freq, Some or None; written as text, 'None' is a class
    rows = [f"{'FSN'[i % 3]}{'x' if i % 5 else ''},{'None' if i % 4 == 0 else i % 17},"
            f"{'NA' if i % 7 == 0 else i % 3},{['Freq', 'Some', 'None'][i % 3]}"
            for i in range(90)]
    path = tmp_path / "survey.csv"
    path.write_text("kind,pulse,age,exer\n" + "\n".join(rows) + "\n")
    dataset = load_dataset(str(path), target="exer")
    assert dataset.classes == ("Freq", "None", "Some")
    # a column of numbers with 'None' cells (a quarter of them) stays numeric; 'NA' and
    # empty cells are missing as before
    assert {"pulse", "age"} <= set(dataset.feature_names)
    assert dataset.info["n_numeric"] == 2 and dataset.info["missing_fraction"] > 0
    as_feature = load_dataset(str(path), target="kind")
    assert "exer_None" in as_feature.feature_names


def test_rows_without_a_label_are_left_out_with_a_warning(tmp_path: Path, caplog):
    rows = [f"{i % 7},{'ab'[i % 2]},{'' if i % 10 == 3 else 'yn'[i % 3 == 0]}"
            for i in range(60)]
    path = tmp_path / "gaps.csv"
    path.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    with caplog.at_level("WARNING"):
        dataset = load_dataset(str(path), target="y")
    assert "6 of 60 rows have no value in target column 'y'; left out" in caplog.text
    assert dataset.n_rows == 54 and dataset.classes == ("n", "y")
    assert dataset.raw.file_row_count == 60
    assert list(dataset.raw.file_rows) == [i for i in range(60) if i % 10 != 3]
    # the raw rows are the labelled ones: row k of the frame is file row file_rows[k]
    assert dataset.raw.frame["a"].tolist() == [i % 7 for i in range(60) if i % 10 != 3]


def test_classes_that_differ_only_in_case_or_spaces_are_named(tmp_path: Path, caplog):
    labels = ["yes", "no", "Yes ", "no", "YES"] * 12
    path = _write(tmp_path, "a,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
    with caplog.at_level("WARNING"):
        dataset = load_dataset(path, target="y")
    assert dataset.classes == ("YES", "Yes ", "no", "yes")  # kept apart: the user decides
    assert "differ only in case or spaces ('YES', 'Yes ', 'yes')" in caplog.text


def test_a_row_index_without_a_header_is_left_out(tmp_path: Path, caplog):
    """pandas' to_csv and R's write.csv write the row index as a first column with an empty
    header: it says only where a row stands, so it is left out with a warning; a named
    counter, or an unnamed column that does not count the rows, stays."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": np.where(np.arange(60) % 3, "a", "b")})
    frame.to_csv(tmp_path / "indexed.csv")  # ',x,y' then '0,...'
    with caplog.at_level("WARNING"):
        dataset = load_dataset(str(tmp_path / "indexed.csv"), target="y")
    assert dataset.raw.dropped == ("Unnamed: 0",) and dataset.n_features == 1
    assert "column 'Unnamed: 0' has no header and counts the rows (0, 1, ...)" in caplog.text
    frame.index += 1  # R counts from 1
    frame.loc[frame.index % 7 == 0, "y"] = None  # rows left out leave gaps: still a counter
    frame.to_csv(tmp_path / "from_r.csv")
    assert load_dataset(str(tmp_path / "from_r.csv"), target="y").raw.dropped == ("Unnamed: 0",)
    kept = frame.reset_index().rename(columns={"index": "visit"})
    kept.to_csv(tmp_path / "named.csv", index=False)
    assert load_dataset(str(tmp_path / "named.csv"), target="y").raw.numeric == ("visit", "x")
    shuffled = frame.sample(frac=1, random_state=0)
    shuffled.to_csv(tmp_path / "shuffled.csv")
    assert "Unnamed: 0" in load_dataset(str(tmp_path / "shuffled.csv"), target="y").raw.numeric


def test_classes_with_two_rows_load_and_are_in_train(tmp_path: Path):
    rows = [f"{i},{'abc'[i % 3]}" for i in range(30)] + ["100,rare", "101,rare"]
    path = tmp_path / "rare.csv"
    path.write_text("x,y\n" + "\n".join(rows) + "\n")
    dataset = load_dataset(str(path), target="y")
    assert dataset.classes == ("a", "b", "c", "rare")
    assert 3 in set(dataset.y_train.tolist())


def test_parquet_and_npz_match_csv(tmp_path: Path):
    frame = _mixed_frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    from_csv = load_dataset(str(tmp_path / "t.csv"), target="label")
    from_parquet = load_dataset(str(tmp_path / "t.parquet"), target="label")
    assert from_parquet.feature_names == from_csv.feature_names
    np.testing.assert_allclose(from_parquet.X_train, from_csv.X_train, atol=1e-6)
    np.testing.assert_array_equal(from_parquet.y_test, from_csv.y_test)

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(120, 5)), rng.integers(0, 3, 120)
    np.savez(tmp_path / "arrays.npz", X=X, y=y)
    dataset = load_dataset(str(tmp_path / "arrays.npz"))
    assert (dataset.n_rows, dataset.n_features, dataset.n_classes) == (120, 5, 3)
    _check_arrays(dataset)


def test_fingerprint_follows_content_not_location(tmp_path: Path):
    frame = _mixed_frame()
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_csv(tmp_path / "b.csv", index=False)
    first = load_dataset(str(tmp_path / "a.csv"), target="label")
    assert load_dataset(str(tmp_path / "b.csv"), target="label").fingerprint == first.fingerprint
    assert load_dataset(str(tmp_path / "a.csv"), target="label",
                        split_seed=9).fingerprint == first.fingerprint
    assert load_dataset(str(tmp_path / "a.csv"), target="member").fingerprint != first.fingerprint
    frame.loc[0, "age"] = 99.5
    frame.to_csv(tmp_path / "a.csv", index=False)
    assert load_dataset(str(tmp_path / "a.csv"), target="label").fingerprint != first.fingerprint
    assert len(first.fingerprint) == 64


def test_a_file_fingerprint_is_its_bytes_and_target(tmp_path: Path):
    """The fingerprint keys cached teachers and stored studies: it must stay the SHA-256
    of the file's bytes followed by the target column, whoever computes it."""
    import hashlib

    path = tmp_path / "a.csv"
    _mixed_frame().to_csv(path, index=False)
    expected = hashlib.sha256(path.read_bytes() + b"\0target=label").hexdigest()
    assert load_dataset(str(path), target="label").fingerprint == expected


# --------------------------------------------------------------------------- bad data


def _good_rows(n: int = 40) -> str:
    return "".join(f"{i % 7},{'ab'[i % 2]},{'yes' if i % 3 else 'no'}\n" for i in range(n))


def _write(tmp_path: Path, text: str | bytes, name: str = "t.csv") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def _data_error(spec: str, target: str | None = "y") -> str:
    with pytest.raises(DataError) as info:
        load_dataset(spec, target=target)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file_is_named():
    message = _data_error("/no/such/file.csv")
    assert "/no/such/file.csv" in message


def test_bare_builtin_name_suggests_the_spec():
    assert "builtin:iris" in _data_error("iris")


def test_unsupported_extension_is_named(tmp_path):
    message = _data_error(_write(tmp_path, "a,y\n1,2\n", "t.xls"))
    assert ".xls'" in message and ".csv" in message and ".xlsx" in message


def test_missing_column_lists_the_available_ones(tmp_path):
    message = _data_error(_write(tmp_path, "a,b,y\n" + _good_rows()), target="label")
    assert "'label'" in message and "a, b, y" in message and "t.csv" in message


def test_missing_target_asks_for_target(tmp_path):
    message = _data_error(_write(tmp_path, "a,b,y\n" + _good_rows()), target=None)
    assert "--target" in message and "a, b, y" in message


def test_one_class_is_an_error(tmp_path):
    message = _data_error(_write(tmp_path, "a,b,y\n" + "".join(f"{i},x,same\n" for i in range(30))))
    assert "one class" in message and "'y'" in message and "same" in message


def test_a_class_with_one_row_is_left_out_with_a_warning(tmp_path, caplog):
    path = _write(tmp_path, "a,b,y\n" + _good_rows(20) + "1,a,lonely\n" + _good_rows(20))
    with caplog.at_level("WARNING"):
        dataset = load_dataset(path, target="y")
    assert ("class 'lonely' of target column 'y' has a single row; that row is left out"
            in caplog.text)
    assert dataset.n_rows == 40 and "lonely" not in dataset.classes
    assert dataset.raw.file_row_count == 41 and 20 not in dataset.raw.file_rows
    assert dataset.raw.file_classes == ("lonely", "no", "yes")


def test_many_classes_with_one_row_are_named_and_refused(tmp_path):
    # more than 5% of the rows alone in their class: more likely a count than a class column
    message = _data_error(_write(tmp_path, "a,b,y\n" + _good_rows() + "1,a,lonely\n2,b,odd\n"
                                 "3,a,one\n"))
    assert "lonely" in message and "t.csv" in message and "3 of 43 rows" in message
    ages = _write(tmp_path, "a,age\n" + "".join(f"{i},{i}\n" for i in range(50)))
    message = _data_error(ages, target="age")
    assert "have a single row each (50 of 50 rows), so 'age' looks like a count" in message


def test_a_target_of_many_whole_numbers_warns_it_may_be_a_measurement(tmp_path, caplog):
    ages = _write(tmp_path, "a,age\n" + "".join(f"{i},{18 + i % 30}\n" for i in range(120)))
    with caplog.at_level("WARNING"):
        dataset = load_dataset(ages, target="age")
    assert dataset.n_classes == 30
    assert ("target column 'age' holds 30 whole numbers from 18 to 47, each a class; if it "
            "is a count or a measurement") in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        load_dataset(_write(tmp_path, "a,b,y\n" + _good_rows(), "labels.csv"), target="y")
    assert "whole numbers" not in caplog.text


def test_a_header_naming_a_column_twice_warns(tmp_path, caplog):
    rows = "".join(f"{i},{i % 5},{i * 2},{'ab'[i % 2]}\n" for i in range(40))
    with caplog.at_level("WARNING"):
        dataset = load_dataset(_write(tmp_path, "income;educ;income;y\n"
                                      + rows.replace(",", ";"), "dup.csv"), target="y")
    assert "income.1" in dataset.raw.numeric
    assert ("the header names 'income' 2 times (read as 'income', 'income.1'); rename them"
            in caplog.text)


def test_a_single_class_left_after_the_lone_ones_is_refused(tmp_path):
    message = _data_error(_write(tmp_path, "a,y\n" + "1,x\n" * 30 + "2,z\n"))
    assert "'z'" in message and "single row" in message


def test_empty_file_is_an_error(tmp_path):
    assert "t.csv" in _data_error(_write(tmp_path, ""))
    assert "no rows" in _data_error(_write(tmp_path, "a,b,y\n", "header.csv"))


def test_binary_garbage_is_an_error(tmp_path):
    message = _data_error(_write(tmp_path, bytes(range(256)) * 8))
    assert "t.csv" in message


def test_unparseable_parquet_is_an_error(tmp_path):
    message = _data_error(_write(tmp_path, "not,parquet\n1,2\n", "t.parquet"))
    assert "t.parquet" in message


def test_a_target_column_without_any_label_is_an_error(tmp_path):
    message = _data_error(_write(tmp_path, "a,b,y\n" + "1,a,\n2,b,\n" * 20))
    assert "target column 'y' is empty" in message


def test_continuous_target_is_an_error(tmp_path):
    rows = "".join(f"{i},{i * 0.37 + 0.1}\n" for i in range(30))
    assert "continuous" in _data_error(_write(tmp_path, "a,y\n" + rows))


def test_no_feature_column_is_an_error(tmp_path):
    rows = "".join(f",{'ab'[i % 2]}\n" for i in range(30))
    assert "feature" in _data_error(_write(tmp_path, "a,y\n" + rows))


def test_npz_without_x_and_y_names_the_keys_found(tmp_path):
    np.savez(tmp_path / "arrays.npz", features=np.zeros((10, 2)), labels=np.zeros(10))
    message = _data_error(str(tmp_path / "arrays.npz"), target=None)
    assert "features" in message and "labels" in message and "'X'" in message
