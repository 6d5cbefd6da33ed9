"""The conversation moves while its answer is made (issue 13), on the DynamoDB store itself (moto): edits and deletes of
waiting messages, a later burst superseding an answer none of whose parts left (at its claim, or when the reply finds
messages waiting), the pause a human takeover puts a conversation in, and what the AI's history makes of all that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from tests.builders import inbound

from debouncer.adapters.dynamodb import BUFFER_SK, DynamoDbStore, directory_pk, turn_sk
from debouncer.domain.burst import DUE_TOLERANCE_SECONDS, iso_second
from debouncer.domain.errors import BurstNotDueError, ReplyLeaseHeldError
from debouncer.domain.models import BusinessEcho, InboundMessage, MediaRef, MessageChange
from debouncer.domain.ports import AIRequest, HistoryEntry, ReplyStart, Turn
from debouncer.domain.prompt import HUMAN_ANSWERED, ChatTurn, conversation
from debouncer.local.item_size import dynamodb_item_limit
from debouncer.local.runtime import create_table

TABLE = "conversation-store-test"
KEY = "whatsapp#1#2"  # the conversation of tests.builders.inbound
DAY = 86_400
DEBOUNCE = 2
MAX_WAIT = 6
LEASE = 35
# A whole second: quiet and cap deadlines (whole seconds, rounded up) fall exactly DEBOUNCE and MAX_WAIT after it.
T0 = 1_750_000_000.0


@pytest.fixture(scope="module")
def aws() -> Iterator[Any]:
    """One mocked account and client for the module (a client takes a second to make); a fresh table per test."""
    with mock_aws(), dynamodb_item_limit():
        yield boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def client(aws: Any) -> Iterator[Any]:
    create_table(aws, TABLE)
    yield aws
    aws.delete_table(TableName=TABLE)


@pytest.fixture
def store(client: Any) -> DynamoDbStore:
    return DynamoDbStore(
        client,
        TABLE,
        debounce_seconds=DEBOUNCE,
        max_wait_seconds=MAX_WAIT,
        buffer_ttl_seconds=2 * DAY,
        history_ttl_seconds=30 * DAY,
        dedupe_ttl_seconds=8 * DAY,
        reply_lease_seconds=LEASE,
    )


# --- helpers ---------------------------------------------------------------------------------------------------------


def msg(mid: str, text: str | None = "x", at: float = T0, **fields: Any) -> InboundMessage:
    """A message of the test conversation, written at `at`."""
    return inbound(mid, text, timestamp_ms=int(at * 1000), **fields)


def msg_in(account: str, mid: str, at: float = T0, *, recipient: str = "2") -> InboundMessage:
    """A message of the person `recipient` to another of our accounts: its own conversation."""
    return InboundMessage.model_validate(
        {
            **msg(mid, "hi", at).model_dump(),
            "account_id": account,
            "recipient_id": recipient,
            "sender_id": recipient,
            "conversation_key": f"whatsapp#{account}#{recipient}",
        }
    )


def edit(mid: str, text: str, at_ms: int) -> MessageChange:
    return MessageChange(
        channel="whatsapp",
        account_id="1",
        conversation_key=KEY,
        message_id=mid,
        change="edit",
        text=text,
        changed_at_ms=at_ms,
    )


def delete(mid: str, at_ms: int) -> MessageChange:
    return MessageChange(
        channel="whatsapp", account_id="1", conversation_key=KEY, message_id=mid, change="delete", changed_at_ms=at_ms
    )


def echo(mid: str) -> BusinessEcho:
    return BusinessEcho(
        channel="whatsapp",
        account_id="1",
        conversation_key=KEY,
        recipient_id="2",
        message_id=mid,
        timestamp_ms=int(T0 * 1000),
    )


def item(client: Any, sk: str, key: str = KEY) -> dict[str, Any] | None:
    found: dict[str, Any] | None = client.get_item(
        TableName=TABLE, Key={"pk": {"S": key}, "sk": {"S": sk}}, ConsistentRead=True
    ).get("Item")
    return found


def ids(messages: tuple[InboundMessage, ...]) -> list[str]:
    return [m.message_id for m in messages]


def texts(turn: Turn) -> list[str | None]:
    return [m.text for m in turn.messages]


def burst_of(store: DynamoDbStore, *messages: InboundMessage, at: float | None = None) -> int:
    """Append `messages` (each at its own time unless `at`); the open burst's number."""
    results = [store.append(m, now=at if at is not None else m.timestamp_ms / 1000) for m in messages]
    assert not any(r.duplicate or r.full for r in results)
    return results[0].burst


def claim(store: DynamoDbStore, burst: int, now: float, *, supersede: bool = True) -> Turn:
    turn = store.claim(KEY, burst, claimer=f"exec-{burst}", now=now, supersede=supersede)
    assert turn is not None
    return turn


def claimed(store: DynamoDbStore, *messages: InboundMessage, claim_at: float, supersede: bool = True) -> Turn:
    """The messages appended and claimed as one burst."""
    return claim(store, burst_of(store, *messages), claim_at, supersede=supersede)


def answered(store: DynamoDbStore, turn: Turn, answer: str = "re", *, now: float) -> Turn:
    """The turn's answer recorded and its reply lease taken by token "tok" (what reply does before begin_reply)."""
    store.record_answer(KEY, turn.burst, answer)
    leased = store.acquire_reply(KEY, turn.burst, "tok", now)
    assert leased is not None and leased.answer == answer
    return leased


# --- apply_change: edits and deletes of waiting messages -------------------------------------------------------------


