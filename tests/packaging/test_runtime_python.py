"""tools/runtime_python.py: without the means to fetch Python 3.13, it stops with one message saying what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_PYTHON = REPO_ROOT / "tools" / "runtime_python.py"


def test_without_apt_it_fails_loudly_and_says_what_to_do(tmp_path: Path) -> None:
    """No apt-get on PATH and nothing cached: exit 1, no wrapper, and a message naming the fix."""
    cache = tmp_path / "python3.13"
    proc = subprocess.run(
        [sys.executable, str(RUNTIME_PYTHON), "--cache-dir", str(cache)],
        env={"PATH": str(tmp_path / "empty")},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: cannot fetch Python 3.13: `apt-get` is not installed.")
    assert "make runtime-python" in proc.stderr and "RUNTIME_PYTHON=" in proc.stderr
    assert "refuses to ship source only" in proc.stderr
    assert not (cache / "bin").exists()
