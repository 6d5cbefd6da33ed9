"""Channel senders against a local fake of each channel's API (pytest-httpserver): exact requests, error mapping."""

from __future__ import annotations

import email.utils
import json
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from debouncer.adapters.outbox import Outbox, OutboxSender
from debouncer.adapters.senders.generic import GenericSender
from debouncer.adapters.senders.instagram import InstagramSender
from debouncer.adapters.senders.telegram import TelegramSender
from debouncer.adapters.senders.whatsapp import WhatsAppSender
from debouncer.channels.signatures import verify_generic_signature
from debouncer.domain.errors import PermanentError, RetryableError
from debouncer.domain.ports import ChannelSender, OutboundMessage, TextLimit
from tests.payloads import load

# Every credential holds "s3cr3t", so one search proves none leaked.
LEAK = "s3cr3t"
WA_TOKEN = "EAAG-wa-s3cr3t-token"
TG_TOKEN = "7000000001:tg-s3cr3t-token"
IG_TOKEN = "IGAA-ig-s3cr3t-token"
GENERIC_SECRET = "generic-s3cr3t"

VERSION = "v25.0"
PHONE_NUMBER_ID = "106540352242922"
IG_ID = "17841400000000001"
WAMID = load("whatsapp_typing_request")["message_id"]
TEXT = load("whatsapp_send_text_request")["text"]["body"]
JSON = {"Content-Type": "application/json"}

WA_MESSAGE = OutboundMessage("whatsapp", PHONE_NUMBER_ID, "16505551234", TEXT, ("wamid.earlier", WAMID))
TG_MESSAGE = OutboundMessage("telegram", "7000000001", "123456789", TEXT, ("123456789:1452",))
IG_MESSAGE = OutboundMessage("instagram", IG_ID, "1059000000000042", TEXT, ("aWdfZAG1faXRlbTox",))
GENERIC_MESSAGE = OutboundMessage("generic", "default", "customer-42", TEXT, ("msg-0001", "msg-0002"))


@pytest.fixture(autouse=True)
def no_unexpected_requests(httpserver: HTTPServer) -> Iterator[None]:
    """A request no handler expected (wrong path, header or body) fails the test, whatever the sender did."""
    yield
    httpserver.check_assertions()


Server = HTTPServer | str  # the fake API, or the root URL of one


def root(server: Server) -> str:
    return server if isinstance(server, str) else server.url_for("/")


def whatsapp(server: Server, token: Callable[[], str] = lambda: WA_TOKEN, **kwargs: Any) -> WhatsAppSender:
    return WhatsAppSender(root(server), VERSION, token, **kwargs)


def telegram(server: Server, token: Callable[[], str] = lambda: TG_TOKEN, **kwargs: Any) -> TelegramSender:
    return TelegramSender(root(server), token, **kwargs)


def instagram(server: Server, **kwargs: Any) -> InstagramSender:
    return InstagramSender(root(server), VERSION, lambda: IG_TOKEN, **kwargs)


def generic(server: Server, secret: Callable[[], str] = lambda: GENERIC_SECRET, **kwargs: Any) -> GenericSender:
    return GenericSender(root(server) + "callback", secret, **kwargs)


def failure(call: Callable[[], object], kind: type[RetryableError | PermanentError]) -> str:
    """The message of the error `call` raises, checked to be exactly `kind` and free of credentials."""
    with pytest.raises(kind) as caught:
        call()
    # Step Functions matches the error's class name: a subclass would not be retried (or dead-lettered).
    assert type(caught.value) is kind
    # The whole rendered traceback, chained exceptions included, as a log line or the DLQ would show it.
    assert LEAK not in "".join(traceback.format_exception(caught.value))
    return str(caught.value)


def bodies(server: HTTPServer) -> list[Any]:
    return [json.loads(request.get_data()) for request, _ in server.log]