def test_an_edit_of_a_waiting_message_replaces_its_text_and_moves_the_quiet_deadline(
    store: DynamoDbStore, client: Any
) -> None:
    # GIVEN a burst of two messages, due at T0+2 if nothing follows
    burst = burst_of(store, msg("m1", "see you at 5", T0), msg("m2", "ok?", T0), at=T0)
    assert item(client, BUFFER_SK)["quiet_deadline"]["S"] == iso_second(T0 + DEBOUNCE)  # type: ignore[index]

    # WHEN the person edits the first one a second later
    outcome = store.apply_change(edit("m1", "see you at 6", int((T0 + 1) * 1000)), now=T0 + 1)

    # THEN it applies, the burst is due a debounce after the edit, and the claim has the new text in its place
    assert outcome == "applied"
    assert item(client, BUFFER_SK)["quiet_deadline"]["S"] == iso_second(T0 + 1 + DEBOUNCE)  # type: ignore[index]
    turn = claim(store, burst, T0 + 4)
    assert ids(turn.messages) == ["m1", "m2"]
    assert texts(turn) == ["see you at 6", "ok?"]


def test_an_edited_caption_replaces_the_caption_of_a_waiting_media_message(store: DynamoDbStore) -> None:
    # GIVEN a photo with a caption, waiting
    photo = MediaRef(kind="image", ref="media-1", mime_type="image/jpeg")
    burst = burst_of(store, msg("m1", "the red one", T0, kind="image", media=(photo,)))

    # WHEN the caption is edited
    assert store.apply_change(edit("m1", "the blue one", int(T0 * 1000) + 500), now=T0 + 0.5) == "applied"

    # THEN the claimed message is the same photo with the new caption
    [claimed_photo] = claim(store, burst, T0 + 3).messages
    assert claimed_photo.text == "the blue one"
    assert claimed_photo.media == (photo,) and claimed_photo.kind == "image"
    assert claimed_photo.render() == "[image: media-1] the blue one"


@pytest.mark.parametrize(
    ("arrival", "outcomes"),
    [(["older", "newer"], ["applied", "applied"]), (["newer", "older"], ["applied", "outdated"])],
    ids=["in-order", "out-of-order"],
)
def test_of_two_edits_the_later_one_wins_whatever_order_they_arrive_in(
    store: DynamoDbStore, arrival: list[str], outcomes: list[str]
) -> None:
    # GIVEN a waiting message edited twice, at 1 s and at 2 s
    burst = burst_of(store, msg("m1", "v0", T0))
    edits = {"older": edit("m1", "v1", int(T0 * 1000) + 1000), "newer": edit("m1", "v2", int(T0 * 1000) + 2000)}

    # WHEN the edits arrive in either order
    got = [store.apply_change(edits[name], now=T0 + 3) for name in arrival]

    # THEN the later edit's text is what the claim answers; an older one arriving last is outdated
    assert got == outcomes
    assert texts(claim(store, burst, T0 + 6)) == ["v2"]


def test_a_redelivered_edit_applies_again_to_the_same_result(store: DynamoDbStore, client: Any) -> None:
    burst = burst_of(store, msg("m1", "v0", T0))
    change = edit("m1", "v1", int(T0 * 1000) + 1000)
    assert store.apply_change(change, now=T0 + 1) == "applied"
    edited = item(client, BUFFER_SK)

    # WHEN the channel delivers the same edit again, a moment later
    assert store.apply_change(change, now=T0 + 1.5) == "applied"

    # THEN the edit stored is the same one, and the claim has the edited text once
    again = item(client, BUFFER_SK)
    assert edited is not None and again is not None
    assert again["edit:m1"] == edited["edit:m1"]
    turn = claim(store, burst, T0 + 4)
    assert ids(turn.messages) == ["m1"] and texts(turn) == ["v1"]


def test_a_deleted_message_is_left_out_of_the_claim_and_its_redelivery_is_a_duplicate_later(
    store: DynamoDbStore, client: Any
) -> None:
    # GIVEN two waiting messages, the first deleted by the person
    burst = burst_of(store, msg("m1", "wrong chat", T0), msg("m2", "hello", T0 + 0.5))
    assert store.apply_change(delete("m1", int(T0 * 1000) + 800), now=T0 + 0.8) == "applied"

    # WHEN the burst is claimed
    turn = claim(store, burst, T0 + 3)

    # THEN the turn leaves the deleted message out, yet records it as received (its dedupe record)
    assert ids(turn.messages) == ["m2"] and ids(turn.to_answer) == ["m2"]
    assert not turn.withheld
    assert item(client, "msg#m1") is not None and item(client, "msg#m2") is not None
    assert item(client, turn_sk(burst))["deleted"] == {"L": [{"S": "m1"}]}  # type: ignore[index]

    # AND a late redelivery of the deleted message is dropped at the next claim as a duplicate
    later = burst_of(store, msg("m1", "wrong chat", T0), msg("m3", "are you there?", T0 + 5), at=T0 + 5)
    next_turn = claim(store, later, T0 + 8)
    assert ids(next_turn.messages) == ["m3"]
    assert next_turn.dropped_duplicates == ("m1",)


def test_a_redelivered_delete_finds_its_work_done_and_changes_nothing(store: DynamoDbStore, client: Any) -> None:
    burst_of(store, msg("m1", "a", T0), msg("m2", "b", T0))
    assert store.apply_change(delete("m1", int(T0 * 1000) + 100), now=T0 + 0.1) == "applied"
    before = item(client, BUFFER_SK)

    assert store.apply_change(delete("m1", int(T0 * 1000) + 100), now=T0 + 0.2) == "applied"

    assert item(client, BUFFER_SK) == before


def test_an_edit_after_a_delete_is_outdated_and_does_not_bring_the_message_back(
    store: DynamoDbStore, client: Any
) -> None:
    burst = burst_of(store, msg("m1", "a", T0), msg("m2", "b", T0))
    assert store.apply_change(delete("m1", int(T0 * 1000) + 100), now=T0 + 0.1) == "applied"
    before = item(client, BUFFER_SK)

    assert store.apply_change(edit("m1", "a, edited", int(T0 * 1000) + 200), now=T0 + 0.2) == "outdated"

    assert item(client, BUFFER_SK) == before
    assert ids(claim(store, burst, T0 + 3).messages) == ["m2"]


