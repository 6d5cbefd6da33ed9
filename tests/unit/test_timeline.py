"""The decision log: one conversation's events rebuilt from its table items (plain values), no I/O."""

from __future__ import annotations

import json
from typing import Any

from debouncer.domain.burst import iso_second
from debouncer.domain.models import InboundMessage, MediaRef
from debouncer.domain.timeline import KINDS, ExecutionRecord, FlushRules, Timeline, build_timeline

KEY = "whatsapp#100#15550000000"
T0 = 1_750_000_000.25
BURST = 1_750_000_000_250


def document(message_id: str, text: str, *, media: int = 0) -> str:
    return InboundMessage(
        channel="whatsapp",
        account_id="100",
        conversation_key=KEY,
        sender_id="15550000000",
        recipient_id="15550000000",
        message_id=message_id,
        timestamp_ms=0,
        text=text,
        media=tuple(MediaRef(kind="image", ref=f"m{i}") for i in range(media)),
    ).document


def turn(burst: int = BURST, **attributes: Any) -> dict[str, Any]:
    """A claimed, answered and delivered turn of two messages (0.9 s apart, debounce 2 s, max wait 10 s)."""
    item: dict[str, Any] = {
        "pk": KEY,
        "sk": f"turn#{burst:020d}",
        "burst": burst,
        "messages": [document("m1", "hello"), document("m2", "are you open?")],
        "arrivals": [T0, T0 + 0.9],
        "debounce_seconds": 2,
        "cap_deadline": iso_second(T0 + 10),
        "quiet_deadline": iso_second(T0 + 2.9),
        "ideal_at": T0 + 2.9,
        "claim_reason": "quiet",
        "claimed_at": T0 + 3.1,
        "answer": "We are open until 6.",
        "answered_at": T0 + 4.6,
        "parts_at": [{"part": 1, "at": T0 + 4.7}],
        "parts_sent": 1,
        "delivered_at": int(T0 + 4.7),
    }
    item.update(attributes)
    return {k: v for k, v in item.items() if v is not None}


def events_of(timeline: Timeline, kind: str) -> list[dict[str, Any]]:
    return [e.to_json() for e in timeline.events if e.kind == kind]


def test_a_delivered_burst_tells_each_arrival_deadline_claim_answer_and_part_in_order() -> None:
    # WHEN the timeline of a conversation with one delivered burst is built
    timeline = build_timeline(KEY, [turn()])

    # THEN it tells the story in order, each message moving the quiet deadline, the first one setting the cap
    assert [e.kind for e in timeline.events] == [
        *("message", "cap_set", "deadline_moved", "message", "deadline_moved"),
        *("claimed", "answered", "part_sent", "delivered"),
    ]
    assert [e["details"]["quiet_deadline"] for e in events_of(timeline, "deadline_moved")] == [T0 + 2.75, T0 + 3.75]
    assert events_of(timeline, "cap_set")[0]["details"] == {"cap_deadline": T0 + 10.75}
    (claim,) = events_of(timeline, "claimed")
    assert claim["details"]["reason"] == "quiet" and claim["details"]["messages"] == 2
    # AND the AI's latency runs from the claim to the answer; the first part left 1.8 s past the ideal deadline
    assert events_of(timeline, "answered")[0]["details"] == {"ai_latency": 1.5, "fallback": False}
    assert events_of(timeline, "delivered")[0]["details"] == {"parts": 1, "lateness": 1.8}
    # AND it is JSON as it stands, without the text of a message or the answer
    document = json.dumps(timeline.to_json())
    assert "hello" not in document and "open" not in document and "m1" not in document
    assert set(json.loads(document)) == {"conversation", "events"}
    assert all(set(e) == {"kind", "at", "burst", "details"} for e in json.loads(document)["events"])


def test_the_text_appears_only_when_asked_for() -> None:
    timeline = build_timeline(KEY, [turn()], show_text=True)
    assert [e["details"]["text"] for e in events_of(timeline, "message")] == ["hello", "are you open?"]
    assert events_of(timeline, "answered")[0]["details"]["text"] == "We are open until 6."


def test_a_flush_is_told_with_its_reason_at_the_message_that_crossed_the_line() -> None:
    flushed = turn(claim_reason="flush", messages=[document("m1", "hello"), document("m2", " Send ")])
    rules = FlushRules(keywords=("send",), max_messages=2, max_bytes=10_000)
    # A keyword wins over the count it also reached
    assert events_of(build_timeline(KEY, [flushed], flush_rules=rules), "flush") == [
        {"kind": "flush", "at": T0 + 0.9, "burst": BURST, "details": {"reason": "keyword"}}
    ]
    by_count = build_timeline(KEY, [turn(claim_reason="flush")], flush_rules=rules)
    assert events_of(by_count, "flush")[0]["details"] == {"reason": "max_messages"}
    by_size = build_timeline(KEY, [turn(claim_reason="flush")], flush_rules=FlushRules(max_messages=50, max_bytes=250))
    assert [(e["at"], e["details"]) for e in events_of(by_size, "flush")] == [(T0 + 0.9, {"reason": "max_bytes"})]
    # Without the settings (a deployment's), only that it was early, at the claim
    assert events_of(build_timeline(KEY, [turn(claim_reason="flush")]), "flush")[0]["details"] == {"reason": "early"}


