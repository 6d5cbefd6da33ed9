"""Many bots in one deployment: each tenant's bursts go out with its own token, system prompt, model and window.

The local runtime loads TENANTS_FILE into the table as Terraform does on AWS; the functions read it from there. The
channels' send APIs and the AI are local fakes of the real ones (pytest-httpserver), checked request by request.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from debouncer.domain.errors import ConfigurationError
from debouncer.local.runtime import DEV_DEFAULTS
from tests import builders, payloads
from tests.conftest import RuntimeFactory, executions_settled, wait_for

CLINIC, SALES, BROKEN = "106540352200001", "106540352200002", "106540352200003"
IG_SHOP = "17841400000000777"
GLOBAL_TOKEN = "EAAG-global-token"
SUPPORT_BOT, SHOP_BOT = "7000000101", "7000000202"


def _tenants(tmp_path: Path) -> Path:
    document = {
        "tenants": [
            {
                "id": "clinic",
                "channel": "whatsapp",
                "account": CLINIC,
                "settings": {"debounce_seconds": 1, "ai_system_prompt": "You are the clinic.", "openai_model": "m-a"},
                "secrets": {"whatsapp_access_token": "env:CLINIC_WA_TOKEN"},
            },
            {
                "id": "sales",
                "channel": "whatsapp",
                "account": SALES,
                "settings": {"debounce_seconds": 5, "ai_system_prompt": "You are sales.", "openai_model": "m-b"},
                "secrets": {
                    "whatsapp_access_token": "env:SALES_WA_TOKEN",
                    "meta_app_secret": "env:SALES_APP_SECRET",
                    "meta_verify_token": "env:SALES_VERIFY_TOKEN",
                },
            },
            {
                "id": "broken",
                "channel": "whatsapp",
                "account": BROKEN,
                "settings": {"debounce_seconds": 1},
                # Its token's variable is not set: only its own bursts can fail for it.
                "secrets": {"whatsapp_access_token": "env:BROKEN_WA_TOKEN"},
            },
            {
                "id": "acme",
                "channel": "generic",
                "account": "acme",
                "settings": {"ai_system_prompt": "You are Acme's bot."},
                "secrets": {"generic_secret": "env:ACME_SECRET"},
            },
            {
                "id": "shop-ig",
                "channel": "instagram",
                "account": IG_SHOP,
                "settings": {"ai_system_prompt": "You are the shop on Instagram."},
                "secrets": {"instagram_access_token": "env:SHOP_IG_TOKEN", "meta_app_secret": "env:SHOP_APP_SECRET"},
            },
            {
                "id": "support-bot",
                "channel": "telegram",
                "account": SUPPORT_BOT,
                "settings": {"ai_system_prompt": "You are support on Telegram."},
                "secrets": {
                    "telegram_bot_token": "env:SUPPORT_TG_TOKEN",
                    "telegram_secret_token": "env:SUPPORT_TG_SECRET",
                },
            },
        ]
    }
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


SECRETS = {
    "CLINIC_WA_TOKEN": "EAAG-clinic-token",
    "SALES_WA_TOKEN": "EAAG-sales-token",
    "SALES_APP_SECRET": "sales-app-secret",
    "SALES_VERIFY_TOKEN": "sales-verify-token",
    "SHOP_IG_TOKEN": "IGQV-shop-token",
    "SHOP_APP_SECRET": "shop-app-secret",
    "SUPPORT_TG_TOKEN": "7000000101:AAF-support-token",
    "SUPPORT_TG_SECRET": "support-secret",
    "ACME_SECRET": "acme-generic-secret",
}


class Fakes:
    """The Graph, Instagram, Telegram and OpenAI-compatible APIs, recording what each request carried."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.sends: list[dict[str, Any]] = []
        self.prompts: list[dict[str, Any]] = []
        server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self._complete)
        server.expect_request(f"/v25.0/{IG_SHOP}/messages", method="POST").respond_with_handler(self._send("instagram"))
        for number in (CLINIC, SALES, BROKEN, builders.PHONE_NUMBER_ID):
            server.expect_request(f"/v25.0/{number}/messages", method="POST").respond_with_handler(
                self._send("whatsapp")
            )
        server.expect_request(f"/bot{SECRETS['SUPPORT_TG_TOKEN']}/sendMessage", method="POST").respond_with_handler(
            self._send("telegram")
        )

    def _complete(self, request: Request) -> Response:
        body = request.get_json()
        system = next(m["content"] for m in body["messages"] if m["role"] == "system")
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        self.prompts.append({"model": body["model"], "system": system, "user": str(user), "at": time.monotonic()})
        answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": f"answer to {user}"}}]}
        return Response(json.dumps(answer), content_type="application/json")

    def _send(self, channel: str) -> Any:
        def handle(request: Request) -> Response:
            body = request.get_json()
            self.sends.append(
                {
                    "channel": channel,
                    "path": request.path,
                    "authorization": request.headers.get("Authorization"),
                    "text": body.get("text", {}).get("body") if channel == "whatsapp" else None,
                    "body": body,
                    "at": time.monotonic(),
                }
            )
            ok = {"messages": [{"id": f"wamid.{uuid.uuid4().hex}"}], "message_id": "m", "recipient_id": "r"}
            if channel == "telegram":
                ok = {"ok": True, "result": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}}}
            return Response(json.dumps(ok), content_type="application/json")

        return handle

    def sent_to(self, path_part: str) -> list[dict[str, Any]]:
        return [s for s in self.sends if path_part in s["path"]]


