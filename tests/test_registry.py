"""The plugin system: built-ins through the same hooks, entry points, clashes, strictness."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autodistill import hookspecs
from autodistill.components import KDLoss
from autodistill.errors import PluginError
from autodistill.params import Float
from autodistill.registry import manager as registry

ROOT = Path(__file__).resolve().parents[1]

EXPECTED = {
    "kd_loss": {"none", "hinton", "soft_ce", "mse_logits", "dkd", "mutual"},
    "mi_objective": {"none", "fitnet", "infonce", "nwj", "mi_alpha", "jsd", "wdm", "cmim", "mist",
                     "layer_map"},
    "augmentation": {"none", "gaussian_noise", "feature_mask", "mixup", "munge", "smote"},
    "curriculum": {"none", "curriculum", "anti_curriculum", "random_curriculum", "cyclical",
                   "self_paced", "alp_gmm", "efficient_train"},
}


@pytest.fixture
def fresh_registry():
    registry.reset_registry()
    yield
    registry.reset_registry()


def _write_distribution(site: Path, dist: str, module_source: str, ep_name: str) -> None:
    """A real installed distribution: a module plus a .dist-info with an entry point."""
    module = dist.replace("-", "_")
    (site / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[autodistill]\n{ep_name} = {module}\n")


def test_builtins_are_registered_under_their_contract_names(fresh_registry):
    reg = registry.get_registry()
    for family, names in EXPECTED.items():
        assert set(reg.names(family)) == names
        for name in names:
            assert reg.get(family, name).plugin == registry.BUILTIN_PLUGIN_NAME


def test_builtins_go_through_the_plugin_manager(fresh_registry):
    pm = registry.get_plugin_manager()
    for module_name in registry.DEFAULT_PLUGINS:
        assert pm.get_plugin(module_name) is not None


def test_unknown_component_lists_installed(fresh_registry):
    from autodistill.errors import PipelineError

    with pytest.raises(PipelineError, match="installed: .*hinton"):
        registry.get_registry().get("kd_loss", "hintn")


def test_two_plugins_claiming_one_name_is_an_error_naming_both(fresh_registry, tmp_path,
                                                               monkeypatch):
    source = """
        from autodistill.components import KDLoss
        from autodistill.hookspecs import hookimpl
        class Clash(KDLoss):
            '''Claims the built-in name.'''
            name = "hinton"
            def forward(self, s, t, y):
                return s.sum()
        @hookimpl
        def register_kd_losses(register):
            register(Clash)
    """
    _write_distribution(tmp_path, "clashing-plugin", source, "clasher")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("AUTODISTILL_PLUGINS", "clasher")
    with pytest.raises(PluginError) as info:
        registry.get_registry()
    message = str(info.value)
    assert "autodistill (built-in)" in message and "clasher" in message and "hinton" in message


def test_broken_plugin_is_reported_not_fatal(fresh_registry, tmp_path, monkeypatch):
    _write_distribution(tmp_path, "broken-plugin", "raise ImportError('no such dependency')",
                        "broken")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("AUTODISTILL_PLUGINS", "broken")
    reg = registry.get_registry()
    assert [b.name for b in reg.broken] == ["broken"]
    assert "no such dependency" in reg.broken[0].error
    assert reg.broken[0].distribution == "broken-plugin"
    assert set(reg.names("kd_loss")) == EXPECTED["kd_loss"]

    registry.reset_registry()
    monkeypatch.setenv("AUTODISTILL_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="broken"):
        registry.get_registry()


@pytest.mark.parametrize(("hook_source", "expected"), [
    ("def register_kd_losses(register):\n    raise RuntimeError('hook itself broke')",
     "plugin 'raiser' (raising-plugin): its register_kd_losses hook raised RuntimeError: hook "
     "itself broke; fix or uninstall it, or leave it out with AUTODISTILL_PLUGINS"),
    ("def register_kd_loss(register):\n    pass",  # misspelt: the hook is plural
     "plugin 'raiser' (misspelt-plugin): unknown hook 'register_kd_loss'; the hooks are: "
     "register_augmentations, register_commands, register_curricula, register_evidence, "
     "register_kd_losses, register_mi_objectives, register_students"),
])
def test_a_hook_that_raises_or_does_not_exist_is_one_line_naming_the_plugin(
        fresh_registry, tmp_path, monkeypatch, hook_source, expected):
    source = "from autodistill.hookspecs import hookimpl\n@hookimpl\n" + hook_source + "\n"
    dist = expected.split("(")[1].split(")")[0]  # a module name of its own per case
    _write_distribution(tmp_path, dist, source, "raiser")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("AUTODISTILL_PLUGINS", "raiser")
    with pytest.raises(PluginError) as info:
        registry.get_registry()
    assert str(info.value) == expected


def test_an_augmentation_may_not_redeclare_the_engines_pool_factor():
    from autodistill.components import Augmentation
    from autodistill.params import Int

    class Shadowing(Augmentation):
        """Declares pool_factor as a fraction: the engine would truncate it to 0."""

        name = "shadowing"
        params = {"pool_factor": Float(0.0, 0.5, default=0.1)}

        def augment(self, x, y, generator):
            return x

    with pytest.raises(PluginError, match="plugin 'p': augmentation 'shadowing' declares "
                                          "'pool_factor' as Float"):
        registry.Registry().register("augmentation", Shadowing, "p", None)

    class Narrower(Shadowing):
        """A narrower range of whole numbers from 0 is still the engine's pool factor."""

        name = "narrower"
        params = {"pool_factor": Int(0, 3, default=0)}

    registry.Registry().register("augmentation", Narrower, "p", None)


