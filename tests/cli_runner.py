"""The real CLI in a subprocess, the way a user runs it (shared by the test files)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m autodistill ARGS`` with this environment plus ``env``; capture text."""
    return subprocess.run([sys.executable, "-m", "autodistill", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, **env})
