"""Workflow types: the retry budget is the definition's own; an Express window that cannot fit 5 minutes is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from debouncer.config import Settings
from debouncer.statemachine import render
from debouncer.workflow import (
    EXPRESS_MAX_SECONDS,
    EXPRESS_OVERHEAD_SECONDS,
    EXPRESS_RETRY_BUDGET_SECONDS,
    WORKFLOW_TYPES,
    express_seconds_needed,
    retry_budget_seconds,
)

ROOT = Path(__file__).parents[2]
ASL = ROOT / "statemachines" / "debounce.asl.json"
TYPES = json.loads((ROOT / "statemachines" / "workflow_types.json").read_text())
RESOURCES = {
    "table_name": "t",
    "process_message_function_arn": "arn:p",
    "reply_function_arn": "arn:r",
    "dead_letter_queue_url": "https://q",
}


def definition(workflow_type: str) -> dict[str, Any]:
    values = {**RESOURCES, **{k: str(v) for k, v in TYPES[workflow_type]["template"].items()}}
    rendered: dict[str, Any] = json.loads(render(ASL.read_text(), values))
    return rendered


@pytest.mark.parametrize("workflow_type", WORKFLOW_TYPES)
def test_the_recorded_retry_budget_is_the_rendered_definitions_worst_case(workflow_type: str) -> None:
    assert retry_budget_seconds(definition(workflow_type)) == TYPES[workflow_type]["retry_budget_seconds"]


def test_the_settings_use_the_express_figures_terraform_uses() -> None:
    express = TYPES["EXPRESS"]
    assert express["retry_budget_seconds"] == EXPRESS_RETRY_BUDGET_SECONDS
    assert express["overhead_seconds"] == EXPRESS_OVERHEAD_SECONDS
    assert express["max_execution_seconds"] == EXPRESS_MAX_SECONDS == 300
    assert set(TYPES) - {"$comment"} == set(WORKFLOW_TYPES)


def test_express_shortens_the_transient_retries_only() -> None:
    standard, express = definition("STANDARD"), definition("EXPRESS")
    assert retry_budget_seconds(express) < retry_budget_seconds(standard)
    for name in ("Process", "Reply"):
        assert standard["States"][name]["Retry"][1]["MaxAttempts"] > express["States"][name]["Retry"][1]["MaxAttempts"]
    for name in ("ReadBuffer", "DeadLetter"):
        assert standard["States"][name]["Retry"] == express["States"][name]["Retry"]


def test_retry_budget_counts_every_retrier_capped_and_with_the_asl_defaults() -> None:
    states = {
        "A": {"Retry": [{"ErrorEquals": ["X"]}]},  # defaults: 3 attempts, 1 s, rate 2.0 -> 1 + 2 + 4
        "B": {"Retry": [{"ErrorEquals": ["Y"], "IntervalSeconds": 5, "MaxAttempts": 4, "MaxDelaySeconds": 12}]},
        "C": {"Retry": [{"ErrorEquals": ["Z"], "MaxAttempts": 0}]},
        "D": {"Type": "Pass"},
    }
    assert retry_budget_seconds({"States": states}) == 7 + (5 + 10 + 12 + 12)


def test_settings_refuse_an_express_window_that_cannot_fit_five_minutes() -> None:
    # GIVEN the emulated functions' default time limits (60 s and 30 s): 300 s leave 300 - 90 - 141 = 69 s of window
    fits = EXPRESS_MAX_SECONDS - express_seconds_needed(0, 60, 30)
    assert Settings(workflow_type="EXPRESS", max_wait_seconds=fits).workflow_type == "EXPRESS"
    with pytest.raises(ValidationError, match=r"EXPRESS.*300 s"):
        Settings(workflow_type="EXPRESS", max_wait_seconds=fits + 1)
    with pytest.raises(ValidationError, match="EXPRESS"):
        Settings(workflow_type="EXPRESS", max_wait_seconds=30, process_message_timeout_seconds=120)
    # Standard executions may run for a year.
    assert Settings(workflow_type="STANDARD", max_wait_seconds=3600).max_wait_seconds == 3600


def test_the_default_window_fits_express() -> None:
    assert Settings(workflow_type="EXPRESS").max_wait_seconds == 60


def test_settings_refuse_an_unknown_workflow_type() -> None:
    with pytest.raises(ValidationError):
        Settings(workflow_type="FAST")  # type: ignore[arg-type]
