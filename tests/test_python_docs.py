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
    # the studies searched above are listed; warnings reach a logging handler
    import autodistill

    assert {"plans-mlp8", "plans-log-loss"} <= {row["name"] for row in autodistill.list_studies()}
    assert any(m.startswith("DataFrame 'plans': class 'unique' of target column 'plan' has a "
                            "single row") for m in namespace["kept"]), namespace["kept"]
    assert "True target 'no_such_column' is not a column" in capsys.readouterr().out


def test_import_autodistill_stays_cheap():
    import subprocess
    import sys

    code = ("import sys, autodistill; heavy = {'torch', 'pandas', 'optuna', 'sklearn'}; "
            "print(sorted(heavy & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_api_functions_stay_callable_after_the_library_modules_are_imported():
    import autodistill
    import autodistill.meta.recommender  # noqa: F401
    import autodistill.study.run  # noqa: F401

    assert callable(autodistill.search) and callable(autodistill.recommend)
    assert callable(autodistill.distill)
