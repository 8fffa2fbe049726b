"""What a second ``recommend`` reuses: component declarations, the fitted meta-model, the
task's meta-features; and that reusing them changes nothing but the time it takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autodistill.meta.forest import Forest
from autodistill.registry import catalog
from autodistill.registry import manager as registry

# -- forests as arrays ---------------------------------------------------------------------


def test_forest_arrays_predict_exactly_as_scikit_learn():
    from sklearn.ensemble import ExtraTreesRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 7))
    y = np.stack([x[:, 0] + rng.normal(scale=0.3, size=400), np.abs(x[:, 1])], axis=1)
    model = ExtraTreesRegressor(n_estimators=15, min_samples_leaf=2, random_state=0).fit(x, y)
    forest = Forest.from_sklearn(model)
    query = rng.normal(size=(300, 7))
    np.testing.assert_array_equal(forest.predict(query), model.predict(query))
    per_tree = forest.predict_per_tree(query)
    for index in (0, 7, 14):
        np.testing.assert_array_equal(per_tree[index], model.estimators_[index].predict(query))


def test_forest_survives_an_npz_round_trip_without_pickle(tmp_path):
    from sklearn.ensemble import ExtraTreesRegressor

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(200, 3)), rng.normal(size=200)
    forest = Forest.from_sklearn(ExtraTreesRegressor(n_estimators=5, random_state=0).fit(x, y))
    np.savez_compressed(tmp_path / "f.npz", **forest.arrays("m"))
    with np.load(tmp_path / "f.npz", allow_pickle=False) as arrays:
        back = Forest.from_arrays(arrays, "m")
    np.testing.assert_array_equal(back.predict(x), forest.predict(x))


# -- component declarations --------------------------------------------------------------


def _declarations(source) -> dict:
    return {family: [(name, list(source.get(family, name).params.items()),
                      source.get(family, name).uses_teacher, source.get(family, name).uses_hidden)
                     for name in source.names(family)]
            for family in ("kd_loss", "mi_objective", "augmentation", "curriculum")}


def test_snapshot_declares_what_the_loaded_plugins_declare(fresh_home):
    registry.reset_registry()
    live = registry.get_registry()  # loading the plugins writes the snapshot
    snapshot = catalog.read_snapshot()
    assert snapshot is not None
    # Same names, same declarations in the same order (the meta-model's columns follow it).
    assert _declarations(snapshot) == _declarations(live)
    with pytest.raises(Exception, match="unknown kd_loss 'nope'; installed: "):
        snapshot.get("kd_loss", "nope")


def test_snapshot_is_not_used_for_another_plugin_selection(fresh_home, monkeypatch):
    registry.reset_registry()
    registry.get_registry()
    assert catalog.read_snapshot() is not None
    monkeypatch.setenv("AUTODISTILL_PLUGINS", "example")
    assert catalog.read_snapshot() is None  # another selection: its own snapshot or none


def test_a_damaged_snapshot_is_ignored(fresh_home):
    registry.reset_registry()
    registry.get_registry()
    (path,) = (fresh_home / "cache" / "catalog").glob("*.json")
    path.write_text("{not json")
    assert catalog.read_snapshot() is None
    registry.reset_registry()
    registry.get_registry()
    assert catalog.read_snapshot() is not None  # rewritten by the next load


# -- a second recommend ------------------------------------------------------------------

_PROBE = """
import json, sys
from autodistill.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "torch": "torch" in sys.modules,
                  "sklearn": "sklearn" in sys.modules}), file=sys.stderr)
"""


def _recommend(*args: str, home: Path) -> tuple[dict, dict]:
    env = {**os.environ, "AUTODISTILL_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", _PROBE, "recommend", *args, "--json"],
                          capture_output=True, text=True, env=env)
    probe = json.loads(done.stderr.strip().splitlines()[-1])
    assert probe["code"] == 0, done.stderr
    return json.loads(done.stdout), probe


def test_a_second_recommend_repeats_the_first_ones_warnings(tmp_path):
    """Served from the cache, recommend loads neither the data nor the teacher, yet says
    what the first run said about them (a column left out, unlabelled rows, the majority
    class, the teacher), in the same order."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=600)
    label = np.where(x + rng.normal(scale=0.3, size=600) > 1.8, "rare", "common")
    rows = ["id,x,label"] + [f"u{i},{v:.3f},{'' if i % 50 == 0 else y}"
                             for i, (v, y) in enumerate(zip(x, label, strict=True))]
    path = tmp_path / "skewed.csv"
    path.write_text("\n".join(rows) + "\n")
    env = {**os.environ, "AUTODISTILL_HOME": str(tmp_path / "home")}

    def warnings_of_a_run() -> list[str]:
        done = subprocess.run([sys.executable, "-m", "autodistill", "recommend", str(path),
                               "--target", "label", "--top", "1"],
                              capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        return [line for line in done.stderr.splitlines() if line.startswith("autodistill: ")]

    first, second = warnings_of_a_run(), warnings_of_a_run()
    assert any("column 'id'" in line for line in first)
    assert any("have no value in target column 'label'" in line for line in first)
    assert any("the majority class is" in line for line in first)
    assert second == first


@pytest.mark.slow
def test_second_recommend_reuses_everything_and_answers_the_same(tmp_path, messy_csv):
    csv = messy_csv(tmp_path / "accounts.csv", rows=500, seed=11)
    args = (str(csv), "--target", "label", "--student", "mlp:8", "--top", "3")
    first, probe = _recommend(*args, home=tmp_path / "home")
    assert probe["torch"]  # the first run trains the teacher
    second, probe = _recommend(*args, home=tmp_path / "home")
    # Served from the caches: neither torch nor scikit-learn was imported ...
    assert not probe["torch"] and not probe["sklearn"], probe
    # ... and the answer is the one a full run gives.
    first.pop("seconds"), second.pop("seconds")
    assert second == first

    # A changed file is a new task: its summary is computed again.
    messy_csv(csv, rows=450, seed=11)
    third, probe = _recommend(*args, home=tmp_path / "home")
    assert probe["torch"]
    assert third["dataset"]["n_rows"] == 450 != first["dataset"]["n_rows"]


def test_every_data_module_that_types_a_table_keys_the_recommend_cache(tmp_path, messy_csv):
    """A cached task summary is keyed by the source of the modules that shape it: every
    autodistill.data module that loading a CSV or an ARFF file imports is one
    of them, so an edit to how columns are typed (dates, labels, file readers) is a new key."""
    from autodistill.meta.feature_cache import _SHAPING_MODULES

    csv = messy_csv(tmp_path / "t.csv")
    arff = tmp_path / "t.arff"
    arff.write_text("@relation t\n@attribute x numeric\n@attribute y {a,b}\n@data\n"
                    + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(40)))
    code = (f"import sys\nfrom autodistill.data.dataset import load_dataset\n"
            f"load_dataset({str(csv)!r}, target='label')\nload_dataset({str(arff)!r})\n"
            f"print(' '.join(m for m in sys.modules if m.startswith('autodistill.data.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    imported = set(done.stdout.split())
    assert {"autodistill.data.dates", "autodistill.data.arff_files"} <= imported
    assert imported <= set(_SHAPING_MODULES), sorted(imported - set(_SHAPING_MODULES))
