"""Local fakes of the outside world the pipeline talks to: the four channels' send APIs and an OpenAI-compatible AI.

Both answer from a fault plan keyed by conversation, and log every request with the answer they gave, so the oracle
can tell a delivered reply from a refused attempt. Both listen on 127.0.0.1 only, one thread per request (an AI that
sleeps past the client's timeout must not hold up every other conversation).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests import builders, payloads
from tests.reliability.workload import Workload, tokens_in

WA_TOKEN = "EAAG-reliability-whatsapp-token"
TG_TOKEN = "7000000002:AAF-reliability-telegram-token"
IG_TOKEN = "IGQV-reliability-instagram-token"
API_VERSION = "v25.0"
CALLBACK = "/callback"
# One access-log line per request would bury a failure's output.
logging.getLogger("werkzeug").setLevel(logging.WARNING)
COMPLETIONS = "/v1/chat/completions"
FALLBACK = "Sorry, I can't answer right now."

# Where each channel's sender POSTs a text reply.
SEND_PATHS = {
    f"/{API_VERSION}/{builders.PHONE_NUMBER_ID}/messages": "whatsapp",
    f"/bot{TG_TOKEN}/sendMessage": "telegram",
    f"/{API_VERSION}/{builders.IG_ACCOUNT}/messages": "instagram",
    CALLBACK: "generic",
}

# (status, body, headers) per channel: the shapes the real APIs answer with (docs/channels.md).
Canned = tuple[int, dict[str, Any], dict[str, str]]
SERVER_ERROR: dict[str, Canned] = {
    "whatsapp": (500, {"error": {"message": "(#2) Service temporarily unavailable", "code": 2}}, {}),
    "telegram": (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}, {}),
    "instagram": (500, {"error": {"message": "An unexpected error has occurred.", "code": 2}}, {}),
    "generic": (503, {"error": "upstream down"}, {}),
}
RATE_LIMITED: dict[str, Canned] = {
    "whatsapp": (429, payloads.load("whatsapp_error_rate_limit"), {"Retry-After": "1"}),
    "telegram": (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
        {},
    ),
    "instagram": (
        429,
        {"error": {"message": "(#613) Calls to this api have exceeded the rate limit.", "code": 613}},
        {},
    ),
    "generic": (429, {"error": "slow down"}, {"Retry-After": "1"}),
}
# ... and what the DLQ record's cause must say for each permanent error.
PERMANENT: dict[str, tuple[int, dict[str, Any], str]] = {
    "whatsapp": (400, {"error": {"message": "Re-engagement message", "code": 131047}}, "131047"),
    "telegram": (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
        "blocked",
    ),
    "instagram": (
        400,
        {"error": {"message": "(#10) Outside of allowed window.", "code": 10, "error_subcode": 2018278}},
        "error 10",
    ),
    "generic": (410, {"error": "conversation closed"}, "HTTP 410"),
}
OK: dict[str, dict[str, Any]] = {
    "whatsapp": {"messaging_product": "whatsapp", "messages": [{"id": "wamid.sent"}]},
    "telegram": {"ok": True, "result": {"message_id": 1}},
    "instagram": {"recipient_id": "x", "message_id": "aWdfsent"},
    "generic": {"ok": True},
}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


@contextmanager
def serving() -> Iterator[HTTPServer]:
    """A threaded fake server on 127.0.0.1, stopped on exit."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


@dataclass(frozen=True)
class Send:
    """One send request a channel API received, when, and the status it answered."""

    channel: str
    conversation: int
    text: str
    status: int
    at: float = 0.0  # time.time() when the request arrived
    # The ids of the messages the reply answers, as the channel sees them: the generic callback's in_reply_to (the
    # other channels' payloads name none); None where the payload carries none.
    in_reply_to: tuple[str, ...] | None = None

    @property
    def delivered(self) -> bool:
        """Whether the user got this part."""
        return self.status == 200


@dataclass
class ChannelPlan:
    """Per conversation: answers scripted for its first send attempts, or a permanent refusal for all of them."""

    scripted: dict[int, list[str]] = field(default_factory=dict)  # "server_error" | "rate_limited"
    permanent: set[int] = field(default_factory=set)


