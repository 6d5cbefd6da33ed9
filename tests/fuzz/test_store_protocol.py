"""The buffer and claim protocol of the DynamoDB store under random interleavings (a stateful property test).

One conversation on a real DynamoDbStore (moto), a fake clock moved by the rules, superseding on. Executions are
modelled as runs that stop after each write to the store, so two runs interleave, and a run may crash between any two
of its writes: appends and redeliveries, edits and deletes, claims (duplicate executions, a retry after a crash that
must find its own turn), answers, reply leases, begin_reply, each part's delivery, clock steps past the debounce, the
max wait and the reply lease, and pause/resume. After every step the table and what was "sent" are checked; at the end
everything left is claimed and replied with no further faults, and every message owed an answer has exactly one.

Sizes: STORE_PROTOCOL_EXAMPLES and STORE_PROTOCOL_STEPS (the soak profile, HYPOTHESIS_PROFILE=soak, raises both).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from moto import mock_aws

from debouncer.adapters.dynamodb import BUFFER_SK, DynamoDbStore, turn_sk
from debouncer.domain.burst import ordered
from debouncer.domain.errors import ReplyLeaseHeldError
from debouncer.domain.models import InboundMessage, MessageChange
from debouncer.domain.ports import TextLimit, Turn
from debouncer.domain.splitting import split_text
from debouncer.local.item_size import dynamodb_item_limit
from debouncer.local.runtime import create_table
from tests.builders import inbound

pytestmark = pytest.mark.xdist_group("store-protocol")

TABLE = "store-protocol"
KEY = "whatsapp#1#2"  # the conversation of tests.builders.inbound
DAY = 86_400
DEBOUNCE = 2
MAX_WAIT = 6
LEASE = 35
T0 = 1_750_000_000.0
# Short parts: most answers leave in two to five parts, so a reply can stop between any two of them.
PART = TextLimit(size=24)

SOAK = os.environ.get("HYPOTHESIS_PROFILE") == "soak"
EXAMPLES = int(os.environ.get("STORE_PROTOCOL_EXAMPLES", "300" if SOAK else "20"))
STEPS = int(os.environ.get("STORE_PROTOCOL_STEPS", "60" if SOAK else "30"))

Run = Iterator[None]
# How many writes a run makes when it starts (ALL: to its end), and what it does then: stops for good, or waits.
ALL = 99
WRITES = st.sampled_from([ALL, ALL, ALL, 1, 2, 3])
THEN = st.sampled_from(["stay", "stay", "crash"])


def answer_for(messages: tuple[InboundMessage, ...]) -> str:
    """The deterministic AI: its answer names every message it answers, with the text it read."""
    return " ".join(f"{m.message_id}={m.text}" for m in messages)


def parse_answer(answer: str) -> list[tuple[str, str]]:
    return [tuple(pair.split("=", 1)) for pair in answer.split(" ")]  # type: ignore[misc]


@dataclass
class Message:
    """What the model knows of one message the person wrote."""

    message: InboundMessage
    text: str  # the text the answer must read: the original, or the latest edit applied before its claim
    edit_at: int = -1
    deleted: bool = False  # deleted while it waited (before its claim)
    held: bool = False  # written while paused


@dataclass(frozen=True)
class Sent:
    """One part that left, as the channel saw it."""

    burst: int
    part: int
    token: str
    message_ids: tuple[str, ...]
    answer: str


@dataclass
class Live:
    """A run of an execution's step, stopped between two writes."""

    kind: str  # "process" or "reply"
    burst: int
    who: str  # the claimer or the reply token
    steps: Run
    leased_at: float | None = None  # a reply run holds its lease from here (it cannot outlive it: Lambda timeout)


@dataclass
class Model:
    messages: dict[str, Message] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    opened: list[int] = field(default_factory=list)  # bursts an append opened: each has its execution
    claims: dict[tuple[int, str], tuple[str, ...]] = field(default_factory=dict)  # (burst, claimer) -> message ids
    tokens: dict[int, list[str]] = field(default_factory=dict)  # the reply tokens used per burst