def test_a_capped_burst_with_media_a_fallback_edits_deletes_and_duplicates() -> None:
    item = turn(
        claim_reason="max_wait",
        messages=[document("m1", "look", media=2), document("m2", "this?")],
        media=json.dumps([{"key": "a"}, {"key": "b"}]),
        media_at=T0 + 3.9,
        ai_failure="ReadTimeout: no answer",
        answer="Sorry, try again later.",
        edits=[{"id": "m2", "at": T0 + 1.0}],
        deleted=["m3"],
        dropped_duplicates=["m0"],
    )
    timeline = build_timeline(KEY, [item])
    assert events_of(timeline, "claimed")[0]["details"]["reason"] == "max_wait"
    assert events_of(timeline, "media_read")[0]["details"] == {"items": 2}
    # The AI's latency runs from the media read (just before the call) to the fallback
    assert events_of(timeline, "answered")[0]["details"] == {
        "ai_latency": 0.7,
        "fallback": True,
        "ai_failure": "ReadTimeout: no answer",
    }
    assert events_of(timeline, "edit")[0]["details"] == {"index": 2}
    assert len(events_of(timeline, "deadline_moved")) == 3  # two arrivals and the edit
    assert events_of(timeline, "deletes_applied")[0]["details"] == {"messages": 1}
    assert events_of(timeline, "duplicates_dropped")[0]["details"] == {"messages": 1}
    assert events_of(timeline, "message")[0]["details"]["media"] == 2


def test_superseded_withheld_failed_and_a_part_recorded_twice() -> None:
    superseded = turn(
        answered_at=None,
        answer=None,
        parts_at=None,
        delivered_at=None,
        superseded_at=int(T0 + 5),
        superseded_by=BURST + 1,
    )
    later = turn(
        BURST + 1,
        carried=[BURST],
        claimed_at=T0 + 8,
        answered_at=T0 + 9,
        parts_at=[{"part": 1, "at": T0 + 9.5}, {"part": 1, "at": T0 + 9.6}, {"part": 2, "at": T0 + 9.7}],
        parts_sent=2,
        delivered_at=int(T0 + 9.7),
    )
    withheld = turn(
        BURST + 2,
        withheld_at=int(T0 + 20),
        withheld_reason="paused",
        claimed_at=T0 + 20,
        answered_at=T0 + 20.5,
        parts_at=None,
        delivered_at=None,
    )
    failed = turn(BURST + 3, answer=None, answered_at=None, parts_at=None, delivered_at=None, claimed_at=T0 + 30)
    failed.update(failed_at=int(T0 + 40), failure="AI: model refused")
    timeline = build_timeline(KEY, [failed, withheld, later, superseded])
    assert events_of(timeline, "superseded")[0]["details"] == {"by": BURST + 1}
    assert events_of(timeline, "claimed")[1]["details"]["carries"] == [BURST]
    assert [e["details"]["part"] for e in events_of(timeline, "part_sent")] == [1, 2]
    assert events_of(timeline, "withheld")[0]["details"] == {"reason": "paused"}
    assert events_of(timeline, "ai_failed")[0]["burst"] == BURST + 3
    assert events_of(timeline, "dead_lettered") == [
        {"kind": "dead_lettered", "at": int(T0 + 40), "burst": BURST + 3, "details": {"reason": "AI: model refused"}}
    ]
    assert [e.at for e in timeline.events] == sorted(e.at for e in timeline.events)


def test_the_open_burst_waits_and_a_pause_and_an_execution_that_dead_lettered_are_shown() -> None:
    buffer = {
        "pk": KEY,
        "sk": "buffer",
        "burst": BURST + 1,
        "messages": [document("m5", "still there?")],
        "arrivals": [T0 + 60.5],
        "opened_at": T0 + 60.5,
        "quiet_deadline": iso_second(T0 + 62.5),
        "cap_deadline": iso_second(T0 + 70.5),
        "paused_at": T0 + 50,
        "paused_until": int(T0 + 3650),
    }
    edit = {"text": "still there??", "at": int((T0 + 61) * 1000)}
    edited = {**buffer, "edit:m5": edit, "quiet_deadline": iso_second(T0 + 63)}
    executions = [
        ExecutionRecord("h-1", BURST, False, "FAILED", T0 + 0.3, T0 + 45, "States.TaskFailed", "throttled"),
        ExecutionRecord("h-2", BURST + 1, False, "RUNNING", T0 + 60.6),
    ]
    timeline = build_timeline(KEY, [buffer], executions=executions)
    assert [e.kind for e in timeline.events] == [
        *("timer_started", "dead_lettered", "paused", "message", "cap_set", "deadline_moved"),
        *("timer_started", "waiting"),
    ]
    # The open burst waits until it is due: its quiet deadline
    assert events_of(timeline, "waiting")[0]["at"] == T0 + 62.75
    assert events_of(timeline, "deadline_moved")[0]["details"] == {"quiet_deadline": T0 + 62.75}
    assert events_of(timeline, "waiting")[0]["details"]["messages"] == 1
    assert events_of(timeline, "dead_lettered")[0]["details"]["reason"] == "States.TaskFailed"
    assert events_of(timeline, "paused")[0]["burst"] is None
    assert {e.kind for e in timeline.events} <= set(KINDS)
    # AND an edit of a waiting message moves its quiet deadline again (the debounce told by the stored deadline)
    with_edit = build_timeline(KEY, [edited])
    assert [(e["at"], e["details"]) for e in events_of(with_edit, "edit")] == [(T0 + 61, {"index": 1})]
    assert [e["details"]["quiet_deadline"] for e in events_of(with_edit, "deadline_moved")] == [T0 + 62.75, T0 + 63.75]