@pytest.mark.parametrize("kind", ["edit", "delete"])
def test_a_change_to_a_message_already_claimed_is_answered_and_changes_nothing(
    store: DynamoDbStore, client: Any, kind: str
) -> None:
    # GIVEN a claimed burst, and the next one waiting
    first = claimed(store, msg("m1", "v0", T0), claim_at=T0 + 3)
    burst_of(store, msg("m2", "more", T0 + 4))
    turn_before, buffer_before = item(client, turn_sk(first.burst)), item(client, BUFFER_SK)

    # WHEN the person edits or deletes the claimed message
    change = edit("m1", "v1", int(T0 * 1000) + 5000) if kind == "edit" else delete("m1", int(T0 * 1000) + 5000)
    outcome = store.apply_change(change, now=T0 + 5)

    # THEN it was answered (or is being answered): neither the turn nor the waiting burst changes
    assert outcome == "answered"
    assert item(client, turn_sk(first.burst)) == turn_before
    assert item(client, BUFFER_SK) == buffer_before


@pytest.mark.parametrize("kind", ["edit", "delete"])
def test_a_change_to_a_message_never_received_is_unknown_and_stores_nothing(
    store: DynamoDbStore, client: Any, kind: str
) -> None:
    def change(mid: str) -> MessageChange:
        return edit(mid, "new", int(T0 * 1000)) if kind == "edit" else delete(mid, int(T0 * 1000))

    # GIVEN a conversation with no buffer at all: nothing is created for the change
    assert store.apply_change(change("ghost"), now=T0) == "unknown"
    assert client.scan(TableName=TABLE)["Items"] == []

    # GIVEN a waiting burst without that message: it stays as it is
    burst_of(store, msg("m1", "a", T0))
    before = item(client, BUFFER_SK)
    assert store.apply_change(change("ghost"), now=T0 + 1) == "unknown"
    assert item(client, BUFFER_SK) == before


def test_a_burst_whose_messages_were_all_deleted_is_withheld_with_nothing_to_answer(
    store: DynamoDbStore, client: Any
) -> None:
    burst = burst_of(store, msg("m1", "a", T0), msg("m2", "b", T0))
    for mid in ("m1", "m2"):
        assert store.apply_change(delete(mid, int(T0 * 1000) + 500), now=T0 + 0.5) == "applied"

    turn = claim(store, burst, T0 + 3)

    assert turn.withheld and turn.to_answer == () and turn.messages == ()
    assert item(client, turn_sk(burst))["withheld_reason"] == {"S": "deleted"}  # type: ignore[index]
    # Both ids were received: their redeliveries are duplicates too
    assert item(client, "msg#m1") is not None and item(client, "msg#m2") is not None


# --- supersede at claim ----------------------------------------------------------------------------------------------


def test_a_claim_supersedes_the_turn_before_it_while_its_reply_has_not_started(
    store: DynamoDbStore, client: Any
) -> None:
    # GIVEN turn N claimed (its AI still thinking) and the person writing again
    n = claimed(store, msg("m1", "do you ship to Canada?", T0), msg("m2", "and Mexico?", T0 + 0.5), claim_at=T0 + 3)
    n1 = burst_of(store, msg("m3", "by air", T0 + 4))

    # WHEN burst N+1 is claimed
    turn = claim(store, n1, T0 + 5.5)

    # THEN N is superseded by N+1, and N+1 carries N: N's messages first, then its own, in order
    old = item(client, turn_sk(n.burst))
    assert old is not None and "superseded_at" in old and old["superseded_by"] == {"N": str(n1)}
    assert store.load_turn(KEY, n.burst).superseded  # type: ignore[union-attr]
    assert turn.carried == (n.burst,)
    assert ids(turn.messages) == ["m1", "m2", "m3"] == ids(turn.to_answer)
    assert not turn.superseded and not turn.withheld
    # The starvation bound is N's oldest message's
    assert turn.cap_deadline == n.cap_deadline == iso_second(T0 + MAX_WAIT)


def _started(store: DynamoDbStore, turn: Turn) -> None:
    answered(store, turn, now=T0 + 3.1)
    assert store.begin_reply(turn, "tok", T0 + 3.2, supersede=True) == "send"


def _delivered(store: DynamoDbStore, turn: Turn) -> None:
    _started(store, turn)
    store.record_delivery(KEY, turn.burst, "tok", 1, done=True, now=T0 + 3.3)


def _failed(store: DynamoDbStore, turn: Turn) -> None:
    assert store.record_ai_failure(KEY, turn.burst, "the AI gave up", now=T0 + 3.1)


def _withheld_by_a_pause(store: DynamoDbStore, turn: Turn) -> None:
    leased = answered(store, turn, now=T0 + 3.1)
    store.pause(KEY, T0 + 100, now=T0 + 3.1)
    assert store.begin_reply(leased, "tok", T0 + 3.2, supersede=True) == "withheld"
    store.resume(KEY, now=T0 + 3.3)


@pytest.mark.parametrize(
    "settle",
    [_started, _delivered, _failed, _withheld_by_a_pause],
    ids=["reply-started", "delivered", "failed", "withheld"],
)
def test_a_claim_never_supersedes_a_turn_whose_reply_started_or_that_is_settled(
    store: DynamoDbStore, client: Any, settle: Callable[[DynamoDbStore, Turn], None]
) -> None:
    # GIVEN turn N claimed, then committed to or settled
    n = claimed(store, msg("m1", "a", T0), claim_at=T0 + 3)
    settle(store, n)
    before = item(client, turn_sk(n.burst))

    # WHEN the next burst is claimed, with supersede
    turn = claimed(store, msg("m2", "b", T0 + 4), claim_at=T0 + 5.5)

    # THEN it answers its own messages only, and N is as it was
    assert turn.carried == () and ids(turn.messages) == ["m2"]
    assert item(client, turn_sk(n.burst)) == before


def test_a_claim_never_carries_a_turn_withheld_as_all_its_messages_were_deleted(store: DynamoDbStore) -> None:
    n = burst_of(store, msg("m1", "a", T0))
    store.apply_change(delete("m1", int(T0 * 1000) + 1), now=T0 + 0.5)
    assert claim(store, n, T0 + 3).withheld

    turn = claimed(store, msg("m2", "b", T0 + 4), claim_at=T0 + 5.5)

    assert turn.carried == () and ids(turn.messages) == ["m2"]


