"""WaitForQuiet goes straight to Process, whose claim checks that the burst is due: the state machine as executed.

A burst that sleeps twice costs six transitions and one buffer read, and a message that moves the deadline while the
execution sleeps sends the claim back to ReadBuffer (BurstNotDueError, caught), never answering early or twice.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import boto3
import pytest

from debouncer.domain.burst import epoch_of
from debouncer.domain.models import conversation_key
from debouncer.local.runtime import REGION, LocalRuntime
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for

# History is read from the Step Functions API, which keeps none for Express: Standard only.
pytestmark = pytest.mark.workflow_types("STANDARD")
DEBOUNCE = 3


def _conversation(start_runtime: RuntimeFactory) -> tuple[LocalRuntime, str]:
    """A runtime with a debounce to sleep through twice (and no max wait in the way), and a fresh user."""
    return start_runtime(DEBOUNCE_SECONDS=str(DEBOUNCE), MAX_WAIT_SECONDS="30"), "1555" + uuid.uuid4().hex[:8]


def _send(runtime: LocalRuntime, user: str, index: int) -> None:
    message = builders.wa_message(user, f"wamid.{user}.{index}", f"part {index}")
    status, body = post(runtime, "whatsapp", builders.whatsapp(user, message))
    assert status == 200, body


def _history(runtime: LocalRuntime) -> list[dict[str, Any]]:
    (execution,) = runtime.executions()
    sfn = boto3.client("stepfunctions", region_name=REGION)
    with runtime.emulator.running_as("operator"):
        return list(sfn.get_execution_history(executionArn=execution["arn"])["events"])


def _buffer(runtime: LocalRuntime, user: str) -> dict[str, Any]:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    key = {"pk": {"S": conversation_key("whatsapp", builders.PHONE_NUMBER_ID, user)}, "sk": {"S": "buffer"}}
    with runtime.emulator.running_as("operator"):
        item: dict[str, Any] = dynamodb.get_item(TableName=runtime.table_name, Key=key, ConsistentRead=True)["Item"]
    return item


def _answered_once(runtime: LocalRuntime, user: str, messages: int) -> None:
    """Wait for the reply and for every execution to end; the user got one reply, to all their messages in order."""
    wait_for(lambda: replies_to(runtime, user), timeout=20)
    wait_for(lambda: executions_settled(runtime), timeout=20)
    (reply,) = replies_to(runtime, user)
    assert reply["message_ids"] == [f"wamid.{user}.{i}" for i in range(messages)]


def _entered(events: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]


def test_a_burst_that_sleeps_twice_goes_from_its_second_wait_straight_to_process(
    start_runtime: RuntimeFactory,
) -> None:
    runtime, user = _conversation(start_runtime)

    # GIVEN a burst whose second message moves the quiet deadline past the first wake-up
    _send(runtime, user, 0)
    time.sleep(1.5)
    _send(runtime, user, 1)

    # WHEN it is answered: THEN once, with both messages, after one read of the buffer and six transitions
    _answered_once(runtime, user, messages=2)
    assert _entered(_history(runtime)) == ["WaitUntilDue", "ReadBuffer", "Route", "WaitForQuiet", "Process", "Reply"]


def test_a_message_that_moves_the_deadline_during_the_second_wait_sends_the_claim_back_to_read(
    start_runtime: RuntimeFactory,
) -> None:
    runtime, user = _conversation(start_runtime)

    # GIVEN an execution asleep in WaitForQuiet until the quiet deadline its buffer read found
    _send(runtime, user, 0)
    time.sleep(2.5)
    _send(runtime, user, 1)
    # (the emulator's history of a running execution is not the real one: its own count of ReadBuffer's reads is)
    wait_for(lambda: runtime.emulator.calls[("state_machine", "dynamodb:GetItem")] >= 1, timeout=15)
    wakes_at = epoch_of(_buffer(runtime, user)["quiet_deadline"]["S"])

    # WHEN a third message comes before it wakes (more than a second before: its deadline moves past the wake-up)
    time.sleep(max(0.0, wakes_at - 1.2 - time.time()))
    _send(runtime, user, 2)

    # THEN the claim at the wake-up finds the burst not due, the buffer is read again, and the burst is answered
    # once, whole, after its new deadline
    _answered_once(runtime, user, messages=3)
    events = _history(runtime)
    assert _entered(events) == [
        "WaitUntilDue",
        "ReadBuffer",
        "Route",
        "WaitForQuiet",
        "Process",
        "ReadBuffer",
        "Route",
        "WaitForQuiet",
        "Process",
        "Reply",
    ]
    failed = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert failed == ["BurstNotDueError"]
    assert runtime.executions()[0]["status"] == "SUCCEEDED"
