"""A plain (non-editable) wheel carries the built-ins, the search spaces and the studies."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_plugins_spaces_and_studies(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = tmp_path.glob("autodistill_kd-*.whl")  # the distribution name
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("kd_losses", "mi_objectives", "augmentations", "curricula",
                   "progress_curricula", "mist", "mist_train"):
        assert f"autodistill/plugins/{module}.py" in names
    # Every module of every sub-package (pyproject.toml lists the packages by hand).
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "autodistill").rglob("*.py")}
    assert not sources - names, f"missing from the wheel: {sorted(sources - names)}"
    assert "autodistill/plugins/mist_weights.npz" in names  # MIST's weights, plain arrays
    assert "autodistill/search_spaces/default.yaml" in names
    assert "autodistill/search_spaces/fast.yaml" in names
    assert "autodistill/search_spaces/kb.yaml" in names
    assert "autodistill/search_spaces/plain.yaml" in names
    assert "autodistill/search_spaces/kb2.yaml" in names
    # The knowledge base, loaded into the user's database on first use.
    assert {"autodistill/studies/kb_tasks.jsonl", "autodistill/studies/kb_trials.jsonl",
            "autodistill/studies/kb_plain_tuned.jsonl", "autodistill/studies/README.md"} <= names
    # The example plugin is its own distribution, and no top-level `plugins` package leaks.
    assert not any(n.startswith(("plugins/", "autodistill/plugins/example_plugin")) for n in names)
    assert any(n.endswith("entry_points.txt") for n in names)
