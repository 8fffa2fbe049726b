"""``--metric``: the objective of search, the score of distill's report, the ranking of
recommend and meta evaluate; every trial stores all four metrics."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import optuna
import pytest
from cli_runner import run_cli

from autodistill.errors import StorageError
from autodistill.metrics import METRICS, MetricError

VALID = "accuracy, balanced_accuracy, macro_f1, log_loss"


def assert_one_line_error(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("command", [
    ("search", "builtin:iris", "--trials", "1"),
    ("distill", "builtin:iris", "--pipeline", "plain"),
    ("recommend", "builtin:iris"),
    ("meta", "evaluate"),
])
def test_an_unknown_metric_is_one_line_listing_the_valid_ones(command, tmp_path):
    done = run_cli(*command, "--metric", "f1", "--storage", f"sqlite:///{tmp_path / 'm.db'}"
                   ) if command[0] != "distill" else run_cli(*command, "--metric", "f1")
    assert_one_line_error(done, "--metric 'f1'", VALID)


def test_distill_log_loss_with_the_teacherless_plain_pipeline(fresh_home):
    import autodistill

    result = autodistill.distill("builtin:iris", "plain", teacher="gbdt", metric="log_loss")
    report = result.report
    assert report["metric"] == "log_loss"
    student = report["student"]
    assert set(student["metrics"]["valid"]) == set(student["metrics"]["test"]) == set(METRICS)
    assert result.score == student["score"] == student["metrics"]["test"]["log_loss"]
    assert 0.0 < result.score < 5.0 and math.isfinite(result.score)
    assert student["metrics"]["test"]["accuracy"] == pytest.approx(student["accuracy"])
    # The existing keys are untouched; the teacher's metrics come from its probabilities.
    assert {"accuracy", "macro_f1", "params", "teacher_agreement"} <= set(student)
    assert set(report["teacher"]["metrics"]["test"]) == set(METRICS)
    assert report["teacher"]["score"] == report["teacher"]["metrics"]["test"]["log_loss"]


def _search(url: str, metric: str, trials: int = 4, study: str = "ll"):
    from autodistill.study.run import run_search

    return run_search("builtin:iris", student="mlp:4", space="plain", trials=trials,
                      storage=url, study=study, quiet=True, handle_signals=False,
                      population=2, metric=metric, twin=False)


def test_search_log_loss_minimises_it_and_every_trial_stores_all_metrics(tmp_path, fresh_home):
    url = f"sqlite:///{tmp_path / 's.db'}"
    summary = _search(url, "log_loss")
    name = summary["study"]
    study = optuna.load_study(study_name=name, storage=url)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) >= 2
    for trial in complete:
        stored = trial.user_attrs["metrics"]
        assert set(stored) == {"valid", "test"}
        assert set(stored["valid"]) == set(stored["test"]) == set(METRICS)
        assert trial.value == pytest.approx(stored["valid"]["log_loss"], abs=1e-6)
        assert "test_accuracy" in trial.user_attrs  # the existing attributes stay
    assert summary["metric"] == "log_loss"
    assert summary["best"]["valid_score"] == min(t.value for t in complete)
    assert summary["best"]["test_score"] == summary["best"]["metrics"]["test"]["log_loss"]
    from autodistill.store.record import read_study_record

    assert read_study_record(study).metric == "log_loss"


def test_studies_report_test_scores_in_the_studys_metric(tmp_path, fresh_home):
    """``studies list``, ``show`` and ``compare`` put the study's metric on test beside its
    validation score, not test accuracy; show names the metric and gives accuracy too."""
    from autodistill.meta.past_studies import compare_studies, list_studies, show_study

    url = f"sqlite:///{tmp_path / 's.db'}"
    name = _search(url, "log_loss", trials=2)["study"]
    study = optuna.load_study(study_name=name, storage=url)
    best = min((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    test_loss = best.user_attrs["metrics"]["test"]["log_loss"]
    assert test_loss != pytest.approx(best.user_attrs["test_accuracy"])
    shown = show_study(name, url)
    assert shown["best"]["test_score"] == pytest.approx(test_loss)
    assert shown["top_trials"][0]["test_score"] == pytest.approx(test_loss)
    assert list_studies(url)[0]["best"]["test_score"] == pytest.approx(test_loss)
    assert compare_studies([name], url)[0]["best"]["test_score"] == pytest.approx(test_loss)
    done = run_cli("studies", "show", name, "--storage", url)
    assert done.returncode == 0, done.stderr
    assert (f"test {test_loss:.4f}  (log_loss; test accuracy "
            f"{best.user_attrs['test_accuracy']:.4f})") in done.stdout
    listed = run_cli("studies", "list", "--storage", url, COLUMNS="200")
    assert listed.returncode == 0 and "log_loss" in listed.stdout, listed.stderr
    # the plot's axis names the study's metric too
    from autodistill.meta.study_plots import plot_study

    plot_study(name, tmp_path / "history.html", url)
    assert "validation log loss" in (tmp_path / "history.html").read_text()


def test_search_trains_every_member_to_its_studys_metric(tmp_path, fresh_home, monkeypatch):
    # the study's metric picks each member's best epoch and drives its early stopping
    from autodistill.training import engine

    seen: list[str] = []
    original = engine.train_population

    def spy(members, *args, **kwargs):
        seen.extend(member.metric for member in members)
        return original(members, *args, **kwargs)

    monkeypatch.setattr(engine, "train_population", spy)
    _search(f"sqlite:///{tmp_path / 's.db'}", "balanced_accuracy", trials=2)
    assert seen == ["balanced_accuracy", "balanced_accuracy"]


def test_resuming_a_study_with_another_metric_is_refused(tmp_path, fresh_home):
    url = f"sqlite:///{tmp_path / 's.db'}"
    name = _search(url, "balanced_accuracy", trials=1)["study"]
    before = len(optuna.load_study(study_name=name, storage=url).trials)
    with pytest.raises(StorageError, match="optimised --metric balanced_accuracy, not accuracy"):
        _search(url, "accuracy", trials=2)
    done = run_cli("search", "builtin:iris", "--student", "mlp:4", "--space", "plain",
                   "--trials", "2", "--storage", url, "--study", "ll", "--metric", "macro_f1")
    assert_one_line_error(done, "--metric balanced_accuracy", "not macro_f1")
    assert len(optuna.load_study(study_name=name, storage=url).trials) == before  # nothing lost


def test_a_study_recorded_before_metrics_reads_as_accuracy():
    from autodistill.store.record import read_study_record, trial_metrics

    old = {"autodistill": {"dataset": "builtin:iris", "dataset_name": "iris", "fingerprint": "f",
                           "teacher": "auto", "student": "mlp:4", "split_seed": 0,
                           "space": "fast", "n_rows": 150, "n_features": 4, "n_classes": 3,
                           "teacher_accuracy": 0.9}}
    assert read_study_record(old).metric == "accuracy"

    class OldTrial:
        value = 0.9
        user_attrs = {"test_accuracy": 0.8}

    assert trial_metrics(OldTrial()) == {"valid": {"accuracy": 0.9}, "test": {"accuracy": 0.8}}


@pytest.fixture
def dominant_csv(tmp_path: Path) -> Path:
    path = tmp_path / "rare.csv"
    rows = ["x,y,label"] + [f"{i % 7},{i % 5},common" for i in range(190)] + \
        [f"{i},{i + 1},rare" for i in range(10)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "majority class" in line]


@pytest.mark.parametrize("command", [
    ("distill", "--pipeline", "plain", "--teacher", "gbdt"),
    ("search", "--space", "plain", "--trials", "1", "--population", "1"),
    ("search", "--space", "plain", "--trials", "1", "--population", "1", "--out", "{tmp}/student"),
    ("recommend", "--teacher", "gbdt"),
])
def test_a_dominant_class_warns_once_when_the_metric_is_accuracy(command, dominant_csv,
                                                                  tmp_path):
    storage = [] if command[0] == "distill" else ["--storage", f"sqlite:///{tmp_path / 'w.db'}"]
    args = (command[0], str(dominant_csv), "--target", "label", "--quiet",
            *(a.format(tmp=tmp_path) for a in command[1:]), *storage)
    if command[0] == "recommend":
        args = tuple(a for a in args if a != "--quiet")
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert _warnings(done.stderr) == [
        f"autodistill: {dominant_csv}: the majority class is 95.0% of the rows; accuracy will "
        "flatter every pipeline; consider --metric balanced_accuracy"]
    if command[0] != "recommend":  # the shipped knowledge base holds accuracy only
        other = run_cli(*args, "--metric", "balanced_accuracy",
                        *(["--study", "other"] if command[0] == "search" else []))
        assert other.returncode == 0, other.stderr
        assert _warnings(other.stderr) == []


# -- recommend and meta evaluate by another metric -------------------------------------------

def _with_metrics(record: dict, index: int) -> dict:
    """A knowledge-base trial record with every metric, as a rebuilt knowledge base holds them.

    Synthetic but consistent: accuracy is the record's own; the others are derived from it
    with a per-trial offset, so that rankings by different metrics differ.
    """
    def scores(acc: float | None) -> dict | None:
        if acc is None:
            return None
        wobble = ((index * 7919) % 13) / 400.0
        return {"accuracy": acc, "balanced_accuracy": max(acc - wobble, 0.0),
                "macro_f1": max(acc - 2 * wobble, 0.0),
                "log_loss": -math.log(max(acc - wobble, 1e-3)) + wobble}

    metrics = {"valid": scores(record.get("valid")), "test": scores(record.get("test"))}
    return {**record, "metrics": metrics}


@pytest.fixture
def metrics_kb(monkeypatch: pytest.MonkeyPatch):
    """A small knowledge base (8 tasks of the shipped one) whose trials, and plain_tuned
    trials, hold every metric; served as if shipped."""
    from autodistill.meta import kb_plain, knowledge

    tasks, trials = knowledge.read_shipped()
    keep = sorted({t["task"] for t in tasks})[:8]
    tasks = [t for t in tasks if t["task"] in keep]
    # a knowledge base built before trials stored metrics gets consistent made-up ones
    trials = [t if "metrics" in t else _with_metrics(t, i) for i, t in enumerate(trials)
              if t["task"] in keep]
    plain_keys = {t.get("plain_task", t["task"]) for t in tasks}  # suite 2: data|student
    plain = {k: v for k, v in kb_plain.read_plain_tuned().items() if k in plain_keys}
    plain = {k: {**v, "trials": [t if "metrics" in t else _with_metrics(t, i)
                                 for i, t in enumerate(v["trials"])]}
             for k, v in plain.items()}
    text = {knowledge.TASKS_FILE: "\n".join(json.dumps(t) for t in tasks),
            knowledge.TRIALS_FILE: "\n".join(json.dumps(t) for t in trials)}
    monkeypatch.setattr(knowledge, "_shipped_text", lambda name: text.get(name, ""))
    monkeypatch.setattr(kb_plain, "read_plain_tuned", lambda: plain)
    return tasks, trials, plain


def test_knowledge_base_rows_follow_the_metric(metrics_kb):
    from autodistill.meta import kb_plain
    from autodistill.meta.knowledge import meta_rows_from_records

    tasks, trials, plain = metrics_kb
    accuracy = meta_rows_from_records(tasks, trials, plain)
    log_loss = meta_rows_from_records(tasks, trials, plain, metric="log_loss")
    assert len(accuracy) == len(log_loss) == len(trials)
    first = trials[0]
    assert accuracy[0].valid == first["valid"]
    assert log_loss[0].valid == pytest.approx(math.exp(-first["metrics"]["valid"]["log_loss"]))
    # The reference is the plain_tuned trial best by this metric (lowest log loss).
    best = min(kb_plain.plain_of(plain, first["task"])["trials"],
               key=lambda t: t["metrics"]["valid"]["log_loss"])
    assert log_loss[0].reference == pytest.approx(
        math.exp(-best["metrics"]["valid"]["log_loss"]))
    shipped_only = [{k: v for k, v in t.items() if k != "metrics"} for t in trials]
    assert meta_rows_from_records(tasks, shipped_only, plain, metric="macro_f1") == []


def test_recommend_ranks_by_log_loss_when_the_evidence_holds_it(metrics_kb, tmp_path,
                                                                fresh_home):
    import autodistill

    url = f"sqlite:///{tmp_path / 'r.db'}"
    doc = autodistill.recommend("builtin:iris", teacher="gbdt", student="mlp:4", storage=url,
                                metric="log_loss", top=3).doc
    assert doc["metric"] == "log_loss"
    scores = [r["predicted_score"] for r in doc["recommendations"]]
    assert all(s > 0 for s in scores)  # log losses, not exp(-log_loss) or accuracies
    for rec in doc["recommendations"]:
        lo, hi = rec["interval"]
        assert lo <= hi
    # the first is the ranking rule's pick (autodistill/meta/ranking.py), then by score
    assert scores[1:] == sorted(scores[1:])  # lower log loss ranks first


@pytest.fixture
def accuracy_only_kb(monkeypatch: pytest.MonkeyPatch):
    """A small knowledge base (8 tasks of the shipped one) as built before --metric:
    its trials, and plain_tuned trials, scored by accuracy only; served as if shipped."""
    from autodistill.meta import kb_plain, knowledge

    def bare(trial: dict) -> dict:
        return {k: v for k, v in trial.items() if k != "metrics"}

    tasks, trials = knowledge.read_shipped()
    tasks = sorted(tasks, key=lambda t: t["task"])[:8]
    keep = {t["task"] for t in tasks}
    plain_keys = {t.get("plain_task", t["task"]) for t in tasks}
    text = {knowledge.TASKS_FILE: "\n".join(json.dumps(t) for t in tasks),
            knowledge.TRIALS_FILE: "\n".join(json.dumps(bare(t)) for t in trials
                                             if t["task"] in keep)}
    plain = {k: {**v, "trials": [bare(t) for t in v["trials"]]}
             for k, v in kb_plain.read_plain_tuned().items() if k in plain_keys}
    monkeypatch.setattr(knowledge, "_shipped_text", lambda name: text.get(name, ""))
    monkeypatch.setattr(kb_plain, "read_plain_tuned", lambda: plain)


def run_in_process(*args: str) -> int:
    """Run the CLI in this process (so that a fixture's knowledge base is the one it
    reads); return its exit code."""
    from autodistill.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    return done.value.code


def test_recommend_and_evaluate_refuse_a_metric_the_evidence_lacks(
        accuracy_only_kb, tmp_path, fresh_home, capsys):
    from autodistill.meta.evaluation import evaluate_recommender
    from autodistill.meta.knowledge import load_meta_rows

    url = f"sqlite:///{tmp_path / 'k.db'}"
    with pytest.raises(MetricError, match="holds no trial scored by balanced_accuracy"):
        load_meta_rows(url, metric="balanced_accuracy")
    with pytest.raises(MetricError, match="holds no trial scored by log_loss"):
        evaluate_recommender(url, metric="log_loss")
    capsys.readouterr()
    code = run_in_process("recommend", "builtin:iris", "--teacher", "gbdt", "--student",
                          "mlp:4", "--storage", url, "--metric", "macro_f1")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert "--metric macro_f1" in lines[0] and "holds no trial scored by macro_f1" in lines[0]


def test_meta_evaluate_by_log_loss_reports_log_losses(metrics_kb):
    from autodistill.meta.evaluation import evaluate_rows
    from autodistill.meta.knowledge import meta_rows_from_records
    from autodistill.meta.scores import plain_for_metric

    tasks, trials, plain = metrics_kb
    rows = meta_rows_from_records(tasks, trials, plain, metric="log_loss")
    report = evaluate_rows(rows, n_trees=10, plain=plain_for_metric(plain, "log_loss"),
                           metric="log_loss")
    assert report["metric"] == "log_loss"
    per_task = report["per_task"][0]
    task = per_task["task"]
    by_number = {t["portfolio"]: t for t in trials if t["task"] == task}
    assert per_task["test"]["plain"] == pytest.approx(
        by_number[0]["metrics"]["test"]["log_loss"])
    for method in report["methods"].values():
        assert "mean_test_accuracy" not in method and method["mean_test_score"] > 0
    # A regret is signed so that positive is worse: the best trial has the lowest loss.
    tuned = report["methods"]["plain_tuned"]
    assert tuned["mean_gain_over_plain_tuned"] == 0.0


def test_a_warm_start_ranks_by_the_studys_metric(metrics_kb, tmp_path, fresh_home):
    """``search --warm-start`` runs first the pipelines ``recommend`` ranks best by the
    study's own metric, where the knowledge base holds it."""
    import optuna

    import autodistill
    from autodistill.meta.knowledge import shipped_space

    url = f"sqlite:///{tmp_path / 'w.db'}"
    task = {"teacher": "gbdt", "student": "mlp:4", "storage": url}
    picks = autodistill.recommend("builtin:iris", metric="log_loss", top=2, **task).doc
    autodistill.search("builtin:iris", space=shipped_space(), trials=2, warm_start=2,
                       metric="log_loss", study="warm", **task)
    ran = [_rounded(t.user_attrs["pipeline"]) for t in
           optuna.load_study(study_name="warm", storage=url).get_trials()]
    by_accuracy = autodistill.recommend("builtin:iris", top=2, **task).doc
    wanted = [_rounded(r["pipeline"]) for r in picks["recommendations"]]
    assert wanted != [_rounded(r["pipeline"]) for r in by_accuracy["recommendations"]]
    assert ran == wanted


