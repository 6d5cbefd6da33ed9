"""The promises of docs/architecture.md, checked on what the run left behind: turns, buffers, DLQ, sends, executions.

Superseding (issue 13) moves where a message is answered: in its final turn, the end of its turn's superseded_by
chain, which names the turns it carries. Each message is answered exactly once, there; a superseded turn sends
nothing, not a part; and no message waits past its max wait plus the AI's time.

Evidence comes from outside our code's reporting: the table's turn and buffer items, the DLQ, the requests the fake
channel APIs actually received (and whether they accepted them), and the state machine's executions.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from debouncer.adapters.dynamodb import BUFFER_SK
from debouncer.domain.burst import epoch_of
from debouncer.domain.models import InboundMessage
from debouncer.local.runtime import REGION, LocalRuntime
from tests.reliability.fakes import FALLBACK, PERMANENT, Send
from tests.reliability.workload import Workload, tokens_in

Token = tuple[int, int]  # (conversation, seq)


@dataclass(frozen=True)
class TurnRecord:
    """One claimed burst as stored: its own messages in stored order, how far its reply got, and what became of it.

    A superseded turn's answer is never sent: the turn named by `superseded_by` answers its messages (or, when that
    one was superseded in turn, the one after it: the chain ends at the message's final turn), and names this one in
    `carried`. A withheld turn is never sent either (a human had the conversation, or every message was deleted).
    """

    key: str
    burst: int
    messages: tuple[tuple[Token, str], ...]  # (token, message id) of its own messages, as stored
    answer: str | None
    parts_sent: int
    delivered: bool
    dropped: tuple[str, ...]
    carried: tuple[int, ...] = ()
    superseded: bool = False
    superseded_by: int | None = None
    withheld: bool = False
    withheld_reason: str | None = None
    held: tuple[str, ...] = ()
    reply_started: bool = False
    failed: bool = False
    cap: float | None = None  # its cap_deadline (epoch seconds): when its oldest message's max wait runs out
    superseded_at: int | None = None  # whole seconds, rounded down

    @property
    def tokens(self) -> tuple[Token, ...]:
        """Its own messages' tokens, in stored order."""
        return tuple(token for token, _ in self.messages)

    @property
    def message_ids(self) -> tuple[str, ...]:
        """Its own messages' ids, in stored order."""
        return tuple(message_id for _, message_id in self.messages)


class Finals:
    """Turns by (conversation key, burst), and where each message ends up answered: its final turn."""

    def __init__(self, turns: list[TurnRecord]) -> None:
        self.turns = turns
        self.by_burst = {(t.key, t.burst): t for t in turns}

    def final(self, turn: TurnRecord) -> TurnRecord | None:
        """The turn that answers this one's messages: itself, or the end of its superseded_by chain (None: broken)."""
        seen = {turn.burst}
        while turn.superseded:
            if turn.superseded_by is None or turn.superseded_by in seen:
                return None
            seen.add(turn.superseded_by)
            following = self.by_burst.get((turn.key, turn.superseded_by))
            if following is None:
                return None
            turn = following
        return turn

    def answers(self, turn: TurnRecord) -> tuple[tuple[Token, str], ...]:
        """What a turn's reply is for: the messages of the turns it carries and its own, held ones left out, in the
        person's order (the seq of a token is the order the person wrote them in)."""
        messages = list(turn.messages)
        held = set(turn.held)
        for burst in turn.carried:
            carried = self.by_burst.get((turn.key, burst))
            if carried is not None:
                messages += carried.messages
                held.update(carried.held)
        return tuple(sorted((m for m in messages if m[1] not in held), key=lambda m: m[0][1]))

    def expected_tokens(self, turn: TurnRecord) -> tuple[Token, ...]:
        """The tokens a turn's reply must hold, in order."""
        return tuple(token for token, _ in self.answers(turn))

    def final_turns(self) -> list[TurnRecord]:
        """The turns that answer messages: not superseded, with something to answer (withheld ones too, which
        _check_withheld says this workload must not have)."""
        return [t for t in self.turns if not t.superseded and self.answers(t)]


