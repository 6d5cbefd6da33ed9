"""debouncer tune --table on moto: the history the real adapter wrote, read back as timings only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from debouncer.adapters.dynamodb import DynamoDbStore, turn_sk
from debouncer.domain.models import InboundMessage
from debouncer.domain.privacy import conversation_ref
from debouncer.local.runtime import create_table
from debouncer.tuning.table import read_table

TABLE = "tune-test"
KEY = "whatsapp#106540352242922#15550001001"
OLD_KEY = "telegram#bot#777"
T0 = 1_750_000_000.25
SECRET = "my card number is 4111"


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb, TABLE)
        yield dynamodb


def _message(key: str, mid: str, text: str, at: float) -> InboundMessage:
    user = key.rsplit("#", 1)[1]
    channel = "whatsapp" if key.startswith("whatsapp") else "telegram"
    return InboundMessage(
        channel=channel,
        account_id=key.split("#")[1],
        conversation_key=key,
        sender_id=user,
        recipient_id=user,
        message_id=mid,
        timestamp_ms=int(at) * 1000,  # the channel's whole second
        text=text,
    )


def _history(client: Any) -> None:
    """One claimed turn and one open burst written by the adapter, and a turn from before arrival times were kept."""
    store = DynamoDbStore(
        client,
        TABLE,
        debounce_seconds=2,
        max_wait_seconds=6,
        buffer_ttl_seconds=86_400,
        history_ttl_seconds=86_400,
        dedupe_ttl_seconds=86_400,
        reply_lease_seconds=35,
    )
    first = store.append(_message(KEY, "m1", SECRET, T0), T0)
    store.append(_message(KEY, "m2", "done", T0 + 1.5), T0 + 1.5)
    assert store.claim(KEY, first.burst, "execution", T0 + 4) is not None
    store.append(_message(KEY, "m3", "and another thing", T0 + 60), T0 + 60)
    client.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": OLD_KEY},
            "sk": {"S": turn_sk(1)},
            "burst": {"N": "1"},
            "messages": {"L": [{"S": _message(OLD_KEY, "o1", SECRET, T0 - 100).document}]},
        },
    )


def _requests(client: Any) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append((model.name, dict(params)))

    client.meta.events.register("provide-client-params.dynamodb.*", record)
    return seen


def test_timings_come_from_the_recorded_arrivals_and_no_text_is_read_where_they_exist(client: Any) -> None:
    _history(client)
    requests = _requests(client)

    timings = read_table(client, TABLE, tenant_of=lambda channel, account: "clinic" if channel == "whatsapp" else None)

    ours = sorted((m for m in timings if m.conversation == conversation_ref(KEY)), key=lambda m: m.at)
    assert [round(m.at - T0, 3) for m in ours] == [0, 1.5, 60]  # arrivals to the microsecond, not channel seconds
    assert {(m.tenant, m.channel, m.keyword) for m in ours} == {("clinic", "whatsapp", None)}
    [old] = [m for m in timings if m.conversation == conversation_ref(OLD_KEY)]
    assert (old.at, old.channel, old.tenant) == (int(T0 - 100), "telegram", None)  # the channel's timestamp
    # Only the scan (without the messages) and one read of the item that had no arrival times
    assert [name for name, _ in requests] == ["Scan", "GetItem"]
    assert "messages" not in requests[0][1]["ProjectionExpression"]
    assert requests[1][1]["Key"]["pk"]["S"] == OLD_KEY
    assert not any(SECRET in repr(m) or KEY in repr(m) for m in timings)


def test_flush_keywords_need_the_texts_which_are_dropped_as_they_are_read(client: Any) -> None:
    _history(client)
    timings = read_table(client, TABLE, keywords=["Done"])
    assert sorted(m.keyword or "" for m in timings) == ["", "", "", "done"]
    assert all(m.size > 0 for m in timings)
    assert not any(SECRET in repr(m) for m in timings)
