"""`debouncer serve` end to end: signed channel payloads over HTTP in, replies read back from /local/outbox."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from typing import Any

import pytest

from debouncer.channels.signatures import META_HEADER, meta_signature
from tests import builders, payloads
from tests.e2e.conftest import Server, poll

pytestmark = pytest.mark.xdist_group("e2e")

REPLY_TIMEOUT = 30.0  # generous: a loaded 2-core machine runs moto's state machine slowly
QUIET_WINDOW = 3.0  # "nothing else arrives": past the 1 s debounce (rounded up to the next whole second) and then some

# Fixed ids of the channels.md fixtures.
FIXTURE_USER = "16505551234"  # whatsapp_multi_message's sender, also whatsapp_statuses' recipient_id
MULTI_IDS = [
    "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUFBMDAwMDAwMDAwMDAwMDAyAA==",
    "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUFBMDAwMDAwMDAwMDAwMDAzAA==",
    "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUFBMDAwMDAwMDAwMDAwMDA0AA==",
]
STATUS_IDS = [
    "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCMDAwMDAwMDAwMDAwMDAwMQA=",
    "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCMDAwMDAwMDAwMDAwMDAwMgA=",
]
IG_ACCOUNT = "17841400000000001"
IG_FIXTURE_USER = "1059000000000042"


def wa_user() -> str:
    return "1555" + str(uuid.uuid4().int % 10**8).zfill(8)


def tg_chat() -> int:
    return 10**9 + uuid.uuid4().int % 10**9


def post(server: Server, channel: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POST a payload signed as its channel signs it; assert 200 and return the JSON answer."""
    raw = builders.body(payload)
    status, _, body = server.http("POST", f"/webhook/{channel}", raw, builders.sign(channel, raw))
    assert status == 200, (channel, status, body)
    answer: dict[str, Any] = json.loads(body)
    return answer


def post_wa(server: Server, user: str, mid: str, text: str, ts: int | None = None) -> dict[str, Any]:
    return post(server, "whatsapp", builders.whatsapp(user, builders.wa_message(user, mid, text, ts)))


def wait_replies(server: Server, recipient: str, count: int = 1) -> list[dict[str, Any]]:
    """At least `count` replies to `recipient`, oldest first."""
    replies: list[dict[str, Any]] = poll(
        lambda: r if len(r := server.replies_to(recipient)) >= count else None,
        timeout=REPLY_TIMEOUT,
        what=f"{count} repl{'y' if count == 1 else 'ies'} to {recipient}",
    )
    return replies


def text_lines(reply: dict[str, Any]) -> list[str]:
    """The echo AI's answer without its 'You said (n messages):' header: one line per message."""
    text: str = reply["text"]
    header, *lines = text.splitlines()
    count = len(reply["message_ids"])
    assert header == f"You said ({count} message{'' if count == 1 else 's'}):", reply
    return lines


def answered_ids(replies: list[dict[str, Any]]) -> list[str]:
    return [mid for reply in replies for mid in reply["message_ids"]]


def test_whatsapp_burst_is_answered_once_with_every_message_in_order(server: Server) -> None:
    user = wa_user()
    ids = [f"wamid.e2e.{user}.{i}" for i in range(3)]
    texts = [f"part {i} of {user}" for i in range(3)]
    for mid, text in zip(ids, texts, strict=True):
        if mid != ids[0]:
            time.sleep(0.2)
        assert post_wa(server, user, mid, text) == {"accepted": 1, "duplicates": 0}

    [reply] = wait_replies(server, user)
    assert reply["channel"] == "whatsapp"
    assert reply["account_id"] == builders.PHONE_NUMBER_ID
    assert reply["message_ids"] == ids
    # The contract smoke's check (tools/contract_smoke.py), inline: every text, in order.
    positions = [reply["text"].find(text) for text in texts]
    assert -1 not in positions and positions == sorted(positions), reply["text"]
    assert text_lines(reply) == texts

    time.sleep(QUIET_WINDOW)  # a second, wrong reply would show up here
    assert server.replies_to(user) == [reply]