@dataclass
class Evidence:
    """Everything collected once the run has settled."""

    turns: list[TurnRecord]
    buffered: dict[str, int]  # conversation key -> messages still waiting in its buffer
    dead_letters: list[dict[str, Any]]
    sends: list[Send]
    executions: Counter[str] = field(default_factory=Counter)
    # conversation key -> superseded turns its buffer still carries (a reply stood down for messages not yet claimed)
    buffered_carried: dict[str, int] = field(default_factory=dict)
    accepted_at: dict[str, float] = field(default_factory=dict)  # message id -> when the webhook first took it


@dataclass(frozen=True)
class Expectations:
    """The failures the run planned (these conversations' bursts must be on the DLQ, with these reasons), how many
    answers it must at least have superseded, and the starvation bound.

    The bound, exactly, on the turn items (max_wait_seconds 0: not checked): every message's final turn is due no
    later than max_wait_seconds after the webhook took the message (its cap deadline, whole seconds rounded up), and
    superseding happens only before that.

    And end to end, on the fakes' logs (slack_seconds 0: not checked): every message's reply reaches its channel
    within max_wait_seconds of the webhook taking it, plus the AI's time (at most ai_seconds: the fake AI's hold) and
    slack_seconds for the machinery (whole-second deadlines, the emulated state machine and Lambdas, one retry of a
    random state machine fault). Retries after injected faults legitimately take longer: conversations in
    `delay_exempt` are left out.
    """

    permanent_channel: frozenset[int] = frozenset()
    ai_down: frozenset[int] = frozenset()
    min_superseded: int = 0
    max_wait_seconds: float = 0.0
    ai_seconds: float = 0.0
    slack_seconds: float = 0.0
    delay_exempt: frozenset[int] = frozenset()


class Collector:
    """Reads the run's state through the emulator as an operator (never subject to the injected faults)."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self._runtime = runtime
        self._dead_letters: list[dict[str, Any]] = []
        self._seen: set[str] = set()

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every DLQ record so far, once each (received ones stay invisible for an hour, so they are kept here)."""
        with self._runtime.emulator.running_as("operator"):
            sqs = boto3.client("sqs", region_name=REGION)
            while True:
                batch = sqs.receive_message(
                    QueueUrl=self._runtime.queue_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=3600,
                    AttributeNames=["SentTimestamp"],
                )
                if not batch.get("Messages"):
                    break
                for message in batch["Messages"]:
                    if message["MessageId"] not in self._seen:
                        self._seen.add(message["MessageId"])
                        record = json.loads(message["Body"])
                        record["sent_at"] = int(message["Attributes"]["SentTimestamp"]) / 1000
                        self._dead_letters.append(record)
        return list(self._dead_letters)

    def table(self) -> tuple[list[TurnRecord], dict[str, int], dict[str, int]]:
        """Every turn, and how many messages and superseded turns each buffer still holds."""
        turns: list[TurnRecord] = []
        buffered: dict[str, int] = {}
        carried: dict[str, int] = {}
        with self._runtime.emulator.running_as("operator"):
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            pages = dynamodb.get_paginator("scan").paginate(TableName=self._runtime.table_name, ConsistentRead=True)
            for page in pages:
                for item in page["Items"]:
                    key, sk = item["pk"]["S"], item["sk"]["S"]
                    if sk == BUFFER_SK:
                        buffered[key] = len(item.get("messages", {}).get("L", []))
                        carried[key] = len(item.get("carried", {}).get("L", []))
                    elif sk.startswith("turn#"):
                        turns.append(_turn(key, item))
        return turns, buffered, carried

    def execution_statuses(self) -> Counter[str]:
        """How many executions are in each status (read from the emulator: AWS lists no Express execution)."""
        return Counter(e["status"] for e in self._runtime.executions())

    def settle(self, accepted: set[str], timeout: float, sends: Callable[[], int]) -> bool:
        """Wait until every accepted message sits in a resolved turn and nothing runs any more; False on timeout.

        Settled means so twice in a row, with no send and no new execution in between: an Express duplicate may
        start a moment after its original ended.
        """
        deadline = time.monotonic() + timeout
        last: tuple[int, int] | None = None
        while time.monotonic() < deadline:
            statuses = self.execution_statuses()
            now = (sends(), sum(statuses.values()))
            if not statuses["RUNNING"] and self._resolved(accepted):
                if now == last:
                    return True
                last = now
            else:
                last = None
            time.sleep(1.5)
        return False

    def _resolved(self, accepted: set[str]) -> bool:
        turns, buffered, carried = self.table()
        finals = Finals(turns)
        claimed = {m for t in turns for m in t.message_ids}
        letters = {(d["conversation_key"], int(d["burst"])) for d in self.dead_letters()}
        answered = all(t.delivered or t.withheld or (t.key, t.burst) in letters for t in finals.final_turns()) and all(
            finals.final(t) is not None for t in turns if t.superseded
        )
        return accepted <= claimed and answered and not any(buffered.values()) and not any(carried.values())


