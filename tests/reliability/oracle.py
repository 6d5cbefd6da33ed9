"""The invariants of DESIGN §2, checked on everything the run left behind: turns, buffers, DLQ, sends, executions.

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
from debouncer.local.runtime import REGION, LocalRuntime
from debouncer.models import InboundMessage
from tests.reliability.fakes import FALLBACK, PERMANENT, Send
from tests.reliability.workload import Workload, tokens_in

Token = tuple[int, int]  # (conversation, seq)


@dataclass(frozen=True)
class TurnRecord:
    """One claimed burst as stored: its messages in stored order, and how far its reply got."""

    key: str
    burst: int
    tokens: tuple[Token, ...]
    message_ids: tuple[str, ...]
    answer: str | None
    parts_sent: int
    delivered: bool
    dropped: tuple[str, ...]


@dataclass
class Evidence:
    """Everything collected once the run has settled."""

    turns: list[TurnRecord]
    buffered: dict[str, int]  # conversation key -> messages still waiting in its buffer
    dead_letters: list[dict[str, Any]]
    sends: list[Send]
    executions: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Expectations:
    """The failures the run planned: these conversations' bursts must be on the DLQ, with these reasons."""

    permanent_channel: frozenset[int] = frozenset()
    ai_down: frozenset[int] = frozenset()


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

    def table(self) -> tuple[list[TurnRecord], dict[str, int]]:
        """Every turn, and how many messages each buffer still holds."""
        turns: list[TurnRecord] = []
        buffered: dict[str, int] = {}
        with self._runtime.emulator.running_as("operator"):
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            pages = dynamodb.get_paginator("scan").paginate(TableName=self._runtime.table_name, ConsistentRead=True)
            for page in pages:
                for item in page["Items"]:
                    key, sk = item["pk"]["S"], item["sk"]["S"]
                    if sk == BUFFER_SK:
                        buffered[key] = len(item.get("messages", {}).get("L", []))
                    elif sk.startswith("turn#"):
                        turns.append(_turn(key, item))
        return turns, buffered

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
        turns, buffered = self.table()
        claimed = {m for t in turns for m in t.message_ids}
        letters = {(d["conversation_key"], int(d["burst"])) for d in self.dead_letters()}
        answered = all(t.delivered or (t.key, t.burst) in letters for t in turns if t.tokens)
        return accepted <= claimed and answered and not any(buffered.values())


def _turn(key: str, item: dict[str, Any]) -> TurnRecord:
    messages = [InboundMessage.model_validate_json(v["S"]) for v in item.get("messages", {}).get("L", [])]
    tokens = tuple(t for m in messages for t in tokens_in(m.text or ""))
    return TurnRecord(
        key=key,
        burst=int(item["burst"]["N"]),
        tokens=tokens,
        message_ids=tuple(m.message_id for m in messages),
        answer=item.get("answer", {}).get("S"),
        parts_sent=int(item.get("parts_sent", {}).get("N", "0")),
        delivered="delivered_at" in item,
        dropped=tuple(d["S"] for d in item.get("dropped_duplicates", {}).get("L", [])),
    )


def check(workload: Workload, accepted: set[str], evidence: Evidence, expect: Expectations) -> list[str]:
    """Every violation of the invariants, as one line each (empty: the run kept them all)."""
    letters: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for record in evidence.dead_letters:
        letters[(record["conversation_key"], int(record["burst"]))].append(record)
    return [
        *_check_partition(accepted, evidence),
        *_check_order(evidence),
        *_check_resolved(evidence, letters),
        *_check_sends(workload, evidence),
        *_check_dead_letters(workload, evidence, letters, expect),
        *_check_executions(evidence),
    ]


def _check_partition(accepted: set[str], evidence: Evidence) -> list[str]:
    """No message lost, none claimed twice: the turns partition the accepted messages, and no buffer holds any."""
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
    return problems


def _check_order(evidence: Evidence) -> list[str]:
    """Order inside every burst: the user's order is the timestamp order (the reply's is checked with the sends)."""
    problems: list[str] = []
    for turn in evidence.turns:
        seqs = [seq for _, seq in turn.tokens]
        if seqs != sorted(set(seqs)):
            problems.append(f"order: {turn.key} burst {turn.burst} holds seqs {seqs}")
    return problems


