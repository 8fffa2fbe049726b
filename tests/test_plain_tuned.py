"""plain_tuned, the honest baseline: its study, the knowledge base's plain_tuned studies,
the meta-model's target, `recommend` saying when distillation will not help, `meta
evaluate`'s baseline and the `studies` commands' gains over no teacher."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from cli_runner import run_cli

from autodistill.meta.kb_plain import PLAIN_FILE, parse_plain_tuned, read_plain_tuned
from autodistill.meta.knowledge import meta_rows_from_records, read_shipped
from autodistill.meta.model import MetaRow, is_teacherless, task_outcomes, task_reference
from autodistill.meta.task_suite import kb_tasks
from autodistill.training.pipeline import load_pipeline

ONLY_HINTON = """\
description: hinton only, so that the best trial uses the teacher
kd_loss: {components: [hinton]}
mi_objective: {components: [none]}
augmentation: {components: [none]}
curriculum: {components: [none]}
training:
  epochs: {low: 20, high: 30}
  patience: {value: 5}
"""


# -- the plain_tuned study ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A hinton-only study of iris and its plain_tuned study, in one database."""
    from autodistill.study.plain import run_plain_tuned
    from autodistill.study.run import run_search

    folder = tmp_path_factory.mktemp("plain")
    url = f"sqlite:///{folder / 'studies.db'}"
    space = folder / "hinton.yaml"
    space.write_text(ONLY_HINTON)
    kd = run_search("builtin:iris", student="mlp:4", space=str(space), trials=2, storage=url,
                    study="iris", quiet=True, handle_signals=False)
    plain = run_plain_tuned("builtin:iris", student="mlp:4", trials=3, storage=url,
                            study="iris", quiet=True, handle_signals=False)
    return {"url": url, "kd": kd, "plain": plain}


def test_plain_tuned_trains_no_teacher_and_searches_training_settings_only(searched):
    import optuna

    summary = searched["plain"]
    assert summary["study"] == "iris-plain_tuned"
    assert summary["teacher"] == {"spec": "none", "accuracy": None}
    assert summary["space"] == "plain" and summary["trials"]["complete"] == 3
    trials = optuna.load_study(study_name="iris-plain_tuned", storage=searched["url"]).trials
    docs = [t.user_attrs["pipeline"] for t in trials]
    assert all(is_teacherless(doc) for doc in docs)
    assert len({json.dumps(doc["training"], sort_keys=True) for doc in docs}) == 3
    # The plain preset runs first, and its trial states the settings it used (the
    # recipe resolved for iris' 96 training rows).
    assert docs[0]["training"] == load_pipeline("plain").for_rows(96).training
    assert summary["best"]["valid_score"] == max(t.value for t in trials)


@pytest.mark.parametrize("none", ["none", "None"])  # read in any case, as distill reads it
def test_a_space_that_uses_a_teacher_refuses_teacher_none(tmp_path, none):
    done = run_cli("search", "builtin:iris", "--teacher", none, "--space", "fast",
                   "--trials", "1", "--storage", f"sqlite:///{tmp_path / 's.db'}")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--teacher none" in done.stderr and "--space plain" in done.stderr


def test_search_records_the_no_teacher_twin_of_its_best_trial(searched):
    from autodistill.training.pipeline import Pipeline

    best = searched["kd"]["best"]
    assert best["pipeline"]["kd_loss"]["name"] == "hinton"
    assert Pipeline.from_dict(best["pipeline"]).uses_teacher
    twin = best["no_teacher_twin"]
    assert twin is not None and twin["training"] == best["pipeline"]["training"]
    assert 0.0 <= twin["valid"] <= 1.0 and 0.0 <= twin["test"] <= 1.0


