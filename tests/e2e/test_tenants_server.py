"""`make run` with a TENANTS_FILE of two WhatsApp tenants, against fake Graph and OpenAI-compatible servers.

Each tenant's bursts are answered with its own token and system prompt, at its own window (1 s and 5 s); a number no
tenant has gets the deployment's. A tenants file with a mistake stops the server at start, naming tenant and key.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests import builders
from tests.e2e.conftest import _running, poll, request, run_debouncer, user_environment

FAST, SLOW = "106540352200011", "106540352200012"
TOKENS = {"FAST_WA_TOKEN": "EAAG-fast-line", "SLOW_WA_TOKEN": "EAAG-slow-line"}


def _tenants(directory: Path) -> Path:
    tenants = [
        {
            "id": "support",
            "channel": "whatsapp",
            "account": FAST,
            "settings": {"debounce_seconds": 1, "ai_system_prompt": "Support line."},
            "secrets": {"whatsapp_access_token": "env:FAST_WA_TOKEN"},
        },
        {
            "id": "sales",
            "channel": "whatsapp",
            "account": SLOW,
            "settings": {"debounce_seconds": 5, "ai_system_prompt": "Sales line."},
            "secrets": {"whatsapp_access_token": "env:SLOW_WA_TOKEN"},
        },
    ]
    path = directory / "tenants.json"
    path.write_text(json.dumps({"tenants": tenants}), encoding="utf-8")
    return path


def _payload(number: str, user: str, text: str) -> dict[str, Any]:
    payload = builders.whatsapp(user, builders.wa_message(user, f"wamid.{uuid.uuid4().hex}", text))
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = number
    return payload


def test_two_whatsapp_tenants_each_answer_with_their_own_token_prompt_and_window(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    sends: list[dict[str, Any]] = []
    prompts: dict[str, str] = {}

    def complete(req: Request) -> Response:
        body = req.get_json()
        user = str([m["content"] for m in body["messages"] if m["role"] == "user"][-1])
        prompts[user] = next(m["content"] for m in body["messages"] if m["role"] == "system")
        answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": f"re: {user}"}}]}
        return Response(json.dumps(answer), content_type="application/json")

    def send(req: Request) -> Response:
        sends.append({"path": req.path, "auth": req.headers.get("Authorization"), "at": time.monotonic()})
        return Response(
            json.dumps({"messages": [{"id": f"wamid.{uuid.uuid4().hex}"}]}), content_type="application/json"
        )

    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(complete)
    for number in (FAST, SLOW, builders.PHONE_NUMBER_ID):
        httpserver.expect_request(f"/v25.0/{number}/messages", method="POST").respond_with_handler(send)
    fake = httpserver.url_for("").rstrip("/")
    environment = {
        "TENANTS_FILE": str(_tenants(tmp_path)),
        "DEBOUNCE_SECONDS": "2",
        "MAX_WAIT_SECONDS": "10",
        "AI_PROVIDER": "openai",
        "OPENAI_BASE_URL": f"{fake}/v1",
        "OPENAI_MODEL": "local-model",
        "AI_SYSTEM_PROMPT": "The deployment's bot.",
        "WHATSAPP_API_BASE_URL": fake,
        "WHATSAPP_ACCESS_TOKEN": "EAAG-deployment",
        **TOKENS,
    }
    with _running(tmp_path, {"tenants": environment}) as started:
        server = started["tenants"]
        posted: dict[str, float] = {}
        # The slow line first: the fast one (1 s) must still answer before it (5 s)
        for number, text in ((SLOW, "a long question"), (FAST, "quick one"), (builders.PHONE_NUMBER_ID, "who?")):
            raw = builders.body(_payload(number, "15550001111", text))
            status, _, body = request(server.base, "POST", "/webhook/whatsapp", raw, builders.sign("whatsapp", raw))
            assert status == 200, body
            posted[number] = time.monotonic()
        poll(lambda: len(sends) == 3, timeout=40, what="three replies")

    by_path = {s["path"]: s for s in sends}
    assert by_path[f"/v25.0/{FAST}/messages"]["auth"] == f"Bearer {TOKENS['FAST_WA_TOKEN']}"
    assert by_path[f"/v25.0/{SLOW}/messages"]["auth"] == f"Bearer {TOKENS['SLOW_WA_TOKEN']}"
    assert by_path[f"/v25.0/{builders.PHONE_NUMBER_ID}/messages"]["auth"] == "Bearer EAAG-deployment"
    assert prompts == {"a long question": "Sales line.", "quick one": "Support line.", "who?": "The deployment's bot."}
    assert by_path[f"/v25.0/{FAST}/messages"]["at"] < by_path[f"/v25.0/{SLOW}/messages"]["at"]
    assert by_path[f"/v25.0/{SLOW}/messages"]["at"] - posted[SLOW] >= 5


def test_a_tenants_file_mistake_stops_the_server_naming_the_tenant_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    twice = [{"id": "sales", "channel": "whatsapp", "account": number} for number in (SLOW, FAST)]
    path.write_text(json.dumps({"tenants": twice}))
    done = run_debouncer("serve", "--port", "0", env=user_environment(TENANTS_FILE=str(path)), timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "tenant id 'sales' appears twice" in done.stderr