@pytest.mark.parametrize(("name", "params", "shown"), [
    ("my loss:v2", {}, "name 'my loss:v2'"),
    ("dotted", {"t.x": Float(1.0, 2.0, default=1.5)}, "param 't.x'"),
])
def test_a_name_optuna_cannot_hold_is_refused(name, params, shown):
    cls = type("Odd", (KDLoss,), {"__doc__": "Odd names.", "name": name, "params": params})
    with pytest.raises(PluginError, match=f"plugin 'p': kd_loss Odd {shown} must be letters"):
        registry.Registry().register("kd_loss", cls, "p", None)


def test_a_plugin_that_exits_at_import_is_skipped_not_fatal(fresh_registry, tmp_path,
                                                             monkeypatch):
    _write_distribution(tmp_path, "exiting-plugin", "import sys\nsys.exit(3)\n", "exiter")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("AUTODISTILL_PLUGINS", "exiter")
    reg = registry.get_registry()
    assert [b.name for b in reg.broken] == ["exiter"] and "SystemExit" in reg.broken[0].error


def test_empty_plugin_selection_loads_only_builtins(fresh_registry, monkeypatch):
    monkeypatch.setenv("AUTODISTILL_PLUGINS", "")
    reg = registry.get_registry()
    assert list(reg.plugins) == [registry.BUILTIN_PLUGIN_NAME]


def test_register_rejects_invalid_declarations():
    reg = registry.Registry()

    class OutOfRange(KDLoss):
        """Default outside its range."""

        name = "bad_default"
        params = {"t": Float(1.0, 2.0, default=5.0)}

    with pytest.raises(PluginError, match="default 5.0 outside"):
        reg.register("kd_loss", OutOfRange, "p", None)

    class NotAKDLoss:
        name = "x"

    with pytest.raises(PluginError, match="does not derive"):
        reg.register("kd_loss", NotAKDLoss, "p", None)


def test_register_for_test_adds_and_removes(fresh_registry):
    class Throwaway(KDLoss):
        """A throw-away loss."""

        name = "throwaway"

        def forward(self, s, t, y):
            return s.sum()

    remove = registry.register_for_test("kd_loss", Throwaway)
    try:
        assert "throwaway" in registry.get_registry().names("kd_loss")
    finally:
        remove()
    assert "throwaway" not in registry.get_registry().names("kd_loss")


# Meta-tests, as datasette does: every hook is documented and has a test of its own.
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if name.startswith("register_")]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_an_example(hook):
    doc = getattr(hookspecs, hook).__doc__ or ""
    assert "Called" in doc and "Example::" in doc
    assert f"`{hook}`" in (ROOT / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    assert f"def test_hook_{hook}" in tests


def _family_hook_test(hook: str, family: str) -> None:
    reg = registry.get_registry()
    impls = getattr(registry.get_plugin_manager().hook, hook).get_hookimpls()
    assert impls, f"no implementation of {hook}"
    assert reg.names(family) == sorted(EXPECTED[family])


def test_hook_register_kd_losses(fresh_registry):
    _family_hook_test("register_kd_losses", "kd_loss")


def test_hook_register_mi_objectives(fresh_registry):
    _family_hook_test("register_mi_objectives", "mi_objective")


def test_hook_register_augmentations(fresh_registry):
    _family_hook_test("register_augmentations", "augmentation")


def test_hook_register_curricula(fresh_registry):
    _family_hook_test("register_curricula", "curriculum")


def test_hook_register_commands(fresh_registry, tmp_path, monkeypatch):
    source = """
        from autodistill.hookspecs import hookimpl
        @hookimpl
        def register_commands(app):
            @app.command()
            def hello():
                '''Say hello.'''
                print("hello from a plugin")
    """
    _write_distribution(tmp_path, "command-plugin", source, "greeter")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "AUTODISTILL_PLUGINS": "greeter"}
    out = subprocess.run([sys.executable, "-m", "autodistill", "hello"], env=env,
                         capture_output=True, text=True, check=True)
    assert "hello from a plugin" in out.stdout


