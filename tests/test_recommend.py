"""The recommender: meta-features, the shipped knowledge base, `recommend`, `meta evaluate`."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_runner import run_cli

from autodistill.data.dataset import load_dataset
from autodistill.meta.features import META_FEATURES, compute_meta_features
from autodistill.meta.kb_build import PORTFOLIO, task_slug
from autodistill.meta.knowledge import (
    ensure_knowledge_base,
    load_meta_rows,
    meta_rows_from_records,
    read_shipped,
)
from autodistill.meta.task_suite import kb_tasks
from autodistill.training.pipeline import PRESETS, Pipeline

# -- meta-features ---------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [
    "synthetic:classification?n=300&d=1&informative=1&classes=2&seed=1",   # one feature
    "synthetic:blobs?n=200&d=3&classes=2&seed=2",                          # two classes
    "synthetic:blobs?n=2000&d=4&classes=50&seed=3",                        # fifty classes
])
def test_meta_features_are_finite_on_edge_datasets(spec):
    dataset = load_dataset(spec)
    features = compute_meta_features(dataset, None, None)
    assert list(features) == list(META_FEATURES)
    assert all(math.isfinite(v) for v in features.values()), features


def test_meta_features_are_finite_on_an_all_categorical_table(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.choice(["x", "y", "z"], 300),
                          "b": rng.choice(["p", "q"], 300)})
    frame["label"] = np.where((frame.a == "x") | (frame.b == "p"), "yes", "no")
    frame.to_csv(tmp_path / "cats.csv", index=False)
    dataset = load_dataset(str(tmp_path / "cats.csv"), target="label")
    features = compute_meta_features(dataset, None, None)
    assert all(math.isfinite(v) for v in features.values()), features
    assert features["categorical_fraction"] == 1.0


def test_teacher_meta_features_describe_the_teacher(digits, digits_teacher):
    features = compute_meta_features(digits, digits_teacher, student_params=1000)
    assert features["teacher_valid_accuracy"] == pytest.approx(digits_teacher.valid_accuracy)
    assert 0.0 <= features["teacher_mean_entropy"] <= 1.0
    assert features["log_student_teacher_param_ratio"] < 0  # the student is smaller


# -- the shipped knowledge base --------------------------------------------------------------

#: Suite 1 (shipped until the suite-2 rebuild) predates these features and pool pipelines.
_ADDED_SINCE_SUITE_ONE = {"teacher_margin_over_best_landmark", "teacher_logloss_gain_over_linear"}
_POOLS_SINCE_SUITE_ONE = {len(PORTFOLIO) - 2, len(PORTFOLIO) - 1}


def test_shipped_knowledge_base_covers_the_task_grid(shipped_suite):
    from autodistill.meta.kb_build import portfolio
    from autodistill.meta.kb_stage import SKIPPED_FILE
    from autodistill.meta.knowledge import _shipped_text

    tasks, trials = read_shipped()
    skipped = {json.loads(line)["task"] for line in _shipped_text(SKIPPED_FILE).splitlines()
               if line.strip()}
    assert len(tasks) >= 60
    # every task of the suite, except those skipped with their reason
    assert {t["task"] for t in tasks} == {t.key for t in kb_tasks(shipped_suite)} - skipped
    per_task: dict[str, list[dict]] = {}
    for trial in trials:
        per_task.setdefault(trial["task"], []).append(trial)
    features = set(META_FEATURES) - (_ADDED_SINCE_SUITE_ONE if shipped_suite == 1 else set())
    for task in tasks:
        mine = per_task[task["task"]]
        assert len(mine) >= len(portfolio(shipped_suite)), task["task"]
        assert {0, 1} <= {t["portfolio"] for t in mine}, "plain and hinton ran"
        assert set(task["meta_features"]) == features
    rows = [t["n_rows"] for t in tasks]
    assert min(rows) <= 200 and max(rows) >= 20000
    assert max(t["n_classes"] for t in tasks) >= 30


def test_knowledge_base_is_loaded_into_a_fresh_database_once(tmp_path, shipped_suite):
    url = f"sqlite:///{tmp_path / 'kb.db'}"
    _, trials = read_shipped()
    assert ensure_knowledge_base(url) == len(trials)
    assert ensure_knowledge_base(url) == len(trials)  # a second use adds nothing
    rows = load_meta_rows(url)
    assert len(rows) == len(trials)
    pools = _POOLS_SINCE_SUITE_ONE if shipped_suite == 1 else set()
    assert {r.portfolio for r in rows} >= set(range(len(PORTFOLIO))) - pools


def test_every_knowledge_base_pipeline_validates():
    _, trials = read_shipped()
    for trial in trials:
        Pipeline.from_dict(trial["pipeline"])


def test_portfolio_tasks_have_distinct_study_names():
    assert len({task_slug(t) for t in kb_tasks()}) == len(kb_tasks())


# -- recommend --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def churn_csv(tmp_path_factory: pytest.TempPathFactory, messy_csv) -> Path:
    return messy_csv(tmp_path_factory.mktemp("csv") / "churn.csv")


@pytest.fixture(scope="module")
def recommended(churn_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    storage = f"sqlite:///{tmp_path_factory.mktemp('db') / 'studies.db'}"
    done = run_cli("recommend", str(churn_csv), "--target", "label", "--student", "mlp:8",
                   "--top", "4", "--storage", storage, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_recommend_json_follows_the_contract(recommended):
    assert {"name", "n_rows", "n_features", "n_classes", "meta_features"} <= set(
        recommended["dataset"])
    assert recommended["dataset"]["n_classes"] == 2
    assert recommended["teacher_at_chance"] is False  # churn's teacher learns the table
    recs = recommended["recommendations"]
    assert [r["rank"] for r in recs] == [1, 2, 3, 4]
    scores = [r["predicted_score"] for r in recs]
    # the ranking rule's pick first (the plain pipeline unless distillation helps), then by score
    assert recs[0]["uses_teacher"] is recommended["distillation_helps"]
    if not recommended["distillation_helps"]:
        assert recommended["plain"]["pipeline"] == recs[0]["pipeline"]
    assert scores[1:] == sorted(scores[1:], reverse=True)
    assert isinstance(recommended["verdict"], str) and "\n" not in recommended["verdict"]
    for rec in recs:
        lo, hi = rec["interval"]
        assert 0.0 <= lo <= hi <= 1.0
        assert rec["evidence"], "each recommendation names its nearest knowledge-base tasks"
        assert {"task", "distance", "best_valid", "plain_valid"} <= set(rec["evidence"][0])
        Pipeline.from_dict(rec["pipeline"])
    assert len({json.dumps(r["pipeline"], sort_keys=True) for r in recs}) == len(recs)
    known = recommended["familiarity"]
    assert set(known) == {"nearest_distance", "knowledge_base_p95", "knowledge_base_max",
                          "unlike_knowledge_base"}
    assert known["nearest_distance"] == recs[0]["evidence"][0]["distance"]


def test_a_table_unlike_the_knowledge_base_is_said_to_be(tmp_path):
    """A table whose meta-features lie farther from every knowledge-base task than 95% of
    those tasks lie from their nearest (of another dataset) is flagged: its predictions
    extrapolate. A knowledge-base table itself is not."""
    from autodistill.meta.knowledge import load_meta_rows
    from autodistill.meta.model import group_by_task
    from autodistill.meta.neighbours import familiarity
    from autodistill.store import storage as store

    rows = load_meta_rows(store.resolve_url(f"sqlite:///{tmp_path / 'k.db'}"),
                          include_studies=False)
    tasks = {t: r for t, r in group_by_task(rows).items() if t.startswith("kb:")}
    some = next(t for t in tasks if t.startswith("kb:pkg:"))
    own = familiarity(tasks[some][0].meta_features, tasks)
    assert own["nearest_distance"] == 0.0 and not own["unlike_knowledge_base"]
    assert 0 < own["knowledge_base_p95"] <= own["knowledge_base_max"]
    far = {**tasks[some][0].meta_features, "log_rows": 9.0, "log_rows_per_class": 9.0,
           "mean_abs_skew": 80.0}
    away = familiarity(far, tasks)
    assert away["unlike_knowledge_base"]
    assert away["nearest_distance"] > away["knowledge_base_p95"]


@pytest.mark.slow
def test_distill_accepts_a_recommendation_unchanged(recommended, churn_csv, tmp_path):
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(recommended["recommendations"][0]["pipeline"]))
    done = run_cli("distill", str(churn_csv), "--target", "label", "--student", "mlp:8",
                   "--pipeline", str(path), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["pipeline"] == recommended["recommendations"][0]["pipeline"]
    assert report["student"]["accuracy"] > 0.7


def test_recommend_table_for_people(churn_csv, tmp_path):
    done = run_cli("recommend", str(churn_csv), "--target", "label", "--top", "2",
                   "--storage", f"sqlite:///{tmp_path / 's.db'}")
    assert done.returncode == 0, done.stderr
    assert "Recommended pipelines" in done.stdout
    assert "distance" in done.stdout  # the evidence column


@pytest.mark.parametrize("args, needle", [
    (["missing.csv", "--target", "y"], "missing.csv"),
    (["builtin:wine", "--top", "0"], "--top"),
    (["builtin:wine", "--storage", "postgresql+psycopg://u:secret@127.0.0.1:1/x"], "127.0.0.1"),
])
def test_recommend_bad_input_is_one_line(args, needle):
    done = run_cli("recommend", *args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert needle in done.stderr
    assert "secret" not in done.stderr


def test_users_studies_join_the_meta_model(tmp_path):
    from autodistill.meta import KnowledgeAdvisor
    from autodistill.meta.fitting import fit_meta_model
    from autodistill.study.run import run_search

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    run_search("builtin:iris", student="mlp:4", space="fast", trials=3, storage=url,
               study="mine", quiet=True, handle_signals=False, advisor=KnowledgeAdvisor())
    rows = load_meta_rows(url)
    own = [r for r in rows if r.task == "study:mine"]
    assert len(own) >= 1
    assert set(own[0].meta_features) == set(META_FEATURES)
    assert fit_meta_model(rows).n_tasks == len({r.task for r in rows})


def _rounded(doc):
    if isinstance(doc, dict):
        return {k: _rounded(v) for k, v in doc.items()}
    return round(doc, 9) if isinstance(doc, float) else doc


def test_search_warm_start_enqueues_the_top_recommendations(tmp_path):
    import optuna

    from autodistill.meta.knowledge import shipped_space

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    picks = run_cli("recommend", "builtin:iris", "--student", "mlp:4", "--top", "3",
                    "--storage", url, "--json")
    assert picks.returncode == 0, picks.stderr
    recommended = [_rounded(r["pipeline"]) for r in json.loads(picks.stdout)["recommendations"]]
    space_name = shipped_space()  # the space the recommender's candidates come from
    done = run_cli("search", "builtin:iris", "--student", "mlp:4", "--space", space_name,
                   "--trials", "6", "--warm-start", "3", "--storage", url, "--study", "warm",
                   "--json")
    assert done.returncode == 0, done.stderr
    trials = optuna.load_study(study_name="warm", storage=url).get_trials()
    ran = [_rounded(t.user_attrs["pipeline"]) for t in trials]
    assert json.loads(done.stdout)["trials"]["counted"] == len(ran) == 6
    # The recommendations run first; the presets (those not recommended) run last.
    assert ran[:3] == recommended
    # The presets as that space holds them (suite 1's kb space searches epochs, so there
    # the training recipe's "auto" settings take the space's starting values), resolved
    # for iris' 96 training rows as every trial states.
    from autodistill.study.space_files import load_space

    space = load_space(space_name)
    presets = [_rounded(space.sample(optuna.trial.FixedTrial(space.params_for(
        Pipeline.from_dict(PRESETS[name])))).for_rows(96).to_dict()) for name in ("plain", "hinton")]
    missing = [doc for doc in presets if doc not in recommended]
    assert ran[len(ran) - len(missing):] == missing


def test_a_knowledge_base_trial_is_proposed_with_the_settings_its_space_leaves_to_the_data():
    from autodistill.meta.candidates import proposed_pipeline
    from autodistill.meta.model import MetaRow
    from autodistill.study.space_files import load_space

    # a suite-2 trial stores its settings resolved for its table: 4,000 steps on 10,000 rows
    stored = Pipeline.from_dict(PRESETS["plain"]).for_rows(10_000).to_dict()
    row = MetaRow("kb:pkg:src/big|mlp:16|auto", {}, stored, 0.8, 0.8, 0.9)
    proposed = proposed_pipeline(row, load_space("kb2").training)
    assert proposed["training"]["epochs"] == proposed["training"]["patience"] == "auto"
    assert {k: v for k, v in proposed["training"].items() if k not in ("epochs", "patience")} \
        == {k: v for k, v in stored["training"].items() if k not in ("epochs", "patience")}
    # on a 96-row table it trains for its steps, not for the big table's epoch count
    as_proposed = Pipeline.from_dict(proposed).for_rows(96).training
    as_stored = Pipeline.from_dict(stored).for_rows(96).training
    assert as_stored["epochs"] == stored["training"]["epochs"] < as_proposed["epochs"]
    # a batch size the space cannot name came from "auto" (the preset's, on a small table)
    small = Pipeline.from_dict(PRESETS["plain"]).for_rows(100).to_dict()
    assert small["training"]["batch_size"] not in (32, 64, 128, 256)
    again = proposed_pipeline(MetaRow("kb:t", {}, small, 0.8, 0.8, 0.9), load_space("kb2").training)
    assert again == {**Pipeline.from_dict(PRESETS["plain"]).to_dict(),
                     "training": {**small["training"], "epochs": "auto", "patience": "auto",
                                  "batch_size": "auto"}}
    # suite 1's epoch-based trials, and the user's own studies, are proposed as they ran
    suite_one = {**stored, "training": {**stored["training"], "epochs": 40, "patience": 10,
                                        "batch_size": 64}}
    assert proposed_pipeline(MetaRow("kb:t", {}, suite_one, 0.8, 0.8, 0.9),
                             load_space("kb").training) == suite_one
    assert proposed_pipeline(MetaRow("study:mine", {}, stored, 0.8, 0.8, 0.9),
                             load_space("kb2").training) == stored


# -- meta evaluate ----------------------------------------------------------------------------

@pytest.mark.slow
def test_the_readmes_quote_the_figures_meta_evaluate_prints(tmp_path):
    from autodistill.meta.teacher_margin import describe_hinton_by_margin
    from autodistill.meta.verdict_level import describe_verdict_check

    # Whatever they are: the evaluation is reported, not asserted to flatter the product.
    done = run_cli("meta", "evaluate", "--storage", f"sqlite:///{tmp_path / 'e.db'}", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tasks"] >= 60
    methods = report["methods"]
    mine = methods["recommender"]
    # The figures the READMEs quote are the ones this command prints (built-ins only, as
    # the suite runs it and as the READMEs say).
    root = Path(__file__).resolve().parents[1]
    readme = " ".join((root / "README.md").read_text().split())
    studies = (root / "studies/README.md").read_text()
    tuned, versus = methods["plain_tuned"], report["distillation_vs_plain_tuned"]
    assert (f"accuracy of {mine['mean_test_accuracy']:.4f} against "
            f"{tuned['mean_test_accuracy']:.4f} for `plain_tuned`, "
            f"{methods['plain']['mean_test_accuracy']:.4f} for `plain` and "
            f"{methods['hinton']['mean_test_accuracy']:.4f} for `hinton`") in readme
    wins = {m: round(100 * mine["win_rate"][m]) for m in ("plain_tuned", "plain", "hinton")}
    assert (f"wins {wins['plain_tuned']}% of tasks against `plain_tuned`, {wins['plain']}% "
            f"against `plain` and {wins['hinton']}% against `hinton`") in readme
    every, led = versus["all"], versus["teacher_leads_plain_tuned_by_0.02"]
    assert (f"ahead on {every['gain']} of {every['tasks']} tasks and behind on {every['loss']} "
            f"(mean {every['mean_test_gain']:+.4f})") in readme
    assert (f"on the {led['tasks']} tasks whose teacher leads `plain_tuned` by 2 points or more "
            f"on validation, ahead on {led['gain']} and behind on {led['loss']} "
            f"(mean {led['mean_test_gain']:+.4f})") in readme
    even = versus["equal_budget"]
    every, led = even["all"], even["teacher_leads_plain_tuned_by_0.02"]
    assert (f"ahead on {every['gain']} of {every['tasks']} tasks and behind on {every['loss']} "
            f"(mean {every['mean_test_gain']:+.4f}); where the teacher leads by 2 points, ahead "
            f"on {led['gain']} and behind on {led['loss']} (mean {led['mean_test_gain']:+.4f})"
            ) in readme
    least = {m: f'{round(100 * mine["at_least_as_good"][m], 1):g}' for m in ("plain", "hinton")}
    assert (f"at least as good as `plain` on {least['plain']}% of tasks and as `hinton` on "
            f"{least['hinton']}%") in readme
    assert (f"predicts that distillation helps on {round(100 * report['distillation_helps'])}% of "
            "the held-out tasks") in readme
    assert f"(median gain {methods['plain']['median_gain_over_plain_tuned']:+.4f})" in readme
    flat = " ".join(studies.split())
    # whether the verdict tells the tasks apart, and where hinton gains, as printed
    assert describe_verdict_check(report["verdict_check"]) in flat
    assert describe_hinton_by_margin(report["hinton_by_teacher_margin"]) in flat
    # and what the model recommend uses measured of its verdict out of bag
    done = run_cli("recommend", "builtin:iris", "--top", "1", "--json",
                   "--storage", f"sqlite:///{tmp_path / 'e.db'}")
    assert done.returncode == 0, done.stderr
    check = json.loads(done.stdout)["model"]["verdict_check"]
    yes, no = check["helps"], check["does_not_help"]
    assert (f"said yes ({yes['tasks']} tables), `hinton` was at least as good as `plain` on "
            f"{100 * yes['hinton_at_least_plain']:.1f}% and gained "
            f"{yes['hinton_gain_over_plain']:+.4f} on average; where it said no "
            f"({no['tasks']}), on {100 * no['hinton_at_least_plain']:.1f}%, gaining "
            f"{no['hinton_gain_over_plain']:+.4f}") in flat
    assert (f"hinton gained {yes['hinton_gain_over_plain']:+.4f} over plain where it said yes "
            f"and {no['hinton_gain_over_plain']:+.4f} where it said no") in flat
    # the same verdicts judged on seed means (benchmarks/bench_seed_repeats.py)
    for line in _seed_repeat_verdict_lines(root, report):
        assert line in flat, line
    # the picks benchmarks/bench_seed_picks.py trained with five seeds are this report's
    for task, picks in _seed_pick_picks(root).items():
        held = next(t for t in report["per_task"] if t["task"] == task)
        assert picks == {m: held["picks"][m] for m in picks}, task
    # the verdict's level each held-out fit chose, as studies/README.md lists them
    for level, count in report["verdict_levels"].items():
        assert re.search(rf"\b{level}th on {count}\b", flat), (level, count)
    for teacher, lead in report["teacher_vs_plain_tuned"].items():
        assert (f"`{teacher}` leads `plain_tuned` on validation on {lead['ahead_on_valid']} of "
                f"{lead['tasks']} tasks, by 2 points or more on {lead['ahead_by_0.02_on_valid']}, "
                f"mean validation lead {lead['mean_valid_lead']:+.4f}, mean test lead "
                f"**{lead['mean_test_lead']:+.4f}**") in flat, teacher
    names = {"recommender": "recommender", "plain_tuned": "plain_tuned", "plain": "plain",
             "hinton": "hinton", "single_best": "single best on average",
             "nearest_task": "best of the nearest dataset"}
    for method, label in names.items():
        row = methods[method]
        rate = "-" if method == "recommender" else f"{mine['win_rate'][method]:.2f}"
        assert (f"| {label} | {row['mean_regret']:.4f} | {row['mean_gain_over_plain']:+.4f} | "
                f"{row['mean_gain_over_plain_tuned']:+.4f} | "
                f"{row['median_gain_over_plain_tuned']:+.4f} | {row['mean_test_accuracy']:.4f} | "
                f"{rate} |") in studies, method


def _seed_repeat_verdict_lines(root: Path, report: dict) -> list[str]:
    """What ``benchmarks/bench_seed_repeats.py --evaluation`` prints of ``report``'s held-out
    verdicts, from the shipped seed repeats (studies/controls/)."""
    from benchmark_loader import load_benchmark

    bench = load_benchmark("bench_seed_repeats")
    results = list(bench.read_results(root / "studies" / "controls"
                                      / "seed_repeats.jsonl").values())
    plain, _ = bench.seed_controls(root / "studies")
    return [line for line in bench.summarise(results, plain, report)
            if line.startswith("where the held-out verdict")]


def _seed_pick_picks(root: Path) -> dict[str, dict[str, int]]:
    """Held-out task -> the picks whose seeds ``benchmarks/bench_seed_picks.py`` shipped."""
    from benchmark_loader import load_benchmark

    bench = load_benchmark("bench_seed_picks")
    results = bench.read_results(root / "studies" / "controls" / "seed_picks.jsonl")
    return {task: picks for r in results.values() for task, picks in r["picks"].items()}


def test_an_interval_is_the_spread_of_the_bootstrap_sub_ensembles_not_of_single_trees():
    from autodistill.meta.model import BOOTSTRAP_GROUPS, summarise_trees

    # 20 groups of 5 trees: group g predicts g on average, its single trees +-100 around it
    wobble = np.asarray([100.0, -100.0, 50.0, -50.0, 0.0])
    per_tree = (np.arange(BOOTSTRAP_GROUPS, dtype=float)[:, None] + wobble).reshape(-1, 1)
    mean, interval = summarise_trees(per_tree)
    assert mean[0] == pytest.approx(9.5)
    assert interval[0] == pytest.approx(
        np.percentile(np.arange(20.0), [10, 90], method="median_unbiased"))


def test_the_same_rows_fit_the_same_model():
    from autodistill.meta.fitting import fit_meta_model

    tasks, trials = read_shipped()
    rows = meta_rows_from_records(sorted(tasks, key=lambda t: t["task"])[:12], trials)
    first, second = (fit_meta_model(rows, n_trees=40, keep=False) for _ in range(2))
    meta, docs = rows[0].meta_features, [r.pipeline for r in rows[:6]]
    assert np.array_equal(first.predict_gain_trees(meta, docs),
                          second.predict_gain_trees(meta, docs))


def test_evaluation_needs_a_complete_portfolio():
    from autodistill.meta.evaluation import evaluate_rows

    tasks, trials = read_shipped()
    rows = meta_rows_from_records(tasks[:2], trials)
    with pytest.raises(ValueError, match="three tasks"):
        evaluate_rows(rows)


# -- building the knowledge base ---------------------------------------------------------------

@pytest.mark.slow
def test_build_kb_writes_sorted_jsonl_and_resumes(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    args = ("meta", "build-kb", "--out", str(out), "--work", str(work), "--limit", "1",
            "--trials", str(len(PORTFOLIO) + 1), "--workers", "1", "--json")
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["tasks"] == 1 and summary["failed"] == {}
    trials = [json.loads(line) for line in (out / "kb_trials.jsonl").read_text().splitlines()]
    assert len(trials) == len(PORTFOLIO) + 1
    assert sorted(t["portfolio"] for t in trials if t["portfolio"] is not None) == list(
        range(len(PORTFOLIO)))
    first = (out / "kb_trials.jsonl").read_text()
    again = run_cli(*args)  # resuming a finished build runs nothing and writes the same
    assert again.returncode == 0, again.stderr
    assert (out / "kb_trials.jsonl").read_text() == first
    task = json.loads((out / "kb_tasks.jsonl").read_text())
    assert set(task["meta_features"]) == set(META_FEATURES)


def test_build_kb_refuses_fewer_trials_than_the_portfolio(tmp_path):
    done = run_cli("meta", "build-kb", "--out", str(tmp_path), "--trials", "3")
    assert done.returncode == 2
    assert "--trials 3" in done.stderr and "Traceback" not in done.stderr


def test_recommend_on_a_table_whose_teacher_is_at_chance_ranks_plain_first(tmp_path):
    """A sweep met it on ISLP Hitters: the teacher warned "no better than chance" and the
    verdict said "distillation is predicted to help". A teacher at chance on validation
    has nothing to teach: the plain pipeline goes first and the verdict says why."""
    rng = np.random.default_rng(0)
    labels = rng.choice(["x", "y"], 400, p=[0.85, 0.15])  # columns of noise
    rows = [f"{a:.3f},{b:.3f},{c}" for a, b, c in
            zip(rng.normal(size=400), rng.normal(size=400), labels, strict=True)]
    path = tmp_path / "noise.csv"
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    done = run_cli("recommend", str(path), "--target", "label", "--teacher", "gbdt", "--json",
                   "--storage", f"sqlite:///{tmp_path / 'r.db'}")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["teacher_at_chance"] is True and doc["distillation_helps"] is False
    assert doc["recommendations"][0]["uses_teacher"] is False
    assert doc["recommendations"][0]["pipeline"] == doc["plain"]["pipeline"]
    assert "the teacher is no better than chance on validation" in doc["verdict"]