def _turn(key: str, item: dict[str, Any]) -> TurnRecord:
    messages = [InboundMessage.model_validate_json(v["S"]) for v in item.get("messages", {}).get("L", [])]
    superseded_by = item.get("superseded_by", {}).get("N")
    return TurnRecord(
        key=key,
        burst=int(item["burst"]["N"]),
        # Every workload message's whole text is its token.
        messages=tuple((token, m.message_id) for m in messages for token in tokens_in(m.text or "")[:1]),
        answer=item.get("answer", {}).get("S"),
        parts_sent=int(item.get("parts_sent", {}).get("N", "0")),
        delivered="delivered_at" in item,
        dropped=tuple(d["S"] for d in item.get("dropped_duplicates", {}).get("L", [])),
        carried=tuple(int(b["N"]) for b in item.get("carried", {}).get("L", [])),
        superseded="superseded_at" in item,
        superseded_by=None if superseded_by is None else int(superseded_by),
        withheld="withheld_at" in item,
        withheld_reason=item.get("withheld_reason", {}).get("S"),
        held=tuple(h["S"] for h in item.get("held", {}).get("L", [])),
        reply_started="reply_started" in item,
        failed="failed_at" in item,
        cap=epoch_of(item["cap_deadline"]["S"]) if "cap_deadline" in item else None,
        superseded_at=int(item["superseded_at"]["N"]) if "superseded_at" in item else None,
    )


def check(workload: Workload, accepted: set[str], evidence: Evidence, expect: Expectations) -> list[str]:
    """Every violation of the invariants, as one line each (empty: the run kept them all)."""
    letters: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for record in evidence.dead_letters:
        letters[(record["conversation_key"], int(record["burst"]))].append(record)
    finals = Finals(evidence.turns)
    return [
        *_check_partition(accepted, evidence),
        *_check_superseded(finals, letters),
        *_check_withheld(finals, letters),
        *_check_order(finals),
        *_check_resolved(finals, letters),
        *_check_answered_once(workload, accepted, evidence, finals),
        *_check_sends(workload, evidence, finals),
        *_check_dead_letters(workload, finals, letters, expect),
        *_check_executions(evidence),
        *_check_superseding_happened(evidence, expect),
        *_check_due(accepted, evidence, finals, expect),
        *_check_starvation(workload, evidence, expect),
    ]


def _check_partition(accepted: set[str], evidence: Evidence) -> list[str]:
    """No message lost, none claimed twice: the turns partition the accepted messages, and no buffer holds any.

    A superseded turn keeps its messages; the turn that answers them only names it (carried): a message is in the
    one turn item that claimed it, whatever answers it.
    """
    problems: list[str] = []
    claimed_in: dict[str, list[int]] = defaultdict(list)
    for turn in evidence.turns:
        for message_id in turn.message_ids:
            claimed_in[message_id].append(turn.burst)
    for message_id in sorted(accepted):
        bursts = claimed_in.get(message_id, [])
        if not bursts:
            problems.append(f"lost: {message_id} was accepted but is in no turn")
        elif len(bursts) > 1:
            problems.append(f"claimed twice: {message_id} is in bursts {bursts}")
    problems += [f"phantom: {m} is in a turn but was never accepted" for m in sorted(claimed_in.keys() - accepted)]
    problems += [f"stuck: {n} message(s) still in the buffer of {key}" for key, n in evidence.buffered.items() if n]
    problems += [
        f"stuck: the buffer of {key} still carries {n} superseded turn(s)"
        for key, n in evidence.buffered_carried.items()
        if n
    ]
    return problems


