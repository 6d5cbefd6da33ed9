"""The decision log of one conversation: every decision the pipeline took, rebuilt from what the table holds.

One pure function, `build_timeline`, turns the conversation's items (its buffer and its turns, as plain JSON values)
and, where Step Functions keeps it, its executions' history into a list of events, each {kind, at, burst, details}
(at: epoch seconds). `debouncer explain` prints it and the local server's /local/explain returns it; a browser
console can render the same JSON. Message text appears only when asked for (`show_text`).

The pipeline records what this needs on writes it makes anyway (debouncer.adapters.dynamodb): each message's arrival
time in the buffer's append, the claim's time and reason, when the answer came, when each part left. So the log costs
no call on the messages' path. What no write records is not shown: a redelivery absorbed while its message waits
(the append refuses it and writes nothing), or a delete's own time (the claim applies it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from debouncer.domain.burst import epoch_of, is_flush_keyword, iso_second
from debouncer.domain.models import InboundMessage

BUFFER_SK = "buffer"
TURN_PREFIX = "turn#"
EDIT_PREFIX = "edit:"  # a pending edit of a waiting message, on the buffer (the claim applies it)

# Every kind of event, in the order they happen to a burst (the order ties at one instant are shown in).
KINDS = (
    "message",
    "cap_set",
    "deadline_moved",
    "edit",
    "paused",
    "timer_started",
    "flush",
    "deletes_applied",
    "duplicates_dropped",
    "claimed",
    "media_read",
    "answered",
    "ai_failed",
    "superseded",
    "withheld",
    "part_sent",
    "delivered",
    "dead_lettered",
    "waiting",
)
_ORDER = {kind: index for index, kind in enumerate(KINDS)}


@dataclass(frozen=True)
class FlushRules:
    """What makes the webhook flush a burst early: with them, a flush's reason is told (else it is just "early")."""

    keywords: tuple[str, ...] = ()
    max_messages: int = 0
    max_bytes: int = 0


@dataclass(frozen=True)
class ExecutionRecord:
    """One Step Functions execution of the conversation, as its history tells it (Standard keeps it 90 days)."""

    name: str
    burst: int
    flush: bool
    status: str
    started: float
    stopped: float | None = None
    error: str | None = None  # the error that sent the burst to the DLQ (the DeadLetter state's input)
    cause: str | None = None


@dataclass(frozen=True)
class Event:
    """One decision: what happened (`kind`), when (epoch seconds), to which burst, and its particulars."""

    kind: str
    at: float
    burst: int | None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object."""
        return {"kind": self.kind, "at": self.at, "burst": self.burst, "details": self.details}


@dataclass(frozen=True)
class Timeline:
    """Every event of one conversation, oldest first."""

    conversation_key: str
    events: tuple[Event, ...]

    def to_json(self) -> dict[str, Any]:
        """The timeline as a JSON object: {conversation, events}."""
        return {"conversation": self.conversation_key, "events": [e.to_json() for e in self.events]}


def build_timeline(
    conversation_key: str,
    items: Iterable[Mapping[str, Any]],
    *,
    executions: Sequence[ExecutionRecord] = (),
    flush_rules: FlushRules | None = None,
    show_text: bool = False,
) -> Timeline:
    """The conversation's events from its table items (plain values: debouncer.adapters.dynamodb.conversation_items)
    and, optionally, its executions; message and answer text only with `show_text`."""
    events: list[Event] = []
    turns = sorted((i for i in items if str(i.get("sk", "")).startswith(TURN_PREFIX)), key=lambda i: int(i["burst"]))
    buffer = next((i for i in items if i.get("sk") == BUFFER_SK), None)
    flushes = {e.burst for e in executions if e.flush}
    for turn in turns:
        events += _turn_events(turn, flush_rules, show_text, flushed=int(turn["burst"]) in flushes)
    if buffer is not None:
        events += _buffer_events(buffer, show_text)
    events += _execution_events(executions, {int(t["burst"]) for t in turns if "failed_at" in t})
    events.sort(key=lambda e: (e.at, _ORDER[e.kind]))
    return Timeline(conversation_key, tuple(events))


def _messages(item: Mapping[str, Any]) -> list[tuple[InboundMessage, str]]:
    """The item's messages with the document each was stored as (its size is what the size flush counts)."""
    return [(InboundMessage.model_validate_json(d), d) for d in item.get("messages", [])]


def _message_details(index: int, message: InboundMessage, show_text: bool) -> dict[str, Any]:
    details: dict[str, Any] = {"index": index, "kind": message.kind, "chars": len(message.text or "")}
    if message.media:
        details["media"] = len(message.media)
    if show_text:
        details["text"] = message.text
        details["message_id"] = message.message_id
    return details