def _rounded(doc):
    if isinstance(doc, dict):
        return {k: _rounded(v) for k, v in doc.items()}
    return round(doc, 9) if isinstance(doc, float) else doc


def test_a_warm_start_by_a_metric_the_evidence_lacks_ranks_by_accuracy(
        accuracy_only_kb, tmp_path, fresh_home, caplog):
    code = run_in_process("search", "builtin:iris", "--student", "mlp:4", "--teacher", "gbdt",
                          "--space", "kb", "--trials", "1", "--warm-start", "1", "--metric",
                          "macro_f1", "--storage", f"sqlite:///{tmp_path / 'w.db'}", "--quiet")
    assert code == 0
    assert caplog.messages.count(
        "--warm-start: the knowledge base holds no trial scored by macro_f1; "
        "its picks are the pipelines ranked by accuracy") == 1


def test_a_twins_score_is_read_in_the_studys_metric():
    from autodistill.study.twin import twin_score

    twin = {"valid": 0.9, "test": 0.8,
            "metrics": {"valid": {"accuracy": 0.9, "balanced_accuracy": 0.7},
                        "test": {"accuracy": 0.8, "balanced_accuracy": 0.6}}}
    assert twin_score(twin, "balanced_accuracy", "valid") == 0.7
    assert twin_score(twin, "balanced_accuracy", "test") == 0.6
    older = {"valid": 0.9, "test": 0.8}  # stored before twins kept every metric
    assert twin_score(older, "accuracy", "test") == 0.8
    assert twin_score(older, "macro_f1", "valid") is None
