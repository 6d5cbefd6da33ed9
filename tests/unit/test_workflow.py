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
    EXPRESS_TIMEOUT_RETRIES,
    REPLY_LEASE_MARGIN_SECONDS,
    REPLY_LEASE_WAIT_EXTRA_SECONDS,
    WORKFLOW_TYPES,
    express_seconds_needed,
    reply_lease_seconds,
    retry_budget_seconds,
)

ROOT = Path(__file__).parents[2]
ASL = ROOT / "statemachines" / "debounce.asl.json.tftpl"
TYPES = json.loads((ROOT / "statemachines" / "workflow_types.json").read_text())
RESOURCES = {
    "partition": "aws",
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
    assert express["template"]["timeout_retry_max_attempts"] == EXPRESS_TIMEOUT_RETRIES
    assert express["reply_lease_wait_extra_seconds"] == REPLY_LEASE_WAIT_EXTRA_SECONDS
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
    # GIVEN the default time limits (60 s and 30 s): 300 s leave 300 - 90 - 41 (a lease) - 93 = 76 s of window
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


def _timeout_retries(definition: dict[str, Any], state: str) -> int:
    [retrier] = [r for r in definition["States"][state]["Retry"] if "Sandbox.Timedout" in r["ErrorEquals"]]
    return int(retrier["MaxAttempts"])


@pytest.mark.parametrize(("max_wait", "process", "reply"), [(60, 60, 30), (10, 20, 5), (1, 1, 1), (30, 90, 29)])
def test_the_express_formula_counts_what_the_rendered_definition_can_take(
    max_wait: int, process: int, reply: int
) -> None:
    # GIVEN the definition as rendered for Express: its timeout retriers, its lease poll, its retry delays
    express = definition("EXPRESS")
    poll = int(express["States"]["WaitForReplyLease"]["Seconds"])
    # Every full-length attempt: the first, and one per retry after a timeout (each runs until the timeout again).
    full_length = process * (1 + _timeout_retries(express, "Process")) + reply * (
        1 + _timeout_retries(express, "Reply")
    )
    # A run waiting on another run's reply lease waits until it lapses (taken from the second after), polling.
    lease_wait = reply_lease_seconds(reply) + 1 + poll
    delays = retry_budget_seconds(express)
    expected = max_wait + full_length + lease_wait + delays + TYPES["EXPRESS"]["overhead_seconds"]

    assert express_seconds_needed(max_wait, process, reply) == expected
    # The same sum as Terraform says it with workflow_types.json's figures.
    types = TYPES["EXPRESS"]
    terraform = (
        max_wait
        + (process + reply) * (1 + types["template"]["timeout_retry_max_attempts"])
        + reply
        + types["reply_lease_wait_extra_seconds"]
        + types["retry_budget_seconds"]
        + types["overhead_seconds"]
    )
    assert terraform == expected


def test_express_retries_no_timeout_and_standard_once() -> None:
    assert _timeout_retries(definition("EXPRESS"), "Process") == _timeout_retries(definition("EXPRESS"), "Reply") == 0
    assert _timeout_retries(definition("STANDARD"), "Process") == _timeout_retries(definition("STANDARD"), "Reply") == 1


def test_a_reply_lease_outlives_one_reply_attempt() -> None:
    from debouncer.wiring import build_store

    assert reply_lease_seconds(30) == 30 + REPLY_LEASE_MARGIN_SECONDS > 30
    store = build_store(Settings(reply_timeout_seconds=12, workflow_type="STANDARD"))
    assert store._reply_lease == 12 + REPLY_LEASE_MARGIN_SECONDS