def test_hook_register_students(fresh_registry):
    """The built-in mlp family comes through the hook, from the built-in plugins folder."""
    from autodistill.students import StudentFamily

    impls = registry.get_plugin_manager().hook.register_students.get_hookimpls()
    assert "autodistill.plugins.students" in [impl.plugin_name for impl in impls]
    info = registry.get_registry().student("mlp")
    assert info.plugin == registry.BUILTIN_PLUGIN_NAME and issubclass(info.cls, StudentFamily)
    assert info.cls("64,32").layer_widths() == (64, 32)


def test_two_plugins_claiming_one_student_family_is_an_error_naming_both(
        fresh_registry, tmp_path, monkeypatch):
    source = """
        from autodistill.hookspecs import hookimpl
        from autodistill.students import StudentFamily
        class Clash(StudentFamily):
            "Claims the built-in family."
            name = "mlp"
            format = "mlp:ANYTHING"
        @hookimpl
        def register_students(register):
            register(Clash)
    """
    _write_distribution(tmp_path, "clashing-students", source, "studentclash")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("AUTODISTILL_PLUGINS", "studentclash")
    with pytest.raises(PluginError) as info:
        registry.get_registry()
    message = str(info.value)
    assert "student family 'mlp'" in message
    assert "autodistill (built-in)" in message and "studentclash" in message


def test_register_student_rejects_what_is_no_family():
    from autodistill.students import StudentFamily

    reg = registry.Registry()
    with pytest.raises(PluginError, match="does not derive from autodistill.students"):
        reg.register_student(KDLoss, "p", None)

    class Colon(StudentFamily):
        """A name the spec cannot hold."""

        name = "a:b"

    with pytest.raises(PluginError, match="without ':'"):
        reg.register_student(Colon, "p", None)


def test_unknown_student_family_lists_the_installed_ones(fresh_registry):
    from autodistill.errors import PipelineError
    from autodistill.training.students import parse_student_spec

    with pytest.raises(PipelineError) as info:
        parse_student_spec("cnn:3")
    message = str(info.value)
    assert message.startswith("--student 'cnn:3': unknown student family 'cnn'")
    assert "mlp:WIDTH" in message and "\n" not in message


