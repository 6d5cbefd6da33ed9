"""DynamoDB TTL in the local world: what outlives an expired buffer must never meet the next burst (invariant 7).

moto never expires an item; LocalRuntime.ttl_sweep deletes what DynamoDB TTL would have. A buffer goes after
buffer_retention_days (2), dedupe records after 8 days and turns after 30, and Standard keeps a closed execution's
name for 90 days: a person who writes again after three days meets all of them but the buffer.
"""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from debouncer.local.runtime import REGION, LocalRuntime
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for

pytestmark = pytest.mark.workflow_types()

DAY = 86_400


def _user() -> str:
    return "1555" + uuid.uuid4().hex[:8]


def _send(runtime: LocalRuntime, user: str, mid: str, text: str) -> None:
    status, body = post(runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, mid, text)))
    assert status == 200, body


def _items(runtime: LocalRuntime, user: str) -> list[str]:
    """The sort keys stored for one user's conversation."""
    with runtime.emulator.running_as("operator"):
        items = boto3.client("dynamodb", region_name=REGION).scan(TableName=runtime.table_name)["Items"]
    return sorted(i["sk"]["S"] for i in items if i["pk"]["S"].endswith(f"#{user}"))


def _settled_replies(runtime: LocalRuntime, user: str, count: int) -> list[dict[str, Any]]:
    wait_for(lambda: len(replies_to(runtime, user)) >= count, timeout=30)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    return replies_to(runtime, user)


def _answered_then_expired(runtime: LocalRuntime, user: str) -> None:
    """One answered burst, then three days of silence: the buffer is gone, its turn and dedupe record are not."""
    _send(runtime, user, f"wamid.{user}.0", "hello")
    assert len(_settled_replies(runtime, user, 1)) == 1
    assert runtime.ttl_sweep(3 * DAY) >= 1
    stored = _items(runtime, user)
    assert "buffer" not in stored
    assert f"msg#wamid.{user}.0" in stored
    assert [sk for sk in stored if sk.startswith("turn#")], stored