def meta_error(code: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC", **extra}}


def http_date_in(seconds: int) -> str:
    return email.utils.formatdate(time.time() + seconds, usegmt=True)


# --- WhatsApp -----------------------------------------------------------------------------------------------


def test_whatsapp_send_posts_the_documented_text_message(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        f"/{VERSION}/{PHONE_NUMBER_ID}/messages",
        method="POST",
        headers={"Authorization": f"Bearer {WA_TOKEN}", **JSON},
        json=load("whatsapp_send_text_request"),
    ).respond_with_json(load("whatsapp_send_response"))

    sent = whatsapp(httpserver).send(WA_MESSAGE)

    assert len(httpserver.log) == 1
    # The wamid the Cloud API gave the sent message: messages[0].id.
    assert sent == "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCMDAwMDAwMDAwMDAwMDAwMwA="


def test_whatsapp_uses_the_default_phone_number_id_when_the_message_has_none(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v25.0/555000111/messages", method="POST").respond_with_json({})

    whatsapp(httpserver, default_phone_number_id="555000111").send(
        OutboundMessage("whatsapp", "", "16505551234", "hi", ("wamid.1",))
    )

    assert len(httpserver.log) == 1


def test_whatsapp_without_any_phone_number_id_fails_permanently_before_calling(httpserver: HTTPServer) -> None:
    message = OutboundMessage("whatsapp", "", "16505551234", "hi", ("wamid.1",))
    assert "phone number id" in failure(lambda: whatsapp(httpserver).send(message), PermanentError)
    assert httpserver.log == []


def test_whatsapp_show_typing_marks_the_last_message_read_with_the_typing_indicator(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        f"/{VERSION}/{PHONE_NUMBER_ID}/messages",
        method="POST",
        headers={"Authorization": f"Bearer {WA_TOKEN}", **JSON},
        json=load("whatsapp_typing_request"),
    ).respond_with_json({"success": True})

    whatsapp(httpserver).show_typing(WA_MESSAGE)

    assert len(httpserver.log) == 1


def test_whatsapp_show_typing_without_a_message_id_sends_nothing(httpserver: HTTPServer) -> None:
    whatsapp(httpserver).show_typing(OutboundMessage("whatsapp", PHONE_NUMBER_ID, "16505551234", "", ()))
    assert httpserver.log == []


def test_whatsapp_reads_the_token_on_every_request(httpserver: HTTPServer) -> None:
    # GIVEN a token that rotates between two sends (Powertools refreshes its cached parameter)
    httpserver.expect_request(f"/{VERSION}/{PHONE_NUMBER_ID}/messages").respond_with_json({})
    tokens = iter(["EAAG-first", "EAAG-second"])
    sender = whatsapp(httpserver, token=lambda: next(tokens))
    # WHEN both are sent
    sender.send(WA_MESSAGE)
    sender.send(WA_MESSAGE)
    # THEN each request carries the token current at the time
    assert [r.headers["Authorization"] for r, _ in httpserver.log] == ["Bearer EAAG-first", "Bearer EAAG-second"]


def test_whatsapp_rate_limit_is_retryable_after_the_retry_after_header(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/{VERSION}/{PHONE_NUMBER_ID}/messages").respond_with_json(
        load("whatsapp_error_rate_limit"), status=429, headers={"Retry-After": "7"}
    )

    message = failure(lambda: whatsapp(httpserver).send(WA_MESSAGE), RetryableError)

    assert "HTTP 429" in message
    assert "130429" in message
    assert "Cloud API message throughput has been reached." in message


def test_whatsapp_retry_after_as_an_http_date(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/{VERSION}/{PHONE_NUMBER_ID}/messages").respond_with_json(
        load("whatsapp_error_rate_limit"), status=429, headers={"Retry-After": http_date_in(30)}
    )
    with pytest.raises(RetryableError) as caught:
        whatsapp(httpserver).send(WA_MESSAGE)
    assert caught.value.retry_after is not None
    assert 27 <= caught.value.retry_after <= 30


def test_whatsapp_retry_after_is_taken_from_the_header(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/{VERSION}/{PHONE_NUMBER_ID}/messages").respond_with_json(
        load("whatsapp_error_rate_limit"), status=429, headers={"Retry-After": "7"}
    )
    with pytest.raises(RetryableError) as caught:
        whatsapp(httpserver).send(WA_MESSAGE)
    assert caught.value.retry_after == 7


@pytest.mark.parametrize("code", [130429, 131056, 80007, 4, 131000, 131016, 1, 2, 131057])
def test_whatsapp_transient_codes_are_retryable_whatever_the_http_status(httpserver: HTTPServer, code: int) -> None:
    httpserver.expect_request(f"/{VERSION}/{PHONE_NUMBER_ID}/messages").respond_with_json(
        meta_error(code, f"(#{code}) Something transient"), status=400
    )
    message = failure(lambda: whatsapp(httpserver).send(WA_MESSAGE), RetryableError)
    assert f"error {code}" in message
    assert "Something transient" in message


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (131047, "24 h customer-service window closed"),
        (131026, "undeliverable"),
        (131051, "unsupported message type"),
        (131009, "invalid parameter value"),
        (190, "access token invalid or expired"),
        (131048, "spam rate limit"),
        (131062, "BSUID"),
        (100, ""),  # any other 4xx
    ],
)
def test_whatsapp_permanent_codes(httpserver: HTTPServer, code: int, reason: str) -> None:
    httpserver.expect_request(f"/{VERSION}/{PHONE_NUMBER_ID}/messages").respond_with_json(
        meta_error(code, f"(#{code}) What the API says", error_data={"details": "More detail."}), status=400
    )
    message = failure(lambda: whatsapp(httpserver).send(WA_MESSAGE), PermanentError)
    assert f"whatsapp: HTTP 400, error {code}" in message
    assert reason in message
    assert f"(#{code}) What the API says; More detail." in message
    assert "fbtrace_id AbC" in message