def test_studies_show_and_compare_measure_against_no_teacher(searched):
    url = searched["url"]
    done = run_cli("studies", "show", "iris", "--storage", url, "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    best, twin, tuned = doc["best"], doc["best"]["no_teacher_twin"], doc["plain_tuned"]
    assert best["gain_over_twin"] == pytest.approx(best["valid_score"] - twin["valid"], abs=1e-6)
    assert tuned["study"] == "iris-plain_tuned"
    assert tuned["valid_score"] == pytest.approx(searched["plain"]["best"]["valid_score"])
    assert best["gain_over_plain_tuned"] == pytest.approx(
        best["valid_score"] - tuned["valid_score"], abs=1e-6)
    for trial in doc["top_trials"]:
        assert trial["gain_over_plain_tuned"] == pytest.approx(
            trial["valid_score"] - tuned["valid_score"], abs=1e-6)
    shown = run_cli("studies", "show", "iris", "--storage", url)
    assert shown.returncode == 0 and "no-teacher twin" in shown.stdout
    assert "iris-plain_tuned" in shown.stdout
    compared = run_cli("studies", "compare", "iris", "iris-plain_tuned", "--storage", url)
    assert compared.returncode == 0 and "gain over plain_tuned" in compared.stdout


def test_studies_components_gain_is_over_plain_tuned_not_the_preset(searched):
    done = run_cli("studies", "components", "--storage", searched["url"], "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    # The plain_tuned study is the baseline, not a study of components.
    assert doc["n_studies"] == 1 and doc["n_studies_with_plain_tuned"] == 1
    hinton = next(r for r in doc["components"] if r["component"] == "hinton")
    reference = searched["plain"]["best"]["valid_score"]
    import optuna

    values = [t.value for t in optuna.load_study(study_name="iris", storage=searched["url"]).trials]
    assert hinton["mean_gain"] == pytest.approx(sum(values) / len(values) - reference, abs=1e-4)
    assert hinton["n_twin"] == 1
    twin = searched["kd"]["best"]["no_teacher_twin"]["valid"]
    assert hinton["mean_twin_gain"] == pytest.approx(max(values) - twin, abs=1e-4)


def test_the_users_plain_tuned_study_is_the_reference_of_their_rows(searched):
    from autodistill.meta import KnowledgeAdvisor
    from autodistill.meta.knowledge import load_meta_rows
    from autodistill.study.run import run_search

    url = searched["url"]
    run_search("builtin:iris", student="mlp:4", space="fast", trials=1, storage=url,
               study="iris-warm", quiet=True, handle_signals=False, advisor=KnowledgeAdvisor())
    rows = [r for r in load_meta_rows(url) if r.task.startswith("study:")]
    assert rows and all(r.reference is None for r in rows)  # no iris-warm-plain_tuned
    from autodistill.study.plain import run_plain_tuned

    run_plain_tuned("builtin:iris", student="mlp:4", trials=1, storage=url, study="iris-warm",
                    quiet=True, handle_signals=False)
    rows = [r for r in load_meta_rows(url) if r.task == "study:iris-warm"]
    assert rows and all(r.reference is not None for r in rows)


# -- the knowledge base's plain_tuned studies ------------------------------------------------

@pytest.mark.slow
def test_build_kb_plain_tuned_part_writes_only_its_file_and_resumes(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    args = ("meta", "build-kb", "--part", "plain_tuned", "--plain-trials", "2", "--limit", "1",
            "--workers", "1", "--out", str(out), "--work", str(work), "--json")
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["plain_tuned"] == 1
    assert sorted(p.name for p in out.iterdir()) == [PLAIN_FILE]  # the KB files are left alone
    first = (out / PLAIN_FILE).read_text()
    (record,) = parse_plain_tuned(first).values()
    assert record["task"] == kb_tasks()[0].key and len(record["trials"]) == 2
    assert record["best"]["valid"] == max(t["valid"] for t in record["trials"])
    again = run_cli(*args)
    assert again.returncode == 0 and (out / PLAIN_FILE).read_text() == first


def test_build_kb_refuses_an_unknown_part(tmp_path):
    done = run_cli("meta", "build-kb", "--part", "teachers", "--out", str(tmp_path))
    assert done.returncode == 2 and "--part 'teachers'" in done.stderr


def test_every_shipped_task_has_its_plain_tuned_study(shipped_suite):
    from autodistill.meta.kb_build import portfolio
    from autodistill.meta.kb_staged_build import LARGE_PLAIN_TRIALS, LARGE_ROWS

    plain = read_plain_tuned()
    tasks, _ = read_shipped()
    # suite 2: the teachers of one (data, student) share its study, keyed data|student
    assert set(plain) == {t.get("plain_task", t["task"]) for t in tasks}
    rows = {t.get("plain_task", t["task"]): t["n_rows"] for t in tasks}
    # The preset first, as it was when the knowledge base was built (suite 1: lr 0.003).
    preset_lr = 0.003 if shipped_suite == 1 else portfolio(2)[0].to_dict()["training"]["lr"]
    for key, record in plain.items():
        large = shipped_suite == 2 and rows[key] > LARGE_ROWS
        assert len(record["trials"]) == (LARGE_PLAIN_TRIALS if large else 20), key
        assert record["best"]["valid"] == max(t["valid"] for t in record["trials"])
        assert record["trials"][0]["training"]["lr"] == preset_lr


def test_knowledge_base_rows_carry_their_tasks_plain_tuned_score():
    tasks, trials = read_shipped()
    plain = {tasks[0]["task"]: {"best": {"valid": 0.5}}}
    rows = meta_rows_from_records(tasks[:2], trials, plain)
    first = [r for r in rows if r.task == f"kb:{tasks[0]['task']}"]
    second = [r for r in rows if r.task == f"kb:{tasks[1]['task']}"]
    assert {r.reference for r in first} == {0.5}
    assert {r.reference for r in second} == {None}
    # Without a plain_tuned study the reference is the task's best teacherless trial.
    assert task_reference(second) == max(r.valid for r in second if is_teacherless(r.pipeline))


def test_the_meta_model_learns_from_the_knowledge_bases_test_splits_only():
    tasks, trials = read_shipped()
    key = tasks[0]["task"]
    rows = meta_rows_from_records(tasks[:1], trials, {key: {"best": {"valid": 0.9, "test": 0.7}}})
    scores, reference = task_outcomes(rows)
    assert list(scores) == [r.test for r in rows] and reference == 0.7
    # one trial without a test score: the whole task falls back to validation
    partial = [dataclasses.replace(rows[0], test=None), *rows[1:]]
    scores, reference = task_outcomes(partial)
    assert list(scores) == [r.valid for r in partial] and reference == 0.9
    # no plain_tuned study: the test score of the teacherless trial the validation picks
    alone = meta_rows_from_records(tasks[:1], trials, {})
    picked = max((r for r in alone if is_teacherless(r.pipeline)), key=lambda r: r.valid)
    assert task_outcomes(alone)[1] == picked.test
    # a user's own study teaches on validation: its test split stays the user's
    study = [dataclasses.replace(r, task="study:mine") for r in alone]
    scores, reference = task_outcomes(study)
    assert list(scores) == [r.valid for r in study] and reference == picked.valid


# -- recommend: when distillation will not help -----------------------------------------------

def _rows_with_the_teacher_moved(shift: float, plain_above: float | None = None,
                                 valid_shift: float | None = None) -> list[MetaRow]:
    """The shipped knowledge base with every trial that uses the teacher moved ``shift`` in
    test accuracy and ``valid_shift`` (default ``shift``) in validation accuracy (< 0: no
    pipeline with the teacher beats those without; > 0: all of them do); ``plain_above``:
    each task's plain_tuned best set that far above its best trial on both splits (else
    the shipped plain_tuned)."""
    tasks, trials = read_shipped()
    shifts = {"valid": shift if valid_shift is None else valid_shift, "test": shift}
    # without its stored metrics, a trial is scored by its (moved) accuracy
    moved = [{**{k: v for k, v in t.items() if k != "metrics"},
              **{split: t[split] + (0.0 if is_teacherless(t["pipeline"]) else by)
                 for split, by in shifts.items()}}
             for t in trials]
    plain = None
    if plain_above is not None:
        best: dict[str, dict[str, float]] = {}
        for trial in moved:
            seen = best.setdefault(trial["task"], {"valid": 0.0, "test": 0.0})
            for split in seen:
                seen[split] = max(seen[split], trial[split])
        plain = {key: {"best": {split: value + plain_above for split, value in seen.items()}}
                 for key, seen in best.items()}
    return meta_rows_from_records(tasks, moved, plain)


@pytest.fixture(scope="module")
def iris_task() -> dict:
    from autodistill.data.dataset import load_dataset
    from autodistill.meta.recommender import task_summary
    from autodistill.training.teachers import get_teacher

    dataset = load_dataset("builtin:iris")
    return task_summary(dataset, get_teacher("auto", dataset), "mlp:4")


def test_recommend_says_distillation_will_not_help_when_nothing_beats_plain(
        iris_task, tmp_path, monkeypatch, capsys):
    from autodistill.cli.recommend import _render
    from autodistill.meta import knowledge
    from autodistill.meta.recommender import rank_for_task

    monkeypatch.setattr(knowledge, "load_meta_rows", lambda url, **_: _rows_with_the_teacher_moved(-0.1))
    doc = rank_for_task(iris_task, top=3, storage=f"sqlite:///{tmp_path / 'r.db'}")
    assert doc["distillation_helps"] is False
    first = doc["recommendations"][0]
    assert first["uses_teacher"] is False and is_teacherless(first["pipeline"])
    assert doc["plain"]["pipeline"] == first["pipeline"]
    # no pipeline with the teacher beats the plain pick beyond the paired interval
    assert doc["teacher_vs_plain"]["interval"][0] <= 0
    assert doc["verdict"].startswith("distillation is not predicted to help")
    assert "`autodistill distill --teacher none`" in doc["verdict"]  # and how, with no teacher
    json.dumps(doc)  # what --json prints
    _render(doc)
    printed = " ".join(capsys.readouterr().out.split())
    assert "distillation is not predicted to help" in printed


def test_recommend_says_distillation_helps_when_it_is_predicted_to(iris_task, tmp_path,
                                                                   monkeypatch):
    from autodistill.meta import knowledge
    from autodistill.meta.recommender import rank_for_task

    monkeypatch.setattr(knowledge, "load_meta_rows", lambda url, **_: _rows_with_the_teacher_moved(0.1))
    doc = rank_for_task(iris_task, top=3, storage=f"sqlite:///{tmp_path / 'r.db'}")
    assert doc["distillation_helps"] is True
    assert doc["verdict"].startswith("distillation is predicted to help")
    versus = doc["teacher_vs_plain"]
    assert versus["interval"][0] > 0 and versus["gain"] > 0
    assert f"{versus['gain']:+.4f}" in doc["verdict"]
    # the interval shown is the one the verdict was decided at
    level = versus["verdict_level"]
    assert level == doc["model"]["verdict_level"]
    assert (f"its {level:.0f}th to {100 - level:.0f}th percentile: "
            f"{versus['interval'][0]:+.4f}") in doc["verdict"]
    assert doc["recommendations"][0]["uses_teacher"]
    scores = [r["predicted_score"] for r in doc["recommendations"]]
    assert scores[1:] == sorted(scores[1:], reverse=True)  # the rule's pick, then by score


def test_distillation_is_weighed_against_the_plain_pick_not_plain_tuneds_score(
        iris_task, tmp_path, monkeypatch):
    """Every pipeline here is predicted below plain_tuned (its best is set above every
    trial), yet the pipelines with the teacher beat those without by 0.1 everywhere: the
    choice the user has is the plain pick, so distillation helps."""
    from autodistill.meta import knowledge
    from autodistill.meta.recommender import rank_for_task

    monkeypatch.setattr(knowledge, "load_meta_rows",
                        lambda url, **_: _rows_with_the_teacher_moved(0.1, plain_above=0.2))
    doc = rank_for_task(iris_task, top=3, storage=f"sqlite:///{tmp_path / 'r.db'}")
    assert all(r["gain_interval"][1] < 0 for r in doc["recommendations"])
    assert doc["distillation_helps"] is True and doc["recommendations"][0]["uses_teacher"]


def test_a_teacher_that_only_looks_better_on_validation_is_not_recommended(
        iris_task, tmp_path, monkeypatch):
    """Validation reads high (early stopping picks the best epoch on it); the test split of
    a knowledge-base task chose nothing, so it is what the recommender believes."""
    from autodistill.meta import knowledge
    from autodistill.meta.recommender import rank_for_task

    monkeypatch.setattr(knowledge, "load_meta_rows", lambda url, **_: _rows_with_the_teacher_moved(
        -0.1, valid_shift=0.1))
    doc = rank_for_task(iris_task, top=3, storage=f"sqlite:///{tmp_path / 'r.db'}")
    assert doc["distillation_helps"] is False
    assert doc["teacher_vs_plain"]["gain"] < 0
    assert doc["recommendations"][0]["uses_teacher"] is False


# -- meta evaluate -----------------------------------------------------------------------------

def test_evaluation_reports_plain_tuned_as_a_baseline():
    from autodistill.meta.evaluation import distillation_vs_plain_tuned, evaluate_rows

    tasks, trials = read_shipped()
    keep = sorted(tasks, key=lambda t: t["task"])[:8]  # several datasets
    keys = [t["task"] for t in keep]
    rows = meta_rows_from_records(keep, trials, {})
    # A made-up plain_tuned: the test accuracy of each task's plain preset plus 0.01.
    plain = {k: {"best": {"valid": 0.9, "test": next(
        r.test for r in rows if r.task == f"kb:{k}" and r.portfolio == 0) + 0.01}} for k in keys}
    report = evaluate_rows(rows, n_trees=10, plain=plain)
    methods = report["methods"]
    assert "plain_tuned" in methods and report["tasks"] == len(keys)
    assert methods["plain_tuned"]["mean_gain_over_plain_tuned"] == 0
    assert methods["plain"]["mean_gain_over_plain_tuned"] == pytest.approx(-0.01, abs=1e-5)
    assert methods["plain"]["win_rate"]["plain_tuned"] == 0
    assert methods["plain"]["at_least_as_good"]["plain_tuned"] == 0
    assert methods["plain_tuned"]["at_least_as_good"]["plain"] == 1
    # a tie counts half a win, and makes each side "at least as good"
    for a, b in (("plain", "hinton"), ("recommender", "plain")):
        mine, theirs = methods[a]["at_least_as_good"][b], methods[b]["at_least_as_good"][a]
        assert methods[a]["win_rate"][b] == pytest.approx((mine - theirs + 1) / 2, abs=1e-4)
    assert 0.0 <= report["distillation_helps"] <= 1.0

    versus = distillation_vs_plain_tuned(rows, plain, keep)
    assert versus["all"]["tasks"] == len(keys)
    assert versus["all"]["gain"] + versus["all"]["loss"] + versus["all"]["tie"] == len(keys)
    # teacher_valid - 0.9 >= 0.02 picks the tasks whose teacher leads plain_tuned
    strong = sum((t["teacher_valid"] or 0) - 0.9 >= 0.02 for t in keep)
    assert versus["teacher_leads_plain_tuned_by_0.02"]["tasks"] == strong
    # the made-up plain_tuned records hold no trials: the whole study is the budget
    assert versus["equal_budget"]["all"] == versus["all"]


def test_an_equal_budget_is_the_expected_best_of_that_many_trials_drawn_at_random():
    from autodistill.meta.evaluation import _expected_best_test

    def row(valid, test):
        return MetaRow("kb:t", {}, {}, valid, test, 0.9)

    trials = [row(0.8, 0.70), row(0.9, 0.60), row(0.9, 0.10), row(0.7, 0.90)]
    # all four: the best on validation, the first of the tie
    assert _expected_best_test(trials, 4) == pytest.approx(0.60)
    assert _expected_best_test(trials, 9) == pytest.approx(0.60)
    # one: any trial, equally likely
    assert _expected_best_test(trials, 1) == pytest.approx(np.mean([0.7, 0.6, 0.1, 0.9]))
    # two: by brute force over the six pairs (ties to the earlier trial)
    pairs = [(a, b) for a in range(4) for b in range(a + 1, 4)]
    by_hand = np.mean([trials[min(p, key=lambda i: (-trials[i].valid, i))].test for p in pairs])
    assert _expected_best_test(trials, 2) == pytest.approx(by_hand)


def test_evaluation_holds_out_real_tables_with_every_teacher_and_their_own_portfolio():
    # suite 2's shape: real tables (pkg:) and synthetic ones, each with teachers auto and
    # gbdt; a gbdt task runs no MI pipeline, so its candidates are the pipelines it ran
    from dataclasses import replace

    from autodistill.meta.evaluation import evaluate_rows
    from autodistill.meta.model import group_by_task

    tasks, trials = read_shipped()
    base = meta_rows_from_records(tasks[:8], trials, {})
    rows, plain = [], {}
    for index, task_rows in enumerate(dict(sorted(group_by_task(base).items())).values()):
        data = f"pkg:src/table{index}" if index < 5 else f"synthetic:t{index}"
        for teacher in ("auto", "gbdt"):
            key = f"{data}|mlp:16|{teacher}"
            plain[key] = {"best": {"valid": 0.5, "test": 0.5}}
            rows += [replace(r, task=f"kb:{key}") for r in task_rows
                     if teacher == "auto" or r.portfolio != 19]
    report = evaluate_rows(rows, n_trees=10, plain=plain)
    assert report["held_out"] == "real tables" and report["tasks"] == 10
    assert {t["task"].split("|")[0] for t in report["per_task"]} == {
        f"pkg:src/table{i}" for i in range(5)}
    assert set(report["by_teacher"]) == {"auto", "gbdt"}
    for teacher, methods in report["by_teacher"].items():
        assert set(methods) == set(report["methods"]), teacher
    gbdt = [t for t in report["per_task"] if t["teacher"] == "gbdt"]
    assert gbdt and all(19 not in t["picks"].values() for t in gbdt)
    every = evaluate_rows(rows, n_trees=10, plain=plain, real_only=False)
    assert every["held_out"] == "every task" and every["tasks"] == 16


def test_python_search_of_the_plain_space_returns_the_study_it_ran(tmp_path):
    # a study without a teacher is stored as '<name>-plain_tuned'; the Python API must
    # hand back that study, not fail loading the name it was given
    import autodistill

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    result = autodistill.search("builtin:iris", space="plain", trials=2, storage=url,
                                study="mine")
    assert result.study.study_name == "mine-plain_tuned"
    assert len(result.study.trials) == 2
    assert result.summary["study"] == "mine-plain_tuned"