@pytest.mark.parametrize(
    ("claim_at", "supersedes"),
    [(T0 + MAX_WAIT, True), (T0 + MAX_WAIT + 0.5, False)],
    ids=["at-the-cap", "past-the-cap"],
)
def test_a_claim_supersedes_only_while_the_turn_before_is_inside_its_max_wait(
    store: DynamoDbStore, client: Any, claim_at: float, supersedes: bool
) -> None:
    # GIVEN turn N, whose oldest message's max wait ends at T0+6, not started yet
    n = claimed(store, msg("m1", "a", T0), claim_at=T0 + 3)
    assert n.cap_deadline == iso_second(T0 + MAX_WAIT)

    # WHEN the next burst is claimed at the cap, or after it (the starvation bound)
    turn = claimed(store, msg("m2", "b", T0 + 4), claim_at=claim_at)

    # THEN it supersedes N at the cap, never after: N's answer is sent instead
    assert (turn.carried == (n.burst,)) is supersedes
    assert ids(turn.messages) == (["m1", "m2"] if supersedes else ["m2"])
    assert ("superseded_at" in item(client, turn_sk(n.burst))) is supersedes  # type: ignore[operator]


def test_a_claim_without_supersede_leaves_the_turn_before_alone(store: DynamoDbStore, client: Any) -> None:
    n = claimed(store, msg("m1", "a", T0), claim_at=T0 + 3, supersede=False)

    turn = claimed(store, msg("m2", "b", T0 + 4), claim_at=T0 + 5.5, supersede=False)

    assert turn.carried == () and ids(turn.messages) == ["m2"]
    assert "superseded_at" not in item(client, turn_sk(n.burst))  # type: ignore[operator]


def test_superseding_chains_the_last_turn_carries_every_turn_it_replaces(store: DynamoDbStore, client: Any) -> None:
    # GIVEN N superseded by N+1 at its claim
    n = claimed(store, msg("m1", "a", T0), claim_at=T0 + 1)
    n1 = claimed(store, msg("m2", "b", T0 + 1.5), claim_at=T0 + 2)
    assert n1.carried == (n.burst,)

    # WHEN N+2 is claimed before N+1's reply started
    n2 = claimed(store, msg("m3", "c", T0 + 2.5), claim_at=T0 + 3)

    # THEN N+2 carries both, oldest first, with all their messages in order, within N's max wait
    assert n2.carried == (n.burst, n1.burst)
    assert ids(n2.messages) == ["m1", "m2", "m3"]
    assert n2.cap_deadline == iso_second(T0 + MAX_WAIT)
    assert item(client, turn_sk(n.burst))["superseded_by"] == {"N": str(n1.burst)}  # type: ignore[index]
    assert item(client, turn_sk(n1.burst))["superseded_by"] == {"N": str(n2.burst)}  # type: ignore[index]


# --- begin_reply ------------------------------------------------------------------------------------------------------


def test_begin_reply_commits_to_sending_and_a_retry_with_the_same_token_sends_too(
    store: DynamoDbStore, client: Any
) -> None:
    turn = answered(store, claimed(store, msg("m1", "a", T0), claim_at=T0 + 3), now=T0 + 4)

    assert store.begin_reply(turn, "tok", T0 + 4, supersede=True) == "send"
    assert "reply_started" in item(client, turn_sk(turn.burst))  # type: ignore[operator]
    # A retry of this very run (a crash after the commit) carries on sending
    assert store.begin_reply(turn, "tok", T0 + 5, supersede=True) == "send"
    assert store.load_turn(KEY, turn.burst).reply_started  # type: ignore[union-attr]


def test_begin_reply_stands_down_for_a_waiting_burst_due_within_the_turns_max_wait(
    store: DynamoDbStore, client: Any
) -> None:
    # GIVEN turn N answered (its max wait ends at T0+6), and the person writing again at T0+3 (first look at T0+5)
    n = claimed(store, msg("m1", "a", T0), claim_at=T0 + 2)
    leased = answered(store, n, now=T0 + 3.5)
    waiting = store.append(msg("m2", "b", T0 + 3), now=T0 + 3)
    assert waiting.quiet_deadline == iso_second(T0 + 3 + DEBOUNCE)

    # WHEN the reply is about to send N's answer
    start = store.begin_reply(leased, "tok", T0 + 4, supersede=True)

    # THEN it stands down: N is superseded, the buffer carries N and takes N's (earlier) max wait
    assert start == "superseded"
    buffer = item(client, BUFFER_SK)
    assert buffer is not None
    assert buffer["carried"] == {"L": [{"N": str(n.burst)}]}
    assert buffer["cap_deadline"] == {"S": iso_second(T0 + MAX_WAIT)}  # min(T0+9, T0+6)
    old = item(client, turn_sk(n.burst))
    assert old is not None and "superseded_at" in old and "reply_lease" not in old
    assert old["superseded_by"] == {"N": str(waiting.burst)}
    # AND no run sends N's answer: the lease gives back the settled turn
    settled = store.acquire_reply(KEY, n.burst, "tok", T0 + 4.5)
    assert settled is not None and settled.superseded and not settled.reply_started
    # AND the next claim carries N (once), with N's max wait
    turn = claim(store, waiting.burst, T0 + 5)
    assert turn.carried == (n.burst,)
    assert ids(turn.messages) == ["m1", "m2"]
    assert turn.cap_deadline == iso_second(T0 + MAX_WAIT)


def test_begin_reply_sends_when_the_waiting_burst_is_first_looked_at_after_the_turns_max_wait(
    store: DynamoDbStore, client: Any
) -> None:
    # GIVEN turn N (max wait until T0+6), and a burst opened at T0+5: its timer first looks at T0+7
    n = claimed(store, msg("m1", "a", T0), claim_at=T0 + 2)
    leased = answered(store, n, now=T0 + 5)
    waiting = store.append(msg("m2", "b", T0 + 5), now=T0 + 5)
    assert waiting.quiet_deadline == iso_second(T0 + 7)

    # WHEN the reply starts THEN N's answer is sent (superseding would answer N past its bound)
    assert store.begin_reply(leased, "tok", T0 + 5.5, supersede=True) == "send"
    assert "carried" not in item(client, BUFFER_SK)  # type: ignore[operator]
    assert claim(store, waiting.burst, T0 + 8).carried == ()