def _check_superseded(finals: Finals, letters: dict[tuple[str, int], list[dict[str, Any]]]) -> list[str]:
    """A superseded turn leads, by superseded_by, to the final turn that carries it; nothing of it was ever sent,
    committed to, failed or dead-lettered. Each turn a turn carries is superseded, earlier, and ends at the same
    final turn.

    And the starvation bound's mechanism, exactly (the end-to-end check needs slack for the emulator's lag): a turn
    is superseded only before its max wait ran out, and the turn that carries it is due no later (its cap is the
    earliest of the caps it carries), so superseding never pushes an answer past its oldest message's max wait."""
    problems: list[str] = []
    for turn in finals.turns:
        where = f"{turn.key} burst {turn.burst}"
        if turn.superseded:
            final = finals.final(turn)
            if turn.superseded_by is None:
                problems.append(f"superseded: {where} names no superseded_by")
            elif turn.superseded_by <= turn.burst:
                problems.append(f"superseded: {where} is superseded by an earlier burst {turn.superseded_by}")
            if final is None:
                problems.append(
                    f"lost: {where} ({len(turn.messages)} messages) is superseded by {turn.superseded_by}, "
                    "which leads to no claimed turn"
                )
            elif turn.burst not in final.carried:
                problems.append(f"superseded: {where}'s final turn {final.burst} does not carry it ({final.carried})")
            if turn.parts_sent or turn.delivered or turn.reply_started or turn.failed:
                problems.append(
                    f"stale: superseded {where} has parts_sent={turn.parts_sent} delivered={turn.delivered} "
                    f"reply_started={turn.reply_started} failed={turn.failed}"
                )
            if turn.cap is None:
                problems.append(f"starvation: {where} was superseded, yet has no max wait to bound it")
            elif turn.superseded_at is not None and turn.superseded_at > turn.cap:
                problems.append(
                    f"starvation: {where} was superseded {turn.superseded_at - turn.cap:.0f} s after its max wait ran "
                    "out"
                )
            if final is not None and turn.cap is not None and (final.cap is None or final.cap > turn.cap):
                problems.append(
                    f"starvation: {where}'s final turn {final.burst} is due at {final.cap}, after the max wait of the "
                    f"carried turn ({turn.cap})"
                )
            if turn.withheld:
                problems.append(f"superseded: {where} is withheld too")
            if letters.get((turn.key, turn.burst)):
                problems.append(f"dead-lettered: {where} was superseded, its final turn answers for it")
        if len(set(turn.carried)) != len(turn.carried):
            problems.append(f"carried twice: {where} carries {turn.carried}")
        for burst in turn.carried:
            carried = finals.by_burst.get((turn.key, burst))
            if carried is None:
                problems.append(f"lost: {where} carries burst {burst}, which is no turn")
            elif not carried.superseded or burst >= turn.burst:
                problems.append(f"carried: {where} carries burst {burst}, not an earlier superseded turn")
            elif finals.final(carried) is not finals.final(turn):
                problems.append(f"carried: {where} carries burst {burst}, whose chain ends elsewhere")
    return problems


def _check_withheld(finals: Finals, letters: dict[tuple[str, int], list[dict[str, Any]]]) -> list[str]:
    """A withheld turn is never sent nor dead-lettered. This workload never hands a conversation to a human nor
    deletes a message: a withheld turn may only be one with nothing left to answer (late duplicates, all dropped)."""
    problems: list[str] = []
    for turn in finals.turns:
        if not turn.withheld:
            continue
        where = f"{turn.key} burst {turn.burst}"
        if turn.parts_sent or turn.delivered or turn.reply_started:
            problems.append(f"withheld: {where} has parts_sent={turn.parts_sent} delivered={turn.delivered}")
        if letters.get((turn.key, turn.burst)):
            problems.append(f"withheld: {where} is on the DLQ")
        if finals.answers(turn):
            problems.append(
                f"lost: {where} withheld ({turn.withheld_reason}) with {len(finals.answers(turn))} messages to "
                "answer, though no human took over and nothing was deleted"
            )
    return problems


