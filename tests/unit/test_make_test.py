"""`make test` runs every suite: it names the suites of its two halves, so a new suite folder must join one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _suites(variable: str) -> set[str]:
    match = re.search(rf"^{variable}\s*:=(.*)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"{variable} is not set in the Makefile"
    return set(match.group(1).split())


def test_every_suite_folder_runs_in_exactly_one_half_of_make_test() -> None:
    cpu, wait = _suites("CPU_SUITES"), _suites("WAIT_SUITES")
    folders = {f"tests/{p.parent.name}" for p in (ROOT / "tests").glob("*/test_*.py")}
    assert not cpu & wait, f"in both halves: {cpu & wait}"
    assert cpu | wait == folders
