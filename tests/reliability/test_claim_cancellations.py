"""A claim transaction cancelled for a reason other than "already answered" must not drop a message.

TransactWriteItems names a reason per item. Only ConditionalCheckFailed on a dedupe record means the message was
answered in an earlier burst. ThrottlingError, ProvisionedThroughputExceeded and TransactionConflict are transient:
every item of a conversation shares one partition key, so a hot conversation can be throttled on any of them.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for

pytestmark = pytest.mark.slow


def _cancelled_once(reason: str) -> object:
    """A hook cancelling process_message's first claim: buffer and turn fine, the first dedupe record refused."""
    fired: list[str] = []

    def hook(caller: str, action: str) -> tuple[int, dict[str, str], str] | None:
        if caller != "process_message" or action != "dynamodb:TransactWriteItems" or fired:
            return None
        fired.append(reason)
        reasons = [{"Code": "None"}, {"Code": "None"}, {"Code": reason, "Message": "injected"}, {"Code": "None"}]
        body = {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{reason}]",
            "CancellationReasons": reasons,
        }
        return 400, {"x-amzn-RequestId": "reliability-injected-fault"}, json.dumps(body)

    hook.fired = fired  # type: ignore[attr-defined]
    return hook


@pytest.mark.parametrize("reason", ["ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict"])
def test_a_transient_cancellation_on_a_dedupe_record_loses_no_message(
    start_runtime: RuntimeFactory, reason: str
) -> None:
    # GIVEN a burst of two messages, and the first claim cancelled by a transient reason on a dedupe record
    runtime = start_runtime()
    hook = _cancelled_once(reason)
    runtime.emulator.faults.append(hook)  # type: ignore[arg-type]
    user = "1555" + uuid.uuid4().hex[:8]
    for i in range(2):
        payload = builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}.{i}", f"part {i}"))
        assert post(runtime, "whatsapp", payload)[0] == 200

    # WHEN the burst is processed
    wait_for(lambda: replies_to(runtime, user) or runtime.dead_letters(), timeout=30)
    wait_for(lambda: executions_settled(runtime), timeout=30)

    # THEN both messages are answered, in one reply
    assert hook.fired == [reason]  # type: ignore[attr-defined]
    assert [r["message_ids"] for r in replies_to(runtime, user)] == [[f"wamid.{user}.0", f"wamid.{user}.1"]]