def _check_order(finals: Finals) -> list[str]:
    """Order inside every burst, and in what every final turn answers (its carried turns' messages and its own): the
    user's order is the timestamp order (the reply's is checked with the sends)."""
    problems: list[str] = []
    for turn in finals.turns:
        seqs = [seq for _, seq in turn.tokens]
        if seqs != sorted(set(seqs)):
            problems.append(f"order: {turn.key} burst {turn.burst} holds seqs {seqs}")
        if turn.carried:
            answered = [seq for _, seq in finals.expected_tokens(turn)]
            if len(answered) != len(set(answered)):
                problems.append(f"answered twice: {turn.key} burst {turn.burst} answers seqs {answered}")
    return problems


def _check_resolved(finals: Finals, letters: dict[tuple[str, int], list[dict[str, Any]]]) -> list[str]:
    """Every final turn with messages is answered or on the DLQ, once; every DLQ record is such a turn."""
    problems: list[str] = []
    for turn in finals.turns:
        records = letters.get((turn.key, turn.burst), [])
        if len(records) > 1:
            problems.append(f"dead-lettered {len(records)} times: {turn.key} burst {turn.burst}")
    for turn in finals.final_turns():
        if not turn.delivered and not turn.withheld and not letters.get((turn.key, turn.burst)):
            problems.append(
                f"lost: {turn.key} burst {turn.burst} ({len(finals.answers(turn))} messages, {len(turn.carried)} "
                "turns carried) neither answered nor on the DLQ"
            )
    bursts = {(t.key, t.burst) for t in finals.final_turns()}
    problems += [f"DLQ record for {where}, no final turn with messages" for where in letters.keys() - bursts]
    return problems


def _check_answered_once(workload: Workload, accepted: set[str], evidence: Evidence, finals: Finals) -> list[str]:
    """Each accepted message is answered exactly once, by its final turn: its token is in exactly one delivered
    reply when that turn was delivered with the AI's answer, in none when it was not delivered (on the DLQ). A
    fallback reply names no message: those are counted per conversation by _check_sends."""
    problems: list[str] = []
    final_of: dict[str, TurnRecord | None] = {}
    for turn in finals.turns:
        for message_id in turn.message_ids:
            final_of[message_id] = finals.final(turn)
    delivered: Counter[Token] = Counter()
    for send in evidence.sends:
        if send.delivered and send.text != FALLBACK:
            delivered.update(set(tokens_in(send.text)))
    by_id = {m.message_id: m for c in workload.conversations for m in c.messages}
    for message_id in sorted(accepted):
        final, message = final_of.get(message_id), by_id.get(message_id)
        if final is None or message is None:
            continue  # lost or phantom: said by _check_partition and _check_superseded
        token = (message.conversation, message.seq)
        if final.delivered and final.answer != FALLBACK:
            want = 1
        elif final.answer == FALLBACK:
            continue
        else:
            want = 0
        if delivered[token] != want:
            problems.append(
                f"answered {delivered[token]} times: {message_id} (final turn {final.burst}, delivered="
                f"{final.delivered}) is in {delivered[token]} delivered replies, want {want}"
            )
    return problems