def test_whatsapp_invalid_wamid_on_show_typing_is_permanent(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/{VERSION}/{PHONE_NUMBER_ID}/messages").respond_with_json(
        meta_error(131009, "(#131009) Parameter value is not valid"), status=400
    )
    assert "131009" in failure(lambda: whatsapp(httpserver).show_typing(WA_MESSAGE), PermanentError)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_whatsapp_5xx_without_a_json_body_is_retryable(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request(f"/{VERSION}/{PHONE_NUMBER_ID}/messages").respond_with_data("<html>oops</html>", status)
    assert f"HTTP {status}" in failure(lambda: whatsapp(httpserver).send(WA_MESSAGE), RetryableError)


# --- Telegram -----------------------------------------------------------------------------------------------


def test_telegram_send_posts_plain_text_to_send_message(httpserver: HTTPServer) -> None:
    # The fixture quotes a message; a reply answers the whole burst, so it quotes none.
    expected = {k: v for k, v in load("telegram_send_message_request").items() if k != "reply_parameters"}
    httpserver.expect_request(
        f"/bot{TG_TOKEN}/sendMessage", method="POST", headers=JSON, json=expected
    ).respond_with_json(load("telegram_send_message_response"))

    sent = telegram(httpserver).send(TG_MESSAGE)

    assert len(httpserver.log) == 1
    assert "Authorization" not in httpserver.log[0][0].headers
    # The form inbound Telegram message ids take: f"{chat.id}:{message_id}".
    assert sent == "123456789:1454"


def test_telegram_sent_id_names_the_chat_the_api_answers_with(httpserver: HTTPServer) -> None:
    # An @username recipient: the answer's chat.id is the numeric id inbound messages of that chat carry.
    httpserver.expect_request(f"/bot{TG_TOKEN}/sendMessage").respond_with_json(
        {"ok": True, "result": {"message_id": 88, "chat": {"id": -1001234567890, "type": "channel"}}}
    )
    sent = telegram(httpserver).send(OutboundMessage("telegram", "7000000001", "@news", "hi", ("x",)))
    assert sent == "-1001234567890:88"


@pytest.mark.parametrize(("recipient", "expected"), [("-1001234567890", "-1001234567890:88"), ("@news", None)])
def test_telegram_sent_id_without_a_chat_in_the_answer(
    httpserver: HTTPServer, recipient: str, expected: str | None
) -> None:
    # A numeric recipient is the chat id; an @username is not the form inbound ids take, so no id.
    httpserver.expect_request(f"/bot{TG_TOKEN}/sendMessage").respond_with_json(
        {"ok": True, "result": {"message_id": 88}}
    )
    assert telegram(httpserver).send(OutboundMessage("telegram", "7000000001", recipient, "hi", ("x",))) == expected


@pytest.mark.parametrize(
    ("recipient", "chat_id"), [("123456789", 123456789), ("-1001234567890", -1001234567890), ("@news", "@news")]
)
def test_telegram_chat_id_is_an_int_when_numeric(httpserver: HTTPServer, recipient: str, chat_id: object) -> None:
    httpserver.expect_request(f"/bot{TG_TOKEN}/sendMessage").respond_with_json({"ok": True, "result": {}})
    telegram(httpserver).send(OutboundMessage("telegram", "7000000001", recipient, "hi", ("x",)))
    assert bodies(httpserver) == [{"chat_id": chat_id, "text": "hi"}]


def test_telegram_replies_in_the_forum_topic(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/bot{TG_TOKEN}/sendMessage").respond_with_json({"ok": True, "result": {}})
    httpserver.expect_request(f"/bot{TG_TOKEN}/sendChatAction").respond_with_json({"ok": True, "result": True})
    message = OutboundMessage("telegram", "7000000001", "-1001234567890", "hi", ("x",), thread_id="77")
    sender = telegram(httpserver)

    sender.send(message)
    sender.show_typing(message)

    assert bodies(httpserver) == [
        {"chat_id": -1001234567890, "text": "hi", "message_thread_id": 77},
        {"chat_id": -1001234567890, "action": "typing", "message_thread_id": 77},
    ]


def test_telegram_show_typing_sends_the_typing_chat_action(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        f"/bot{TG_TOKEN}/sendChatAction", method="POST", headers=JSON, json=load("telegram_send_chat_action_request")
    ).respond_with_json({"ok": True, "result": True})

    telegram(httpserver).show_typing(TG_MESSAGE)

    assert len(httpserver.log) == 1


def test_telegram_flood_control_is_retryable_after_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/bot{TG_TOKEN}/sendMessage").respond_with_json(
        load("telegram_error_too_many_requests"), status=429
    )
    with pytest.raises(RetryableError) as caught:
        telegram(httpserver).send(TG_MESSAGE)
    assert caught.value.retry_after == 35
    message = failure(lambda: telegram(httpserver).send(TG_MESSAGE), RetryableError)
    assert "HTTP 429, error 429: Too Many Requests: retry after 35" in message


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (400, "Bad Request: message is too long"),
        (401, "Unauthorized"),
        (403, "Forbidden: bot was blocked by the user"),
        (404, "Not Found"),
    ],
)
def test_telegram_client_errors_are_permanent(httpserver: HTTPServer, status: int, description: str) -> None:
    httpserver.expect_request(f"/bot{TG_TOKEN}/sendMessage").respond_with_json(
        {"ok": False, "error_code": status, "description": description}, status=status
    )
    message = failure(lambda: telegram(httpserver).send(TG_MESSAGE), PermanentError)
    assert f"telegram sendMessage: HTTP {status}, error {status}: {description}" in message