class ChannelApis:
    """The send APIs of WhatsApp, Telegram, Instagram and the generic callback, on one local server."""

    def __init__(self, server: HTTPServer, workload: Workload, plan: ChannelPlan | None = None) -> None:
        self._server = server
        self._workload = workload
        self._plan = plan or ChannelPlan()
        self._lock = threading.Lock()
        self._scripts = {conversation: list(script) for conversation, script in self._plan.scripted.items()}
        self.sends: list[Send] = []
        self.injected: Counter[str] = Counter()
        self.unexpected: list[str] = []
        server.expect_request(re.compile("^/"), method="POST").respond_with_handler(self._handle)

    def environment(self) -> dict[str, str]:
        """The settings that point every channel's real sender at this server."""
        url = self._server.url_for("").rstrip("/")
        return {
            "WHATSAPP_API_BASE_URL": url,
            "WHATSAPP_ACCESS_TOKEN": WA_TOKEN,
            "WHATSAPP_API_VERSION": API_VERSION,
            "TELEGRAM_API_BASE_URL": url,
            "TELEGRAM_BOT_TOKEN": TG_TOKEN,
            "INSTAGRAM_API_BASE_URL": url,
            "INSTAGRAM_ACCESS_TOKEN": IG_TOKEN,
            "INSTAGRAM_API_VERSION": API_VERSION,
            "GENERIC_CALLBACK_URL": url + CALLBACK,
        }

    def _handle(self, request: Request) -> Response:
        channel = SEND_PATHS.get(request.path)
        body = json.loads(request.get_data() or b"{}")
        if channel is None:
            return self._refuse(f"unexpected request {request.path}", 404)
        at = time.time()
        recipient, text = _recipient_and_text(channel, body)
        in_reply_to = tuple(body["in_reply_to"]) if channel == "generic" and "in_reply_to" in body else None
        conversation = self._workload.by_recipient.get((channel, recipient))
        if conversation is None:
            return self._refuse(f"{channel}: send to unknown recipient {recipient!r}", 400)
        with self._lock:
            if conversation.index in self._plan.permanent:
                fault = "permanent"
            else:
                script = self._scripts.get(conversation.index)
                fault = script.pop(0) if script else "ok"
            self.injected[fault] += 1
        if fault == "permanent":
            status, error, _ = PERMANENT[channel]
            response = _json(status, error)
        elif fault == "server_error":
            status, error, headers = SERVER_ERROR[channel]
            response = _json(status, error, headers)
        elif fault == "rate_limited":
            status, error, headers = RATE_LIMITED[channel]
            response = _json(status, error, headers)
        else:
            response = _json(200, OK[channel])
        with self._lock:
            self.sends.append(Send(channel, conversation.index, text, response.status_code, at, in_reply_to))
        return response

    def _refuse(self, why: str, status: int) -> Response:
        with self._lock:
            self.unexpected.append(why)
        return _json(status, {"error": why})


def _recipient_and_text(channel: str, body: dict[str, Any]) -> tuple[str, str]:
    if channel == "whatsapp":
        return str(body["to"]), str(body["text"]["body"])
    if channel == "telegram":
        return str(body["chat_id"]), str(body["text"])
    if channel == "instagram":
        return str(body["recipient"]["id"]), str(body["message"]["text"])
    return str(body["conversation_id"]), str(body["text"])


@dataclass
class AIPlan:
    """Conversations whose first request per burst outlasts the client's timeout, and those where every one does;
    and how long an answer may be held while the person writes a follow-up (AsksListener)."""

    slow_once: set[int] = field(default_factory=set)
    always_slow: set[int] = field(default_factory=set)
    sleep_seconds: float = 1.6
    hold_seconds: float = 0.0


class AsksListener(Protocol):
    """Told about every request (the message tokens it asks about); returns an event to hold the answer until."""

    def ai_asked(self, tokens: list[tuple[int, int]]) -> threading.Event | None: ...


class OpenAICompatibleFake:
    """Answers chat completions like the echo AI (so replies name their messages), slowly where the plan says.

    With a listener, each request is announced to it first; when it hands back an event (a follow-up is being
    posted), the answer waits for it, at most plan.hold_seconds: the person writes while the AI is answering.
    """

    def __init__(self, server: HTTPServer, plan: AIPlan | None = None) -> None:
        self._server = server
        self._plan = plan or AIPlan()
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self.listener: AsksListener | None = None
        self.requests: Counter[str] = Counter()  # "fast" | "slow" | "held"
        server.expect_request(COMPLETIONS, method="POST").respond_with_handler(self._handle)

    def environment(self, timeout_seconds: float) -> dict[str, str]:
        """The settings that make process_message use this endpoint, with bounded attempts and a fallback."""
        return {
            "AI_PROVIDER": "openai",
            "OPENAI_BASE_URL": self._server.url_for("/v1"),
            "OPENAI_MODEL": "reliability-echo",
            "AI_TIMEOUT_SECONDS": str(timeout_seconds),
            "AI_MAX_ATTEMPTS": "2",
            "AI_FALLBACK_MESSAGE": FALLBACK,
        }

    def _handle(self, request: Request) -> Response:
        burst = json.loads(request.get_data())["messages"][-1]["content"]
        tokens = tokens_in(burst)
        conversation = tokens[0][0] if tokens else -1
        with self._lock:
            first_time = burst not in self._seen
            self._seen.add(burst)
            slow = conversation in self._plan.always_slow or (first_time and conversation in self._plan.slow_once)
            self.requests["slow" if slow else "fast"] += 1
        landed = self.listener.ai_asked(tokens) if self.listener is not None else None
        if slow:
            time.sleep(self._plan.sleep_seconds)
        elif landed is not None:
            with self._lock:
                self.requests["held"] += 1
            landed.wait(self._plan.hold_seconds)
        lines = burst.splitlines()
        answer = f"You said ({len(lines)} messages):\n{burst}"
        return _json(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]})