def _check_dead_letters(
    workload: Workload,
    finals: Finals,
    letters: dict[tuple[str, int], list[dict[str, Any]]],
    expect: Expectations,
) -> list[str]:
    """Every planned permanent failure is on the DLQ with its reason; nothing transient leaked there."""
    problems: list[str] = []
    by_key = {c.key: c for c in workload.conversations}
    for (key, burst), records in letters.items():
        conversation = by_key.get(key)
        if conversation is None:
            problems.append(f"DLQ record for an unknown conversation {key}")
            continue
        record = records[0]
        if conversation.index in expect.permanent_channel:
            reason = PERMANENT[conversation.channel][2]
            if record["error"] != "PermanentError" or reason not in record["cause"]:
                problems.append(f"DLQ {key} burst {burst}: want PermanentError naming {reason!r}, got {record}")
        elif conversation.index in expect.ai_down:
            if record["error"] != "PermanentError" or "ReadTimeout" not in record["cause"]:
                problems.append(f"DLQ {key} burst {burst}: want the AI's ReadTimeout, got {record}")
        else:
            problems.append(f"DLQ {key} burst {burst}: no permanent failure was planned here, got {record}")
    for turn in finals.final_turns():
        index = by_key[turn.key].index
        if index in expect.permanent_channel and turn.delivered:
            problems.append(f"{turn.key} burst {turn.burst}: delivered through a channel that refuses everything")
        if index in expect.ai_down and turn.answer != FALLBACK:
            problems.append(f"{turn.key} burst {turn.burst}: the AI never answered, yet the answer is {turn.answer!r}")
    return problems


def _check_executions(evidence: Evidence) -> list[str]:
    """Executions end answered or dead-lettered: none still running, timed out or aborted."""
    unexpected = set(evidence.executions) - {"SUCCEEDED", "FAILED"}
    return [f"executions ended {dict(evidence.executions)}"] if unexpected else []


def _check_sends(workload: Workload, evidence: Evidence, finals: Finals) -> list[str]:
    """No answer sent twice, no superseded answer sent at all: every reply that reached a channel API (accepted or
    refused) is the recorded answer of a final turn, naming its carried turns' messages and its own in order
    (tokens; and the message ids, where the channel's payload carries them); each delivered final turn reached its
    channel once, as recorded."""
    problems: list[str] = []
    finals_of: dict[int, list[TurnRecord]] = defaultdict(list)
    superseded_of: dict[int, list[TurnRecord]] = defaultdict(list)
    by_key = {c.key: c.index for c in workload.conversations}
    for turn in finals.final_turns():
        finals_of[by_key[turn.key]].append(turn)
    for turn in finals.turns:
        if turn.superseded:
            superseded_of[by_key[turn.key]].append(turn)
    sends_of: dict[int, list[Send]] = defaultdict(list)
    for send in evidence.sends:
        sends_of[send.conversation].append(send)
    for index in sorted(set(finals_of) | set(sends_of)):
        turns, sends = finals_of.get(index, []), sends_of.get(index, [])
        by_tokens = {finals.expected_tokens(t): t for t in turns}
        by_ids = {tuple(i for _, i in finals.answers(t)): t for t in turns}
        stale = {
            tuple(tokens_in(t.answer)): t
            for t in superseded_of.get(index, [])
            if t.answer is not None and t.answer != FALLBACK
        }
        for send in sends:
            tokens = tuple(tokens_in(send.text))
            status = "delivered" if send.delivered else f"refused {send.status}"
            if send.in_reply_to is not None and send.in_reply_to not in by_ids:
                problems.append(
                    f"conversation {index}: a reply ({status}) names messages {list(send.in_reply_to)}, "
                    "which are not what any final turn answers"
                )
            if send.text == FALLBACK:
                continue
            matched = by_tokens.get(tokens)
            if matched is None:
                if tokens in stale:
                    problems.append(
                        f"stale: conversation {index} burst {stale[tokens].burst} was superseded, yet its answer "
                        f"reached the channel ({status})"
                    )
                else:
                    problems.append(f"conversation {index}: a reply ({status}) holds {list(tokens)}, no final turn's")
                continue
            if matched.answer is None or tokens != tuple(tokens_in(matched.answer)):
                problems.append(f"conversation {index} burst {matched.burst}: the reply is not the recorded answer")
            ids = tuple(i for _, i in finals.answers(matched))
            if send.in_reply_to is not None and send.in_reply_to != ids:
                problems.append(
                    f"conversation {index} burst {matched.burst}: the reply names {list(send.in_reply_to)}, "
                    f"want {list(ids)}"
                )
        delivered = [s for s in sends if s.delivered]
        echoed = [tuple(tokens_in(s.text)) for s in delivered if s.text != FALLBACK]
        delivered_turns = [t for t in turns if t.delivered]
        for turn in delivered_turns:
            if turn.answer == FALLBACK:
                continue
            want = finals.expected_tokens(turn)
            if echoed.count(want) != 1:
                problems.append(
                    f"conversation {index} burst {turn.burst}: marked delivered, sent {echoed.count(want)} times"
                )
            if turn.parts_sent != 1:
                problems.append(
                    f"conversation {index} burst {turn.burst}: {turn.parts_sent} parts (the oracle expects 1)"
                )
        fallbacks = [s for s in delivered if s.text == FALLBACK]
        fallback_turns = [t for t in delivered_turns if t.answer == FALLBACK]
        if len(fallbacks) != len(fallback_turns):
            problems.append(
                f"conversation {index}: {len(fallbacks)} fallback replies for {len(fallback_turns)} fallback bursts"
            )
    return problems