def _check_resolved(evidence: Evidence, letters: dict[tuple[str, int], list[dict[str, Any]]]) -> list[str]:
    """Every burst with messages is answered or on the DLQ, once; every DLQ record is such a burst."""
    problems: list[str] = []
    for turn in evidence.turns:
        records = letters.get((turn.key, turn.burst), [])
        if len(records) > 1:
            problems.append(f"dead-lettered {len(records)} times: {turn.key} burst {turn.burst}")
        if turn.tokens and not turn.delivered and not records:
            problems.append(
                f"lost: {turn.key} burst {turn.burst} ({len(turn.tokens)} messages) neither answered nor on the DLQ"
            )
    bursts = {(t.key, t.burst) for t in evidence.turns if t.tokens}
    problems += [f"DLQ record for {where}, no claimed burst with messages" for where in letters.keys() - bursts]
    return problems


def _check_dead_letters(
    workload: Workload,
    evidence: Evidence,
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
    for turn in evidence.turns:
        index = by_key[turn.key].index
        if turn.tokens and index in expect.permanent_channel and turn.delivered:
            problems.append(f"{turn.key} burst {turn.burst}: delivered through a channel that refuses everything")
        if turn.tokens and index in expect.ai_down and turn.answer != FALLBACK:
            problems.append(f"{turn.key} burst {turn.burst}: the AI never answered, yet the answer is {turn.answer!r}")
    return problems


def _check_executions(evidence: Evidence) -> list[str]:
    """Executions end answered or dead-lettered: none still running, timed out or aborted."""
    unexpected = set(evidence.executions) - {"SUCCEEDED", "FAILED"}
    return [f"executions ended {dict(evidence.executions)}"] if unexpected else []


def _check_sends(workload: Workload, evidence: Evidence) -> list[str]:
    """No burst answered twice: each delivered burst reached its channel once, as recorded, in order."""
    problems: list[str] = []
    turns_of: dict[int, list[TurnRecord]] = defaultdict(list)
    by_key = {c.key: c.index for c in workload.conversations}
    for turn in evidence.turns:
        if turn.tokens:
            turns_of[by_key[turn.key]].append(turn)
    delivered_of: dict[int, list[Send]] = defaultdict(list)
    for send in evidence.sends:
        if send.delivered:
            delivered_of[send.conversation].append(send)
    for index in sorted(set(turns_of) | set(delivered_of)):
        turns, sends = turns_of.get(index, []), delivered_of.get(index, [])
        echoed = [tuple(tokens_in(s.text)) for s in sends if s.text != FALLBACK]
        fallbacks = sum(1 for s in sends if s.text == FALLBACK)
        seen = Counter(token for tokens in echoed for token in tokens)
        twice = sorted(token for token, n in seen.items() if n > 1)
        if twice:
            problems.append(f"answered twice: conversation {index} got messages {twice} in more than one reply")
        by_tokens = {t.tokens: t for t in turns}
        for tokens in echoed:
            matched = by_tokens.get(tokens)
            if matched is None:
                problems.append(f"conversation {index}: a reply holds {list(tokens)}, which matches no burst")
            elif matched.answer is None or tokens != tuple(tokens_in(matched.answer)):
                problems.append(f"conversation {index} burst {matched.burst}: the reply is not the recorded answer")
        delivered_turns = [t for t in turns if t.delivered]
        echoed_turns = [t for t in delivered_turns if t.answer != FALLBACK]
        fallback_turns = [t for t in delivered_turns if t.answer == FALLBACK]
        for turn in echoed_turns:
            if sum(1 for tokens in echoed if tokens == turn.tokens) != 1:
                problems.append(
                    f"conversation {index} burst {turn.burst}: marked delivered, sent {echoed.count(turn.tokens)} times"
                )
            if turn.parts_sent != 1:
                problems.append(
                    f"conversation {index} burst {turn.burst}: {turn.parts_sent} parts (the oracle expects 1)"
                )
        if fallbacks != len(fallback_turns):
            problems.append(
                f"conversation {index}: {fallbacks} fallback replies for {len(fallback_turns)} fallback bursts"
            )
    return problems