def test_a_person_who_comes_back_after_the_buffer_expired_gets_one_reply(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    user = _user()
    # GIVEN a conversation answered once, whose buffer DynamoDB TTL has since deleted
    _answered_then_expired(runtime, user)

    # WHEN the person writes again
    _send(runtime, user, f"wamid.{user}.1", "it's me again")

    # THEN exactly one new reply answers exactly the new message, and nothing is dead-lettered
    wait_for(lambda: len(replies_to(runtime, user)) == 2 or runtime.dead_letters(), timeout=30)
    replies = _settled_replies(runtime, user, 2)
    assert [r["message_ids"] for r in replies] == [[f"wamid.{user}.0"], [f"wamid.{user}.1"]]
    assert runtime.dead_letters() == []
    # AND the new turn sorts after the old one, so history reads them in the order they happened
    turns = [sk for sk in _items(runtime, user) if sk.startswith("turn#")]
    assert len(turns) == 2 and turns == sorted(turns)


def test_a_redelivery_after_the_buffer_expired_is_still_absorbed(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    user = _user()
    old = builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}.0", "hello"))
    # GIVEN an answered message whose buffer expired, with its dedupe record (8 days) still there
    _answered_then_expired(runtime, user)

    # WHEN the channel redelivers it (WhatsApp retries for days), a few hours later still
    assert runtime.ttl_sweep(6 * 3600) == 0
    status, body = post(runtime, "whatsapp", old)
    assert status == 200, body
    wait_for(lambda: executions_settled(runtime), timeout=30)

    # THEN it gets no second reply, and the person's next message is answered once, alone
    assert len(replies_to(runtime, user)) == 1
    _send(runtime, user, f"wamid.{user}.1", "anyone there?")
    wait_for(lambda: len(replies_to(runtime, user)) == 2 or runtime.dead_letters(), timeout=30)
    replies = _settled_replies(runtime, user, 2)
    assert [r["message_ids"] for r in replies] == [[f"wamid.{user}.0"], [f"wamid.{user}.1"]]
    assert runtime.dead_letters() == []


def test_a_redelivery_inside_the_buffer_lifetime_is_absorbed(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    user = _user()
    payload = builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}.0", "hello"))
    post(runtime, "whatsapp", payload)
    _settled_replies(runtime, user, 1)

    # GIVEN a few hours pass: nothing of this conversation expires yet
    assert runtime.ttl_sweep(5 * 3600) == 0
    assert "buffer" in _items(runtime, user)

    # WHEN the channel redelivers the answered message THEN it is absorbed
    status, _ = post(runtime, "whatsapp", payload)
    assert status == 200
    wait_for(lambda: executions_settled(runtime), timeout=30)
    assert len(replies_to(runtime, user)) == 1
    assert runtime.dead_letters() == []


def test_ttl_sweep_deletes_only_what_has_expired_by_then(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    user = _user()
    _send(runtime, user, f"wamid.{user}.0", "hello")
    _settled_replies(runtime, user, 1)
    kinds = ("buffer", "msg#", "turn#")

    def present() -> list[bool]:
        stored = _items(runtime, user)
        return [any(sk.startswith(kind) for sk in stored) for kind in kinds]

    assert present() == [True, True, True]
    assert runtime.ttl_sweep(0) == 0
    runtime.ttl_sweep(3 * DAY)
    assert present() == [False, True, True]
    runtime.ttl_sweep(9 * DAY)
    assert present() == [False, False, True]
    runtime.ttl_sweep(31 * DAY)
    assert present() == [False, False, False]
    with pytest.raises(ValueError, match="non-negative"):
        runtime.ttl_sweep(-1)


def test_a_burst_near_the_size_cap_is_answered_at_length_within_one_item(start_runtime: RuntimeFactory) -> None:
    # The echo AI answers with the whole burst: a 260 KB burst and its answer would make a 520 KB turn.
    runtime = start_runtime(MAX_BUFFER_BYTES=str(256 * 1024), DEBOUNCE_SECONDS="2")
    user = _user()
    ids = [f"wamid.{user}.{i}" for i in range(16)]
    # GIVEN two POSTs (each within the per-request limit) that fill one burst with 16 messages of 16,000 characters
    for chunk in (ids[:11], ids[11:]):
        messages = [builders.wa_message(user, mid, f"{mid} " + "x" * 16_000) for mid in chunk]
        status, body = post(runtime, "whatsapp", builders.whatsapp(user, *messages))
        assert status == 200, body

    # THEN the burst is answered once, with every message, and nothing is dead-lettered
    wait_for(lambda: replies_to(runtime, user) or runtime.dead_letters(), timeout=40)
    wait_for(lambda: executions_settled(runtime), timeout=40)
    assert runtime.dead_letters() == []
    replies = replies_to(runtime, user)
    assert replies and all(r["message_ids"] == ids for r in replies)
    # AND the answer was kept as long as one item allows: its first 64 KiB
    assert 60_000 < sum(len(r["text"].encode()) for r in replies) <= 64 * 1024


def test_the_local_table_refuses_an_item_over_400_kib_as_dynamodb_does(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    key = {"pk": {"S": "k"}, "sk": {"S": "s"}}
    with runtime.emulator.running_as("operator"):
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.put_item(TableName=runtime.table_name, Item={**key, "a": {"S": "x" * 300_000}})
        # Rewriting a large attribute counts its new value only (moto alone counted both and refused this)
        dynamodb.update_item(
            TableName=runtime.table_name,
            Key=key,
            UpdateExpression="SET a = :v",
            ExpressionAttributeValues={":v": {"S": "y" * 300_000}},
        )
        with pytest.raises(dynamodb.exceptions.ClientError, match="Item size to update has exceeded"):
            dynamodb.update_item(
                TableName=runtime.table_name,
                Key=key,
                UpdateExpression="SET b = :v",
                ExpressionAttributeValues={":v": {"S": "z" * 110_000}},
            )
