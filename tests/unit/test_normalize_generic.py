"""Generic channel normalization: our own body contract, timestamps, schema failures."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from tests.payloads import load

from debouncer.channels import generic
from debouncer.errors import InvalidPayloadError
from debouncer.models import MAX_TEXT_CHARS, InboundMessage, MediaRef


def body(**fields: Any) -> dict[str, Any]:
    """A minimal valid generic body with the given fields replaced (None removes a field)."""
    payload: dict[str, Any] = {"conversation_id": "c-1", "message_id": "m-1", "text": "hello"} | fields
    return {k: v for k, v in payload.items() if v is not None}


def test_fixture() -> None:
    assert generic.normalize(load("generic_text_message")) == [
        InboundMessage(
            channel="generic",
            account_id="default",
            conversation_key="generic#default#customer-42",
            sender_id="customer-42",
            recipient_id="customer-42",
            message_id="msg-0001",
            timestamp_ms=1749416383000,
            kind="text",
            text="Hi, do you ship to Canada?",
        )
    ]


def test_missing_timestamp_takes_the_given_receive_time() -> None:
    [msg] = generic.normalize(body(), now_ms=1_749_416_383_456)
    assert msg.timestamp_ms == 1_749_416_383_456


def test_missing_timestamp_defaults_to_the_clock() -> None:
    before = time.time_ns() // 1_000_000
    [msg] = generic.normalize(body())
    assert before <= msg.timestamp_ms <= time.time_ns() // 1_000_000


def test_given_timestamp_wins_over_now() -> None:
    [msg] = generic.normalize(body(timestamp=1749416383.25), now_ms=5)
    assert msg.timestamp_ms == 1749416383250


def test_extra_fields_are_ignored() -> None:
    [msg] = generic.normalize(body(channel_hint="sms"), now_ms=0)
    assert msg.text == "hello"


def test_text_at_the_cap_is_accepted() -> None:
    [msg] = generic.normalize(body(text="x" * MAX_TEXT_CHARS), now_ms=0)
    assert msg.text is not None
    assert len(msg.text) == MAX_TEXT_CHARS


def test_text_over_the_cap_is_rejected_without_echoing_it() -> None:
    with pytest.raises(InvalidPayloadError, match=rf"\$\.text: must be at most {MAX_TEXT_CHARS} characters") as caught:
        generic.normalize(body(text="y" * (MAX_TEXT_CHARS + 1)))
    assert "yyy" not in str(caught.value)


def test_nan_timestamp_from_a_lenient_json_parser_is_rejected() -> None:
    with pytest.raises(InvalidPayloadError, match=r"\$\.timestamp"):
        generic.normalize(json.loads('{"conversation_id": "c", "message_id": "m", "text": "t", "timestamp": NaN}'))


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        (body(conversation_id=None), "$.conversation_id"),
        (body(message_id=None), "$.message_id"),
        (body(text=None), "$.text"),
        (body(conversation_id=""), "$.conversation_id"),
        (body(conversation_id=42), "$.conversation_id"),
        (body(conversation_id="c" * 257), "$.conversation_id"),
        (body(message_id=7), "$.message_id"),
        (body(text=""), "$.text"),
        (body(text=["hi"]), "$.text"),
        (body(timestamp="1749416383"), "$.timestamp"),
        (body(timestamp=-1), "$.timestamp"),
        (body(timestamp=True), "$.timestamp"),
        (body(timestamp=float("inf")), "$.timestamp"),
    ],
)
def test_schema_failures_name_the_field(payload: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidPayloadError, match=f"^generic payload: {re.escape(where)}:"):
        generic.normalize(payload)


def test_message_id_the_schema_allows_but_its_dedupe_key_cannot_hold_is_rejected() -> None:
    # 256 characters pass the schema, but 256 emoji are 1024 UTF-8 bytes: with its "msg#" prefix the dedupe record's
    # sort key would pass DynamoDB's 1024-byte limit, and the burst would fail after being accepted.
    with pytest.raises(InvalidPayloadError, match="message_id is over 1000 bytes"):
        generic.normalize(body(message_id="\U0001f600" * 256), now_ms=0)
    [msg] = generic.normalize(body(message_id="\U0001f600" * 250), now_ms=0)
    assert msg.message_id == "\U0001f600" * 250


# --- media -----------------------------------------------------------------------------------------------------------

PHOTO = {"url": "https://cdn.example.com/u/42/photo.jpg", "mime_type": "image/jpeg"}
VOICE = {"url": "https://cdn.example.com/u/42/voice.ogg", "mime_type": "audio/ogg; codecs=opus"}
INVOICE = {"url": "https://files.example.com/invoice.pdf", "mime_type": "application/pdf", "filename": "invoice.pdf"}


def test_a_photo_with_a_caption_is_an_image_message_with_its_reference() -> None:
    [msg] = generic.normalize(body(text="Do you have it in blue?", media=[PHOTO]), now_ms=0)
    assert msg.kind == "image"
    assert msg.text == "Do you have it in blue?"
    assert msg.media == (MediaRef(kind="image", ref=PHOTO["url"], mime_type="image/jpeg"),)


def test_a_voice_note_needs_no_text() -> None:
    [msg] = generic.normalize(body(text=None, media=[VOICE]), now_ms=0)
    assert (msg.kind, msg.text) == ("audio", None)
    assert msg.media == (MediaRef(kind="audio", ref=VOICE["url"], mime_type="audio/ogg; codecs=opus"),)


def test_several_items_keep_their_order_and_filename() -> None:
    [msg] = generic.normalize(body(text=None, media=[INVOICE, PHOTO, VOICE]), now_ms=0)
    assert [(m.kind, m.ref, m.filename) for m in msg.media] == [
        ("document", INVOICE["url"], "invoice.pdf"),
        ("image", PHOTO["url"], None),
        ("audio", VOICE["url"], None),
    ]
    assert msg.kind == "document"  # the first item's, as on the other channels


@pytest.mark.parametrize(
    ("mime_type", "kind"),
    [
        ("image/png", "image"),
        ("IMAGE/JPEG", "image"),
        ("audio/mpeg", "audio"),
        ("audio/ogg; codecs=opus", "audio"),
        ("video/mp4", "video"),
        ("application/pdf", "document"),
        ("text/plain", "document"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
    ],
)
def test_the_kind_comes_from_the_mime_type(mime_type: str, kind: str) -> None:
    [msg] = generic.normalize(body(media=[{"url": "https://cdn.example.com/f", "mime_type": mime_type}]), now_ms=0)
    assert msg.media[0].kind == kind
    assert generic.media_kind(mime_type) == kind


def test_a_body_without_media_is_unchanged_text() -> None:
    [msg] = generic.normalize(body(), now_ms=0)
    assert (msg.kind, msg.text, msg.media) == ("text", "hello", ())


def test_the_message_document_keeps_the_media() -> None:
    [msg] = generic.normalize(body(media=[INVOICE]), now_ms=0)
    assert InboundMessage.model_validate_json(msg.document) == msg


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        (body(text=None, media=[]), "$.media"),
        (body(media={"url": PHOTO["url"]}), "$.media"),
        (body(media=[PHOTO] * 11), "$.media"),
        (body(media=[{"mime_type": "image/png"}]), "$.media[0].url"),
        (body(media=[PHOTO, {"url": PHOTO["url"]}]), "$.media[1].mime_type"),
        (body(media=[{"url": "ftp://files.example.com/a.png", "mime_type": "image/png"}]), "$.media[0].url"),
        (body(media=[{"url": "file:///etc/passwd", "mime_type": "text/plain"}]), "$.media[0].url"),
        (body(media=[{"url": "javascript:alert(1)", "mime_type": "image/png"}]), "$.media[0].url"),
        (body(media=[{"url": "https://x.example/" + "a" * 2048, "mime_type": "image/png"}]), "$.media[0].url"),
        (body(media=[{"url": PHOTO["url"], "mime_type": "jpeg"}]), "$.media[0].mime_type"),
        (body(media=[{"url": PHOTO["url"], "mime_type": ""}]), "$.media[0].mime_type"),
        (body(media=[{"url": PHOTO["url"], "mime_type": "image/png", "filename": 3}]), "$.media[0].filename"),
    ],
)
def test_media_schema_failures_name_the_field(payload: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidPayloadError, match=f"^generic payload: {re.escape(where)}:"):
        generic.normalize(payload)


def test_a_refused_media_url_is_not_echoed() -> None:
    signed = "ftp://files.example.com/a.png?signature=s3cr3t"
    with pytest.raises(InvalidPayloadError) as caught:
        generic.normalize(body(media=[{"url": signed, "mime_type": "image/png"}]))
    assert "s3cr3t" not in str(caught.value)