def test_begin_reply_sends_when_the_waiting_burst_opened_in_a_fraction_of_a_second_past_the_cap(
    store: DynamoDbStore,
) -> None:
    n = claimed(store, msg("m1", "a", T0), claim_at=T0 + 2)
    leased = answered(store, n, now=T0 + 4.5)
    waiting = store.append(msg("m2", "b", T0 + 4.5), now=T0 + 4.5)
    assert waiting.quiet_deadline == iso_second(T0 + 7)  # the timer's first look: after N's cap (T0+6)

    assert store.begin_reply(leased, "tok", T0 + 5, supersede=True) == "send"


def test_begin_reply_withholds_the_answer_of_a_paused_conversation(store: DynamoDbStore, client: Any) -> None:
    # GIVEN an answer ready, and a human taking the conversation over before it leaves
    n = claimed(store, msg("m1", "a", T0), claim_at=T0 + 2)
    leased = answered(store, n, now=T0 + 3)
    store.pause(KEY, T0 + 600, now=T0 + 3)

    # WHEN the reply starts THEN it is withheld for good: no lease, no run sends it
    assert store.begin_reply(leased, "tok", T0 + 4, supersede=True) == "withheld"
    old = item(client, turn_sk(n.burst))
    assert old is not None and old["withheld_reason"] == {"S": "paused"} and "reply_lease" not in old
    settled = store.acquire_reply(KEY, n.burst, "tok", T0 + 5)
    assert settled is not None and settled.withheld and not settled.reply_started
    assert store.begin_reply(leased, "tok", T0 + 5, supersede=True) == "settled"


def test_begin_reply_is_settled_when_a_claim_superseded_the_turn_first(store: DynamoDbStore) -> None:
    # GIVEN turn N answered and leased, then superseded by the claim of N+1
    n = claimed(store, msg("m1", "a", T0), claim_at=T0 + 2)
    leased = answered(store, n, now=T0 + 3)
    assert claimed(store, msg("m2", "b", T0 + 3), claim_at=T0 + 5).carried == (n.burst,)

    # WHEN N's reply starts THEN there is nothing to send
    assert store.begin_reply(leased, "tok", T0 + 5.5, supersede=True) == "settled"
    settled = store.acquire_reply(KEY, n.burst, "tok", T0 + 6)
    assert settled is not None and settled.superseded and settled.answer == "re"


# --- the race: supersede at claim against begin_reply ----------------------------------------------------------------


def _race_setup(store: DynamoDbStore) -> tuple[Turn, int]:
    """Turn N answered and leased (max wait until T0+6); burst N+1 waiting (opened at T0+3)."""
    n = claimed(store, msg("m1", "a", T0), claim_at=T0 + 2)
    leased = answered(store, n, now=T0 + 2.5)
    return leased, burst_of(store, msg("m2", "b", T0 + 3))


def test_race_the_claim_writing_first_wins_and_the_reply_finds_the_turn_settled(
    store: DynamoDbStore, client: Any
) -> None:
    leased, n1 = _race_setup(store)

    turn = claim(store, n1, T0 + 5)
    start = store.begin_reply(leased, "tok", T0 + 5, supersede=True)

    assert turn.carried == (leased.burst,) and ids(turn.messages) == ["m1", "m2"]
    assert start == "settled"
    assert "reply_started" not in item(client, turn_sk(leased.burst))  # type: ignore[operator]


@pytest.mark.parametrize(("supersede", "start"), [(False, "send"), (True, "superseded")])
def test_race_the_reply_writing_first_wins_and_the_claim_sees_it(
    store: DynamoDbStore, supersede: bool, start: ReplyStart
) -> None:
    leased, n1 = _race_setup(store)

    # WHEN the reply decides first: to send (it commits), or to stand down for the waiting burst (it carries N)
    assert store.begin_reply(leased, "tok", T0 + 4, supersede=supersede) == start
    turn = claim(store, n1, T0 + 5)

    # THEN the claim carries N exactly when the reply stood down for it, and once
    assert turn.carried == ((leased.burst,) if supersede else ())
    assert ids(turn.messages) == (["m1", "m2"] if supersede else ["m2"])
    assert store.load_turn(KEY, leased.burst).superseded is supersede  # type: ignore[union-attr]