def _arrivals(
    burst: int | None,
    messages: list[tuple[InboundMessage, str]],
    arrivals: Sequence[float],
    debounce: float | None,
    cap: str | None,
    show_text: bool,
) -> list[Event]:
    """Each message as it arrived, and how it moved the quiet deadline (with the cap its first one set)."""
    events: list[Event] = []
    timed = sorted(
        ((float(at), message) for (message, _), at in zip(messages, arrivals, strict=False) if at),
        key=lambda pair: pair[0],
    )
    for index, (at, message) in enumerate(timed, 1):
        events.append(Event("message", at, burst, _message_details(index, message, show_text)))
        if index == 1 and cap is not None:
            events.append(Event("cap_set", at, burst, {"cap_deadline": epoch_of(cap)}))
        if debounce is not None:
            events.append(Event("deadline_moved", at, burst, {"quiet_deadline": epoch_of(iso_second(at + debounce))}))
    return events


def _arrival_order(messages: list[tuple[InboundMessage, str]], arrivals: Sequence[float]) -> dict[str, int]:
    """Each message's index as the message events number them: in the order they arrived, from 1."""
    timed = sorted((float(at), m.message_id) for (m, _), at in zip(messages, arrivals, strict=False) if at)
    return {message_id: index for index, (_, message_id) in enumerate(timed, 1)}


def _flush_event(
    burst: int,
    messages: list[tuple[InboundMessage, str]],
    arrivals: Sequence[float],
    rules: FlushRules | None,
    claimed_at: float,
) -> Event:
    """Why the webhook flushed the burst early, and when: at the message that crossed the line, when it is known."""
    timed = sorted(((float(a), m, d) for (m, d), a in zip(messages, arrivals, strict=False) if a), key=lambda t: t[0])
    if rules is not None:
        for at, message, _ in timed:
            if is_flush_keyword(message, rules.keywords):
                return Event("flush", at, burst, {"reason": "keyword"})
        if rules.max_messages and len(timed) >= rules.max_messages:
            return Event("flush", timed[rules.max_messages - 1][0], burst, {"reason": "max_messages"})
        size = 0
        for at, message, document in timed:
            size += len(document.encode()) + len(message.message_id.encode())
            if rules.max_bytes and size >= rules.max_bytes:
                return Event("flush", at, burst, {"reason": "max_bytes"})
    return Event("flush", claimed_at, burst, {"reason": "early"})


def _turn_events(turn: Mapping[str, Any], rules: FlushRules | None, show_text: bool, *, flushed: bool) -> list[Event]:
    burst = int(turn["burst"])
    messages = _messages(turn)
    arrivals = [float(a) for a in turn.get("arrivals", [])]
    claimed_at = float(turn["claimed_at"])
    debounce = turn.get("debounce_seconds")
    events = _arrivals(burst, messages, arrivals, debounce, turn.get("cap_deadline"), show_text)
    order = _arrival_order(messages, arrivals)
    for edit in turn.get("edits", []):
        index = order.get(edit["id"])
        at = float(edit["at"])
        events.append(Event("edit", at, burst, {"index": index}))
        if debounce is not None:
            events.append(Event("deadline_moved", at, burst, {"quiet_deadline": epoch_of(iso_second(at + debounce))}))
    reason = turn.get("claim_reason")
    if reason == "flush" or flushed:
        events.append(_flush_event(burst, messages, arrivals, rules, claimed_at))
    if turn.get("deleted"):
        events.append(Event("deletes_applied", claimed_at, burst, {"messages": len(turn["deleted"])}))
    if turn.get("dropped_duplicates"):
        dropped: dict[str, Any] = {"messages": len(turn["dropped_duplicates"])}
        if show_text:
            dropped["message_ids"] = list(turn["dropped_duplicates"])
        events.append(Event("duplicates_dropped", claimed_at, burst, dropped))
    claim: dict[str, Any] = {"reason": reason or "unknown", "messages": len(messages)}
    for name in ("quiet_deadline", "cap_deadline"):
        if name in turn:
            claim[name] = epoch_of(turn[name])
    if "ideal_at" in turn:
        claim["ideal_at"] = float(turn["ideal_at"])
    if turn.get("carried"):
        claim["carries"] = [int(b) for b in turn["carried"]]
    if turn.get("held"):
        claim["held"] = len(turn["held"])
    events.append(Event("claimed", claimed_at, burst, claim))
    ai_started = claimed_at
    if "media_at" in turn:
        ai_started = float(turn["media_at"])
        media = json.loads(turn["media"]) if isinstance(turn.get("media"), str) else []
        events.append(Event("media_read", ai_started, burst, {"items": len(media)}))
    if "answered_at" in turn and "answer" in turn:  # a redrive drops a fallback answer to ask the AI again
        answered_at = float(turn["answered_at"])
        answer: dict[str, Any] = {
            "ai_latency": round(answered_at - ai_started, 3),
            "fallback": "ai_failure" in turn,
        }
        if "ai_failure" in turn:
            answer["ai_failure"] = turn["ai_failure"]
        if show_text:
            answer["text"] = turn.get("answer")
        events.append(Event("answered", answered_at, burst, answer))
    if "failed_at" in turn and "answer" not in turn:
        failed = float(turn["failed_at"])
        events.append(Event("ai_failed", failed, burst, {"ai_latency": round(failed - ai_started, 3)}))
    if "superseded_at" in turn:
        by = turn.get("superseded_by")
        events.append(Event("superseded", float(turn["superseded_at"]), burst, {"by": None if by is None else int(by)}))
    if "withheld_at" in turn:
        events.append(Event("withheld", float(turn["withheld_at"]), burst, {"reason": turn.get("withheld_reason")}))
    events += _parts(turn, burst)
    if "failed_at" in turn:
        events.append(Event("dead_lettered", float(turn["failed_at"]), burst, {"reason": turn.get("failure")}))
    return events


