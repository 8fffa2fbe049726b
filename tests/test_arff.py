"""ARFF files (Weka's and OpenML's format) load as the same table saved as CSV would, the
last attribute the target unless ``--target`` names another; ``predict`` reads them; a file
the reader cannot take is one line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_runner import run_cli

from autodistill.data.dataset import load_dataset
from autodistill.errors import DataError


def _quoted(value: str) -> str:
    return f"'{value}'" if any(c in value for c in " ,'{}%") else value


def write_arff(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as ARFF: numbers NUMERIC, text nominal, ``?`` for a missing cell."""
    lines = ["% a table written by the test", "@RELATION customers", ""]
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind == "f":
            kind = "NUMERIC"
        else:
            kind = "{" + ",".join(_quoted(v) for v in sorted(column.dropna().unique())) + "}"
        lines.append(f"@ATTRIBUTE {_quoted(name)} {kind}")
    lines += ["", "@DATA"]
    for row in frame.itertuples(index=False):
        lines.append(",".join("?" if pd.isna(v) else repr(float(v)) if isinstance(v, float)
                              else _quoted(str(v)) for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_arff_file_reads_as_its_csv_with_the_last_attribute_as_target(
        tmp_path: Path, messy_csv, caplog) -> None:
    plain = messy_csv(tmp_path / "t.csv")
    frame = pd.read_csv(plain, keep_default_na=False, na_values=[""])
    (tmp_path / "arff").mkdir()
    arff = write_arff(frame, tmp_path / "arff" / "t.arff")
    expected = load_dataset(str(plain), target="label")
    with caplog.at_level("WARNING"):
        got = load_dataset(str(arff))
    assert "taking the last attribute, 'label', as the target (ARFF's convention)" in caplog.text
    assert got.name == "t" and got.classes == expected.classes
    assert got.feature_names == expected.feature_names
    np.testing.assert_allclose(got.X_train, expected.X_train, rtol=0, atol=1e-6)
    assert got.fingerprint == load_dataset(str(arff), target="label").fingerprint
    other = load_dataset(str(arff), target="colour")  # --target still chooses
    assert other.classes == ("blue", "green", "red")


def test_arff_quoting_nominal_digits_dates_and_missing_cells(tmp_path: Path) -> None:
    """Quoted names and values (with spaces and commas), a nominal attribute of digits (a
    category, as declared), a date attribute (a date), ``?`` anywhere, comments."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        size = "?" if i % 11 == 0 else f"{rng.normal(10, 2):.3f}"
        grade = "?" if i % 13 == 0 else str(1 + i % 3)
        town = ("'New York, NY'", "Boston", "'San Jose'")[i % 3]
        day = f"'2021-{1 + i % 12:02d}-{1 + i % 28:02d}'"
        rows.append(f"{size}, {grade},{town},{day},{'yes' if i % 2 else 'no'}")
    text = "\n".join([
        "@relation 'shop visits'", "% comment", "@attribute 'basket size' real",
        "@attribute grade {1,2,3}", "@attribute town {'New York, NY',Boston,'San Jose'}",
        "@attribute visited date yyyy-MM-dd", "@attribute bought {yes,no}", "", "@data",
        "% rows follow", *rows])
    path = tmp_path / "visits.arff"
    path.write_text(text + "\n")
    dataset = load_dataset(str(path), target="bought")
    raw = dataset.raw
    assert raw.numeric == ("basket size", "visited") and raw.dates == {"visited": "iso"}
    assert raw.categorical == ("grade", "town")
    assert set(raw.frame["town"]) == {"New York, NY", "Boston", "San Jose"}
    assert raw.frame["basket size"].isna().sum() == 6 and raw.frame["grade"].isna().sum() == 5
    # double quotes around a value with an apostrophe and a comma
    names = tmp_path / "names.arff"
    names.write_text("@relation n\n@attribute who string\n@attribute y {a,b}\n@data\n"
                     "\"O'Brien\",a\n\"Smith, J\",b\n")
    from autodistill.data.arff_files import read_arff

    assert read_arff(names, "names.arff")["who"].tolist() == ["O'Brien", "Smith, J"]


def test_distill_and_predict_on_an_arff_file(tmp_path: Path, messy_csv) -> None:
    frame = pd.read_csv(messy_csv(tmp_path / "t.csv"), keep_default_na=False, na_values=[""])
    arff = write_arff(frame, tmp_path / "t.arff")
    done = run_cli("distill", str(arff), "--pipeline", "plain", "--json", "--out",
                   str(tmp_path / "m"))
    assert done.returncode == 0, done.stderr
    assert "taking the last attribute, 'label'" in done.stderr
    scored = run_cli("predict", str(tmp_path / "m"), str(arff), "--json", "--out",
                     str(tmp_path / "p.csv"))
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["accuracy"] > 0.7
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(frame)
    refused = run_cli("predict", str(tmp_path / "m"), str(arff), "--out", str(tmp_path / "p.arff"))
    assert refused.returncode == 2 and "cannot write predictions as '.arff'" in refused.stderr


@pytest.mark.parametrize(("text", "needle"), [
    ("@relation s\n@attribute a numeric\n@attribute y {x,z}\n@data\n{0 1.5, 1 x}\n",
     "sparse ARFF rows"),
    ("@relation s\n@attribute a numeric\n@attribute y {x,z}\n@data\n1.5,x\n2.5\n",
     "data row 2 has 1 values for 2 attributes"),
    ("a,y\n1,x\n2,z\n", "is this an ARFF file?"),
    ("@relation s\n@attribute a numeric\n@attribute y {x,z}\n", "no @data line"),
    ("@relation s\n@attribute bag relational\n@end bag\n@data\n", "relational"),
    ("@relation s\n@attribute a numeric\n@attribute y {x,z\n@data\n1,x\n",
     "do not close with '}'"),
    ("@relation s\n@attribute a nominalx\n@attribute y {x,z}\n@data\n1,x\n",
     "attribute 'a' has type 'nominalx'"),
])
def test_an_arff_file_that_cannot_be_read_is_one_line(tmp_path: Path, text, needle) -> None:
    path = tmp_path / "bad.arff"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        load_dataset(str(path), target="y")
    assert needle in str(info.value) and "bad.arff" in str(info.value)
    assert "\n" not in str(info.value)
    done = run_cli("recommend", str(path))
    assert done.returncode == 2 and needle in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _scipy_arff_files() -> list[Path]:
    import scipy

    return sorted((Path(scipy.__file__).parent / "io" / "arff" / "tests" / "data").glob("*.arff"))


@pytest.mark.parametrize("path", _scipy_arff_files(), ids=lambda p: p.name)
def test_the_arff_files_scipy_ships_read_as_scipy_reads_them(path: Path) -> None:
    """SciPy's own ARFF test files: every one SciPy reads gives the same numbers and
    nominal values here (its datetimes aside, which SciPy converts and the date reader types
    later); the relational ones are one line."""
    from scipy.io import arff

    try:
        data, meta = arff.loadarff(path)
    except Exception:
        pytest.skip(f"SciPy does not read {path.name} either")
    try:
        from autodistill.data.arff_files import read_arff

        mine = read_arff(path, path.name)
    except DataError as exc:
        assert "relational" in str(exc) and "\n" not in str(exc)
        return
    assert list(mine.columns) == list(meta.names()) and len(mine) == len(data)
    for name, kind in zip(meta.names(), meta.types(), strict=True):
        if kind == "numeric":
            np.testing.assert_allclose(mine[name].to_numpy(dtype=float), data[name],
                                       equal_nan=True)
        elif kind == "nominal":
            theirs = [None if v == b"?" else v.decode() for v in data[name]]
            assert [None if pd.isna(v) else v for v in mine[name]] == theirs
