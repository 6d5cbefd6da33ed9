"""Generic channel normalization: our own body contract (messages, edits, deletes, agent replies), schema failures."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from tests import builders
from tests.payloads import load

from debouncer.channels import generic
from debouncer.domain.errors import InvalidPayloadError
from debouncer.domain.models import MAX_TEXT_CHARS, BusinessEcho, Inbound, InboundMessage, MediaRef, MessageChange


def only_messages(items: list[Inbound]) -> list[InboundMessage]:
    """`items`, each asserted to be a message: what a test expects when its payload holds no change or echo."""
    assert all(isinstance(i, InboundMessage) for i in items), items
    return [i for i in items if isinstance(i, InboundMessage)]


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
    [msg] = only_messages(generic.normalize(body(), now_ms=1_749_416_383_456))
    assert msg.timestamp_ms == 1_749_416_383_456


def test_missing_timestamp_defaults_to_the_clock() -> None:
    before = time.time_ns() // 1_000_000
    [msg] = only_messages(generic.normalize(body()))
    assert before <= msg.timestamp_ms <= time.time_ns() // 1_000_000


def test_given_timestamp_wins_over_now() -> None:
    [msg] = only_messages(generic.normalize(body(timestamp=1749416383.25), now_ms=5))
    assert msg.timestamp_ms == 1749416383250


def test_extra_fields_are_ignored() -> None:
    [msg] = only_messages(generic.normalize(body(channel_hint="sms"), now_ms=0))
    assert msg.text == "hello"


def test_text_at_the_cap_is_accepted() -> None:
    [msg] = only_messages(generic.normalize(body(text="x" * MAX_TEXT_CHARS), now_ms=0))
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
    [msg] = only_messages(generic.normalize(body(message_id="\U0001f600" * 250), now_ms=0))
    assert msg.message_id == "\U0001f600" * 250


# --- media -----------------------------------------------------------------------------------------------------------

PHOTO = {"url": "https://cdn.example.com/u/42/photo.jpg", "mime_type": "image/jpeg"}
VOICE = {"url": "https://cdn.example.com/u/42/voice.ogg", "mime_type": "audio/ogg; codecs=opus"}
INVOICE = {"url": "https://files.example.com/invoice.pdf", "mime_type": "application/pdf", "filename": "invoice.pdf"}


def test_a_photo_with_a_caption_is_an_image_message_with_its_reference() -> None:
    [msg] = only_messages(generic.normalize(body(text="Do you have it in blue?", media=[PHOTO]), now_ms=0))
    assert msg.kind == "image"
    assert msg.text == "Do you have it in blue?"
    assert msg.media == (MediaRef(kind="image", ref=PHOTO["url"], mime_type="image/jpeg"),)


def test_a_voice_note_needs_no_text() -> None:
    [msg] = only_messages(generic.normalize(body(text=None, media=[VOICE]), now_ms=0))
    assert (msg.kind, msg.text) == ("audio", None)
    assert msg.media == (MediaRef(kind="audio", ref=VOICE["url"], mime_type="audio/ogg; codecs=opus"),)


def test_several_items_keep_their_order_and_filename() -> None:
    [msg] = only_messages(generic.normalize(body(text=None, media=[INVOICE, PHOTO, VOICE]), now_ms=0))
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
    [msg] = only_messages(
        generic.normalize(body(media=[{"url": "https://cdn.example.com/f", "mime_type": mime_type}]), now_ms=0)
    )
    assert msg.media[0].kind == kind
    assert generic.media_kind(mime_type) == kind


def test_a_body_without_media_is_unchanged_text() -> None:
    [msg] = only_messages(generic.normalize(body(), now_ms=0))
    assert (msg.kind, msg.text, msg.media) == ("text", "hello", ())


def test_the_message_document_keeps_the_media() -> None:
    [msg] = only_messages(generic.normalize(body(media=[INVOICE]), now_ms=0))
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


# --- type: edit, delete, agent_reply ---------------------------------------------------------------------------------


def test_an_edit_names_the_message_it_changes_in_the_same_conversation() -> None:
    [message] = generic.normalize(builders.generic("customer-42", "msg-1", "at 5", ts=1749416383))
    assert generic.normalize(builders.generic_edit("customer-42", "msg-1", "at 6", ts=1749416390)) == [
        MessageChange(
            channel="generic",
            account_id="default",
            conversation_key=message.conversation_key,
            message_id=message.message_id,
            change="edit",
            text="at 6",
            changed_at_ms=1749416390000,
        )
    ]


def test_a_delete_names_the_message_it_removes() -> None:
    assert generic.normalize(builders.generic_delete("customer-42", "msg-1"), now_ms=1_749_416_400_000) == [
        MessageChange(
            channel="generic",
            account_id="default",
            conversation_key="generic#default#customer-42",
            message_id="msg-1",
            change="delete",
            changed_at_ms=1_749_416_400_000,
        )
    ]


@pytest.mark.parametrize("text", [None, "I'll take it from here"])
def test_an_agent_reply_is_a_human_echo_to_the_conversation(text: str | None) -> None:
    payload = builders.generic_agent_reply("customer-42", "agent-7", text, ts=1749416395)
    assert generic.normalize(payload, now_ms=0) == [
        BusinessEcho(
            channel="generic",
            account_id="default",
            conversation_key="generic#default#customer-42",
            recipient_id="customer-42",
            message_id="agent-7",
            timestamp_ms=1749416395000,
            human=True,
        )
    ]


def test_an_agent_reply_with_media_is_accepted_and_the_media_not_kept() -> None:
    payload = builders.generic_agent_reply("customer-42", "agent-7") | {"media": [PHOTO]}
    [echo] = generic.normalize(payload, now_ms=0)
    assert isinstance(echo, BusinessEcho) and echo.human


def test_type_message_is_the_default() -> None:
    assert generic.normalize(body(type="message"), now_ms=0) == generic.normalize(body(), now_ms=0)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (body(type="edit", text=None), "$.text: is required"),
        (body(type="edit", media=[PHOTO]), '$.media: is not allowed with type "edit"'),
        (body(type="delete"), '$.text: is not allowed with type "delete"'),
        (body(type="delete", text=None, media=[PHOTO]), '$.media: is not allowed with type "delete"'),
        (body(type="unsend"), "$.type: must be one of"),
        (body(type=None, text=None), "$.text: is required"),
        (body(type="message", text=None), "$.text: is required"),
        (body(type="edit", text=""), "$.text: must be at least 1 characters"),
        (body(type="agent_reply", message_id=None), "$.message_id: is required"),
        (body(type="delete", text=None, conversation_id=""), "$.conversation_id: must be at least 1 characters"),
    ],
)
def test_a_bad_combination_is_a_400_naming_the_field(payload: dict[str, Any], error: str) -> None:
    with pytest.raises(InvalidPayloadError, match=f"^generic payload: {re.escape(error)}"):
        generic.normalize(payload, now_ms=0)


def test_an_edit_over_the_text_cap_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        generic.normalize(body(type="edit", text="w" * (MAX_TEXT_CHARS + 1)), now_ms=0)
    assert "www" not in str(caught.value)


def test_a_change_whose_message_id_cannot_be_stored_is_a_400() -> None:
    with pytest.raises(InvalidPayloadError, match=r"^generic delete: message_id is over 1000 bytes"):
        generic.normalize(body(type="delete", text=None, message_id="\U0001f600" * 256), now_ms=0)


def test_a_change_without_a_timestamp_takes_the_receive_time() -> None:
    [change] = generic.normalize(builders.generic_edit("c", "m", "fixed"), now_ms=1_749_416_383_456)
    assert isinstance(change, MessageChange) and change.changed_at_ms == 1_749_416_383_456
