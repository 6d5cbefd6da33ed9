"""The README's one settings table names every Terraform variable and every environment setting, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import hcl2

from debouncer.config import SecretName, Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLE_HEADING = "### Settings (environment variables locally, Terraform variables on AWS)"
TABLE_HEADER = "| Terraform variable | Environment variable | Default | What it does |"
# Read by Powertools, not by the settings model; Terraform sets them from name_prefix, metrics_namespace, log_level.
POWERTOOLS_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"}
# What the code reads from the environment outside the settings model (the local runtime's own knobs, e.g.
# LAMBDA_RESERVED_CONCURRENCY): a row may name one of them too.
_ENVIRON_READ = re.compile(r"os\.environ(?:\.get\(|\[)\"([A-Z][A-Z0-9_]*)\"")

_TERRAFORM_NAME = re.compile(r"`([a-z][a-z0-9_]*)((?:\.[a-z0-9_]+)?)`")
_ENV_NAME = re.compile(r"`([A-Z][A-Z0-9_]*)`")


def settings_rows(readme: str) -> list[tuple[str, str]]:
    """(Terraform cell, environment cell) of each row of the table under the Settings heading."""
    section = readme.split(TABLE_HEADING, 1)[1]
    lines = section[section.index(TABLE_HEADER) :].splitlines()
    rows = []
    for line in lines[2:]:  # the header and its |---| line
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == 4, f"a settings row has {len(cells)} cells, not 4: {line}"
        rows.append((cells[0], cells[1]))
    return rows


def table_names(readme: str) -> tuple[set[str], set[str], set[str]]:
    """Terraform variables, their sub-keys written as `variable.key`, and environment variables the table names."""
    variables: set[str] = set()
    dotted: set[str] = set()
    environment: set[str] = set()
    for terraform_cell, environment_cell in settings_rows(readme):
        for name, key in _TERRAFORM_NAME.findall(terraform_cell):
            variables.add(name)
            if key:
                dotted.add(name + key)
        environment.update(_ENV_NAME.findall(environment_cell))
    return variables, dotted, environment


def terraform_variables() -> set[str]:
    """Every variable of the root module's variables.tf."""
    with (REPO_ROOT / "variables.tf").open() as f:
        document = hcl2.load(f)
    return {name.strip('"') for block in document["variable"] for name in block if not name.startswith("__")}


def environment_read_directly() -> set[str]:
    """Environment variables src/debouncer reads itself, with os.environ.get("NAME") or os.environ["NAME"]."""
    return {
        name
        for source in (REPO_ROOT / "src" / "debouncer").rglob("*.py")
        for name in _ENVIRON_READ.findall(source.read_text())
    }


def settings_environment() -> set[str]:
    """The environment variable of every field of the settings model (its alias, or its name upper-cased)."""
    return {(field.alias or name).upper() for name, field in Settings.model_fields.items()}


README = (REPO_ROOT / "README.md").read_text()


def test_every_terraform_variable_has_a_row() -> None:
    variables, _, _ = table_names(README)
    declared = terraform_variables()
    assert declared - variables == set(), "variables.tf variables missing from the README's settings table"
    assert variables - declared == set(), "the README's settings table names variables that variables.tf lacks"


def test_every_setting_has_a_row() -> None:
    _, _, environment = table_names(README)
    fields = settings_environment()
    assert fields - environment == set(), "config.py settings missing from the README's settings table"
    unread = environment - fields - POWERTOOLS_ENV - environment_read_directly()
    assert unread == set(), "the README's settings table names variables nothing reads"


def test_every_secret_has_a_row() -> None:
    _, dotted, environment = table_names(README)
    for secret in get_args(SecretName):
        assert f"secret_parameter_names.{secret}" in dotted
        assert {secret.upper(), f"{secret.upper()}_PARAM"} <= environment


def test_a_missing_name_is_seen() -> None:
    """The check is not vacuous: drop one row and that variable and its setting go missing."""
    row = next(line for line in README.splitlines() if line.startswith("| `history_turns` |"))
    variables, _, environment = table_names(README.replace(row + "\n", ""))
    assert "history_turns" in terraform_variables() - variables
    assert "AI_HISTORY_TURNS" in settings_environment() - environment
