"""The local console's server side against `debouncer serve`: the page and its assets, composing signed messages, the
live event stream of each conversation's decision log, the fixtures list and a replay's progress on the stream."""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import pytest

from debouncer.local.console_live import SUBSCRIBER_CAPACITY, ConsoleHub, changed_conversations
from tests.e2e.conftest import Server

pytestmark = pytest.mark.xdist_group("e2e")

STREAM_TIMEOUT = 30.0


class EventStream:
    """A plain HTTP client of GET /local/stream: its events, one at a time, as (event, data)."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self._response = response

    def next(self) -> tuple[str, Any]:
        """The next event (keepalive comments skipped); TimeoutError when none comes within STREAM_TIMEOUT."""
        event, data = "message", list[str]()
        while True:
            line = self._response.readline().decode()
            if not line:
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if not line:
                if data:
                    return event, json.loads("\n".join(data))
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)

    def until(self, predicate: Callable[[str, Any], bool], what: str) -> tuple[str, Any]:
        """The first event that satisfies `predicate`, within STREAM_TIMEOUT."""
        deadline = time.monotonic() + STREAM_TIMEOUT
        while time.monotonic() < deadline:
            event, data = self.next()
            if predicate(event, data):
                return event, data
        pytest.fail(f"no {what} on the stream within {STREAM_TIMEOUT}s")


@contextmanager
def stream(server: Server) -> Iterator[tuple[EventStream, dict[str, Any]]]:
    """An open console stream and its snapshot."""
    parsed = urllib.parse.urlsplit(server.base)
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=STREAM_TIMEOUT)
    try:
        connection.request("GET", "/local/stream")
        response = connection.getresponse()
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache"
        events = EventStream(response)
        event, snapshot = events.next()
        assert event == "snapshot"
        yield events, snapshot
    finally:
        connection.close()


def post_json(server: Server, path: str, document: object) -> tuple[int, Any]:
    status, _, body = server.http("POST", path, json.dumps(document).encode(), {"Content-Type": "application/json"})
    return status, json.loads(body)


def unique_users() -> dict[str, str]:
    """One new sender per channel (a WhatsApp wa_id and a Telegram chat id are digits)."""
    stamp = str(time.time_ns())[-10:]
    return {
        "whatsapp": f"1555{stamp}",
        "telegram": f"7{stamp}",
        "instagram": f"9{stamp}",
        "generic": f"console-{stamp}",
    }


def test_the_page_and_its_assets_are_served_and_nothing_outside_their_directory(server: Server) -> None:
    status, headers, body = server.http("GET", "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert body == resources.files("debouncer.local").joinpath("console", "index.html").read_bytes()
    status, headers, _ = server.http("GET", "/console/index.html")
    assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    wanted = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
    shipped = {name for name in wanted if resources.files("debouncer.local").joinpath("console", name).is_file()}
    for name in shipped:  # the page's own files, once they are written
        status, headers, _ = server.http("GET", f"/console/{name}")
        assert (status, headers["Content-Type"]) == (200, wanted[name])
    for path in (
        "/console/../server.py",
        "/console/..%2Fserver.py",
        "/console/%2e%2e/runtime.py",
        "/console/../../../pyproject.toml",
        "/console/.hidden.js",
        "/console/missing.js",
        "/console/index.py",
    ):
        status, headers, body = _raw_get(server, path)
        assert status == 404, path
        assert headers["Content-Type"] == "application/json"
        assert "error" in json.loads(body)


def _raw_get(server: Server, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET with the path sent exactly as written (urllib would not normalize it, but be explicit)."""
    parsed = urllib.parse.urlsplit(server.base)
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=15)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.headers.items()), response.read()
    finally:
        connection.close()


def test_a_composed_message_per_channel_is_signed_answered_and_streamed(server: Server) -> None:
    users = unique_users()
    with stream(server) as (events, snapshot):
        assert snapshot["settings"]["debounce_seconds"] == server.settings["debounce_seconds"]
        assert isinstance(snapshot["conversations"], list)
        # WHEN the console composes one message on each channel
        for channel, user in users.items():
            status, answer = post_json(
                server, "/local/compose", {"channel": channel, "user": user, "text": f"hello from {channel}"}
            )
            # THEN the webhook accepted it: the signature was the channel's
            assert (status, answer) == (200, {"status": 200, "response": {"accepted": 1, "duplicates": 0}})
        # AND the stream shows each conversation with its message, then with the reply part sent
        shown: dict[str, set[str]] = {channel: set() for channel in users}
        while any(not {"message", "part_sent"} <= kinds for kinds in shown.values()):
            _, conversation = events.until(
                lambda event, data: event == "conversation" and data["recipient"] in users.values(),
                "conversation event",
            )
            channel = conversation["channel"]
            assert conversation["recipient"] == users[channel]
            assert len(conversation["key_ref"]) == 12
            timeline = conversation["timeline"]
            messages = [e for e in timeline if e["kind"] == "message"]
            assert [m["details"]["text"] for m in messages] == [f"hello from {channel}"]
            if any(e["kind"] == "waiting" for e in timeline):
                waiting = conversation["open"]
                assert waiting["quiet_deadline"] > messages[0]["at"]
                assert waiting["cap_deadline"] >= waiting["quiet_deadline"]
            shown[channel] |= {e["kind"] for e in timeline}
            if "part_sent" in shown[channel]:
                assert conversation["open"] is None
                answered = [e for e in timeline if e["kind"] == "answered"]
                assert f"hello from {channel}" in answered[0]["details"]["text"]
    replied = {str(entry["recipient"]) for entry in server.outbox()}
    assert set(users.values()) <= replied


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "sms", "user": "15550009999", "text": "hi"},
        {"channel": "whatsapp", "user": "15550009998", "text": ""},
        {"channel": "whatsapp", "user": "15550009997", "text": "   "},
        {"channel": "whatsapp", "text": "hi"},
        {"channel": "telegram", "user": "not-a-chat-id", "text": "hi"},
        {"channel": "whatsapp", "user": "15550009996", "text": "hi", "tenant": "no-such-tenant"},
        ["not", "an", "object"],
    ],
    ids=["unknown channel", "empty text", "blank text", "no user", "telegram user", "unknown tenant", "not object"],
)
def test_a_bad_compose_body_is_refused_and_stores_nothing(server: Server, body: object) -> None:
    status, answer = post_json(server, "/local/compose", body)
    assert status == 400
    assert "error" in answer
    user = body.get("user") if isinstance(body, dict) else None
    if isinstance(user, str) and user.isdigit():
        query = urllib.parse.urlencode({"channel": "whatsapp", "recipient": user})
        status, _, _ = server.http("GET", f"/local/explain?{query}")
        assert status == 404