def test_telegram_migrated_group_is_permanent_and_names_the_new_chat(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/bot{TG_TOKEN}/sendMessage").respond_with_json(
        {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": -1001987654321},
        },
        status=400,
    )
    message = failure(lambda: telegram(httpserver).send(TG_MESSAGE), PermanentError)
    assert "group chat was upgraded to a supergroup chat" in message
    assert "-1001987654321" in message


def test_telegram_ok_false_in_a_200_is_an_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/bot{TG_TOKEN}/sendMessage").respond_with_json(
        {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    )
    assert "chat not found" in failure(lambda: telegram(httpserver).send(TG_MESSAGE), PermanentError)


@pytest.mark.parametrize("status", [500, 502])
def test_telegram_5xx_is_retryable(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request(f"/bot{TG_TOKEN}/sendMessage").respond_with_data("Bad Gateway", status)
    assert f"HTTP {status}" in failure(lambda: telegram(httpserver).send(TG_MESSAGE), RetryableError)


def test_telegram_token_never_reaches_the_logs(httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    # httpx logs each request's URL at INFO, and this URL holds the bot token.
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request(f"/bot{TG_TOKEN}/sendMessage").respond_with_json({"ok": True, "result": {}})
    httpserver.expect_request(f"/bot{TG_TOKEN}/sendChatAction").respond_with_data("", 502)

    telegram(httpserver).send(TG_MESSAGE)
    with pytest.raises(RetryableError):
        telegram(httpserver).show_typing(TG_MESSAGE)

    assert len(httpserver.log) == 2
    # The fake API's own access log (werkzeug) shows the path, as Telegram's servers would; ours must not.
    assert [r.getMessage() for r in caplog.records if LEAK in r.getMessage() and r.name != "werkzeug"] == []


# --- Instagram ----------------------------------------------------------------------------------------------


def test_instagram_send_posts_the_documented_message(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        f"/{VERSION}/{IG_ID}/messages",
        method="POST",
        headers={"Authorization": f"Bearer {IG_TOKEN}", **JSON},
        json=load("instagram_send_request"),
    ).respond_with_json(load("instagram_send_response"))

    sent = instagram(httpserver).send(IG_MESSAGE)

    assert len(httpserver.log) == 1
    # The mid an echo of this message will carry.
    assert sent == load("instagram_send_response")["message_id"]


def test_instagram_show_typing_marks_seen_then_types_in_two_requests(httpserver: HTTPServer) -> None:
    headers = {"Authorization": f"Bearer {IG_TOKEN}", **JSON}
    seen = {"recipient": {"id": "1059000000000042"}, "sender_action": "mark_seen"}
    for body in (seen, load("instagram_typing_request")):
        httpserver.expect_ordered_request(
            f"/{VERSION}/{IG_ID}/messages", method="POST", headers=headers, json=body
        ).respond_with_json({"recipient_id": "1059000000000042"})

    instagram(httpserver).show_typing(IG_MESSAGE)

    assert bodies(httpserver) == [seen, load("instagram_typing_request")]


def test_instagram_without_an_account_id_fails_permanently_before_calling(httpserver: HTTPServer) -> None:
    message = OutboundMessage("instagram", "", "1059000000000042", "hi", ("m",))
    assert "account id" in failure(lambda: instagram(httpserver).send(message), PermanentError)
    assert httpserver.log == []


def test_instagram_outside_the_window_is_permanent(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/{VERSION}/{IG_ID}/messages").respond_with_json(
        load("instagram_error_outside_window"), status=400
    )
    message = failure(lambda: instagram(httpserver).send(IG_MESSAGE), PermanentError)
    assert "instagram: HTTP 400, error 10 subcode 2018278" in message
    assert "(#10) This message is sent outside of allowed window." in message


@pytest.mark.parametrize(("code", "reason"), [(551, "user unavailable"), (190, "access token"), (100, "")])
def test_instagram_permanent_codes(httpserver: HTTPServer, code: int, reason: str) -> None:
    httpserver.expect_request(f"/{VERSION}/{IG_ID}/messages").respond_with_json(
        meta_error(code, f"(#{code}) What the API says"), status=400
    )
    message = failure(lambda: instagram(httpserver).send(IG_MESSAGE), PermanentError)
    assert f"error {code}" in message
    assert reason in message
    assert f"(#{code}) What the API says" in message


@pytest.mark.parametrize(("code", "status"), [(4, 400), (613, 400), (2, 400), (1, 500), (None, 503)])
def test_instagram_transient_errors_are_retryable(httpserver: HTTPServer, code: int | None, status: int) -> None:
    body = meta_error(code, "(#x) Try again later") if code is not None else {}
    httpserver.expect_request(f"/{VERSION}/{IG_ID}/messages").respond_with_json(body, status=status)
    assert f"HTTP {status}" in failure(lambda: instagram(httpserver).send(IG_MESSAGE), RetryableError)


def test_instagram_429_honours_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/{VERSION}/{IG_ID}/messages").respond_with_data("", 429, {"Retry-After": "12"})
    with pytest.raises(RetryableError) as caught:
        instagram(httpserver).send(IG_MESSAGE)
    assert caught.value.retry_after == 12


# --- Generic ------------------------------------------------------------------------------------------------


def test_generic_send_posts_compact_json_signed_like_inbound_webhooks(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/callback", method="POST", headers=JSON).respond_with_data("", 204)

    assert generic(httpserver).send(GENERIC_MESSAGE) is None

    ((request, _),) = httpserver.log
    body = request.get_data()
    assert (
        body
        == json.dumps(
            {"conversation_id": "customer-42", "text": TEXT, "in_reply_to": ["msg-0001", "msg-0002"]},
            separators=(",", ":"),
        ).encode()
    )
    # The receiver's check is the inbound one: HMAC-SHA256 of the exact bytes under the shared secret.
    verify_generic_signature(GENERIC_SECRET, body, request.headers["X-Signature-256"])


def test_generic_signature_covers_non_ascii_text_as_sent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/callback").respond_with_data("")
    generic(httpserver).send(OutboundMessage("generic", "default", "c", "Olá 😀", ("m",)))
    ((request, _),) = httpserver.log
    assert json.loads(request.get_data())["text"] == "Olá 😀"
    verify_generic_signature(GENERIC_SECRET, request.get_data(), request.headers["X-Signature-256"])


@pytest.mark.parametrize("status", [200, 201, 202])
def test_generic_returns_the_message_id_the_callback_answers_with(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/callback").respond_with_json({"message_id": "cb-7f3a", "other": 1}, status=status)
    assert generic(httpserver).send(GENERIC_MESSAGE) == "cb-7f3a"


def test_generic_show_typing_is_a_no_op(httpserver: HTTPServer) -> None:
    generic(httpserver).show_typing(GENERIC_MESSAGE)
    assert httpserver.log == []


def test_generic_without_a_secret_fails_permanently_before_calling(httpserver: HTTPServer) -> None:
    assert "no secret" in failure(lambda: generic(httpserver, secret=lambda: "").send(GENERIC_MESSAGE), PermanentError)
    assert httpserver.log == []


def test_generic_429_is_retryable_after_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/callback").respond_with_data("slow down", 429, {"Retry-After": "3"})
    with pytest.raises(RetryableError) as caught:
        generic(httpserver).send(GENERIC_MESSAGE)
    assert caught.value.retry_after == 3
    assert "generic: HTTP 429" in str(caught.value)
    assert "slow down" in str(caught.value)


@pytest.mark.parametrize(("status", "kind"), [(500, RetryableError), (503, RetryableError), (400, PermanentError)])
def test_generic_status_mapping(
    httpserver: HTTPServer, status: int, kind: type[RetryableError | PermanentError]
) -> None:
    httpserver.expect_request("/callback").respond_with_data('{"error":"unknown conversation"}', status)
    message = failure(lambda: generic(httpserver).send(GENERIC_MESSAGE), kind)
    assert f"generic: HTTP {status}" in message
    assert "unknown conversation" in message


# --- Every sender -------------------------------------------------------------------------------------------

SENDERS: dict[str, Callable[..., ChannelSender]] = {
    "whatsapp": whatsapp,
    "telegram": telegram,
    "instagram": instagram,
    "generic": generic,
}
MESSAGES = {"whatsapp": WA_MESSAGE, "telegram": TG_MESSAGE, "instagram": IG_MESSAGE, "generic": GENERIC_MESSAGE}
PATHS = {
    "whatsapp": f"/{VERSION}/{PHONE_NUMBER_ID}/messages",
    "telegram": f"/bot{TG_TOKEN}/sendMessage",
    "instagram": f"/{VERSION}/{IG_ID}/messages",
    "generic": "/callback",
}


# 2xx answers that say the message left but give no usable id: the send succeeded all the same.
NO_ID_ANSWERS: dict[str, list[Response]] = {
    "whatsapp": [
        Response("{}", 200, content_type="application/json"),
        Response('{"messaging_product":"whatsapp","contacts":[],"messages":[]}', 200, content_type="application/json"),
        Response('{"messages":[{"id":""}]}', 200, content_type="application/json"),
        Response('{"messages":[{"id":123}]}', 200, content_type="application/json"),
        Response('{"messages":["wamid.x"]}', 200, content_type="application/json"),
        Response("", 200),
        Response("<html>ok</html>", 200, content_type="text/html"),
    ],
    "telegram": [
        Response('{"ok":true,"result":{}}', 200, content_type="application/json"),
        Response('{"ok":true,"result":true}', 200, content_type="application/json"),
        Response(
            '{"ok":true,"result":{"message_id":"12","chat":{"id":123456789}}}', 200, content_type="application/json"
        ),
        Response(
            '{"ok":true,"result":{"message_id":true,"chat":{"id":123456789}}}', 200, content_type="application/json"
        ),
        Response("{}", 200, content_type="application/json"),
        Response("", 200),
    ],
    "instagram": [
        Response('{"recipient_id":"1059000000000042"}', 200, content_type="application/json"),
        Response('{"message_id":null}', 200, content_type="application/json"),
        Response('{"message_id":42}', 200, content_type="application/json"),
        Response("[]", 200, content_type="application/json"),
        Response("", 200),
    ],
    "generic": [
        Response("", 204),
        Response("", 200),
        Response("accepted", 202, content_type="text/plain"),
        Response('{"ok":true}', 200, content_type="application/json"),
        Response('{"message_id":42}', 200, content_type="application/json"),
        Response('{"message_id":""}', 200, content_type="application/json"),
        Response('["message_id"]', 200, content_type="application/json"),
    ],
}


@pytest.mark.parametrize(
    ("channel", "answer"), [(channel, answer) for channel, answers in NO_ID_ANSWERS.items() for answer in answers]
)
def test_a_2xx_without_an_id_is_a_success_returning_none(
    httpserver: HTTPServer, channel: str, answer: Response
) -> None:
    httpserver.expect_request(PATHS[channel], method="POST").respond_with_response(answer)
    assert SENDERS[channel](httpserver).send(MESSAGES[channel]) is None
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("channel", "limit"),
    [
        ("whatsapp", TextLimit(4096, "chars")),
        ("telegram", TextLimit(4096, "utf16")),
        ("instagram", TextLimit(1000, "bytes")),
        ("generic", TextLimit(4096, "chars")),
    ],
)
def test_text_limits(httpserver: HTTPServer, channel: str, limit: TextLimit) -> None:
    assert SENDERS[channel](httpserver).text_limit == limit


def slow(request: Request) -> Response:
    time.sleep(0.3)
    return Response("{}", content_type="application/json")


@pytest.fixture
def slow_api(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    """The fake API; it serves one request at a time, so a slow answer must be over before the next test."""
    yield httpserver
    deadline = time.monotonic() + 1
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.parametrize("channel", SENDERS)
def test_a_read_timeout_is_retryable(slow_api: HTTPServer, channel: str) -> None:
    slow_api.expect_request(PATHS[channel], method="POST").respond_with_handler(slow)
    with httpx.Client(timeout=0.1) as client:
        sender = SENDERS[channel](slow_api, client=client)
        message = failure(lambda: sender.send(MESSAGES[channel]), RetryableError)
    assert message == f"{channel}: no response from the API (ReadTimeout)"


@pytest.mark.parametrize("channel", SENDERS)
def test_a_refused_connection_is_retryable(channel: str) -> None:
    # Nothing listens on port 1.
    sender = SENDERS[channel]("http://127.0.0.1:1/")
    message = failure(lambda: sender.send(MESSAGES[channel]), RetryableError)
    assert message == f"{channel}: no response from the API (ConnectError)"


def test_a_token_that_breaks_the_request_is_permanent_and_not_quoted(httpserver: HTTPServer) -> None:
    # httpx would quote the header ("Illegal header value b'Bearer …'") and the URL in its own messages.
    bad_header = whatsapp(httpserver, token=lambda: f"{WA_TOKEN}\n")
    bad_url = telegram(httpserver, token=lambda: f"{TG_TOKEN}\n")
    assert "LocalProtocolError" in failure(lambda: bad_header.send(WA_MESSAGE), PermanentError)
    assert "InvalidURL" in failure(lambda: bad_url.send(TG_MESSAGE), PermanentError)
    assert httpserver.log == []


# --- The local outbox ---------------------------------------------------------------------------------------


def test_the_outbox_sender_records_and_returns_a_fresh_local_id_per_part() -> None:
    outbox = Outbox()
    sender = OutboxSender(outbox, clock=lambda: 1234.5)

    first = sender.send(WA_MESSAGE)
    second = sender.send(WA_MESSAGE)

    assert first is not None
    assert second is not None
    assert first.startswith("local-")
    assert first != second
    assert [entry["message_id"] for entry in outbox.entries()] == [first, second]
    assert outbox.entries()[0] == {
        "channel": "whatsapp",
        "message_id": first,
        "account_id": PHONE_NUMBER_ID,
        "recipient": "16505551234",
        "text": TEXT,
        "message_ids": ["wamid.earlier", WAMID],
        "thread_id": None,
        "sent_at": 1234.5,
    }
