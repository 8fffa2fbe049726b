"""Every code block of docs/plugins.md runs, and the example plugin installs and works."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_guide_python_blocks_run_in_order():
    namespace: dict = {"__name__": "plugin_guide"}
    blocks = _blocks("python")
    assert len(blocks) >= 4
    for block in blocks:
        exec(compile(block, str(GUIDE), "exec"), namespace)  # noqa: S102
    # The hook implementation registers the class it was given.
    registered = []
    namespace["register_kd_losses"](registered.append)
    assert registered == [namespace["SmoothedKD"]]
    students = []
    namespace["register_students"](students.append)
    assert students == [namespace["LinearStudent"]]


def test_guide_toml_block_declares_the_entry_point_group():
    (block,) = _blocks("toml")
    doc = tomllib.loads(block)
    assert "autodistill" in doc["project"]["entry-points"]
    example = tomllib.loads((ROOT / "plugins/example_plugin/pyproject.toml").read_text())
    assert "autodistill" in example["project"]["entry-points"]


@pytest.fixture(scope="module")
def example_plugin_site(tmp_path_factory):
    """The example plugin, really installed (into its own target directory)."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--target", str(site), str(ROOT / "plugins/example_plugin")],
        check=True, capture_output=True, text=True,
    )
    return site


@pytest.mark.slow
def test_guide_shell_block_installs_lists_and_distills(example_plugin_site, tmp_path):
    (block,) = _blocks("bash")
    env = {k: v for k, v in os.environ.items() if k != "AUTODISTILL_PLUGINS"}
    env["PYTHONPATH"] = str(example_plugin_site)
    outputs = []
    for line in block.strip().splitlines():
        argv = shlex.split(line)
        if argv[:2] == ["pip", "install"]:
            assert argv[2] == "./plugins/example_plugin"  # installed by the fixture
            continue
        assert argv[0] == "autodistill"
        done = subprocess.run([sys.executable, "-m", "autodistill", *argv[1:]], env=env,
                              capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    plugins, distilled = outputs
    example = plugins["plugins"]["example"]["families"]
    assert set(example["kd_loss"]) == {"cosine_logits"}
    assert set(example["mi_objective"]) == {"linear_cka"}
    assert set(example["augmentation"]) == {"feature_swap"}
    assert set(example["curriculum"]) == {"easy_half"}
    assert distilled["pipeline"]["kd_loss"]["name"] == "cosine_logits"
    assert distilled["student"]["accuracy"] > 0.6


@pytest.mark.slow
def test_example_plugin_components_pass_the_conformance_checks_and_train(example_plugin_site,
                                                                         tmp_path):
    # iris at batch 128 is one optimiser step per epoch: 60 steps so that the student learns
    # whatever the teacher (with the MLP+gbdt auto teacher, 15 steps gave exactly 0.6)
    script = """
import json
from autodistill.registry.manager import get_registry
from autodistill.testing import check_component, check_student
from autodistill.training.distillation import distill
from autodistill.training.pipeline import Pipeline
reg = get_registry()
for family, name in [("kd_loss", "cosine_logits"), ("mi_objective", "linear_cka"),
                     ("augmentation", "feature_swap"), ("curriculum", "easy_half")]:
    check_component(reg.get(family, name).cls)
check_student(reg.student("resmlp").cls, "8,2", bad_args=("8", "8,2,3", "x"))
pipeline = Pipeline.from_dict({"kd_loss": {"name": "cosine_logits"},
    "mi_objective": {"name": "linear_cka"}, "augmentation": {"name": "feature_swap"},
    "curriculum": {"name": "easy_half"}, "training": {"epochs": 60}})
print(json.dumps(distill("builtin:iris", pipeline)["student"]))
"""
    env = {k: v for k, v in os.environ.items() if k != "AUTODISTILL_PLUGINS"}
    env["PYTHONPATH"] = str(example_plugin_site)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["accuracy"] > 0.6
