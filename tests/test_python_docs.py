"""Every Python example of docs/python.md runs, in order, and does what the page says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "python.md"


def test_python_guide_blocks_run_in_order(capsys):
    pytest.importorskip("skops")
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) >= 7
    namespace: dict = {"__name__": "python_guide"}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102
    # search(callbacks=...) saw every trial the study finished, once each
    assert sorted(n for n, _ in namespace["finished"]) == \
        sorted(t.number for t in namespace["found"].study.trials if t.state.is_finished())
    assert len(namespace["finished"]) == 3
    assert namespace["result"].accuracy > 0.7
    assert set(namespace["result"].student.predict(namespace["new_rows"])) <= {"basic", "premium"}


def test_import_autodistill_stays_cheap():
    import subprocess
    import sys

    code = ("import sys, autodistill; heavy = {'torch', 'pandas', 'optuna', 'sklearn'}; "
            "print(sorted(heavy & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_search_stays_callable_after_its_module_is_imported():
    import autodistill
    import autodistill.study.run  # noqa: F401 - sets the package attribute to the module

    assert callable(autodistill.study.run) and callable(autodistill.meta.recommender)
    assert callable(autodistill.distill)
