"""Replies through each channel's real send API, served by a local fake of that API, with the state machine executed.

Every case asserts the exact requests the real API expects (path, headers, JSON) and what reached the user:
a long reply split at the channel's limit, 429 then success, a permanent error on the DLQ, a crash between parts.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from debouncer.domain.ports import TextLimit
from debouncer.domain.splitting import split_text
from tests import builders, payloads
from tests.conftest import RuntimeFactory, executions_settled, post, wait_for

WA_TOKEN = "EAAG-test-whatsapp-token"
TG_TOKEN = "7000000001:AAF-test-telegram-token"
IG_TOKEN = "IGQV-test-instagram-token"
_ids = itertools.count(1_000)


@dataclass(frozen=True)
class Channel:
    """How to talk to one channel: its inbound payload, and the outbound request its real API expects."""

    name: str
    limit: TextLimit
    path: str
    env: Callable[[str], dict[str, str]]
    inbound: Callable[[str, str], dict[str, Any]]  # (user, text) -> webhook payload
    request_json: Callable[[str, str], dict[str, Any]]  # (user, text) -> the send body
    ok: dict[str, Any]
    rate_limited: tuple[int, dict[str, Any], dict[str, str]]  # status, body, headers
    permanent: tuple[int, dict[str, Any], str]  # status, body, what the DLQ cause must name

    def headers_ok(self, request: Request) -> bool:
        if request.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return False
        auth = request.headers.get("Authorization")
        if self.name == "whatsapp":
            return auth == f"Bearer {WA_TOKEN}"
        if self.name == "instagram":
            return auth == f"Bearer {IG_TOKEN}"
        if self.name == "generic":
            expected = (
                "sha256=" + hmac.new(payloads.GENERIC_SECRET.encode(), request.get_data(), hashlib.sha256).hexdigest()
            )
            return request.headers.get("X-Signature-256") == expected
        return auth is None  # Telegram authenticates by the token in the path


def _unique() -> str:
    return uuid.uuid4().hex


CHANNELS = [
    Channel(
        name="whatsapp",
        limit=TextLimit(4096),
        path=f"/v25.0/{builders.PHONE_NUMBER_ID}/messages",
        env=lambda url: {
            "WHATSAPP_API_BASE_URL": url,
            "WHATSAPP_ACCESS_TOKEN": WA_TOKEN,
            "WHATSAPP_API_VERSION": "v25.0",
        },
        inbound=lambda user, text: builders.whatsapp(
            user, builders.wa_message(user, f"wamid.{uuid.uuid4().hex}", text)
        ),
        request_json=lambda user, text: {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": user,
            "type": "text",
            "text": {"preview_url": False, "body": text},
        },
        ok={"messaging_product": "whatsapp", "messages": [{"id": "wamid.sent"}]},
        rate_limited=(400, payloads.load("whatsapp_error_rate_limit"), {}),
        permanent=(
            400,
            {"error": {"message": "Re-engagement message", "type": "OAuthException", "code": 131047}},
            "131047",
        ),
    ),
    Channel(
        name="telegram",
        limit=TextLimit(4096, "utf16"),
        path=f"/bot{TG_TOKEN}/sendMessage",
        env=lambda url: {"TELEGRAM_API_BASE_URL": url, "TELEGRAM_BOT_TOKEN": TG_TOKEN},
        inbound=lambda user, text: builders.telegram(int(user), next(_ids), next(_ids), text),
        request_json=lambda user, text: {"chat_id": int(user), "text": text},
        ok={"ok": True, "result": {"message_id": 1454}},
        rate_limited=(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            },
            {},
        ),
        permanent=(
            403,
            {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
            "blocked",
        ),
    ),
    Channel(
        name="instagram",
        limit=TextLimit(1000, "bytes"),
        path=f"/v25.0/{builders.IG_ACCOUNT}/messages",
        env=lambda url: {
            "INSTAGRAM_API_BASE_URL": url,
            "INSTAGRAM_ACCESS_TOKEN": IG_TOKEN,
            "INSTAGRAM_API_VERSION": "v25.0",
        },
        inbound=lambda user, text: builders.instagram(user, f"aWdf{_unique()}", text),
        request_json=lambda user, text: {"recipient": {"id": user}, "message": {"text": text}},
        ok={"recipient_id": "x", "message_id": "aWdfsent"},
        rate_limited=(400, {"error": {"message": "(#4) Application request limit reached", "code": 4}}, {}),
        permanent=(
            400,
            {
                "error": {
                    "message": "(#10) This message is sent outside of allowed window.",
                    "code": 10,
                    "error_subcode": 2018278,
                }
            },
            "10",
        ),
    ),
    Channel(
        name="generic",
        limit=TextLimit(4096),
        path="/callback",
        env=lambda url: {"GENERIC_CALLBACK_URL": f"{url}/callback"},
        inbound=lambda user, text: builders.generic(user, f"m-{user}", text),  # one message per user here
        request_json=lambda user, text: {"conversation_id": user, "text": text, "in_reply_to": [f"m-{user}"]},
        ok={"ok": True},
        rate_limited=(429, {"error": "slow down"}, {"Retry-After": "1"}),
        permanent=(410, {"error": "conversation closed"}, "410"),
    ),
]


def _user() -> str:
    # Telegram chat ids are integers; the other channels take any id.
    return str(5_000_000_000 + uuid.uuid4().int % 1_000_000_000)


def _sends(server: HTTPServer, channel: Channel) -> list[tuple[dict[str, Any], int]]:
    """(JSON body, response status) of every send request the fake API received, oldest first."""
    sent = []
    for request, response in server.log:
        if request.path == channel.path:
            sent.append((json.loads(request.get_data()), response.status_code))
    return sent


def _texts(sends: list[tuple[dict[str, Any], int]], channel: Channel, *, delivered_only: bool = True) -> list[str]:
    key = {"whatsapp": ("text", "body"), "telegram": ("text",), "instagram": ("message", "text"), "generic": ("text",)}
    texts = []
    for body, status in sends:
        if delivered_only and status != 200:
            continue
        value: Any = body
        for part in key[channel.name]:
            value = value[part]
        texts.append(value)
    return texts


def _long_text(channel: Channel) -> str:
    """A message whose echoed answer needs two parts: multi-byte words where the channel counts bytes."""
    word = "café-ünïcode" if channel.limit.unit == "bytes" else "sentence"
    words = [f"{word}{i}" for i in range(channel.limit.size // (len(word) + 2))]
    return " ".join(words)


def _respond(channel: Channel, script: list[Response | None]) -> Callable[[Request], Response]:
    """A handler answering send requests from `script` in order (None: success), then always success."""
    remaining = list(script)

    def handle(request: Request) -> Response:
        if not channel.headers_ok(request):
            return Response(json.dumps({"error": "unexpected headers"}), status=401, content_type="application/json")
        planned = remaining.pop(0) if remaining else None
        return planned or Response(json.dumps(channel.ok), status=200, content_type="application/json")

    return handle


def _json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


def _start(start_runtime: RuntimeFactory, channel: Channel, server: HTTPServer, **extra: str) -> Any:
    return start_runtime(**channel.env(server.url_for("").rstrip("/")), **extra)


@pytest.fixture(params=CHANNELS, ids=lambda c: c.name)
def channel(request: pytest.FixtureRequest) -> Channel:
    return request.param  # type: ignore[no-any-return]


pytestmark = pytest.mark.slow


def test_long_reply_is_split_at_the_channel_limit_and_sent_once(
    start_runtime: RuntimeFactory, httpserver: HTTPServer, channel: Channel
) -> None:
    httpserver.expect_request(channel.path, method="POST").respond_with_handler(_respond(channel, []))
    runtime = _start(start_runtime, channel, httpserver)
    user, text = _user(), _long_text(channel)
    status, _ = post(runtime, channel.name, channel.inbound(user, text))
    assert status == 200

    sends = wait_for(lambda: len(_sends(httpserver, channel)) >= 2 and _sends(httpserver, channel))
    wait_for(lambda: executions_settled(runtime))
    parts = _texts(_sends(httpserver, channel), channel)
    answer = f"You said (1 message):\n{text}"
    assert len(parts) == 2, parts
    assert [body for body, _ in sends] == [channel.request_json(user, p) for p in parts]
    measure = {"chars": len, "utf16": lambda s: len(s.encode("utf-16-le")) // 2, "bytes": lambda s: len(s.encode())}
    assert all(measure[channel.limit.unit](p) <= channel.limit.size for p in parts)
    assert " ".join(parts).split() == answer.split(), "words lost, cut or reordered"
    assert parts == split_text(answer, channel.limit)
    assert runtime.dead_letters() == []


def test_rate_limited_send_is_retried_then_delivered_once(
    start_runtime: RuntimeFactory, httpserver: HTTPServer, channel: Channel
) -> None:
    status_code, body, headers = channel.rate_limited
    handler = _respond(channel, [_json_response(status_code, body, headers)])
    httpserver.expect_request(channel.path, method="POST").respond_with_handler(handler)
    runtime = _start(start_runtime, channel, httpserver)
    user = _user()
    assert post(runtime, channel.name, channel.inbound(user, "are you open today?"))[0] == 200

    wait_for(lambda: _texts(_sends(httpserver, channel), channel), timeout=30)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    sends = _sends(httpserver, channel)
    expected = channel.request_json(user, "You said (1 message):\nare you open today?")
    assert sends == [(expected, status_code), (expected, 200)]
    assert runtime.dead_letters() == []


def test_permanent_channel_error_lands_on_the_dead_letter_queue_with_its_reason(
    start_runtime: RuntimeFactory, httpserver: HTTPServer, channel: Channel
) -> None:
    status_code, body, reason = channel.permanent
    httpserver.expect_request(channel.path, method="POST").respond_with_json(body, status=status_code)
    runtime = _start(start_runtime, channel, httpserver)
    user = _user()
    assert post(runtime, channel.name, channel.inbound(user, "hello"))[0] == 200

    letters = wait_for(runtime.dead_letters, timeout=20)
    assert letters[0]["error"] == "PermanentError"
    assert reason in letters[0]["cause"] and channel.name in letters[0]["cause"].lower()
    for secret in (WA_TOKEN, TG_TOKEN, IG_TOKEN, payloads.GENERIC_SECRET):
        assert secret not in letters[0]["cause"]
    assert len(_sends(httpserver, channel)) == 1, "a permanent error must not be retried"


def test_crash_between_two_parts_does_not_resend_the_first(
    start_runtime: RuntimeFactory, httpserver: HTTPServer, channel: Channel
) -> None:
    # Part 1 goes through; the first attempt at part 2 finds the API down (a 503: the reply Lambda fails there).
    handler = _respond(channel, [None, Response("upstream down", status=503)])
    httpserver.expect_request(channel.path, method="POST").respond_with_handler(handler)
    runtime = _start(start_runtime, channel, httpserver)
    user = _user()
    assert post(runtime, channel.name, channel.inbound(user, _long_text(channel)))[0] == 200

    wait_for(lambda: len(_texts(_sends(httpserver, channel), channel)) >= 2, timeout=30)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    sends = _sends(httpserver, channel)
    first, second = _texts(sends, channel)
    assert [status for _, status in sends] == [200, 503, 200]
    assert _texts(sends, channel, delivered_only=False) == [first, second, second]
    assert runtime.dead_letters() == []


@pytest.mark.parametrize("channel", [c for c in CHANNELS if c.name != "generic"], ids=lambda c: c.name)
def test_claimed_burst_shows_typing_before_the_reply(
    start_runtime: RuntimeFactory, httpserver: HTTPServer, channel: Channel
) -> None:
    # The generic channel has no presence.
    httpserver.expect_request(re.compile(".*"), method="POST").respond_with_handler(_respond(channel, []))
    runtime = _start(start_runtime, channel, httpserver, SHOW_TYPING="true")
    user = _user()
    assert post(runtime, channel.name, channel.inbound(user, "hi"))[0] == 200

    reply = channel.request_json(user, "You said (1 message):\nhi")
    wait_for(lambda: reply in [json.loads(r.get_data()) for r, _ in httpserver.log], timeout=20)
    bodies = [json.loads(r.get_data()) for r, _ in httpserver.log]
    typing = {
        "whatsapp": {"messaging_product": "whatsapp", "status": "read", "typing_indicator": {"type": "text"}},
        "telegram": {"chat_id": int(user), "action": "typing"},
        "instagram": {"recipient": {"id": user}, "sender_action": "typing_on"},
    }[channel.name]
    shown = [i for i, body in enumerate(bodies) if typing.items() <= body.items()]
    assert shown and shown[0] < bodies.index(reply), bodies
