"""`make run`'s server configured for real channels and a real model, both faked locally: WhatsApp's Graph API and an
OpenAI-compatible endpoint. A burst must cost exactly one AI call and produce exactly one WhatsApp send."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from tests import builders
from tests.e2e.conftest import Server, _running, poll

TOKEN = "EAAG-e2e-whatsapp-token"
API_KEY = "sk-e2e-openai-key"
ANSWER = "We open at 9 and ship to Canada."

pytestmark = pytest.mark.slow


@pytest.fixture
def configured_server(httpserver: HTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`debouncer serve` with the issue's variables pointing at the fakes."""
    base = httpserver.url_for("").rstrip("/")
    environment = {
        "DEBOUNCE_SECONDS": "1",
        "MAX_WAIT_SECONDS": "5",
        "WHATSAPP_API_BASE_URL": f"{base}/graph",
        "WHATSAPP_API_VERSION": "v25.0",
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "AI_PROVIDER": "openai",
        "OPENAI_BASE_URL": f"{base}/openai/v1",
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_MODEL": "local-model",
        "AI_SYSTEM_PROMPT": "Answer briefly.",
    }
    with _running(tmp_path_factory.mktemp("real-channels"), {"real-channels": environment}) as started:
        yield started["real-channels"]


def test_a_burst_costs_one_ai_call_and_one_whatsapp_send(configured_server: Server, httpserver: HTTPServer) -> None:
    completion = {"choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}}]}
    httpserver.expect_request("/openai/v1/chat/completions", method="POST").respond_with_json(completion)
    sent = {"messaging_product": "whatsapp", "messages": [{"id": "wamid.reply"}]}
    path = f"/graph/v25.0/{builders.PHONE_NUMBER_ID}/messages"
    httpserver.expect_request(path, method="POST").respond_with_json(sent)

    user = f"1555{uuid.uuid4().int % 10**8:08d}"
    texts = ["hi", "are you open tomorrow?", "and do you ship to Canada?"]
    for i, text in enumerate(texts):
        raw = builders.body(builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}.{i}", text)))
        status, _, body = configured_server.http("POST", "/webhook/whatsapp", raw, builders.sign("whatsapp", raw))
        assert status == 200, body
        time.sleep(0.2)

    poll(lambda: any(r.path == path for r, _ in httpserver.log), timeout=30, what="the WhatsApp send")
    time.sleep(1.5)  # a second execution or a retried reply would show up within this
    ai_calls = [r for r, _ in httpserver.log if r.path.endswith("/chat/completions")]
    sends = [r for r, _ in httpserver.log if r.path == path]
    assert len(ai_calls) == 1, configured_server.log_tail()
    assert len(sends) == 1, configured_server.log_tail()

    ai_request = json.loads(ai_calls[0].get_data())
    assert ai_calls[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert ai_request["model"] == "local-model"
    assert ai_request["messages"][0] == {"role": "system", "content": "Answer briefly."}
    assert ai_request["messages"][-1] == {"role": "user", "content": "\n".join(texts)}

    assert sends[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(sends[0].get_data()) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": user,
        "type": "text",
        "text": {"preview_url": False, "body": ANSWER},
    }
    assert configured_server.replies_to(user) == [], "a channel with a token must not write to the outbox"
    for secret in (TOKEN, API_KEY):
        assert secret not in configured_server.log.read_text(errors="replace")
