"""The admin API on the real `debouncer serve`: pause, resume and status of a conversation, over HTTP.

Servers of their own (one per workflow type), answering with an OpenAI-compatible model faked here, which records
what it is asked: the AI's request shows what it was given as history, which the echo AI never shows.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from debouncer.domain.prompt import HUMAN_ANSWERED
from tests import builders
from tests.e2e.conftest import Server, _running, poll

pytestmark = pytest.mark.xdist_group("e2e-admin")

TOKEN = "local-admin-token"  # the local runtime's documented default (debouncer.local.runtime.DEV_DEFAULTS)
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
PAUSE, RESUME, STATUS = "/admin/conversations/pause", "/admin/conversations/resume", "/admin/conversations/status"
ADMIN_ENV = {"DEBOUNCE_SECONDS": "1", "MAX_WAIT_SECONDS": "4", "MAX_MESSAGES": "10"}
REPLY_TIMEOUT = 30.0
QUIET_WINDOW = 3.0  # past the 1 s debounce, rounded up to the next whole second, and then some
OTHER_PHONE_NUMBER_ID = "106540352242999"  # a second WhatsApp business number of the same deployment
ANSWER_PREFIX = "answered: "


class FakeModel(ThreadingHTTPServer):
    """POST /v1/chat/completions: answers "answered: <the last user turn>", and keeps every request body."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ModelHandler)

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def asked(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.requests)


class _ModelHandler(BaseHTTPRequestHandler):
    server: FakeModel
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        with self.server.lock:
            self.server.requests.append(request)
        content = ANSWER_PREFIX + str(request["messages"][-1]["content"])
        body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def model() -> Iterator[FakeModel]:
    fake = FakeModel()
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.shutdown()
        fake.server_close()