def _parts(turn: Mapping[str, Any], burst: int) -> list[Event]:
    """Each part as it left (once each, should a write have been retried), then the delivery."""
    sent: dict[int, float] = {}
    for part in turn.get("parts_at", []):
        sent.setdefault(int(part["part"]), float(part["at"]))
    events = [Event("part_sent", at, burst, {"part": part}) for part, at in sorted(sent.items())]
    if "delivered_at" in turn:
        delivered: dict[str, Any] = {"parts": int(turn.get("parts_sent", 0))}
        if sent and "ideal_at" in turn:
            # How long after the ideal deadline the person saw the first part (ReplyLateness).
            delivered["lateness"] = round(max(0.0, min(sent.values()) - float(turn["ideal_at"])), 3)
        events.append(Event("delivered", max([float(turn["delivered_at"]), *sent.values()]), burst, delivered))
    return events


def _buffer_events(buffer: Mapping[str, Any], show_text: bool) -> list[Event]:
    """The open burst, still waiting, and a pause."""
    events: list[Event] = []
    if "paused_at" in buffer:
        events.append(Event("paused", float(buffer["paused_at"]), None, {"until": buffer.get("paused_until")}))
    messages = _messages(buffer)
    if not messages:
        return events
    burst = int(buffer["burst"])
    arrivals = [float(a) for a in buffer.get("arrivals", [])]
    opened = float(buffer.get("opened_at", arrivals[0] if arrivals else 0))
    quiet, cap = buffer.get("quiet_deadline"), buffer.get("cap_deadline")
    # The buffer keeps no debounce: the last arrival (or edit) set the stored quiet deadline, rounded up to the second.
    edits = [
        (name.removeprefix(EDIT_PREFIX), int(v["at"]) / 1000)
        for name, v in buffer.items()
        if name.startswith(EDIT_PREFIX)
    ]
    last = max([*arrivals, *(at for _, at in edits)], default=None)
    debounce = math.floor(epoch_of(quiet) - last) if quiet and last else None
    events += _arrivals(burst, messages, arrivals, debounce, cap, show_text)
    order = _arrival_order(messages, arrivals)
    for message_id, at in edits:
        events.append(Event("edit", at, burst, {"index": order.get(message_id)}))
        if debounce is not None:
            events.append(Event("deadline_moved", at, burst, {"quiet_deadline": epoch_of(iso_second(at + debounce))}))
    waiting: dict[str, Any] = {"messages": len(messages), "deleted": len(buffer.get("deleted_ids", []))}
    if quiet:
        waiting["quiet_deadline"] = epoch_of(quiet)
    if cap:
        waiting["cap_deadline"] = epoch_of(cap)
    # Shown at the time it is due (the earlier of its deadlines), or when it opened if it has none.
    due = [epoch_of(d) for d in (quiet, cap) if d]
    events.append(Event("waiting", min(due) if due else max([opened, *arrivals]), burst, waiting))
    return events


def _execution_events(executions: Sequence[ExecutionRecord], recorded_failures: set[int]) -> list[Event]:
    """When each timer started (a flush's is the webhook's decision), and a dead letter the table has no record of."""
    events: list[Event] = []
    for execution in executions:
        details: dict[str, Any] = {"flush": execution.flush, "status": execution.status, "execution": execution.name}
        events.append(Event("timer_started", execution.started, execution.burst, details))
        if execution.error is not None and execution.burst not in recorded_failures:
            failure = {"reason": execution.error, "cause": execution.cause, "execution": execution.name}
            events.append(Event("dead_lettered", execution.stopped or execution.started, execution.burst, failure))
    return events