def test_the_fixtures_are_listed(server: Server) -> None:
    status, _, body = server.http("GET", "/local/fixtures")
    assert status == 200
    listed = {entry["name"]: entry for entry in json.loads(body)}
    generic = listed["generic-burst.json"]
    assert generic["events"] == 5
    assert generic["bursts"] == 1
    assert generic["description"].startswith("The generic JSON channel")
    assert all(set(entry) == {"name", "description", "events", "bursts"} for entry in listed.values())


def test_a_bad_replay_request_is_refused(server: Server) -> None:
    bodies: tuple[dict[str, Any], ...] = (
        {"files": ["no-such-fixture.json"]},
        {"files": []},
        {"files": ["generic-burst.json"], "speed": 0},
        {"files": ["generic-burst.json"], "speed": "fast"},
    )
    for body in bodies:
        status, answer = post_json(server, "/local/replay", body)
        assert status == 400, body
        assert "error" in answer


def test_a_replay_pushes_each_expectation_and_its_end_on_the_stream(replay_server: Server) -> None:
    with stream(replay_server) as (events, _):
        status, answer = post_json(replay_server, "/local/replay", {"files": ["generic-burst.json"], "speed": 1})
        assert status == 202
        replay = answer["replay"]
        reported: list[dict[str, Any]] = []
        while not (reported and reported[-1].get("done")):
            _, data = events.until(lambda event, data: event == "replay" and data["replay"] == replay, "replay event")
            reported.append(data)
    results = [r for r in reported if not r.get("done")]
    assert {(r["file"], r["status"]) for r in results} == {
        ("generic-burst.json", "running"),
        ("generic-burst.json", "passed"),
    }
    passed = [r["burst"] for r in results if r["status"] == "passed"]
    assert sorted(passed) == sorted(
        ["three signed messages, forged ones left out", "an unsigned request stores nothing"]
    )
    assert reported[-1] == {"replay": replay, "done": True, "passed": True}


# --- the hub on its own ---------------------------------------------------------------------------------------------


def test_a_stalled_console_is_dropped_without_holding_up_the_others() -> None:
    hub = ConsoleHub(rebuild=lambda key: None)
    stalled, live = hub.subscribe(), hub.subscribe()
    received = []
    try:
        for index in range(SUBSCRIBER_CAPACITY + 10):
            hub.publish("conversation", {"index": index})  # never waits: the stalled queue fills, then is dropped
            received.append(live.frames.get_nowait())
        assert stalled.dropped and not live.dropped
        assert stalled.frames.qsize() == SUBSCRIBER_CAPACITY
        assert len(received) == SUBSCRIBER_CAPACITY + 10
        assert received[-1] == f'event: conversation\ndata: {{"index": {SUBSCRIBER_CAPACITY + 9}}}\n\n'.encode()
    finally:
        hub.close()


def test_closing_the_hub_ends_an_idle_stream() -> None:
    hub = ConsoleHub(rebuild=lambda key: None)
    frames: queue.Queue[bytes] = queue.Queue()

    def read() -> None:
        for chunk in hub.stream(lambda: {"conversations": []}):
            frames.put(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert frames.get(timeout=5).startswith(b"event: snapshot\n")
    hub.close()
    reader.join(timeout=5)
    assert not reader.is_alive()


def test_a_write_names_the_conversations_it_touches() -> None:
    transaction = {
        "TransactItems": [
            {"Update": {"Key": {"pk": {"S": "whatsapp#1#2"}, "sk": {"S": "buffer"}}}},
            {"Put": {"Item": {"pk": {"S": "telegram#bot#3"}, "sk": {"S": "turn#1"}}}},
            {"Put": {"Item": {"pk": {"S": "recipient#whatsapp#2"}, "sk": {"S": "whatsapp#1#2"}}}},
        ]
    }
    found = changed_conversations("dynamodb:TransactWriteItems", json.dumps(transaction))
    assert found == {"whatsapp#1#2", "telegram#bot#3"}
    assert changed_conversations("dynamodb:PutItem", b'{"Item": {"pk": {"S": "tenant"}}}') == set()
    hub = ConsoleHub(rebuild=lambda key: None)
    hub.table_written("dynamodb:UpdateItem", b"{}")  # no console listens: nothing is kept
    assert hub._writes.empty()
