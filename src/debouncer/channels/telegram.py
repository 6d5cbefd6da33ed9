"""Telegram Bot API: one Update to at most one item, a message or an edit of one (channels.md §2).

Telegram tells a bot of no deletes (outside business connections, which the product does not read), so a Telegram
conversation only ever gets InboundMessages and edits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from debouncer import schemas
from debouncer.channels import Skip, build_change, build_message, ignore, location_text, problem
from debouncer.domain.errors import InvalidPayloadError
from debouncer.domain.models import Inbound, MediaRef, conversation_key

CHANNEL: Final = "telegram"

# animation comes before document: Telegram also sets `document` on an animation, for old clients.
FILE_KINDS = ("animation", "document", "video", "video_note", "audio", "voice", "sticker")

# User-authored content we pass on as a typed placeholder only.
PLACEHOLDER_KINDS = ("poll", "dice", "game", "story", "invoice", "paid_media", "giveaway", "checklist")

# Service messages: chat events, not something the user wrote. Anything neither content nor listed here
# becomes an "unknown" placeholder, so a content type Telegram adds later is never dropped silently.
SERVICE_KEYS = frozenset(
    {
        "new_chat_members",
        "left_chat_member",
        "new_chat_title",
        "new_chat_photo",
        "delete_chat_photo",
        "group_chat_created",
        "supergroup_chat_created",
        "channel_chat_created",
        "message_auto_delete_timer_changed",
        "migrate_to_chat_id",
        "migrate_from_chat_id",
        "pinned_message",
        "successful_payment",
        "refunded_payment",
        "users_shared",
        "chat_shared",
        "gift",
        "unique_gift",
        "connected_website",
        "write_access_allowed",
        "passport_data",
        "proximity_alert_triggered",
        "boost_added",
        "chat_background_set",
        "checklist_tasks_done",
        "checklist_tasks_added",
        "direct_message_price_changed",
        "paid_message_price_changed",
        "forum_topic_created",
        "forum_topic_edited",
        "forum_topic_closed",
        "forum_topic_reopened",
        "general_forum_topic_hidden",
        "general_forum_topic_unhidden",
        "giveaway_created",
        "giveaway_completed",
        "giveaway_winners",
        "video_chat_scheduled",
        "video_chat_started",
        "video_chat_ended",
        "video_chat_participants_invited",
        "web_app_data",
    }
)


def normalize(payload: dict[str, Any], bot_id: str, *, on_skip: Skip = ignore) -> list[Inbound]:
    """The user message, or the user's edit of one, in one Update; every other update kind yields [].

    Channel posts and their edits, callbacks, member updates, business messages, bots' messages and service
    messages are not a person writing to the bot. A `message` or `edited_message` that cannot be used is reported to
    `on_skip` and yields [] too: the Update itself was genuine.
    """
    schemas.validate(CHANNEL, payload)
    for field, read in READERS.items():
        if field not in payload:
            continue
        msg = payload[field]
        if reason := problem(CHANNEL, "message", msg, f"$.{field}"):
            on_skip(reason)
            return []
        try:
            return read(msg, bot_id)
        except InvalidPayloadError as error:
            on_skip(f"$.{field}: {error}")
            return []
    return []  # every other kind of update: channel_post, callback_query, my_chat_member...


def _normalize(msg: dict[str, Any], bot_id: str) -> list[Inbound]:
    if not _from_a_person(msg):
        return []
    sender = _sender(msg)
    content = _content(msg)
    if sender is None or content is None:
        return []
    sender_id, sender_name = sender
    kind, text, media = content
    chat_id, thread, key = _conversation(msg, bot_id)
    return [
        build_message(
            channel=CHANNEL,
            account_id=bot_id,
            conversation_key=key,
            sender_id=sender_id,
            recipient_id=chat_id,
            message_id=_message_id(chat_id, msg["message_id"]),
            timestamp_ms=msg["date"] * 1000,
            kind=kind,
            text=text,
            media=media,
            reply_to=_reply_to(msg, chat_id, thread),
            thread_id=str(thread) if thread is not None else None,
            sender_name=sender_name,
        )
    ]


def _edit(msg: dict[str, Any], bot_id: str) -> list[Inbound]:
    """An edited_message: the new version of a message the same rules would have read (so the same key and id).

    Its text is the new text, or the new caption of a media message (None when the caption was removed). A live
    location's position updates also arrive as edits: they are the client moving a pin, not the person rewording a
    message, and would push the quiet deadline back every few seconds, so they yield nothing.
    """
    if not _from_a_person(msg) or _sender(msg) is None or _content(msg) is None:
        return []
    if "location" in msg and "venue" not in msg:
        return []
    chat_id, _, key = _conversation(msg, bot_id)
    return [
        build_change(
            channel=CHANNEL,
            account_id=bot_id,
            conversation_key=key,
            message_id=_message_id(chat_id, msg["message_id"]),
            change="edit",
            text=msg.get("text") or msg.get("caption"),
            # edit_date is when the person edited; date stays the original message's time.
            changed_at_ms=msg.get("edit_date", msg["date"]) * 1000,
        )
    ]


# Update fields the bot reads, each a Message checked against $defs/message; an Update carries at most one of them.
READERS: Final[dict[str, Callable[[dict[str, Any], str], list[Inbound]]]] = {
    "message": _normalize,
    "edited_message": _edit,
}


def _from_a_person(msg: dict[str, Any]) -> bool:
    # A channel post mirrored into its linked discussion group is the channel talking, not a user.
    return not msg.get("is_automatic_forward")


def _conversation(msg: dict[str, Any], bot_id: str) -> tuple[str, int | None, str]:
    """The chat id, the forum topic (if any) and the conversation key: one buffer per chat, or per forum topic."""
    chat_id = str(msg["chat"]["id"])
    thread: int | None = msg.get("message_thread_id")
    user = f"{chat_id}/{thread}" if thread is not None else chat_id
    return chat_id, thread, conversation_key(CHANNEL, bot_id, user)


def _message_id(chat_id: str, message_id: int) -> str:
    # message_id is only unique within a chat.
    return f"{chat_id}:{message_id}"


def _sender(msg: dict[str, Any]) -> tuple[str, str | None] | None:
    # On behalf of a chat (anonymous admin, "send as channel"), `from` is a placeholder bot user.
    if chat := msg.get("sender_chat"):
        return str(chat["id"]), chat.get("title")
    user = msg.get("from")
    if user is None or user["is_bot"]:
        return None
    name = " ".join(n for n in (user.get("first_name"), user.get("last_name")) if n) or user.get("username")
    return str(user["id"]), name


def _content(msg: dict[str, Any]) -> tuple[str, str | None, tuple[MediaRef, ...]] | None:
    text: str | None = msg.get("text") or msg.get("caption")
    if photo := msg.get("photo"):
        largest = max(photo, key=lambda size: size["width"] * size["height"])
        return "image", text, (MediaRef(kind="image", ref=largest["file_id"]),)
    for kind in FILE_KINDS:
        if file := msg.get(kind):
            ref = MediaRef(
                kind=kind, ref=file["file_id"], mime_type=file.get("mime_type"), filename=file.get("file_name")
            )
            return kind, text, (ref,)
    # venue before location: a venue message carries both.
    if venue := msg.get("venue"):
        where = venue["location"]
        place = location_text(where["latitude"], where["longitude"], venue.get("title"), venue.get("address"))
        return "location", place, (MediaRef(kind="location"),)
    if where := msg.get("location"):
        return "location", location_text(where["latitude"], where["longitude"]), (MediaRef(kind="location"),)
    if card := msg.get("contact"):
        parts = (card.get("first_name"), card.get("last_name"), card["phone_number"])
        return "contacts", " ".join(p for p in parts if p), (MediaRef(kind="contacts"),)
    for kind in PLACEHOLDER_KINDS:
        if kind in msg:
            return kind, text, ()
    if text is not None:
        return "text", text, ()
    if SERVICE_KEYS & msg.keys():
        return None
    return "unknown", None, ()


def _reply_to(msg: dict[str, Any], chat_id: str, thread: int | None) -> str | None:
    replied = msg.get("reply_to_message")
    # In a forum topic every message "replies" to the topic's first message; that is not a quote.
    if replied is None or replied["message_id"] == thread:
        return None
    return _message_id(chat_id, replied["message_id"])