@pytest.fixture(scope="module")
def admin_servers(model: FakeModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    ai = {"AI_PROVIDER": "openai", "OPENAI_BASE_URL": model.base, "OPENAI_API_KEY": "sk-e2e", "OPENAI_MODEL": "m"}
    environments = {kind: {**ADMIN_ENV, **ai, "WORKFLOW_TYPE": kind} for kind in ("STANDARD", "EXPRESS")}
    log_dir: Path = tmp_path_factory.mktemp("e2e-admin-server")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("ADMIN_TOKEN", raising=False)  # the servers must take the local default, not a developer's token
        with _running(log_dir, environments) as started:
            env.undo()
            yield started


@pytest.fixture(scope="module")
def admin_server(admin_servers: dict[str, Server]) -> Server:
    return admin_servers["STANDARD"]


def wa_user() -> str:
    return "1555" + str(uuid.uuid4().int % 10**8).zfill(8)


def post_wa(server: Server, user: str, mid: str, text: str, account: str = builders.PHONE_NUMBER_ID) -> None:
    payload = builders.whatsapp(user, builders.wa_message(user, mid, text))
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = account
    raw = builders.body(payload)
    status, _, body = server.http("POST", "/webhook/whatsapp", raw, builders.sign("whatsapp", raw))
    assert (status, json.loads(body)) == (200, {"accepted": 1, "duplicates": 0}), body
    known(server, "whatsapp", user, account)


def known(server: Server, channel: str, recipient: str, account: str | None = None, conversations: int = 1) -> None:
    """Wait until the admin API knows the conversation(s): from the claim of their first burst."""
    query = f"channel={channel}&recipient={recipient}" + (f"&account={account}" if account else "")

    def found() -> bool:
        status, _, answer = admin(server, "GET", STATUS, query=query)
        return status == 200 and answer["conversations"] >= conversations

    poll(found, timeout=REPLY_TIMEOUT, what=f"the admin API knows {channel} conversations of {recipient}")


def admin(
    server: Server, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, query: str = ""
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """(status, headers, JSON answer) of one admin request, with the local bearer token unless `headers` are given."""
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    status, response_headers, answer = server.http(
        method, path + (f"?{query}" if query else ""), raw, AUTH if headers is None else headers
    )
    assert response_headers.get("Content-Type", "").startswith("application/json"), (status, response_headers)
    return status, response_headers, json.loads(answer)


def status_of(server: Server, channel: str, recipient: str, account: str | None = None) -> dict[str, Any]:
    query = f"channel={channel}&recipient={recipient}" + (f"&account={account}" if account else "")
    status, _, answer = admin(server, "GET", STATUS, query=query)
    assert status == 200, answer
    return answer


def replies(server: Server, recipient: str, count: int) -> list[dict[str, Any]]:
    """At least `count` replies to `recipient`, oldest first."""
    found: list[dict[str, Any]] = poll(
        lambda: r if len(r := server.replies_to(recipient)) >= count else None,
        timeout=REPLY_TIMEOUT,
        what=f"{count} replies to {recipient}",
    )
    return found


def quiet_after_control(server: Server) -> None:
    """A positive control answered, then the rest of a quiet window: the pipeline has had its chance to reply."""
    control = wa_user()
    post_wa(server, control, f"wamid.admin.{control}", "control")
    started = time.monotonic()
    replies(server, control, 1)
    time.sleep(max(0.0, QUIET_WINDOW - (time.monotonic() - started)))


def iso_epoch(text: str) -> float:
    """Epoch seconds of an ISO 8601 UTC time as the admin API writes it ("2025-01-31T12:00:00Z")."""
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.removesuffix("Z") + "+00:00").timestamp()


def test_admin_routes_refuse_a_missing_or_wrong_token(admin_server: Server) -> None:
    user = wa_user()
    post_wa(admin_server, user, f"wamid.admin.{user}", "hello")
    pause = {"channel": "whatsapp", "recipient": user, "seconds": 600}
    refused = [
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
    ]
    for headers in refused:
        for method, path, body, query in [
            ("POST", PAUSE, pause, ""),
            ("POST", RESUME, {"channel": "whatsapp", "recipient": user}, ""),
            ("GET", STATUS, None, f"channel=whatsapp&recipient={user}"),
        ]:
            status, response_headers, answer = admin(admin_server, method, path, body, headers, query)
            assert status == 401, (headers, path, answer)
            assert response_headers.get("WWW-Authenticate") == "Bearer", response_headers
            assert isinstance(answer["error"], str) and answer["error"], answer
    # Refused before the body is even read: a malformed one is a 401 too, not a 400.
    assert admin(admin_server, "POST", PAUSE, b"not json", {})[0] == 401
    # Nothing was paused by the refused requests; the right token is taken (scheme case-insensitive).
    assert status_of(admin_server, "whatsapp", user)["paused"] is False
    lower = {"Authorization": f"bearer {TOKEN}"}
    assert admin(admin_server, "GET", STATUS, headers=lower, query=f"channel=whatsapp&recipient={user}")[0] == 200


def test_an_unknown_conversation_is_404(admin_server: Server) -> None:
    user, nobody = wa_user(), wa_user()
    post_wa(admin_server, user, f"wamid.admin.{user}", "hello")
    for channel, recipient, account in [
        ("whatsapp", nobody, None),
        ("telegram", user, None),  # the right recipient on another channel
        ("whatsapp", user, OTHER_PHONE_NUMBER_ID),  # in an account it never wrote to
    ]:
        conversation = {"channel": channel, "recipient": recipient} | ({"account": account} if account else {})
        query = "&".join(f"{k}={v}" for k, v in conversation.items())
        for method, path, body in [
            ("POST", PAUSE, conversation | {"seconds": 60}),
            ("POST", RESUME, conversation),
            ("GET", STATUS, None),
        ]:
            status, _, answer = admin(admin_server, method, path, body, query=query if method == "GET" else "")
            assert status == 404, (conversation, path, answer)
            assert "no known" in answer["error"], answer
    assert status_of(admin_server, "whatsapp", user)["paused"] is False


def test_malformed_requests_are_400_and_store_nothing(admin_server: Server) -> None:
    user = wa_user()
    post_wa(admin_server, user, f"wamid.admin.{user}", "hello")
    good = {"channel": "whatsapp", "recipient": user, "seconds": 600}
    bodies: list[tuple[Any, str]] = [
        (b"not json", "JSON object"),
        (b"", "JSON object"),
        (b"[1, 2]", "JSON object"),
        (b'"pause"', "JSON object"),
        ({**good, "channel": "sms"}, "channel must be one of"),
        ({k: v for k, v in good.items() if k != "channel"}, "missing field 'channel'"),
        ({k: v for k, v in good.items() if k != "recipient"}, "missing field 'recipient'"),
        ({**good, "recipient": "   "}, "recipient must be"),
        ({**good, "recipient": True}, "recipient must be"),
        ({**good, "recipient": None}, "recipient must be"),
        ({k: v for k, v in good.items() if k != "seconds"}, "missing field 'seconds'"),
        ({**good, "seconds": 0}, "seconds must be"),
        ({**good, "seconds": -60}, "seconds must be"),
        ({**good, "seconds": 1.5}, "seconds must be"),
        ({**good, "seconds": "600"}, "seconds must be"),
        ({**good, "seconds": True}, "seconds must be"),
        ({**good, "seconds": 30 * 86_400 + 1}, "seconds must be"),
        ({**good, "until": "tomorrow"}, "unknown field 'until'"),
        ({**good, "account": ""}, "account, when given, must be"),
    ]
    for body, expected in bodies:
        status, _, answer = admin(admin_server, "POST", PAUSE, body)
        assert status == 400 and expected in answer["error"], (body, answer)
    for body, expected in [
        ({"channel": "whatsapp", "recipient": user, "seconds": 60}, "unknown field 'seconds'"),
        ({"channel": "whatsapp"}, "missing field 'recipient'"),
        (b"{", "JSON object"),
    ]:
        status, _, answer = admin(admin_server, "POST", RESUME, body)
        assert status == 400 and expected in answer["error"], (body, answer)
    for query, expected in [
        (f"recipient={user}", "missing field 'channel'"),
        (f"channel=slack&recipient={user}", "channel must be one of"),
        (f"channel=whatsapp&recipient={user}&seconds=5", "unknown field 'seconds'"),
        ("channel=whatsapp&recipient=", "recipient must be"),
    ]:
        status, _, answer = admin(admin_server, "GET", STATUS, query=query)
        assert status == 400 and expected in answer["error"], (query, answer)
    assert status_of(admin_server, "whatsapp", user) == {
        "channel": "whatsapp",
        "recipient": user,
        "account": builders.PHONE_NUMBER_ID,
        "paused": False,
        "paused_until": None,
        "conversations": 1,
    }


def test_other_methods_on_admin_paths_are_405_with_allow(admin_server: Server) -> None:
    for method, path, allow in [
        ("PUT", PAUSE, "POST"),
        ("GET", PAUSE, "POST"),
        ("DELETE", RESUME, "POST"),
        ("PUT", RESUME, "POST"),
        ("POST", STATUS, "GET"),
        ("PUT", STATUS, "GET"),
    ]:
        status, headers, answer = admin(admin_server, method, path, {"channel": "whatsapp"})
        assert (status, headers.get("Allow")) == (405, allow), (method, path, answer)
        assert "not allowed" in answer["error"], answer


@pytest.mark.parametrize("kind", ["STANDARD", "EXPRESS"])
def test_paused_messages_are_not_answered_and_are_history_after_resume(
    admin_servers: dict[str, Server], model: FakeModel, kind: str
) -> None:
    server = admin_servers[kind]
    user = wa_user()
    mid = [f"wamid.admin.{user}.{i}" for i in range(4)]
    # GIVEN a conversation the bot has answered once
    post_wa(server, user, mid[0], "hello")
    [first] = replies(server, user, 1)
    assert first["text"] == ANSWER_PREFIX + "hello"

    # WHEN an admin pauses it for ten minutes
    before = time.time()
    status, _, paused = admin(server, "POST", PAUSE, {"channel": "whatsapp", "recipient": user, "seconds": 600})
    assert status == 200, paused
    until = iso_epoch(paused["paused_until"])
    assert int(before) + 600 <= until <= time.time() + 600, paused
    assert {k: v for k, v in paused.items() if k != "paused_until"} == {
        "channel": "whatsapp",
        "recipient": user,
        "account": builders.PHONE_NUMBER_ID,
        "paused": True,
        "conversations": 1,
    }
    assert status_of(server, "whatsapp", user) == paused
    # AND the person writes while a human has the conversation
    post_wa(server, user, mid[1], "my order is late")
    post_wa(server, user, mid[2], "order 42")

    # THEN nothing answers them
    quiet_after_control(server)
    assert server.replies_to(user) == [first]

    # WHEN the admin resumes, and the person writes again
    status, _, resumed = admin(server, "POST", RESUME, {"channel": "whatsapp", "recipient": user})
    assert status == 200, resumed
    assert (resumed["paused"], resumed["paused_until"], resumed["conversations"]) == (False, None, 1)
    assert status_of(server, "whatsapp", user)["paused"] is False
    last = f"are you there? ({user})"
    post_wa(server, user, mid[3], last)

    # THEN that message alone is answered
    _, second = replies(server, user, 2)
    assert second["message_ids"] == [mid[3]]
    assert second["text"] == ANSWER_PREFIX + last
    # AND the model saw the paused messages as history: the person's turn, the human's answer in the bot's place
    asked = [r for r in model.asked() if r["messages"][-1]["content"] == last]
    assert asked, "the model was never asked about the message written after the resume"
    for request in asked:  # one, unless an at-least-once duplicate asked again: each saw the same
        turns = [(m["role"], m["content"]) for m in request["messages"] if m["role"] != "system"]
        assert turns == [
            ("user", "hello"),
            ("assistant", ANSWER_PREFIX + "hello"),
            ("user", "my order is late\norder 42"),
            ("assistant", HUMAN_ANSWERED),
            ("user", last),
        ], turns

    time.sleep(QUIET_WINDOW)  # a late answer to the paused messages would show up here
    assert server.replies_to(user) == [first, second]


def test_a_recipient_in_two_accounts_needs_the_account(admin_server: Server) -> None:
    user = wa_user()
    main, other = builders.PHONE_NUMBER_ID, OTHER_PHONE_NUMBER_ID
    # GIVEN one person writing to two business numbers of the deployment
    post_wa(admin_server, user, f"wamid.admin.{user}.main.0", "hi main")
    post_wa(admin_server, user, f"wamid.admin.{user}.other.0", "hi other", account=other)
    assert sorted(r["account_id"] for r in replies(admin_server, user, 2)) == sorted([main, other])

    # THEN without an account each route is a 409 naming how many accounts
    conversation = {"channel": "whatsapp", "recipient": user}
    for method, path, body in [("POST", PAUSE, conversation | {"seconds": 600}), ("POST", RESUME, conversation)]:
        status, _, answer = admin(admin_server, method, path, body)
        assert status == 409 and "2 whatsapp accounts" in answer["error"], answer
        assert main not in answer["error"] and other not in answer["error"], answer
    status, _, answer = admin(admin_server, "GET", STATUS, query=f"channel=whatsapp&recipient={user}")
    assert status == 409, answer

    # WHEN the account is given, only that conversation is paused
    status, _, paused = admin(admin_server, "POST", PAUSE, conversation | {"seconds": 600, "account": other})
    assert status == 200 and (paused["account"], paused["paused"], paused["conversations"]) == (other, True, 1)
    assert status_of(admin_server, "whatsapp", user, other)["paused"] is True
    assert status_of(admin_server, "whatsapp", user, main)["paused"] is False
    post_wa(admin_server, user, f"wamid.admin.{user}.main.1", "again main")
    post_wa(admin_server, user, f"wamid.admin.{user}.other.1", "again other", account=other)
    replies(admin_server, user, 3)
    quiet_after_control(admin_server)
    answered = [r["message_ids"] for r in admin_server.replies_to(user)]
    assert [f"wamid.admin.{user}.main.1"] in answered
    assert [f"wamid.admin.{user}.other.1"] not in answered, answered

    status, _, resumed = admin(admin_server, "POST", RESUME, conversation | {"account": other})
    assert status == 200 and (resumed["paused"], resumed["conversations"]) == (False, 1), resumed
    assert status_of(admin_server, "whatsapp", user, other)["paused"] is False


def test_the_topics_of_a_telegram_forum_are_paused_and_resumed_together(admin_server: Server) -> None:
    chat = -(10**12 + uuid.uuid4().int % 10**9)  # a supergroup's id
    for thread in (7, 9):
        update = builders.telegram_topic_message(chat, thread, update_id=thread, message_id=thread * 10, text="hi")
        raw = builders.body(update)
        status, _, body = admin_server.http("POST", "/webhook/telegram", raw, builders.sign("telegram", raw))
        assert status == 200, body
    known(admin_server, "telegram", str(chat), conversations=2)

    # A chat id is a number in Telegram's API: taken as a JSON number too.
    status, _, paused = admin(admin_server, "POST", PAUSE, {"channel": "telegram", "recipient": chat, "seconds": 60})
    assert status == 200 and (paused["recipient"], paused["conversations"]) == (str(chat), 2), paused
    assert status_of(admin_server, "telegram", str(chat))["paused"] is True
    status, _, resumed = admin(admin_server, "POST", RESUME, {"channel": "telegram", "recipient": str(chat)})
    assert status == 200 and (resumed["paused"], resumed["conversations"]) == (False, 2), resumed
    assert status_of(admin_server, "telegram", str(chat))["paused"] is False