def test_interleaved_conversations_on_two_channels_stay_separate(server: Server) -> None:
    user, chat = wa_user(), tg_chat()
    wa_ids = [f"wamid.e2e.{user}.{i}" for i in range(3)]
    tg_ids = [f"{chat}:{100 + i}" for i in range(3)]
    for i in range(3):
        post_wa(server, user, wa_ids[i], f"wa {i}")
        time.sleep(0.2)
        update = builders.telegram(chat, update_id=chat % 10**6 * 10 + i, message_id=100 + i, text=f"tg {i}")
        assert post(server, "telegram", update) == {"accepted": 1, "duplicates": 0}
        time.sleep(0.2)

    [wa_reply] = wait_replies(server, user)
    [tg_reply] = wait_replies(server, str(chat))
    assert (wa_reply["channel"], wa_reply["message_ids"], text_lines(wa_reply)) == (
        "whatsapp",
        wa_ids,
        [f"wa {i}" for i in range(3)],
    )
    assert (tg_reply["channel"], tg_reply["message_ids"], text_lines(tg_reply)) == (
        "telegram",
        tg_ids,
        [f"tg {i}" for i in range(3)],
    )

    time.sleep(QUIET_WINDOW)
    assert server.replies_to(user) == [wa_reply]
    assert server.replies_to(str(chat)) == [tg_reply]


def test_redelivered_message_is_answered_once(server: Server) -> None:
    user = wa_user()
    mid = f"wamid.e2e.{user}"
    raw = builders.body(builders.whatsapp(user, builders.wa_message(user, mid, "only once")))
    answers = []
    for _ in range(3):  # the same signed bytes, as Meta redelivers them
        status, _, body = server.http("POST", "/webhook/whatsapp", raw, builders.sign("whatsapp", raw))
        assert status == 200, body
        answers.append(json.loads(body))
    assert answers == [{"accepted": 1, "duplicates": 0}] + [{"accepted": 0, "duplicates": 1}] * 2

    [reply] = wait_replies(server, user)
    assert reply["message_ids"] == [mid]
    assert text_lines(reply) == ["only once"]

    # A redelivery after the answer (its burst claimed, the buffer emptied): taken (counted as accepted, README),
    # then dropped by the next claim, never answered again.
    status, _, body = server.http("POST", "/webhook/whatsapp", raw, builders.sign("whatsapp", raw))
    assert status == 200, body
    time.sleep(QUIET_WINDOW)
    assert server.replies_to(user) == [reply]


def test_statuses_echoes_reads_and_reactions_get_no_reply(server: Server) -> None:
    status_user = wa_user()
    delivery = {"id": f"wamid.e2e.out.{status_user}", "status": "read", "timestamp": "1", "recipient_id": status_user}
    own_statuses = builders.whatsapp(status_user, statuses=[delivery])
    signed = [
        ("whatsapp", payloads.raw("whatsapp_statuses")),
        ("whatsapp", builders.body(own_statuses)),
        ("instagram", payloads.raw("instagram_echo")),
        ("instagram", payloads.raw("instagram_read_and_reaction")),
    ]
    echo = payloads.raw("instagram_echo")
    for channel, raw in signed:
        status, _, body = server.http("POST", f"/webhook/{channel}", raw, payloads.signed_headers(channel, raw))
        # The echo of a message the product never sent is a human answering in the Instagram inbox: it pauses the bot.
        expected = {"accepted": 0, "duplicates": 0} | ({"handoffs": 1} if raw == echo else {})
        assert (status, json.loads(body)) == (200, expected), (channel, body)
    # A positive control in the same window: once it is answered, the pipeline has had its chance to misbehave.
    control = wa_user()
    post_wa(server, control, f"wamid.e2e.{control}", "control")
    started = time.monotonic()
    wait_replies(server, control)
    time.sleep(max(0.0, QUIET_WINDOW - (time.monotonic() - started)))

    outbox = server.outbox()
    assert [e for e in outbox if e["recipient"] in (status_user, IG_FIXTURE_USER, IG_ACCOUNT)] == []
    assert not {*STATUS_IDS, f"wamid.e2e.out.{status_user}"} & set(answered_ids(outbox))
    # whatsapp_statuses' recipient is also whatsapp_multi_message's sender: only that fixture may be answered there.
    assert all(e["message_ids"] == MULTI_IDS for e in outbox if e["recipient"] == FIXTURE_USER)


