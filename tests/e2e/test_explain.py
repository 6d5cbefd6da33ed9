"""`debouncer explain` against `debouncer serve`: /local/explain's timeline, and the CLI that prints it."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from typing import Any

import pytest

from tests.e2e.conftest import Server, poll, run_debouncer
from tests.e2e.test_local_server import post_wa, wa_user, wait_replies

pytestmark = pytest.mark.xdist_group("e2e")


def explain(server: Server, recipient: str, **extra: str) -> tuple[int, dict[str, Any]]:
    """(status, JSON) of GET /local/explain for a WhatsApp recipient."""
    query = urllib.parse.urlencode({"channel": "whatsapp", "recipient": recipient, **extra})
    status, _, body = server.http("GET", f"/local/explain?{query}")
    document: dict[str, Any] = json.loads(body)
    return status, document


def delivered_events(server: Server, recipient: str, bursts: int) -> list[dict[str, Any]]:
    """The recipient's one conversation's events, once `bursts` bursts are delivered or withheld."""

    def settled() -> list[dict[str, Any]] | None:
        status, document = explain(server, recipient)
        if status != 200:
            return None
        events: list[dict[str, Any]] = document["conversations"][0]["events"]
        done = [e for e in events if e["kind"] in ("delivered", "withheld")]
        return events if len(done) >= bursts else None

    events: list[dict[str, Any]] = poll(settled, timeout=30.0, what=f"{bursts} settled bursts of {recipient}")
    return events


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`debouncer explain ARGS`, as an operator runs it."""
    return run_debouncer("explain", *args, timeout=60)


def kinds(events: list[dict[str, Any]], burst: int | None = None) -> list[str]:
    return [e["kind"] for e in events if burst is None or e["burst"] == burst]


def test_a_burst_explained_message_by_message_through_the_route_and_the_cli(server: Server) -> None:
    # GIVEN two messages a moment apart, answered as one burst
    user = wa_user()
    post_wa(server, user, f"wamid.{user}.1", "hello there")
    post_wa(server, user, f"wamid.{user}.2", "are you open today?")
    wait_replies(server, user)

    # WHEN its conversation is explained
    events = delivered_events(server, user, bursts=1)

    # THEN the timeline shows each message's arrival and quiet-deadline move, the cap, the claim with its reason,
    # the AI's latency and the part sent, in that order
    order = kinds(events)
    assert order.count("message") == 2 and order.count("deadline_moved") == 2 and order.count("cap_set") == 1
    assert order.index("claimed") < order.index("answered") < order.index("part_sent") < order.index("delivered")
    messages = [e for e in events if e["kind"] == "message"]
    moves = [e["details"]["quiet_deadline"] for e in events if e["kind"] == "deadline_moved"]
    assert moves == sorted(moves) and all(m >= e["at"] + 1 for m, e in zip(moves, messages, strict=True))
    claim = next(e for e in events if e["kind"] == "claimed")
    assert claim["details"]["reason"] == "quiet" and claim["details"]["messages"] == 2
    assert claim["at"] >= moves[-1] - 1  # claimed once the last deadline (rounded up to its second) had come
    answered = next(e for e in events if e["kind"] == "answered")
    assert answered["details"]["ai_latency"] >= 0 and answered["details"]["fallback"] is False
    assert [e["details"]["part"] for e in events if e["kind"] == "part_sent"] == [1]
    assert any(e["kind"] == "timer_started" and e["details"]["flush"] is False for e in events)
    # AND no message text without show_text
    assert "hello there" not in json.dumps(events)
    assert "hello there" in json.dumps(explain(server, user, show_text="true")[1])

    # AND the CLI prints the same timeline, as text and as JSON; an unknown recipient is exit status 1
    printed = cli("--endpoint", server.base, "--channel", "whatsapp", "--recipient", user)
    assert printed.returncode == 0, printed.stderr
    assert 'claimed            reason="quiet" messages=2' in printed.stdout and "part_sent" in printed.stdout
    assert "ai_latency=" in printed.stdout and "hello there" not in printed.stdout
    as_json = cli("--endpoint", server.base, "--channel", "whatsapp", "--recipient", user, "--json")
    assert as_json.returncode == 0 and kinds(json.loads(as_json.stdout)["conversations"][0]["events"]) == order
    assert cli("--endpoint", server.base, "--channel", "whatsapp", "--recipient", wa_user()).returncode == 1
    assert cli("--endpoint", "http://127.0.0.1:9", "--channel", "whatsapp", "--recipient", user).returncode == 2
    assert cli("--channel", "whatsapp", "--recipient", user).returncode == 2


def test_a_keyword_flush_and_a_late_duplicate_explained(server: Server) -> None:
    # GIVEN a first burst answered
    user = wa_user()
    post_wa(server, user, f"wamid.{user}.1", "hi")
    wait_replies(server, user)

    # WHEN the person writes again, the channel redelivers the first message, and the flush keyword follows
    post_wa(server, user, f"wamid.{user}.2", "one more thing")
    post_wa(server, user, f"wamid.{user}.1", "hi")
    post_wa(server, user, f"wamid.{user}.3", "send")
    wait_replies(server, user, count=2)
    events = delivered_events(server, user, bursts=2)

    # THEN the second burst was flushed for its keyword, claimed as a flush, and dropped the redelivered message
    second = max(e["burst"] for e in events if e["kind"] == "claimed")
    flush = next(e for e in events if e["kind"] == "flush" and e["burst"] == second)
    assert flush["details"] == {"reason": "keyword"}
    claim = next(e for e in events if e["kind"] == "claimed" and e["burst"] == second)
    assert claim["details"]["reason"] == "flush" and claim["details"]["messages"] == 2
    dropped = next(e for e in events if e["kind"] == "duplicates_dropped")
    assert dropped["burst"] == second and dropped["details"] == {"messages": 1}
    assert any(e["kind"] == "timer_started" and e["details"]["flush"] and e["burst"] == second for e in events)
    assert kinds(events, second).count("message") == 2  # the two it answers; the redelivery is the dropped one