class StoreProtocol(RuleBasedStateMachine):
    client: Any = None

    def __init__(self) -> None:
        super().__init__()
        create_table(self.client, TABLE)
        self.store = DynamoDbStore(
            self.client,
            TABLE,
            debounce_seconds=DEBOUNCE,
            max_wait_seconds=MAX_WAIT,
            buffer_ttl_seconds=2 * DAY,
            history_ttl_seconds=30 * DAY,
            dedupe_ttl_seconds=8 * DAY,
            reply_lease_seconds=LEASE,
        )
        self.now = T0
        self.model = Model()
        self.live: list[Live] = []
        self.counter = 0
        self.change_at = int(T0 * 1000)

    def teardown(self) -> None:
        try:
            self.drain_and_check_liveness()
        finally:
            self.client.delete_table(TableName=TABLE)

    # --- the table ----------------------------------------------------------------------------------------------------

    def items(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"TableName": TABLE, "ConsistentRead": True}
        while True:
            page = self.client.scan(**kwargs)
            for item in page["Items"]:
                if item["pk"]["S"] == KEY:
                    found[item["sk"]["S"]] = item
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def buffer(self) -> dict[str, Any]:
        item: dict[str, Any] = (
            self.client.get_item(
                TableName=TABLE, Key={"pk": {"S": KEY}, "sk": {"S": BUFFER_SK}}, ConsistentRead=True
            ).get("Item")
            or {}
        )
        return item

    def answered_before(self, message_id: str) -> bool:
        """The message was claimed already (its dedupe record is written by its claim)."""
        return "Item" in self.client.get_item(
            TableName=TABLE, Key={"pk": {"S": KEY}, "sk": {"S": f"msg#{message_id}"}}, ConsistentRead=True
        )

    def unique(self) -> int:
        self.counter += 1
        return self.counter

    # --- the person ---------------------------------------------------------------------------------------------------

    @rule(late_ms=st.sampled_from([0, 0, 0, 700, 2500]))
    def new_message(self, late_ms: int) -> None:
        """A message arrives (its channel timestamp a little before now, sometimes: out of order)."""
        mid = f"m{self.unique()}"
        message = inbound(mid, f"t{mid}", timestamp_ms=int(self.now * 1000) - late_ms)
        result = self.store.append(message, self.now)
        assert not result.duplicate and not result.full
        self.model.messages[mid] = Message(message, text=f"t{mid}", held=result.paused)
        if result.opened_burst:
            self.model.opened.append(result.burst)

    @precondition(lambda self: self.model.messages)
    @rule(data=st.data())
    def redelivery(self, data: st.DataObject) -> None:
        """The channel delivers an earlier message again (its original text and timestamp)."""
        mid = data.draw(st.sampled_from(sorted(self.model.messages)), label="redelivered")
        waiting = mid in self.buffer().get("ids", {}).get("SS", [])
        result = self.store.append(self.model.messages[mid].message, self.now)
        assert result.duplicate == waiting, (mid, result, waiting)
        if result.opened_burst and not result.duplicate:
            self.model.opened.append(result.burst)

    @precondition(lambda self: self.model.messages)
    @rule(data=st.data(), kind=st.sampled_from(["edit", "edit", "delete"]), stale=st.booleans())
    def change(self, data: st.DataObject, kind: str, stale: bool) -> None:
        """An edit or a delete of an earlier message; a stale one is older than the last edit (arrives late)."""
        mid = data.draw(st.sampled_from(sorted(self.model.messages)), label="changed")
        known = self.model.messages[mid]
        if stale:
            at = known.message.timestamp_ms + 1
        else:
            self.change_at = max(self.change_at + 1, int(self.now * 1000))
            at = self.change_at
        waiting = mid in self.buffer().get("ids", {}).get("SS", [])
        late = self.answered_before(mid)  # a redelivered copy may wait, but the message itself was claimed
        change = MessageChange(
            channel="whatsapp",
            account_id="1",
            conversation_key=KEY,
            message_id=mid,
            change=kind,
            text=f"{mid}@{at}" if kind == "edit" else None,
            changed_at_ms=at,
        )
        outcome = self.store.apply_change(change, self.now)
        if waiting:
            assert outcome in ("applied", "outdated"), (mid, outcome)
        else:
            assert outcome == "answered", (mid, outcome)
        if outcome != "applied" or late:
            return
        if kind == "delete":
            known.deleted = True
        elif not known.deleted and at > known.edit_at:
            known.text, known.edit_at = f"{mid}@{at}", at

    def paused(self) -> bool:
        return self.store.paused_until(KEY, self.now) is not None

    @precondition(lambda self: not self.paused())
    @rule(seconds=st.sampled_from([3, 10, 60]))
    def pause(self, seconds: float) -> None:
        """A human takes the conversation over (for a while)."""
        self.store.pause(KEY, self.now + seconds, self.now)

    @precondition(lambda self: self.paused())
    @rule()
    def resume(self) -> None:
        self.store.resume(KEY, self.now)

    @rule(seconds=st.sampled_from([0.4, 1, 2.5, 7, LEASE + 1]))
    def advance(self, seconds: float) -> None:
        """Past a debounce, the max wait, a reply lease. A reply run cannot outlive its lease: it timed out."""
        self.now += seconds
        self.live = [run for run in self.live if not self.timed_out(run)]

    def timed_out(self, run: Live) -> bool:
        return run.leased_at is not None and self.now >= run.leased_at + LEASE - 1

    # --- executions ---------------------------------------------------------------------------------------------------

    @precondition(lambda self: self.model.opened)
    @rule(data=st.data(), flush=st.booleans(), writes=WRITES, then=THEN)
    def start_process(self, data: st.DataObject, flush: bool, writes: int, then: str) -> None:
        """An execution (its timer's, or a flush's) claims a burst: mostly the latest, or an earlier one again (a
        duplicate execution, or a retry of one that crashed)."""
        burst = data.draw(st.sampled_from(self.model.opened[-1:]) | st.sampled_from(self.model.opened), label="burst")
        claimer = f"{'flush' if flush else 'exec'}-{burst}"
        if any(run.kind == "process" and run.who == claimer for run in self.live):
            return  # that execution's step is running: a retry comes after it stopped
        self.begin(Live("process", burst, claimer, self.process(burst, claimer)), writes, then)

    @precondition(lambda self: self.model.claims)
    @rule(data=st.data(), retry=st.booleans(), writes=WRITES, then=THEN)
    def start_reply(self, data: st.DataObject, retry: bool, writes: int, then: str) -> None:
        """A reply run for a claimed turn: a retry with a token used before (its run stopped), or a new one."""
        burst = data.draw(st.sampled_from(sorted({b for b, _ in self.model.claims})), label="reply burst")
        used = self.model.tokens.setdefault(burst, [])
        idle = [t for t in used if not any(r.kind == "reply" and r.who == t for r in self.live)]
        if retry and idle:
            token = data.draw(st.sampled_from(idle), label="token")
        else:
            token = f"tok-{burst}-{len(used)}"
            used.append(token)
        run = Live("reply", burst, token, iter(()))
        run.steps = self.reply(run)
        self.begin(run, writes, then)

    def begin(self, run: Live, writes: int, then: str) -> None:
        """The run makes its first `writes` writes at once; then it stops there ("crash"), or it is left running
        ("stay": `step` makes its next writes, interleaved with whatever other rules do meanwhile)."""
        self.live.append(run)
        self.advance_run(run, writes)
        if then == "crash" and run in self.live:
            self.live.remove(run)

    def advance_run(self, run: Live, writes: int) -> None:
        for _ in range(writes):
            if next(run.steps, StopIteration) is StopIteration:
                self.live.remove(run)
                return

    @precondition(lambda self: self.live)
    @rule(data=st.data(), writes=st.integers(1, 3))
    def step(self, data: st.DataObject, writes: int) -> None:
        """A live run makes its next writes."""
        self.advance_run(data.draw(st.sampled_from(self.live), label="run"), writes)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        """A live run stops between two writes (its function crashed or timed out)."""
        self.live.remove(data.draw(st.sampled_from(self.live), label="crashed"))

    def process(self, burst: int, claimer: str) -> Run:
        """Processor.process, one write a step: the claim, then the answer."""
        turn = self.store.claim(KEY, burst, claimer, self.now, supersede=True)
        self.check_claim(burst, claimer, turn)
        yield
        if turn is None or not turn.to_answer or turn.failed or turn.superseded or turn.withheld:
            return
        if turn.answer is None:
            self.store.record_answer(KEY, burst, answer_for(turn.to_answer))
            yield

    def check_claim(self, burst: int, claimer: str, turn: Turn | None) -> None:
        """A claim is once per burst: its own retry finds the same turn, another execution none."""
        earlier = {c: ids for (b, c), ids in self.model.claims.items() if b == burst}
        if turn is None:
            assert claimer not in earlier, f"the retry of {claimer} lost its turn {burst}"
            return
        assert turn.burst == burst and turn.claimed_by == claimer
        ids = tuple(m.message_id for m in turn.messages)
        if earlier:
            assert set(earlier) == {claimer}, f"burst {burst} claimed by {sorted(earlier)} and {claimer}"
            assert earlier[claimer] == ids, f"the retry of {claimer} found other messages"
        self.model.claims[(burst, claimer)] = ids

    def reply(self, run: Live) -> Run:
        """Replier.reply, one write a step: the lease, begin_reply, then each part (sent and recorded together)."""
        burst, token = run.burst, run.who
        try:
            turn = self.store.acquire_reply(KEY, burst, token, self.now)
        except ReplyLeaseHeldError:
            return  # the state machine waits and calls again: a later start_reply
        run.leased_at = self.now
        yield
        if turn is None or turn.answer is None or turn.delivered or turn.failed or turn.superseded or turn.withheld:
            return
        messages = turn.to_answer
        if not messages:
            return
        if not turn.reply_started and turn.parts_sent == 0:
            start = self.store.begin_reply(turn, token, self.now, supersede=True)
            yield
            if start != "send":
                return
        parts = split_text(turn.answer, PART)
        for index in range(turn.parts_sent, len(parts)):
            done = index + 1 == len(parts)
            self.store.record_delivery(KEY, burst, token, index + 1, done=done, now=self.now)
            self.model.sent.append(Sent(burst, index + 1, token, tuple(m.message_id for m in messages), turn.answer))
            yield

    # --- invariants ---------------------------------------------------------------------------------------------------

    @invariant()
    def what_was_sent_is_right(self) -> None:
        if not self.model.sent:
            return
        items = self.items()
        sent_by_turn: dict[int, list[Sent]] = {}
        for part in self.model.sent:
            sent_by_turn.setdefault(part.burst, []).append(part)
        answered: dict[str, int] = {}
        for burst, parts in sent_by_turn.items():
            turn = items[turn_sk(burst)]
            # 1. No part twice; nothing of a superseded or withheld turn ever left.
            numbers = [p.part for p in parts]
            assert len(numbers) == len(set(numbers)), f"turn {burst} sent parts {numbers}"
            assert numbers == list(range(1, len(numbers) + 1)), f"turn {burst} sent parts {numbers} out of order"
            assert "superseded_at" not in turn and "withheld_at" not in turn, f"turn {burst} was replaced, yet sent"
            assert len({(p.message_ids, p.answer) for p in parts}) == 1
            ids, answer = parts[0].message_ids, parts[0].answer
            # 2. Each message answered at most once; the turn answers its own and its carried turns' messages that
            # were neither deleted nor held, in timestamp order.
            for mid in ids:
                assert mid not in answered, f"{mid} answered by turns {answered[mid]} and {burst}"
                answered[mid] = burst
            expected = self.answerable(items, turn)
            assert sorted(ids) == sorted(m.message_id for m in expected), (burst, ids, expected)
            stamps = [self.model.messages[mid].message.timestamp_ms for mid in ids]
            assert stamps == sorted(stamps), f"turn {burst} answers {ids} out of order"
            pairs = parse_answer(answer)
            assert [mid for mid, _ in pairs] == list(ids), f"turn {burst}'s answer {answer!r} is for other messages"
            for mid, text in pairs:
                known = self.model.messages[mid]
                # 3. A deleted message is never sent; an edited one with its last edit. 4. Held ones never.
                assert not known.deleted, f"{mid} was deleted, yet turn {burst} answered it"
                assert not known.held, f"{mid} was written while paused, yet turn {burst} answered it"
                assert text == known.text, f"{mid} answered as {text!r}, its text is {known.text!r}"

    def answerable(self, items: dict[str, dict[str, Any]], turn: dict[str, Any]) -> list[InboundMessage]:
        """The turn's messages and its carried turns', held ones left out, as the table has them."""
        messages = list(_messages(turn))
        held = {h["S"] for h in turn.get("held", {}).get("L", [])}
        for burst in turn.get("carried", {}).get("L", []):
            earlier = items.get(turn_sk(int(burst["N"])))
            if earlier is not None:
                messages += _messages(earlier)
                held |= {h["S"] for h in earlier.get("held", {}).get("L", [])}
        return [m for m in ordered(messages) if m.message_id not in held]

    # --- the end: no more faults, everything left claimed and replied -------------------------------------------------

    def drain_and_check_liveness(self) -> None:
        self.live = []  # whatever was running stopped
        self.store.resume(KEY, self.now)
        self.now += LEASE + 1  # every lease of a stopped run has lapsed
        for round_ in range(30):
            before = self.items()
            items = before
            for sk, item in sorted(items.items()):
                if not sk.startswith("turn#") or any(
                    a in item for a in ("answer", "superseded_at", "withheld_at", "failed_at")
                ):
                    continue
                # A turn claimed by an execution that stopped before the answer: its retry (same claimer).
                burst = int(item["burst"]["N"])
                self.run_to_end(self.process(burst, item["claimed_by"]["S"]))
            buffer = self.buffer()
            if buffer.get("messages", {}).get("L"):
                burst = int(buffer["burst"]["N"])
                self.run_to_end(self.process(burst, f"drain-{burst}"))
            for sk, item in sorted(self.items().items()):
                if not sk.startswith("turn#") or "answer" not in item:
                    continue
                if any(a in item for a in ("delivered_at", "superseded_at", "withheld_at", "failed_at")):
                    continue
                burst = int(item["burst"]["N"])
                token = f"drain-{burst}-{round_}"
                self.model.tokens.setdefault(burst, []).append(token)
                run = Live("reply", burst, token, iter(()))
                run.steps = self.reply(run)
                self.run_to_end(run.steps)
            self.what_was_sent_is_right()
            if self.items() == before:
                break
        else:
            raise AssertionError("the drain did not settle in 30 rounds")
        items = self.items()
        # Nothing is left claimable: the buffer holds no message nor carried turn, every turn is settled.
        buffer = items.get(BUFFER_SK, {})
        assert not buffer.get("messages", {}).get("L") and not buffer.get("carried", {}).get("L"), buffer
        withheld: set[str] = set()
        for sk, item in items.items():
            if not sk.startswith("turn#"):
                continue
            assert any(a in item for a in ("delivered_at", "superseded_at", "withheld_at")), f"{sk} unsettled: {item}"
            if "withheld_at" in item:
                withheld |= {m.message_id for m in self.answerable(items, item)}
        # Every message neither deleted, held, nor withheld (a human had it) is answered exactly once.
        answered: dict[str, set[int]] = {}
        for part in self.model.sent:
            for mid in part.message_ids:
                answered.setdefault(mid, set()).add(part.burst)
        for mid, known in self.model.messages.items():
            if known.deleted or known.held or mid in withheld:
                continue
            assert len(answered.get(mid, set())) == 1, f"{mid} answered by turns {sorted(answered.get(mid, set()))}"

    @staticmethod
    def run_to_end(steps: Run) -> None:
        """Runs `steps` with no fault."""
        for _ in steps:
            pass


def _messages(item: dict[str, Any]) -> list[InboundMessage]:
    return [InboundMessage.model_validate_json(v["S"]) for v in item.get("messages", {}).get("L", [])]


@pytest.fixture(scope="module")
def aws() -> Iterator[Any]:
    """One mocked account and client for the module (a client takes a second to make); a fresh table per example."""
    with mock_aws(), dynamodb_item_limit():
        yield boto3.client("dynamodb", region_name="us-east-1")


def test_store_protocol_holds_under_random_interleavings(aws: Any) -> None:
    StoreProtocol.client = aws
    run_state_machine_as_test(
        StoreProtocol,
        settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None),
    )
