"""Telegram update normalization: fixtures from channels.md, ignored updates, media kinds, schema failures."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests import builders
from tests.payloads import load

from debouncer.channels import telegram
from debouncer.domain.errors import InvalidPayloadError
from debouncer.domain.models import MAX_TEXT_CHARS, Inbound, InboundMessage, MediaRef, MessageChange

BOT = "7000000001"
ANA = "123456789"


def update(**message: Any) -> dict[str, Any]:
    """A private-chat update from Ana with the given message fields (and no text unless given)."""
    return {
        "update_id": 1,
        "message": {
            "message_id": 7,
            "from": {"id": 123456789, "is_bot": False, "first_name": "Ana"},
            "chat": {"id": 123456789, "type": "private"},
            "date": 1749416383,
            **message,
        },
    }


def normalize_one(payload: dict[str, Any]) -> InboundMessage:
    """The single message the update must yield."""
    [msg] = telegram.normalize(payload, BOT)
    assert isinstance(msg, InboundMessage)
    return msg


def edited(**message: Any) -> dict[str, Any]:
    """The update(...) message, edited: the same message fields under edited_message, with an edit_date."""
    return {"update_id": 2, "edited_message": {"edit_date": 1749416420} | update(**message)["message"]}


def edit_of(payload: dict[str, Any]) -> MessageChange:
    """The single edit the update must yield."""
    [change] = telegram.normalize(payload, BOT)
    assert isinstance(change, MessageChange)
    return change


def test_text_message_in_private_chat() -> None:
    assert telegram.normalize(load("telegram_text_message"), BOT) == [
        InboundMessage(
            channel="telegram",
            account_id=BOT,
            conversation_key=f"telegram#{BOT}#{ANA}",
            sender_id=ANA,
            recipient_id=ANA,
            message_id=f"{ANA}:1452",
            timestamp_ms=1749416383000,
            kind="text",
            text="Hi, do you ship to Canada?",
            sender_name="Ana Silva",
        )
    ]


def test_album_photo_takes_the_largest_size_and_the_caption() -> None:
    assert telegram.normalize(load("telegram_photo_album"), BOT) == [
        InboundMessage(
            channel="telegram",
            account_id=BOT,
            conversation_key=f"telegram#{BOT}#{ANA}",
            sender_id=ANA,
            recipient_id=ANA,
            message_id=f"{ANA}:1453",
            timestamp_ms=1749416390000,
            kind="image",
            text="Do you have it in blue?",
            media=(MediaRef(kind="image", ref="AgACAgQAAxkBAAIBc2Zlarge"),),
            sender_name="Ana",
        )
    ]


def test_largest_photo_wins_even_when_not_last() -> None:
    sizes = [
        {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960},
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 67},
    ]
    assert normalize_one(update(photo=sizes)).media == (MediaRef(kind="image", ref="big"),)


def test_group_message_is_keyed_by_chat_and_answered_in_the_chat() -> None:
    assert telegram.normalize(load("telegram_group_message"), BOT) == [
        InboundMessage(
            channel="telegram",
            account_id=BOT,
            conversation_key=f"telegram#{BOT}#-1001234567890",
            sender_id="987654321",
            recipient_id="-1001234567890",
            message_id="-1001234567890:88",
            timestamp_ms=1749416500000,
            kind="text",
            text="@example_bot what are your opening hours?",
            sender_name="Joe",
        )
    ]


def test_edited_message_is_an_edit_of_the_message_it_names() -> None:
    # channels.md §2.3.3: the edit carries the original's message_id and date, and its own edit_date.
    assert telegram.normalize(load("telegram_edited_message"), BOT) == [
        MessageChange(
            channel="telegram",
            account_id=BOT,
            conversation_key=f"telegram#{BOT}#{ANA}",
            message_id=f"{ANA}:1452",
            change="edit",
            text="Hi, do you ship to Canada and the US?",
            changed_at_ms=1749416420000,
        )
    ]


@pytest.mark.parametrize(
    "other",
    [
        {"channel_post": {"message_id": 1, "chat": {"id": -100, "type": "channel"}, "date": 1, "text": "news"}},
        {"edited_channel_post": {"message_id": 1, "chat": {"id": -100, "type": "channel"}, "date": 1, "text": "x"}},
        {"callback_query": {"id": "1", "from": {"id": 1, "is_bot": False, "first_name": "A"}, "data": "buy"}},
        {"my_chat_member": {"chat": {"id": 1, "type": "private"}, "date": 1}},
        {"chat_member": {"chat": {"id": 1, "type": "group"}, "date": 1}},
        {"business_message": {"message_id": 1, "chat": {"id": 1, "type": "private"}, "date": 1, "text": "x"}},
    ],
)
def test_updates_without_a_message_are_ignored(other: dict[str, Any]) -> None:
    assert telegram.normalize({"update_id": 5, **other}, BOT) == []


def test_messages_from_bots_are_ignored() -> None:
    payload = update(text="beep")
    payload["message"]["from"]["is_bot"] = True
    assert telegram.normalize(payload, BOT) == []


def test_channel_post_mirrored_into_its_discussion_group_is_ignored() -> None:
    payload = update(text="news", is_automatic_forward=True, sender_chat={"id": -1009, "title": "News"})
    assert telegram.normalize(payload, BOT) == []


def test_message_on_behalf_of_a_chat_is_attributed_to_that_chat() -> None:
    payload = update(text="from the admins", sender_chat={"id": -1001234567890, "title": "Support group"})
    payload["message"]["from"] = {
        "id": 1087968824,
        "is_bot": True,
        "first_name": "Group",
        "username": "GroupAnonymousBot",
    }
    msg = normalize_one(payload)
    assert (msg.sender_id, msg.sender_name, msg.text) == ("-1001234567890", "Support group", "from the admins")


def test_message_without_any_sender_is_ignored() -> None:
    payload = update(text="x")
    del payload["message"]["from"]
    assert telegram.normalize(payload, BOT) == []


@pytest.mark.parametrize(
    "service",
    [
        {"new_chat_members": [{"id": 5, "is_bot": False, "first_name": "B"}]},
        {"left_chat_member": {"id": 5, "is_bot": False, "first_name": "B"}},
        {"pinned_message": {"message_id": 3, "chat": {"id": 1, "type": "private"}, "date": 1}},
        {"new_chat_title": "Renamed"},
        {"forum_topic_created": {"name": "Billing", "icon_color": 1}},
        {"group_chat_created": True},
    ],
)
def test_service_messages_are_ignored(service: dict[str, Any]) -> None:
    assert telegram.normalize(update(**service), BOT) == []


@pytest.mark.parametrize(
    ("field", "file", "media"),
    [
        (
            "document",
            {"file_id": "d1", "file_unique_id": "u", "file_name": "a.pdf", "mime_type": "application/pdf"},
            MediaRef(kind="document", ref="d1", mime_type="application/pdf", filename="a.pdf"),
        ),
        (
            "voice",
            {"file_id": "v1", "file_unique_id": "u", "duration": 3, "mime_type": "audio/ogg"},
            MediaRef(kind="voice", ref="v1", mime_type="audio/ogg"),
        ),
        (
            "audio",
            {"file_id": "a1", "file_unique_id": "u", "duration": 3, "file_name": "song.mp3", "mime_type": "audio/mpeg"},
            MediaRef(kind="audio", ref="a1", mime_type="audio/mpeg", filename="song.mp3"),
        ),
        (
            "video",
            {"file_id": "m1", "file_unique_id": "u", "width": 1, "height": 1, "duration": 1, "mime_type": "video/mp4"},
            MediaRef(kind="video", ref="m1", mime_type="video/mp4"),
        ),
        (
            "video_note",
            {"file_id": "n1", "file_unique_id": "u", "length": 240, "duration": 5},
            MediaRef(kind="video_note", ref="n1"),
        ),
        (
            "sticker",
            {"file_id": "s1", "file_unique_id": "u", "type": "regular", "width": 512, "height": 512, "emoji": "x"},
            MediaRef(kind="sticker", ref="s1"),
        ),
    ],
)
def test_file_messages_keep_their_file_id(field: str, file: dict[str, Any], media: MediaRef) -> None:
    msg = normalize_one(update(**{field: file}, caption="see this"))
    assert (msg.kind, msg.text, msg.media) == (media.kind, "see this", (media,))


def test_animation_wins_over_its_backward_compatible_document() -> None:
    gif = {"file_id": "g1", "file_unique_id": "u", "mime_type": "video/mp4"}
    msg = normalize_one(update(animation=gif, document=gif))
    assert (msg.kind, msg.media) == ("animation", (MediaRef(kind="animation", ref="g1", mime_type="video/mp4"),))


def test_location_venue_and_contact_become_text() -> None:
    spot = {"latitude": 52.52, "longitude": 13.405}
    venue = {"location": spot, "title": "Cafe", "address": "Main St 1"}
    contact = {"phone_number": "+4930123", "first_name": "Max", "last_name": "Muster"}
    results = [
        normalize_one(update(location=spot)),
        normalize_one(update(venue=venue, location=spot)),
        normalize_one(update(contact=contact)),
    ]
    assert [(m.kind, m.text, m.media) for m in results] == [
        ("location", "52.52, 13.405", (MediaRef(kind="location"),)),
        ("location", "Cafe, Main St 1 (52.52, 13.405)", (MediaRef(kind="location"),)),
        ("contacts", "Max Muster +4930123", (MediaRef(kind="contacts"),)),
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("poll", {"id": "1", "question": "Which?", "options": []}),
        ("dice", {"emoji": "\U0001f3b2", "value": 4}),
        ("story", {"chat": {"id": 1, "type": "private"}, "id": 9}),
    ],
)
def test_content_without_text_becomes_a_placeholder(field: str, value: dict[str, Any]) -> None:
    msg = normalize_one(update(**{field: value}))
    assert (msg.kind, msg.text, msg.media, msg.render()) == (field, None, (), f"[{field}]")


def test_placeholder_keeps_its_caption() -> None:
    paid = {"star_count": 5, "paid_media": [{"type": "preview"}]}
    msg = normalize_one(update(paid_media=paid, caption="unlock me"))
    assert (msg.kind, msg.text) == ("paid_media", "unlock me")


def test_content_type_we_do_not_know_is_not_dropped() -> None:
    msg = normalize_one(update(hologram={"file_id": "h"}))
    assert (msg.kind, msg.render()) == ("unknown", "[unknown]")


def test_forum_topic_message_keys_and_threads_by_topic() -> None:
    topic_root = {"message_id": 40, "chat": {"id": -1005, "type": "supergroup"}, "date": 1}
    payload = update(text="in topic", message_thread_id=40, is_topic_message=True, reply_to_message=topic_root)
    payload["message"]["chat"] = {"id": -1005, "type": "supergroup", "is_forum": True}
    msg = normalize_one(payload)
    assert (msg.conversation_key, msg.recipient_id, msg.thread_id) == (f"telegram#{BOT}#-1005/40", "-1005", "40")
    assert msg.reply_to is None


def test_explicit_reply_is_recorded_with_the_chat() -> None:
    replied = {"message_id": 1450, "chat": {"id": 123456789, "type": "private"}, "date": 1}
    msg = normalize_one(update(text="this one", reply_to_message=replied))
    assert (msg.reply_to, msg.thread_id) == (f"{ANA}:1450", None)


def skipped(payload: dict[str, Any]) -> tuple[list[Inbound], list[str]]:
    """The items normalized from `payload`, and the reasons reported for what was left out."""
    reasons: list[str] = []
    return telegram.normalize(payload, BOT, on_skip=reasons.append), reasons


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"message": {}}, "$.update_id"),
        ({"update_id": "1"}, "$.update_id"),
        (update(text="x") | {"update_id": 1.5}, "$.update_id"),
    ],
)
def test_a_body_that_is_not_an_update_fails_naming_the_field(payload: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidPayloadError, match=f"^telegram payload: {re.escape(where)}:"):
        telegram.normalize(payload, BOT)


def _chat_id_as_string() -> dict[str, Any]:
    payload = update(text="x")
    payload["message"]["chat"]["id"] = "123456789"
    return payload


def _without_is_bot() -> dict[str, Any]:
    payload = update(text="x")
    del payload["message"]["from"]["is_bot"]
    return payload


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"update_id": 1, "message": {"message_id": 1, "chat": {"id": 1, "type": "private"}}}, "$.message.date: is"),
        (update(text=5), "$.message.text: must be of type string"),
        (update(photo=[]), "$.message.photo: must have at least 1 items"),
        (update(photo=[{"file_id": "x"}]), "$.message.photo[0].width: is required"),
        (update(voice={"duration": 3}), "$.message.voice.file_id: is required"),
        (update(message_thread_id="40"), "$.message.message_thread_id: must be of type integer"),
        (_chat_id_as_string(), "$.message.chat.id: must be of type integer"),
        (_without_is_bot(), "$.message.from.is_bot: is required"),
        ({"update_id": 1, "message": None}, "$.message: must be of type object"),
    ],
)
def test_a_message_that_cannot_be_used_is_skipped_naming_the_field(payload: dict[str, Any], reason: str) -> None:
    # The Update is genuine: answered 200 (Telegram would redeliver a 4xx), the message logged and left out.
    messages, [why] = skipped(payload)
    assert messages == [] and why.startswith(reason), why


@pytest.mark.parametrize(
    "kind",
    [
        "channel_post",
        "edited_channel_post",
        "business_message",
        "callback_query",
        "my_chat_member",
        "chat_member",
        "message_reaction",
        "poll_answer",
        "chat_join_request",
        "edited_business_message",
        "deleted_business_messages",
    ],
)
def test_every_other_update_kind_is_not_chat_input_whatever_its_shape(kind: str) -> None:
    assert skipped({"update_id": 874512400, kind: {"anything": ["at", "all"]}}) == ([], [])


# Found by the webhook fuzzer (tests/fuzz): a 500 and a 503 for the client's mistake; now skipped, never 5xx.


def test_lone_surrogate_in_a_file_id_is_skipped_not_a_crash() -> None:
    messages, [reason] = skipped(update(document={"file_id": "BQAC\ud800"}))
    assert messages == [] and "lone surrogate" in reason


def test_chat_id_too_long_for_a_dynamodb_key_is_skipped() -> None:
    payload = update(text="x")
    payload["message"]["chat"]["id"] = 10**2100  # JSON integers have no size limit; the partition key has 2048 bytes
    messages, [reason] = skipped(payload)
    assert messages == [] and "conversation_key is over 2048 bytes" in reason


# --- edits (edited_message) ------------------------------------------------------------------------------------------


def test_an_edit_names_the_message_exactly_as_the_message_itself_is_named() -> None:
    [message] = telegram.normalize(builders.telegram(123456789, 10, 7, "meet at 5", ts=1749416383), BOT)
    change = edit_of(builders.telegram_edit(123456789, 11, 7, "meet at 6", ts=1749416383, edit_ts=1749416390))
    assert (change.conversation_key, change.message_id) == (message.conversation_key, message.message_id)
    assert (change.change, change.text, change.changed_at_ms) == ("edit", "meet at 6", 1749416390000)


def test_edit_of_a_forum_topic_message_keys_the_topic_conversation() -> None:
    message_update = builders.telegram_topic_message(-1005, 40, 10, 77, "in topic", ts=1749416383, user_id=5)
    [message] = telegram.normalize(message_update, BOT)
    edit_update = builders.telegram_edit(-1005, 11, 77, "in topic, fixed", ts=1749416383, thread_id=40, user_id=5)
    change = edit_of(edit_update)
    assert change.conversation_key == message.conversation_key == f"telegram#{BOT}#-1005/40"
    assert change.message_id == message.message_id == "-1005:77"


def test_edit_of_a_caption_carries_the_new_caption() -> None:
    photo = [{"file_id": "p1", "file_unique_id": "u", "width": 90, "height": 67}]
    change = edit_of(edited(photo=photo, caption="now in blue?"))
    assert (change.text, change.message_id) == ("now in blue?", f"{ANA}:7")


def test_edit_that_removed_the_caption_has_no_text() -> None:
    photo = [{"file_id": "p1", "file_unique_id": "u", "width": 90, "height": 67}]
    assert edit_of(edited(photo=photo)).text is None


def test_edit_without_an_edit_date_is_dated_by_the_message() -> None:
    payload = edited(text="fixed")
    del payload["edited_message"]["edit_date"]
    assert edit_of(payload).changed_at_ms == 1749416383000


def test_edit_on_behalf_of_a_chat_is_read_like_its_message() -> None:
    change = edit_of(edited(text="fixed", sender_chat={"id": -1001234567890, "title": "Support group"}))
    assert change.text == "fixed"


@pytest.mark.parametrize(
    "payload",
    [
        {"update_id": 2, "edited_message": update(text="x")["message"] | {"from": {"id": 9, "is_bot": True}}},
        edited(text="news", is_automatic_forward=True, sender_chat={"id": -1009, "title": "News"}),
        edited(new_chat_title="Renamed"),
        # A live location moving: the client updating a pin, not the person rewording a message.
        edited(location={"latitude": 52.52, "longitude": 13.405, "live_period": 900}),
    ],
    ids=["bot", "automatic-forward", "service", "live-location"],
)
def test_edits_the_message_rules_would_not_read_yield_nothing(payload: dict[str, Any]) -> None:
    assert skipped(payload) == ([], [])


def test_edit_without_a_sender_yields_nothing() -> None:
    payload = edited(text="x")
    del payload["edited_message"]["from"]
    assert skipped(payload) == ([], [])


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (edited(text=5), "$.edited_message.text: must be of type string"),
        (edited(text="x", edit_date="1749416420"), "$.edited_message.edit_date: must be of type integer"),
        (edited(text="x", edit_date=-1), "$.edited_message.edit_date: must be >= 0"),
        ({"update_id": 1, "edited_message": {"message_id": 1, "chat": {"id": 1}}}, "$.edited_message.date: is"),
        ({"update_id": 1, "edited_message": []}, "$.edited_message: must be of type object"),
    ],
)
def test_an_edit_that_cannot_be_used_is_skipped_not_refused(payload: dict[str, Any], reason: str) -> None:
    # The Update is genuine: answered 200, the edit logged by path and left out.
    items, [why] = skipped(payload)
    assert items == [] and why.startswith(reason), why


def test_edit_with_a_lone_surrogate_is_skipped_not_a_crash() -> None:
    # json.loads turns the escape "\ud800" into a lone surrogate, which no store can encode.
    items, [reason] = skipped(edited(text="fixed \ud800"))
    assert items == [] and reason == "$.edited_message: telegram edit: invalid text"


def test_edit_text_over_the_model_cap_is_skipped_without_echoing_it() -> None:
    items, [reason] = skipped(edited(text="z" * (MAX_TEXT_CHARS + 1)))
    assert items == [] and reason == "$.edited_message: telegram edit: invalid text"