def test_rejected_requests_store_nothing(server: Server) -> None:
    users = {case: wa_user() for case in ("bad_signature", "malformed", "too_large", "schema")}
    chat = tg_chat()

    def wa_body(case: str, text: str = "should never be answered") -> bytes:
        user = users[case]
        return builders.body(builders.whatsapp(user, builders.wa_message(user, f"wamid.e2e.{user}", text)))

    def send(channel: str, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        status, response_headers, body = server.http("POST", f"/webhook/{channel}", raw, headers)
        assert response_headers.get("Content-Type", "").startswith("application/json"), response_headers
        error: dict[str, Any] = json.loads(body)
        assert isinstance(error.get("error"), str) and error["error"], error
        return status, error

    # (a) signed with the wrong secret
    raw = wa_body("bad_signature")
    wrong = {"Content-Type": "application/json", META_HEADER: meta_signature("not-the-app-secret", raw)}
    assert send("whatsapp", raw, wrong)[0] == 401
    # (b) correctly signed, not JSON: the user id is in the bytes, so a lenient parser could still buffer it
    raw = wa_body("malformed")[:-2]
    assert send("whatsapp", raw, builders.sign("whatsapp", raw))[0] == 400
    # (c) correctly signed, over the 256 KiB limit
    raw = wa_body("too_large", "x" * (256 * 1024 + 1))
    assert send("whatsapp", raw, builders.sign("whatsapp", raw))[0] == 413
    # (d) Telegram without its secret token header
    raw = builders.body(builders.telegram(chat, update_id=1, message_id=1, text="no secret"))
    assert send("telegram", raw, {"Content-Type": "application/json"})[0] == 401
    # (e) correctly signed, not the channel's envelope (no entry): a 400
    user = users["schema"]
    payload = builders.whatsapp(user, builders.wa_message(user, "unused", "bad id"))
    raw = builders.body({"object": payload["object"]})
    assert send("whatsapp", raw, builders.sign("whatsapp", raw))[0] == 400
    # (e') the envelope, its one message unusable (messages[0].id is an integer): 200, skipped, never answered
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = 12345
    raw = builders.body(payload)
    status, _, body = server.http("POST", "/webhook/whatsapp", raw, builders.sign("whatsapp", raw))
    assert (status, json.loads(body)) == (200, {"accepted": 0, "duplicates": 0})
    control = wa_user()
    post_wa(server, control, f"wamid.e2e.{control}", "control")
    started = time.monotonic()

    # (f) the subscription handshake, while the debounce windows run out
    query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="
    status, _, body = server.http("GET", "/webhook/whatsapp?" + query + "wrong-token")
    assert status == 403 and "error" in json.loads(body), body
    status, _, body = server.http("GET", "/webhook/whatsapp?" + query + "local-verify-token")
    assert (status, body) == (200, b"1158201444")

    wait_replies(server, control)
    time.sleep(max(0.0, QUIET_WINDOW - (time.monotonic() - started)))
    rejected = {*users.values(), str(chat)}
    assert [e for e in server.outbox() if e["recipient"] in rejected] == []


def test_max_wait_caps_a_burst_that_never_goes_quiet(cap_server: Server) -> None:
    assert cap_server.settings["max_wait_seconds"] == 4 and cap_server.settings["max_messages"] > 12
    user = wa_user()
    ids = [f"wamid.e2e.{user}.{i:02d}" for i in range(12)]
    early: list[dict[str, Any]] = []
    started = time.time()
    for i, mid in enumerate(ids):
        # On a schedule, not sleep-after-post: a slow POST must not stretch the gaps towards the debounce.
        time.sleep(max(0.0, started + 0.6 * i - time.time()))
        if i == len(ids) - 1:
            early = cap_server.replies_to(user)
            assert early, "no reply while the user was still sending: the max_wait cap did not end the burst"
        post_wa(cap_server, user, mid, f"m{i:02d}", ts=int(started) + i)
    last_posted = time.time()

    first = early[0]
    assert first["message_ids"][0] == ids[0]
    assert first["message_ids"] == ids[: len(first["message_ids"])]
    # Sent at the cap (>= 4 s after the first message), not by a debounce that saw a quiet gap.
    assert started + 3.9 <= first["sent_at"] < last_posted, (first["sent_at"] - started, last_posted - started)

    poll(
        lambda: len(answered_ids(cap_server.replies_to(user))) >= len(ids),
        timeout=REPLY_TIMEOUT,
        what="every message answered",
    )
    time.sleep(2.0)  # a duplicate answer would show up here
    replies = cap_server.replies_to(user)
    assert answered_ids(replies) == ids  # each id exactly once, bursts in order
    assert [line for reply in replies for line in text_lines(reply)] == [f"m{i:02d}" for i in range(12)]


def test_flushes_and_the_burst_after_a_flush(server: Server) -> None:
    user, keyword_user = wa_user(), wa_user()
    ids = [f"wamid.e2e.{user}.{i}" for i in range(6)]
    for i in range(5):
        before_fifth = time.time()
        post_wa(server, user, ids[i], f"m{i}")
    before_send = time.time()
    post_wa(server, keyword_user, f"wamid.e2e.{keyword_user}.0", "book friday")
    post_wa(server, keyword_user, f"wamid.e2e.{keyword_user}.1", "send")

    # Without a flush, no reply can be sent before the quiet deadline, which is at least 1 s after the last message.
    [flushed] = wait_replies(server, user)
    assert flushed["message_ids"] == ids[:5]
    # Without the flush this burst would wait for its quiet deadline (whole seconds, >= 1 s after the fifth message),
    # then be read again and processed; a second of slack keeps a loaded CI machine from failing a working flush.
    assert flushed["sent_at"] < before_fifth + 2.0, flushed["sent_at"] - before_fifth
    [keyword] = wait_replies(server, keyword_user)
    assert keyword["message_ids"] == [f"wamid.e2e.{keyword_user}.0", f"wamid.e2e.{keyword_user}.1"]
    assert text_lines(keyword) == ["book friday", "send"]
    assert keyword["sent_at"] < before_send + 2.0, keyword["sent_at"] - before_send

    post_wa(server, user, ids[5], "after the flush")
    first, second = wait_replies(server, user, count=2)
    assert first == flushed
    assert second["message_ids"] == [ids[5]]
    assert text_lines(second) == ["after the flush"]

    time.sleep(QUIET_WINDOW)  # the first burst's own (non-flush) timer must not answer again
    assert server.replies_to(user) == [flushed, second]
    assert server.replies_to(keyword_user) == [keyword]


def test_one_post_with_several_messages_is_one_burst(server: Server) -> None:
    user = wa_user()
    now = int(time.time())
    later = builders.wa_message(user, f"wamid.e2e.{user}.later", "second", ts=now)
    earlier = builders.wa_message(user, f"wamid.e2e.{user}.earlier", "first", ts=now - 5)
    assert post(server, "whatsapp", builders.whatsapp(user, later, earlier)) == {"accepted": 2, "duplicates": 0}
    raw = payloads.raw("whatsapp_multi_message")
    status, _, body = server.http("POST", "/webhook/whatsapp", raw, payloads.signed_headers("whatsapp", raw))
    assert (status, json.loads(body)) == (200, {"accepted": 3, "duplicates": 0})

    [reply] = wait_replies(server, user)
    assert reply["message_ids"] == [f"wamid.e2e.{user}.earlier", f"wamid.e2e.{user}.later"]  # timestamp order
    assert text_lines(reply) == ["first", "second"]
    [multi] = wait_replies(server, FIXTURE_USER)
    assert multi["message_ids"] == MULTI_IDS
    assert text_lines(multi) == [
        "Also, this one:",
        "[image: 1003383421387256] Do you have it in blue?",
        "[voice: 1214541180295581]",
    ]

    time.sleep(QUIET_WINDOW)
    assert server.replies_to(user) == [reply]
    assert server.replies_to(FIXTURE_USER) == [multi]


def test_instagram_and_generic_reply_to_their_own_recipient(server: Server) -> None:
    sender = "1059" + str(uuid.uuid4().int % 10**12).zfill(12)
    conversation = f"e2e-{uuid.uuid4().hex}"
    assert post(server, "instagram", builders.instagram(sender, f"ig.e2e.{sender}", "hello from instagram")) == {
        "accepted": 1,
        "duplicates": 0,
    }
    assert post(server, "generic", builders.generic(conversation, f"gen.{conversation}", "hello generic")) == {
        "accepted": 1,
        "duplicates": 0,
    }

    [ig] = wait_replies(server, sender)
    assert (ig["channel"], ig["account_id"], ig["message_ids"]) == ("instagram", IG_ACCOUNT, [f"ig.e2e.{sender}"])
    assert text_lines(ig) == ["hello from instagram"]
    [gen] = wait_replies(server, conversation)
    assert (gen["channel"], gen["message_ids"]) == ("generic", [f"gen.{conversation}"])
    assert text_lines(gen) == ["hello generic"]


def json_error(response: tuple[int, dict[str, str], bytes]) -> tuple[int, str, str | None]:
    """(status, error message, Allow header) of an error answer, which must be a JSON object with an error."""
    status, headers, body = response
    assert headers.get("Content-Type", "").startswith("application/json"), (status, headers, body)
    error = json.loads(body)["error"]
    assert isinstance(error, str) and error, body
    return status, error, headers.get("Allow")


def test_health_reveals_liveness_only_and_the_settings_are_a_local_route(server: Server) -> None:
    status, _, body = server.http("GET", "/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, _, body = server.http("GET", "/local/settings")
    assert status == 200, body
    assert json.loads(body) == {
        "debounce_seconds": 1,
        "max_wait_seconds": 4,
        "max_messages": 5,
        "flush_keywords": ["send"],
        "ai_provider": "echo",
        "tenants": [],
    }


def test_wrong_methods_are_405_with_allow_and_unknown_channels_404_whatever_the_method(server: Server) -> None:
    for method, path, allow in [
        ("POST", "/health", "GET"),
        ("DELETE", "/health", "GET"),
        ("POST", "/local/outbox", "GET"),
        ("DELETE", "/local/outbox", "GET"),
        ("POST", "/local/settings", "GET"),
        ("PUT", "/webhook/whatsapp", "GET, POST"),
        ("PATCH", "/webhook/instagram", "GET, POST"),
        ("DELETE", "/webhook/telegram", "POST"),
        ("GET", "/webhook/telegram", "POST"),
        ("GET", "/webhook/generic", "POST"),
    ]:
        status, error, allowed = json_error(server.http(method, path, b"{}"))
        assert (status, allowed) == (405, allow), (method, path, error)
        assert "not" in error and ("allowed" in error or "supported" in error), error
    for method in ("GET", "POST", "PUT", "DELETE"):
        status, error, _ = json_error(server.http(method, "/webhook/slack", b"{}"))
        known = "whatsapp, instagram, telegram, generic"
        assert (status, error) == (404, f"unknown channel 'slack'; the channels are {known}"), method


def _declared_only(server: Server, length: int) -> tuple[int, dict[str, str], bytes]:
    # A client announcing 20 MB: the server answers before reading it, so none is sent.
    host, port = server.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        connection.putrequest("POST", "/webhook/whatsapp")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_a_body_over_the_limit_gets_the_same_detailed_413_whatever_its_size(server: Server) -> None:
    user = wa_user()
    payload = builders.whatsapp(user, builders.wa_message(user, f"wamid.e2e.{user}", "x" * 300_000))
    raw = builders.body(payload)
    status, small, _ = json_error(server.http("POST", "/webhook/whatsapp", raw, builders.sign("whatsapp", raw)))
    assert (status, small) == (413, f"body of {len(raw)} bytes is over the 262144 byte limit")
    huge = 20 * 1024 * 1024
    status, large, _ = json_error(_declared_only(server, huge))
    assert (status, large) == (413, f"body of {huge} bytes is over the 262144 byte limit")


def test_metrics_stay_off_the_local_servers_console(server: Server) -> None:
    user = wa_user()
    post_wa(server, user, f"wamid.e2e.{user}", "count me")
    wait_replies(server, user)
    # post_message, process_message and reply have each run: with metrics on, each would have printed an EMF line.
    assert '"_aws"' not in server.log.read_text(errors="replace")