@pytest.fixture
def fakes(httpserver: HTTPServer) -> Fakes:
    return Fakes(httpserver)


@pytest.fixture
def tenant_runtime(start_runtime: RuntimeFactory, fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    url = fakes.server.url_for("").rstrip("/")
    return start_runtime(
        TENANTS_FILE=str(_tenants(tmp_path)),
        DEBOUNCE_SECONDS="2",
        MAX_WAIT_SECONDS="10",
        AI_PROVIDER="openai",
        OPENAI_BASE_URL=f"{url}/v1",
        OPENAI_MODEL="global-model",
        AI_SYSTEM_PROMPT="You are the global bot.",
        WHATSAPP_API_BASE_URL=url,
        WHATSAPP_ACCESS_TOKEN=GLOBAL_TOKEN,
        INSTAGRAM_API_BASE_URL=url,
        TELEGRAM_API_BASE_URL=url,
    )


def _whatsapp(number: str, user: str, text: str) -> dict[str, Any]:
    payload = builders.whatsapp(user, builders.wa_message(user, f"wamid.{uuid.uuid4().hex}", text))
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = number
    return payload


def _post(runtime: Any, path: str, payload: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    status, _, body = runtime.http("POST", path, body=builders.body(payload), headers=headers)
    return status, json.loads(body)


def _signed(payload: dict[str, Any]) -> dict[str, str]:
    """Signed with the deployment's own Meta app secret (the local development one)."""
    return builders.sign("whatsapp", builders.body(payload))


def _meta_headers(raw: bytes, secret: str) -> dict[str, str]:
    return {payloads.META_HEADER: payloads.meta_signature(secret, raw)}


def test_each_whatsapp_tenant_answers_with_its_own_token_prompt_model_and_window(
    tenant_runtime: Any, fakes: Fakes
) -> None:
    # GIVEN the sales line (5 s window, its own Meta app) written to first, then the clinic (1 s) and an unknown number
    sales = _whatsapp(SALES, "15550000002", "I need a quote")
    raw = builders.body(sales)
    assert _post(tenant_runtime, "/webhook/whatsapp", sales, _meta_headers(raw, SECRETS["SALES_APP_SECRET"]))[0] == 200
    sales_posted = time.monotonic()
    clinic = _whatsapp(CLINIC, "15550000001", "Can I book Monday?")
    assert (
        _post(tenant_runtime, "/webhook/whatsapp", clinic, builders.sign("whatsapp", builders.body(clinic)))[0] == 200
    )
    other = _whatsapp(builders.PHONE_NUMBER_ID, "15550000003", "hello?")
    assert _post(tenant_runtime, "/webhook/whatsapp", other, _signed(other))[0] == 200

    wait_for(lambda: len(fakes.sends) == 3, timeout=40)
    wait_for(lambda: executions_settled(tenant_runtime), timeout=20)

    # THEN each number's reply went out through its own number with its own token
    by_path = {s["path"]: s for s in fakes.sends}
    assert by_path[f"/v25.0/{CLINIC}/messages"]["authorization"] == f"Bearer {SECRETS['CLINIC_WA_TOKEN']}"
    assert by_path[f"/v25.0/{SALES}/messages"]["authorization"] == f"Bearer {SECRETS['SALES_WA_TOKEN']}"
    # AND a number no tenant has is the deployment's own: its token, prompt and model
    assert by_path[f"/v25.0/{builders.PHONE_NUMBER_ID}/messages"]["authorization"] == f"Bearer {GLOBAL_TOKEN}"
    prompts = {p["user"]: p for p in fakes.prompts}
    assert (prompts["Can I book Monday?"]["system"], prompts["Can I book Monday?"]["model"]) == (
        "You are the clinic.",
        "m-a",
    )
    assert (prompts["I need a quote"]["system"], prompts["I need a quote"]["model"]) == ("You are sales.", "m-b")
    assert (prompts["hello?"]["system"], prompts["hello?"]["model"]) == ("You are the global bot.", "global-model")
    # AND each at its own window: the clinic (1 s) answered before sales (5 s), though sales wrote first, and sales
    # not before its 5 s of quiet
    assert by_path[f"/v25.0/{CLINIC}/messages"]["at"] < by_path[f"/v25.0/{SALES}/messages"]["at"]
    assert prompts["I need a quote"]["at"] - sales_posted >= 5


def test_a_tenant_whose_token_is_missing_dead_letters_only_its_own_bursts(tenant_runtime: Any, fakes: Fakes) -> None:
    broken = _whatsapp(BROKEN, "15550000021", "anyone there?")
    clinic = _whatsapp(CLINIC, "15550000022", "and here?")
    for payload in (broken, clinic):
        assert _post(tenant_runtime, "/webhook/whatsapp", payload, _signed(payload))[0] == 200
    letters: list[dict[str, Any]] = []  # reading the DLQ takes its records: gather them as they come
    wait_for(lambda: letters.extend(tenant_runtime.dead_letters()) or (letters and fakes.sent_to(CLINIC)), timeout=40)
    wait_for(lambda: executions_settled(tenant_runtime), timeout=20)
    [letter] = letters + tenant_runtime.dead_letters()
    assert "BROKEN_WA_TOKEN is not set" in json.dumps(letter)
    assert fakes.sent_to(BROKEN) == [] and len(fakes.sent_to(CLINIC)) == 1


def test_a_tenant_behind_its_own_meta_app_refuses_the_deployments_signature(tenant_runtime: Any, fakes: Fakes) -> None:
    sales = _whatsapp(SALES, "15550000009", "signed by the wrong app")
    status, body = _post(tenant_runtime, "/webhook/whatsapp", sales, builders.sign("whatsapp", builders.body(sales)))
    assert status == 401, body
    # AND a payload naming two tenants must carry a signature each of their apps accepts
    both = _whatsapp(SALES, "15550000010", "two accounts")
    both["entry"].append(_whatsapp(CLINIC, "15550000011", "second")["entry"][0])
    raw = builders.body(both)
    assert _post(tenant_runtime, "/webhook/whatsapp", both, _meta_headers(raw, SECRETS["SALES_APP_SECRET"]))[0] == 401
    time.sleep(1)
    assert fakes.sends == [] and tenant_runtime.executions() == []


def test_an_instagram_tenant_is_found_by_its_business_account(tenant_runtime: Any, fakes: Fakes) -> None:
    payload = builders.instagram("ig-user-1", f"ig.{uuid.uuid4().hex}", "is it in stock?")
    for entry in payload["entry"]:
        entry["id"] = IG_SHOP
        entry["messaging"][0]["recipient"]["id"] = IG_SHOP
    raw = builders.body(payload)
    assert _post(tenant_runtime, "/webhook/instagram", payload, builders.sign("instagram", raw))[0] == 401
    assert (
        _post(tenant_runtime, "/webhook/instagram", payload, _meta_headers(raw, SECRETS["SHOP_APP_SECRET"]))[0] == 200
    )
    wait_for(lambda: fakes.sent_to(f"/{IG_SHOP}/messages"), timeout=30)
    [send] = fakes.sent_to(f"/{IG_SHOP}/messages")
    assert send["authorization"] == f"Bearer {SECRETS['SHOP_IG_TOKEN']}"
    assert fakes.prompts[-1]["system"] == "You are the shop on Instagram."


def test_a_telegram_tenant_posts_to_its_own_path_with_its_own_secret(tenant_runtime: Any, fakes: Fakes) -> None:
    update = builders.telegram(4242, 1, 1, "where is my order?")
    raw = builders.body(update)
    tenant_path = "/webhook/telegram/support-bot"
    good = {payloads.TELEGRAM_HEADER: SECRETS["SUPPORT_TG_SECRET"]}
    # The deployment's secret is not the tenant's; a tenant no one configured is not found
    assert _post(tenant_runtime, tenant_path, update, builders.sign("telegram", raw))[0] == 401
    assert _post(tenant_runtime, "/webhook/telegram/nobody", update, good)[0] == 404
    assert _post(tenant_runtime, tenant_path, update, good)[0] == 200
    wait_for(lambda: fakes.sent_to("/sendMessage"), timeout=30)
    [send] = fakes.sent_to("/sendMessage")
    assert send["path"] == f"/bot{SECRETS['SUPPORT_TG_TOKEN']}/sendMessage"
    assert send["body"]["chat_id"] == 4242
    assert fakes.prompts[-1]["system"] == "You are support on Telegram."
    # AND its conversation is keyed by the tenant's bot, apart from the deployment's
    assert any(SUPPORT_BOT in e["conversation_key"] for e in _execution_inputs(tenant_runtime))


def _execution_inputs(runtime: Any) -> list[dict[str, Any]]:
    return [e["input"] for e in runtime.executions()]


def test_a_tenants_file_mistake_names_the_tenant_and_the_key(start_runtime: RuntimeFactory, tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_text(
        json.dumps(
            {"tenants": [{"id": "clinic", "channel": "whatsapp", "account": CLINIC, "settings": {"debounce": 3}}]}
        )
    )
    with pytest.raises(ConfigurationError, match=r"tenant 'clinic' \(tenants\[0\]\) settings.debounce: Extra inputs"):
        start_runtime(TENANTS_FILE=str(path))


def test_a_generic_tenant_is_named_by_the_account_field_and_signs_with_its_own_secret(
    tenant_runtime: Any, fakes: Fakes
) -> None:
    payload = builders.generic("ticket-7", f"gen.{uuid.uuid4().hex}", "my order is late")
    payload["account"] = "acme"
    raw = builders.body(payload)
    assert _post(tenant_runtime, "/webhook/generic", payload, builders.sign("generic", raw))[0] == 401
    acme_signed = {payloads.GENERIC_HEADER: payloads.meta_signature(SECRETS["ACME_SECRET"], raw)}
    assert _post(tenant_runtime, "/webhook/generic", payload, acme_signed)[0] == 200
    wait_for(lambda: [e for e in tenant_runtime.outbox.entries() if e["recipient"] == "ticket-7"], timeout=30)
    assert fakes.prompts[-1]["system"] == "You are Acme's bot."
    assert [e["conversation_key"] for e in _execution_inputs(tenant_runtime)] == ["generic#acme#ticket-7"]


def test_the_subscription_handshake_accepts_the_deployments_or_a_tenants_verify_token(tenant_runtime: Any) -> None:
    def handshake(token: str) -> int:
        query = f"hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        return tenant_runtime.http("GET", "/webhook/whatsapp", query=query)[0]

    assert handshake(DEV_DEFAULTS["META_VERIFY_TOKEN"]) == 200  # the deployment's app
    assert handshake(SECRETS["SALES_VERIFY_TOKEN"]) == 200  # the sales line's own Meta app
    assert handshake("someone-elses-token") == 403