def _check_superseding_happened(evidence: Evidence, expect: Expectations) -> list[str]:
    """The run must have superseded answers, or it proved nothing about superseding."""
    superseded = sum(1 for t in evidence.turns if t.superseded)
    if superseded < expect.min_superseded:
        return [f"not exercised: {superseded} superseded turns, want at least {expect.min_superseded}"]
    return []


def latencies(workload: Workload, evidence: Evidence, exempt: frozenset[int] = frozenset()) -> dict[str, float]:
    """Seconds from the webhook taking each message to the first delivered reply naming it (its final turn's, when
    the AI answered); conversations in `exempt`, and fallback replies (which name no message), left out."""
    first_reply: dict[Token, float] = {}
    for send in evidence.sends:
        if send.delivered and send.text != FALLBACK:
            for token in tokens_in(send.text):
                first_reply[token] = min(first_reply.get(token, send.at), send.at)
    waited: dict[str, float] = {}
    for conversation in workload.conversations:
        if conversation.index in exempt:
            continue
        for message in conversation.messages:
            accepted = evidence.accepted_at.get(message.message_id)
            replied = first_reply.get((message.conversation, message.seq))
            if accepted is not None and replied is not None:
                waited[message.message_id] = replied - accepted
    return waited


def _check_due(accepted: set[str], evidence: Evidence, finals: Finals, expect: Expectations) -> list[str]:
    """Every message's final turn is due within max wait of the webhook taking the message: superseding moves an
    answer later, but never past the oldest carried message's max wait. Exact (the cap is stored; the message was
    appended before the webhook answered), whatever the faults and however late the emulator runs."""
    if not expect.max_wait_seconds:
        return []
    problems: list[str] = []
    final_of = {m: finals.final(t) for t in finals.turns for m in t.message_ids}
    for message_id in sorted(accepted):
        final, taken = final_of.get(message_id), evidence.accepted_at.get(message_id)
        if final is None or taken is None or not finals.answers(final):
            continue
        if final.cap is None:
            problems.append(f"starvation: {message_id}'s final turn {final.burst} has no max wait")
        elif final.cap > taken + expect.max_wait_seconds + 1:  # + 1: deadlines are whole seconds, rounded up
            problems.append(
                f"starvation: {message_id}'s final turn {final.burst} is due {final.cap - taken:.1f} s after the "
                f"webhook took it, max wait {expect.max_wait_seconds:.0f} s"
            )
    return problems


def _check_starvation(workload: Workload, evidence: Evidence, expect: Expectations) -> list[str]:
    """No message waits longer than max wait plus the AI's time (and the slack), end to end."""
    if not expect.max_wait_seconds or not expect.slack_seconds:
        return []
    bound = expect.max_wait_seconds + expect.ai_seconds + expect.slack_seconds
    waited = latencies(workload, evidence, expect.delay_exempt)
    over = sorted(((w, m) for m, w in waited.items() if w > bound), reverse=True)
    return [f"starved: {m} waited {w:.1f} s for its reply, bound {bound:.1f} s" for w, m in over]
