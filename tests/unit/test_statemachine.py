"""The one state machine definition: placeholders, rendering, and the shape the timer relies on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from debouncer.statemachine import PLACEHOLDER, placeholders, render

ASL = Path(__file__).parents[2] / "statemachines" / "debounce.asl.json"
VALUES = {
    "table_name": "t",
    "process_message_function_arn": "arn:p",
    "reply_function_arn": "arn:r",
    "dead_letter_queue_url": "https://q",
    "transient_retry_max_attempts": "6",
    "transient_retry_max_delay_seconds": "60",
}


def test_template_is_valid_json_with_exactly_the_expected_placeholders() -> None:
    template = ASL.read_text()
    # Valid once any value stands in: the numeric placeholders (retry budgets per workflow type) are bare numbers.
    json.loads(PLACEHOLDER.sub("0", template))
    assert placeholders(template) == set(VALUES)


def test_render_refuses_a_missing_or_unused_value() -> None:
    template = ASL.read_text()
    with pytest.raises(ValueError, match="missing"):
        render(template, {k: v for k, v in VALUES.items() if k != "table_name"})
    with pytest.raises(ValueError, match="unused"):
        render(template, {**VALUES, "extra": "x"})


def test_context_paths_are_not_mistaken_for_placeholders() -> None:
    definition = json.loads(render(ASL.read_text(), VALUES))
    selector = definition["States"]["ReadBuffer"]["ResultSelector"]["now.$"]
    assert "$$.State.EnteredTime" in selector


def test_every_task_retries_with_backoff_and_catches_to_the_dead_letter_queue() -> None:
    states = json.loads(render(ASL.read_text(), VALUES))["States"]
    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        assert state["Retry"], name
        assert all(r.get("MaxAttempts", 3) == 0 or r.get("BackoffRate", 0) >= 2 for r in state["Retry"]), name
        if name != "DeadLetter":
            assert state["Catch"][-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "DeadLetter"}


def test_an_answered_burst_costs_only_the_transitions_it_needs() -> None:
    # Wait, read and route until due, then Process and Reply: Reply ends the execution, with no state after it.
    states = json.loads(render(ASL.read_text(), VALUES))["States"]
    assert states["Process"]["Next"] == "Reply"
    assert states["Reply"].get("End") is True
    # A held reply lease is the only other way out of Reply besides the DLQ: a wait, then Reply again.
    assert [c["Next"] for c in states["Reply"]["Catch"]] == ["WaitForReplyLease", "DeadLetter"]
    assert states["WaitForReplyLease"]["Next"] == "Reply"