def test_race_a_reply_committing_between_the_claims_read_and_its_write_keeps_its_answer(
    store: DynamoDbStore, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    leased, n1 = _race_setup(store)
    starts: list[ReplyStart] = []
    supersedable = store._supersedable

    def racing(*args: Any) -> Turn | None:
        found = supersedable(*args)
        if not starts:  # the claim read N as not started: the reply commits before the claim writes
            starts.append(store.begin_reply(leased, "tok", T0 + 4.9, supersede=False))
        return found

    monkeypatch.setattr(store, "_supersedable", racing)

    turn = claim(store, n1, T0 + 5)

    assert starts == ["send"]
    assert turn.carried == () and ids(turn.messages) == ["m2"]
    old = item(client, turn_sk(leased.burst))
    assert old is not None and "reply_started" in old and "superseded_at" not in old


@pytest.mark.parametrize("reply_supersedes", [False, True], ids=["reply-would-send", "reply-would-stand-down"])
def test_race_a_claim_superseding_between_the_replys_read_and_its_write_wins(
    store: DynamoDbStore, client: Any, monkeypatch: pytest.MonkeyPatch, reply_supersedes: bool
) -> None:
    # GIVEN N+1 waiting: first looked at at T0+5 (within N's cap: the reply would stand down), or at T0+7 (it sends)
    n = claimed(store, msg("m1", "a", T0), claim_at=T0 + 2)
    leased = answered(store, n, now=T0 + 2.5)
    opened = T0 + 3 if reply_supersedes else T0 + 5
    n1 = burst_of(store, msg("m2", "b", opened))
    turns: list[Turn] = []
    waiting = store._superseded_by_waiting

    def racing(*args: Any) -> bool:
        decided = waiting(*args)
        if not turns:  # the reply read the buffer and decided: the claim of N+1 supersedes N before it writes
            turns.append(claim(store, n1, T0 + 5.5))
        return decided

    monkeypatch.setattr(store, "_superseded_by_waiting", racing)

    start = store.begin_reply(leased, "tok", T0 + 5.5, supersede=True)

    assert start == "settled"
    assert turns[0].carried == (n.burst,) and ids(turns[0].messages) == ["m1", "m2"]
    old = item(client, turn_sk(n.burst))
    assert old is not None and "superseded_at" in old and "reply_started" not in old
    assert old["superseded_by"] == {"N": str(n1)}
    # The buffer (burst N+2 now) carries nothing: N is answered once, by N+1
    assert "carried" not in item(client, BUFFER_SK)  # type: ignore[operator]


# --- history ---------------------------------------------------------------------------------------------------------


def _delivered_turn(store: DynamoDbStore, *messages: InboundMessage, claim_at: float, answer: str) -> Turn:
    turn = answered(store, claimed(store, *messages, claim_at=claim_at), answer, now=claim_at)
    assert store.begin_reply(turn, "tok", claim_at, supersede=False) == "send"
    store.record_delivery(KEY, turn.burst, "tok", 1, done=True, now=claim_at)
    return turn


def test_history_joins_a_superseded_turns_messages_to_the_answer_that_replaced_it(store: DynamoDbStore) -> None:
    # GIVEN N answered but superseded before it left, and N+1 answering both
    n = claimed(store, msg("m1", "do you ship to Canada?", T0), claim_at=T0 + 2)
    store.record_answer(KEY, n.burst, "stale: yes, to Canada")
    last = _delivered_turn(store, msg("m2", "and Mexico?", T0 + 3), claim_at=T0 + 5, answer="yes, to both")
    assert last.carried == (n.burst,)

    history = store.history(KEY, before_burst=last.burst + 1, limit=5)

    assert history == [HistoryEntry(user="do you ship to Canada?\nand Mexico?", assistant="yes, to both")]


def test_history_keeps_withheld_turns_as_the_persons_part_only_and_leaves_failed_ones_out(
    store: DynamoDbStore,
) -> None:
    # GIVEN an answered turn
    t1 = _delivered_turn(store, msg("m1", "hi", T0), claim_at=T0 + 2, answer="hello!")
    # AND one that failed (the AI), one whose reply failed
    failed_ai = claimed(store, msg("m2", "lost 1", T0 + 10), claim_at=T0 + 12)
    assert store.record_ai_failure(KEY, failed_ai.burst, "AI down", now=T0 + 13)
    failed_reply = answered(store, claimed(store, msg("m3", "lost 2", T0 + 20), claim_at=T0 + 22), now=T0 + 22)
    store.record_reply_failure(KEY, failed_reply.burst, "tok", "channel refused", now=T0 + 23)
    # AND one written while a human had the conversation (withheld at its claim)
    store.pause(KEY, T0 + 60, now=T0 + 30)
    assert store.append(msg("m4", "is anyone there?", T0 + 31), now=T0 + 31).paused
    held = claimed(store, msg("m5", "hello??", T0 + 32), claim_at=T0 + 34)
    assert held.withheld and held.held == ("m4", "m5")
    store.resume(KEY, now=T0 + 35)
    # AND one answered, then withheld before it left (a human took over again meanwhile)
    leased = answered(store, claimed(store, msg("m6", "anyone?", T0 + 40), claim_at=T0 + 42), "unsent", now=T0 + 43)
    store.pause(KEY, T0 + 600, now=T0 + 43)
    assert store.begin_reply(leased, "tok", T0 + 43, supersede=True) == "withheld"

    history = store.history(KEY, before_burst=leased.burst + 1, limit=10)

    assert history == [
        HistoryEntry(user="hi", assistant="hello!"),
        HistoryEntry(user="is anyone there?\nhello??", assistant=None),
        HistoryEntry(user="anyone?", assistant=None),
    ]
    assert t1.burst < failed_ai.burst < failed_reply.burst < held.burst < leased.burst


def test_history_is_the_last_limit_exchanges_oldest_first(store: DynamoDbStore) -> None:
    turns = [
        _delivered_turn(store, msg(f"m{i}", f"q{i}", T0 + 10 * i), claim_at=T0 + 10 * i + 2, answer=f"a{i}")
        for i in range(4)
    ]

    assert store.history(KEY, before_burst=turns[-1].burst + 1, limit=2) == [
        HistoryEntry("q2", "a2"),
        HistoryEntry("q3", "a3"),
    ]
    # Before a burst: only what came before it
    assert store.history(KEY, before_burst=turns[2].burst, limit=1) == [HistoryEntry("q1", "a1")]
    assert store.history(KEY, before_burst=turns[-1].burst + 1, limit=0) == []


def test_history_returns_an_earlier_exchange_past_failed_turns(store: DynamoDbStore) -> None:
    first = _delivered_turn(store, msg("m1", "hi", T0), claim_at=T0 + 2, answer="hello!")
    for i, at in enumerate((T0 + 10, T0 + 20), start=2):
        failed = claimed(store, msg(f"m{i}", "lost", at), claim_at=at + 2)
        assert store.record_ai_failure(KEY, failed.burst, "AI down", now=at + 3)

    assert store.history(KEY, before_burst=failed.burst + 1, limit=1) == [HistoryEntry("hi", "hello!")]
    assert first.burst < failed.burst


def test_history_joins_every_turn_of_a_superseding_chain(store: DynamoDbStore) -> None:
    claimed(store, msg("m1", "a", T0), claim_at=T0 + 1)
    claimed(store, msg("m2", "b", T0 + 1.5), claim_at=T0 + 2)
    last = _delivered_turn(store, msg("m3", "c", T0 + 2.5), claim_at=T0 + 3, answer="re: a, b, c")
    assert len(last.carried) == 2

    assert store.history(KEY, before_burst=last.burst + 1, limit=1) == [HistoryEntry("a\nb\nc", "re: a, b, c")]


# --- pause, resume, and the conversations of a recipient -------------------------------------------------------------


def test_a_message_written_while_paused_is_held_and_a_burst_of_only_those_is_withheld(
    store: DynamoDbStore, client: Any
) -> None:
    store.pause(KEY, T0 + 600, now=T0)

    result = store.append(msg("m1", "hello?", T0 + 1), now=T0 + 1)
    turn = claim(store, result.burst, T0 + 4)

    assert result.paused
    assert turn.held == ("m1",) and ids(turn.messages) == ["m1"] and turn.to_answer == ()
    assert turn.withheld
    assert item(client, turn_sk(result.burst))["withheld_reason"] == {"S": "paused"}  # type: ignore[index]


def test_after_a_resume_the_burst_answers_the_new_messages_and_keeps_the_held_ones_as_context(
    store: DynamoDbStore,
) -> None:
    store.pause(KEY, T0 + 600, now=T0)
    held = store.append(msg("m1", "while paused", T0 + 1), now=T0 + 1)
    store.resume(KEY, now=T0 + 2)

    answered_now = store.append(msg("m2", "after", T0 + 3), now=T0 + 3)
    turn = claim(store, held.burst, T0 + 6)

    assert held.paused and not answered_now.paused
    assert turn.held == ("m1",) and ids(turn.to_answer) == ["m2"] and not turn.withheld


def test_pause_extend_only_never_shortens_and_an_explicit_pause_may(store: DynamoDbStore) -> None:
    assert store.pause(KEY, T0 + 100, now=T0) == T0 + 100
    # A handoff's pause never shortens a longer one...
    assert store.pause(KEY, T0 + 50, now=T0, extend_only=True) == T0 + 100
    assert store.paused_until(KEY, now=T0) == T0 + 100
    # ...and lengthens a shorter one
    assert store.pause(KEY, T0 + 200, now=T0, extend_only=True) == T0 + 200
    assert store.paused_until(KEY, now=T0) == T0 + 200
    # An explicit pause (the admin's) stands as given
    assert store.pause(KEY, T0 + 50, now=T0) == T0 + 50
    assert store.paused_until(KEY, now=T0) == T0 + 50


def test_paused_until_is_none_unless_a_pause_is_in_force(store: DynamoDbStore) -> None:
    assert store.paused_until(KEY, now=T0) is None
    store.pause(KEY, T0 + 100, now=T0)
    assert store.paused_until(KEY, now=T0 + 99) == T0 + 100
    assert store.paused_until(KEY, now=T0 + 100) is None  # over
    assert not store.append(msg("m1", "back", T0 + 101), now=T0 + 101).paused
    store.pause(KEY, T0 + 300, now=T0 + 200)
    store.resume(KEY, now=T0 + 201)
    assert store.paused_until(KEY, now=T0 + 201) is None
    assert not store.append(msg("m2", "again", T0 + 202), now=T0 + 202).paused


def test_conversations_are_found_by_recipient_in_every_account_or_in_one(store: DynamoDbStore, client: Any) -> None:
    # GIVEN one person writing to two of our accounts, and another person, each burst claimed
    for message, now in ((msg_in("1", "a1", T0), T0), (msg_in("9", "b1", T0 + 1), T0 + 1)):
        result = store.append(message, now=now)
        assert store.claim(message.conversation_key, result.burst, "exec", now + 3) is not None
    other = msg_in("1", "c1", T0, recipient="3")
    assert store.claim(other.conversation_key, store.append(other, now=T0).burst, "exec", T0 + 3) is not None

    assert sorted(store.conversations("whatsapp", "2", None)) == ["whatsapp#1#2", "whatsapp#9#2"]
    assert store.conversations("whatsapp", "2", "9") == ["whatsapp#9#2"]
    assert store.conversations("whatsapp", "2", "5") == []
    assert store.conversations("whatsapp", "3", None) == ["whatsapp#1#3"]
    assert store.conversations("telegram", "2", None) == []


def test_each_claim_lists_the_conversation_and_renews_its_directory_entry(store: DynamoDbStore, client: Any) -> None:
    def expires() -> int | None:
        entry = item(client, KEY, key=directory_pk("whatsapp", "2"))
        if entry is None:
            return None
        assert entry["account_id"] == {"S": "1"}
        return int(entry["expires_at"]["N"])

    burst = burst_of(store, msg("m1", "a", T0), msg("m2", "b", T0 + 1))
    assert expires() is None  # not on the webhook's path: the claim lists it
    claim(store, burst, T0 + 4)
    assert expires() == int(T0 + 4) + 2 * DAY
    claim(store, burst_of(store, msg("m3", "c", T0 + 10)), T0 + 13)
    assert expires() == int(T0 + 13) + 2 * DAY


def test_an_echo_is_our_own_when_we_recorded_its_id_or_while_a_reply_is_leaving(store: DynamoDbStore) -> None:
    # GIVEN a reply whose one part the channel gave the id "out-1"
    turn = answered(store, claimed(store, msg("m1", "a", T0), claim_at=T0 + 2), now=T0 + 3)
    assert store.begin_reply(turn, "tok", T0 + 3, supersede=True) == "send"
    assert not store.is_own_echo(echo("out-1"), now=T0 + 3)
    store.record_delivery(KEY, turn.burst, "tok", 1, done=True, now=T0 + 3, sent_id="out-1")

    # THEN its echo is ours; an echo of an id we never sent is a human's
    assert store.is_own_echo(echo("out-1"), now=T0 + 4)
    assert not store.is_own_echo(echo("human-1"), now=T0 + 4)

    # WHILE a reply is leaving (its ids not recorded yet), any echo may be ours, until it is done or its lease ran out
    store.mark_replying(KEY, now=T0 + 10, replying=True)
    assert store.is_own_echo(echo("human-2"), now=T0 + 10)
    assert store.is_own_echo(echo("human-2"), now=T0 + 10 + LEASE)
    assert not store.is_own_echo(echo("human-2"), now=T0 + 10 + LEASE + 1)
    store.mark_replying(KEY, now=T0 + 11, replying=False)
    assert not store.is_own_echo(echo("human-2"), now=T0 + 12)


# --- the prompt ------------------------------------------------------------------------------------------------------


def test_an_exchange_a_human_answered_is_the_persons_turn_then_a_note_in_the_assistants_place() -> None:
    history = (HistoryEntry("q1", "a1"), HistoryEntry("while paused", None), HistoryEntry("q3", "a3"))

    chat = conversation(AIRequest(system_prompt="s", messages=(inbound("1", "now"),), history=history))

    assert chat.turns == (
        ChatTurn("user", "q1"),
        ChatTurn("assistant", "a1"),
        ChatTurn("user", "while paused"),
        ChatTurn("assistant", HUMAN_ANSWERED),
        ChatTurn("user", "q3"),
        ChatTurn("assistant", "a3"),
        ChatTurn("user", "now"),
    )
    assert [t.role for t in chat.turns] == ["user", "assistant"] * 3 + ["user"]


# --- a claim only when due (WaitForQuiet goes straight to Process) ---------------------------------------------------


def test_a_claim_only_if_due_before_the_moved_deadline_writes_nothing_and_says_when_it_is_due(
    store: DynamoDbStore, client: Any
) -> None:
    # GIVEN a burst whose second message moved its quiet deadline to T0 + 1 + DEBOUNCE
    opened = store.append(msg("m1"), T0)
    store.append(msg("m2", at=T0 + 1), T0 + 1)
    before = client.get_item(TableName=TABLE, Key={"pk": {"S": KEY}, "sk": {"S": BUFFER_SK}}, ConsistentRead=True)

    # WHEN the timer wakes at the first message's deadline and claims only if due
    with pytest.raises(BurstNotDueError, match=iso_second(T0 + 1 + DEBOUNCE)):
        store.claim(KEY, opened.burst, "exec", T0 + DEBOUNCE, only_if_due=True)

    # THEN nothing moved; a moment before the new deadline (clock skew) and at it, the burst is claimed whole
    after = client.get_item(TableName=TABLE, Key={"pk": {"S": KEY}, "sk": {"S": BUFFER_SK}}, ConsistentRead=True)
    assert after["Item"] == before["Item"]
    assert store.load_turn(KEY, opened.burst) is None
    turn = store.claim(KEY, opened.burst, "exec", T0 + 1 + DEBOUNCE - DUE_TOLERANCE_SECONDS, only_if_due=True)
    assert turn is not None and [m.message_id for m in turn.messages] == ["m1", "m2"]


def test_a_claim_only_if_due_is_due_at_the_cap_while_the_person_still_writes(store: DynamoDbStore) -> None:
    # GIVEN a burst still written to when its max wait is reached
    opened = store.append(msg("m1"), T0)
    for i in range(1, MAX_WAIT):
        store.append(msg(f"m{i + 1}", at=T0 + i), T0 + i)

    # WHEN its timer claims only if due: not a second before the cap; a moment before it (clock skew)
    with pytest.raises(BurstNotDueError):
        store.claim(KEY, opened.burst, "exec", T0 + MAX_WAIT - 1, only_if_due=True)
    turn = store.claim(KEY, opened.burst, "exec", T0 + MAX_WAIT - DUE_TOLERANCE_SECONDS / 2, only_if_due=True)

    # THEN every message written until then is in the turn, claimed for the max wait (what FlushesMaxWait counts)
    assert turn is not None and len(turn.messages) == MAX_WAIT
    assert turn.claim_reason == "max_wait"


# --- acquire_and_begin_reply: the lease and the decision to send in one read and one write ---------------------------


def _calls(client: Any) -> list[str]:
    """The DynamoDB operations the client makes from now on, in order."""
    made: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: made.append(model.name))
    return made


