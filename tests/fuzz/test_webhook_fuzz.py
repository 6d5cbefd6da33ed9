"""Bad input never gets a 5xx: every hostile request to a webhook route is answered 2xx, or 4xx with a JSON error
and nothing stored (docs/architecture.md). Channels redeliver on 5xx: a 5xx for the sender's mistake repeats."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from debouncer.domain.models import MAX_TEXT_CHARS
from debouncer.local.runtime import DEV_DEFAULTS, api_gateway_event
from tests import builders
from tests.fuzz.harness import Reply, Target, examples
from tests.fuzz.strategies import (
    CHANNELS,
    MAX_BODY_BYTES,
    SIGNATURE_HEADERS,
    encode,
    garbage_bodies,
    methods,
    mutated,
    odd_text,
    payload_shape,
    request_paths,
    signature_variants,
    user_text,
)

pytestmark = pytest.mark.xdist_group("fuzz")

VERIFY_TOKEN = DEV_DEFAULTS["META_VERIFY_TOKEN"]
TEXT_KEYS = frozenset({"body", "text", "caption", "title"})


def post(target: Target, channel: str, raw: bytes) -> Reply:
    """POST `raw` to the channel's route, signed the channel's way."""
    return target.request("POST", f"/webhook/{channel}", body=raw, headers=builders.sign(channel, raw))


@pytest.mark.parametrize("channel", CHANNELS)
@examples(1.5)
@given(data=st.data())
def test_signed_payload_with_fields_removed_retyped_or_replaced(target: Target, channel: str, data: Any) -> None:
    # GIVEN a real payload shape, unique to this example, with one to three fields mutated
    shape = data.draw(payload_shape(channel), label="shape")
    document = data.draw(mutated(shape(target.unique())), label="document")
    raw = encode(document, ensure_ascii=data.draw(st.booleans(), label="ensure_ascii"))
    before = target.stored()

    # WHEN it is posted correctly signed, so the body parser and the schema are reached
    reply = post(target, channel, raw)

    # THEN a 4xx stored nothing, and a 2xx buffered every message the payload carries
    target.check(reply, before)
    if reply.status < 300:
        target.assert_buffered(channel, raw, reply)


def _with_text(document: Any, text: str) -> Any:
    # Every text-bearing string of the shape (text.body, text, caption, title) becomes `text`.
    if isinstance(document, dict):
        return {k: text if k in TEXT_KEYS and isinstance(v, str) else _with_text(v, text) for k, v in document.items()}
    if isinstance(document, list):
        return [_with_text(v, text) for v in document]
    return document


def _counts(answer: dict[str, int]) -> dict[str, int]:
    return {key: answer[key] for key in ("accepted", "duplicates")}


@pytest.mark.parametrize("channel", CHANNELS)
@examples(0.25)
@given(data=st.data())
def test_valid_payload_with_any_text_is_buffered_and_its_base64_redelivery_is_a_duplicate(
    target: Target, channel: str, data: Any
) -> None:
    # GIVEN a valid payload whose texts are any Unicode a user can send (NUL, RTL marks, emoji, non-BMP, 4096 chars)
    shape = data.draw(payload_shape(channel), label="shape")
    document = _with_text(shape(target.unique()), data.draw(user_text, label="text"))
    raw = encode(document, ensure_ascii=data.draw(st.booleans(), label="ensure_ascii"))

    # WHEN it is posted, then delivered again with API Gateway's base64 flag
    reply = post(target, channel, raw)
    event = api_gateway_event("POST", f"/webhook/{channel}", body=raw, headers=builders.sign(channel, raw))
    event |= {"body": base64.b64encode(raw).decode(), "isBase64Encoded": True}
    again = target.invoke(event)

    # THEN the first delivery is accepted and buffered, and the second is absorbed as a duplicate
    assert reply.status == 200, reply
    messages = target.assert_buffered(channel, raw, reply)
    # An echo in the payload (one the product never sent) is also counted as a handoff: not a buffered message.
    assert _counts(reply.json()) == {"accepted": len(messages), "duplicates": 0}
    assert (again.status, _counts(again.json())) == (200, {"accepted": 0, "duplicates": len(messages)}), again


@examples(0.25)
@given(count=st.integers(1, 4), name_size=st.integers(0, MAX_BODY_BYTES - 2_000))
def test_whatsapp_batch_whose_contact_name_is_copied_into_every_message(
    target: Target, count: int, name_size: int
) -> None:
    # GIVEN one POST with several messages from one user, whose contact name every stored message carries
    user = f"1555{target.unique():010d}"
    texts = [builders.wa_message(user, f"wamid.fuzz.{user}.{i}", f"part {i}") for i in range(count)]
    payload = builders.whatsapp(user, *texts)
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "N" * name_size
    raw = encode(payload)
    before = target.stored()

    # WHEN it is posted, and delivered again as WhatsApp does after anything but a 200
    reply = post(target, "whatsapp", raw)
    target.check(reply, before)
    between = target.stored()
    again = post(target, "whatsapp", raw)

    # THEN the batch is buffered, or refused with a 4xx that stored nothing; the redelivery gets the same answer
    target.check(again, between)
    assert again.status == reply.status, (reply, again)
    if reply.status < 300:
        target.assert_buffered("whatsapp", raw, reply)
        assert again.json() == {"accepted": 0, "duplicates": count}


INVALID_UTF8 = [b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]


@pytest.mark.parametrize("channel", CHANNELS)
@given(data=st.data())
def test_signed_body_that_is_truncated_garbage_or_not_utf8(target: Target, channel: str, data: Any) -> None:
    # GIVEN a valid payload cut short, random bytes, or a valid payload with an invalid UTF-8 sequence inserted
    valid = encode(data.draw(payload_shape(channel), label="shape")(target.unique()))
    kind = data.draw(st.sampled_from(["truncated", "garbage", "not_utf8"]), label="kind")
    # Positions are drawn as a share of the length: the length varies with the example's unique ids, and Hypothesis
    # must be able to replay a draw exactly.
    at = round(data.draw(st.floats(0, 1), label="position") * len(valid))
    if kind == "truncated":
        raw = valid[: min(at, len(valid) - 1)]
    elif kind == "garbage":
        raw = data.draw(garbage_bodies, label="body")
    else:
        raw = valid[:at] + data.draw(st.sampled_from(INVALID_UTF8), label="bytes") + valid[at:]
    before = target.stored()

    # WHEN it is posted correctly signed
    reply = post(target, channel, raw)

    # THEN a prefix of a JSON object is never one; whatever is accepted is buffered
    target.check(reply, before)
    if kind == "truncated":
        assert reply.status == 400, reply
    if reply.status < 300:
        target.assert_buffered(channel, raw, reply)


@pytest.mark.parametrize("channel", CHANNELS)
@examples(0.35)
@given(data=st.data())
def test_body_size_limit_holds_signed_or_not(target: Target, channel: str, data: Any) -> None:
    # GIVEN a valid payload padded with trailing whitespace (still valid JSON) to a size around the limit
    valid = encode(data.draw(payload_shape(channel), label="shape")(target.unique()))
    size = data.draw(
        st.sampled_from([MAX_BODY_BYTES - 1, MAX_BODY_BYTES, MAX_BODY_BYTES + 1])
        | st.integers(4096, 2 * MAX_BODY_BYTES),
        label="size",
    )
    assert len(valid) <= size
    raw = valid + b" " * (size - len(valid))
    signed = data.draw(st.booleans(), label="signed")
    before = target.stored()

    # WHEN it is posted
    reply = target.request(
        "POST", f"/webhook/{channel}", body=raw, headers=builders.sign(channel, raw) if signed else {}
    )

    # THEN over the limit is 413 before anything else; under it, the signature decides
    target.check(reply, before)
    if size > MAX_BODY_BYTES:
        assert reply.status == 413, reply
    elif signed:
        assert reply.status == 200, reply
        target.assert_buffered(channel, raw, reply)
    else:
        assert reply.status == 401, reply


@pytest.mark.parametrize("channel", CHANNELS)
@examples(0.35)
@given(data=st.data())
def test_only_the_genuine_signature_is_accepted(target: Target, channel: str, data: Any) -> None:
    # GIVEN a valid payload and a header that is missing, wrong, re-cased, padded, foreign or over other bytes
    shape = data.draw(payload_shape(channel), label="shape")
    raw = encode(shape(target.unique()))
    name = SIGNATURE_HEADERS[channel]
    correct = builders.sign(channel, raw)[name]
    over_other_bytes = builders.sign(channel, encode(shape(target.unique())))[name]
    over_padded_body = builders.sign(channel, raw + b" ")[name]
    header = data.draw(
        signature_variants(channel, correct) | st.sampled_from([over_other_bytes, over_padded_body]), label="header"
    )
    headers = {"Content-Type": "application/json"} | ({name: header} if header is not None else {})
    before = target.stored()

    # WHEN it is posted
    reply = target.request("POST", f"/webhook/{channel}", body=raw, headers=headers)

    # THEN HMAC headers tolerate case and surrounding space, Telegram's token must match exactly; the rest is 401
    target.check(reply, before)
    tolerated = header.strip().lower() if header is not None and channel != "telegram" else header
    genuine = tolerated == correct
    if genuine:
        assert reply.status == 200, reply
        target.assert_buffered(channel, raw, reply)
    else:
        assert reply.status == 401, reply


def test_a_signature_under_another_channels_header_or_secret_is_rejected(target: Target) -> None:
    raw = encode(builders.generic(f"fuzz-{target.unique()}", "m", "hello"))
    meta_signed = builders.sign("whatsapp", raw)  # X-Hub-Signature-256 with the Meta secret
    renamed = {SIGNATURE_HEADERS["generic"]: meta_signed[SIGNATURE_HEADERS["whatsapp"]]}
    for headers in (meta_signed, renamed, builders.sign("telegram", raw)):
        before = target.stored()
        reply = target.request("POST", "/webhook/generic", body=raw, headers=headers)
        target.check(reply, before)
        assert reply.status == 401, reply


@given(method=methods, path=request_paths, body=garbage_bodies, signed=st.booleans())
def test_any_method_on_any_path(target: Target, method: str, path: str, body: bytes, signed: bool) -> None:
    # GIVEN any method, any path (known routes, unknown channels, extra segments), and a body that is no payload
    channel = path.removeprefix("/webhook/") if path.removeprefix("/webhook/") in CHANNELS else None
    headers = builders.sign(channel, body) if signed and channel else {}
    before = target.stored()

    # WHEN it is sent
    reply = target.request(method, path, body=body, headers=headers)

    # THEN routes answer what they own, everything else is a 4xx JSON error, and nothing is stored
    target.check(reply, before)
    if path == "/health":
        assert reply.status == (200 if method == "GET" else 405), reply
    elif re.fullmatch(r"/webhook/telegram/[^/]+", path):
        # A Telegram tenant's bot (none configured here): POST finds no such tenant; other methods are not allowed
        if method == "POST":
            assert reply.status == 404, reply
        else:
            assert reply.status == 405 and reply.headers.get("Allow") == "POST", reply
    elif channel is None:
        assert reply.status == 404, reply
    elif method == "POST":
        assert reply.status == (400 if signed else 401), reply
    elif method == "GET":
        assert reply.status == (403 if channel in ("whatsapp", "instagram") else 405), reply
    else:
        assert reply.status == 405 and reply.headers.get("Allow"), reply


@st.composite
def handshake_query(draw: st.DrawFn) -> str:
    """hub.* parameters each right, odd or missing, plus unrelated ones, in any order, percent-encoded."""
    pairs: list[tuple[str, str]] = []
    for key, right in (("hub.mode", "subscribe"), ("hub.verify_token", VERIFY_TOKEN), ("hub.challenge", "1158201444")):
        choice = draw(st.sampled_from(["right", "odd", "missing"]))
        if choice != "missing":
            pairs.append((key, right if choice == "right" else draw(st.one_of(odd_text, st.text(max_size=20)))))
    pairs += draw(st.lists(st.tuples(st.text(max_size=10), odd_text), max_size=3))
    pairs = draw(st.permutations(pairs))

    def encoded(text: str) -> str:
        return quote(text.encode("utf-8", "surrogatepass"), safe="")

    return "&".join(f"{encoded(k)}={encoded(v)}" for k, v in pairs)


@pytest.mark.parametrize("channel", ["whatsapp", "instagram"])
@given(query=handshake_query())
def test_subscription_handshake_echoes_only_a_genuine_challenge(target: Target, channel: str, query: str) -> None:
    # GIVEN the query parameters as API Gateway hands them to the handler
    params = dict(parse_qsl(query, keep_blank_values=True))
    before = target.stored()

    # WHEN Meta (or anyone) calls the verification GET
    reply = target.request("GET", f"/webhook/{channel}", query=query)

    # THEN the challenge is echoed verbatim only to the right mode and token; anything else is a 403
    target.check(reply, before)
    genuine = params.get("hub.mode") == "subscribe" and params.get("hub.verify_token") == VERIFY_TOKEN
    if genuine and params.get("hub.challenge"):
        assert (reply.status, reply.body) == (200, params["hub.challenge"].encode()), reply
    else:
        assert reply.status == 403, reply


def test_text_cap_is_the_models(target: Target) -> None:
    # The huge-string strategies straddle MAX_TEXT_CHARS; this pins the boundary they are built around.
    n = target.unique()
    at_cap = encode(builders.generic(f"fuzz-{n}", "at", "x" * MAX_TEXT_CHARS))
    over = encode(builders.generic(f"fuzz-{n}", "over", "x" * (MAX_TEXT_CHARS + 1)))
    assert post(target, "generic", at_cap).status == 200
    before = target.stored()
    reply = post(target, "generic", over)
    target.check(reply, before)
    assert reply.status == 400, reply


# Regressions: the first failing example of each bug the properties above found, kept as a plain example.


def test_regression_deeply_nested_body_is_400_not_a_recursion_error(target: Target) -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    before = target.stored()
    reply = post(target, "telegram", raw)
    target.check(reply, before)
    assert reply.status == 400, reply
    assert "nested too deeply" in reply.json()["error"]


def test_regression_invalid_base64_body_is_400_not_a_crash(target: Target) -> None:
    # API Gateway always sends valid base64; the handler must not crash on a hand-built event all the same.
    raw = encode(builders.generic(f"fuzz-{target.unique()}", "m", "hi"))
    event = api_gateway_event("POST", "/webhook/generic", body=raw, headers=builders.sign("generic", raw))
    event |= {"body": "!not base64", "isBase64Encoded": True}
    before = target.stored()
    reply = target.invoke(event)
    target.check(reply, before)
    assert reply.status == 400, reply


def test_regression_lone_surrogate_in_a_media_id_is_skipped_and_the_text_kept(target: Target) -> None:
    # Before: the text was buffered, then the image's "\ud800" failed its serialization: a 500 with half the POST kept.
    # Then a 400 for the whole POST; now (issue 18) the image is skipped, the text buffered, and WhatsApp gets its 200.
    user = f"1555{target.unique():010d}"
    text = builders.wa_message(user, f"wamid.fuzz.{user}.0", "hi", ts=1749416383)
    image = {"from": user, "id": f"wamid.fuzz.{user}.1", "timestamp": "1749416383", "type": "image"}
    image["image"] = {"id": "\ud800"}
    raw = encode(builders.whatsapp(user, text, image))
    before = target.stored()
    reply = post(target, "whatsapp", raw)
    target.check(reply, before)
    assert (reply.status, reply.json()) == (200, {"accepted": 1, "duplicates": 0}), reply
    [kept] = target.assert_buffered("whatsapp", raw, reply)
    assert kept.message_id == f"wamid.fuzz.{user}.0"


@pytest.mark.parametrize("channel", ["whatsapp", "instagram"])
def test_regression_user_or_account_id_too_long_for_a_key_is_skipped_not_503(target: Target, channel: str) -> None:
    n = target.unique()
    if channel == "whatsapp":
        user = "1" * 2049
        payload = builders.whatsapp(user, builders.wa_message(user, f"wamid.fuzz.{n}", "hi"))
    else:
        payload = builders.instagram(f"7{n:015d}", f"mid.fuzz.{n}", "hi")
        payload["entry"][0]["id"] = "x" * 2049
    raw = encode(payload)
    before = target.stored()
    reply = post(target, channel, raw)
    target.check(reply, before)
    # The message cannot be keyed: skipped (and logged), nothing stored, and no 5xx to redeliver.
    assert (reply.status, reply.json()) == (200, {"accepted": 0, "duplicates": 0}), reply
    assert target.stored() == before


def test_regression_batch_too_big_for_one_buffer_item_is_413_not_an_endless_503(target: Target) -> None:
    user = f"1555{target.unique():010d}"
    payload = builders.whatsapp(user, *(builders.wa_message(user, f"wamid.fuzz.{user}.{i}", "hi") for i in range(2)))
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "N" * 200_000
    raw = encode(payload)
    for _ in range(2):  # the redelivery fared no better: it appended the first message again and overflowed again
        before = target.stored()
        reply = post(target, "whatsapp", raw)
        target.check(reply, before)
        assert reply.status == 413, reply


def test_regression_other_methods_on_an_unknown_channel_are_404_like_post(target: Target) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        reply = target.request(method, "/webhook/sms")
        assert reply.status == 404, (method, reply)
