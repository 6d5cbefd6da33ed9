"""The DynamoDB adapter on moto: burst numbers across buffer lifetimes, and turns that always fit one item."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from debouncer.adapters.dynamodb import DynamoDbStore, turn_sk
from debouncer.domain import burst as burst_logic
from debouncer.domain.errors import RetryableError
from debouncer.domain.models import InboundMessage
from debouncer.local.item_size import ITEM_LIMIT_BYTES, dynamodb_item_limit
from debouncer.local.runtime import create_table
from debouncer.usecases.ingest import Ingest

TABLE = "store-test"
KEY = "whatsapp#106540352242922#15550001001"
DAY = 86_400
T0 = 1_750_000_000.25


@pytest.fixture
def client() -> Iterator[Any]:
    # DynamoDB's item limit as AWS applies it (the local runtime installs the same).
    with mock_aws(), dynamodb_item_limit():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb, TABLE)
        yield dynamodb


@pytest.fixture
def store(client: Any) -> DynamoDbStore:
    return DynamoDbStore(
        client,
        TABLE,
        debounce_seconds=2,
        max_wait_seconds=6,
        buffer_ttl_seconds=2 * DAY,
        history_ttl_seconds=30 * DAY,
        dedupe_ttl_seconds=8 * DAY,
        reply_lease_seconds=35,
    )


def message(mid: str, text: str, ts: float) -> InboundMessage:
    return InboundMessage(
        channel="whatsapp",
        account_id="106540352242922",
        conversation_key=KEY,
        sender_id="15550001001",
        recipient_id="15550001001",
        message_id=mid,
        timestamp_ms=int(ts * 1000),
        text=text,
    )


def answered(store: DynamoDbStore, mid: str, text: str, now: float) -> int:
    """One message, claimed and answered; its burst number."""
    result = store.append(message(mid, text, now), now=now)
    turn = store.claim(KEY, result.burst, claimer="exec", now=now + 3)
    assert turn is not None and [m.message_id for m in turn.messages] == [mid]
    store.record_answer(KEY, result.burst, answer=f"re: {text}")
    return result.burst


def test_burst_numbers_follow_the_clock_and_never_go_back(store: DynamoDbStore, client: Any) -> None:
    first = store.append(message("m0", "hi", T0), now=T0)
    assert first.burst == 1_750_000_000_250 and first.opened_burst
    assert store.append(message("m1", "there", T0 + 1), now=T0 + 1).burst == first.burst
    # A claim moves the number to the clock's milliseconds...
    store.claim(KEY, first.burst, claimer="exec", now=T0 + 3)
    second = store.append(message("m2", "again", T0 + 4), now=T0 + 4).burst
    assert second == 1_750_000_003_250
    # ...or on by one, when the claimer's clock is behind
    store.claim(KEY, second, claimer="exec", now=T0)
    assert store.append(message("m3", "more", T0 + 5), now=T0 + 5).burst == second + 1


def test_a_buffer_numbered_from_1_leaves_its_old_numbers_behind_at_its_next_claim(
    store: DynamoDbStore, client: Any
) -> None:
    # GIVEN a buffer whose counter started at 1 (written before burst numbers came from the clock)
    client.put_item(TableName=TABLE, Item={"pk": {"S": KEY}, "sk": {"S": "buffer"}, "burst": {"N": "3"}})
    legacy = store.append(message("m0", "hi", T0), now=T0)
    assert legacy.burst == 3
    # WHEN it is claimed THEN its next burst is numbered from the clock
    store.claim(KEY, legacy.burst, claimer="exec", now=T0 + 3)
    assert store.append(message("m1", "again", T0 + 4), now=T0 + 4).burst == burst_logic.first_burst(T0 + 3)


def test_a_conversation_whose_buffer_expired_claims_and_reads_history_again(store: DynamoDbStore, client: Any) -> None:
    # GIVEN two answered bursts, then the idle buffer deleted by TTL (its turns and dedupe records live on)
    bursts = [answered(store, "m0", "hi", T0), answered(store, "m1", "book friday", T0 + 10)]
    client.delete_item(TableName=TABLE, Key={"pk": {"S": KEY}, "sk": {"S": "buffer"}})

    # WHEN the person writes again days later (or, locally, a moment later: the clock moved on either way)
    for later in (T0 + 3 * DAY, T0 + 3 * DAY + 20):
        bursts.append(answered(store, f"m{len(bursts)}", "me again", later))
        client.delete_item(TableName=TABLE, Key={"pk": {"S": KEY}, "sk": {"S": "buffer"}})

    # THEN every burst number is new, the turns sort in the order they happened, and history reads across lifetimes
    assert len(set(bursts)) == len(bursts) == 4
    items = client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :turn)",
        ExpressionAttributeValues={":pk": {"S": KEY}, ":turn": {"S": "turn#"}},
    )["Items"]
    assert [int(i["burst"]["N"]) for i in items] == sorted(bursts)
    history = store.history(KEY, before_burst=max(bursts) + 1, limit=10)
    assert [h.assistant for h in history][:2] == ["re: hi", "re: book friday"]
    assert len(history) == 4


def test_turn_keys_sort_as_their_burst_numbers_do() -> None:
    numbers = [0, 1, 9, 10, 1_750_000_000_250, 1_750_000_000_251, 9_999_999_999_999, 2**63 - 1]
    assert sorted(numbers, key=turn_sk) == numbers
    assert len({len(turn_sk(n)) for n in numbers}) == 1


def test_execution_names_fit_step_functions_for_clock_numbered_bursts() -> None:
    # Step Functions: at most 80 characters of letters, digits, '-' and '_'.
    for number in (burst_logic.first_burst(T0), burst_logic.first_burst(9_999_999_999.999) + 10**6):
        for flush in (False, True):
            name = burst_logic.execution_name("x" * 2048, number, flush=flush)
            assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name), name


def test_an_answer_to_a_burst_at_the_size_cap_still_fits_its_turn(store: DynamoDbStore, client: Any) -> None:
    # GIVEN a large burst (15 long messages: 244 KB, the size a 256 KiB max_buffer_bytes flushes at)
    opened = store.append(message("big-0", "x" * 16_000, T0), now=T0)
    for i in range(1, 15):
        assert not store.append(message(f"big-{i}", "x" * 16_000, T0), now=T0).duplicate
    turn = store.claim(KEY, opened.burst, claimer="arn:aws:states:us-east-1:123456789012:execution:sm:name", now=T0)
    assert turn is not None and len(turn.messages) == 15

    # WHEN the AI answers at length (echo repeats the whole burst), the reply is sent and fails for good
    store.record_answer(KEY, opened.burst, answer="é" * 200_000)
    assert store.acquire_reply(KEY, opened.burst, "token", now=T0 + 5) is not None
    store.record_delivery(KEY, opened.burst, "token", 1, done=False, now=T0 + 5)
    store.record_reply_failure(KEY, opened.burst, "token", "the channel said: " + "no " * 100_000, now=T0 + 6)

    # THEN every write fit one item: the answer is its first 64 KiB, whole characters, and the reason is cut too
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": KEY}, "sk": {"S": turn_sk(opened.burst)}})["Item"]
    assert item["answer"]["S"] == "é" * (64 * 1024 // 2)
    assert len(item["failure"]["S"].encode()) <= 1024 and "failed_at" in item


def test_a_message_the_open_burst_has_no_room_for_is_not_stored(store: DynamoDbStore) -> None:
    opened = store.append(message("big-0", "x" * 16_000, T0), now=T0)
    results = [store.append(message(f"big-{i}", "x" * 16_000, T0), now=T0) for i in range(1, 40)]
    refused = [r for r in results if r.full]
    # The buffer stops below the cap that leaves the turn room for its answer, and tells the caller so
    assert refused and all(not r.duplicate for r in refused)
    assert all(r.burst == opened.burst for r in results)
    kept = results.index(refused[0]) + 1
    # A redelivery of a stored message is still a duplicate, not a refusal
    again = store.append(message("big-1", "x" * 16_000, T0), now=T0)
    assert again.duplicate and not again.full
    turn = store.claim(KEY, opened.burst, claimer="exec", now=T0 + 3)
    assert turn is not None and len(turn.messages) == kept
    # Once claimed, the refused message fits the next burst
    retried = store.append(message(f"big-{kept}", "x" * 16_000, T0 + 4), now=T0 + 4)
    assert not retried.full and retried.opened_burst and retried.burst > opened.burst


class RecordingTimer:
    def __init__(self) -> None:
        self.started: list[tuple[int, bool]] = []

    def start(self, conversation_key: str, burst: int, *, wake_at: str, flush: bool = False) -> None:
        self.started.append((burst, flush))


def test_ingest_flushes_a_full_burst_and_asks_for_a_redelivery(store: DynamoDbStore) -> None:
    timer = RecordingTimer()
    ingest = Ingest(store, timer, max_messages=95, max_buffer_bytes=1024 * 1024, clock=lambda: T0)
    messages = [message(f"big-{i}", "x" * 16_000, T0) for i in range(40)]
    with pytest.raises(RetryableError, match="no room"):
        for m in messages:
            ingest.accept([m])
    burst = burst_logic.first_burst(T0)
    assert timer.started == [(burst, False), (burst, True)]


def _update(client: Any, expression: str, value: dict[str, Any]) -> None:
    client.update_item(
        TableName=TABLE,
        Key={"pk": {"S": KEY}, "sk": {"S": "big"}},
        UpdateExpression=expression,
        ExpressionAttributeValues={":v": value},
    )


def test_the_item_limit_is_dynamodbs_the_item_after_the_write_up_to_400_kib(client: Any) -> None:
    # name + value of "a" 300,000 bytes, of pk and sk about 50: the item is about 300 KB
    _update(client, "SET a = :v", {"S": "x" * 300_000})
    # Rewriting the attribute (as list_append does) counts the new value only: still about 300 KB, which AWS takes
    _update(client, "SET a = :v", {"S": "y" * 300_000})
    # Growing the item to just under 400 KiB is fine; one byte over it is refused, as DynamoDB refuses it
    room = ITEM_LIMIT_BYTES - 300_000 - len("a") - len("pk") - len(KEY) - len("sk") - len("big") - len("b")
    _update(client, "SET b = :v", {"S": "z" * room})
    with pytest.raises(ClientError, match="Item size to update has exceeded the maximum allowed size"):
        _update(client, "SET b = :v", {"S": "z" * (room + 1)})
    with pytest.raises(ClientError, match="Item size"):
        _update(client, "SET c = :v", {"S": "!"})