def test_a_turn_clear_to_send_is_leased_and_committed_in_one_read_and_one_write(
    store: DynamoDbStore, client: Any
) -> None:
    # GIVEN an answered turn, nothing waiting and no pause
    turn = claimed(store, msg("m1"), claim_at=T0 + DEBOUNCE)
    store.record_answer(KEY, turn.burst, "re")
    made = _calls(client)

    # WHEN reply takes it
    leased = store.acquire_and_begin_reply(KEY, turn.burst, "tok", T0 + 3, supersede=True)

    # THEN one batch read and one conditional write committed it: no begin_reply needed, and no other run can
    # take the lease or supersede it now
    assert made == ["BatchGetItem", "UpdateItem"]
    assert leased is not None and leased.reply_started and leased.answer == "re"
    with pytest.raises(ReplyLeaseHeldError):
        store.acquire_and_begin_reply(KEY, turn.burst, "other", T0 + 4, supersede=True)
    assert store.begin_reply(leased, "tok", T0 + 4, supersede=True) == "send"


@pytest.mark.parametrize("obstacle", ["pause", "waiting burst"])
def test_a_turn_not_clear_to_send_is_only_leased_and_begin_reply_decides(store: DynamoDbStore, obstacle: str) -> None:
    # GIVEN an answered turn, and a pause or a message waiting within its max wait
    turn = claimed(store, msg("m1"), claim_at=T0 + DEBOUNCE)
    store.record_answer(KEY, turn.burst, "re")
    if obstacle == "pause":
        store.pause(KEY, T0 + 600, now=T0 + 3)
    else:
        store.append(msg("m2", at=T0 + 3), T0 + 3)

    # WHEN reply takes it
    leased = store.acquire_and_begin_reply(KEY, turn.burst, "tok", T0 + 3.5, supersede=True)

    # THEN it holds the lease but has not committed, and begin_reply withholds or supersedes it as before
    assert leased is not None and not leased.reply_started
    expected: ReplyStart = "withheld" if obstacle == "pause" else "superseded"
    assert store.begin_reply(leased, "tok", T0 + 3.5, supersede=True) == expected