def test_plugins_json_lists_every_builtin():
    env = {**os.environ, "AUTODISTILL_PLUGINS": ""}
    out = subprocess.run([sys.executable, "-m", "autodistill", "plugins", "--json"], env=env,
                         capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    for family, names in EXPECTED.items():
        assert set(doc["components"][family]) == names
    hinton = doc["plugins"]["autodistill (built-in)"]["families"]["kd_loss"]["hinton"]
    assert hinton["params"]["temperature"]["default"] == 4.0
    assert {"low", "high", "log", "default"} <= set(hinton["params"]["temperature"])
    assert doc["students"] == ["mlp"]
    assert doc["plugins"]["autodistill (built-in)"]["students"]["mlp"]["format"].startswith("mlp:")


def _example_plugin_or_skip() -> None:
    import importlib.util

    if importlib.util.find_spec("autodistill_example") is None:
        pytest.skip("the example plugin is not installed: pip install ./plugins/example_plugin")


def test_hook_register_evidence(fresh_registry, monkeypatch):
    _example_plugin_or_skip()
    monkeypatch.setenv("AUTODISTILL_PLUGINS", "example")
    registry.reset_registry()
    evidence = registry.get_registry().evidence
    assert [e.plugin for e in evidence] == ["example"]
    assert Path(evidence[0].path).name == "evidence.jsonl" and Path(evidence[0].path).exists()
    # The evidence names tasks of the knowledge base that ships (a rebuild orphans it).
    from autodistill.meta.knowledge import read_shipped

    shipped = {r["task"] for r in read_shipped()[0]}
    named = {json.loads(line)["task"]
             for line in Path(evidence[0].path).read_text().splitlines() if line.strip()}
    assert named and named <= shipped, sorted(named - shipped)[:3]


def test_a_component_is_benched_on_the_smallest_real_tables_of_the_shipped_knowledge_base():
    from autodistill.meta.component_bench import bench_tasks
    from autodistill.meta.knowledge import read_shipped

    records = {r["task"]: r for r in read_shipped()[0]}
    tasks = bench_tasks()
    assert len(tasks) >= 6 and all(t.key in records for t in tasks)
    assert all(not t.data.startswith("synthetic:") and t.teacher_spec == "auto" for t in tasks)
    rows = [records[t.key]["n_rows"] for t in tasks]
    assert rows == sorted(rows)
    real_auto = [r for r in records.values() if not r["data"].startswith("synthetic:")
                 and (r.get("teacher") or "auto") == "auto"]
    assert rows[0] == min(r["n_rows"] for r in real_auto)
    assert [t.key for t in bench_tasks(2, teacher="auto+mcmi")] == [t.key for t in tasks[:2]]


def test_an_installed_plugin_reaches_search_and_the_recommender(fresh_registry, monkeypatch,
                                                                tmp_path):
    """The example plugin, installed after the fact: its components join the shipped
    spaces, and with the evidence it ships, `cosine_logits` is a recommendation candidate."""
    _example_plugin_or_skip()
    from autodistill.meta.candidates import candidate_pipelines
    from autodistill.meta.knowledge import load_meta_rows
    from autodistill.study.space_files import load_space

    builtin_rows = load_meta_rows(f"sqlite:///{tmp_path / 'builtin.db'}", include_studies=False)
    assert not any(r.pipeline["kd_loss"]["name"] == "cosine_logits" for r in builtin_rows)
    monkeypatch.setenv("AUTODISTILL_PLUGINS", "example")
    registry.reset_registry()
    for space in ("fast", "kb", "default"):
        assert "cosine_logits" in load_space(space).components("kd_loss")
    rows = load_meta_rows(f"sqlite:///{tmp_path / 'plugin.db'}", include_studies=False)
    shipped = [r for r in rows if r.pipeline["kd_loss"]["name"] == "cosine_logits"]
    assert len(shipped) >= 12 and len({r.task for r in shipped}) >= 4
    candidates = candidate_pipelines(rows)
    assert any(c["kd_loss"]["name"] == "cosine_logits" for c in candidates)
    # A component with no evidence is searched but never proposed.
    assert not any(c["augmentation"]["name"] == "feature_swap" for c in candidates)


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autodistill", *args], capture_output=True,
                          text=True, env={**os.environ, **env})


@pytest.mark.slow
def test_an_installed_student_family_trains_searches_and_deploys(tmp_path):
    """The example plugin's `resmlp` family, installed after the fact: `plugins` lists it,
    `distill` trains it, `search` searches how to train it, and the model `--out` writes
    gives, through `predict`, the predictions of the trained student."""
    _example_plugin_or_skip()
    import numpy as np
    import pandas as pd

    from autodistill.data.dataset import load_dataset

    with_plugin = {"AUTODISTILL_PLUGINS": "example"}
    listed = _cli("plugins", "--json", **with_plugin)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["plugins"]["example"]["students"]["resmlp"]
    refused = _cli("distill", "builtin:iris", "--pipeline", "plain", "--student", "resmlp:8,1",
                   "--teacher", "gbdt")  # the session loads no third-party plugin
    assert refused.returncode == 2 and "unknown student family 'resmlp'" in refused.stderr

    done = _cli("distill", "builtin:iris", "--pipeline", "plain", "--student", "resmlp:8,2",
                "--teacher", "gbdt", "--json", "--out", str(tmp_path / "m"), **with_plugin)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["student"]["spec"] == "resmlp:8,2"
    assert report["student"]["params"] == (4 + 1) * 8 + 2 * (8 + 1) * 8 + (8 + 1) * 3
    dataset = load_dataset("builtin:iris")
    dataset.raw.split("test").to_csv(tmp_path / "test.csv", index=False)
    scored = _cli("predict", str(tmp_path / "m"), str(tmp_path / "test.csv"), "--out",
                  str(tmp_path / "p.csv"), **with_plugin)
    assert scored.returncode == 0, scored.stderr
    predicted = pd.read_csv(tmp_path / "p.csv")["prediction"].astype(str).to_numpy()
    accuracy = float(np.mean(predicted == np.asarray(dataset.classes)[dataset.y_test]))
    assert accuracy == pytest.approx(report["student"]["accuracy"])

    searched = _cli("search", "builtin:iris", "--student", "resmlp:8,1", "--teacher", "gbdt",
                    "--space", "fast", "--trials", "2", "--json", "--storage",
                    f"sqlite:///{tmp_path / 's.db'}", **with_plugin)
    assert searched.returncode == 0, searched.stderr
    summary = json.loads(searched.stdout)
    assert summary["student"] == "resmlp:8,1" and summary["best"] is not None
